//! A whole network in one process: a submitter, trainers (optionally one cheating), verifiers
//! and arbiters, each a full node assembly (store, executor, network actor, conductor and role
//! shells) on its own QUIC endpoint on loopback, all on one shared chain whose clock a task
//! moves forward. The one-process integration test and `pinpoint devnet` run on it.
//!
//! The chain is a [`DevChain`]: the embedded chain ([`Devnet::start`]) or a development EVM
//! chain over JSON-RPC, i.e. anvil ([`Devnet::start_on`] with an [`Evm`] client holding the
//! deployer's key and every node's [`Plan::signers`]). The pieces that do not need the nodes
//! in this process ([`Plan::members`], [`fund`], [`spawn_clock`], [`post_job`]) also serve
//! `pinpoint devnet --processes`, whose nodes are `pinpoint node` processes.
//!
//! Each node's account ([`DevChain::account`]) is funded from the deployer, stakes for its role and registers its `NodeId` and endpoint in the chain's
//! registry; the submitter has no role (it is not in the registry) and every other node knows
//! it as a bootstrap peer, from which it fetches job specs.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::conduct::{
    Cheat, ConductMsg, ConductSetup, ConductStatus, Me, OBSERVER_CAPACITY, Observed, SharedChain,
};
use crate::config::{ConfigError, NodeConfig};
use crate::node::{Node, StartError};
use crate::settlement::{ChainClock, SettlementArgs, SettlementCounters, SettlementMsg};
use crate::store::{RefKey, SharedStore, StoreError};
use crate::supervisor::ChildRef;
use pinpoint_chain::{
    Address, B256, Call, ChainError, DeployConfig, Embedded, Evm, JobParams, PIN, PrivateKeySigner,
    Role, Settlement, Spender, U256, sign_registration,
};
use pinpoint_net::{Identity, NetConfig, NetError, QuicNode};
use pinpoint_protocol::dispute::Deadlines;
use pinpoint_protocol::id::NodeId;
use pinpoint_train::JobSpec;

