//! The node's supervisor and our restart policy.
//!
//! ractor reports a child's panic or error as [`SupervisionEvent::ActorFailed`]; the policy
//! is ours: **one-for-one with an intensity limit**. A failed child alone is restarted from
//! its [`ChildSpec`] (others keep running), unless that restart would be the (R+1)-th within
//! W seconds across all children ([`Intensity`], `[supervision]` in the config): then the node
//! stops, children in reverse start order, with [`NodeError::RestartIntensity`] naming the
//! actor and its last failure. A child that stops on its own (not asked to) counts as a
//! failure too. A restart that fails to start counts as another failure.
//!
//! [`NodeHandle::start`] spawns the supervisor (unnamed: many nodes may share a process);
//! [`NodeHandle::wait`] returns how the node ended; [`NodeHandle::shutdown`] stops it in
//! order. Time is tokio's clock only.

mod child;
mod intensity;

use ractor::{Actor, ActorCell, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};
use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::config::SupervisionConfig;
pub use child::{ChildRef, ChildSlot, ChildSpec, Sink, child_slot};
pub use intensity::Intensity;

/// Why a node stopped on its own.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NodeError {
    /// A child failed more often than the restart intensity allows.
    #[error(
        "actor `{actor}` failed and the restart limit is reached ({max_restarts} restarts in \
         {window_s} s, [supervision] in the config): the node stops. Its last failure: \
         {last_failure}"
    )]
    RestartIntensity {
        /// The child's name.
        actor: String,
        /// R.
        max_restarts: u32,
        /// W.
        window_s: u64,
        /// The failure that hit the limit.
        last_failure: String,
    },
    /// The supervisor itself ended without reporting (a bug).
    #[error("the node's supervisor ended without a report")]
    Vanished,
}

/// How a node ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeExit {
    /// Asked to stop.
    Shutdown,
    /// Stopped by the restart policy.
    Failed(NodeError),
}

/// The root supervisor actor.
#[derive(Debug, Clone, Copy, Default)]
pub struct NodeSupervisor;

/// Spawn input of [`NodeSupervisor`].
#[derive(Debug)]
pub struct SupervisorArgs {
    /// R and W.
    pub policy: SupervisionConfig,
    /// Children, started in this order (stopped in reverse).
    pub children: Vec<ChildSpec>,
    /// Receives how the node ended.
    pub exit: oneshot::Sender<NodeExit>,
}

/// Messages of the supervisor.
#[derive(Debug)]
pub enum SupervisorMsg {
    /// Stop every child in reverse order, then the supervisor; replies when done.
    Shutdown(RpcReplyPort<()>),
    /// Restarts so far.
    Restarts(RpcReplyPort<u64>),
}

struct Child {
    spec: ChildSpec,
    cell: Option<ActorCell>,
}

/// The supervisor's state.
pub struct SupervisorState {
    intensity: Intensity,
    children: Vec<Child>,
    exit: Option<oneshot::Sender<NodeExit>>,
    stopping: bool,
    restarts: u64,
}

impl std::fmt::Debug for SupervisorState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SupervisorState")
            .field("children", &self.children.len())
            .field("restarts", &self.restarts)
            .finish_non_exhaustive()
    }
}

impl SupervisorState {
    fn child_of(&self, cell: &ActorCell) -> Option<usize> {
        let id = cell.get_id();
        self.children
            .iter()
            .position(|c| c.cell.as_ref().is_some_and(|x| x.get_id() == id))
    }

    /// Stops the children in reverse start order, waiting for each.
    async fn stop_children(&mut self) {
        self.stopping = true;
        for c in self.children.iter_mut().rev() {
            if let Some(cell) = c.cell.take() {
                let _ = cell.stop_and_wait(None, None).await;
            }
        }
    }

    fn report(&mut self, exit: NodeExit) {
        if let Some(tx) = self.exit.take() {
            let _ = tx.send(exit);
        }
    }

    /// One-for-one restart of child `idx`, or the node's stop when the intensity is spent.
    async fn on_failure(&mut self, myself: &ActorRef<SupervisorMsg>, idx: usize, failure: String) {
        let name = self.children[idx].spec.name().to_string();
        self.children[idx].cell = None;
        let mut failure = failure;
        loop {
            tracing::warn!(actor = %name, "actor failed: {failure}");
            if !self.intensity.allow(Instant::now()) {
                let error = NodeError::RestartIntensity {
                    actor: name,
                    max_restarts: self.intensity.max_restarts(),
                    window_s: self.intensity.window().as_secs(),
                    last_failure: failure,
                };
                tracing::error!("{error}");
                self.stop_children().await;
                self.report(NodeExit::Failed(error.clone()));
                myself.stop(Some(error.to_string()));
                return;
            }
            self.restarts += 1;
            match self.children[idx].spec.spawn(myself.get_cell()).await {
                Ok(cell) => {
                    tracing::info!(actor = %name, restarts = self.restarts, "actor restarted");
                    self.children[idx].cell = Some(cell);
                    return;
                }
                Err(e) => failure = format!("restart failed: {e}"),
            }
        }
    }
}

