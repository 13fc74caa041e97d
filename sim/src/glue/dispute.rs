//! The simulator's only door into `pinpoint_protocol::dispute`: honest and corrupted runs, the
//! referee's spec-derived re-execution, and an answering party that plays
//! the protocol's cheating strategies.
//!
//! - [`honest_record`]: a traced run of a spec on a chosen [`Cpu`] (the simulator caches it).
//! - [`Forge`] and [`forged_source`]: a cheater's run, built with the protocol's
//!   [`Corrupted`] (the same code as the protocol's cheating property test). Several corrupted
//!   transitions are [`Corrupted`] layers over each other.
//! - [`SpecReexec`]: the protocol's [`JobReexec`] (derived from the job spec alone, never from
//!   a party's run), built once per spec and shared by every dispute.
//! - [`DisputeParty`]: the honest protocol [`Party`] over a [`RunSource`] (honest or
//!   corrupted), playing a protocol [`Deviation`] on its answers: the [`Answer`] the
//!   simulator gives a cheating node's party role machine. Answers travel in signed envelopes to the arbiter role's
//!   `handle_authenticated` (replay guard, equivocation checks), but unsigned: the network's
//!   links stand in for the ed25519 check, since signing and verifying every dispute message
//!   would cost several times the rest of a run (`docs/sim.md`, "Disputes"). The protocol's
//!   [`Cheater`](pinpoint_protocol::dispute::strategy::Cheater) signs its answers, so the
//!   deviations it adds on top of the party (a lie in one step or node answer, silence from a
//!   round, equivocation) are replayed here on the answer before its envelope. `Deviation::WrongInput` is
//!   not replayed (no simulator strategy uses it; the protocol's tests cover it).

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use pinpoint_kernels::Cpu;
use pinpoint_kernels::graph::{Graph, Value};
use pinpoint_protocol::dispute::strategy::{Corrupted, Corruption, Liar, flip};
use pinpoint_protocol::dispute::{JobReexec, Party, Reexec, RunSource, StepRecord};
use pinpoint_protocol::role::party::Answer;
use pinpoint_protocol::wire::Message;
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

/// The round a referee query belongs to (the input query is the last round).
fn round_of(msg: &Message) -> Option<u32> {
    match msg {
        Message::StepQuery(q) => Some(q.round),
        Message::NodeQuery(q) => Some(q.round),
        Message::InputQuery(_) => Some(u32::MAX),
        _ => None,
    }
}

/// A dispute party: the honest protocol [`Party`] over a [`RunSource`] (honest or corrupted),
/// playing its [`Deviation`] on each answer as the protocol's `Cheater` does.
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
        // The corruption is already in `source`; the deviation is played on the answers.
        Ok(Self {
            party: Party::from_source(source)?,
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

impl Answer for DisputeParty {
    fn answer(&mut self, msg: &Message) -> Option<Message> {
        self.handle(msg)
    }

    fn start_node_phase(&mut self, lo: u64, record: StepRecord) -> Result<()> {
        self.party.start_node_phase(lo, record)
    }
}
