//! The chain book: what a node knows of the chain's jobs and disputes, built from the
//! contracts' events alone, and the chain duties that follow for this node (sans-IO: events
//! and the chain's clock in, [`Duty`]s out; the conductor carries them out).
//!
//! What it decides is the contracts' bookkeeping that any participant may do, never a
//! protocol judgement (those stay in the role machines): accept a posted job that fits the
//! node's policy, announce an assignment to the trainer role, close commits after their
//! deadline, fix the sampling seed, open the contracts' next replica dispute while live roots
//! disagree (`disputeNext`: the contract picks the pair), hand a dispute to the arbiter role
//! when this node sits on its committee, and finalize a job whose window has passed. Each
//! chain call is made once per reason; a call that fails is tried again after
//! [`RETRY_SECS`] chain seconds (a revert because another node did it first is harmless).

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use pinpoint_chain::bindings::JobMarket::JobMarketEvents as M;
use pinpoint_chain::{Address, B256, U256};
use pinpoint_chain::{Call, ChainEvent, LoggedEvent};
use pinpoint_protocol::id::NodeId;

/// Chain seconds before a chain call of the same reason is tried again.
pub const RETRY_SECS: u64 = 5;

/// This node, as the book sees it.
#[derive(Debug, Clone)]
pub struct Me {
    /// The node's EVM account.
    pub account: Address,
    /// Serves the trainer role.
    pub trainer: bool,
    /// Serves the verifier role.
    pub verifier: bool,
    /// Serves the arbiter role.
    pub arbiter: bool,
    /// Largest step count a trainer accepts.
    pub max_steps: u64,
    /// Smallest payment a trainer accepts.
    pub min_payment: U256,
    /// Steps a verifier samples from each committed root.
    pub samples: u64,
}

/// What the node must do because of the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Duty {
    /// Send this transaction.
    Chain(Call),
    /// Fetch the spec of posted job `job` (its canonical encoding hashes to `spec_hash`) and
    /// report it with [`ChainBook::spec_ready`].
    FetchSpec {
        /// The chain's job id.
        job: u64,
        /// blake3 of the spec's canonical encoding.
        spec_hash: B256,
    },
    /// This node trains `job` (it was assigned).
    Train {
        /// The chain's job id.
        job: u64,
    },
    /// This node referees dispute `dispute` of `job` between two committed roots.
    Referee {
        /// The chain's dispute id.
        dispute: u64,
        /// The chain's job id.
        job: u64,
        /// The challenger and its root.
        challenger: (NodeId, B256),
        /// The defendant and its root.
        defendant: (NodeId, B256),
    },
    /// This node is a party (challenger or defendant) of dispute `dispute`.
    Party {
        /// The chain's dispute id.
        dispute: u64,
        /// The chain's job id.
        job: u64,
    },
    /// Dispute `dispute`, where this node is a party, has a verdict: its parties close.
    Closed {
        /// The chain's dispute id.
        dispute: u64,
        /// The chain's job id.
        job: u64,
        /// The committee's members whose `NodeId` is known.
        referees: Vec<NodeId>,
    },
    /// Dispute `dispute`, where this node is on the committee, has a verdict: a referee still
    /// running stops without a vote.
    Decided {
        /// The chain's dispute id.
        dispute: u64,
    },
    /// A registration changed: re-read the verified registry.
    RefreshRegistry,
    /// The sampling seed of `job` is fixed: this verifier checks its committed roots.
    Verify {
        /// The chain's job id.
        job: u64,
    },
    /// This node sits on the committee of dispute `dispute`, opened by a verifier whose root
    /// the chain does not hold: the verifier sends it signed (the refereeing starts when it
    /// arrives, see [`ChainBook::challenger_root`]).
    Committee {
        /// The chain's dispute id.
        dispute: u64,
        /// The chain's job id.
        job: u64,
    },
}

/// A job's state, as its events say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobState {
    /// Posted, taking trainers.
    Open,
    /// All replicas accepted; training.
    Assigned,
    /// Commits closed; challenge window.
    Committed,
    /// A dispute is open.
    Disputed,
    /// Paid out.
    Finalized,
    /// Cancelled (unfilled or a committee that never ruled).
    Cancelled,
}

