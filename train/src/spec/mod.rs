//! [`JobSpec`]: everything a training job's computation depends on.
//!
//! A spec is written as TOML ([`LoadedSpec::from_toml_str`], schema in [`file`](mod@file) and
//! `docs/training.md`), parsed with unknown fields rejected, and validated with errors that
//! name the field. Its **canonical encoding** ([`JobSpec::encode`]) is the borsh encoding of
//! [`JobSpec`]: integers little-endian, enums as a `u8` variant index then their fields in
//! declaration order, `Vec` as a `u32` LE length then the items, f32 as its IEEE bit pattern
//! (`u32` LE; NaN impossible, `-0.0` normalized to `+0.0`). Strings do not occur: choices are
//! enums, and the text file is named by its content hash only (its path is a local detail kept
//! in [`LoadedSpec`], outside the hash). The spec hash is
//! `blake3_derive_key("pinpoint 2026 job spec v1", encoding)`.

pub mod file;
mod tiny;

use borsh::{BorshDeserialize, BorshSerialize};

use crate::data::{Addition, Alphabet, Dataset, Sorting, Spirals, TextData};
use crate::digest::Digest;
use crate::error::{DataError, SpecError};

pub use file::LoadedSpec;
pub use tiny::TinyMlp;

/// Domain tag of [`JobSpec::hash`].
pub const SPEC_HASH_CONTEXT: &str = "pinpoint 2026 job spec v1";

/// A validated, canonical job spec. Build it with [`LoadedSpec::from_toml_str`] or
/// [`JobSpec::decode`]; a hand-built value is checked by [`JobSpec::validate`] before it is
/// encoded or hashed.
#[derive(Debug, Clone, PartialEq, BorshSerialize, BorshDeserialize)]
pub struct JobSpec {
    /// Seed of parameter initialization and of the data sampler.
    pub seed: u64,
    /// Number of training steps `T`; the run produces `h(S_0) … h(S_T)`.
    pub steps: u64,
    /// Checkpoint interval `k`: a checkpoint after every step `t` with `t % k == 0`.
    pub checkpoint_every: u64,
    /// Training batch size.
    pub batch_size: u32,
    /// The model architecture.
    pub model: ModelSpec,
    /// The dataset.
    pub data: DataSpec,
    /// The optimizer.
    pub optimizer: OptimizerSpec,
    /// The learning-rate schedule.
    pub schedule: ScheduleSpec,
    /// Evaluation settings.
    pub eval: EvalSpec,
}

/// Model architecture (configuration only). The same type is read from TOML (`kind = "mlp"`
/// or `"transformer"`, unknown fields rejected) and encoded canonically with borsh.
#[derive(
    Debug, Clone, PartialEq, BorshSerialize, BorshDeserialize, serde::Serialize, serde::Deserialize,
)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum ModelSpec {
    /// A multi-layer perceptron classifier.
    Mlp {
        /// Input features.
        input: u32,
        /// Hidden layer widths (may be empty: a linear classifier).
        hidden: Vec<u32>,
        /// Output classes.
        classes: u32,
        /// Activation between layers.
        activation: Activation,
    },
    /// A decoder-only transformer.
    Transformer {
        /// Vocabulary size (embedding rows, output classes).
        vocab: u32,
        /// Context length (position embedding rows).
        context: u32,
        /// Number of blocks.
        layers: u32,
        /// Model width `d`.
        width: u32,
        /// Attention heads (divides `width`).
        heads: u32,
        /// MLP hidden width is `mlp_ratio · width`.
        mlp_ratio: u32,
    },
}

/// Activation function of an MLP.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    BorshSerialize,
    BorshDeserialize,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
#[borsh(use_discriminant = false)]
pub enum Activation {
    /// `max(x, 0)`.
    Relu,
    /// GELU (tanh form).
    Gelu,
    /// `tanh`.
    Tanh,
}

