//! The executor actor: owns the compute back end and runs one [`ComputeRequest`] at a time
//! on its own OS thread ([`worker`]), never on the async runtime.
//!
//! - **One job at a time.** Requests go through a [`JobSlot`]; a second request while one is
//!   in flight (or while a cancelled job's thread is still finishing its step) is refused
//!   with [`ExecError::Busy`].
//! - **Journal.** An accepted request is written to the store ([`journal`]) before it starts
//!   and removed when it ends (done, cancelled, or failed by its own fault). A new executor
//!   (after a restart, or a node restart) resumes the journalled request from its last
//!   checkpoint in `pre_start`.
//! - **Failures.** A panic of the worker thread or a back-end/store error makes the actor fail
//!   with [`ExecError::Worker`]; its supervisor restarts it under the node's restart
//!   intensity ([`crate::supervisor`]), and the restarted executor resumes the job with the
//!   same hashes. A job's own fault (bad spec or data, a diverged state) is reported as
//!   [`ExecEvent::Failed`] and the executor goes on.
//! - **Events** ([`ExecEvent`]) go to the events target given at spawn, which survives
//!   restarts (so a resumed job still reports to it).
//!
//! Messages: [`ExecutorMsg::Submit`], [`ExecutorMsg::Cancel`], [`ExecutorMsg::Status`]; the
//! worker thread sends [`ExecutorMsg::WorkerDone`].

pub mod fault;
pub mod journal;
pub mod request;
pub mod worker;

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::thread::JoinHandle;

use pinpoint_protocol::id::JobId;
use pinpoint_sync::{JobSlot, Outcome, SlotError, Ticket};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};

use crate::store::{Kind, RefKey, SharedStore, StoreError};
use crate::supervisor::Sink;
pub use fault::FaultPlan;
pub use request::{ComputeOutput, ComputeRequest, ExecEvent, TrainJob, TrainResult};
pub use worker::WorkerError;
use worker::{Finished, WorkerCtx};

/// An executor error: a refused request, or the failure the actor stops with.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// A request is in flight (the executor runs one at a time).
    #[error("the executor is busy with job {}", pinpoint_train::Digest(*job).to_hex())]
    Busy {
        /// The job in flight.
        job: JobId,
    },
    /// The job slot failed.
    #[error("the executor's job slot: {0}")]
    Slot(#[from] SlotError),
    /// The store failed (journal, checkpoints).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The request is invalid (e.g. its spec does not validate); nothing was started.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// The compute back end cannot start.
    #[error("the compute back end cannot start: {0}")]
    Backend(String),
    /// The worker failed (panic or back-end error): the actor fails with this, and its
    /// supervisor restarts it.
    #[error("job {}: {error}", pinpoint_train::Digest(*job).to_hex())]
    Worker {
        /// The job.
        job: JobId,
        /// What happened.
        error: WorkerError,
    },
}

/// The executor actor (no configuration of its own: everything is in [`ExecutorArgs`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct Executor;

/// What the executor is spawned with (again on every restart).
#[derive(Debug, Clone)]
pub struct ExecutorArgs {
    /// The node's store.
    pub store: SharedStore,
    /// Kernel worker threads.
    pub threads: u16,
    /// Where [`ExecEvent`]s go.
    pub events: Sink<ExecEvent>,
    /// Test-only fault injection (a no-op type without the `fault-hooks` feature).
    pub fault: Option<FaultPlan>,
}

/// Messages of the executor.
#[derive(Debug)]
pub enum ExecutorMsg {
    /// Start a request; replies once it is accepted (journalled and handed to the worker).
    Submit(ComputeRequest, RpcReplyPort<Result<(), ExecError>>),
    /// Cancel the job's request: the worker checkpoints its last completed step and reports
    /// [`ExecEvent::Cancelled`]; the journal entry is removed. Replies whether it was in
    /// flight.
    Cancel(JobId, RpcReplyPort<bool>),
    /// The job in flight, if any.
    Status(RpcReplyPort<Option<JobId>>),
    /// From the worker thread: the ticket's outcome is in the slot.
    WorkerDone(Ticket),
}

type Slot = JobSlot<ComputeRequest, Result<Finished, WorkerError>>;

#[derive(Debug, Clone, Copy)]
struct Current {
    ticket: Ticket,
    job: JobId,
}

/// The executor's state.
pub struct ExecutorState {
    ctx: WorkerCtx,
    slot: Arc<Slot>,
    current: Option<Current>,
    worker: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for ExecutorState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExecutorState")
            .field("current", &self.current)
            .finish_non_exhaustive()
    }
}

impl Drop for ExecutorState {
    /// However the actor ends, its worker stops at the next step boundary (after
    /// checkpointing); the journal stays, so the job resumes in the next executor.
    fn drop(&mut self) {
        if let Some(c) = self.current.take() {
            let _ = self.slot.cancel(c.ticket);
        }
    }
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with a non-string payload".to_string()
    }
}

impl ExecutorState {
    fn worker_running(&self) -> bool {
        self.worker.as_ref().is_some_and(|w| !w.is_finished())
    }

