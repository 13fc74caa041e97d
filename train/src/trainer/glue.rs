//! The glue between a [`JobSpec`] and the graph programs: spec → model and optimizer
//! configurations, the learning-rate schedule, and batches → graph input values.

use crate::data::{Batch, PointBatch, TokenBatch};
use crate::error::TrainError;
use crate::spec::{Activation, JobSpec, ModelSpec, OptimizerSpec};
use pinpoint_kernels::graph::{Ids, Value};
use pinpoint_kernels::models::ModelConfig;
use pinpoint_kernels::models::mlp::{self, MlpConfig};
use pinpoint_kernels::models::transformer::TransformerConfig;
use pinpoint_kernels::optim::{AdamWHyper, OptimConfig, SgdHyper};
use pinpoint_kernels::tensor::Tensor;

/// Standard deviation of the transformer's normal initializations (not a spec field).
pub const TRANSFORMER_INIT_STD: f32 = 0.02;
/// Layer-norm epsilon of the transformer (not a spec field; f32 nearest to `1e-5`).
pub const TRANSFORMER_LN_EPS: f32 = 1e-5;

/// The model configuration of a spec. The transformer uses [`TRANSFORMER_INIT_STD`] and
/// [`TRANSFORMER_LN_EPS`]; the MLP's activation maps `relu → Relu`, `gelu → GeluTanh`,
/// `tanh → Tanh`.
pub fn model_config(spec: &JobSpec) -> ModelConfig {
    match &spec.model {
        ModelSpec::Mlp {
            input,
            hidden,
            classes,
            activation,
        } => ModelConfig::Mlp(MlpConfig {
            input_dim: *input as usize,
            hidden: hidden.iter().map(|&h| h as usize).collect(),
            classes: *classes as usize,
            activation: match activation {
                Activation::Relu => mlp::Activation::Relu,
                Activation::Gelu => mlp::Activation::Gelu,
                Activation::Tanh => mlp::Activation::Tanh,
            },
        }),
        ModelSpec::Transformer {
            vocab,
            context,
            layers,
            width,
            heads,
            mlp_ratio,
        } => ModelConfig::Transformer(TransformerConfig {
            vocab: *vocab as usize,
            context: *context as usize,
            layers: *layers as usize,
            width: *width as usize,
            heads: *heads as usize,
            mlp_ratio: *mlp_ratio as usize,
            init_std: TRANSFORMER_INIT_STD,
            ln_eps: TRANSFORMER_LN_EPS,
        }),
    }
}

/// The optimizer configuration of a spec, with learning rate `lr` (see [`lr_at`]).
pub fn optim_config(spec: &JobSpec, lr: f32) -> OptimConfig {
    match spec.optimizer {
        OptimizerSpec::Sgd {
            momentum,
            weight_decay,
            ..
        } => OptimConfig::Sgd(SgdHyper {
            lr,
            momentum,
            weight_decay,
        }),
        OptimizerSpec::AdamW {
            beta1,
            beta2,
            eps,
            weight_decay,
            ..
        } => OptimConfig::AdamW(AdamWHyper {
            lr,
            beta1,
            beta2,
            eps,
            weight_decay,
        }),
    }
}

/// The learning rate of step `t` (`t ≥ 1`, the step `S_{t−1} → S_t`) with peak `lr` and
/// `warmup` warmup steps: `lr` when `warmup = 0` or `t ≥ warmup`, else
/// `(lr · f32(t)) / f32(warmup)` in f32, each operation rounded to nearest-even, where
/// `f32(n)` is the u64 → f32 conversion rounding to nearest-even. So the rate rises linearly
/// from `lr/warmup` at step 1 to exactly `lr` at step `warmup`, then stays there.
pub fn lr_at(lr: f32, warmup: u64, t: u64) -> f32 {
    if warmup == 0 || t >= warmup {
        lr
    } else {
        (lr * t as f32) / warmup as f32
    }
}

