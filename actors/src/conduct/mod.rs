//! The conductor: one actor per node that carries out what its role machines and the chain
//! ask for, and nothing else (DESIGN §3: no protocol decision here).
//!
//! - **Role shells.** It spawns one [`RoleShell`] per enabled role (trainer, verifier,
//!   arbiter, and the party role of every node that trains), linked to itself, each with the
//!   conductor as its effects actor.
//! - **Chain, only through the settlement actor.** On every [`ConductMsg::Tick`] it asks the
//!   settlement actor ([`SettlementMsg::Read`]) for the events since its cursor and the
//!   chain's clock and feeds them to the [`book::ChainBook`], whose [`book::Duty`]s become
//!   role inputs or transactions. Transactions go to the settlement actor
//!   ([`SettlementMsg::Submit`]), in order, one at a time, each under an idempotency key
//!   ([`tx_key`]) made of the call and the number of chain events the book had applied when
//!   it asked: a restarted conductor reads the chain again from block 0, asks for the same
//!   calls under the same keys, and the settlement actor sends none of them twice.
//! - **Supervision.** [`start`] puts the store, the executor, the network, the settlement
//!   actor and the conductor under one [`NodeSupervisor`](crate::supervisor::NodeSupervisor)
//!   (one-for-one, with the node's restart intensity). The role shells are the conductor's
//!   linked children: a shell that fails fails the conductor (its error names the shell), and
//!   the supervisor restarts the conductor with fresh shells, which rebuild their state from
//!   the chain's events. Other actors reach the conductor's current incarnation through a
//!   [`ChildRef`] or a [`Sink`](crate::supervisor::Sink).
//! - **Peers.** Authenticated messages arrive from the network actor for the job ids and
//!   dispute scopes the conductor registered; they become role inputs. Role sends are signed
//!   with the node's key (sequence numbers above every earlier one, even across a restart)
//!   and sent over the transport, off the actor's loop.
//! - **Compute.** Training goes to the executor (one job at a time, checkpoints, resume);
//!   the record of a disputed step and a verifier's re-run of a sampled step run on tokio's
//!   blocking pool, never on the async workers.
//!
//! Job ids: the chain numbers jobs; the protocol names job `n` of market `m` on chain `c`
//! [`job_key`]`(c, m, n)`. A job's spec travels as a blob: the chain's `specHash` is the
//! blake3 hash of the spec's canonical encoding, fetched from peers and checked on arrival.

pub mod book;
mod compute;
mod msg;
pub mod observe;
mod peer;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use pinpoint_chain::{Address, B256, Call, Settlement};
use pinpoint_net::{QuicNode, Transport};
use pinpoint_protocol::dispute::{Deadlines, JobReexec, Party};
use pinpoint_protocol::id::{JobId, NodeId, NodeKey};
use pinpoint_protocol::role::arbiter::{ArbiterInput, ArbiterRole, Assignment, dispute_scope};
use pinpoint_protocol::role::party::{PartyInput, PartyRole};
use pinpoint_protocol::role::trainer::{TrainerInput, TrainerRole};
use pinpoint_protocol::role::verifier::{CommitsClosed, VerifierInput, VerifierRole};
use pinpoint_protocol::verify::DEFAULT_OPENING_TIMEOUT_MS;
use pinpoint_protocol::wire::{JobCommit, Message};
use pinpoint_train::JobSpec;
use ractor::SupervisionEvent;
use ractor::{Actor, ActorProcessingErr, ActorRef};

use crate::executor::ExecutorMsg;
use crate::network::NetworkMsg;
use crate::role::{RoleArgs, RoleMsg, RoleShell};
use crate::settlement::{SettlementArgs, SettlementError, SettlementMsg};
use crate::supervisor::{ChildRef, ChildSpec, child_slot};

pub use book::{ChainBook, Duty, JobState, Me};
pub use compute::{BadCheat, Cheat};
pub use msg::ConductMsg;
pub use observe::{OBSERVER_CAPACITY, Observed, Probe, Settled};

/// The chain, shared by the nodes of one process (each sends as its own account).
pub type SharedChain<S> = crate::settlement::ChainHandle<S>;

/// blake3 `derive_key` context of [`job_key`].
pub const JOB_KEY_CONTEXT: &str = "pinpoint 2026 chain job v1";

/// The protocol's id of chain job `job` of the market at `market` on chain `chain_id`.
pub fn job_key(chain_id: u64, market: Address, job: u64) -> JobId {
    let mut h = blake3::Hasher::new_derive_key(JOB_KEY_CONTEXT);
    h.update(&chain_id.to_le_bytes());
    h.update(market.as_slice());
    h.update(&job.to_le_bytes());
    *h.finalize().as_bytes()
}

