//! One simulated run: the nodes, the chain's jobs, the network, the event queue and the
//! checkers. [`crate::run::run_seed`] builds a [`World`] and drives it to the end.
//!
//! - `events`: the event types and the queue (virtual time, deterministic tie-break).
//! - `net`: transmissions over links with latency, drop, duplicate, reorder and partitions.
//! - `chain`: the chain side: job state machines, the ledger, verdict votes, checkers.
//! - `trainer`, `verifier`, `referee`: the protocol's role machines ([`pinpoint_protocol::role`])
//!   of each node, driven here: inputs delivered, actions carried out over the simulated
//!   network and chain, compute requests answered from the run records.
//! - `faults`: the seeded fault schedule, crashes, restarts, pauses, the liveness heal.
//! - `onchain`: the embedded settlement back end's hooks and checkers ([`crate::onchain`]).

mod build;
mod chain;
mod events;
mod faults;
mod net;
mod onchain;
mod referee;
mod trainer;
mod verifier;

use std::collections::BTreeMap;
use std::sync::Arc;

use pinpoint_protocol::dispute::Deadlines;
use pinpoint_protocol::id::{JobId, NodeId};
use pinpoint_protocol::job::Job;
use pinpoint_protocol::role::Machine;
use pinpoint_protocol::role::adversary::FalseChallenger;
use pinpoint_protocol::role::adversary::{CheatingTrainer, TrainerCheat};
use pinpoint_protocol::role::arbiter::ArbiterRole;
use pinpoint_protocol::role::party::PartyRole;
use pinpoint_protocol::role::trainer::{TrainerAction, TrainerInput, TrainerRole};
use pinpoint_protocol::role::verifier::{VerifierAction, VerifierInput, VerifierRole};
use pinpoint_protocol::verify::Outcome as VerifyOutcome;
use pinpoint_protocol::wire::NodePhaseStart;

use crate::glue::dispute::{Deviation, DisputeParty, SpecReexec};
use crate::ledger::MemLedger;
use crate::records::{Committed, SpecRecords};
use crate::report::RunResult;
use crate::scenario::{Kind, Role, Scenario};

pub(crate) use events::{Ev, Msg};

/// Index of a node in [`World::nodes`].
pub(crate) type Ix = usize;

/// A simulated node.
#[derive(Debug)]
pub(crate) struct Node {
    pub id: NodeId,
    pub role: Role,
    /// `None`: honest.
    pub kind: Option<Kind>,
    /// Salt of the node's forged records (colluders and Sybils share one).
    pub salt: u64,
    /// `corrupt-fraction`: the fraction of transitions corrupted.
    pub fraction: f64,
    pub up: bool,
    /// Bumped at each crash: timers of an earlier epoch are void.
    pub epoch: u32,
    pub paused_until: Option<u64>,
    pub deferred: Vec<Ev>,
    /// The node's role machines (volatile: a crash replaces them with fresh ones).
    pub roles: Roles,
    /// When the node's arbiter machine is next polled (a scheduled `RefereePoll`).
    pub arbiter_poll: Option<u64>,
    /// When the node's trainer machine is next polled (a scheduled `TrainerTick`).
    pub trainer_poll: Option<u64>,
    /// The last sequence number of the node's signed dispute answers (volatile).
    pub last_seq: u64,
}

/// One node's role machines, as a node runs them.
#[derive(Debug)]
pub(crate) struct Roles {
    pub trainer: Box<dyn TrainerMachine>,
    pub verifier: Box<dyn VerifierMachine>,
    pub arbiter: ArbiterRole<SpecReexec>,
    pub party: PartyRole<DisputeParty>,
}

/// A trainer role machine: the honest one, or a cheating wrapper around it.
pub(crate) trait TrainerMachine:
    Machine<Input = TrainerInput, Action = TrainerAction> + std::fmt::Debug
{
}

impl<T: Machine<Input = TrainerInput, Action = TrainerAction> + std::fmt::Debug> TrainerMachine
    for T
{
}

/// The trainer role machine a node of `kind` runs (`stall_ms`: how long a staller holds an
/// opening).
pub(crate) fn trainer_machine(kind: Option<Kind>, stall_ms: u64) -> Box<dyn TrainerMachine> {
    let cheat = match kind {
        Some(Kind::Equivocate) => TrainerCheat::Equivocate,
        Some(Kind::Silent) => TrainerCheat::Withhold,
        Some(Kind::SlowOpenings) => TrainerCheat::Stall { hold_ms: stall_ms },
        _ => return Box::new(TrainerRole::new()),
    };
    Box::new(CheatingTrainer::new(TrainerRole::new(), cheat))
}

