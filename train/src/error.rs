//! Error types of the training infrastructure. Each names what is wrong; store errors also
//! name the file.

use std::path::PathBuf;

use thiserror::Error;

use crate::digest::Digest;
use pinpoint_kernels::KernelError;

/// A job spec that could not be parsed, validated or decoded.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum SpecError {
    /// The TOML is malformed, a field is missing, unknown, or of the wrong type. The message is
    /// the parser's, with line and column.
    #[error("spec TOML: {0}")]
    Toml(String),
    /// A field is present but its value is out of range or inconsistent with another field.
    #[error("spec field `{field}`: {message}")]
    Invalid {
        /// Dotted path of the field, e.g. `optimizer.lr`.
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// The canonical binary encoding could not be decoded (bad tag, short input, trailing
    /// bytes).
    #[error("spec encoding: {0}")]
    Decode(String),
    /// The bytes decode, but re-encoding the result gives different bytes.
    #[error("spec encoding is not canonical (re-encoding gives different bytes)")]
    NonCanonical,
}

impl SpecError {
    /// Shorthand for [`SpecError::Invalid`].
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.to_string(),
            message: message.into(),
        }
    }
}

/// A dataset that cannot be built or sampled.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum DataError {
    /// A text file too short to give one training window and one evaluation window.
    #[error("text has {len} bytes; needs at least {needed} for context {context}")]
    TextTooShort {
        /// Bytes in the file.
        len: usize,
        /// Bytes needed.
        needed: usize,
        /// The context length asked for.
        context: usize,
    },
    /// The text's blake3 content hash is not the one the spec names.
    #[error("text content hash is {actual}, spec expects {expected}")]
    TextHashMismatch {
        /// Hash named by the spec.
        expected: Digest,
        /// Hash of the bytes given.
        actual: Digest,
    },
    /// A configuration value out of range (batch size 0, too few digits, …).
    #[error("dataset config: {0}")]
    BadConfig(String),
    /// Rejection sampling for the train/eval split ran out of attempts (practically
    /// impossible for validated configs).
    #[error("no {split} example found for step {step}, example {example} within the attempt limit")]
    Exhausted {
        /// `train` or `eval`.
        split: &'static str,
        /// The step (batch index).
        step: u64,
        /// Example index within the batch.
        example: u32,
    },
    /// Predictions given to a metric do not have the batch's shape.
    #[error("metric: {got} predictions for a batch of {expected} positions")]
    PredictionShape {
        /// Positions in the batch.
        expected: usize,
        /// Predictions given.
        got: usize,
    },
}

/// A training state that cannot be encoded, hashed or decoded.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum StateError {
    /// A tensor name is empty, too long, or has a character outside `[A-Za-z0-9._/-]`.
    #[error("tensor name {name:?}: {problem}")]
    BadName {
        /// The name.
        name: String,
        /// What is wrong.
        problem: &'static str,
    },
    /// Names in a section are not strictly ascending (bytewise), or repeat.
    #[error(
        "{section}: name {name:?} is not strictly after the previous one (names must be sorted and unique)"
    )]
    Order {
        /// `params` or `optim`.
        section: &'static str,
        /// The offending name.
        name: String,
    },
    /// A NaN or infinity in a tensor of the state.
    #[error("non-finite state: {0}")]
    NonFinite(KernelError),
    /// The encoded state is malformed.
    #[error("state encoding at byte {offset}: {problem}")]
    Decode {
        /// Where decoding stopped.
        offset: usize,
        /// What was wrong.
        problem: String,
    },
}