/// What a conductor is made of, besides the node's other actors (given by [`start`]).
#[derive(Clone)]
pub struct ConductSetup {
    /// The node's signing key.
    pub key: NodeKey,
    /// The job market's address (for [`job_key`]).
    pub market: Address,
    /// The chain id (for [`job_key`]).
    pub chain_id: u64,
    /// The transport (sends; its peer book is filled from the registry and `bootstrap`).
    pub transport: QuicNode,
    /// Peers known without the chain (e.g. a job's submitter).
    pub bootstrap: Vec<(NodeId, SocketAddr)>,
    /// This node for the chain book (account, roles, job policy).
    pub me: Me,
    /// The trainer cheats (adversary tests and the devnet only).
    pub cheat: Option<Cheat>,
    /// Deadlines the arbiter gives parties.
    pub deadlines: Deadlines,
    /// Interval between chain reads.
    pub tick: Duration,
    /// Where progress goes (`None`: nowhere).
    pub observer: Option<tokio::sync::broadcast::Sender<Observed>>,
}

/// Spawn input of the [`Conductor`] (again on every restart): its setup and the node's other
/// actors.
#[derive(Clone)]
pub struct ConductArgs {
    /// Keys, chain ids, transport, policy.
    pub setup: ConductSetup,
    /// The node's settlement actor: the conductor's only way to the chain.
    pub settlement: ChildRef<SettlementMsg>,
    /// The executor.
    pub executor: ChildRef<ExecutorMsg>,
    /// The network actor.
    pub network: ChildRef<NetworkMsg>,
    /// The node's store (checkpoints for replays).
    pub store: crate::store::SharedStore,
}

impl std::fmt::Debug for ConductSetup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConductSetup")
            .field("node", &self.key.node_id())
            .field("me", &self.me)
            .field("cheat", &self.cheat)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for ConductArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConductArgs")
            .field("setup", &self.setup)
            .finish_non_exhaustive()
    }
}

/// What the conductor has done (for tests, the status endpoint and the devnet's summary).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConductStatus {
    /// Transactions sent and included.
    pub tx_ok: u64,
    /// Transactions that failed (reverted or not sent).
    pub tx_failed: u64,
    /// Jobs this node trained to the end.
    pub trained: u64,
    /// Verdicts this node posted as an arbiter.
    pub verdicts: u64,
    /// Messages sent to peers.
    pub sent: u64,
    /// Their encoded bytes (the frames' bodies plus version and kind).
    pub bytes_sent: u64,
    /// Sends that failed.
    pub send_failed: u64,
    /// Peer messages the conductor could not place (unknown scope, wrong sender).
    pub unplaced: u64,
    /// The chain's jobs and their states.
    pub jobs: Vec<(u64, JobState)>,
}

/// What a node knows, at one moment (for the node's HTTP API and dashboard).
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// The node's id.
    pub node: NodeId,
    /// Its account and roles.
    pub me: Me,
    /// Its counters.
    pub status: ConductStatus,
    /// The chain's jobs, as this node's book holds them.
    pub jobs: BTreeMap<u64, book::JobEntry>,
    /// The chain's disputes.
    pub disputes: BTreeMap<u64, book::DisputeEntry>,
    /// The verified registry: account → `NodeId`.
    pub registry: BTreeMap<Address, NodeId>,
    /// Peers the transport can address now.
    pub peers: Vec<NodeId>,
    /// The chain's clock at the last tick (seconds).
    pub chain_time: u64,
}

/// The conductor actor.
#[derive(Debug, Clone, Copy, Default)]
pub struct Conductor;

/// What a scope (an envelope job id) is to this node.
#[derive(Debug, Clone, Copy)]
enum Scope {
    /// A job (openings between trainer and verifier).
    Job,
    /// A dispute this node referees or is a party of.
    Dispute { dispute: u64, job: u64 },
}

/// The run this node committed for a job.
#[derive(Debug, Clone)]
enum Run {
    /// Trained honestly: the state hashes (a step record is recomputed from the spec).
    Honest(Vec<[u8; 32]>),
    /// A cheater's corrupted run (adversary only).
    Cheat(Vec<[u8; 32]>),
}

impl Run {
    fn hashes(&self) -> &[[u8; 32]] {
        match self {
            Run::Honest(h) | Run::Cheat(h) => h,
        }
    }
}

