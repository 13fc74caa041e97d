//! Cheating strategies: parameterized wrappers around an honest party, for tests and the
//! simulator. A [`Strategy`] is a [`Corruption`] of the run the cheater commits to (its root
//! differs from the honest one, or there is no dispute) plus a [`Deviation`] in how it
//! answers. [`Cheater`] plays it; every strategy ends with the cheater losing (an honest
//! counter-party wins; two cheaters that corrupt the same first position both lose).

use pinpoint_kernels::Tensor;
use pinpoint_kernels::graph::{Ids, Value};

use super::driver::Respond;
use super::party::{Answerer, Party};
use super::record::{RunSource, StepRecord};
use crate::codec::BoundedVec;
use crate::error::{ProtocolError, Result};
use crate::id::{JobId, NodeId, NodeKey};
use crate::wire::{InputTransfer, JobCommit, Message, SignedMessage, ValueBlob};

/// How the cheater's committed run differs from the honest one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Corruption {
    /// `h(S_t)` is wrong for every `t ≥ step` (the node outputs of step `step` are honest, the
    /// state it claims is not): caught at the state assembly of step `step − 1 → step`.
    WrongStateFrom {
        /// First wrong state, `1 ≤ step ≤ T`.
        step: u64,
    },
    /// The output of node `node` (1-based) of step `step − 1 → step` is wrong, hence every state
    /// from `step` on: caught by re-running that one operator.
    WrongNode {
        /// The step `1 ≤ step ≤ T` whose graph holds the wrong node.
        step: u64,
        /// The node, `1 ≤ node ≤ N`.
        node: u64,
    },
    /// Only `h(S_step)` is wrong, `1 ≤ step < T`: the final state is right, the root is not.
    /// The referee's Merkle descent finds the differing leaf.
    WrongIntermediate {
        /// The one wrong state.
        step: u64,
    },
}

/// How the cheater answers, on top of its corrupted run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deviation {
    /// Answers consistently with its (corrupted) run.
    None,
    /// Its `answer`-th step answer (0-based) claims another state hash than its committed leaf
    /// (with the leaf's genuine proof, which then fails): a lie during step bisection.
    LieInStepBisection {
        /// Which step answer lies.
        answer: u32,
    },
    /// Its `answer`-th node answer claims another link than its committed chain's: a lie
    /// during node bisection.
    LieInNodeBisection {
        /// Which node answer lies.
        answer: u32,
    },
    /// Every Merkle proof it sends is corrupted.
    BadProof,
    /// Sends a wrong input tensor for the disputed node and patches its proof to match (the
    /// manifest entry or the chain-segment hash): the proof no longer reaches the agreed hash.
    /// At the state assembly (no tensors) it alters a proven hash instead.
    WrongInput,
    /// Stops answering from round `from_round` (0-based) on.
    Silent {
        /// First round left unanswered.
        from_round: u32,
    },
    /// Signs a second, different commitment for the job (another root); it reaches the
    /// referee with the cheater's first answer (in the network, any peer that sees both
    /// forwards it; the referee checks only the signature, not who delivered it).
    Equivocate,
}

/// A complete cheating strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Strategy {
    /// The corrupted run.
    pub corruption: Corruption,
    /// The answering deviation.
    pub deviation: Deviation,
    /// Varies the wrong values (two cheaters with different salts tell different lies).
    pub salt: u8,
}

/// Flips a bit pattern of the first byte of `h`: the lie every strategy tells (`salt`, of which
/// 7 bits count, varies it).
pub fn flip(h: &mut [u8; 32], salt: u8) {
    h[0] ^= 1 | (salt << 1);
}

/// The answer-level lies of a [`Deviation`], apart from signing, so that the signed
/// [`Cheater`] and unsigned drivers (the simulator) lie the same way: the chosen step answer
/// or node answer carries a wrong hash, and an input transfer a wrong tensor.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Liar {
    step_answers: u32,
    node_answers: u32,
}

