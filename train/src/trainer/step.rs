//! The one definition of step `t` of a job (see the [`super`] module docs): the step graph with
//! step `t`'s learning rate, and its batch, training batch number `t − 1`.
//!
//! [`StepPlan`] is what the trainer runs, what a verifier recomputes and what a referee
//! re-executes from; nothing else builds a step graph, a learning rate or a batch.

use pinpoint_kernels::graph::{Graph, Value};
use pinpoint_kernels::models::{BatchShape, ModelConfig, TrainStep};
use pinpoint_kernels::optim::OptimConfig;

use crate::data::{Dataset, Split};
use crate::error::TrainError;
use crate::spec::JobSpec;
use crate::trainer::glue::{self, lr_at, model_config, optim_config};

/// The inputs of step `t` besides the state `S_{t−1}`.
#[derive(Debug, Clone, PartialEq)]
pub struct StepInputs {
    /// The step `t` (`1 ≤ t ≤ T`).
    pub t: u64,
    /// Its learning rate, [`lr_at`]`(lr, warmup_steps, t)`.
    pub lr: f32,
    /// The training batch it consumes, `t − 1` (the data cursor of `S_{t−1}`).
    pub data_cursor: u64,
    /// The values of the step graph's batch inputs, in graph-input order.
    pub batch: Vec<Value>,
}

/// The programs of a job's steps, built from its spec: the model, the optimizer, the dataset
/// and the step graph (forward, loss, backward, optimizer).
#[derive(Debug)]
pub struct StepPlan {
    spec: JobSpec,
    dataset: Dataset,
    model: ModelConfig,
    optim: OptimConfig,
    program: TrainStep,
}

impl StepPlan {
    /// The plan of `spec` (`text`: the data file's bytes for text jobs, checked against the
    /// spec's content hash).
    pub fn new(spec: &JobSpec, text: Option<&[u8]>) -> Result<Self, TrainError> {
        let dataset = spec.dataset(text)?;
        let model = model_config(spec);
        let optim = optim_config(spec, spec.optimizer.lr());
        // The number of loss positions is fixed by the dataset; read it off batch 0.
        let probe = dataset.batch(spec.seed, Split::Train, 0, spec.batch_size as usize)?;
        let (_, positions) = glue::train_inputs(probe)?;
        let shape = BatchShape {
            batch: spec.batch_size as usize,
            seq: dataset.seq_len().unwrap_or(0),
            loss_positions: positions,
        };
        let program = TrainStep::new(&model, &optim, &shape)
            .map_err(|e| TrainError::kernel("building the step graph", e))?;
        Ok(Self {
            spec: spec.clone(),
            dataset,
            model,
            optim,
            program,
        })
    }

    /// Step `t`: sets the step graph's learning rate to step `t`'s and returns the step's
    /// inputs. The graph is then [`StepPlan::graph`].
    ///
    /// Errors: `t` outside `1 ..= T` ([`TrainError::Usage`]), data errors.
    pub fn at(&mut self, t: u64) -> Result<StepInputs, TrainError> {
        let lr = self.set_step(t)?;
        let data_cursor = t - 1;
        Ok(StepInputs {
            t,
            lr,
            data_cursor,
            batch: self.batch(data_cursor)?,
        })
    }

    /// Sets the step graph's learning rate to step `t`'s and returns that rate.
    ///
    /// Errors: `t` outside `1 ..= T` ([`TrainError::Usage`]).
    pub fn set_step(&mut self, t: u64) -> Result<f32, TrainError> {
        if t == 0 || t > self.spec.steps {
            return Err(TrainError::Usage(format!(
                "the job has {} steps; there is no step {t}",
                self.spec.steps
            )));
        }
        let lr = lr_at(self.spec.optimizer.lr(), self.spec.schedule.warmup_steps, t);
        self.program.set_lr(lr);
        Ok(lr)
    }

    /// The values of the batch inputs for training batch number `data_cursor`.
    pub fn batch(&self, data_cursor: u64) -> Result<Vec<Value>, TrainError> {
        let b = self.dataset.batch(
            self.spec.seed,
            Split::Train,
            data_cursor,
            self.spec.batch_size as usize,
        )?;
        Ok(glue::train_inputs(b)?.0)
    }

    /// The step graph, with the learning rate of the step last set.
    pub fn graph(&self) -> &Graph {
        self.program.graph()
    }

    /// The step program (its graph as in [`StepPlan::graph`]).
    pub fn program(&self) -> &TrainStep {
        &self.program
    }

    /// The spec's dataset.
    pub fn dataset(&self) -> &Dataset {
        &self.dataset
    }

    /// The model configuration.
    pub fn model(&self) -> &ModelConfig {
        &self.model
    }

    /// The optimizer configuration (with the spec's base learning rate).
    pub fn optim(&self) -> &OptimConfig {
        &self.optim
    }
}