type Trainer = ActorRef<RoleMsg<TrainerInput>>;
type Arbiter = ActorRef<RoleMsg<ArbiterInput<JobReexec>>>;
type Parties = ActorRef<RoleMsg<PartyInput<Party>>>;
type Verifier = ActorRef<RoleMsg<VerifierInput>>;

/// The conductor's state.
pub struct ConductState {
    key: NodeKey,
    node: NodeId,
    settlement: ChildRef<SettlementMsg>,
    store: crate::store::SharedStore,
    chain_id: u64,
    market: Address,
    transport: QuicNode,
    bootstrap: Vec<NodeId>,
    cheat: Option<Cheat>,
    book: ChainBook,
    cursor: u64,
    executor: ChildRef<ExecutorMsg>,
    network: ChildRef<NetworkMsg>,
    trainer: Option<Trainer>,
    arbiter: Option<Arbiter>,
    parties: Option<Parties>,
    verifier: Option<Verifier>,
    /// Jobs the verifier role asked this node to run itself (executor results for them go
    /// to the verifier, not the trainer).
    own_runs: std::collections::BTreeSet<JobId>,
    /// The roots this node challenged with, by chain job id (sent to the committee).
    challenges: BTreeMap<u64, [u8; 32]>,
    /// Specs by chain job id, once fetched.
    specs: BTreeMap<u64, JobSpec>,
    /// Chain job id of each protocol job id.
    chain_jobs: BTreeMap<JobId, u64>,
    /// Jobs to run on the executor once it is free (it runs one at a time).
    waiting: std::collections::VecDeque<JobId>,
    /// Commits of runs that ended before the chain job was known (a restart): sent by
    /// `release_commits` once a tick has read it.
    held_commits: Vec<(JobId, [u8; 32])>,
    scopes: BTreeMap<JobId, Scope>,
    runs: BTreeMap<JobId, Run>,
    /// Parties opened, by (scope, referee).
    opened: std::collections::BTreeSet<(JobId, NodeId)>,
    last_seq: u64,
    status: ConductStatus,
    observer: Option<tokio::sync::broadcast::Sender<Observed>>,
}

impl std::fmt::Debug for ConductState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConductState")
            .field("node", &self.node)
            .field("cursor", &self.cursor)
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

async fn spawn_shell<M>(
    machine: M,
    role: &'static str,
    node: &NodeId,
    myself: &ActorRef<ConductMsg>,
) -> Result<ActorRef<RoleMsg<M::Input>>, ActorProcessingErr>
where
    M: pinpoint_protocol::role::Machine + Send + 'static,
    M::Input: Send + 'static,
    M::Action: Send + 'static,
    ConductMsg: From<M::Action>,
    M::Action: TryFrom<ConductMsg>,
{
    let args = RoleArgs {
        machine,
        effects: myself.get_derived(),
        role,
        node: node.to_string(),
    };
    let (shell, _) =
        Actor::spawn_linked(None, RoleShell::default(), args, myself.get_cell()).await?;
    Ok(shell)
}

impl ConductState {
    /// Reports `what` to the observer, if any (a full channel drops its oldest event).
    fn observe(&self, what: Observed) {
        if let Some(o) = &self.observer {
            let _ = o.send(what);
        }
    }

    fn job_id(&mut self, job: u64) -> JobId {
        let key = job_key(self.chain_id, self.market, job);
        self.chain_jobs.insert(key, job);
        key
    }

    async fn register(&mut self, scope: JobId, what: Scope, myself: &ActorRef<ConductMsg>) {
        self.scopes.insert(scope, what);
        if let Some(net) = self.network.get() {
            let _ = net.send_message(NetworkMsg::Register(scope, myself.get_derived()));
        }
    }

    /// Has the settlement actor send `call` as this node's account (under [`tx_key`]) and
    /// returns whether it is on the chain (now, or already by an earlier incarnation).
    async fn transact(&mut self, call: Call) -> bool {
        let what = format!("{call:?}");
        let key = tx_key(&what, self.book.events_applied());
        let r = match self.settlement.get() {
            Some(s) => ractor::call!(s, |reply| SettlementMsg::Submit {
                key,
                call,
                reply: Some(reply),
            })
            .map_err(|e| e.to_string())
            .and_then(|r| r.map(|_| ()).or_else(already_done)),
            None => Err("the settlement actor is not running".to_string()),
        };
        let ok = match r {
            Ok(()) => {
                self.status.tx_ok += 1;
                tracing::debug!(call = %what, "transaction included");
                true
            }
            Err(e) => {
                self.status.tx_failed += 1;
                tracing::debug!(call = %what, error = %e, "transaction failed");
                false
            }
        };
        self.observe(Observed::Tx { call: what, ok });
        ok
    }