/// Why a devnet cannot start or run.
#[derive(Debug, thiserror::Error)]
pub enum DevnetError {
    /// The chain refused a setup transaction or a read.
    #[error("chain: {0}")]
    Chain(#[from] ChainError),
    /// A QUIC endpoint cannot be bound.
    #[error("network: {0}")]
    Net(#[from] NetError),
    /// A node cannot start.
    #[error("node: {0}")]
    Start(#[from] StartError),
    /// A node's store.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// A node's config.
    #[error("config: {0}")]
    Config(#[from] ConfigError),
    /// An actor cannot start or answer.
    #[error("actor: {0}")]
    Actor(String),
    /// The plan or a job is invalid.
    #[error("{0}")]
    Invalid(String),
}

/// What to start.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Trainers (at least one).
    pub trainers: usize,
    /// Verifiers.
    pub verifiers: usize,
    /// Arbiters (at least the committee size).
    pub arbiters: usize,
    /// Dispute committee size (odd).
    pub committee: u64,
    /// The second trainer cheats this way (`None`: nobody cheats).
    pub cheat: Option<Cheat>,
    /// Where the nodes keep their data (a directory per node).
    pub dir: PathBuf,
    /// Real time per chain second.
    pub chain_second: Duration,
    /// Chain reads per node.
    pub tick: Duration,
    /// Deadlines the arbiters give parties.
    pub deadlines: Deadlines,
    /// Steps each verifier samples from each root.
    pub samples: u64,
    /// Which trainer (1-based) cheats with `cheat`.
    pub cheater: usize,
}

/// Every node's progress reports, tagged with the node's index in [`Devnet::nodes`].
pub type Observations = tokio::sync::broadcast::Sender<(usize, crate::conduct::Observed)>;

impl Plan {
    /// The default network: 3 trainers (the second cheating with `cheat`), 2 verifiers, 3
    /// arbiters on a committee of 3.
    pub fn standard(dir: &Path, cheat: Option<Cheat>) -> Self {
        Self {
            trainers: 3,
            verifiers: 2,
            arbiters: 3,
            committee: 3,
            cheat,
            dir: dir.to_path_buf(),
            chain_second: Duration::from_millis(20),
            tick: Duration::from_millis(50),
            deadlines: Deadlines {
                answer_ms: 5_000,
                max_retries: 2,
            },
            samples: 2,
            cheater: 2,
        }
    }
}

/// One node of a plan, before it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// `submitter`, `trainer-1`, …
    pub name: String,
    /// Its role (`None`: the submitter).
    pub role: Option<Role>,
    /// How it cheats (the plan's cheating trainer only).
    pub cheat: Option<Cheat>,
}

impl Plan {
    /// The nodes of the plan in start order: the submitter, then the trainers (the
    /// [`Plan::cheater`]-th one with [`Plan::cheat`]), verifiers and arbiters.
    pub fn members(&self) -> Vec<Member> {
        let mut out = vec![Member {
            name: "submitter".into(),
            role: None,
            cheat: None,
        }];
        let roles = [
            (Role::Trainer, self.trainers),
            (Role::Verifier, self.verifiers),
            (Role::Arbiter, self.arbiters),
        ];
        for (role, n) in roles {
            for i in 1..=n {
                let cheat = if role == Role::Trainer && i == self.cheater {
                    self.cheat
                } else {
                    None
                };
                out.push(Member {
                    name: format!("{}-{i}", role_name(role)),
                    role: Some(role),
                    cheat,
                });
            }
        }
        out
    }

    /// The signing keys of every member's account on an RPC chain ([`evm_key`] of its name):
    /// the chain's client needs them (with the deployer's) to send as the nodes.
    ///
    /// Errors: a derived key outside the curve's range (never seen; named).
    pub fn signers(&self) -> Result<Vec<PrivateKeySigner>, DevnetError> {
        self.members().iter().map(|m| evm_key(&m.name)).collect()
    }

    /// The contracts' parameters of a devnet: the plan's committee, an hour for a committee
    /// to rule, the defaults otherwise (the deployer is anvil's first development account,
    /// [`pinpoint_chain::deploy::DEFAULT_DEPLOYER`]).
    pub fn deploy_config(&self) -> DeployConfig {
        DeployConfig {
            committee_size: self.committee,
            dispute_timeout: 3_600,
            ..DeployConfig::default()
        }
    }

    fn check(&self) -> Result<(), DevnetError> {
        if self.trainers == 0 || self.arbiters < self.committee as usize {
            return Err(DevnetError::Invalid(format!(
                "a devnet needs at least one trainer and as many arbiters as the committee ({}): got {} and {}",
                self.committee, self.trainers, self.arbiters
            )));
        }
        Ok(())
    }
}

/// blake3 `derive_key` context of [`evm_key`].
const EVM_KEY_CONTEXT: &str = "pinpoint 2026 devnet account key v1";

/// The devnet account key of the node named `name`: the same on every run, so a devnet's
/// accounts are known before it starts (development only: anyone can derive them).
///
/// Errors: a derived scalar outside secp256k1's range (probability about 2⁻¹²⁸).
pub fn evm_key(name: &str) -> Result<PrivateKeySigner, DevnetError> {
    let seed = blake3::derive_key(EVM_KEY_CONTEXT, name.as_bytes());
    PrivateKeySigner::from_bytes(&B256::from(seed))
        .map_err(|e| DevnetError::Invalid(format!("the devnet key of {name}: {e}")))
}

/// A chain a devnet runs on: the embedded chain, or a development EVM chain (anvil) over
/// JSON-RPC. The devnet moves its clock and pays its nodes' gas.
pub trait DevChain: Settlement + 'static {
    /// The account of the `index`-th node (1-based, in [`Plan::members`] order) named `name`:
    /// on the embedded chain, which takes any sender, `0x…40 + index` (so that accounts sort
    /// in the plan's order); on an RPC chain, [`evm_key`]`(name)`'s address.
    ///
    /// Errors: see [`evm_key`].
    fn account(index: u8, name: &str) -> Result<Address, DevnetError>;

    /// Moves the chain's clock `secs` seconds forward (visible to [`Settlement::now`]).
    fn advance(
        &mut self,
        secs: u64,
    ) -> impl std::future::Future<Output = Result<(), ChainError>> + Send;

    /// Gives `who` what it needs to pay for gas (nothing on the embedded chain).
    fn fund_gas(
        &mut self,
        who: Address,
    ) -> impl std::future::Future<Output = Result<(), ChainError>> + Send;
}

impl DevChain for Embedded {
    fn account(index: u8, _name: &str) -> Result<Address, DevnetError> {
        Ok(Address::with_last_byte(0x40u8.wrapping_add(index)))
    }

