//! # pinpoint-protocol: the sans-IO core of the network
//!
//! Everything a node decides lives here as pure code: time, randomness and I/O come in as
//! arguments, so the simulator and the actors drive exactly the same state machines. The crate
//! depends on no async runtime, network, chain client, wall clock or OS randomness
//! (`scripts/test` checks this with `cargo tree`).
//!
//! Modules:
//! - [`id`]: `NodeId` (an ed25519 public key), node keys from caller-supplied seed bytes,
//!   signed envelopes over canonical bytes with replay protection (job, round, sequence).
//! - [`merkle`]: domain-separated Merkle trees with inclusion proofs, and the prefix-chain
//!   commitment over a step's node hashes (DESIGN §4).
//! - [`codec`]: canonical borsh encoding: decoding rejects trailing bytes, non-canonical input
//!   and anything over the size limits.
//! - [`wire`]: the versioned, size-bounded wire [`wire::Message`] enum (jobs, disputes, input
//!   transfer, verdicts, sampling challenges, swarm rollouts), signed as a whole.
//! - [`fees`]: the fee and payout arithmetic of DESIGN §7 in integer token units (0.5% fee,
//!   70% of it burned, slash splits), settling a job as a list of transfers that conserves tokens.
//! - [`limits`]: the one replica limit and the ms/s time units shared with the contracts.
//! - [`job`]: the job lifecycle state machine (posted → running → committed → challenge window
//!   → finalized, or pairwise disputes → verdicts → finalized).
//! - [`verify`]: the sampling verifier: steps chosen from a post-commitment seed, re-run, and
//!   challenged on a mismatch.
//! - [`dispute`]: the Verde dispute: the referee state machine (step bisection, node bisection,
//!   one-operator re-execution on inputs proven against agreed commitments, signature, replay
//!   and equivocation checks, deadlines and forfeits), the answering party, cheating
//!   strategies and a signed in-memory driver that counts rounds and bytes.
//! - [`role`]: one machine per node role (arbiter, verifier, trainer) in the one
//!   [`role::Machine`] shape, driven by the simulator and by a node's actors alike; compute
//!   leaves the machines as actions.
//!
//! Still to come (issue "protocol"): nothing in this crate; the actors that carry these
//! messages over the network live in other crates.
// The unit-test build sees the dev-dependencies too; the plain build is checked strictly.
#![cfg_attr(test, allow(unused_crate_dependencies))]

pub mod codec;
pub mod dispute;
pub mod error;
pub mod fees;
pub mod id;
pub mod job;
pub mod limits;
pub mod merkle;
pub mod role;
pub mod verify;
pub mod wire;

pub use error::{ErrorClass, ProtocolError, Result};