    async fn run_duties(&mut self, myself: &ActorRef<ConductMsg>) {
        while let Some(d) = self.book.poll_duty() {
            match d {
                Duty::Chain(call) => {
                    self.transact(call).await;
                }
                Duty::FetchSpec { job, spec_hash } => self.fetch_spec(job, spec_hash, myself),
                Duty::Train { job } => {
                    let key = self.job_id(job);
                    self.register(key, Scope::Job, myself).await;
                    if let Some(t) = &self.trainer {
                        let _ = t.send_message(RoleMsg::Input(TrainerInput::Assigned { job: key }));
                    }
                }
                Duty::Referee {
                    dispute,
                    job,
                    challenger,
                    defendant,
                } => {
                    self.referee(dispute, job, challenger, defendant, myself)
                        .await
                }
                Duty::Party { dispute, job } => {
                    let key = self.job_id(job);
                    let scope = dispute_scope(&key, dispute);
                    self.register(scope, Scope::Dispute { dispute, job }, myself)
                        .await;
                    self.send_challenge_root(dispute, job);
                }
                Duty::Verify { job } => self.verify(job, myself).await,
                Duty::Committee { job, .. } => {
                    let key = self.job_id(job);
                    self.register(key, Scope::Job, myself).await;
                }
                Duty::Closed {
                    dispute,
                    job,
                    referees,
                } => {
                    let scope = dispute_scope(&self.job_id(job), dispute);
                    if let Some(p) = &self.parties {
                        for referee in referees {
                            let _ = p.send_message(RoleMsg::Input(PartyInput::Closed {
                                job: scope,
                                referee,
                            }));
                        }
                    }
                }
                Duty::Decided { dispute } => {
                    if let Some(a) = &self.arbiter {
                        let _ = a.send_message(RoleMsg::Input(ArbiterInput::Decided { dispute }));
                    }
                }
                Duty::RefreshRegistry => self.refresh_registry(myself),
            }
        }
    }

    /// A verifier that challenged: its root goes, signed, to every member of the committee
    /// (the chain has no field for it).
    fn send_challenge_root(&mut self, dispute: u64, job: u64) {
        let Some(root) = self.challenges.get(&job).copied() else {
            return;
        };
        let Some(x) = self.book.dispute(dispute).cloned() else {
            return;
        };
        let key = self.job_id(job);
        let Some(run) = self.runs.get(&key) else {
            return;
        };
        let hashes = run.hashes();
        let commit = JobCommit {
            job: key,
            trainer: self.node,
            root,
            steps: hashes.len().saturating_sub(1) as u64,
            final_state_hash: hashes.last().copied().unwrap_or_default(),
        };
        let members: Vec<NodeId> = x
            .committee
            .iter()
            .filter_map(|a| self.book.node_of(a))
            .collect();
        for member in members {
            self.send(member, key, 0, Message::JobCommit(commit.clone()));
        }
    }

    /// The seed of `job` is fixed: the verifier role checks every live root.
    async fn verify(&mut self, job: u64, myself: &ActorRef<ConductMsg>) {
        let (Some(v), Some(j)) = (self.verifier.clone(), self.book.job(job).cloned()) else {
            return;
        };
        let (Some(seed), Some(steps)) = (j.seed, j.steps) else {
            return;
        };
        let roots = j
            .live_roots()
            .into_iter()
            .filter_map(|(a, r)| Some((self.book.node_of(&a)?, r.0)))
            .collect();
        let key = self.job_id(job);
        self.register(key, Scope::Job, myself).await;
        let closed = CommitsClosed {
            job: key,
            steps,
            samples: self.book.me().samples,
            seed: seed.0,
            roots,
        };
        let _ = v.send_message(RoleMsg::Input(VerifierInput::CommitsClosed(closed)));
    }

