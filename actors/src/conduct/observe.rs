//! What a conductor reports as it works, for progress displays (the devnet, the dashboard):
//! a bounded broadcast ([`OBSERVER_CAPACITY`]); a slow observer loses the oldest events and
//! never holds the node up.

use pinpoint_protocol::id::NodeId;

/// Events an observer channel holds before the oldest are dropped.
pub const OBSERVER_CAPACITY: usize = 4_096;

/// What a referee asked a party.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    /// `h(S_step)` (step bisection).
    Step(u64),
    /// The start of the node phase at step `lo → lo + 1` over `nodes` operators.
    NodePhase {
        /// The last agreed step.
        lo: u64,
        /// Operators in the step's graph.
        nodes: u64,
    },
    /// The prefix-chain link of operator `index` (node bisection).
    Node(u64),
    /// The inputs of the disputed operator.
    Inputs,
}

/// One thing a node did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Observed {
    /// The node fetched a posted job's spec.
    SpecFetched {
        /// Chain job id.
        job: u64,
        /// Its step count.
        steps: u64,
    },
    /// Training progress (honest trainers, from the executor).
    Step {
        /// Chain job id.
        job: u64,
        /// The step done.
        step: u64,
        /// `T`.
        total: u64,
    },
    /// The node's run of a job is complete.
    Trained {
        /// Chain job id.
        job: u64,
        /// Its root.
        root: [u8; 32],
    },
    /// A transaction was sent.
    Tx {
        /// What it was.
        call: String,
        /// Whether it was included.
        ok: bool,
    },
    /// This node referees a dispute.
    Refereeing {
        /// Chain dispute id.
        dispute: u64,
        /// Chain job id.
        job: u64,
        /// The challenger.
        challenger: NodeId,
        /// The defendant.
        defendant: NodeId,
    },
    /// A referee's query to a party.
    Query {
        /// Chain dispute id.
        dispute: u64,
        /// The party.
        to: NodeId,
        /// The referee's round.
        round: u32,
        /// What was asked.
        probe: Probe,
    },
    /// This node's verdict as an arbiter.
    Verdict {
        /// Chain dispute id.
        dispute: u64,
        /// The ruling (as the contract numbers it: 0 defendant wins, 1 challenger wins, 2
        /// both lose).
        ruling: u8,
        /// The disputed step `lo` and operator index of a re-run (0, 0 for a forfeit).
        step: u64,
        /// See `step`.
        node: u64,
        /// Query rounds it took.
        rounds: u32,
    },
}
