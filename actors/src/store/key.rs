//! What the store names: [`Kind`] of item and [`RefKey`] (job, kind, step), with the ref
//! file names `<kind>-<step, 12 digits>`.

use pinpoint_protocol::id::JobId;

/// What a blob is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// A job spec (canonical encoding).
    Spec,
    /// A training checkpoint (`pinpoint_train::checkpoint` format).
    Checkpoint,
    /// A step's record (node hashes, traces) for disputes.
    StepRecord,
    /// The final weights (safetensors).
    Weights,
    /// A segment of a job's state-hash log `h(S_a) … h(S_b)`, written before the checkpoint
    /// at `b` (so a resumed job can rebuild its commitment).
    Hashes,
    /// The executor's request in flight for the job (resumed after a restart).
    Request,
}

impl Kind {
    pub(super) const ALL: [Kind; 6] = [
        Kind::Spec,
        Kind::Checkpoint,
        Kind::StepRecord,
        Kind::Weights,
        Kind::Hashes,
        Kind::Request,
    ];

    /// The ref file name prefix.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Spec => "spec",
            Kind::Checkpoint => "ckpt",
            Kind::StepRecord => "record",
            Kind::Weights => "weights",
            Kind::Hashes => "hashes",
            Kind::Request => "request",
        }
    }

    pub(super) fn from_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == s)
    }
}

/// Names one stored item: a job, a kind and a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RefKey {
    /// The job.
    pub job: JobId,
    /// The kind.
    pub kind: Kind,
    /// The step (0 for specs and weights).
    pub step: u64,
}

impl RefKey {
    /// A checkpoint of `job` at `step`.
    pub fn checkpoint(job: JobId, step: u64) -> Self {
        Self {
            job,
            kind: Kind::Checkpoint,
            step,
        }
    }
    /// The spec of `job`.
    pub fn spec(job: JobId) -> Self {
        Self {
            job,
            kind: Kind::Spec,
            step: 0,
        }
    }
    /// The final weights of `job`.
    pub fn weights(job: JobId) -> Self {
        Self {
            job,
            kind: Kind::Weights,
            step: 0,
        }
    }
    /// The executor's request in flight for `job`.
    pub fn request(job: JobId) -> Self {
        Self {
            job,
            kind: Kind::Request,
            step: 0,
        }
    }
    /// The hash-log segment of `job` ending at `step`.
    pub fn hashes(job: JobId, step: u64) -> Self {
        Self {
            job,
            kind: Kind::Hashes,
            step,
        }
    }
    /// The record of step `step` of `job`.
    pub fn step_record(job: JobId, step: u64) -> Self {
        Self {
            job,
            kind: Kind::StepRecord,
            step,
        }
    }

    pub(super) fn file_name(&self) -> String {
        format!("{}-{:012}", self.kind.name(), self.step)
    }

    pub(super) fn parse_file_name(job: JobId, name: &str) -> Option<Self> {
        let (kind, step) = name.split_once('-')?;
        if step.len() != 12 || !step.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Some(Self {
            job,
            kind: Kind::from_name(kind)?,
            step: step.parse().ok()?,
        })
    }
}