    async fn referee(
        &mut self,
        dispute: u64,
        job: u64,
        challenger: (NodeId, B256),
        defendant: (NodeId, B256),
        myself: &ActorRef<ConductMsg>,
    ) {
        let Some(arbiter) = self.arbiter.clone() else {
            return;
        };
        let Some(spec) = self.specs.get(&job).cloned() else {
            tracing::warn!(
                dispute,
                job,
                "assigned a dispute of a job whose spec is missing"
            );
            return;
        };
        let reexec = match JobReexec::new(&spec, None) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(dispute, error = %e, "cannot re-execute the job's spec");
                return;
            }
        };
        let key = self.job_id(job);
        let steps = spec.steps;
        self.register(
            dispute_scope(&key, dispute),
            Scope::Dispute { dispute, job },
            myself,
        )
        .await;
        self.observe(Observed::Refereeing {
            dispute,
            job,
            challenger: challenger.0,
            defendant: defendant.0,
        });
        let a = Assignment {
            dispute,
            job: key,
            challenger: (challenger.0, challenger.1.0),
            defendant: (defendant.0, defendant.1.0),
            steps,
            reexec,
        };
        let _ = arbiter.send_message(RoleMsg::Input(ArbiterInput::Assigned(a)));
    }

    fn fetch_spec(&self, job: u64, spec_hash: B256, myself: &ActorRef<ConductMsg>) {
        // A job this node posted itself: its spec is in its own store.
        let own = self
            .store
            .lock()
            .and_then(|mut st| st.get_blob(&pinpoint_train::Digest(spec_hash.0)));
        if let Ok(Some(bytes)) = own {
            let spec = JobSpec::decode(&bytes).map_err(|e| e.to_string());
            let _ = myself.send_message(ConductMsg::SpecFetched { job, spec });
            return;
        }
        let mut peers = self.bootstrap.clone();
        peers.extend(self.transport.peers());
        peers.dedup();
        let transport = self.transport.clone();
        let me = myself.clone();
        tokio::spawn(async move {
            let spec = compute::fetch_spec(&transport, &peers, spec_hash.0).await;
            let _ = me.send_message(ConductMsg::SpecFetched { job, spec });
        });
    }

    fn refresh_registry(&self, myself: &ActorRef<ConductMsg>) {
        let Some(settlement) = self.settlement.get() else {
            tracing::warn!("reading the node registry: the settlement actor is not running");
            return;
        };
        let me = myself.clone();
        tokio::spawn(async move {
            match ractor::call!(settlement, SettlementMsg::Registry) {
                Ok(Ok(n)) => {
                    let _ = me.send_message(ConductMsg::Registry(n));
                }
                Ok(Err(e)) => tracing::warn!(error = %e, "reading the node registry"),
                Err(e) => tracing::warn!(error = %e, "the settlement actor is unreachable"),
            }
        });
    }

    async fn tick(&mut self, myself: &ActorRef<ConductMsg>) {
        let read = match self.settlement.get() {
            Some(s) => {
                let from = self.cursor;
                ractor::call!(s, |reply| SettlementMsg::Read { from, reply })
                    .map_err(|e| e.to_string())
                    .and_then(|r| r.map_err(|e| e.to_string()))
            }
            None => Err("the settlement actor is not running".to_string()),
        };
        match read {
            Ok(crate::settlement::ChainRead { events, now }) => {
                for e in &events {
                    self.cursor = self.cursor.max(e.block + 1);
                    self.book.on_event(e);
                    self.run_duties(myself).await;
                }
                self.book.tick(now);
                self.run_duties(myself).await;
                if !self.held_commits.is_empty() {
                    self.release_commits().await;
                }
            }
            Err(e) => tracing::warn!(error = %e, "reading the chain"),
        }
        self.status.jobs = self
            .book
            .jobs()
            .iter()
            .map(|(id, j)| (*id, j.state))
            .collect();
    }

    /// Sends the held commits whose chain job the book now knows (see `held_commits`).
    async fn release_commits(&mut self) {
        let known: Vec<u64> = self.book.jobs().keys().copied().collect();
        for n in known {
            self.job_id(n);
        }
        for (job, root) in std::mem::take(&mut self.held_commits) {
            match self.chain_jobs.get(&job).copied() {
                Some(n) => {
                    let root = B256::from(root);
                    self.transact(Call::Commit { job: n, root }).await;
                }
                None => self.held_commits.push((job, root)),
            }
        }
    }

    /// Starts training `job` (a trainer action): the executor, or the cheater's corrupted run.
    async fn train(&mut self, job: JobId, myself: &ActorRef<ConductMsg>) {
        self.run_job(job, self.cheat, myself).await;
    }

    /// Runs `job` to the end: on the executor, or (with `cheat`) the cheater's corrupted run.
    async fn run_job(&mut self, job: JobId, cheat: Option<Cheat>, myself: &ActorRef<ConductMsg>) {
        let Some(spec) = self
            .chain_jobs
            .get(&job)
            .and_then(|n| self.specs.get(n))
            .cloned()
        else {
            tracing::warn!("asked to train a job without its spec");
            return;
        };
        if let Some(cheat) = cheat {
            let me = myself.clone();
            tokio::task::spawn_blocking(move || {
                let hashes = compute::cheat_hashes(&spec, cheat);
                let _ = me.send_message(ConductMsg::CheatRun { job, hashes });
            });
            return;
        }
        let Some(exec) = self.executor.get() else {
            tracing::warn!("no executor to train on");
            return;
        };
        let req = crate::executor::ComputeRequest::Train(crate::executor::TrainJob {
            job,
            spec,
            text: None,
        });
        match ractor::call!(exec, ExecutorMsg::Submit, req) {
            Ok(Ok(())) => {}
            Ok(Err(crate::executor::ExecError::Busy { .. })) => {
                // One job at a time: this one starts when the executor reports the current
                // one ended (`ExecEvent::Done`, `Failed` or `Cancelled`).
                if !self.waiting.contains(&job) {
                    tracing::info!("the executor is busy: the job waits for it");
                    self.waiting.push_back(job);
                }
            }
            Ok(Err(e)) => tracing::warn!(error = %e, "the executor refused the job"),
            Err(e) => tracing::warn!(error = %e, "the executor is unreachable"),
        }
    }

    fn trained(&mut self, job: JobId, run: Run) {
        self.status.trained += 1;
        if let (Some(&n), Ok(c)) = (
            self.chain_jobs.get(&job),
            pinpoint_protocol::merkle::StepCommitment::new(run.hashes()),
        ) {
            self.observe(Observed::Trained {
                job: n,
                root: c.root(),
            });
        }
        let state_hashes = run.hashes().to_vec();
        self.runs.insert(job, run);
        // A restarted node re-runs a job whose root it committed already.
        let me = self.book.me().account;
        let committed = self
            .chain_jobs
            .get(&job)
            .and_then(|n| self.book.job(*n))
            .is_some_and(|j| j.roots.contains_key(&me));
        if let Some(t) = &self.trainer {
            let _ = t.send_message(RoleMsg::Input(TrainerInput::Trained {
                job,
                state_hashes,
                committed,
            }));
        }
    }
}