/// A verifier role machine: the honest one, or a cheating wrapper around it.
pub(crate) trait VerifierMachine:
    Machine<Input = VerifierInput, Action = VerifierAction> + std::fmt::Debug
{
    /// The steps sampled from `trainer`'s root of `job`, while that verification runs.
    fn sampled(&self, job: &JobId, trainer: &NodeId) -> Option<&[u64]>;
}

impl VerifierMachine for VerifierRole {
    fn sampled(&self, job: &JobId, trainer: &NodeId) -> Option<&[u64]> {
        self.samples(job, trainer)
    }
}

impl VerifierMachine for FalseChallenger {
    fn sampled(&self, _: &JobId, _: &NodeId) -> Option<&[u64]> {
        None
    }
}

/// The verifier role machine node `id` of `kind` runs.
pub(crate) fn verifier_machine(
    id: NodeId,
    kind: Option<Kind>,
    opening_ms: u64,
) -> Box<dyn VerifierMachine> {
    let honest = VerifierRole::new(id, opening_ms);
    match kind {
        Some(Kind::FalseChallenge) => Box::new(FalseChallenger::new(id, honest)),
        _ => Box::new(honest),
    }
}

impl Roles {
    pub(crate) fn new(
        id: NodeId,
        kind: Option<Kind>,
        opening_ms: u64,
        stall_ms: u64,
        deadlines: Deadlines,
    ) -> Self {
        Self {
            trainer: trainer_machine(kind, stall_ms),
            verifier: verifier_machine(id, kind, opening_ms),
            arbiter: ArbiterRole::new(deadlines),
            party: PartyRole::new(),
        }
    }
}

impl Node {
    pub(crate) fn honest(&self) -> bool {
        self.kind.is_none()
    }
}

/// A trainer's part in one job.
#[derive(Debug)]
pub(crate) struct Slot {
    pub node: Ix,
    pub rec: Arc<Committed>,
    /// How the trainer answers in a dispute (`Deviation::None`: honestly from `rec`).
    pub deviation: Deviation,
    /// Steps safely in the node's store (its last checkpoint).
    pub stored_steps: u64,
    pub started_at: u64,
    pub done: bool,
    /// The root the chain recorded.
    pub chain_root: Option<[u8; 32]>,
}

/// One job on the chain.
#[derive(Debug)]
pub(crate) struct JobRun {
    pub id: JobId,
    pub job: Option<Job>,
    pub slots: Vec<Slot>,
    pub posted_at: u64,
    pub samples: u64,
    pub sample_seed: [u8; 32],
    pub window_noted: bool,
    pub next_poll: Option<u64>,
    pub finalized_at: Option<u64>,
}

/// One dispute.
#[derive(Debug)]
pub(crate) struct DisputeRun {
    pub job: usize,
    /// Challenger side first.
    pub sides: [Side; 2],
    pub referee: Ix,
    pub committee: Vec<Ix>,
    pub started_at: u64,
    pub done: bool,
    /// How the referee settled it (for the embedded chain's finding).
    pub resolution: Option<pinpoint_protocol::wire::Resolution>,
}

/// One party of a dispute: its record, how it answers, and its stored node-phase start.
#[derive(Debug)]
pub(crate) struct Side {
    pub node: Ix,
    pub rec: Arc<Committed>,
    pub deviation: Deviation,
    pub stored_start: Option<NodePhaseStart>,
}

/// One verifier checking one trainer's root (the verifier role's machine does the checking;
/// this is the world's record of it, for restarts, reports and checkers).
#[derive(Debug)]
pub(crate) struct VerifRun {
    pub job: usize,
    pub verifier: Ix,
    pub slot: usize,
    pub outcome: Option<VerifyOutcome>,
    pub sampled_corrupt: bool,
}

/// A network partition: `side` is cut off from the rest (only outgoing when one-way).
#[derive(Debug, Clone)]
pub(crate) struct Partition {
    pub side: Vec<bool>,
    pub one_way: bool,
    pub active: bool,
}

