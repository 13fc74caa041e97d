//! Parameters, inputs, actions and phases of the job state machine.

use crate::{fees::Settlement, id::NodeId};

/// A trainer's signed result root, `Merkle(h(S_0) … h(S_T))`.
pub type Root = [u8; 32];

/// What the job's spec fixes for the lifecycle. Durations are relative; a deadline that would
/// overflow `u64` saturates to `u64::MAX` (never).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobParams {
    /// Escrowed payment in token base units.
    pub payment: u128,
    /// Number of trainers (replicas), at least 1.
    pub replicas: usize,
    /// Stake each trainer bonds for the job.
    pub trainer_stake: u128,
    /// Time from posting to the assignment deadline.
    pub assign_timeout_ms: u64,
    /// Time from assignment to the commit deadline.
    pub commit_timeout_ms: u64,
    /// Length of the challenge window, from the moment commits close.
    pub challenge_window_ms: u64,
}

/// Events fed into [`super::Job::handle`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// The trainers were assigned (exactly `replicas` distinct nodes, stakes bonded).
    Assigned {
        /// The trainers.
        trainers: Vec<NodeId>,
    },
    /// A trainer's (already verified) signed root.
    Committed {
        /// The trainer.
        trainer: NodeId,
        /// Its root.
        root: Root,
    },
    /// A verifier challenges a trainer's root, bonding `stake`.
    Challenge {
        /// The challenger (not one of the job's trainers).
        challenger: NodeId,
        /// The challenged trainer.
        trainer: NodeId,
        /// The challenger's bonded stake.
        stake: u128,
    },
    /// The verdict of the open dispute between `a` and `b` (either order).
    Verdict {
        /// One party.
        a: NodeId,
        /// The other party.
        b: NodeId,
        /// The winner (`a` or `b`), or `None` when both lose.
        winner: Option<NodeId>,
        /// The arbiters whose votes made the verdict (the majority that decided it): each is
        /// paid [`crate::fees::ARBITER_SHARE_BPS`] of every stake the verdict slashes, split
        /// equally ([`crate::fees::slash_split`]).
        arbiters: Vec<NodeId>,
    },
}

/// What the driver must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Start a dispute between `a` and `b` (for a challenge, `a` is the challenger).
    OpenDispute {
        /// First party.
        a: NodeId,
        /// Second party.
        b: NodeId,
    },
    /// `node` lost (a dispute, or the commit deadline): its stake for the job is slashed.
    Slash {
        /// The slashed node.
        node: NodeId,
        /// Who receives the winner's share, if anyone.
        winner: Option<NodeId>,
        /// The slashed amount.
        amount: u128,
    },
    /// The job is over: execute these transfers.
    Finalize {
        /// Every transfer of the escrow and the stakes.
        settlement: Settlement,
    },
}

/// The externally visible phase of a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    /// Payment escrowed, waiting for trainers.
    Posted,
    /// Trainers assigned and running; waiting for commitments.
    Running,
    /// Commits closed, no dispute open; challenges accepted until the window ends.
    ChallengeWindow,
    /// A dispute is open (or queued behind one).
    Disputed,
    /// Settled; no input is accepted any more.
    Finalized,
}

impl Phase {
    /// The phase's name, for errors.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Posted => "posted",
            Phase::Running => "running",
            Phase::ChallengeWindow => "challenge window",
            Phase::Disputed => "disputed",
            Phase::Finalized => "finalized",
        }
    }
}