    async fn advance(&mut self, secs: u64) -> Result<(), ChainError> {
        let t = self.time() + secs;
        self.set_time(t)
    }

    async fn fund_gas(&mut self, _who: Address) -> Result<(), ChainError> {
        Ok(())
    }
}

/// Ether each devnet account gets on a development EVM chain, for gas: 100 ETH.
pub const GAS_FUNDS_WEI: u128 = 100 * PIN;

impl DevChain for Evm {
    fn account(_index: u8, name: &str) -> Result<Address, DevnetError> {
        Ok(evm_key(name)?.address())
    }

    async fn advance(&mut self, secs: u64) -> Result<(), ChainError> {
        self.dev_advance_time(secs).await
    }

    async fn fund_gas(&mut self, who: Address) -> Result<(), ChainError> {
        self.dev_set_balance(who, U256::from(GAS_FUNDS_WEI)).await
    }
}

/// Tokens each devnet account gets from the deployer: 10 000 PIN.
pub const NODE_FUNDS_PIN: u128 = 10_000;

/// Funds `account` from the deployer ([`NODE_FUNDS_PIN`], and gas on an EVM chain).
///
/// Errors: the chain (e.g. an RPC client without the deployer's key).
pub async fn fund<S: DevChain>(
    chain: &SharedChain<S>,
    account: Address,
) -> Result<(), DevnetError> {
    let mut c = chain.lock().await;
    c.fund_gas(account).await?;
    let deployer = pinpoint_chain::deploy::DEFAULT_DEPLOYER;
    let amount = U256::from(NODE_FUNDS_PIN * PIN);
    c.send(
        deployer,
        Call::Transfer {
            to: account,
            amount,
        },
    )
    .await?;
    Ok(())
}

/// Starts a task that moves `chain`'s clock one second per `second` of real time (it ends
/// when the chain refuses). Abort the handle to stop it.
pub fn spawn_clock<S: DevChain>(
    chain: SharedChain<S>,
    second: Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(second).await;
            let r = chain.lock().await.advance(1).await;
            if let Err(e) = r {
                tracing::warn!(error = %e, "the devnet's clock stops: the chain refused to advance");
                break;
            }
        }
    })
}

/// Puts `spec` in `store` (the submitter's: its peers fetch the spec from there) and posts it
/// as a job from `submitter` (funded, with the market approved). Returns the chain's job id.
///
/// Errors: a spec that does not encode, the store, or the chain refusing the job.
pub async fn post_job<S: Settlement + 'static>(
    chain: &SharedChain<S>,
    store: &SharedStore,
    submitter: Address,
    spec: &JobSpec,
    terms: Terms,
) -> Result<u64, DevnetError> {
    let encoded = spec
        .encode()
        .map_err(|e| DevnetError::Invalid(format!("the job spec: {e}")))?;
    let digest = store
        .lock()?
        .put(RefKey::spec(spec_key(&encoded)), &encoded)?;
    let mut c = chain.lock().await;
    let now = c.now().await?;
    let params = JobParams {
        spec_hash: B256::from(digest.0),
        payment: terms.payment,
        replicas: terms.replicas,
        bond: terms.bond,
        accept_deadline: now + terms.accept_secs,
        commit_deadline: now + terms.commit_secs,
        challenge_window: terms.window_secs,
    };
    let receipt = c.send(submitter, Call::PostJob(params)).await?;
    receipt
        .posted_job()
        .ok_or_else(|| DevnetError::Invalid("the chain posted no job".into()))
}

/// Approves the staking and market contracts to take `account`'s tokens (stakes, bonds,
/// payments).
///
/// Errors: the chain.
pub async fn approve_all<S: Settlement + 'static>(
    chain: &SharedChain<S>,
    account: Address,
) -> Result<(), DevnetError> {
    let mut c = chain.lock().await;
    for spender in [Spender::Staking, Spender::Market] {
        c.send(
            account,
            Call::Approve {
                spender,
                amount: U256::MAX,
            },
        )
        .await?;
    }
    Ok(())
}

/// A submitter that is not a node (`pinpoint devnet --processes`): a store holding job specs
/// and a QUIC endpoint on 127.0.0.1 that serves them to peers (nodes fetch a posted job's
/// spec by its hash from their bootstrap peers). It takes no messages.
#[derive(Debug)]
pub struct SpecServer {
    /// The store the specs are put in ([`post_job`]).
    pub store: SharedStore,
    /// The endpoint (serves the store's blobs while it lives).
    pub transport: QuicNode,
    /// Its address.
    pub addr: SocketAddr,
    /// Its `NodeId` (from `seed`).
    pub node: NodeId,
}

