//! The job lifecycle as a sans-IO state machine (DESIGN §4): time comes in as `now_ms`.
//!
//! Phases: posted → running (assigned) → commits closed → challenge window → finalized, or,
//! when roots disagree or a verifier challenges, disputed → verdict → (next dispute …) →
//! finalized. With `n` replicas, pairwise disputes run one at a time until every surviving
//! trainer holds the same root; the dispute itself is another module: this machine only emits
//! [`Action::OpenDispute`] and consumes [`Input::Verdict`].
//!
//! - [`Job::handle`] applies an [`Input`]; an input that is invalid in the current phase (or
//!   arrives after its deadline) is a [`crate::ProtocolError::InvalidTransition`] and leaves
//!   the state unchanged.
//! - [`Job::poll`] applies the deadlines: assignment, commit (a trainer without a commitment
//!   is absent and slashed, its stake burned) and the end of the challenge window.
//!
//! - [`JobTerms`]: a job's economics and deadlines, from which the machine's [`JobParams`],
//!   the wire's announcement and the contracts' [`ContractTerms`] are derived.
//!
//! Exact rules: `docs/protocol.md`, "Job lifecycle"; payouts per [`crate::fees`].

mod machine;
mod terms;
mod types;

#[cfg(test)]
mod tests;

pub use machine::Job;
pub use terms::{ContractTerms, JobTerms};
pub use types::{Action, Input, JobParams, Phase, Root};