/// The dataset of a job.
#[derive(Debug, Clone, PartialEq, BorshSerialize, BorshDeserialize)]
pub enum DataSpec {
    /// [`Addition`] of `digits`-digit numbers.
    Addition {
        /// Digits per operand.
        digits: u32,
    },
    /// [`Sorting`] of `length` characters.
    Sorting {
        /// String length.
        length: u32,
        /// Characters.
        alphabet: Alphabet,
    },
    /// Windows of a text file ([`TextData`]) named by its blake3 content hash; the window
    /// length is the model's context.
    Text {
        /// Plain blake3 of the file's bytes.
        content_hash: [u8; 32],
    },
    /// [`Spirals`] classification.
    Spirals {
        /// Number of arms = classes.
        classes: u32,
        /// Turns per arm.
        turns: f32,
        /// Standard deviation of the noise.
        noise: f32,
    },
}

/// The optimizer. Exact update formulas live with the optimizer implementation.
#[derive(Debug, Clone, PartialEq, BorshSerialize, BorshDeserialize)]
pub enum OptimizerSpec {
    /// SGD with momentum and (decoupled) weight decay.
    Sgd {
        /// Learning rate.
        lr: f32,
        /// Momentum coefficient in `[0, 1)`.
        momentum: f32,
        /// Weight decay.
        weight_decay: f32,
    },
    /// AdamW.
    AdamW {
        /// Learning rate.
        lr: f32,
        /// First-moment decay in `[0, 1)`.
        beta1: f32,
        /// Second-moment decay in `[0, 1)`.
        beta2: f32,
        /// Denominator epsilon.
        eps: f32,
        /// Decoupled weight decay.
        weight_decay: f32,
    },
}

impl OptimizerSpec {
    /// The peak learning rate.
    pub fn lr(&self) -> f32 {
        match self {
            OptimizerSpec::Sgd { lr, .. } | OptimizerSpec::AdamW { lr, .. } => *lr,
        }
    }
}

/// Learning-rate schedule: linear warmup over `warmup_steps` steps, then constant (exact
/// formula: [`crate::trainer::lr_at`]). `warmup_steps` may exceed `steps`: the rate
/// then never reaches its peak, and a run shortened with `--steps` keeps the numerics of the
/// full job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, BorshSerialize, BorshDeserialize)]
pub struct ScheduleSpec {
    /// Warmup steps (0: none).
    pub warmup_steps: u64,
}

/// Evaluation settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct EvalSpec {
    /// Evaluate after every step `t` with `t % every == 0`, and after the last step.
    pub every: u64,
    /// Eval batches per evaluation (eval batch `i` is batch `i` of the eval split).
    pub batches: u32,
    /// Eval batch size.
    pub batch_size: u32,
}

/// Largest `steps`.
pub const MAX_STEPS: u64 = 1_000_000_000;
/// Largest batch size (train and eval).
pub const MAX_BATCH_SIZE: u32 = 65_536;

fn range<T: PartialOrd + std::fmt::Display + Copy>(
    field: &str,
    v: T,
    lo: T,
    hi: T,
) -> Result<(), SpecError> {
    if v < lo || v > hi {
        return Err(SpecError::invalid(
            field,
            format!("{v} is outside {lo}..={hi}"),
        ));
    }
    Ok(())
}

/// `lo < v ≤ hi` (or `lo ≤ v` with `closed_lo`), finite, and not `-0.0`.
fn real(field: &str, v: f32, lo: f32, closed_lo: bool, hi: f32) -> Result<(), SpecError> {
    let above = if closed_lo { v >= lo } else { v > lo };
    if !v.is_finite() || !above || v > hi {
        let open = if closed_lo { "[" } else { "(" };
        return Err(SpecError::invalid(
            field,
            format!("{v} is outside {open}{lo}, {hi}]"),
        ));
    }
    if v.to_bits() == (-0.0f32).to_bits() {
        return Err(SpecError::invalid(field, "-0.0 is not canonical (write 0)"));
    }
    Ok(())
}