/// The whole simulated system.
pub struct World {
    pub(crate) scn: Scenario,
    pub(crate) seed: u64,
    pub(crate) now: u64,
    seq: u64,
    queue: BTreeMap<(u64, u64), Ev>,
    pub(crate) rng_net: crate::rng::Rng,
    pub(crate) nodes: Vec<Node>,
    pub(crate) jobs: Vec<JobRun>,
    pub(crate) disputes: Vec<DisputeRun>,
    pub(crate) verifs: Vec<VerifRun>,
    pub(crate) partitions: Vec<Partition>,
    pub(crate) ledger: MemLedger,
    /// The embedded settlement chain (`settlement = "embedded"`).
    pub(crate) mirror: Option<crate::onchain::ChainMirror>,
    pub(crate) recs: Arc<SpecRecords>,
    trace: blake3::Hasher,
    pub(crate) out: RunResult,
    pub(crate) heal_at: Option<u64>,
    /// Challengers' records, by `(job, verifier)`.
    pub(crate) challenges: BTreeMap<(usize, Ix), Arc<Committed>>,
    /// Verifier nodes' own runs of a job (their executors' results), by `(job, verifier)`.
    pub(crate) own_runs: BTreeMap<(usize, Ix), Arc<Committed>>,
    /// `NodeId` → index.
    pub(crate) ix_of: BTreeMap<NodeId, Ix>,
    pub(crate) healed: bool,
    keep_trace: bool,
    /// One line per processed event, when asked for (`replay --trace`).
    pub(crate) log: Option<Vec<String>>,
}

impl std::fmt::Debug for World {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("World")
            .field("seed", &self.seed)
            .field("now", &self.now)
            .field("nodes", &self.nodes.len())
            .field("jobs", &self.jobs.len())
            .finish_non_exhaustive()
    }
}

impl World {
    /// Increments counter `name`.
    pub(crate) fn count(&mut self, name: &'static str) {
        *self.out.counters.entry(name.to_string()).or_default() += 1;
    }

    /// Records a checker violation.
    pub(crate) fn violation(&mut self, what: String) {
        self.out
            .violations
            .push(format!("t={} ms: {what}", self.now));
    }

    /// Marks the run as beyond the synchrony/trust assumption.
    pub(crate) fn beyond(&mut self, why: String) {
        if !self.out.assumption_breaks.contains(&why) {
            self.out.assumption_breaks.push(why);
        }
    }

    /// Schedules `ev` at `at` (never in the past).
    pub(crate) fn schedule(&mut self, at: u64, ev: Ev) {
        let at = at.max(self.now);
        self.seq += 1;
        self.queue.insert((at, self.seq), ev);
    }

    /// The node an event is addressed to (for crash and pause handling), if any.
    fn target(ev: &Ev) -> Option<Ix> {
        match ev {
            Ev::Deliver { to, .. } => Some(*to),
            Ev::TrainDone { node, .. }
            | Ev::VerifierTick { node, .. }
            | Ev::TrainerTick { node, .. } => Some(*node),
            Ev::Transmit { from, .. } => Some(*from),
            Ev::RefereeStart { referee, .. } | Ev::RefereePoll { referee, .. } => Some(*referee),
            Ev::WindowOpen { node, .. } => Some(*node),
            _ => None,
        }
    }

    /// Keeps a line per processed event (see [`World::run_logged`]).
    pub fn with_log(mut self) -> Self {
        self.log = Some(Vec::new());
        self
    }

    /// Runs to the end; returns the result and the event log (empty unless
    /// [`World::with_log`]).
    pub fn run_logged(mut self) -> (RunResult, Vec<String>) {
        let bound = self.scn.timing.liveness_bound_ms;
        self.run_loop(bound);
        let log = self.log.take().unwrap_or_default();
        (self.finish(), log)
    }

    /// Runs to the end and returns the result.
    pub fn run(self) -> RunResult {
        self.run_logged().0
    }

    fn run_loop(&mut self, bound: u64) {
        while let Some(((at, seq), ev)) = self.queue.pop_first() {
            if let Some(h) = self.heal_at
                && at > h.saturating_add(bound)
            {
                self.queue.insert((at, seq), ev);
                break;
            }
            self.now = at;
            self.out.events += 1;
            if let Some(n) = Self::target(&ev) {
                let node = &mut self.nodes[n];
                if let Some(until) = node.paused_until
                    && until > at
                {
                    node.deferred.push(ev);
                    *self
                        .out
                        .counters
                        .entry("deferred_by_pause".into())
                        .or_default() += 1;
                    continue;
                }
                if !node.up && !matches!(ev, Ev::Transmit { .. }) {
                    *self
                        .out
                        .counters
                        .entry("lost_at_down_node".into())
                        .or_default() += 1;
                    continue;
                }
            }
            if self.keep_trace {
                self.trace_event(at, &ev);
            }
            if let Some(log) = self.log.as_mut() {
                let (tag, a, b) = ev.trace_key();
                log.push(format!("t={at} {} ({tag} {a:#x} {b:#x})", ev.name()));
            }
            self.dispatch(ev);
            self.check_ledger();
            self.check_chain(false);
            if self.jobs.iter().all(|j| j.finalized_at.is_some()) && self.all_disputes_done() {
                break;
            }
        }
    }