/// The spec server's store budget (it holds specs only).
const SPEC_STORE_BYTES: u64 = 64 << 20;

impl SpecServer {
    /// Opens a store in `dir` and binds an endpoint with the ed25519 `seed`'s identity.
    ///
    /// Errors: the store, or the endpoint.
    pub fn start(dir: &Path, seed: [u8; 32]) -> Result<Self, DevnetError> {
        let (store, _) = crate::store::Store::open(dir, SPEC_STORE_BYTES)?;
        let store = SharedStore::new(store);
        let identity = Identity::from_seed(seed)?;
        let node = identity.node_key().node_id();
        let (transport, mut inbound) =
            QuicNode::bind(identity, NetConfig::default(), Arc::new(store.clone()))?;
        let addr = transport.local_addr()?;
        // Blob requests are answered by the transport; messages have nowhere to go.
        tokio::spawn(async move { while inbound.recv().await.is_some() {} });
        Ok(Self {
            store,
            transport,
            addr,
            node,
        })
    }
}

/// One node of the devnet.
#[derive(Debug)]
pub struct LocalNode {
    /// `submitter`, `trainer-1`, …
    pub name: String,
    /// Its role (`None`: the submitter).
    pub role: Option<Role>,
    /// Its EVM account.
    pub account: Address,
    /// Its `NodeId`.
    pub node: NodeId,
    /// Its QUIC address.
    pub addr: SocketAddr,
    /// Whether it cheats.
    pub cheat: Option<Cheat>,
    /// Its conductor (the current incarnation: the node's supervisor restarts it).
    pub conductor: ChildRef<ConductMsg>,
    /// Its settlement actor, the only sender of its account once the node runs.
    pub settlement: ChildRef<SettlementMsg>,
    /// Its signing key.
    pub key: pinpoint_protocol::id::NodeKey,
    /// Its QUIC endpoint (for connection statistics).
    pub transport: QuicNode,
    /// The node assembly.
    pub assembly: Node,
}

impl LocalNode {
    /// The conductor's status.
    ///
    /// Errors: [`DevnetError::Actor`] when the conductor is gone.
    pub async fn status(&self) -> Result<ConductStatus, DevnetError> {
        let c = self
            .conductor
            .get()
            .ok_or_else(|| DevnetError::Actor(format!("{}: no conductor", self.name)))?;
        ractor::call!(c, ConductMsg::Status).map_err(|e| DevnetError::Actor(e.to_string()))
    }
}

/// A job's terms as the devnet posts them.
#[derive(Debug, Clone, Copy)]
pub struct Terms {
    /// Payment, base units.
    pub payment: U256,
    /// Trainer replicas.
    pub replicas: u8,
    /// Each trainer's bond.
    pub bond: U256,
    /// Chain seconds to accept.
    pub accept_secs: u64,
    /// Chain seconds to commit.
    pub commit_secs: u64,
    /// Challenge window, chain seconds.
    pub window_secs: u64,
}

impl Terms {
    /// 1 000 PIN for `replicas` trainers bonding 50 PIN each, a 60 s challenge window, 1 200 s
    /// to accept (the job is assigned as soon as every replica accepted; a long deadline only
    /// keeps a loaded machine from missing it).
    pub fn standard(replicas: u8) -> Self {
        Self {
            payment: U256::from(1_000 * PIN),
            replicas,
            bond: U256::from(50 * PIN),
            accept_secs: 1_200,
            commit_secs: 100_000,
            window_secs: 60,
        }
    }
}

impl Terms {
    /// The contract's parameters of a job over the spec `spec_hash`, posted at chain time
    /// `now` (the deadlines count from it).
    pub fn params(&self, spec_hash: B256, now: u64) -> JobParams {
        JobParams {
            spec_hash,
            payment: self.payment,
            replicas: self.replicas,
            bond: self.bond,
            accept_deadline: now + self.accept_secs,
            commit_deadline: now + self.commit_secs,
            challenge_window: self.window_secs,
        }
    }
}

/// A running devnet on the chain `S`.
#[derive(Debug)]
pub struct Devnet<S: Settlement + 'static = Embedded> {
    /// The shared chain.
    pub chain: SharedChain<S>,
    /// Its chain id.
    pub chain_id: u64,
    /// The nodes: the submitter first, then trainers, verifiers, arbiters.
    pub nodes: Vec<LocalNode>,
    events: Observations,
    clock: tokio::task::JoinHandle<()>,
}

