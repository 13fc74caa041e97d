//! The trainer: a [`JobSpec`] turned into a sequence of states `S_0 → S_1 → … → S_T`.
//!
//! Pure logic: no files and no clock ([`crate::fs::run`] adds the run directory, callers
//! measure time).
//!
//! **`S_0`** = step 0, data cursor 0, parameters from [`init_params`] with the spec's seed,
//! optimizer state from [`init_optim`].
//!
//! **Step `t`** (`1 ≤ t ≤ T`) maps `S_{t−1}` to `S_t`, and depends on nothing else than
//! `(spec, S_{t−1})`:
//! 1. the batch is training batch number `c = S_{t−1}.data_cursor` (`= t − 1`) of the spec's
//!    dataset, `Dataset::batch(seed, Train, c, batch_size)`: a pure function of `(seed, t)`;
//! 2. the learning rate is [`lr_at`]`(lr, warmup_steps, t)`, written as the `lr` attribute of
//!    every optimizer node of the step graph (so the graph of step `t` is a function of
//!    `(spec, t)`);
//! 3. the step graph ([`TrainStep`]: forward, loss, backward, optimizer) runs on the
//!    parameters and optimizer state of `S_{t−1}` and the batch;
//! 4. `S_t` = (step `t`, new parameters, new optimizer state, data cursor `c + 1`).
//!
//! The **data cursor** of `S_t` is the index of the next training batch the job will consume:
//! `t` for every dataset here (batch `c` is computed from `(seed, c)` alone, there is no
//! sampler state to carry). A NaN or infinity in `S_t` stops the job with
//! [`TrainError::NonFinite`]; such a state is never hashed.

pub mod eval;
pub mod glue;
pub mod step;

use crate::digest::Digest;
use crate::error::TrainError;
use crate::spec::JobSpec;
use crate::state::TrainState;
use pinpoint_kernels::Cpu;
use pinpoint_kernels::graph::{Mode, NodeTrace, Value};
use pinpoint_kernels::models::{ModelConfig, TrainStep, init_optim, init_params};
use pinpoint_kernels::optim::OptimConfig;
use pinpoint_kernels::tensor::{Tensor, TensorHash};

pub use eval::{EvalReport, Evaluator};
pub use glue::{lr_at, model_config, optim_config};
pub use step::{StepInputs, StepPlan};

/// What one step returns.
#[derive(Debug, Clone, PartialEq)]
pub struct StepReport {
    /// The step `t` just taken (the state is now `S_t`).
    pub step: u64,
    /// The batch loss computed by step `t` (before the update).
    pub loss: f32,
    /// The learning rate of step `t`.
    pub lr: f32,
    /// `h(S_t)`.
    pub hash: Digest,
    /// `h(out(v_i))` of every node of the step graph, in node order (empty when the step ran
    /// in [`Mode::Unhashed`], as a trainer's steps outside a dispute do).
    pub node_hashes: Vec<TensorHash>,
    /// Traced nodes (when asked for with [`Mode::Trace`]).
    pub traces: Vec<NodeTrace>,
}

/// A job in memory: the programs built from its spec and the current state `S_t`.
#[derive(Debug)]
pub struct Trainer {
    spec: JobSpec,
    spec_hash: Digest,
    cx: Cpu,
    /// The definition of every step: graph, learning rate, batch.
    plan: StepPlan,
    /// For each position in the sorted parameter list, the parameter's model-order index.
    param_rank: Vec<(String, usize)>,
    /// Same for the optimizer state.
    optim_rank: Vec<(String, usize)>,
    evaluator: Evaluator,
    state: TrainState,
    hash: Digest,
}

fn ranks(names: impl Iterator<Item = String>) -> Vec<(String, usize)> {
    let mut v: Vec<(String, usize)> = names.enumerate().map(|(i, n)| (n, i)).collect();
    v.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    v
}

