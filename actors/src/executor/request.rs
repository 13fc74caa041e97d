//! What the executor computes ([`ComputeRequest`]), what it returns ([`ComputeOutput`]) and
//! what it reports as it goes ([`ExecEvent`]).
//!
//! A request is one enum so that later kinds (one training step, a step record, one operator
//! re-run for a referee) travel the same path: the one-job slot, the worker thread, the
//! journal in the store, the supervisor's restarts.

use std::sync::Arc;

use pinpoint_protocol::id::JobId;
use pinpoint_train::{Digest, JobSpec};

/// A unit of compute for the executor.
#[derive(Debug, Clone, PartialEq)]
pub enum ComputeRequest {
    /// Train a job from `S_0` (or its last checkpoint) to `S_T`.
    Train(TrainJob),
}

impl ComputeRequest {
    /// The job the request belongs to.
    pub fn job(&self) -> JobId {
        match self {
            Self::Train(t) => t.job,
        }
    }
}

/// A training job.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainJob {
    /// The protocol's job id (names the job's items in the store).
    pub job: JobId,
    /// What to compute.
    pub spec: JobSpec,
    /// The text data file's bytes for text datasets (checked against the spec's hash).
    pub text: Option<Arc<Vec<u8>>>,
}

/// What a finished request returns.
#[derive(Debug, Clone, PartialEq)]
pub enum ComputeOutput {
    /// A finished training job.
    Trained(TrainResult),
}

/// The result of a training job.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainResult {
    /// The job.
    pub job: JobId,
    /// `T`.
    pub steps: u64,
    /// `h(S_T)`.
    pub final_hash: Digest,
    /// The step commitment root over `h(S_0) … h(S_T)` (what the trainer signs).
    pub root: [u8; 32],
    /// The blob of the final weights (safetensors) in the store.
    pub weights: Digest,
    /// The step this run of the executor started from (0, or a checkpoint after a restart).
    pub resumed_from: u64,
    /// `h(S_0) … h(S_T)`: the leaves of `root` (a dispute party answers from them).
    pub state_hashes: Vec<[u8; 32]>,
}

/// Reported by the executor to its events target.
#[derive(Debug, Clone, PartialEq)]
pub enum ExecEvent {
    /// The worker started (or, after a restart, resumed) a job.
    Started {
        /// The job.
        job: JobId,
        /// The first step it computes is `from_step + 1`.
        from_step: u64,
        /// `T`.
        total_steps: u64,
    },
    /// Step `step` is done.
    Progress {
        /// The job.
        job: JobId,
        /// `t`.
        step: u64,
        /// `T`.
        total_steps: u64,
        /// `h(S_t)`.
        hash: Digest,
        /// The batch loss of step `t`.
        loss: f32,
    },
    /// A checkpoint of `S_step` is in the store.
    Checkpointed {
        /// The job.
        job: JobId,
        /// Its step.
        step: u64,
    },
    /// The request finished.
    Done(ComputeOutput),
    /// The request was cancelled; the last completed step `step` is checkpointed.
    Cancelled {
        /// The job.
        job: JobId,
        /// The last completed step.
        step: u64,
    },
    /// The job itself failed (bad spec or data, a diverged state): restarting would not
    /// help, so the executor drops it and goes on.
    Failed {
        /// The job.
        job: JobId,
        /// What went wrong.
        error: String,
    },
}