impl Actor for NodeSupervisor {
    type Msg = SupervisorMsg;
    type State = SupervisorState;
    type Arguments = SupervisorArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<SupervisorMsg>,
        args: SupervisorArgs,
    ) -> Result<SupervisorState, ActorProcessingErr> {
        let mut state = SupervisorState {
            intensity: Intensity::new(args.policy),
            children: Vec::with_capacity(args.children.len()),
            exit: Some(args.exit),
            stopping: false,
            restarts: 0,
        };
        for spec in args.children {
            let cell = match spec.spawn(myself.get_cell()).await {
                Ok(cell) => cell,
                Err(e) => {
                    let name = spec.name().to_string();
                    state.stop_children().await;
                    return Err(format!("actor `{name}` could not start: {e}").into());
                }
            };
            state.children.push(Child {
                spec,
                cell: Some(cell),
            });
        }
        Ok(state)
    }

    async fn handle(
        &self,
        myself: ActorRef<SupervisorMsg>,
        msg: SupervisorMsg,
        state: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            SupervisorMsg::Shutdown(reply) => {
                state.stop_children().await;
                state.report(NodeExit::Shutdown);
                myself.stop(None);
                let _ = reply.send(());
            }
            SupervisorMsg::Restarts(reply) => {
                let _ = reply.send(state.restarts);
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<SupervisorMsg>,
        evt: SupervisionEvent,
        state: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        if state.stopping {
            return Ok(());
        }
        let (cell, failure) = match evt {
            SupervisionEvent::ActorFailed(cell, err) => (cell, err.to_string()),
            SupervisionEvent::ActorTerminated(cell, _, reason) => (
                cell,
                format!(
                    "stopped unexpectedly ({})",
                    reason.as_deref().unwrap_or("no reason given")
                ),
            ),
            _ => return Ok(()),
        };
        if let Some(idx) = state.child_of(&cell) {
            state.on_failure(&myself, idx, failure).await;
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<SupervisorMsg>,
        state: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        state.stop_children().await;
        state.report(NodeExit::Shutdown);
        Ok(())
    }
}

/// A running node's supervisor.
#[derive(Debug)]
pub struct NodeHandle {
    supervisor: ActorRef<SupervisorMsg>,
    join: tokio::task::JoinHandle<()>,
    exit: oneshot::Receiver<NodeExit>,
}

impl NodeHandle {
    /// Spawns the supervisor and its children (in order). Fails if a child cannot start.
    pub async fn start(
        policy: SupervisionConfig,
        children: Vec<ChildSpec>,
    ) -> Result<Self, ractor::SpawnErr> {
        let (tx, exit) = oneshot::channel();
        let args = SupervisorArgs {
            policy,
            children,
            exit: tx,
        };
        let (supervisor, join) = NodeSupervisor::spawn(None, NodeSupervisor, args).await?;
        Ok(Self {
            supervisor,
            join,
            exit,
        })
    }

    /// The supervisor.
    pub fn supervisor(&self) -> &ActorRef<SupervisorMsg> {
        &self.supervisor
    }

    /// Restarts so far.
    pub async fn restarts(&self) -> Option<u64> {
        ractor::call!(self.supervisor, SupervisorMsg::Restarts).ok()
    }

    /// Stops the node in order and waits for it.
    pub async fn shutdown(self) -> Result<(), NodeError> {
        let _ = ractor::call!(self.supervisor, SupervisorMsg::Shutdown);
        self.wait().await
    }

    /// Waits until the node stops by itself (the restart policy gave up) and returns why;
    /// pending forever while it runs and after a shutdown. Cancel-safe (e.g. in a `select!`
    /// with a shutdown signal); after it returned, [`Self::wait`] reports `Vanished`.
    pub async fn failed(&mut self) -> NodeError {
        match (&mut self.exit).await {
            Ok(NodeExit::Failed(e)) => e,
            Ok(NodeExit::Shutdown) | Err(_) => std::future::pending().await,
        }
    }

    /// Waits until the node ends: `Ok` after a shutdown, the [`NodeError`] otherwise.
    pub async fn wait(self) -> Result<(), NodeError> {
        let _ = self.join.await;
        match self.exit.await {
            Ok(NodeExit::Shutdown) => Ok(()),
            Ok(NodeExit::Failed(e)) => Err(e),
            Err(_) => Err(NodeError::Vanished),
        }
    }
}