impl<S: Settlement + 'static> Drop for Devnet<S> {
    fn drop(&mut self) {
        self.clock.abort();
    }
}

/// Stake per role (arbiters 1 000 PIN, the others 200; the contracts' minimums are 1 000 and
/// 100).
pub fn stake_for(role: Role) -> U256 {
    U256::from(if role == Role::Arbiter { 1_000 } else { 200 } * PIN)
}

impl Devnet<Embedded> {
    /// Deploys an embedded chain in memory and starts every node of `plan` on it.
    ///
    /// Errors: an invalid plan, or a node that cannot start.
    pub async fn start(plan: &Plan) -> Result<Self, DevnetError> {
        plan.check()?;
        Self::start_on(plan, Embedded::in_memory(&plan.deploy_config())?).await
    }
}

impl<S: DevChain> Devnet<S> {
    /// Starts every node of `plan` on `chain`, where the contracts are deployed with
    /// [`Plan::deploy_config`] by [`pinpoint_chain::deploy::DEFAULT_DEPLOYER`] (an RPC
    /// client must hold the deployer's key and [`Plan::signers`]).
    ///
    /// Errors: an invalid plan, the chain, or a node that cannot start.
    pub async fn start_on(plan: &Plan, chain: S) -> Result<Self, DevnetError> {
        plan.check()?;
        let chain: SharedChain<S> = SharedChain::new(chain);
        let chain_id = pinpoint_chain::chain_id(&*chain.lock().await).await?;
        let mut net = Self {
            chain,
            chain_id,
            nodes: Vec::new(),
            events: tokio::sync::broadcast::channel(OBSERVER_CAPACITY).0,
            clock: tokio::spawn(async {}),
        };
        let mut boot = Vec::new();
        for m in plan.members() {
            net.add(plan, m, boot.clone()).await?;
            if boot.is_empty() {
                // The submitter, started first, is every other node's bootstrap peer.
                boot = vec![(net.nodes[0].node, net.nodes[0].addr)];
            }
        }
        net.clock = spawn_clock(net.chain.clone(), plan.chain_second);
        Ok(net)
    }

    async fn send(&self, from: Address, call: Call) -> Result<(), DevnetError> {
        self.chain.lock().await.send(from, call).await?;
        Ok(())
    }

    async fn add(
        &mut self,
        plan: &Plan,
        member: Member,
        bootstrap: Vec<(NodeId, SocketAddr)>,
    ) -> Result<(), DevnetError> {
        let Member { name, role, cheat } = member;
        let index = u8::try_from(self.nodes.len() + 1)
            .map_err(|_| DevnetError::Invalid("at most 255 nodes".into()))?;
        let account = S::account(index, &name)?;
        fund(&self.chain, account).await?;
        approve_all(&self.chain, account).await?;
        if let Some(role) = role {
            self.send(
                account,
                Call::Stake {
                    role,
                    amount: stake_for(role),
                },
            )
            .await?;
        }
        let dir = plan.dir.join(&name);
        let section = role.map_or("trainer", role_name);
        let text = format!("[node]\ndata_dir = \"data\"\n[roles.{section}]\nstake_pin = 200\n");
        let mut config = NodeConfig::from_toml_str(&text, &dir, &name)?;
        if role.is_none() {
            // The submitter serves no role: it posts, serves the spec and finalizes.
            config.roles = Default::default();
        }
        let store = Node::open_store(&config)?;
        let identity = Identity::from_seed(*blake3::hash(name.as_bytes()).as_bytes())?;
        let key = identity.node_key().clone();
        let node = key.node_id();
        let (quic, inbound) =
            QuicNode::bind(identity, NetConfig::default(), Arc::new(store.clone()))?;
        let addr = quic.local_addr()?;
        if let Some(role) = role {
            let registry = self.chain.lock().await.addresses().staking;
            let reg = sign_registration(
                &key,
                self.chain_id,
                registry,
                account,
                &[role],
                &addr.to_string(),
            )?;
            self.send(account, reg).await?;
        }
        let me = Me {
            account,
            trainer: role == Some(Role::Trainer),
            verifier: role == Some(Role::Verifier),
            arbiter: role == Some(Role::Arbiter),
            max_steps: 1_000_000,
            min_payment: U256::from(1),
            samples: plan.samples,
        };
        let market = self.chain.lock().await.addresses().market;
        let setup = ConductSetup {
            key: key.clone(),
            market,
            chain_id: self.chain_id,
            transport: quic.clone(),
            bootstrap,
            me,
            cheat,
            deadlines: plan.deadlines,
            tick: plan.tick,
            observer: Some(self.observe_node(self.nodes.len())),
        };
        // The devnet moves the chain's clock itself; each node only reads it. Nodes poll no
        // events of their own: their conductors read the chain through `Read`.
        let settlement = SettlementArgs {
            chain: self.chain.clone(),
            account,
            dir: crate::settlement::journal_dir(&config),
            subscribers: Vec::new(),
            from_block: 0,
            poll_interval: None,
            clock: ChainClock::Observe,
            counters: Arc::new(SettlementCounters::default()),
            fault: None,
        };
        let running = crate::conduct::start(&config, store, inbound, settlement, setup).await?;
        self.nodes.push(LocalNode {
            name,
            role,
            account,
            node,
            addr,
            cheat,
            conductor: running.conductor,
            settlement: running.settlement,
            key,
            transport: quic,
            assembly: running.node,
        });
        Ok(())
    }

