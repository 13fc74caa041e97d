//! The simulator's only door into `pinpoint_protocol::dispute`: honest and corrupted runs, the
//! referee's spec-derived re-execution, a referee session, and an answering party that plays
//! the protocol's cheating strategies.
//!
//! - [`honest_record`]: a traced run of a spec on a chosen [`Cpu`] (the simulator caches it).
//! - [`Forge`] and [`forged_source`]: a cheater's run, built with the protocol's
//!   [`Corrupted`] (the same code as the protocol's cheating property test). Several corrupted
//!   transitions are [`Corrupted`] layers over each other.
//! - [`SpecReexec`]: the protocol's [`JobReexec`] (derived from the job spec alone, never from
//!   a party's run), built once per spec and shared by every dispute.
//! - [`Session`]: one protocol [`Referee`].
//! - [`DisputeParty`]: a protocol [`Party`] over a [`RunSource`], built with
//!   [`tamper_for`] and playing a protocol [`Deviation`]. The simulator drives the referee with
//!   unsigned messages (`Referee::handle`; the network's links stand in for authenticated
//!   peers): signing and verifying every dispute message would cost several times the rest
//!   of a run (`docs/sim.md`, "Disputes"). The protocol's [`Cheater`](
//!   pinpoint_protocol::dispute::strategy::Cheater) answers only signed messages, so the
//!   deviations it adds on top of the party (a lie in one step or node answer, silence from a
//!   round, equivocation) are replayed here on unsigned answers. `Deviation::WrongInput` is
//!   not replayed (no simulator strategy uses it; the protocol's tests cover it).

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use pinpoint_kernels::Cpu;
use pinpoint_kernels::graph::{Graph, Value};
use pinpoint_protocol::dispute::strategy::{
    Corrupted, Corruption, Liar, Strategy, flip, tamper_for,
};
use pinpoint_protocol::dispute::{Action, Deadlines, JobReexec, Party, Reexec, Referee, RunSource};
use pinpoint_protocol::id::{JobId, NodeId};
use pinpoint_protocol::wire::{Message, Verdict};
use pinpoint_protocol::{ProtocolError, Result};
use pinpoint_train::JobSpec;

pub use pinpoint_protocol::dispute::strategy::Deviation;
pub use pinpoint_protocol::dispute::{RunRecord, ceil_log2, round_bound};

/// Runs `spec` honestly on `cpu`, tracing every node of every step.
///
/// Errors: training errors, as [`ProtocolError::InvalidArgument`].
pub fn honest_record(spec: &JobSpec, cpu: Cpu) -> Result<RunRecord> {
    RunRecord::honest_on(spec, None, cpu)
}

/// Number of nodes `N` of the step graph (0 for an empty run).
pub fn graph_nodes(rec: &RunRecord) -> u64 {
    rec.steps.first().map_or(0, |s| s.graph.nodes.len() as u64)
}

/// How a cheater's run differs from the honest one (an orderable description of protocol
/// [`Corruption`]s, so forged runs can be cached).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Forge {
    /// Transition `t` is corrupted for every `t` in the set (non-empty): the protocol's
    /// `WrongStateFrom` at the smallest `t`, with one more `WrongStateFrom` layer per further
    /// `t`, each changing the wrong states again.
    States(BTreeSet<u64>),
    /// The protocol's `WrongNode`: node `node` (1-based) of step `step − 1 → step` is wrong,
    /// hence every state from `step` on.
    Node {
        /// The step, `1 ≤ step ≤ T`.
        step: u64,
        /// The node, `1 ≤ node ≤ N`.
        node: u64,
    },
    /// The protocol's `WrongIntermediate`: only `h(S_step)` is wrong, `1 ≤ step < T`.
    Intermediate {
        /// The one wrong state.
        step: u64,
    },
}

impl Forge {
    /// The transitions `t` (1-based) whose `S_{t−1} → S_t` is not the honest function.
    pub fn corrupt_transitions(&self) -> BTreeSet<u64> {
        match self {
            Forge::States(s) => s.clone(),
            Forge::Node { step, .. } => BTreeSet::from([*step]),
            Forge::Intermediate { step } => BTreeSet::from([*step, step + 1]),
        }
    }
}

