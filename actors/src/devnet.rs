//! A whole network in one process: a submitter, trainers (optionally one cheating), verifiers
//! and arbiters, each a full node assembly (store, executor, network actor, conductor and role
//! shells) on its own QUIC endpoint on loopback, all on one shared embedded chain whose clock
//! a task moves forward. The one-process integration test and `pinpoint devnet` run on it.
//!
//! Each node's account is funded from the deployer, stakes for its role and registers its
//! `NodeId` and endpoint in the chain's registry; the submitter has no role (it is not in
//! the registry) and every other node knows it as a bootstrap peer, from which it fetches job
//! specs.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use pinpoint_chain::{
    Address, B256, Call, ChainError, DeployConfig, Embedded, JobParams, PIN, Role, Settlement,
    Spender, U256, sign_registration,
};
use pinpoint_net::{Identity, NetConfig, NetError, QuicNode};
use pinpoint_protocol::dispute::Deadlines;
use pinpoint_protocol::id::NodeId;
use pinpoint_train::JobSpec;
use ractor::ActorRef;

use crate::conduct::{
    Cheat, ConductArgs, ConductMsg, ConductStatus, Me, OBSERVER_CAPACITY, Observed, SharedChain,
};
use crate::config::{ConfigError, NodeConfig};
use crate::node::{Node, StartError};
use crate::store::{RefKey, StoreError};

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
    /// Its conductor.
    pub conductor: ActorRef<ConductMsg>,
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
        ractor::call!(self.conductor, ConductMsg::Status)
            .map_err(|e| DevnetError::Actor(e.to_string()))
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

/// A running devnet.
#[derive(Debug)]
pub struct Devnet {
    /// The shared chain.
    pub chain: SharedChain<Embedded>,
    /// Its chain id.
    pub chain_id: u64,
    /// The nodes: the submitter first, then trainers, verifiers, arbiters.
    pub nodes: Vec<LocalNode>,
    events: Observations,
    clock: tokio::task::JoinHandle<()>,
}

impl Drop for Devnet {
    fn drop(&mut self) {
        self.clock.abort();
    }
}

/// Stake per role (arbiters need 1 000 PIN, the others 100).
fn stake_for(role: Role) -> U256 {
    U256::from(if role == Role::Arbiter { 1_000 } else { 200 } * PIN)
}

impl Devnet {
    /// Deploys the chain and starts every node of `plan`.
    ///
    /// Errors: an invalid plan, or a node that cannot start.
    pub async fn start(plan: &Plan) -> Result<Self, DevnetError> {
        if plan.trainers == 0 || plan.arbiters < plan.committee as usize {
            return Err(DevnetError::Invalid(format!(
                "a devnet needs at least one trainer and as many arbiters as the committee ({}): got {} and {}",
                plan.committee, plan.trainers, plan.arbiters
            )));
        }
        let deploy = DeployConfig {
            committee_size: plan.committee,
            dispute_timeout: 3_600,
            ..DeployConfig::default()
        };
        let chain: SharedChain<Embedded> = SharedChain::new(Embedded::in_memory(&deploy)?);
        let chain_id = pinpoint_chain::chain_id(&*chain.lock().await).await?;
        let mut net = Self {
            chain,
            chain_id,
            nodes: Vec::new(),
            events: tokio::sync::broadcast::channel(OBSERVER_CAPACITY).0,
            clock: tokio::spawn(async {}),
        };
        net.add(plan, "submitter".into(), None, None, Vec::new())
            .await?;
        let boot = vec![(net.nodes[0].node, net.nodes[0].addr)];
        let roles = [
            (Role::Trainer, plan.trainers),
            (Role::Verifier, plan.verifiers),
            (Role::Arbiter, plan.arbiters),
        ];
        for (role, n) in roles {
            for i in 1..=n {
                let cheat = if role == Role::Trainer && i == plan.cheater {
                    plan.cheat
                } else {
                    None
                };
                let name = format!("{}-{i}", role_name(role));
                net.add(plan, name, Some(role), cheat, boot.clone()).await?;
            }
        }
        let chain = net.chain.clone();
        let second = plan.chain_second;
        net.clock = tokio::spawn(async move {
            loop {
                tokio::time::sleep(second).await;
                let mut c = chain.lock().await;
                let t = c.time() + 1;
                if c.set_time(t).is_err() {
                    break;
                }
            }
        });
        Ok(net)
    }

    async fn send(&self, from: Address, call: Call) -> Result<(), DevnetError> {
        self.chain.lock().await.send(from, call).await?;
        Ok(())
    }

    async fn add(
        &mut self,
        plan: &Plan,
        name: String,
        role: Option<Role>,
        cheat: Option<Cheat>,
        bootstrap: Vec<(NodeId, SocketAddr)>,
    ) -> Result<(), DevnetError> {
        let index = u8::try_from(self.nodes.len() + 1)
            .map_err(|_| DevnetError::Invalid("at most 255 nodes".into()))?;
        let account = Address::with_last_byte(0x40u8.wrapping_add(index));
        let deployer = pinpoint_chain::deploy::DEFAULT_DEPLOYER;
        let funds = U256::from(10_000 * PIN);
        self.send(
            deployer,
            Call::Transfer {
                to: account,
                amount: funds,
            },
        )
        .await?;
        for spender in [Spender::Staking, Spender::Market] {
            self.send(
                account,
                Call::Approve {
                    spender,
                    amount: U256::MAX,
                },
            )
            .await?;
        }
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
        let args = ConductArgs {
            key: key.clone(),
            chain: self.chain.clone(),
            chain_id: self.chain_id,
            transport: quic.clone(),
            bootstrap,
            me,
            cheat,
            deadlines: plan.deadlines,
            tick: plan.tick,
            observer: Some(self.observe_node(self.nodes.len())),
        };
        let (conductor, assembly) = crate::conduct::start(&config, store, inbound, args).await?;
        self.nodes.push(LocalNode {
            name,
            role,
            account,
            node,
            addr,
            cheat,
            conductor,
            key,
            transport: quic,
            assembly,
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
        let now = self.chain.lock().await.time();
        let receipt = self
            .chain
            .lock()
            .await
            .send(sub.account, Call::PostJob(terms.params(spec_hash, now)))
            .await?;
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