/// A node driven by a conductor, as [`start`] returns it.
#[derive(Debug)]
pub struct Running {
    /// The node assembly (supervisor, store, executor, network).
    pub node: crate::node::Node,
    /// The conductor's current incarnation.
    pub conductor: ChildRef<ConductMsg>,
    /// The settlement actor's current incarnation.
    pub settlement: ChildRef<SettlementMsg>,
}

/// Starts a node driven by a conductor, under one supervisor: the store, the executor
/// (reporting to the conductor), the network (fed from the transport's `inbound` queue), the
/// settlement actor with `settlement`, then the conductor (with its role shells) with
/// `setup`. A child that fails is restarted alone, within the config's restart intensity.
///
/// Errors: an actor that cannot start, or the store.
pub async fn start<S: Settlement + 'static>(
    config: &crate::config::NodeConfig,
    store: crate::store::SharedStore,
    inbound: tokio::sync::mpsc::Receiver<pinpoint_net::Inbound>,
    settlement: SettlementArgs<S>,
    setup: ConductSetup,
) -> Result<Running, crate::node::StartError> {
    let (conductor_slot, conductor) = child_slot::<ConductMsg>();
    let (settlement_slot, settlement_ref) = child_slot::<SettlementMsg>();
    let deps = crate::node::NodeDeps {
        executor_events: conductor.sink(),
        fault: None,
        inbound: Some(inbound),
        store: Some(store.clone()),
    };
    let settlement_ref2 = settlement_ref.clone();
    let node = crate::node::Node::spawn_with(config, deps, move |executor, network| {
        let settle = ChildSpec::in_slot(crate::node::SETTLEMENT, settlement_slot, move || {
            (
                crate::settlement::SettlementActor::<S>::new(),
                settlement.clone(),
            )
        });
        let args = ConductArgs {
            setup,
            settlement: settlement_ref2,
            executor: executor.clone(),
            network: network.clone(),
            store,
        };
        let conduct = ChildSpec::in_slot(crate::node::CONDUCTOR, conductor_slot, move || {
            (Conductor, args.clone())
        });
        vec![settle, conduct]
    })
    .await?;
    Ok(Running {
        node,
        conductor,
        settlement: settlement_ref,
    })
}