/// `0 ≤ v < 1`.
fn unit(field: &str, v: f32) -> Result<(), SpecError> {
    real(field, v, 0.0, true, 1.0)?;
    if v == 1.0 {
        return Err(SpecError::invalid(field, "1 is outside [0, 1)"));
    }
    Ok(())
}

fn data_err(field: &str, e: DataError) -> SpecError {
    SpecError::invalid(field, e.to_string())
}

impl JobSpec {
    /// Checks every range and the consistency of model and data. Errors name the field.
    pub fn validate(&self) -> Result<(), SpecError> {
        range("steps", self.steps, 1, MAX_STEPS)?;
        range("checkpoint_every", self.checkpoint_every, 1, self.steps)?;
        range("batch_size", self.batch_size, 1, MAX_BATCH_SIZE)?;
        range(
            "schedule.warmup_steps",
            self.schedule.warmup_steps,
            0,
            MAX_STEPS,
        )?;
        range("eval.every", self.eval.every, 1, self.steps)?;
        range("eval.batches", self.eval.batches, 1, 100_000)?;
        range("eval.batch_size", self.eval.batch_size, 1, MAX_BATCH_SIZE)?;
        self.validate_model()?;
        self.validate_optimizer()?;
        self.validate_data()
    }

    fn validate_model(&self) -> Result<(), SpecError> {
        match &self.model {
            ModelSpec::Mlp {
                input,
                hidden,
                classes,
                ..
            } => {
                range("model.input", *input, 1, 1 << 16)?;
                range("model.classes", *classes, 2, 1 << 16)?;
                range("model.hidden (number of layers)", hidden.len(), 0, 32)?;
                for (i, h) in hidden.iter().enumerate() {
                    range(&format!("model.hidden[{i}]"), *h, 1, 1 << 16)?;
                }
            }
            ModelSpec::Transformer {
                vocab,
                context,
                layers,
                width,
                heads,
                mlp_ratio,
            } => {
                range("model.vocab", *vocab, 2, 1 << 16)?;
                range("model.context", *context, 1, 4096)?;
                range("model.layers", *layers, 1, 64)?;
                range("model.width", *width, 1, 8192)?;
                range("model.heads", *heads, 1, *width)?;
                if width % heads != 0 {
                    return Err(SpecError::invalid(
                        "model.heads",
                        format!("width {width} is not a multiple of {heads} heads"),
                    ));
                }
                range("model.mlp_ratio", *mlp_ratio, 1, 16)?;
            }
        }
        Ok(())
    }

    fn validate_optimizer(&self) -> Result<(), SpecError> {
        match self.optimizer {
            OptimizerSpec::Sgd {
                lr,
                momentum,
                weight_decay,
            } => {
                real("optimizer.lr", lr, 0.0, false, 10.0)?;
                unit("optimizer.momentum", momentum)?;
                real("optimizer.weight_decay", weight_decay, 0.0, true, 10.0)?;
            }
            OptimizerSpec::AdamW {
                lr,
                beta1,
                beta2,
                eps,
                weight_decay,
            } => {
                real("optimizer.lr", lr, 0.0, false, 10.0)?;
                unit("optimizer.beta1", beta1)?;
                unit("optimizer.beta2", beta2)?;
                real("optimizer.eps", eps, 0.0, false, 1.0)?;
                real("optimizer.weight_decay", weight_decay, 0.0, true, 10.0)?;
            }
        }
        Ok(())
    }

