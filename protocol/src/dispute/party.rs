//! The dispute [`Party`]: answers the referee's queries from a [`RunRecord`].

use std::collections::BTreeSet;

use pinpoint_kernels::graph::{Graph, Mode, NodeTrace};
use pinpoint_kernels::train::{JobSpec, Trainer};
use pinpoint_kernels::{Cpu, TensorHash};

use crate::codec::BoundedVec;
use crate::error::{ProtocolError, Result};
use crate::merkle::{PrefixChain, StepCommitment};
use crate::wire::{InputTransfer, Message, NodeAnswer, StepAnswer, ValueBlob, WireProof};

/// What one step of a run left behind: the step graph, every node's output hash and the
/// traced inputs and outputs of every node.
#[derive(Debug, Clone)]
pub struct StepRecord {
    /// The step graph (with the step's learning rate).
    pub graph: Graph,
    /// `h(out(v_i))`, `i = 1 … N`.
    pub node_hashes: Vec<TensorHash>,
    /// Every node's inputs and outputs, in node order.
    pub traces: Vec<NodeTrace>,
}

/// A whole run in memory: `h(S_0) … h(S_T)` and, for `t = 1 … T`, `steps[t - 1]`.
#[derive(Debug, Clone)]
pub struct RunRecord {
    /// `h(S_t)`, `t = 0 … T`.
    pub state_hashes: Vec<[u8; 32]>,
    /// The record of step `t` at index `t - 1`.
    pub steps: Vec<StepRecord>,
}

fn train_err(e: impl std::fmt::Display) -> ProtocolError {
    ProtocolError::InvalidArgument(format!("training: {e}"))
}

impl RunRecord {
    /// Runs `spec` honestly on `Cpu::single()`, tracing every node of every step (meant for
    /// small jobs: tests and the simulator).
    ///
    /// Errors: training errors, as [`ProtocolError::InvalidArgument`].
    pub fn honest(spec: &JobSpec, text: Option<&[u8]>) -> Result<Self> {
        let mut tr = Trainer::new(spec, text, Cpu::single()).map_err(train_err)?;
        let mut state_hashes = vec![tr.state_hash().0];
        let mut steps = Vec::new();
        let all: BTreeSet<usize> = (0..tr.step_program().graph().nodes.len()).collect();
        let mode = Mode::Trace(all);
        while !tr.done() {
            let r = tr.step_once(&mode).map_err(train_err)?;
            state_hashes.push(r.hash.0);
            steps.push(StepRecord {
                graph: tr.step_program().graph().clone(),
                node_hashes: r.node_hashes,
                traces: r.traces,
            });
        }
        Ok(Self {
            state_hashes,
            steps,
        })
    }

    /// The run's step commitment.
    pub fn commitment(&self) -> Result<StepCommitment> {
        StepCommitment::new(&self.state_hashes)
    }

    /// The prefix chain of step `lo → lo + 1` that parties bisect: the step's node hashes and
    /// then the pseudo-node `h(S_{lo+1})`, starting from `h(S_lo)`.
    pub fn chain(&self, lo: u64) -> Result<PrefixChain> {
        let (lo, rec) = self.step(lo)?;
        let mut hashes = rec.node_hashes.clone();
        hashes.push(TensorHash(self.state_hashes[lo + 1]));
        PrefixChain::new(&self.state_hashes[lo], &hashes)
    }

    fn step(&self, lo: u64) -> Result<(usize, &StepRecord)> {
        usize::try_from(lo)
            .ok()
            .and_then(|i| self.steps.get(i).map(|r| (i, r)))
            .ok_or_else(|| ProtocolError::InvalidArgument(format!("no step {lo} → {lo}+1")))
    }
}

/// How a [`Party`] deviates from honest answering.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Tamper {
    /// Answer honestly from the record (which may itself be tampered).
    #[default]
    None,
    /// Corrupt every Merkle proof sent.
    BadProof,
    /// Never answer.
    Silent,
}

