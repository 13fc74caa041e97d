//! The embedded settlement back end (`settlement = "embedded"`): every simulated job is also
//! run on a `pinpoint_chain::Embedded` chain executing the settlement contracts, and checked
//! against the in-memory [`crate::ledger::MemLedger`].
//!
//! - **Deployment.** One funded deployment per node layout and amounts, built once per process
//!   ([`ChainMirror::new`] caches it) and [`pinpoint_chain::Embedded::snapshot`]-cloned per run. Each node
//!   role has fixed addresses (`keccak256("pinpoint-sim <role> <k>")`), funded with the node's
//!   genesis balance and staking all of it in its role; a submitter is funded with the jobs'
//!   payments and approves the market.
//! - **Addresses.** Per run, a role's nodes sorted by `NodeId` take the role's addresses
//!   sorted ascending, so "lowest address" on chain is "first `NodeId`" in
//!   `pinpoint_protocol::fees` (who gets the remainder of a split payment).
//! - **Time.** Chain seconds are simulated milliseconds: block time = genesis + `now_ms`, so
//!   every deadline compares exactly. The protocol's commit deadline is exclusive and the
//!   contract's inclusive, so the job is posted with `commitDeadline = assigned + timeout − 1`.
//! - **Transactions.** Posting escrows the payment and the drawn trainers `accept` (bonding);
//!   every commit the simulator's chain receives is also sent, and both must accept or both
//!   refuse it; when the protocol closes commits with absent trainers, `closeCommits`;
//!   every verifier's challenge the protocol accepts is `challenge` (the chain must accept it
//!   too; it queues like the protocol's); each dispute the protocol opens is the one a
//!   `challenge` just opened, `openDispute` by the first trainer (a replica pair inside the
//!   contract's window) or `disputeNext` by a keeper (after the window, or a queued
//!   challenge), and the chain's parties must be the protocol's; its verdict (the simulated
//!   committee's majority, "both lose" included) is cast by a majority of the contract's
//!   committee; `finalize` when the protocol finalizes (or, if the contract's window, which a
//!   verdict extends, is still open, as soon as it closes).
//! - **Checks** ([`ChainMirror::check_conservation`], [`ChainMirror::finalize`]): after every
//!   event that sent a transaction, `initial supply − burned = Σ balances + escrow + stakes`
//!   (with the market holding exactly the escrow and staking exactly the stakes); at each
//!   finalize, every node's, the treasury's and the submitter's wealth change and the burn
//!   equal the ledger's for the same settlement (the arbiters' as one sum: the contract pays
//!   the majority of its own committee, as many members as the simulated majority).
//!
//! Every job of every shipped scenario is mapped. Should the simulator ever do what the
//! contracts cannot express, the mirror reports an [`Issue::Gap`]: the job is counted as
//! unmapped and not compared further (no mapping produces one today).

mod deploy;
mod mirror;

use std::collections::BTreeMap;

pub use mirror::ChainMirror;

/// A deliberately wrong mapping, for the tests that show the checkers catch one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MirrorFault {
    /// Posts every job on chain with a payment this much lower than the simulator's.
    PaymentShortBy(u64),
    /// Casts the opposite of the simulated committee's verdict.
    FlipVerdict,
}

/// Why a chain step did not match the simulation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Issue {
    /// The contracts cannot express what the simulator did (the name is a counter); the job
    /// is no longer compared.
    Gap(&'static str),
    /// The chain disagrees with the simulator: a checker violation.
    Violation(String),
}

/// Who gains or loses at a settlement, in both ledgers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Who {
    /// Node `ix` (free balance plus stake), an arbiter's counted in [`Who::Arbiters`].
    Node(usize),
    /// Every arbiter node together: the contract draws its own committee, so the majority it
    /// pays a share of a slashed stake is not the simulated committee's; their sum is the same.
    Arbiters,
    /// The protocol treasury.
    Treasury,
    /// The job submitter.
    Submitter,
    /// Tokens burned.
    Burned,
}

/// A job as the simulator posts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Posting {
    /// The simulator's job id (the chain's spec hash).
    pub job_id: [u8; 32],
    /// Payment escrowed.
    pub payment: u128,
    /// Each trainer's bond.
    pub bond: u128,
    /// From assignment to the protocol's (exclusive) commit deadline, ms.
    pub commit_timeout_ms: u64,
    /// The challenge window, ms.
    pub challenge_window_ms: u64,
}

/// Wealth changes of one settlement.
pub type Deltas = BTreeMap<Who, i128>;
