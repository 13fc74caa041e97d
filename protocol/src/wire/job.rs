//! Job lifecycle messages: announcement, assignment, commitment.

use borsh::{BorshDeserialize, BorshSerialize};

use crate::codec::BoundedVec;
use crate::id::{JobId, NodeId};

/// Most trainers assigned to one job (and so most replicas): [`crate::limits::MAX_REPLICAS`],
/// the contracts' limit too.
pub const MAX_TRAINERS: u32 = crate::limits::MAX_REPLICAS as u32;

/// A job is posted; its payment is escrowed. Deadlines are absolute times in milliseconds on
/// the settlement layer's clock.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct JobAnnounce {
    /// The job's id.
    pub job: JobId,
    /// Who posted the job (and pays).
    pub submitter: NodeId,
    /// blake3 hash of the canonical `JobSpec`.
    pub spec_hash: [u8; 32],
    /// Escrowed payment, in the smallest integer unit.
    pub payment: u128,
    /// Number of trainers wanted (1 = sampling verification only).
    pub replicas: u16,
    /// Trainers must have accepted by this time (ms).
    pub assign_deadline_ms: u64,
    /// Commitments must be posted by this time (ms).
    pub commit_deadline_ms: u64,
    /// Length of the challenge window after the last commitment (ms).
    pub challenge_window_ms: u64,
}

/// Trainers assigned to a job (staked and accepted), in a canonical order.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct JobAssign {
    /// The job.
    pub job: JobId,
    /// The assigned trainers, at most [`MAX_TRAINERS`].
    pub trainers: BoundedVec<NodeId, MAX_TRAINERS>,
}

/// A trainer's commitment to its run: `root = Merkle(h(S_0) … h(S_T))`.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct JobCommit {
    /// The job.
    pub job: JobId,
    /// The committing trainer.
    pub trainer: NodeId,
    /// Root of the step commitment ([`crate::merkle::StepCommitment::root`]).
    pub root: [u8; 32],
    /// Number of training steps `T` (the tree has `T + 1` leaves).
    pub steps: u64,
    /// `h(S_T)`, the final state's hash (also the last leaf).
    pub final_state_hash: [u8; 32],
}