/// The protocol salt of layer `k` (0-based) of a forgery with `salt` (`< 128`). The
/// protocol XORs `1 | salt << 1` into a wrong hash, so layer 0 uses `salt`, layer 1 `salt ^ 1`
/// and later layers 0: the accumulated change after layer `k` is then `1 | salt << 1`, 2, 3,
/// 2, 3, … — never zero, and different at every layer.
fn layer_salt(k: usize, salt: u8) -> u8 {
    match k {
        0 => salt,
        1 => salt ^ 1,
        _ => 0,
    }
}

/// A cheater's run over the shared honest record: `forge` applied with the protocol's
/// [`Corrupted`] (`salt`, taken mod 128, tells independent cheaters apart; colluders share it).
///
/// Errors: an empty step set, a step or node out of range.
pub fn forged_source(
    honest: &Arc<RunRecord>,
    forge: &Forge,
    salt: u64,
) -> Result<Box<dyn RunSource>> {
    let salt = (salt % 128) as u8;
    let inner: Box<dyn RunSource> = Box::new(Arc::clone(honest));
    let run: Box<dyn RunSource> = match forge {
        Forge::States(steps) => {
            if steps.is_empty() {
                return Err(ProtocolError::InvalidArgument(
                    "a forged run needs a corrupted step".into(),
                ));
            }
            let mut run = inner;
            for (k, step) in steps.iter().enumerate() {
                let c = Corruption::WrongStateFrom { step: *step };
                run = Box::new(Corrupted::new(run, c, layer_salt(k, salt))?);
            }
            run
        }
        Forge::Node { step, node } => {
            let c = Corruption::WrongNode {
                step: *step,
                node: *node,
            };
            Box::new(Corrupted::new(inner, c, salt)?)
        }
        Forge::Intermediate { step } => {
            let c = Corruption::WrongIntermediate { step: *step };
            Box::new(Corrupted::new(inner, c, salt)?)
        }
    };
    Ok(run)
}

/// The honest run as a [`RunSource`] (no copy of the record).
pub fn honest_source(honest: &Arc<RunRecord>) -> Box<dyn RunSource> {
    Box::new(Arc::clone(honest))
}

/// The referee's [`Reexec`]: the protocol's [`JobReexec`], built from the job spec once and
/// shared by every dispute over that spec (cloning shares it).
#[derive(Debug, Clone)]
pub struct SpecReexec(Arc<Mutex<JobReexec>>);

impl SpecReexec {
    /// Builds the spec's step program, dataset and `S_0`.
    ///
    /// Errors: spec or training errors.
    pub fn new(spec: &JobSpec) -> Result<Self> {
        Ok(Self(Arc::new(Mutex::new(JobReexec::new(spec, None)?))))
    }

    fn with<T>(&self, f: impl FnOnce(&mut JobReexec) -> Result<T>) -> Result<T> {
        let mut g = self
            .0
            .lock()
            .map_err(|_| ProtocolError::InvalidArgument("re-execution lock poisoned".into()))?;
        f(&mut g)
    }
}

impl Reexec for SpecReexec {
    fn graph(&mut self, lo: u64) -> Result<Graph> {
        self.with(|r| r.graph(lo))
    }

    fn initial_state_hash(&mut self) -> Result<[u8; 32]> {
        self.with(|r| r.initial_state_hash())
    }

    fn batch(&mut self, data_cursor: u64) -> Result<Vec<Value>> {
        self.with(|r| r.batch(data_cursor))
    }
}

/// What a referee session asks the simulator to do.
#[derive(Debug, Clone, PartialEq)]
pub enum RefereeAction {
    /// Send `msg` to party `to`.
    Send {
        /// The party.
        to: NodeId,
        /// The query.
        msg: Message,
    },
    /// The dispute is over.
    Verdict(Verdict),
}

fn convert(actions: Vec<Action>) -> Vec<RefereeAction> {
    actions
        .into_iter()
        .map(|a| match a {
            Action::Send { to, msg } => RefereeAction::Send { to, msg },
            Action::Verdict(v) => RefereeAction::Verdict(v),
        })
        .collect()
}

/// How long a party has per query, and how often an unanswered query is re-sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnswerDeadlines {
    /// Time per query.
    pub answer_ms: u64,
    /// Re-asks before a forfeit.
    pub max_retries: u32,
}

/// One dispute's referee: the protocol [`Referee`] over the spec's [`SpecReexec`].
#[derive(Debug)]
pub struct Session {
    referee: Referee<SpecReexec>,
}