impl Liar {
    /// Alters `answer` as `deviation` says ([`Deviation::LieInStepBisection`],
    /// [`Deviation::LieInNodeBisection`], [`Deviation::WrongInput`], and
    /// [`Deviation::BadProof`]: every step or node answer's proof is corrupted); other
    /// deviations and messages pass unchanged.
    ///
    /// Errors: a patched input transfer that no longer fits its bounds.
    pub fn apply(&mut self, answer: &mut Message, deviation: Deviation, salt: u8) -> Result<()> {
        match (answer, deviation) {
            (Message::StepAnswer(a), Deviation::LieInStepBisection { answer }) => {
                if self.step_answers == answer {
                    flip(&mut a.state_hash, salt);
                }
                self.step_answers += 1;
            }
            (Message::NodeAnswer(a), Deviation::LieInNodeBisection { answer }) => {
                if self.node_answers == answer {
                    flip(&mut a.link, salt);
                }
                self.node_answers += 1;
            }
            (Message::InputTransfer(t), Deviation::WrongInput) => wrong_input(t, salt)?,
            (Message::StepAnswer(a), Deviation::BadProof) => bad_proof(&mut a.proof)?,
            (Message::NodeAnswer(a), Deviation::BadProof) => bad_proof(&mut a.proof)?,
            _ => {}
        }
        Ok(())
    }
}

/// A [`RunSource`] whose run is `inner`'s with a [`Corruption`] applied.
#[derive(Debug)]
pub struct Corrupted {
    inner: Box<dyn RunSource>,
    hashes: Vec<[u8; 32]>,
    node: Option<(u64, u64)>,
    salt: u8,
}

impl Corrupted {
    /// `inner` with `corruption` applied (`salt`: see [`Strategy::salt`]).
    ///
    /// Errors: [`ProtocolError::InvalidArgument`] for a step or node out of range.
    pub fn new(inner: Box<dyn RunSource>, corruption: Corruption, salt: u8) -> Result<Self> {
        let mut hashes = inner.state_hashes().to_vec();
        let t_max = hashes.len() as u64 - 1;
        let bad = |what: String| Err(ProtocolError::InvalidArgument(what));
        let mut node = None;
        match corruption {
            Corruption::WrongStateFrom { step } | Corruption::WrongNode { step, .. } => {
                if step == 0 || step > t_max {
                    return bad(format!("corrupted step {step} not in 1..={t_max}"));
                }
                for h in &mut hashes[step as usize..] {
                    flip(h, salt);
                }
                if let Corruption::WrongNode { node: i, .. } = corruption {
                    if i == 0 {
                        return bad("nodes are numbered from 1".into());
                    }
                    node = Some((step, i));
                }
            }
            Corruption::WrongIntermediate { step } => {
                if step == 0 || step >= t_max {
                    return bad(format!("intermediate step {step} not in 1..{t_max}"));
                }
                flip(&mut hashes[step as usize], salt);
            }
        }
        Ok(Self {
            inner,
            hashes,
            node,
            salt,
        })
    }
}

impl RunSource for Corrupted {
    fn state_hashes(&self) -> &[[u8; 32]] {
        &self.hashes
    }

    fn step_record(&mut self, lo: u64) -> Result<StepRecord> {
        let mut rec = self.inner.step_record(lo)?;
        if let Some((t, i)) = self.node
            && lo + 1 == t
        {
            let h = usize::try_from(i - 1)
                .ok()
                .and_then(|k| rec.node_hashes.get_mut(k))
                .ok_or_else(|| ProtocolError::InvalidArgument(format!("no node {i}")))?;
            flip(&mut h.0, self.salt);
        }
        Ok(rec)
    }
}

/// A cheating party: an [`Answerer`] over a [`Corrupted`] run, deviating as its
/// [`Strategy`] says.
#[derive(Debug)]
pub struct Cheater {
    answerer: Answerer,
    strategy: Strategy,
    liar: Liar,
    equivocated: bool,
}

impl Cheater {
    /// A cheater signing with `key` in the dispute over `job` refereed by `referee`: it
    /// commits to `honest` with `strategy.corruption` applied and answers with
    /// `strategy.deviation`.
    ///
    /// Errors: as [`Corrupted::new`].
    pub fn build(
        key: NodeKey,
        job: JobId,
        referee: NodeId,
        honest: Box<dyn RunSource>,
        strategy: Strategy,
    ) -> Result<Self> {
        let run = Corrupted::new(honest, strategy.corruption, strategy.salt)?;
        let party = Party::from_source(Box::new(run))?;
        Ok(Self::new(Answerer::new(key, job, referee, party), strategy))
    }

    /// Plays `strategy` with `answerer`, whose party must already answer from the corrupted
    /// run ([`Corrupted`]) (see [`Cheater::build`]).
    pub fn new(answerer: Answerer, strategy: Strategy) -> Self {
        Self {
            answerer,
            strategy,
            liar: Liar::default(),
            equivocated: false,
        }
    }

    /// The cheater's committed root.
    pub fn root(&self) -> [u8; 32] {
        self.answerer.party().root()
    }

    /// The strategy.
    pub fn strategy(&self) -> Strategy {
        self.strategy
    }