    /// Journals (unless resuming) and starts `req` on a new worker thread.
    fn start(
        &mut self,
        myself: &ActorRef<ExecutorMsg>,
        req: ComputeRequest,
        journal: bool,
    ) -> Result<(), ExecError> {
        if let Some(c) = self.current {
            return Err(ExecError::Busy { job: c.job });
        }
        let job = req.job();
        if self.worker_running() {
            return Err(ExecError::Busy { job });
        }
        if journal {
            let bytes = journal::encode_request(&req).map_err(ExecError::InvalidRequest)?;
            self.ctx.store.lock()?.put(RefKey::request(job), &bytes)?;
        }
        let ticket = self.slot.submit(req)?;
        self.current = Some(Current { ticket, job });
        let slot = Arc::clone(&self.slot);
        let ctx = self.ctx.clone();
        let me = myself.clone();
        let spawned = std::thread::Builder::new()
            .name("pinpoint-executor".to_string())
            .spawn(move || {
                let Ok(Some(taken)) = slot.take() else {
                    return;
                };
                let _span = tracing::info_span!(
                    "executor",
                    job = %pinpoint_train::Digest(taken.job.job()).to_hex()
                )
                .entered();
                let result = std::panic::catch_unwind(AssertUnwindSafe(|| {
                    worker::run(&taken.job, &ctx, &taken.cancelled)
                }))
                .unwrap_or_else(|p| Err(WorkerError::Panic(panic_message(p.as_ref()))));
                if let Ok(Finished::Cancelled { step }) = &result {
                    let _ = ctx.events.send(ExecEvent::Cancelled {
                        job: taken.job.job(),
                        step: *step,
                    });
                }
                let _ = slot.complete(taken.ticket, result);
                let _ = me.send_message(ExecutorMsg::WorkerDone(taken.ticket));
            });
        match spawned {
            Ok(h) => {
                self.worker = Some(h);
                Ok(())
            }
            Err(e) => {
                let _ = self.slot.cancel(ticket);
                self.current = None;
                Err(ExecError::Backend(format!(
                    "spawning the worker thread: {e}"
                )))
            }
        }
    }

    fn forget_journal(&self, job: JobId) -> Result<(), ExecError> {
        self.ctx.store.lock()?.remove(&RefKey::request(job))?;
        Ok(())
    }

    /// The journalled request to resume, if any (an unreadable entry is dropped).
    fn journalled(&self) -> Result<Option<ComputeRequest>, ExecError> {
        let mut store = self.ctx.store.lock()?;
        for key in store.all_of(Kind::Request) {
            let Some(bytes) = store.get(&key)? else {
                continue;
            };
            match journal::decode_request(&bytes) {
                Ok(req) => return Ok(Some(req)),
                Err(e) => {
                    tracing::warn!("dropping an unreadable executor journal entry: {e}");
                    store.remove(&key)?;
                }
            }
        }
        Ok(None)
    }

    fn on_done(&mut self, ticket: Ticket) -> Result<(), ExecError> {
        let Some(c) = self.current.filter(|c| c.ticket == ticket) else {
            return Ok(());
        };
        self.current = None;
        // Sending `WorkerDone` is the worker thread's last act: wait for the thread to end
        // (at once), so that a job submitted as soon as the event below arrives is not refused
        // as `Busy` by a thread still exiting.
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
        let outcome = match self.slot.wait(ticket) {
            Ok(o) => o,
            Err(SlotError::Stale) => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        match outcome {
            Outcome::Cancelled | Outcome::Done(Ok(Finished::Cancelled { .. })) => Ok(()),
            Outcome::Done(Ok(Finished::Output(out))) => {
                self.forget_journal(c.job)?;
                let _ = self.ctx.events.send(ExecEvent::Done(out));
                Ok(())
            }
            Outcome::Done(Err(WorkerError::Job(error))) => {
                tracing::warn!(job = %pinpoint_train::Digest(c.job).to_hex(), "job failed: {error}");
                self.forget_journal(c.job)?;
                let _ = self
                    .ctx
                    .events
                    .send(ExecEvent::Failed { job: c.job, error });
                Ok(())
            }
            Outcome::Done(Err(error)) => Err(ExecError::Worker { job: c.job, error }),
        }
    }
}

impl Actor for Executor {
    type Msg = ExecutorMsg;
    type State = ExecutorState;
    type Arguments = ExecutorArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<ExecutorMsg>,
        args: ExecutorArgs,
    ) -> Result<ExecutorState, ActorProcessingErr> {
        let cx = worker::cpu(args.threads).map_err(ExecError::Backend)?;
        let mut state = ExecutorState {
            ctx: WorkerCtx {
                store: args.store,
                cx,
                events: args.events,
                fault: args.fault,
            },
            slot: Arc::new(JobSlot::new()),
            current: None,
            worker: None,
        };
        if let Some(req) = state.journalled()? {
            tracing::info!(
                job = %pinpoint_train::Digest(req.job()).to_hex(),
                "resuming the journalled request"
            );
            state.start(&myself, req, false)?;
        }
        Ok(state)
    }

    async fn handle(
        &self,
        myself: ActorRef<ExecutorMsg>,
        msg: ExecutorMsg,
        state: &mut ExecutorState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            ExecutorMsg::Submit(req, reply) => {
                let _ = reply.send(state.start(&myself, req, true));
            }
            ExecutorMsg::Cancel(job, reply) => {
                let hit = state.current.filter(|c| c.job == job);
                if let Some(c) = hit {
                    state.current = None;
                    let _ = state.slot.cancel(c.ticket);
                    state.forget_journal(job)?;
                }
                let _ = reply.send(hit.is_some());
            }
            ExecutorMsg::Status(reply) => {
                let _ = reply.send(state.current.map(|c| c.job));
            }
            ExecutorMsg::WorkerDone(ticket) => state.on_done(ticket)?,
        }
        Ok(())
    }

    /// An ordered stop: the worker checkpoints its step in flight and ends before the actor
    /// does (the journal stays for the next start).
    async fn post_stop(
        &self,
        _myself: ActorRef<ExecutorMsg>,
        state: &mut ExecutorState,
    ) -> Result<(), ActorProcessingErr> {
        if let Some(c) = state.current.take() {
            let _ = state.slot.cancel(c.ticket);
        }
        if let Some(h) = state.worker.take() {
            let _ = tokio::task::spawn_blocking(move || h.join()).await;
        }
        Ok(())
    }
}
