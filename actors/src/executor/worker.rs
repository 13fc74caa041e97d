//! The executor's worker: runs one [`ComputeRequest`] on its own OS thread (never on the
//! async runtime), checking the cancel flag between steps.
//!
//! A training job, in order: store the spec; resume from the newest checkpoint that verifies
//! *and* whose hash log is complete (else start from `S_0`); then for each step `t`: compute,
//! report [`ExecEvent::Progress`], and when a checkpoint is due write the hash-log segment
//! first and the checkpoint second, so every checkpoint is covered by the log. At `S_T` the
//! final weights go to the store and the step commitment root is computed over
//! `h(S_0) … h(S_T)`. Since a step depends only on the spec and the previous state, a resumed
//! job ends with the same hashes and root as an uninterrupted one.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::supervisor::Sink;
use pinpoint_kernels::Cpu;
use pinpoint_kernels::graph::Mode;
use pinpoint_protocol::merkle::StepCommitment;
use pinpoint_train::{Digest, TrainError, TrainState, Trainer};

use super::fault::FaultPlan;
use super::journal;
use super::request::{ComputeOutput, ComputeRequest, ExecEvent, TrainJob, TrainResult};
use crate::store::{RefKey, SharedStore, StoreError};

/// Why a request did not finish.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorkerError {
    /// The job's own fault (bad spec or data, a diverged state): deterministic, so the
    /// executor reports it and drops the job.
    #[error("job failed: {0}")]
    Job(String),
    /// The backend or the store failed: the executor fails and its supervisor restarts it.
    #[error("backend error: {0}")]
    Backend(String),
    /// The worker thread panicked: the executor fails and its supervisor restarts it.
    #[error("worker panicked: {0}")]
    Panic(String),
}

impl From<StoreError> for WorkerError {
    fn from(e: StoreError) -> Self {
        Self::Backend(e.to_string())
    }
}

fn classify(e: TrainError) -> WorkerError {
    match e {
        TrainError::Kernel { .. } | TrainError::Store(_) | TrainError::RunDir { .. } => {
            WorkerError::Backend(e.to_string())
        }
        _ => WorkerError::Job(e.to_string()),
    }
}

/// How a request ended without error.
#[derive(Debug, Clone, PartialEq)]
pub enum Finished {
    /// It completed.
    Output(ComputeOutput),
    /// The cancel flag was seen; the last completed step is checkpointed.
    Cancelled {
        /// The last completed step.
        step: u64,
    },
}

/// What the worker needs besides the request.
#[derive(Clone)]
pub(crate) struct WorkerCtx {
    pub store: SharedStore,
    pub cx: Cpu,
    pub events: Sink<ExecEvent>,
    pub fault: Option<FaultPlan>,
}

impl WorkerCtx {
    fn report(&self, e: ExecEvent) {
        // A gone events target is not the worker's problem: the job goes on.
        let _ = self.events.send(e);
    }
}

/// Runs `req` to the end, to cancellation, or to an error.
pub(crate) fn run(
    req: &ComputeRequest,
    ctx: &WorkerCtx,
    cancelled: &AtomicBool,
) -> Result<Finished, WorkerError> {
    match req {
        ComputeRequest::Train(t) => train(t, ctx, cancelled),
    }
}

struct Progress<'a> {
    job: &'a TrainJob,
    spec_hash: Digest,
    hashes: Vec<Digest>,
    /// The last step whose hashes and checkpoint are in the store.
    saved: Option<u64>,
}

impl Progress<'_> {
    fn checkpoint(&mut self, ctx: &WorkerCtx, trainer: &Trainer) -> Result<(), WorkerError> {
        let t = trainer.step();
        if self.saved == Some(t) {
            return Ok(());
        }
        let first = self.saved.map_or(0, |s| s + 1);
        let segment = usize::try_from(first)
            .ok()
            .and_then(|f| self.hashes.get(f..))
            .ok_or_else(|| WorkerError::Backend(format!("hash log does not reach step {first}")))?;
        let bytes = journal::encode_segment(first, segment);
        let mut store = ctx.store.lock()?;
        store.put(RefKey::hashes(self.job.job, t), &bytes)?;
        store.save_checkpoint(self.job.job, self.spec_hash, trainer.state())?;
        drop(store);
        self.saved = Some(t);
        // Operators (and `pinpoint devnet --processes`, which follows node logs) see progress.
        tracing::info!(step = t, total = self.job.spec.steps, "checkpoint saved");
        ctx.report(ExecEvent::Checkpointed {
            job: self.job.job,
            step: t,
        });
        Ok(())
    }
}

