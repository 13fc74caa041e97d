//! Running one node from its config (`pinpoint node --config node.toml`): its keys, its chain
//! (the embedded one in `chain.data_dir`, or an EVM chain over JSON-RPC), its QUIC endpoint,
//! the node assembly (store, executor, network), the settlement actor (which stakes per role
//! and registers the node on start, idempotently), and the conductor with its role shells.
//! It runs until `shutdown` resolves, then stops in order: the conductor stops taking work,
//! the step in flight is checkpointed (the executor's job is cancelled, which checkpoints its
//! last completed step), and the supervisor stops the store, executor and network.
//!
//! The embedded chain here is the node's own development chain: its deployer holds the
//! supply, so a node whose account cannot cover its stakes is funded from it (only on the
//! embedded chain). Several nodes share one chain in one process through [`crate::devnet`],
//! or as processes over an RPC chain.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use pinpoint_chain::{
    Addresses, Call, ChainError, DeployConfig, Embedded, Evm, PIN, RetryPolicy, Settlement, U256,
    read_key_file,
};
use pinpoint_net::{Identity, NetConfig, NetError, QuicNode};
use pinpoint_protocol::dispute::Deadlines;

use crate::conduct::{Cheat, ConductSetup, Me, SharedChain};
use crate::config::{Bootstrap, ChainConfig, NodeConfig};
use crate::executor::ExecutorMsg;
use crate::keys::{self, KeyError};
use crate::node::{Node, StartError};
use crate::settlement::{
    ChainClock, ChainHandle, DEFAULT_POLL_INTERVAL_MS, Enrollment, SettlementArgs,
    SettlementCounters, SettlementError, SettlementMsg, journal_dir,
};
use crate::store::StoreError;

/// Interval between the conductor's chain reads.
pub const CHAIN_TICK: Duration = Duration::from_millis(500);