    /// Every node's progress from now on, tagged with its index in [`Devnet::nodes`].
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<(usize, Observed)> {
        self.events.subscribe()
    }

    /// A node's observer channel, forwarded into the devnet's merged stream.
    fn observe_node(&self, index: usize) -> tokio::sync::broadcast::Sender<Observed> {
        let (tx, mut rx) = tokio::sync::broadcast::channel(OBSERVER_CAPACITY);
        let merged = self.events.clone();
        tokio::spawn(async move {
            loop {
                match rx.recv().await {
                    Ok(ev) => {
                        let _ = merged.send((index, ev));
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                }
            }
        });
        tx
    }

    /// The submitter.
    pub fn submitter(&self) -> &LocalNode {
        &self.nodes[0]
    }

    /// The nodes serving `role`.
    pub fn with_role(&self, role: Role) -> impl Iterator<Item = &LocalNode> {
        self.nodes.iter().filter(move |n| n.role == Some(role))
    }

    /// Puts `spec` in the submitter's store (peers fetch it from there) and posts it as a job.
    /// Returns the chain's job id.
    ///
    /// Errors: a spec that does not encode, the store, or the chain refusing the job.
    pub async fn post_job(&self, spec: &JobSpec, terms: Terms) -> Result<u64, DevnetError> {
        let sub = self.submitter();
        let spec_hash = put_spec(&sub.assembly.store, spec)?;
        let now = self.chain.lock().await.now().await?;
        let key = format!("post/{spec_hash}/{now}");
        let settlement = sub
            .settlement
            .get()
            .ok_or_else(|| DevnetError::Actor("the submitter's settlement actor is gone".into()))?;
        let receipt = ractor::call!(settlement, |reply| SettlementMsg::Submit {
            key,
            call: Call::PostJob(terms.params(spec_hash, now)),
            reply: Some(reply),
        })
        .map_err(|e| DevnetError::Actor(e.to_string()))?
        .map_err(|e| DevnetError::Actor(format!("posting the job: {e}")))?;
        receipt
            .posted_job()
            .ok_or_else(|| DevnetError::Invalid("the chain posted no job".into()))
    }
}

/// Puts `spec`'s canonical encoding in `store`, named by its content, where peers fetch it
/// from (the node that posts a job serves its spec). Returns the chain's `specHash`.
///
/// Errors: a spec that does not encode ([`DevnetError::Invalid`]), or the store.
pub fn put_spec(store: &crate::store::SharedStore, spec: &JobSpec) -> Result<B256, DevnetError> {
    let encoded = spec
        .encode()
        .map_err(|e| DevnetError::Invalid(format!("the job spec: {e}")))?;
    let digest = store
        .lock()?
        .put(RefKey::spec(spec_key(&encoded)), &encoded)?;
    Ok(B256::from(digest.0))
}

/// The store key of a posted spec (named by its content).
fn spec_key(encoded: &[u8]) -> [u8; 32] {
    *blake3::hash(encoded).as_bytes()
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::Trainer => "trainer",
        Role::Verifier => "verifier",
        Role::Arbiter => "arbiter",
        Role::Solver => "solver",
    }
}
