//! [`ChainHandle`]: one settlement back end shared by several nodes in a process (the devnet
//! and the tests run many nodes over one embedded chain), and [`ChainClock`]: whether the
//! settlement actor moves an embedded chain's time.

use std::sync::Arc;

use tokio::sync::{Mutex, MutexGuard};

/// A shared settlement back end: `Arc<tokio::sync::Mutex<S>>`. Each node's settlement actor
/// holds a clone and takes the lock for one chain operation at a time (a send holds it until
/// its receipt).
#[derive(Debug)]
pub struct ChainHandle<S>(Arc<Mutex<S>>);

impl<S> Clone for ChainHandle<S> {
    fn clone(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

impl<S> ChainHandle<S> {
    /// Wraps a back end (e.g. `Embedded::in_memory(..)` or `Evm::connect(..)`).
    pub fn new(chain: S) -> Self {
        Self(Arc::new(Mutex::new(chain)))
    }

    /// Locks the back end (for the actor, and for tests and the devnet reading the chain).
    pub async fn lock(&self) -> MutexGuard<'_, S> {
        self.0.lock().await
    }
}

/// Moves a chain's time to `t` seconds (`Embedded::set_time` has this type).
pub type SetTime<S> = fn(&mut S, u64) -> pinpoint_chain::Result<()>;

/// Who moves the chain's clock.
///
/// An RPC chain has its own clock; the embedded chain's time moves only by
/// `Embedded::set_time`. When one process owns an embedded chain (the devnet), exactly one
/// party drives it: either the owner itself (a simulator, a test) with `Observe` in every
/// node, or one node's settlement actor with `Drive` (the others `Observe`).
pub enum ChainClock<S> {
    /// The actor only reads the chain's time.
    Observe,
    /// On each poll the actor moves the chain's time to `t0 + elapsed`, where `t0` is the
    /// chain's time when this incarnation started and `elapsed` the whole seconds since then
    /// on tokio's clock (never backwards: a chain already later is left alone).
    Drive(SetTime<S>),
}

impl<S> Clone for ChainClock<S> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<S> Copy for ChainClock<S> {}

impl<S> std::fmt::Debug for ChainClock<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Observe => f.write_str("Observe"),
            Self::Drive(_) => f.write_str("Drive"),
        }
    }
}
