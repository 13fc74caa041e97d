//! The Verde dispute (DESIGN §4), sans-IO: a [`Referee`] state machine, an answering
//! [`Party`] over an in-memory [`RunRecord`], and an in-memory [`driver`] that runs both.
//!
//! The referee bisects the parties' step commitments, then the prefix chain of the first
//! disputed step (extended by one pseudo-node, the state hash `h(S_{lo+1})`), fetches the
//! inputs of the first disputed node and re-runs that one operator through the kernels.
//! Every misbehaviour (bad proof, malformed or contradictory answer, silence past the
//! deadline after bounded re-asks) ends the dispute with a forfeit. Protocol and round bound:
//! `docs/protocol.md`, "Disputes".

pub mod driver;
mod party;
mod referee;

pub use party::{Party, RunRecord, StepRecord, Tamper};
pub use referee::{Action, Deadlines, Reexec, Referee, Side, round_bound};