/// The idempotency key of a conductor transaction: the call (its debug form, hashed) and the
/// number of chain events the book had applied when it was asked for. A restarted conductor
/// that replays the chain asks for the same call at the same count, so the settlement actor
/// answers [`SettlementError::AlreadyDone`] instead of sending it again; a call asked for
/// again after a new event (a retry past a deadline, a second `disputeNext`) gets a new key.
pub fn tx_key(call: &str, events_applied: u64) -> String {
    let h = blake3::hash(call.as_bytes());
    let name = call.split(['(', ' ', '{']).next().unwrap_or("call");
    format!("{name}/{events_applied}/{}", &h.to_hex()[..32])
}

/// A transaction an earlier incarnation already sent counts as sent.
fn already_done(e: SettlementError) -> Result<(), String> {
    match e {
        SettlementError::AlreadyDone { .. } => Ok(()),
        other => Err(other.to_string()),
    }
}

/// The first sequence number of this incarnation: above every one an earlier incarnation
/// used (wall-clock milliseconds · 2¹⁶; a node signs far fewer than 65 536 messages a
/// millisecond), so a restarted node's messages are never refused as replays.
pub(crate) fn first_seq() -> u64 {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX >> 16))
        .unwrap_or(0);
    ms.saturating_mul(1 << 16)
}