/// Moves a sorted section into model order (`rank` from [`ranks`]).
fn to_model_order(
    sorted: Vec<(String, Tensor)>,
    rank: &[(String, usize)],
) -> Vec<(String, Tensor)> {
    let mut tagged: Vec<(usize, (String, Tensor))> = rank.iter().map(|r| r.1).zip(sorted).collect();
    tagged.sort_by_key(|t| t.0);
    tagged.into_iter().map(|t| t.1).collect()
}

fn to_sorted(mut list: Vec<(String, Tensor)>) -> Vec<(String, Tensor)> {
    list.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    list
}

impl Trainer {
    /// The job at `S_0`. `text` is the data file's bytes for text data (checked against the
    /// spec's content hash), ignored otherwise.
    pub fn new(spec: &JobSpec, text: Option<&[u8]>, cx: Cpu) -> Result<Self, TrainError> {
        let model = model_config(spec);
        let optim = optim_config(spec, spec.optimizer.lr());
        let state = TrainState::new(
            0,
            init_params(&model, spec.seed),
            init_optim(&model, &optim),
            0,
        )?;
        Self::from_state(spec, text, cx, state)
    }

    /// The job at a given state (e.g. loaded from a checkpoint). The state's tensor names and
    /// shapes must be those of the spec's model and optimizer, and its step at most `T`.
    pub fn from_state(
        spec: &JobSpec,
        text: Option<&[u8]>,
        cx: Cpu,
        state: TrainState,
    ) -> Result<Self, TrainError> {
        let spec_hash = spec.hash()?;
        let plan = StepPlan::new(spec, text)?;
        let (model, optim) = (plan.model(), plan.optim());
        check_layout(model, optim, &state)?;
        if state.step > spec.steps {
            return Err(TrainError::Layout(format!(
                "state is at step {} but the job has {} steps",
                state.step, spec.steps
            )));
        }
        let param_rank = ranks(model.param_specs().into_iter().map(|p| p.name));
        let optim_rank = ranks(
            optim
                .state_layout(
                    &model
                        .param_specs()
                        .into_iter()
                        .map(|p| (p.name, p.shape))
                        .collect::<Vec<_>>(),
                )
                .into_iter()
                .map(|l| l.0),
        );
        let evaluator = Evaluator::new(spec, plan.dataset(), model)?;
        let hash = state.hash()?;
        Ok(Self {
            spec: spec.clone(),
            spec_hash,
            cx,
            plan,
            param_rank,
            optim_rank,
            evaluator,
            state,
            hash,
        })
    }

    /// The spec.
    pub fn spec(&self) -> &JobSpec {
        &self.spec
    }

    /// The spec hash.
    pub fn spec_hash(&self) -> Digest {
        self.spec_hash
    }

    /// The model configuration.
    pub fn model(&self) -> &ModelConfig {
        self.plan.model()
    }

    /// The step program (its graph is that of the last step taken, or of step 1 before any).
    pub fn step_program(&self) -> &TrainStep {
        self.plan.program()
    }

    /// The step definition ([`StepPlan`]).
    pub fn plan(&self) -> &StepPlan {
        &self.plan
    }

    /// The values of the state inputs of the step graph: the parameters, then the optimizer
    /// state, each in model order (the batch inputs follow them in the graph).
    pub fn state_inputs(&self) -> Vec<Value> {
        let params = to_model_order(self.state.params.clone(), &self.param_rank);
        let optim = to_model_order(self.state.optim.clone(), &self.optim_rank);
        params
            .into_iter()
            .chain(optim)
            .map(|(_, t)| Value::F32(t))
            .collect()
    }

    /// The current state `S_t`.
    pub fn state(&self) -> &TrainState {
        &self.state
    }

    /// The current step `t`.
    pub fn step(&self) -> u64 {
        self.state.step
    }

    /// `h(S_t)` of the current state.
    pub fn state_hash(&self) -> Digest {
        self.hash
    }

    /// True when the state is `S_T`.
    pub fn done(&self) -> bool {
        self.state.step >= self.spec.steps
    }

