//! # pinpoint-sim: the deterministic Byzantine simulator (Level A)
//!
//! One thread, one seed, discrete events in virtual time. A run builds a [`world::World`] of
//! trainers, verifiers and arbiters from a [`Scenario`], posts jobs on a simulated chain
//! (the protocol's `Job` state machines and an in-memory token [`ledger`]), and drives the
//! protocol's sampling verifier and dispute referee/party over a simulated network with
//! latency, loss, duplication, reordering and partitions, and nodes that crash, restart and
//! pause. Trainers run real RepOps training on a tiny model (once per spec: the honest record
//! is cached and shared, see [`records`]); Byzantine trainers answer from the protocol's
//! corrupted runs over it, and the dispute referee re-executes from the job spec alone.
//!
//! Checkers run after every event (no honest party slashed or losing a dispute, no wrong
//! result finalized, tokens conserved, escrow never negative); a liveness phase heals every
//! fault and requires every job to finalize within a bound. The synchrony assumption is
//! checked per run; violations inside it are failures, outside it they are reported.
//!
//! Modules:
//! - [`scenario`]: the TOML scenario format and its validation; swarm mode.
//! - [`run`]: [`run_seed`], [`run_range`], seed ranges.
//! - [`report`]: per-run results, summaries; [`report_files`] and [`svg`]: the report
//!   directory (JSON and plots).
//! - [`glue`]: the one adapter over `pinpoint_protocol::dispute`.
//! - [`records`], [`ledger`], [`rng`]: record cache, token ledger, seeded PRNG.
//! - [`onchain`]: the embedded settlement back end (`settlement = "embedded"`): every job
//!   also run on the `pinpoint-chain` contracts and checked against the ledger.
//!
//! Model, assumption and formats: `docs/sim.md`.
// The unit-test build sees the dev-dependencies too; the plain build is checked strictly.
#![cfg_attr(test, allow(unused_crate_dependencies))]

pub mod error;
pub mod glue;
pub mod ledger;
pub mod onchain;
pub mod parallel;
pub mod records;
pub mod report;
pub mod report_files;
pub mod rng;
pub mod run;
pub mod scenario;
pub mod svg;
pub mod world;

pub use error::{Result, SimError};
pub use parallel::{RunOptions, Shard, run_parallel};
pub use records::RecordCache;
pub use report::{RunResult, Summary};
pub use run::{parse_seeds, run_range, run_seed, run_seed_logged};
pub use scenario::Scenario;