impl Actor for Conductor {
    type Msg = ConductMsg;
    type State = ConductState;
    type Arguments = ConductArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<ConductMsg>,
        args: ConductArgs,
    ) -> Result<ConductState, ActorProcessingErr> {
        let ConductArgs {
            setup: args,
            settlement,
            executor,
            network,
            store,
        } = args;
        let node = args.key.node_id();
        if let Some(c) = args.cheat {
            tracing::warn!(node = %node, cheat = ?c, "THIS NODE CHEATS (adversary config)");
        }
        for (id, addr) in &args.bootstrap {
            args.transport.book().insert(*id, *addr);
        }
        let trainer = if args.me.trainer {
            Some(spawn_shell(TrainerRole::new(), "trainer", &node, &myself).await?)
        } else {
            None
        };
        let verifier = if args.me.verifier {
            let role = VerifierRole::new(node, DEFAULT_OPENING_TIMEOUT_MS);
            Some(spawn_shell(role, "verifier", &node, &myself).await?)
        } else {
            None
        };
        let parties = if args.me.trainer || args.me.verifier {
            Some(spawn_shell(PartyRole::<Party>::default(), "party", &node, &myself).await?)
        } else {
            None
        };
        let arbiter = if args.me.arbiter {
            let role = ArbiterRole::<JobReexec>::new(args.deadlines);
            Some(spawn_shell(role, "arbiter", &node, &myself).await?)
        } else {
            None
        };
        myself.send_interval(args.tick, || ConductMsg::Tick);
        let state = ConductState {
            node,
            key: args.key,
            settlement,
            store,
            chain_id: args.chain_id,
            market: args.market,
            transport: args.transport,
            bootstrap: args.bootstrap.iter().map(|(id, _)| *id).collect(),
            cheat: args.cheat,
            book: ChainBook::new(args.me),
            cursor: 0,
            executor,
            network,
            trainer,
            arbiter,
            parties,
            verifier,
            own_runs: std::collections::BTreeSet::new(),
            challenges: BTreeMap::new(),
            specs: BTreeMap::new(),
            chain_jobs: BTreeMap::new(),
            held_commits: Vec::new(),
            waiting: std::collections::VecDeque::new(),
            scopes: BTreeMap::new(),
            runs: BTreeMap::new(),
            opened: std::collections::BTreeSet::new(),
            last_seq: first_seq(),
            status: ConductStatus::default(),
            observer: args.observer,
        };
        state.refresh_registry(&myself);
        Ok(state)
    }

    async fn post_stop(
        &self,
        myself: ActorRef<ConductMsg>,
        _state: &mut ConductState,
    ) -> Result<(), ActorProcessingErr> {
        // The shells belong to this incarnation; the next one spawns its own.
        myself.stop_children(None);
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        _myself: ActorRef<ConductMsg>,
        event: SupervisionEvent,
        _state: &mut ConductState,
    ) -> Result<(), ActorProcessingErr> {
        let why = match event {
            SupervisionEvent::ActorFailed(cell, err) => format!(
                "role shell {} failed: {err}",
                cell.get_name().unwrap_or_else(|| cell.get_id().to_string())
            ),
            SupervisionEvent::ActorTerminated(cell, _, reason) => format!(
                "role shell {} stopped ({})",
                cell.get_name().unwrap_or_else(|| cell.get_id().to_string()),
                reason.unwrap_or_else(|| "no reason".into())
            ),
            _ => return Ok(()),
        };
        // The conductor fails with its shell: the supervisor restarts both.
        Err(why.into())
    }

    async fn handle(
        &self,
        myself: ActorRef<ConductMsg>,
        msg: ConductMsg,
        state: &mut ConductState,
    ) -> Result<(), ActorProcessingErr> {
        let span = tracing::info_span!("conductor", node = %state.node);
        let _entered = span.enter();
        match msg {
            ConductMsg::Tick => state.tick(&myself).await,
            ConductMsg::Registry(nodes) => {
                let mut map = BTreeMap::new();
                for n in nodes {
                    if let Ok(addr) = n.endpoint.parse::<SocketAddr>()
                        && n.node_id != state.node
                    {
                        state.transport.book().insert(n.node_id, addr);
                    }
                    map.insert(n.account, n.node_id);
                }
                state.book.set_registry(map);
            }
            ConductMsg::SpecFetched { job, spec } => match spec {
                Ok(_) if state.specs.contains_key(&job) => {}
                Ok(spec) => {
                    let steps = spec.steps;
                    state.observe(Observed::SpecFetched { job, steps });
                    state.specs.insert(job, spec);
                    state.book.spec_ready(job, steps);
                    state.run_duties(&myself).await;
                }
                Err(e) => tracing::warn!(job, error = %e, "fetching the job's spec"),
            },
            ConductMsg::Trainer(a) => peer::trainer_action(state, a, &myself).await,
            ConductMsg::Arbiter(a) => peer::arbiter_action(state, a).await,
            ConductMsg::Party(a) => peer::party_action(state, a, &myself),
            ConductMsg::Verifier(a) => peer::verifier_action(state, a, &myself).await,
            ConductMsg::Recomputed {
                job,
                trainer,
                step,
                result,
            } => {
                if let Some(v) = &state.verifier {
                    let _ = v.send_message(RoleMsg::Input(VerifierInput::Recomputed {
                        job,
                        trainer,
                        step,
                        result,
                    }));
                }
            }
            ConductMsg::Peer(routed) => {
                peer::inbound(state, routed);
                // A verifier's root may have started a refereeing.
                state.run_duties(&myself).await;
            }
            ConductMsg::Exec(e) => {
                if let crate::executor::ExecEvent::Progress {
                    job,
                    step,
                    total_steps,
                    ..
                } = &e
                    && let Some(&n) = state.chain_jobs.get(job)
                {
                    state.observe(Observed::Step {
                        job: n,
                        step: *step,
                        total: *total_steps,
                    });
                }
                let ended = matches!(
                    e,
                    crate::executor::ExecEvent::Done(_)
                        | crate::executor::ExecEvent::Failed { .. }
                        | crate::executor::ExecEvent::Cancelled { .. }
                );
                if ended && let Some(next) = state.waiting.pop_front() {
                    // Only honest runs go to the executor (a cheater's run never waits).
                    state.run_job(next, None, &myself).await;
                }
                if let crate::executor::ExecEvent::Done(crate::executor::ComputeOutput::Trained(
                    r,
                )) = e
                {
                    if state.own_runs.remove(&r.job) {
                        state.runs.insert(r.job, Run::Honest(r.state_hashes));
                        if let Some(v) = &state.verifier {
                            let own = VerifierInput::OwnRun {
                                job: r.job,
                                root: Some(r.root),
                            };
                            let _ = v.send_message(RoleMsg::Input(own));
                        }
                    } else {
                        state.trained(r.job, Run::Honest(r.state_hashes));
                    }
                }
            }
            ConductMsg::CheatRun { job, hashes } => match hashes {
                Ok(h) => state.trained(job, Run::Cheat(h)),
                Err(e) => tracing::warn!(error = %e, "the cheater's run failed"),
            },
            ConductMsg::StepRecorded {
                scope,
                referee,
                lo,
                record,
            } => {
                if let Some(p) = &state.parties {
                    let _ = p.send_message(RoleMsg::Input(PartyInput::StepRecorded {
                        job: scope,
                        referee,
                        lo,
                        record,
                    }));
                }
            }
            ConductMsg::Status(reply) => {
                let _ = reply.send(state.status.clone());
            }
            ConductMsg::Snapshot(reply) => {
                let snap = Snapshot {
                    node: state.node,
                    me: state.book.me().clone(),
                    status: state.status.clone(),
                    jobs: state.book.jobs().clone(),
                    disputes: state.book.disputes().clone(),
                    registry: state.book.registry().clone(),
                    peers: state.transport.peers(),
                    chain_time: state.book.now(),
                };
                let _ = reply.send(snap);
            }
        }
        Ok(())
    }
}