/// One job.
#[derive(Debug, Clone)]
pub struct JobEntry {
    /// Its state.
    pub state: JobState,
    /// Who posted it.
    pub submitter: Address,
    /// blake3 of the spec's canonical encoding.
    pub spec_hash: B256,
    /// Escrowed payment.
    pub payment: U256,
    /// Replicas wanted.
    pub replicas: u8,
    /// Accept deadline (chain seconds).
    pub accept_deadline: u64,
    /// Commit deadline.
    pub commit_deadline: u64,
    /// End of the challenge window (0 before it starts).
    pub window_end: u64,
    /// The spec's step count, once fetched.
    pub steps: Option<u64>,
    /// Accepted trainers, in order.
    pub trainers: Vec<Address>,
    /// Committed roots.
    pub roots: BTreeMap<Address, B256>,
    /// Trainers that lost (missed the commit or a dispute).
    pub lost: BTreeSet<Address>,
    /// The open dispute.
    pub active_dispute: Option<u64>,
    /// The sampling seed, once fixed.
    pub seed: Option<B256>,
    /// Each trainer's bond.
    pub bond: U256,
    /// Verifier challenges taken by the contract and not yet opened as disputes (the
    /// contract queues a challenge made while another dispute is open).
    pub queued: usize,
    /// Verifiers that challenged (queued or opened).
    pub challengers: BTreeSet<Address>,
}

impl JobEntry {
    /// Committed trainers that have not lost, with their roots.
    pub fn live_roots(&self) -> Vec<(Address, B256)> {
        self.roots
            .iter()
            .filter(|(a, _)| !self.lost.contains(*a))
            .map(|(a, r)| (*a, *r))
            .collect()
    }

    fn roots_disagree(&self) -> bool {
        let live = self.live_roots();
        live.windows(2).any(|w| w[0].1 != w[1].1)
    }
}

/// One dispute.
#[derive(Debug, Clone)]
pub struct DisputeEntry {
    /// The chain's job id.
    pub job: u64,
    /// The challenger.
    pub challenger: Address,
    /// The defendant.
    pub defendant: Address,
    /// The committee.
    pub committee: Vec<Address>,
    /// The committee's deadline.
    pub deadline: u64,
    /// The ruling, once given (contract number).
    pub ruling: Option<u8>,
    /// Opened by a verifier's challenge.
    pub by_verifier: bool,
    /// The verifier's root, once it sent it signed.
    pub challenger_root: Option<B256>,
}

/// Why a chain call is sent (one call per reason, retried after [`RETRY_SECS`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Reason {
    /// Not a chain call: fetching a job's spec, retried the same way.
    FetchSpec(u64),
    Accept(u64),
    CloseCommits(u64),
    FixSeed(u64),
    /// The `n`-th dispute round of the job (the job's dispute count when sent).
    DisputeNext(u64, usize),
    Finalize(u64),
    Redraw(u64, u8),
    /// A challenging verifier sends its root to the committee again (the dispute's id).
    ResendRoot(u64),
}

/// The chain book of one node.
#[derive(Debug)]
pub struct ChainBook {
    me: Me,
    nodes: BTreeMap<Address, NodeId>,
    jobs: BTreeMap<u64, JobEntry>,
    disputes: BTreeMap<u64, DisputeEntry>,
    /// Disputes per job, opened so far.
    opened: BTreeMap<u64, usize>,
    /// Redraw rounds per dispute.
    rounds: BTreeMap<u64, u8>,
    sent: BTreeMap<Reason, u64>,
    duties: VecDeque<Duty>,
    now: u64,
    /// Chain events applied so far.
    applied: u64,
}

fn id64(v: U256) -> u64 {
    u64::try_from(v).unwrap_or(u64::MAX)
}

impl ChainBook {
    /// An empty book for `me`.
    pub fn new(me: Me) -> Self {
        Self {
            me,
            nodes: BTreeMap::new(),
            jobs: BTreeMap::new(),
            disputes: BTreeMap::new(),
            opened: BTreeMap::new(),
            rounds: BTreeMap::new(),
            sent: BTreeMap::new(),
            duties: VecDeque::new(),
            now: 0,
            applied: 0,
        }
    }

