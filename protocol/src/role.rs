//! Role machines: one sans-IO machine per node role (DESIGN §3), the one place role behaviour
//! lives. The simulator and a node's actors drive the same machines: the simulator answers
//! their compute requests from its run records and carries their sends over its simulated
//! network; a node answers them from its executor and carries them over QUIC.
//!
//! Every machine has quinn-proto's shape, the [`Machine`] trait: [`Machine::handle`] takes an
//! input at a time, [`Machine::poll_action`] yields what the caller must do, in order,
//! [`Machine::next_deadline`] says when the machine next wants [`Machine::handle_timeout`].
//! Inputs are chain events, authenticated peer messages and compute results; actions are
//! sends, chain calls, compute requests and reports. **Compute is an action**: no machine runs
//! a model inside `handle`.
//!
//! - [`arbiter`]: referees disputes (owns one [`crate::dispute::Referee`] per dispute).
//! - [`verifier`]: samples committed runs and challenges (owns one [`crate::verify::Verifier`]
//!   per committed root).
//! - [`trainer`]: trains assigned jobs, commits and opens sampled steps.
//! - [`party`]: answers the disputes a node is a party of, as a trainer or as a challenging
//!   verifier (one [`crate::dispute::Party`] per dispute).
//! - `adversary` (cargo feature `adversary` only): cheating wrappers around the honest
//!   machines, for the simulator, the tests and the devnet.

#[cfg(any(test, feature = "adversary"))]
pub mod adversary;
pub mod arbiter;
pub mod party;
pub mod trainer;
pub mod verifier;

use crate::error::Result;

/// The one machine shape of the protocol crate (quinn-proto's): the caller feeds inputs and
/// timeouts, and carries out the actions.
pub trait Machine {
    /// What the machine is told.
    type Input;
    /// What the machine asks its caller to do.
    type Action;

    /// Feeds one input at `now_ms`.
    ///
    /// Errors: an input the machine refuses (from a peer: a replay, a message for an unknown
    /// dispute, …); nothing changes and the caller counts it.
    fn handle(&mut self, now_ms: u64, input: Self::Input) -> Result<()>;

    /// The next action, in the order the machine decided them.
    fn poll_action(&mut self) -> Option<Self::Action>;

    /// When the machine next wants [`Machine::handle_timeout`], if ever.
    fn next_deadline(&self) -> Option<u64>;

    /// Time passed: handles every deadline at or before `now_ms`.
    fn handle_timeout(&mut self, now_ms: u64);
}