    /// Checks the data parameters and that the model fits the data: token data needs a
    /// transformer whose vocabulary covers the data's ids and whose context holds a row;
    /// spirals need an MLP with 2 inputs and one class per arm.
    fn validate_data(&self) -> Result<(), SpecError> {
        let (need_vocab, need_context) = match &self.data {
            DataSpec::Addition { digits } => {
                let d = Addition::new(*digits).map_err(|e| data_err("data.digits", e))?;
                (Addition::VOCAB, d.seq_len())
            }
            DataSpec::Sorting { length, alphabet } => {
                let d = Sorting::new(*length, *alphabet).map_err(|e| data_err("data.length", e))?;
                (d.vocab_size(), d.seq_len())
            }
            DataSpec::Text { .. } => (TextData::VOCAB, 1),
            DataSpec::Spirals {
                classes,
                turns,
                noise,
            } => {
                real("data.turns", *turns, 0.0, false, 8.0)?;
                real("data.noise", *noise, 0.0, true, 1.0)?;
                Spirals::new(*classes, *turns, *noise).map_err(|e| data_err("data.classes", e))?;
                let ModelSpec::Mlp {
                    input,
                    classes: model_classes,
                    ..
                } = &self.model
                else {
                    return Err(SpecError::invalid(
                        "data.kind",
                        "spirals data needs an mlp model",
                    ));
                };
                if *input as usize != Spirals::DIM {
                    return Err(SpecError::invalid(
                        "model.input",
                        format!("spirals points have {} features, not {input}", Spirals::DIM),
                    ));
                }
                if model_classes != classes {
                    return Err(SpecError::invalid(
                        "model.classes",
                        format!("{model_classes} classes, but the data has {classes} arms"),
                    ));
                }
                return Ok(());
            }
        };
        let ModelSpec::Transformer { vocab, context, .. } = &self.model else {
            return Err(SpecError::invalid(
                "data.kind",
                "token data (addition, sorting, text) needs a transformer model",
            ));
        };
        if *vocab < need_vocab {
            return Err(SpecError::invalid(
                "model.vocab",
                format!("{vocab} is smaller than the {need_vocab} token ids the data uses"),
            ));
        }
        if (*context as usize) < need_context {
            return Err(SpecError::invalid(
                "model.context",
                format!("{context} is shorter than the data's rows of {need_context} tokens"),
            ));
        }
        Ok(())
    }

    /// The canonical encoding (module docs), after validation.
    pub fn encode(&self) -> Result<Vec<u8>, SpecError> {
        self.validate()?;
        borsh::to_vec(self).map_err(|e| SpecError::Decode(e.to_string()))
    }

    /// Decodes a canonical encoding. Rejects short input, bad tags, trailing bytes, invalid
    /// values, and any input that does not re-encode to the same bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self, SpecError> {
        let spec: JobSpec =
            borsh::from_slice(bytes).map_err(|e| SpecError::Decode(e.to_string()))?;
        if spec.encode()? != bytes {
            return Err(SpecError::NonCanonical);
        }
        Ok(spec)
    }

    /// `blake3_derive_key(SPEC_HASH_CONTEXT, encode())`.
    pub fn hash(&self) -> Result<Digest, SpecError> {
        Ok(Digest::derive(SPEC_HASH_CONTEXT, &self.encode()?))
    }

    /// The dataset of this spec. Text data needs the file's bytes, whose content hash must be
    /// the spec's; other datasets ignore `text`.
    pub fn dataset(&self, text: Option<&[u8]>) -> Result<Dataset, DataError> {
        Ok(match &self.data {
            DataSpec::Addition { digits } => Dataset::Addition(Addition::new(*digits)?),
            DataSpec::Sorting { length, alphabet } => {
                Dataset::Sorting(Sorting::new(*length, *alphabet)?)
            }
            DataSpec::Spirals {
                classes,
                turns,
                noise,
            } => Dataset::Spirals(Spirals::new(*classes, *turns, *noise)?),
            DataSpec::Text { content_hash } => {
                let bytes = text.ok_or_else(|| {
                    DataError::BadConfig("text data needs the file's bytes".to_string())
                })?;
                let context = match self.model {
                    ModelSpec::Transformer { context, .. } => context as usize,
                    ModelSpec::Mlp { .. } => 0,
                };
                Dataset::Text(TextData::new(bytes, context, Some(Digest(*content_hash)))?)
            }
        })
    }
}

#[cfg(test)]
mod tests;