    /// This node.
    pub fn me(&self) -> &Me {
        &self.me
    }

    /// Replaces the verified registry (account → `NodeId`).
    pub fn set_registry(&mut self, nodes: BTreeMap<Address, NodeId>) {
        self.nodes = nodes;
    }

    /// The `NodeId` registered for `account`.
    pub fn node_of(&self, account: &Address) -> Option<NodeId> {
        self.nodes.get(account).copied()
    }

    /// The account registered for `node`.
    pub fn account_of(&self, node: &NodeId) -> Option<Address> {
        self.nodes.iter().find(|(_, n)| *n == node).map(|(a, _)| *a)
    }

    /// A job.
    pub fn job(&self, job: u64) -> Option<&JobEntry> {
        self.jobs.get(&job)
    }

    /// A dispute.
    pub fn dispute(&self, dispute: u64) -> Option<&DisputeEntry> {
        self.disputes.get(&dispute)
    }

    /// Every job, by id.
    pub fn jobs(&self) -> &BTreeMap<u64, JobEntry> {
        &self.jobs
    }

    /// The chain's clock at the last tick.
    pub fn now(&self) -> u64 {
        self.now
    }

    /// Every dispute, by id.
    pub fn disputes(&self) -> &BTreeMap<u64, DisputeEntry> {
        &self.disputes
    }

    /// The verified registry: account → `NodeId`.
    pub fn registry(&self) -> &BTreeMap<Address, NodeId> {
        &self.nodes
    }

    /// How many chain events [`Self::on_event`] took so far (the same count at the same
    /// point of a replay from block 0).
    pub fn events_applied(&self) -> u64 {
        self.applied
    }

    /// The next duty.
    pub fn poll_duty(&mut self) -> Option<Duty> {
        self.duties.pop_front()
    }

    /// The spec of `job` was fetched and checked: it has `steps` steps.
    pub fn spec_ready(&mut self, job: u64, steps: u64) {
        let Some(j) = self.jobs.get_mut(&job) else {
            return;
        };
        if j.steps.is_some() {
            // A second fetch of the same spec (a retry that crossed the first).
            return;
        }
        j.steps = Some(steps);
        let fits = steps <= self.me.max_steps && j.payment >= self.me.min_payment;
        let mine = j.trainers.contains(&self.me.account);
        if self.me.trainer && j.state == JobState::Open && fits && !mine {
            self.call(Reason::Accept(job), Call::Accept { job });
        } else if mine
            && !j.lost.contains(&self.me.account)
            && matches!(
                j.state,
                JobState::Assigned | JobState::Committed | JobState::Disputed
            )
        {
            // Assigned: train. Later (a restarted node replaying the chain): run the job
            // again from its checkpoints, to answer the job's openings and disputes.
            self.duties.push_back(Duty::Train { job });
        }
    }

    /// A transaction of `reason` failed: it may be tried again at the next tick past the
    /// retry delay (already the rule: nothing to do but log).
    fn call(&mut self, reason: Reason, call: Call) {
        if self.due(reason) {
            self.duties.push_back(Duty::Chain(call));
        }
    }

    /// Whether `reason` was not acted on in the last [`RETRY_SECS`]; if so, records it now.
    fn due(&mut self, reason: Reason) -> bool {
        if let Some(at) = self.sent.get(&reason)
            && self.now < at + RETRY_SECS
        {
            return false;
        }
        self.sent.insert(reason, self.now);
        true
    }

    fn is_mine(&self, job: &JobEntry) -> bool {
        job.trainers.contains(&self.me.account)
    }

    /// Takes one chain event.
    pub fn on_event(&mut self, e: &LoggedEvent) {
        self.applied += 1;
        match &e.event {
            ChainEvent::Staking(s) => {
                use pinpoint_chain::bindings::Staking::StakingEvents as S;
                if matches!(
                    s,
                    S::NodeRegistered(_) | S::NodeUpdated(_) | S::NodeDeregistered(_)
                ) {
                    self.duties.push_back(Duty::RefreshRegistry);
                }
            }
            ChainEvent::Market(m) => self.on_market(m),
            ChainEvent::Token(_) => {}
        }
    }

