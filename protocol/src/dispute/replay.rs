//! [`Replayer`]: a [`RunSource`] for jobs too large to trace in full. It runs the job once
//! keeping only the state hashes and a checkpoint every `k` steps, and re-runs the one step a
//! dispute asks about, tracing it.

use std::collections::BTreeSet;

use pinpoint_kernels::Cpu;
use pinpoint_kernels::graph::Mode;
use pinpoint_train::{JobSpec, TrainState, Trainer};

use super::record::{RunSource, StepRecord};
use crate::error::{ProtocolError, Result};
use crate::wire::StateManifest;

/// An honest run held as state hashes plus checkpoints (see the module docs).
#[derive(Debug)]
pub struct Replayer {
    spec: JobSpec,
    text: Option<Vec<u8>>,
    cx: Cpu,
    hashes: Vec<[u8; 32]>,
    every: u64,
    /// `S_0, S_k, S_2k, …`.
    checkpoints: Vec<TrainState>,
}

impl Replayer {
    /// Runs `spec` on `cx`, keeping a checkpoint every `every ≥ 1` steps.
    ///
    /// Errors: training errors and `every = 0`, as [`ProtocolError::InvalidArgument`].
    pub fn run(spec: &JobSpec, text: Option<&[u8]>, cx: Cpu, every: u64) -> Result<Self> {
        if every == 0 {
            return Err(ProtocolError::InvalidArgument(
                "checkpoint interval must be ≥ 1".into(),
            ));
        }
        let mut tr = Trainer::new(spec, text, cx.clone())?;
        let mut hashes = vec![tr.state_hash().0];
        let mut checkpoints = vec![tr.state().clone()];
        while !tr.done() {
            let r = tr.step_once(&Mode::Unhashed)?;
            hashes.push(r.hash.0);
            if r.step.is_multiple_of(every) {
                checkpoints.push(tr.state().clone());
            }
        }
        Ok(Self {
            spec: spec.clone(),
            text: text.map(<[u8]>::to_vec),
            cx,
            hashes,
            every,
            checkpoints,
        })
    }
}

impl RunSource for Replayer {
    fn state_hashes(&self) -> &[[u8; 32]] {
        &self.hashes
    }

    fn step_record(&mut self, lo: u64) -> Result<StepRecord> {
        if lo >= self.spec.steps {
            return Err(ProtocolError::InvalidArgument(format!(
                "no step {lo} → {lo}+1"
            )));
        }
        let from = usize::try_from(lo / self.every)
            .ok()
            .and_then(|i| self.checkpoints.get(i))
            .ok_or_else(|| ProtocolError::InvalidArgument(format!("no checkpoint for {lo}")))?;
        let mut tr = Trainer::from_state(
            &self.spec,
            self.text.as_deref(),
            self.cx.clone(),
            from.clone(),
        )?;
        while tr.step() < lo {
            tr.step_once(&Mode::Unhashed)?;
        }
        let before = StateManifest::of(tr.state())?;
        let all: BTreeSet<usize> = (0..tr.step_program().graph().nodes.len()).collect();
        let r = tr.step_once(&Mode::Trace(all))?;
        Ok(StepRecord {
            before,
            graph: tr.step_program().graph().clone(),
            node_hashes: r.node_hashes,
            traces: r.traces,
        })
    }
}
