//! The TOML form of a job spec: serde structs with unknown fields rejected, and their
//! conversion to and from the canonical [`JobSpec`].
//!
//! ```toml
//! seed = 1                      # u64 (TOML integers: 0 ..= 2⁶³ − 1)
//! steps = 3000                  # T
//! checkpoint_every = 500        # k
//! batch_size = 32
//!
//! [model]                       # kind = "transformer" | "mlp"
//! kind = "transformer"
//! vocab = 15
//! context = 17
//! layers = 2
//! width = 128
//! heads = 4
//! mlp_ratio = 4
//! # mlp: input = 2, hidden = [64, 64], classes = 3, activation = "relu" | "gelu" | "tanh"
//!
//! [data]                        # kind = "addition" | "sorting" | "text" | "spirals"
//! kind = "addition"
//! digits = 5
//! # sorting: length = 6, alphabet = "digits" | "letters"
//! # text: path = "corpus.txt", blake3 = "<64 hex>"
//! # spirals: classes = 3, turns = 1.5, noise = 0.05
//!
//! [optimizer]                   # kind = "adamw" | "sgd"
//! kind = "adamw"
//! lr = 0.002
//! beta1 = 0.9
//! beta2 = 0.98
//! eps = 1e-8
//! weight_decay = 0.01
//! # sgd: lr, momentum, weight_decay
//!
//! [schedule]                    # optional; default warmup_steps = 0
//! warmup_steps = 100
//!
//! [eval]
//! every = 500
//! batches = 4
//! batch_size = 256
//! ```
//!
//! Real numbers are read as the nearest f64, then rounded to the nearest f32 (`-0` becomes
//! `+0`); integers may be written for them.

use serde::{Deserialize, Serialize};

use crate::data::Alphabet;
use crate::digest::Digest;
use crate::error::SpecError;
use crate::spec::{DataSpec, EvalSpec, JobSpec, ModelSpec, OptimizerSpec, ScheduleSpec};