    fn answer(&mut self, msg: &SignedMessage) -> Result<Vec<SignedMessage>> {
        let round = msg.round;
        if let Deviation::Silent { from_round } = self.strategy.deviation
            && round >= from_round
        {
            return Ok(Vec::new());
        }
        let Some(mut answer) = self.answerer.answer(msg)? else {
            return Ok(Vec::new());
        };
        let salt = self.strategy.salt;
        self.liar
            .apply(&mut answer, self.strategy.deviation, salt)?;
        let mut out = Vec::with_capacity(2);
        if self.strategy.deviation == Deviation::Equivocate && !self.equivocated {
            self.equivocated = true;
            let hashes = self.answerer.party().state_hashes();
            let mut root = self.root();
            flip(&mut root, salt);
            let commit = Message::JobCommit(JobCommit {
                job: self.answerer.job(),
                trainer: self.answerer.id(),
                root,
                steps: hashes.len() as u64 - 1,
                final_state_hash: hashes[hashes.len() - 1],
            });
            out.push(self.answerer.sign(commit, 0)?);
        }
        out.push(self.answerer.sign(answer, round)?);
        Ok(out)
    }
}

/// Corrupts a Merkle proof: the first sibling's first byte flipped, or a zero sibling added to
/// a proof that has none.
fn bad_proof(w: &mut crate::wire::WireProof) -> Result<()> {
    let mut sib = w.siblings.to_vec();
    match sib.first_mut() {
        Some(s) => s[0] ^= 1,
        None => sib.push([0; 32]),
    }
    w.siblings = BoundedVec::new(sib)?;
    Ok(())
}

/// Alters the first input (patching the proof to match) or, with no inputs, a proven hash.
fn wrong_input(t: &mut InputTransfer, salt: u8) -> Result<()> {
    let mut blobs = t.inputs.to_vec();
    let Some(first) = blobs.first_mut() else {
        match t.proof.chain.outputs.to_vec().as_mut_slice() {
            [outs, ..] => {
                let mut o = outs.to_vec();
                flip(&mut o[0], salt);
                let mut all = t.proof.chain.outputs.to_vec();
                all[0] = BoundedVec::new(o)?;
                t.proof.chain.outputs = BoundedVec::new(all)?;
            }
            [] => {
                let mut p = t.proof.state.params.to_vec();
                if let Some(e) = p.first_mut() {
                    flip(&mut e.hash, salt);
                }
                t.proof.state.params = BoundedVec::new(p)?;
            }
        }
        return Ok(());
    };
    let old = first.hash;
    let value = match first.to_value()? {
        Value::F32(x) if x.numel() > 0 => {
            let mut d = x.data().to_vec();
            d[0] += 1.0;
            Value::F32(Tensor::new(x.shape(), d).map_err(kernel)?)
        }
        Value::U32(x) if !x.data().is_empty() => {
            let mut d = x.data().to_vec();
            d[0] ^= 1;
            Value::U32(Ids::new(x.shape(), d).map_err(kernel)?)
        }
        _ => {
            flip(&mut first.hash, salt);
            t.inputs = BoundedVec::new(blobs)?;
            return Ok(());
        }
    };
    *first = ValueBlob::from_value(&value)?;
    let new = first.hash;
    t.inputs = BoundedVec::new(blobs)?;
    // Make the proof consistent with the lie wherever the old hash appears.
    let patch = |list: &mut Vec<crate::wire::NamedHash>| {
        for e in list.iter_mut().filter(|e| e.hash == old) {
            e.hash = new;
        }
    };
    let mut p = t.proof.state.params.to_vec();
    patch(&mut p);
    t.proof.state.params = BoundedVec::new(p)?;
    let mut o = t.proof.state.optim.to_vec();
    patch(&mut o);
    t.proof.state.optim = BoundedVec::new(o)?;
    let mut outs = Vec::new();
    for node in t.proof.chain.outputs.iter() {
        let mut v = node.to_vec();
        for h in v.iter_mut().filter(|h| **h == old) {
            *h = new;
        }
        outs.push(BoundedVec::new(v)?);
    }
    t.proof.chain.outputs = BoundedVec::new(outs)?;
    Ok(())
}

fn kernel(e: pinpoint_kernels::KernelError) -> ProtocolError {
    ProtocolError::InvalidArgument(e.to_string())
}

impl Respond for Cheater {
    fn id(&self) -> NodeId {
        self.answerer.id()
    }

    fn respond(&mut self, msg: &SignedMessage) -> Vec<SignedMessage> {
        self.answer(msg).unwrap_or_default()
    }
}