/// Why a node cannot run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// A key file.
    #[error("keys: {0}")]
    Keys(#[from] KeyError),
    /// The node stopped by itself: an actor failed beyond the restart intensity.
    #[error(transparent)]
    Node(#[from] crate::supervisor::NodeError),
    /// The chain.
    #[error("chain: {0}")]
    Chain(#[from] ChainError),
    /// The QUIC endpoint.
    #[error("network: {0}")]
    Net(#[from] NetError),
    /// The node assembly.
    #[error("node: {0}")]
    Start(#[from] StartError),
    /// The store.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// Staking and registration.
    #[error("settlement: {0}")]
    Settlement(#[from] SettlementError),
    /// An actor.
    #[error("actor: {0}")]
    Actor(String),
    /// The HTTP API cannot start (`[api]`).
    #[error("api: {0}")]
    Api(#[from] crate::api::ApiError),
    /// The config asks for something this build cannot do.
    #[error("{0}")]
    Config(String),
}

fn actor_err(e: impl std::fmt::Display) -> RunError {
    RunError::Actor(e.to_string())
}

/// Runs the node of `config` until `shutdown` resolves.
///
/// Errors: a key, chain, network or store problem at start (each names what failed), or a
/// cheat asked of a build without the `adversary` feature.
pub async fn run(config: &NodeConfig, shutdown: impl Future<Output = ()>) -> Result<(), RunError> {
    let seed = keys::load_node_seed(&config.node.key_file)?;
    match &config.chain {
        ChainConfig::Embedded { data_dir } => {
            let key_dir = config
                .node
                .key_file
                .parent()
                .map(std::path::Path::to_path_buf)
                .unwrap_or_default();
            let evm = keys::load_evm_key(&keys::key_paths(&key_dir).1)?;
            let (chain, _) = Embedded::open(data_dir, &DeployConfig::default())?;
            let chain = ChainHandle::new(chain);
            fund_from_deployer(&chain, evm.address(), config).await?;
            run_on(
                config,
                chain,
                evm.address(),
                seed,
                ChainClock::Drive(Embedded::set_time),
                shutdown,
            )
            .await
        }
        ChainConfig::Rpc {
            url,
            addresses,
            key_file,
        } => {
            let key = read_key_file(key_file)?;
            let account = key.address();
            let addresses = Addresses::read_json(addresses)?;
            let evm = Evm::connect(url, vec![key], None, addresses, RetryPolicy::default()).await?;
            evm.check_deployed().await?;
            run_on(
                config,
                ChainHandle::new(evm),
                account,
                seed,
                ChainClock::Observe,
                shutdown,
            )
            .await
        }
    }
}

/// On the node's own embedded chain: tops the account up from the deployer to cover its
/// stakes plus 1 000 PIN.
async fn fund_from_deployer(
    chain: &ChainHandle<Embedded>,
    account: pinpoint_chain::Address,
    config: &NodeConfig,
) -> Result<(), RunError> {
    let need: u128 = config
        .roles
        .enabled()
        .iter()
        .map(|(_, r)| r.stake_pin.base_units())
        .sum::<u128>()
        + 1_000 * PIN;
    let mut c = chain.lock().await;
    let have = c.balance_of(account).await?;
    if have < U256::from(need) {
        let deployer = pinpoint_chain::deploy::DEFAULT_DEPLOYER;
        let amount = U256::from(need) - have;
        c.send(
            deployer,
            Call::Transfer {
                to: account,
                amount,
            },
        )
        .await?;
    }
    Ok(())
}

/// The endpoint peers dial: the listen address, with a wildcard IP replaced by loopback
/// (a node meant for other machines listens on its public address).
fn endpoint(bound: SocketAddr, listen: SocketAddr) -> SocketAddr {
    if listen.ip().is_unspecified() {
        SocketAddr::new(std::net::Ipv4Addr::LOCALHOST.into(), bound.port())
    } else {
        bound
    }
}

async fn run_on<S: Settlement + 'static>(
    config: &NodeConfig,
    chain: SharedChain<S>,
    account: pinpoint_chain::Address,
    seed: [u8; 32],
    clock: ChainClock<S>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), RunError> {
    let cheat = match &config.adversary {
        None => None,
        Some(a) => {
            if !cfg!(feature = "adversary") {
                return Err(RunError::Config(
                    "adversary.cheat: this build has no `adversary` feature".into(),
                ));
            }
            Some(
                a.cheat
                    .parse::<Cheat>()
                    .map_err(|e| RunError::Config(e.to_string()))?,
            )
        }
    };
    let store = Node::open_store(config)?;
    let identity = Identity::from_seed(seed)?;
    let key = identity.node_key().clone();
    let net = NetConfig {
        listen: config.network.listen,
        rng_seed: config.quic_rng_seed(),
        ..NetConfig::default()
    };
    let (quic, inbound) = QuicNode::bind(identity, net, std::sync::Arc::new(store.clone()))?;
    let bound = quic.local_addr()?;
    let advertised = endpoint(bound, config.network.listen);
    tracing::info!(node = %key.node_id(), %account, listen = %bound, "starting");

    let settle_args = SettlementArgs {
        chain: chain.clone(),
        account,
        dir: journal_dir(config),
        subscribers: Vec::new(),
        from_block: 0,
        poll_interval: Some(Duration::from_millis(DEFAULT_POLL_INTERVAL_MS)),
        clock,
        counters: std::sync::Arc::new(SettlementCounters::default()),
        fault: None,
    };
    let bootstrap = config
        .network
        .bootstrap
        .iter()
        .filter_map(|b| Bootstrap::parse(b).ok())
        .map(|b| (b.node, b.addr))
        .collect();
    let (chain_id, market) = {
        let c = chain.lock().await;
        (pinpoint_chain::chain_id(&*c).await?, c.addresses().market)
    };
    let me = Me {
        account,
        trainer: config.roles.trainer.is_some(),
        verifier: config.roles.verifier.is_some(),
        arbiter: config.roles.arbiter.is_some(),
        max_steps: config.jobs.max_steps,
        min_payment: U256::from(config.jobs.min_payment_pin.base_units()),
        samples: config.jobs.verifier_samples,
    };
    let (observer, events) = tokio::sync::broadcast::channel(crate::conduct::OBSERVER_CAPACITY);
    let setup = ConductSetup {
        key: key.clone(),
        market,
        chain_id,
        transport: quic.clone(),
        bootstrap,
        me,
        cheat,
        deadlines: Deadlines {
            answer_ms: config.jobs.dispute_answer_ms,
            max_retries: config.jobs.dispute_max_retries,
        },
        tick: CHAIN_TICK,
        observer: Some(observer),
    };
    let running = crate::conduct::start(config, store.clone(), inbound, settle_args, setup).await?;
    let settlement = running
        .settlement
        .get()
        .ok_or_else(|| RunError::Actor("the settlement actor did not start".into()))?;
    let enrollment = Enrollment::from_roles(&config.roles, key.clone(), advertised.to_string());
    let report =
        ractor::call!(settlement, SettlementMsg::Enroll, enrollment).map_err(actor_err)??;
    tracing::info!(?report, "enrolled: staked and registered");
    let mut node = running.node;
    let bridge = crate::api::bridge::Bridge::start(key, quic, node.network.clone())
        .await
        .map_err(actor_err)?;
    let market = chain.lock().await.addresses().market;
    let api = crate::api::serve_node(
        &config.api,
        crate::api::NodeApi {
            conductor: running.conductor.clone(),
            events,
            chain,
            settlement: running.settlement.clone(),
            account,
            store,
            bridge: Some(bridge),
            chain_id,
            market,
        },
    )?;
    if let Some(api) = &api {
        tracing::info!(url = %format!("http://{}/", api.addr()), "serving the API and dashboard");
    }
    tracing::info!("running; stop with Ctrl-C");

    let failed = tokio::select! {
        () = shutdown => None,
        // The supervisor gave up (restart intensity): the error names the actor.
        e = node.handle.failed() => Some(e),
    };
    if let Some(api) = api {
        api.stop().await;
    }
    if let Some(e) = failed {
        return Err(RunError::Node(e));
    }
    tracing::info!("stopping: checkpointing the step in flight, then every actor in order");
    if let Some(exec) = node.executor.get()
        && let Ok(Some(job)) = ractor::call!(exec, ExecutorMsg::Status)
    {
        let _ = ractor::call!(exec, ExecutorMsg::Cancel, job);
    }
    node.handle.shutdown().await.map_err(actor_err)?;
    tracing::info!("stopped");
    Ok(())
}
