//! Disputes over tiny real training jobs: honest parties always win, cheaters always lose,
//! every dispute ends within the round bound, and signatures, replays and equivocation are
//! handled.

mod cases;
mod chaos;
pub(crate) mod fixtures;
mod props;
mod signed;
mod step_def;
