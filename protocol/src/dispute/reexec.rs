//! [`Reexec`]: what the referee knows of the job besides the parties' answers — the spec's
//! step graphs, `S_0`, the batches — and how it runs one operator. [`JobReexec`] derives all of
//! it from the [`JobSpec`] alone, through [`StepPlan`], the trainer's own definition of a step.

use pinpoint_kernels::Cpu;
use pinpoint_kernels::graph::{Graph, Op, Value, execute_node};
use pinpoint_train::trainer::StepPlan;
use pinpoint_train::{JobSpec, Trainer};

use crate::error::{ProtocolError, Result};

/// The referee's access to the job's computation, kept behind a trait so the state machine
/// does no I/O. Everything here follows from the public job spec: an implementation must not
/// consult any party's run (the referee takes state-derived data only from the parties'
/// proofs, checked against agreed hashes).
pub trait Reexec {
    /// The graph of step `lo → lo + 1` (with that step's learning rate).
    fn graph(&mut self, lo: u64) -> Result<Graph>;
    /// `h(S_0)`, which follows from the spec.
    fn initial_state_hash(&mut self) -> Result<[u8; 32]>;
    /// The values of the step graph's batch inputs (in graph-input order) for training batch
    /// number `data_cursor`.
    fn batch(&mut self, data_cursor: u64) -> Result<Vec<Value>>;
    /// Runs one operator; the default is [`execute_node`] on [`Cpu::single`].
    fn execute(&mut self, op: &Op, inputs: &[&Value]) -> Result<Vec<Value>> {
        execute_node(&Cpu::single(), op, inputs).map_err(ProtocolError::Reexec)
    }
}

/// A [`Reexec`] built from the job spec (and the text data file for text jobs).
#[derive(Debug)]
pub struct JobReexec {
    plan: StepPlan,
    initial: [u8; 32],
}

impl JobReexec {
    /// Builds the step program and `S_0` of `spec` (`text`: the data file for text jobs).
    ///
    /// Errors: spec, data or kernel errors, as [`ProtocolError::Train`].
    pub fn new(spec: &JobSpec, text: Option<&[u8]>) -> Result<Self> {
        let tr = Trainer::new(spec, text, Cpu::single())?;
        Ok(Self {
            plan: StepPlan::new(spec, text)?,
            initial: tr.state_hash().0,
        })
    }
}

impl Reexec for JobReexec {
    fn graph(&mut self, lo: u64) -> Result<Graph> {
        let t = lo
            .checked_add(1)
            .ok_or_else(|| ProtocolError::InvalidArgument(format!("no step {lo} → {lo}+1")))?;
        self.plan.set_step(t)?;
        Ok(self.plan.graph().clone())
    }

    fn initial_state_hash(&mut self) -> Result<[u8; 32]> {
        Ok(self.initial)
    }

    fn batch(&mut self, data_cursor: u64) -> Result<Vec<Value>> {
        Ok(self.plan.batch(data_cursor)?)
    }
}
