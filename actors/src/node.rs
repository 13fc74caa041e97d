//! Node assembly (the part that does not need the role machines yet): the store opened from
//! the config, and a [`NodeSupervisor`](crate::supervisor::NodeSupervisor) over the
//! executor. The role actors, network and settlement join here as they land.

use ractor::DerivedActorRef;

use crate::config::NodeConfig;
use crate::executor::{ExecEvent, Executor, ExecutorArgs, ExecutorMsg, FaultPlan};
use crate::store::{SharedStore, Store, StoreError};
use crate::supervisor::{ChildRef, ChildSpec, NodeHandle};

/// Name of the executor child (in logs and errors).
pub const EXECUTOR: &str = "executor";

/// Why a node cannot start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The store cannot be opened.
    #[error("opening the store: {0}")]
    Store(#[from] StoreError),
    /// An actor cannot start.
    #[error("starting the node's actors: {0}")]
    Spawn(#[from] ractor::SpawnErr),
}

/// What a node is built from besides its config.
#[derive(Debug, Clone)]
pub struct NodeDeps {
    /// Where the executor's events go (the trainer role, later).
    pub executor_events: DerivedActorRef<ExecEvent>,
    /// Test-only fault injection for the executor.
    pub fault: Option<FaultPlan>,
}

/// A running node.
#[derive(Debug)]
pub struct Node {
    /// The supervisor.
    pub handle: NodeHandle,
    /// The executor's current incarnation.
    pub executor: ChildRef<ExecutorMsg>,
    /// The store.
    pub store: SharedStore,
}

impl Node {
    /// Opens the store in `node.data_dir/store` and starts the supervised actors.
    pub async fn spawn(config: &NodeConfig, deps: NodeDeps) -> Result<Self, StartError> {
        let (store, _warnings) = Store::open(
            &config.node.data_dir.join("store"),
            config.disk_budget_bytes(),
        )?;
        let store = SharedStore::new(store);
        let args = ExecutorArgs {
            store: store.clone(),
            threads: config.executor.threads,
            events: deps.executor_events,
            fault: deps.fault,
        };
        let (spec, executor) = ChildSpec::new(EXECUTOR, move || (Executor, args.clone()));
        let handle = NodeHandle::start(config.supervision, vec![spec]).await?;
        Ok(Self {
            handle,
            executor,
            store,
        })
    }
}