/// Graph input values of a training batch, in [`ModelConfig::batch_inputs`] order, and the
/// number of loss positions `P`.
///
/// Token batches give `tokens` u32 `[B, T]`, `positions` u32 `[P]` and `targets` u32 `[P]`:
/// the counted positions (mask `≠ 0`) in row-major order, `positions[k] = r·T + i` and
/// `targets[k] = targets[r, i]`. Point batches give `x` f32 `[B, D]` and `y` u32 `[B]`.
pub fn train_inputs(batch: Batch) -> Result<(Vec<Value>, usize), TrainError> {
    let ids = |shape: &[usize], data: Vec<u32>| {
        Ids::new(shape, data)
            .map(Value::U32)
            .map_err(|e| TrainError::kernel("batch", e))
    };
    match batch {
        Batch::Tokens(b) => {
            let TokenBatch {
                batch,
                len,
                tokens,
                targets,
                mask,
            } = b;
            let mut positions = Vec::new();
            let mut picked = Vec::new();
            for (k, (&m, &t)) in mask.iter().zip(&targets).enumerate() {
                if m != 0.0 {
                    positions.push(k as u32);
                    picked.push(t);
                }
            }
            let p = positions.len();
            Ok((
                vec![
                    ids(&[batch, len], tokens)?,
                    ids(&[p], positions)?,
                    ids(&[p], picked)?,
                ],
                p,
            ))
        }
        Batch::Points(PointBatch { inputs, labels }) => {
            let n = labels.len();
            Ok((vec![Value::F32(inputs), ids(&[n], labels)?], n))
        }
    }
}

/// Graph input values of an inference batch ([`ModelConfig::inference_inputs`] order):
/// `tokens` or `x`.
pub fn inference_inputs(batch: &Batch) -> Result<Vec<Value>, TrainError> {
    Ok(match batch {
        Batch::Tokens(b) => vec![Value::U32(
            Ids::new(&[b.batch, b.len], b.tokens.clone())
                .map_err(|e| TrainError::kernel("eval batch", e))?,
        )],
        Batch::Points(b) => vec![Value::F32(b.inputs.clone())],
    })
}

/// Row-wise argmax of a `[.., n]` tensor: per row of `n` elements the index of the largest,
/// the lowest index on ties (strict `>` scanning upwards). NaN never wins.
pub fn argmax_rows(logits: &Tensor) -> Vec<u32> {
    let n = logits.shape().last().copied().unwrap_or(1).max(1);
    logits
        .data()
        .chunks(n)
        .map(|row| {
            let mut best = 0usize;
            for (i, &v) in row.iter().enumerate().skip(1) {
                if v > row[best] || row[best].is_nan() {
                    best = i;
                }
            }
            best as u32
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warmup_is_linear_and_reaches_the_peak_exactly() {
        assert_eq!(lr_at(0.002, 0, 1), 0.002);
        assert_eq!(lr_at(0.002, 100, 100), 0.002);
        assert_eq!(lr_at(0.002, 100, 5000), 0.002);
        assert_eq!(lr_at(0.002, 100, 1), (0.002f32 * 1.0) / 100.0);
        assert_eq!(lr_at(0.002, 100, 50), (0.002f32 * 50.0) / 100.0);
        assert!(lr_at(0.002, 100, 99) < 0.002);
    }

    #[test]
    fn argmax_takes_the_first_maximum() {
        let t = Tensor::new(&[2, 3], vec![1.0, 3.0, 3.0, f32::NAN, -1.0, 0.5]).unwrap();
        assert_eq!(argmax_rows(&t), vec![1, 2]);
    }

    #[test]
    fn token_mask_becomes_positions_and_targets() {
        let b = TokenBatch::from_sequences(&[vec![1, 2, 3, 4], vec![5, 6, 7, 8]], 1);
        let (v, p) = train_inputs(Batch::Tokens(b)).unwrap();
        assert_eq!(p, 4);
        assert_eq!(v[1], Value::U32(Ids::new(&[4], vec![1, 2, 4, 5]).unwrap()));
        assert_eq!(v[2], Value::U32(Ids::new(&[4], vec![3, 4, 7, 8]).unwrap()));
    }
}
