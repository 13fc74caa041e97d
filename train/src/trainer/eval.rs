//! Held-out evaluation: the forward-only [`Inference`] program on the eval split.
//!
//! An evaluation uses eval batches `0 … eval.batches − 1` of the eval split (the same batches
//! at every evaluation, so the numbers are comparable along a run), each of `eval.batch_size`
//! rows. Predictions are the row-wise argmax of the logits ([`argmax_rows`]: lowest index on
//! ties), i.e. teacher-forced greedy predictions for token tasks.
//!
//! Metrics: token tasks report **exact match** (a row is right when every counted target is)
//! as the main metric and token accuracy beside it; the classification task reports accuracy.

use serde::{Deserialize, Serialize};

use crate::data::{Accuracy, Batch, Dataset, Split};
use crate::error::TrainError;
use crate::spec::JobSpec;
use crate::trainer::glue::{argmax_rows, inference_inputs};
use pinpoint_kernels::Cpu;
use pinpoint_kernels::models::{BatchShape, Inference, ModelConfig};
use pinpoint_kernels::tensor::Tensor;

/// The result of one evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    /// The step `t` of the evaluated state `S_t`.
    pub step: u64,
    /// `"exact_match"` (token tasks) or `"accuracy"` (classification).
    pub metric: String,
    /// Rows (or examples) right.
    pub correct: u64,
    /// Rows (or examples) evaluated.
    pub total: u64,
    /// `correct / total`.
    pub value: f64,
    /// Token tasks: the fraction of counted target tokens predicted right.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_accuracy: Option<f64>,
}

/// The eval program of a job.
#[derive(Debug, Clone)]
pub struct Evaluator {
    program: Inference,
    batches: u32,
    batch_size: usize,
}

impl Evaluator {
    /// Builds the inference graph for the spec's eval batch size.
    pub fn new(spec: &JobSpec, dataset: &Dataset, model: &ModelConfig) -> Result<Self, TrainError> {
        let shape = BatchShape {
            batch: spec.eval.batch_size as usize,
            seq: dataset.seq_len().unwrap_or(0),
            loss_positions: 0,
        };
        let program = Inference::new(model, &shape)
            .map_err(|e| TrainError::kernel("building the eval graph", e))?;
        Ok(Self {
            program,
            batches: spec.eval.batches,
            batch_size: spec.eval.batch_size as usize,
        })
    }

    /// Evaluates `params` (model order) as the parameters of `S_step`.
    pub fn evaluate(
        &self,
        cx: &Cpu,
        dataset: &Dataset,
        seed: u64,
        step: u64,
        params: &[(String, Tensor)],
    ) -> Result<EvalReport, TrainError> {
        let mut main = Accuracy::default();
        let mut tokens = Accuracy::default();
        let mut is_tokens = false;
        for i in 0..u64::from(self.batches) {
            let batch = dataset.batch(seed, Split::Eval, i, self.batch_size)?;
            let logits = self
                .program
                .logits(cx, params, &inference_inputs(&batch)?)
                .map_err(|e| TrainError::kernel(format!("evaluation at step {step}"), e))?;
            let predicted = argmax_rows(&logits);
            match &batch {
                Batch::Tokens(b) => {
                    is_tokens = true;
                    main = main.merge(b.exact_match(&predicted)?);
                    tokens = tokens.merge(b.token_accuracy(&predicted)?);
                }
                Batch::Points(b) => main = main.merge(b.accuracy(&predicted)?),
            }
        }
        Ok(EvalReport {
            step,
            metric: if is_tokens { "exact_match" } else { "accuracy" }.to_string(),
            correct: main.correct,
            total: main.total,
            value: main.fraction(),
            token_accuracy: is_tokens.then(|| tokens.fraction()),
        })
    }
}
