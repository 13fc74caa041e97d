//! What a conductor reports as it works, for progress displays (the devnet, the dashboard):
//! a bounded broadcast ([`OBSERVER_CAPACITY`]); a slow observer loses the oldest events and
//! never holds the node up.

use pinpoint_protocol::id::NodeId;
use pinpoint_protocol::wire::Fault;

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
        /// How the referee settled it.
        settled: Settled,
    },
    /// The chain decided a dispute this node was refereeing before it reached a verdict: it
    /// stopped without one (the parties no longer answer once the chain has ruled).
    Withdrawn {
        /// Chain dispute id.
        dispute: u64,
        /// Query rounds it had asked.
        rounds: u32,
    },
}

/// How a referee settled a dispute: what a verdict's step and operator mean, and who is at
/// fault when nothing was re-run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settled {
    /// The first disputed operator (or the state assembly) was re-run and compared.
    Recomputed,
    /// A party forfeited.
    Forfeit {
        /// Whether the offender is the challenger (else the defendant).
        challenger: bool,
        /// What it did.
        fault: Fault,
    },
}

impl Settled {
    /// Lower-case words for logs and the API: `recomputed`, or `forfeit by the challenger:
    /// equivocation` and the like.
    pub fn describe(&self) -> String {
        match self {
            Settled::Recomputed => "recomputed".into(),
            Settled::Forfeit { challenger, fault } => {
                let who = if *challenger {
                    "challenger"
                } else {
                    "defendant"
                };
                let what = match fault {
                    Fault::Timeout => "timeout",
                    Fault::BadProof => "bad proof",
                    Fault::Equivocation => "equivocation",
                    Fault::BadInput => "bad input",
                    Fault::Malformed => "malformed",
                };
                format!("forfeit by the {who}: {what}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_settlement_names_the_offender_and_the_fault() {
        assert_eq!(Settled::Recomputed.describe(), "recomputed");
        let f = Settled::Forfeit {
            challenger: true,
            fault: Fault::Equivocation,
        };
        assert_eq!(f.describe(), "forfeit by the challenger: equivocation");
        let f = Settled::Forfeit {
            challenger: false,
            fault: Fault::Timeout,
        };
        assert_eq!(f.describe(), "forfeit by the defendant: timeout");
    }
}