/// What is wrong with a file of the store (the [`StoreError`] names the file).
#[derive(Debug, Clone, PartialEq, Error)]
pub enum StoreProblem {
    /// The operating system refused (message of the `io::Error`).
    #[error("I/O error: {0}")]
    Io(String),
    /// The file ends before the format says it should.
    #[error("truncated: {len} bytes, expected {needed}")]
    Truncated {
        /// Bytes present.
        len: u64,
        /// Bytes the header announces (or the minimum header size).
        needed: u64,
    },
    /// The file is longer than its header announces.
    #[error("{extra} trailing bytes after the checkpoint")]
    TrailingBytes {
        /// Extra bytes.
        extra: u64,
    },
    /// Not a pinpoint checkpoint.
    #[error("bad magic: not a pinpoint checkpoint")]
    BadMagic,
    /// A format version this build does not read.
    #[error("unsupported checkpoint version {found} (this build reads version {supported})")]
    UnsupportedVersion {
        /// Version in the file.
        found: u32,
        /// Version supported.
        supported: u32,
    },
    /// Content does not match its hash: the file is corrupted.
    #[error("corrupted: {what} mismatch (stored {stored}, computed {computed})")]
    Corrupted {
        /// Which hash failed: `file checksum` or `state hash`.
        what: &'static str,
        /// The hash stored in the file.
        stored: Digest,
        /// The hash recomputed from the content.
        computed: Digest,
    },
    /// A valid checkpoint of another job.
    #[error("checkpoint of another job: spec hash {found}, expected {expected}")]
    WrongSpec {
        /// The spec hash of this job.
        expected: Digest,
        /// The spec hash in the file.
        found: Digest,
    },
    /// The step in the file name differs from the step in the state.
    #[error("file name says step {file_step} but the state is at step {state_step}")]
    StepMismatch {
        /// Step from the file name.
        file_step: u64,
        /// Step inside the state.
        state_step: u64,
    },
    /// The state inside the file cannot be decoded.
    #[error("{0}")]
    State(StateError),
    /// The spec file is invalid.
    #[error("{0}")]
    Spec(SpecError),
    /// The data file is invalid.
    #[error("{0}")]
    Data(DataError),
    /// A line of `hashes.txt` is not a 64-character hex hash.
    #[error("line {line}: {problem}")]
    HashLine {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        problem: String,
    },
}

/// An error of the filesystem store: the file, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Error)]
#[error("{}: {problem}", path.display())]
pub struct StoreError {
    /// The file (or directory) concerned.
    pub path: PathBuf,
    /// What is wrong.
    pub problem: StoreProblem,
}

impl StoreError {
    /// A store error for `path`.
    pub fn new(path: impl Into<PathBuf>, problem: StoreProblem) -> Self {
        Self {
            path: path.into(),
            problem,
        }
    }

    /// A store error from an I/O error.
    pub fn io(path: impl Into<PathBuf>, err: &std::io::Error) -> Self {
        Self::new(path, StoreProblem::Io(err.to_string()))
    }
}

/// An error of the trainer ([`crate::trainer`]) or of a run directory
/// ([`crate::fs::run`]).
#[derive(Debug, Clone, PartialEq, Error)]
pub enum TrainError {
    /// The spec is invalid (or an override made it so).
    #[error(transparent)]
    Spec(#[from] SpecError),
    /// The dataset cannot be built or sampled.
    #[error(transparent)]
    Data(#[from] DataError),
    /// A state cannot be built, hashed or encoded.
    #[error(transparent)]
    State(#[from] StateError),
    /// A file of the run is missing, unreadable or invalid (the error names the file).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A kernel or graph error while building or running a step.
    #[error("{context}: {error}")]
    Kernel {
        /// What was being done, e.g. `step 12`.
        context: String,
        /// The kernel error.
        error: KernelError,
    },
    /// Step `step` produced a NaN or an infinity: the job cannot continue.
    #[error(
        "step {step} produced a non-finite value ({detail}); the state S_{step} is not hashed \
         or saved. The job diverged: lower the learning rate or add warmup"
    )]
    NonFinite {
        /// The step `t` whose output `S_t` was non-finite.
        step: u64,
        /// Which tensor, from the kernel error.
        detail: String,
    },
    /// A state does not fit the spec's model and optimizer (names or shapes).
    #[error("state does not match the spec: {0}")]
    Layout(String),
    /// A request outside the job, e.g. a step beyond `T`.
    #[error("{0}")]
    Usage(String),
    /// A run directory that cannot be used as asked (names the directory or file).
    #[error("{}: {problem}", path.display())]
    RunDir {
        /// The directory or file.
        path: PathBuf,
        /// What is wrong, and what to do.
        problem: String,
    },
}

impl TrainError {
    /// A [`TrainError::Kernel`] with context.
    pub fn kernel(context: impl Into<String>, source: KernelError) -> Self {
        Self::Kernel {
            context: context.into(),
            error: source,
        }
    }

    /// A [`TrainError::RunDir`].
    pub fn run_dir(path: impl Into<PathBuf>, problem: impl Into<String>) -> Self {
        Self::RunDir {
            path: path.into(),
            problem: problem.into(),
        }
    }
}