    fn on_market(&mut self, m: &M) {
        match m {
            M::JobPosted(p) => {
                let job = id64(p.jobId);
                self.jobs.insert(
                    job,
                    JobEntry {
                        state: JobState::Open,
                        submitter: p.submitter,
                        spec_hash: p.specHash,
                        payment: p.payment,
                        replicas: p.replicas,
                        accept_deadline: p.acceptDeadline,
                        commit_deadline: p.commitDeadline,
                        window_end: 0,
                        steps: None,
                        trainers: Vec::new(),
                        roots: BTreeMap::new(),
                        lost: BTreeSet::new(),
                        active_dispute: None,
                        seed: None,
                        bond: p.bond,
                        queued: 0,
                        challengers: BTreeSet::new(),
                    },
                );
                if (self.me.trainer || self.me.verifier || self.me.arbiter)
                    && self.due(Reason::FetchSpec(job))
                {
                    self.duties.push_back(Duty::FetchSpec {
                        job,
                        spec_hash: p.specHash,
                    });
                }
            }
            M::JobAccepted(a) => {
                if let Some(j) = self.jobs.get_mut(&id64(a.jobId))
                    && !j.trainers.contains(&a.trainer)
                {
                    j.trainers.push(a.trainer);
                }
            }
            M::JobAssigned(a) => {
                let job = id64(a.jobId);
                if let Some(j) = self.jobs.get_mut(&job) {
                    j.state = JobState::Assigned;
                    j.trainers = a.trainers.clone();
                    if j.trainers.contains(&self.me.account) && j.steps.is_some() {
                        self.duties.push_back(Duty::Train { job });
                    }
                }
            }
            M::RootCommitted(c) => {
                if let Some(j) = self.jobs.get_mut(&id64(c.jobId)) {
                    j.roots.insert(c.trainer, c.root);
                }
            }
            M::CommitMissed(c) => {
                if let Some(j) = self.jobs.get_mut(&id64(c.jobId)) {
                    j.lost.insert(c.trainer);
                }
            }
            M::ChallengeWindowStarted(w) => {
                let job = id64(w.jobId);
                if let Some(j) = self.jobs.get_mut(&job) {
                    j.state = JobState::Committed;
                    j.window_end = w.windowEnd;
                }
                self.after_change(job);
            }
            M::WindowExtended(w) => {
                if let Some(j) = self.jobs.get_mut(&id64(w.jobId)) {
                    j.window_end = j.window_end.max(w.windowEnd);
                }
            }
            M::SeedFixed(s) => {
                let job = id64(s.jobId);
                if let Some(j) = self.jobs.get_mut(&job) {
                    j.seed = Some(s.seed);
                    if self.me.verifier && self.me.samples > 0 {
                        self.duties.push_back(Duty::Verify { job });
                    }
                }
            }
            M::Challenged(c) => {
                if let Some(j) = self.jobs.get_mut(&id64(c.jobId)) {
                    j.queued += 1;
                    j.challengers.insert(c.verifier);
                }
            }
            M::DisputeOpened(d) => self.dispute_opened(d),
            M::CommitteeRedrawn(r) => {
                let dispute = id64(r.disputeId);
                self.rounds.insert(dispute, r.round);
                let (job, party) = match self.disputes.get_mut(&dispute) {
                    Some(x) => {
                        x.committee = r.committee.clone();
                        x.deadline = r.deadline;
                        let me = self.me.account;
                        (x.job, x.challenger == me || x.defendant == me)
                    }
                    None => return,
                };
                if party {
                    // A new committee: a challenging verifier sends it its root again.
                    self.duties.push_back(Duty::Party { dispute, job });
                }
                self.assign_if_member(dispute, job);
            }
            M::Verdict(v) => {
                let (dispute, job) = (id64(v.disputeId), id64(v.jobId));
                let ruling = v.ruling;
                if let Some(x) = self.disputes.get_mut(&dispute) {
                    x.ruling = Some(ruling);
                }
                if let Some(j) = self.jobs.get_mut(&job) {
                    j.state = JobState::Committed;
                    j.active_dispute = None;
                    // 0: defendant wins, 1: challenger wins, 2: both lose.
                    if ruling != 1 {
                        j.lost.insert(v.challenger);
                    }
                    if ruling != 0 {
                        j.lost.insert(v.defendant);
                    }
                }
                let me = self.me.account;
                if self
                    .disputes
                    .get(&dispute)
                    .is_some_and(|x| x.committee.contains(&me))
                {
                    self.duties.push_back(Duty::Decided { dispute });
                }
                if v.challenger == me || v.defendant == me {
                    let referees = self
                        .disputes
                        .get(&dispute)
                        .map(|x| {
                            x.committee
                                .iter()
                                .filter_map(|a| self.nodes.get(a).copied())
                                .collect()
                        })
                        .unwrap_or_default();
                    self.duties.push_back(Duty::Closed {
                        dispute,
                        job,
                        referees,
                    });
                }
                self.after_change(job);
            }
            M::JobFinalized(f) => {
                if let Some(j) = self.jobs.get_mut(&id64(f.jobId)) {
                    j.state = JobState::Finalized;
                }
            }
            M::JobCancelled(c) => {
                if let Some(j) = self.jobs.get_mut(&id64(c.jobId)) {
                    j.state = JobState::Cancelled;
                    j.active_dispute = None;
                }
            }
            _ => {}
        }
    }

