//! The Verde dispute (DESIGN §4), sans-IO: a [`Referee`] state machine, an answering
//! honest [`Party`] over a [`RunSource`] (signing as an [`Answerer`]), and a deterministic
//! in-memory [`driver`] that runs parties over signed messages. Cheating strategies
//! (`strategy`: wrappers around the honest party) exist only with the cargo feature
//! `adversary`, which the simulator, the tests and the devnet enable; the production API has
//! only honest parties.
//!
//! The referee bisects the parties' step commitments (descending the two Merkle trees when
//! the final states agree but the roots do not), then the prefix chain of the first disputed
//! step (extended by one pseudo-node, the state hash `h(S_{lo+1})`). For the first disputed
//! position it takes only data proven against agreed commitments: the manifest of the agreed
//! state `S_lo` (checked against `h(S_lo)`), a segment of the agreed prefix chain (walked to
//! the agreed link), and batches and constants it derives from the spec ([`Reexec`]). It then
//! re-runs that one operator, or re-assembles `h(S_{lo+1})`, and compares the claims. Every
//! misbehaviour (bad proof, unprovable input, equivocation, silence past the deadline after
//! bounded re-asks) ends the dispute with a forfeit. Protocol and round bound:
//! `docs/protocol.md`, "Disputes".

mod check;
pub mod driver;
mod party;
mod record;
mod reexec;
mod referee;
mod replay;
#[cfg(any(test, feature = "adversary"))]
pub mod strategy;

pub use party::{Answerer, Party};
pub use record::{RunRecord, RunSource, StepRecord};
pub use reexec::{JobReexec, Reexec};
pub use referee::{
    Action, Deadlines, ROUND_BOUND_C, Referee, Side, ceil_log2, round_bound,
    round_bound_equal_final,
};
pub use replay::Replayer;