/// A dispute party answering from a [`RunRecord`].
#[derive(Debug)]
pub struct Party {
    record: RunRecord,
    commitment: StepCommitment,
    tamper: Tamper,
    chain: Option<(u64, PrefixChain)>,
    sent_chain_root: bool,
}

impl Party {
    /// A party with `record`, deviating as `tamper` says.
    pub fn new(record: RunRecord, tamper: Tamper) -> Result<Self> {
        let commitment = record.commitment()?;
        Ok(Self {
            record,
            commitment,
            tamper,
            chain: None,
            sent_chain_root: false,
        })
    }

    /// The root the party signed.
    pub fn root(&self) -> [u8; 32] {
        self.commitment.root()
    }

    fn proof(&self, p: crate::merkle::MerkleProof) -> Result<WireProof> {
        let mut w = WireProof::new(p)?;
        if self.tamper == Tamper::BadProof {
            let mut sib = w.siblings.to_vec();
            match sib.first_mut() {
                Some(s) => s[0] ^= 1,
                None => sib.push([0; 32]),
            }
            w.siblings = BoundedVec::new(sib)?;
        }
        Ok(w)
    }

    /// The party's answer to a referee message (`None` for notifications, or when silent).
    ///
    /// Errors: a query for something outside the record ([`ProtocolError::InvalidArgument`]).
    pub fn handle(&mut self, msg: &Message) -> Result<Option<Message>> {
        if self.tamper == Tamper::Silent {
            return Ok(None);
        }
        match msg {
            Message::StepQuery(q) => {
                let i = usize::try_from(q.step).unwrap_or(usize::MAX);
                let state_hash = *self.record.state_hashes.get(i).ok_or_else(|| {
                    ProtocolError::InvalidArgument(format!("no state {}", q.step))
                })?;
                let proof = self.proof(self.commitment.proof(q.step)?)?;
                Ok(Some(Message::StepAnswer(StepAnswer {
                    step: q.step,
                    state_hash,
                    proof,
                })))
            }
            Message::NodePhaseStart(s) => {
                self.chain = Some((s.lo, self.record.chain(s.lo)?));
                self.sent_chain_root = false;
                Ok(None)
            }
            Message::NodeQuery(q) => {
                let (_, chain) = self.chain.as_ref().ok_or_else(|| {
                    ProtocolError::InvalidArgument("node query before start".into())
                })?;
                let i = usize::try_from(q.index).unwrap_or(usize::MAX);
                let link = chain
                    .get(i)
                    .ok_or_else(|| ProtocolError::InvalidArgument(format!("no link {i}")))?;
                let raw = chain.proof(i)?;
                let root = chain.commitment();
                let proof = self.proof(raw)?;
                let chain_root = (!self.sent_chain_root).then_some(root);
                self.sent_chain_root = true;
                Ok(Some(Message::NodeAnswer(NodeAnswer {
                    index: q.index,
                    link,
                    proof,
                    chain_root,
                })))
            }
            Message::InputQuery(q) => {
                let (lo, _) = self.chain.as_ref().ok_or_else(|| {
                    ProtocolError::InvalidArgument("input query before start".into())
                })?;
                let (_, rec) = self.record.step(*lo)?;
                let trace = usize::try_from(q.index)
                    .ok()
                    .and_then(|i| i.checked_sub(1))
                    .and_then(|i| rec.traces.get(i))
                    .ok_or_else(|| {
                        ProtocolError::InvalidArgument(format!("no node {}", q.index))
                    })?;
                let blobs = trace
                    .inputs
                    .iter()
                    .map(ValueBlob::from_value)
                    .collect::<Result<Vec<_>>>()?;
                Ok(Some(Message::InputTransfer(InputTransfer {
                    index: q.index,
                    inputs: BoundedVec::new(blobs)?,
                })))
            }
            _ => Ok(None),
        }
    }
}
