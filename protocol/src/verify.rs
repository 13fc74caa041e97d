//! The sampling verifier (DESIGN §4): re-run a few steps of a committed run, chosen by a seed
//! that only exists after the commitment, and challenge the first transition that differs.
//!
//! - [`choose_steps`]: the sampled steps, a pure function of `(seed, root, T, m)`.
//! - [`Verifier`]: the sans-IO state machine. It asks the trainer for an opening of each sampled
//!   step (`h(S_{t−1})`, `h(S_t)` with Merkle proofs), checks the proofs, and hands each proven
//!   step out as compute ([`Action::Recompute`]); on a recomputed hash that differs it emits a
//!   wire [`crate::wire::SampleChallenge`].
//! - [`recompute_step`]: the compute side, for whoever answers [`Action::Recompute`]: gets
//!   `S_{t−1}` through a [`StateSource`] and re-runs it through a [`Recompute`].
//!
//! Exact sampling procedure and outcomes: `docs/protocol.md`, "Sampling verifier".

#[cfg(test)]
mod detection;
mod machine;
mod sample;
#[cfg(test)]
mod tests;

pub use machine::{
    Action, DEFAULT_OPENING_TIMEOUT_MS, Input, Outcome, Recompute, Recomputed, StateSource,
    StepOpening, VerificationBudget, Verifier, VerifierConfig, recompute_step,
    verification_bound_ms,
};
pub use sample::{SAMPLE_CONTEXT, choose_steps};