/// The progress to resume from, and the checkpointed state if there is one to resume.
fn start<'a>(
    job: &'a TrainJob,
    ctx: &WorkerCtx,
    spec_hash: Digest,
) -> Result<(Progress<'a>, Option<TrainState>), WorkerError> {
    let mut p = Progress {
        job,
        spec_hash,
        hashes: Vec::new(),
        saved: None,
    };
    let mut store = ctx.store.lock()?;
    if let Some(c) = store.latest_checkpoint(&job.job, spec_hash)? {
        match journal::hash_prefix(&mut store, &job.job, c.state.step, c.state_hash)? {
            Some(hashes) => {
                p.hashes = hashes;
                p.saved = Some(c.state.step);
                return Ok((p, Some(c.state)));
            }
            None => tracing::warn!(
                step = c.state.step,
                "checkpoint without a complete hash log; the job starts from S_0"
            ),
        }
    }
    Ok((p, None))
}

fn train(job: &TrainJob, ctx: &WorkerCtx, cancelled: &AtomicBool) -> Result<Finished, WorkerError> {
    let spec_hash = job
        .spec
        .hash()
        .map_err(|e| WorkerError::Job(e.to_string()))?;
    let spec_bytes = job
        .spec
        .encode()
        .map_err(|e| WorkerError::Job(e.to_string()))?;
    ctx.store.lock()?.put(RefKey::spec(job.job), &spec_bytes)?;
    let (mut p, resume) = start(job, ctx, spec_hash)?;
    let text = job.text.as_deref().map(|t| t.as_slice());
    let mut trainer = match resume {
        Some(state) => {
            Trainer::from_state(&job.spec, text, ctx.cx.clone(), state).map_err(classify)?
        }
        None => {
            let tr = Trainer::new(&job.spec, text, ctx.cx.clone()).map_err(classify)?;
            p.hashes = vec![tr.state_hash()];
            tr
        }
    };
    let resumed_from = trainer.step();
    debug_assert_eq!(p.hashes.len() as u64, resumed_from + 1);
    ctx.report(ExecEvent::Started {
        job: job.job,
        from_step: resumed_from,
        total_steps: job.spec.steps,
    });
    while !trainer.done() {
        if cancelled.load(Ordering::SeqCst) {
            if trainer.step() > 0 {
                p.checkpoint(ctx, &trainer)?;
            }
            return Ok(Finished::Cancelled {
                step: trainer.step(),
            });
        }
        let t = trainer.step() + 1;
        if let Some(e) = ctx.fault.as_ref().and_then(|f| f.before_step(t)) {
            return Err(WorkerError::Backend(e));
        }
        // The job commits h(S_t) only: node hashes come from a traced replay in a dispute.
        let r = trainer.step_once(&Mode::Unhashed).map_err(classify)?;
        p.hashes.push(r.hash);
        ctx.report(ExecEvent::Progress {
            job: job.job,
            step: t,
            total_steps: job.spec.steps,
            hash: r.hash,
            loss: r.loss,
        });
        if trainer.checkpoint_due(t) {
            p.checkpoint(ctx, &trainer)?;
        }
    }
    p.checkpoint(ctx, &trainer)?;
    let final_hash = trainer.state_hash();
    let st = trainer.state();
    let weights = pinpoint_train::safetensors::to_bytes(
        &st.params,
        &[
            ("spec_hash".to_string(), spec_hash.to_hex()),
            ("step".to_string(), st.step.to_string()),
            ("state_hash".to_string(), final_hash.to_hex()),
        ],
    )
    .map_err(|e| WorkerError::Job(e.to_string()))?;
    let weights = ctx.store.lock()?.put(RefKey::weights(job.job), &weights)?;
    let leaves: Vec<[u8; 32]> = p.hashes.iter().map(|h| h.0).collect();
    let root = StepCommitment::new(&leaves)
        .map_err(|e| WorkerError::Job(e.to_string()))?
        .root();
    Ok(Finished::Output(ComputeOutput::Trained(TrainResult {
        job: job.job,
        steps: job.spec.steps,
        final_hash,
        root,
        weights,
        resumed_from,
        state_hashes: leaves,
    })))
}

/// `Cpu` for the executor's thread count.
pub(crate) fn cpu(threads: u16) -> Result<Cpu, String> {
    Cpu::new(usize::from(threads), pinpoint_kernels::SimdPolicy::Auto).map_err(|e| e.to_string())
}