    fn dispute_opened(&mut self, d: &pinpoint_chain::bindings::JobMarket::DisputeOpened) {
        let (dispute, job) = (id64(d.disputeId), id64(d.jobId));
        self.disputes.insert(
            dispute,
            DisputeEntry {
                job,
                challenger: d.challenger,
                defendant: d.defendant,
                committee: d.committee.clone(),
                deadline: d.deadline,
                ruling: None,
                by_verifier: self
                    .jobs
                    .get(&job)
                    .is_some_and(|j| !j.trainers.contains(&d.challenger)),
                challenger_root: None,
            },
        );
        *self.opened.entry(job).or_default() += 1;
        if let Some(j) = self.jobs.get_mut(&job) {
            if !j.trainers.contains(&d.challenger) {
                j.queued = j.queued.saturating_sub(1);
            }
            j.state = JobState::Disputed;
            j.active_dispute = Some(dispute);
        }
        if d.challenger == self.me.account || d.defendant == self.me.account {
            self.duties.push_back(Duty::Party { dispute, job });
        }
        self.assign_if_member(dispute, job);
    }

    fn assign_if_member(&mut self, dispute: u64, job: u64) {
        let (Some(x), Some(j)) = (self.disputes.get(&dispute), self.jobs.get(&job)) else {
            return;
        };
        if !self.me.arbiter || !x.committee.contains(&self.me.account) {
            return;
        }
        if x.by_verifier && x.challenger_root.is_none() {
            self.duties.push_back(Duty::Committee { dispute, job });
            return;
        }
        let side = |a: &Address| -> Option<(NodeId, B256)> {
            let root = j
                .roots
                .get(a)
                .copied()
                .or(x.challenger_root.filter(|_| *a == x.challenger))?;
            Some((self.nodes.get(a).copied()?, root))
        };
        // Only disputes between committed roots are refereed here (a verifier's challenge has
        // no root on chain: see docs/node.md, "Not built").
        if let (Some(challenger), Some(defendant)) = (side(&x.challenger), side(&x.defendant)) {
            self.duties.push_back(Duty::Referee {
                dispute,
                job,
                challenger,
                defendant,
            });
        }
    }

    /// Verifier `from` sent its signed root of `job`: for the open dispute it challenged, the
    /// refereeing can start. Returns whether the root was taken (a root for no open dispute
    /// of that verifier, or a second one, is not).
    pub fn challenger_root(&mut self, job: u64, from: &NodeId, root: B256) -> bool {
        let Some(account) = self.account_of(from) else {
            return false;
        };
        let open = self.disputes.iter_mut().find(|(_, x)| {
            x.job == job
                && x.by_verifier
                && x.challenger == account
                && x.ruling.is_none()
                && x.challenger_root.is_none()
        });
        let Some((&dispute, x)) = open else {
            return false;
        };
        x.challenger_root = Some(root);
        self.assign_if_member(dispute, job);
        true
    }

