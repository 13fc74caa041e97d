//! Test-only fault injection (cargo feature `fault-hooks`): make the worker panic, or fail as
//! a broken backend would, just before it computes step `k`.
//!
//! A [`FaultPlan`] is shared by every incarnation of the executor (the supervisor's restarts
//! hand the same plan to each), so "fire once" means once across restarts: the restarted
//! executor then passes step `k` and the test can compare its result with an uninterrupted
//! run. Without the feature the hook is a no-op type that is never constructed.

#[cfg(feature = "fault-hooks")]
mod imp {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// How the injected fault shows.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum FaultKind {
        /// The worker thread panics.
        Panic,
        /// The step returns a backend error.
        BackendError,
    }

    /// Fire `kind` before step `at_step`, at most `times` times in all.
    #[derive(Debug, Clone)]
    pub struct FaultPlan {
        /// The step `k` about to be computed.
        pub at_step: u64,
        /// What happens.
        pub kind: FaultKind,
        remaining: Arc<AtomicU32>,
    }

    impl FaultPlan {
        /// A plan that fires `times` times (use `u32::MAX` for always).
        pub fn new(at_step: u64, kind: FaultKind, times: u32) -> Self {
            Self {
                at_step,
                kind,
                remaining: Arc::new(AtomicU32::new(times)),
            }
        }

        /// How many times it has yet to fire.
        pub fn remaining(&self) -> u32 {
            self.remaining.load(Ordering::SeqCst)
        }

        /// Called by the worker before step `step`: panics, or returns the error to report.
        pub(crate) fn before_step(&self, step: u64) -> Option<String> {
            if step != self.at_step {
                return None;
            }
            let fired = self
                .remaining
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
            if !fired {
                return None;
            }
            match self.kind {
                FaultKind::Panic => panic!("fault hook: injected panic before step {step}"),
                FaultKind::BackendError => Some(format!(
                    "fault hook: injected backend error before step {step}"
                )),
            }
        }
    }
}

#[cfg(not(feature = "fault-hooks"))]
mod imp {
    /// Without the `fault-hooks` feature: no faults (this type has no values).
    #[derive(Debug, Clone)]
    pub enum FaultPlan {}

    impl FaultPlan {
        pub(crate) fn before_step(&self, _step: u64) -> Option<String> {
            match *self {}
        }
    }
}

pub use imp::*;
