//! What a party answers from: a [`RunSource`] (the run's state hashes and, on demand, the full
//! record of one step), with [`RunRecord`], a whole run held in memory.

use std::collections::BTreeSet;

use pinpoint_kernels::graph::{Graph, Mode, NodeTrace};
use pinpoint_kernels::{Cpu, TensorHash};
use pinpoint_train::{JobSpec, Trainer};

use crate::codec::BoundedVec;
use crate::error::{ProtocolError, Result};
use crate::merkle::{PrefixChain, StepCommitment};
use crate::wire::{NodeOutputs, StateManifest};

/// What one step `lo → lo + 1` of a run left behind: the manifest of the state it started
/// from, the step graph, every node's output hash and the traced inputs and outputs of every
/// node.
#[derive(Debug, Clone)]
pub struct StepRecord {
    /// The manifest of `S_lo`, the state the step started from.
    pub before: StateManifest,
    /// The step graph (with the step's learning rate).
    pub graph: Graph,
    /// `h(out(v_i))`, `i = 1 … N`.
    pub node_hashes: Vec<TensorHash>,
    /// Every node's inputs and outputs, in node order.
    pub traces: Vec<NodeTrace>,
}

impl StepRecord {
    /// The output hashes of node `i` (0-based): the traced outputs' hashes, except that a
    /// single-output node reports its recorded node hash (so a record whose node hashes were
    /// altered stays self-consistent).
    pub fn outputs_of(&self, i: usize) -> Result<NodeOutputs> {
        let recorded = self
            .node_hashes
            .get(i)
            .ok_or_else(|| ProtocolError::InvalidArgument(format!("no node {i}")))?;
        let hashes = match self.traces.get(i) {
            Some(t) if t.outputs.len() != 1 => t.outputs.iter().map(|v| v.hash().0).collect(),
            _ => vec![recorded.0],
        };
        BoundedVec::new(hashes)
    }
}

/// The data a dispute party answers from.
pub trait RunSource: std::fmt::Debug + Send {
    /// `h(S_0) … h(S_T)` as the party committed them.
    fn state_hashes(&self) -> &[[u8; 32]];
    /// The record of step `lo → lo + 1` (`0 ≤ lo < T`).
    fn step_record(&mut self, lo: u64) -> Result<StepRecord>;
}

/// A whole run in memory: `h(S_0) … h(S_T)` and, for `t = 1 … T`, `steps[t - 1]`.
#[derive(Debug, Clone)]
pub struct RunRecord {
    /// `h(S_t)`, `t = 0 … T`.
    pub state_hashes: Vec<[u8; 32]>,
    /// The record of step `t` at index `t - 1`.
    pub steps: Vec<StepRecord>,
}

impl RunRecord {
    /// Runs `spec` honestly on `Cpu::single()`, tracing every node of every step (meant for
    /// small jobs: tests and the simulator; see [`super::Replayer`] for large ones).
    ///
    /// Errors: training errors, as [`ProtocolError::Train`].
    pub fn honest(spec: &JobSpec, text: Option<&[u8]>) -> Result<Self> {
        Self::honest_on(spec, text, Cpu::single())
    }

    /// [`RunRecord::honest`] on `cpu` (any thread count gives the same record: RepOps).
    ///
    /// Errors: training errors, as [`ProtocolError::Train`].
    pub fn honest_on(spec: &JobSpec, text: Option<&[u8]>, cpu: Cpu) -> Result<Self> {
        let mut tr = Trainer::new(spec, text, cpu)?;
        let mut state_hashes = vec![tr.state_hash().0];
        let mut steps = Vec::new();
        let all: BTreeSet<usize> = (0..tr.step_program().graph().nodes.len()).collect();
        let mode = Mode::Trace(all);
        while !tr.done() {
            let before = StateManifest::of(tr.state())?;
            let r = tr.step_once(&mode)?;
            state_hashes.push(r.hash.0);
            steps.push(StepRecord {
                before,
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
        let rec = self.step(lo)?;
        chain_of(&self.state_hashes, lo, rec)
    }

    /// The record of step `lo → lo + 1`.
    ///
    /// Errors: [`ProtocolError::InvalidArgument`] if there is no such step.
    pub fn step(&self, lo: u64) -> Result<&StepRecord> {
        usize::try_from(lo)
            .ok()
            .and_then(|i| self.steps.get(i))
            .ok_or_else(|| ProtocolError::InvalidArgument(format!("no step {lo} → {lo}+1")))
    }
}

/// The prefix chain of step `lo → lo + 1` of a run with `state_hashes`: `rec`'s node hashes,
/// then `h(S_{lo+1})`, from `h(S_lo)`.
pub(crate) fn chain_of(
    state_hashes: &[[u8; 32]],
    lo: u64,
    rec: &StepRecord,
) -> Result<PrefixChain> {
    let at = |t: u64| {
        usize::try_from(t)
            .ok()
            .and_then(|i| state_hashes.get(i))
            .ok_or_else(|| ProtocolError::InvalidArgument(format!("no state {t}")))
    };
    let mut hashes = rec.node_hashes.clone();
    hashes.push(TensorHash(*at(lo + 1)?));
    PrefixChain::new(at(lo)?, &hashes)
}

impl RunSource for RunRecord {
    fn state_hashes(&self) -> &[[u8; 32]] {
        &self.state_hashes
    }

    fn step_record(&mut self, lo: u64) -> Result<StepRecord> {
        self.step(lo).cloned()
    }
}

impl RunSource for std::sync::Arc<RunRecord> {
    fn state_hashes(&self) -> &[[u8; 32]] {
        &self.state_hashes
    }

    fn step_record(&mut self, lo: u64) -> Result<StepRecord> {
        self.step(lo).cloned()
    }
}