    /// After commits close or a verdict: the next replica dispute, if this node is a live
    /// trainer of a job whose live roots disagree.
    fn after_change(&mut self, job: u64) {
        let Some(j) = self.jobs.get(&job) else {
            return;
        };
        let me = self.me.account;
        let live_mine = self.is_mine(j) && j.live_roots().iter().any(|(a, _)| *a == me);
        let dispute = j.state == JobState::Committed && live_mine && j.roots_disagree();
        let fix = self.me.verifier && j.state == JobState::Committed && j.seed.is_none();
        if dispute {
            let n = self.opened.get(&job).copied().unwrap_or(0);
            self.call(Reason::DisputeNext(job, n), Call::DisputeNext { job });
        }
        if fix {
            self.call(Reason::FixSeed(job), Call::FixSeed { job });
        }
    }

    /// The chain's clock reads `now` (seconds): deadline duties.
    pub fn tick(&mut self, now: u64) {
        self.now = now;
        let me = self.me.account;
        let mut calls = Vec::new();
        for (&id, j) in &self.jobs {
            let involved = self.is_mine(j) || j.submitter == me || j.challengers.contains(&me);
            match j.state {
                JobState::Assigned if now > j.commit_deadline && involved => {
                    calls.push((Reason::CloseCommits(id), Call::CloseCommits { job: id }));
                }
                // A queued verifier challenge is heard before the job can be finalized (the
                // contract's `disputeNext` opens it; one whose trainer already lost is dropped
                // by the contract and the call reverts harmlessly).
                JobState::Committed if involved && j.queued > 0 => {
                    let n = self.opened.get(&id).copied().unwrap_or(0);
                    calls.push((Reason::DisputeNext(id, n), Call::DisputeNext { job: id }));
                    if now >= j.window_end {
                        calls.push((Reason::Finalize(id), Call::Finalize { job: id }));
                    }
                }
                JobState::Committed if now >= j.window_end && involved && !j.roots_disagree() => {
                    calls.push((Reason::Finalize(id), Call::Finalize { job: id }));
                }
                JobState::Committed if involved && j.roots_disagree() => {
                    let n = self.opened.get(&id).copied().unwrap_or(0);
                    if self.is_mine(j) && j.live_roots().iter().any(|(a, _)| *a == me) {
                        calls.push((Reason::DisputeNext(id, n), Call::DisputeNext { job: id }));
                    }
                }
                _ => {}
            }
        }
        // A spec that could not be fetched yet (its holder was unreachable) is asked again
        // while the job is live.
        let serving = self.me.trainer || self.me.verifier || self.me.arbiter;
        let missing: Vec<(u64, B256)> = self
            .jobs
            .iter()
            .filter(|(_, j)| {
                serving
                    && j.steps.is_none()
                    && !matches!(j.state, JobState::Finalized | JobState::Cancelled)
            })
            .map(|(id, j)| (*id, j.spec_hash))
            .collect();
        for (job, spec_hash) in missing {
            if self.due(Reason::FetchSpec(job)) {
                self.duties.push_back(Duty::FetchSpec { job, spec_hash });
            }
        }
        for (&id, x) in &self.disputes {
            if x.ruling.is_none()
                && now > x.deadline
                && self.jobs.get(&x.job).map(|j| j.state) == Some(JobState::Disputed)
                && (self.me.arbiter || x.challenger == me || x.defendant == me)
            {
                let round = self.rounds.get(&id).copied().unwrap_or(0);
                calls.push((Reason::Redraw(id, round), Call::Redraw { dispute: id }));
            }
        }
        for (reason, call) in calls {
            self.call(reason, call);
        }
        // A challenging verifier's root reaches the committee only by message (the contract
        // has no field for it): until the dispute is ruled, it is sent again every
        // `RETRY_SECS`, so one lost message (e.g. one that reached a member before it had read
        // the dispute) does not leave the dispute unrefereed until its deadline.
        let waiting: Vec<(u64, u64)> = self
            .disputes
            .iter()
            .filter(|(_, x)| x.by_verifier && x.challenger == me && x.ruling.is_none())
            .map(|(&id, x)| (id, x.job))
            .collect();
        for (dispute, job) in waiting {
            if self.due(Reason::ResendRoot(dispute)) {
                self.duties.push_back(Duty::Party { dispute, job });
            }
        }
    }
}
