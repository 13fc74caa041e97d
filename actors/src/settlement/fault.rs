//! Test-only fault injection (cargo feature `fault-hooks`): make the settlement actor fail
//! at a chosen point of one submission, as a crash of the process would, so the tests can
//! check that the next incarnation neither loses nor repeats the transaction.
//!
//! A [`SettlementFault`] is shared by every incarnation (the spawn arguments are cloned for
//! each), so it fires once across restarts. Without the feature it is a type with no values.

/// Where a submission fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultPoint {
    /// After the intent is journalled, before the transaction is sent.
    AfterIntent,
    /// After the transaction is sent (and included), before its outcome is journalled.
    AfterSend,
}

#[cfg(feature = "fault-hooks")]
mod imp {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::FaultPoint;

    /// Fail at `at` while submitting the intent `key`, once.
    #[derive(Debug, Clone)]
    pub struct SettlementFault {
        /// Where.
        pub at: FaultPoint,
        /// The submission's key.
        pub key: String,
        fired: Arc<AtomicBool>,
    }

    impl SettlementFault {
        /// A fault that fires once.
        pub fn new(at: FaultPoint, key: impl Into<String>) -> Self {
            Self {
                at,
                key: key.into(),
                fired: Arc::new(AtomicBool::new(false)),
            }
        }

        /// Whether it has fired.
        pub fn fired(&self) -> bool {
            self.fired.load(Ordering::SeqCst)
        }

        /// Called at `point` of the submission `key`: whether to fail now.
        pub(crate) fn fire(&self, point: FaultPoint, key: &str) -> bool {
            point == self.at
                && key == self.key
                && self
                    .fired
                    .compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst)
                    .is_ok()
        }
    }
}

#[cfg(not(feature = "fault-hooks"))]
mod imp {
    use super::FaultPoint;

    /// Without the `fault-hooks` feature: no faults (this type has no values).
    #[derive(Debug, Clone)]
    pub enum SettlementFault {}

    impl SettlementFault {
        pub(crate) fn fire(&self, _point: FaultPoint, _key: &str) -> bool {
            match *self {}
        }
    }
}

pub use imp::*;