/// A spec as read from TOML: the canonical spec plus what is local to this machine.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedSpec {
    /// The validated canonical spec.
    pub spec: JobSpec,
    /// For text data: the file path as written in the TOML (the caller resolves it, e.g.
    /// relative to the spec file's directory). Not part of the spec hash.
    pub text_path: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSpec {
    seed: u64,
    steps: u64,
    checkpoint_every: u64,
    batch_size: u32,
    model: ModelSpec,
    data: RawData,
    optimizer: RawOptimizer,
    #[serde(default)]
    schedule: RawSchedule,
    eval: RawEval,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
enum RawData {
    Addition {
        digits: u32,
    },
    Sorting {
        length: u32,
        alphabet: Alphabet,
    },
    Text {
        path: String,
        blake3: String,
    },
    Spirals {
        classes: u32,
        turns: f64,
        noise: f64,
    },
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
enum RawOptimizer {
    Sgd {
        lr: f64,
        momentum: f64,
        weight_decay: f64,
    },
    Adamw {
        lr: f64,
        beta1: f64,
        beta2: f64,
        eps: f64,
        weight_decay: f64,
    },
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSchedule {
    #[serde(default)]
    warmup_steps: u64,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEval {
    every: u64,
    batches: u32,
    batch_size: u32,
}

/// f64 → nearest f32, `-0` → `+0`.
fn real(v: f64) -> f32 {
    let x = v as f32;
    if x == 0.0 { 0.0 } else { x }
}

impl LoadedSpec {
    /// Parses and validates a TOML spec. Errors: [`SpecError::Toml`] for bad TOML, missing,
    /// unknown or mistyped fields (the parser's message, with line and column);
    /// [`SpecError::Invalid`] naming the field for out-of-range or inconsistent values.
    pub fn from_toml_str(text: &str) -> Result<Self, SpecError> {
        let raw: RawSpec = toml::from_str(text).map_err(|e| SpecError::Toml(e.to_string()))?;
        let model = raw.model;
        let mut text_path = None;
        let data = match raw.data {
            RawData::Addition { digits } => DataSpec::Addition { digits },
            RawData::Sorting { length, alphabet } => DataSpec::Sorting { length, alphabet },
            RawData::Spirals {
                classes,
                turns,
                noise,
            } => DataSpec::Spirals {
                classes,
                turns: real(turns),
                noise: real(noise),
            },
            RawData::Text { path, blake3 } => {
                if path.trim().is_empty() {
                    return Err(SpecError::invalid("data.path", "empty path"));
                }
                let hash = Digest::from_hex(&blake3).ok_or_else(|| {
                    SpecError::invalid("data.blake3", "expected 64 hexadecimal characters")
                })?;
                text_path = Some(path);
                DataSpec::Text {
                    content_hash: hash.0,
                }
            }
        };
        let optimizer = match raw.optimizer {
            RawOptimizer::Sgd {
                lr,
                momentum,
                weight_decay,
            } => OptimizerSpec::Sgd {
                lr: real(lr),
                momentum: real(momentum),
                weight_decay: real(weight_decay),
            },
            RawOptimizer::Adamw {
                lr,
                beta1,
                beta2,
                eps,
                weight_decay,
            } => OptimizerSpec::AdamW {
                lr: real(lr),
                beta1: real(beta1),
                beta2: real(beta2),
                eps: real(eps),
                weight_decay: real(weight_decay),
            },
        };
        let spec = JobSpec {
            seed: raw.seed,
            steps: raw.steps,
            checkpoint_every: raw.checkpoint_every,
            batch_size: raw.batch_size,
            model,
            data,
            optimizer,
            schedule: ScheduleSpec {
                warmup_steps: raw.schedule.warmup_steps,
            },
            eval: EvalSpec {
                every: raw.eval.every,
                batches: raw.eval.batches,
                batch_size: raw.eval.batch_size,
            },
        };
        spec.validate()?;
        Ok(Self { spec, text_path })
    }

    /// Writes the spec back as TOML; [`LoadedSpec::from_toml_str`] of the result gives the same
    /// spec (every f32 is printed as the f64 of the same value, which rounds back exactly).
    /// Text data without a path gets `path = ""`, which does not parse back.
    pub fn to_toml(&self) -> Result<String, SpecError> {
        let s = &self.spec;
        let model = s.model.clone();
        let data = match &s.data {
            DataSpec::Addition { digits } => RawData::Addition { digits: *digits },
            DataSpec::Sorting { length, alphabet } => RawData::Sorting {
                length: *length,
                alphabet: *alphabet,
            },
            DataSpec::Spirals {
                classes,
                turns,
                noise,
            } => RawData::Spirals {
                classes: *classes,
                turns: f64::from(*turns),
                noise: f64::from(*noise),
            },
            DataSpec::Text { content_hash } => RawData::Text {
                path: self.text_path.clone().unwrap_or_default(),
                blake3: Digest(*content_hash).to_hex(),
            },
        };
        let optimizer = match s.optimizer {
            OptimizerSpec::Sgd {
                lr,
                momentum,
                weight_decay,
            } => RawOptimizer::Sgd {
                lr: f64::from(lr),
                momentum: f64::from(momentum),
                weight_decay: f64::from(weight_decay),
            },
            OptimizerSpec::AdamW {
                lr,
                beta1,
                beta2,
                eps,
                weight_decay,
            } => RawOptimizer::Adamw {
                lr: f64::from(lr),
                beta1: f64::from(beta1),
                beta2: f64::from(beta2),
                eps: f64::from(eps),
                weight_decay: f64::from(weight_decay),
            },
        };
        let raw = RawSpec {
            seed: s.seed,
            steps: s.steps,
            checkpoint_every: s.checkpoint_every,
            batch_size: s.batch_size,
            model,
            data,
            optimizer,
            schedule: RawSchedule {
                warmup_steps: s.schedule.warmup_steps,
            },
            eval: RawEval {
                every: s.eval.every,
                batches: s.eval.batches,
                batch_size: s.eval.batch_size,
            },
        };
        toml::to_string(&raw).map_err(|e| SpecError::Toml(e.to_string()))
    }
}