    fn all_disputes_done(&self) -> bool {
        self.disputes.iter().all(|d| d.done)
    }

    fn trace_event(&mut self, at: u64, ev: &Ev) {
        let (tag, a, b) = ev.trace_key();
        self.trace.update(&at.to_le_bytes());
        self.trace.update(&[tag]);
        self.trace.update(&a.to_le_bytes());
        self.trace.update(&b.to_le_bytes());
    }

    fn dispatch(&mut self, ev: Ev) {
        match ev {
            Ev::PostJob { job } => self.post_job(job),
            Ev::TrainDone { node, job, epoch } => self.train_done(node, job, epoch),
            Ev::ChainTx(tx) => self.chain_tx(tx),
            Ev::JobPoll { job } => self.job_poll(job),
            Ev::WindowOpen { node, job } => self.window_open(node, job),
            Ev::Transmit {
                from,
                to,
                msg,
                attempt,
                epoch,
                partitioned,
            } => {
                if self.nodes[from].up && self.nodes[from].epoch == epoch {
                    self.transmit(from, to, msg, attempt, partitioned);
                }
            }
            Ev::Deliver { from, to, msg } => self.deliver(from, to, msg),
            Ev::VerifierTick { node, v: _, epoch } => self.verifier_tick(node, epoch),
            Ev::TrainerTick { node, epoch } => self.trainer_tick(node, epoch),
            Ev::RefereeStart { d, .. } => self.referee_start(d),
            Ev::RefereePoll { referee } => self.referee_poll(referee),
            Ev::Crash { node, down_ms } => self.crash(node, down_ms),
            Ev::Restart { node } => self.restart(node),
            Ev::Pause { node, until } => self.pause(node, until),
            Ev::Resume { node } => self.resume(node),
            Ev::PartitionStart { p } => self.partition(p, true),
            Ev::PartitionEnd { p } => self.partition(p, false),
            Ev::Heal => self.heal(),
        }
    }

    fn deliver(&mut self, from: Ix, to: Ix, msg: Msg) {
        match msg {
            Msg::ToParty { d, round, msg } => self.party_receive(d, to, round, msg),
            Msg::ToReferee { d, signed } => self.referee_receive(d, from, signed),
            Msg::OpeningRequest { v, step } => self.opening_request(v, to, step),
            Msg::Opening { v, opening } => self.opening(v, opening),
        }
    }

    fn finish(mut self) -> RunResult {
        for i in 0..self.jobs.len() {
            if self.jobs[i].finalized_at.is_none() {
                let phase = self.jobs[i]
                    .job
                    .as_ref()
                    .map_or("not posted", |j| j.phase().name());
                let why = if self.queue.is_empty() {
                    format!(
                        "the event queue ran dry at t = {} ms with nothing left to happen",
                        self.now
                    )
                } else {
                    format!(
                        "not finalized within {} ms of the heal",
                        self.scn.timing.liveness_bound_ms
                    )
                };
                self.violation(format!("liveness: job {i}: {why} (phase {phase})"));
            }
        }
        self.check_chain(true);
        if let Some(m) = self.mirror.as_ref() {
            for (k, n) in m.counters() {
                if n > 0 || k == "chain_settlements_compared" {
                    self.out.counters.insert(k.into(), n);
                }
            }
        }
        self.out.within_assumption = self.out.assumption_breaks.is_empty();
        self.out.end_ms = self.now;
        let totals = crate::ledger::Ledger::totals(&self.ledger);
        self.out.burned = totals.burned;
        if self.keep_trace {
            self.trace.update(&self.now.to_le_bytes());
            self.trace.update(&totals.burned.to_le_bytes());
            self.trace
                .update(&(self.out.violations.len() as u64).to_le_bytes());
            if let Some(m) = self.mirror.as_ref() {
                self.trace.update(&m.block_number().to_le_bytes());
            }
            self.out.trace = self.trace.finalize().to_hex().to_string();
        }
        self.out
    }
}