    /// The parameters in the model's order (names as in [`ModelConfig::param_specs`]).
    pub fn params_in_model_order(&self) -> Vec<(String, Tensor)> {
        to_model_order(self.state.params.clone(), &self.param_rank)
    }

    /// Takes step `t = step() + 1`: `S_{t−1} → S_t` (module docs). `mode` chooses which node
    /// values to keep ([`Mode::Trace`]). On error the state is unchanged.
    pub fn step_once(&mut self, mode: &Mode) -> Result<StepReport, TrainError> {
        let t = self.state.step + 1;
        let StepInputs {
            lr,
            data_cursor,
            batch: inputs,
            ..
        } = self.plan.at(t)?;
        if data_cursor != self.state.data_cursor {
            return Err(TrainError::Layout(format!(
                "state S_{} has data cursor {}, step {t} consumes batch {data_cursor}",
                self.state.step, self.state.data_cursor
            )));
        }
        let mut params = to_model_order(std::mem::take(&mut self.state.params), &self.param_rank);
        let mut optim = to_model_order(std::mem::take(&mut self.state.optim), &self.optim_rank);
        let result = self
            .plan
            .program()
            .step(&self.cx, &mut params, &mut optim, &inputs, mode);
        self.state.params = to_sorted(params);
        self.state.optim = to_sorted(optim);
        let out = result.map_err(|e| match e {
            pinpoint_kernels::KernelError::NonFinite { .. } => TrainError::NonFinite {
                step: t,
                detail: e.to_string(),
            },
            e => TrainError::kernel(format!("step {t}"), e),
        })?;
        self.state.step = t;
        self.state.data_cursor += 1;
        self.hash = self.state.hash()?;
        Ok(StepReport {
            step: t,
            loss: out.loss,
            lr,
            hash: self.hash,
            node_hashes: out.node_hashes,
            traces: out.traces,
        })
    }

    /// Evaluates the current parameters on the held-out split ([`Evaluator`]).
    pub fn evaluate(&self) -> Result<EvalReport, TrainError> {
        self.evaluator.evaluate(
            &self.cx,
            self.plan.dataset(),
            self.spec.seed,
            self.state.step,
            &self.params_in_model_order(),
        )
    }

    /// True when an evaluation is due after step `t`: `t % eval.every == 0` or `t = T`.
    pub fn eval_due(&self, t: u64) -> bool {
        t > 0 && (t.is_multiple_of(self.spec.eval.every) || t == self.spec.steps)
    }

    /// True when a checkpoint is due after step `t`: `t % checkpoint_every == 0` or `t = T`.
    pub fn checkpoint_due(&self, t: u64) -> bool {
        t > 0 && (t.is_multiple_of(self.spec.checkpoint_every) || t == self.spec.steps)
    }
}

/// Checks that a state's names and shapes are those of the model and optimizer.
fn check_layout(
    model: &ModelConfig,
    optim: &OptimConfig,
    state: &TrainState,
) -> Result<(), TrainError> {
    let params: Vec<(String, Vec<usize>)> = model
        .param_specs()
        .into_iter()
        .map(|p| (p.name, p.shape))
        .collect();
    let layout = optim.state_layout(&params);
    for (what, want, got) in [
        ("parameter", params, &state.params),
        ("optimizer tensor", layout, &state.optim),
    ] {
        let want = {
            let mut w = want;
            w.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            w
        };
        if want.len() != got.len() {
            return Err(TrainError::Layout(format!(
                "{} {what}s expected, the state has {}",
                want.len(),
                got.len()
            )));
        }
        for ((wn, ws), (gn, gt)) in want.iter().zip(got) {
            if wn != gn || ws.as_slice() != gt.shape() {
                return Err(TrainError::Layout(format!(
                    "{what} {wn:?} {ws:?} expected, the state has {gn:?} {:?}",
                    gt.shape()
                )));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
