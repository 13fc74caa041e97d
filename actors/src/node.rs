//! Node assembly: the store opened from the config, and a
//! [`NodeSupervisor`](crate::supervisor::NodeSupervisor) over the store actor, the executor
//! and the network actor (fed from the transport's queue when one is given), then any further
//! children the caller specifies ([`Node::spawn_with`]: a full node adds the settlement actor
//! and the conductor, see [`crate::conduct::start`]).

use pinpoint_net::Inbound;
use pinpoint_protocol::codec::Limits;
use pinpoint_protocol::id::DEFAULT_REPLAY_CAPACITY;
use tokio::sync::mpsc;

use crate::config::NodeConfig;
use crate::executor::{ExecEvent, Executor, ExecutorArgs, ExecutorMsg, FaultPlan};
use crate::network::{self, Inbox, Network, NetworkArgs, NetworkMsg};
use crate::store::{SharedStore, Store, StoreActor, StoreError, StoreMsg};
use crate::supervisor::{ChildRef, ChildSpec, NodeHandle, Sink};

/// Name of the executor child (in logs and errors).
pub const EXECUTOR: &str = "executor";
/// Name of the store child.
pub const STORE: &str = "store";
/// Name of the network child.
pub const NETWORK: &str = "network";
/// Name of the settlement child.
pub const SETTLEMENT: &str = "settlement";
/// Name of the conductor child.
pub const CONDUCTOR: &str = "conductor";

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
#[derive(Debug)]
pub struct NodeDeps {
    /// Where the executor's events go (the conductor, in a full node).
    pub executor_events: Sink<ExecEvent>,
    /// Test-only fault injection for the executor.
    pub fault: Option<FaultPlan>,
    /// The transport's inbound queue (e.g. from `QuicNode::bind`), fed into the network
    /// actor's bounded inbox; `None`: frames are offered to [`Node::inbox`] directly.
    pub inbound: Option<mpsc::Receiver<Inbound>>,
    /// The store, when the caller opened it already (e.g. to serve it to peers as the
    /// transport's blob store); `None`: opened from `node.data_dir/store`.
    pub store: Option<SharedStore>,
}

/// A running node.
#[derive(Debug)]
pub struct Node {
    /// The supervisor.
    pub handle: NodeHandle,
    /// The executor's current incarnation.
    pub executor: ChildRef<ExecutorMsg>,
    /// The network actor's current incarnation.
    pub network: ChildRef<NetworkMsg>,
    /// The network's bounded inbox (`limits.inbound_queue`).
    pub inbox: Inbox,
    /// The store (for the executor's thread and blocking callers).
    pub store: SharedStore,
    /// The store actor's current incarnation (for async callers).
    pub store_actor: ChildRef<StoreMsg>,
}

impl Node {
    /// Opens the store in `node.data_dir/store` (corrupt files are skipped with a warning).
    ///
    /// Errors: [`StoreError`] when the directory cannot be used.
    pub fn open_store(config: &NodeConfig) -> Result<SharedStore, StoreError> {
        let (store, warnings) = Store::open(
            &config.node.data_dir.join("store"),
            config.disk_budget_bytes(),
        )?;
        for w in warnings {
            tracing::warn!("store: {w}");
        }
        Ok(SharedStore::new(store))
    }

    /// Opens the store in `node.data_dir/store` and starts the supervised actors.
    pub async fn spawn(config: &NodeConfig, deps: NodeDeps) -> Result<Self, StartError> {
        Self::spawn_with(config, deps, |_, _| Vec::new()).await
    }

    /// Like [`Node::spawn`], with more children started after the network, in order (and
    /// stopped before it): `more` gets the executor and the network to hand to them.
    pub async fn spawn_with(
        config: &NodeConfig,
        deps: NodeDeps,
        more: impl FnOnce(&ChildRef<ExecutorMsg>, &ChildRef<NetworkMsg>) -> Vec<ChildSpec>,
    ) -> Result<Self, StartError> {
        let store = match deps.store {
            Some(s) => s,
            None => Self::open_store(config)?,
        };
        let args = ExecutorArgs {
            store: store.clone(),
            threads: config.executor.threads,
            events: deps.executor_events,
            fault: deps.fault,
        };
        let shared = store.clone();
        let (store_spec, store_actor) = ChildSpec::new(STORE, move || (StoreActor, shared.clone()));
        let (exec_spec, executor) = ChildSpec::new(EXECUTOR, move || (Executor, args.clone()));
        let (inbox, inbox_rx) = network::inbox(config.limits.inbound_queue as usize);
        if let Some(inbound) = deps.inbound {
            network::feed(inbound, inbox.clone());
        }
        let net_args = NetworkArgs {
            inbox: inbox_rx,
            inbox_tx: inbox.clone(),
            limits: Limits::default(),
            replay_capacity: DEFAULT_REPLAY_CAPACITY,
        };
        let (net_spec, network) = ChildSpec::new(NETWORK, move || (Network, net_args.clone()));
        let mut children = vec![store_spec, exec_spec, net_spec];
        children.extend(more(&executor, &network));
        let handle = NodeHandle::start(config.supervision, children).await?;
        Ok(Self {
            handle,
            executor,
            network,
            inbox,
            store,
            store_actor,
        })
    }
}