impl Session {
    /// Opens a dispute between `challenger` and `defendant` (`(id, root)`) over `steps` steps;
    /// returns the session and its first actions.
    ///
    /// Errors: equal roots, equal parties or `steps = 0` (no dispute to hold).
    pub fn open(
        job: JobId,
        challenger: (NodeId, [u8; 32]),
        defendant: (NodeId, [u8; 32]),
        steps: u64,
        now_ms: u64,
        deadlines: AnswerDeadlines,
        reexec: &SpecReexec,
    ) -> Result<(Self, Vec<RefereeAction>)> {
        let (referee, actions) = Referee::new(
            job,
            challenger,
            defendant,
            steps,
            now_ms,
            Deadlines {
                answer_ms: deadlines.answer_ms,
                max_retries: deadlines.max_retries,
            },
            reexec.clone(),
        )?;
        Ok((Self { referee }, convert(actions)))
    }

    /// A party's answer (its origin authenticated by the simulated link). Errors: `from` is
    /// not a party (nothing changes).
    pub fn handle(
        &mut self,
        now_ms: u64,
        from: &NodeId,
        msg: Message,
    ) -> Result<Vec<RefereeAction>> {
        Ok(convert(self.referee.handle(now_ms, from, msg)?))
    }

    /// Re-asks (with the node-phase start again in the node phase) or forfeits on expired
    /// deadlines.
    pub fn poll(&mut self, now_ms: u64) -> Vec<RefereeAction> {
        convert(self.referee.poll(now_ms))
    }

    /// The earliest pending deadline.
    pub fn next_deadline(&self) -> Option<u64> {
        self.referee.next_deadline()
    }

    /// Query rounds so far.
    pub fn rounds(&self) -> u32 {
        self.referee.rounds()
    }
}

/// The round a referee query belongs to (the input query is the last round).
fn round_of(msg: &Message) -> Option<u32> {
    match msg {
        Message::StepQuery(q) => Some(q.round),
        Message::NodeQuery(q) => Some(q.round),
        Message::InputQuery(_) => Some(u32::MAX),
        _ => None,
    }
}

/// A dispute party: the protocol [`Party`] over a [`RunSource`] (built with
/// [`tamper_for`] of its deviation), answering unsigned queries and playing its
/// [`Deviation`] as the protocol's `Cheater` does.
#[derive(Debug)]
pub struct DisputeParty {
    party: Party,
    deviation: Deviation,
    salt: u8,
    liar: Liar,
    /// Node answers sent, counted for the equivocation stand-in.
    node_answers: u32,
}

impl DisputeParty {
    /// A party answering from `source`; an honest party has `Deviation::None`. `salt` (mod
    /// 128) varies its lies.
    ///
    /// Errors: a run whose commitment cannot be built.
    pub fn new(source: Box<dyn RunSource>, deviation: Deviation, salt: u64) -> Result<Self> {
        // The corruption is already in `source`; `tamper_for` reads only the deviation.
        let strategy = Strategy {
            corruption: Corruption::WrongStateFrom { step: 1 },
            deviation,
            salt: 0,
        };
        Ok(Self {
            party: Party::from_source(source, tamper_for(&strategy))?,
            deviation,
            salt: (salt % 128) as u8,
            liar: Liar::default(),
            node_answers: 0,
        })
    }

    /// The root the party signed.
    pub fn root(&self) -> [u8; 32] {
        self.party.root()
    }

    /// Whether `msg` starts the node phase (a node stores it so it survives a crash).
    pub fn is_phase_start(msg: &Message) -> bool {
        matches!(msg, Message::NodePhaseStart(_))
    }

    /// The answer to a referee message, if any (the party's own errors count as silence).
    pub fn handle(&mut self, msg: &Message) -> Option<Message> {
        if let (Deviation::Silent { from_round }, Some(r)) = (self.deviation, round_of(msg))
            && r >= from_round
        {
            return None;
        }
        let mut answer = self.party.handle(msg).ok().flatten()?;
        let salt = self.salt;
        // The protocol's own lies (a party's errors count as silence).
        self.liar.apply(&mut answer, self.deviation, salt).ok()?;
        if let (Message::NodeAnswer(a), Deviation::Equivocate) = (&mut answer, self.deviation) {
            // Unsigned stand-in for a second signed commitment: a second, different
            // prefix-chain root with the second node answer.
            self.node_answers += 1;
            if self.node_answers == 2
                && let Some(r) = a.chain_root.as_mut()
            {
                flip(r, salt);
            }
        }
        Some(answer)
    }
}
