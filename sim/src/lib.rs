//! # pinpoint-sim: the deterministic Byzantine simulator (Level A)
//!
//! (Being built: issue "sim". A seeded, single-threaded discrete-event simulator over the
//! protocol state machines, with faults, Byzantine strategies, checkers, scenarios and reports.)
