//! The crate's error type: every operating error an op can report.

use thiserror::Error;

/// Result alias used throughout the crate.
pub type Result<T> = std::result::Result<T, KernelError>;

/// What went wrong in a kernel call. Bad input is always reported this way, never by a panic.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum KernelError {
    /// The number of data elements does not match the product of the shape.
    #[error("data has {len} elements but shape {shape:?} needs {expected}")]
    DataLength {
        /// The shape asked for.
        shape: Vec<usize>,
        /// Elements the shape needs.
        expected: usize,
        /// Elements supplied.
        len: usize,
    },
    /// A tensor with no elements was given where the op needs at least one.
    #[error("{op}: empty tensor of shape {shape:?}")]
    Empty {
        /// The op that refused it.
        op: &'static str,
        /// The offending shape.
        shape: Vec<usize>,
    },
    /// Operand shapes are incompatible.
    #[error("{op}: shape mismatch: {detail}")]
    ShapeMismatch {
        /// The op that refused them.
        op: &'static str,
        /// Which shapes, and why.
        detail: String,
    },
    /// An axis does not exist for a tensor of this rank.
    #[error("{op}: axis {axis} out of range for rank {rank}")]
    BadAxis {
        /// The op.
        op: &'static str,
        /// The axis asked for.
        axis: usize,
        /// The tensor's rank.
        rank: usize,
    },
    /// An index (token id, class target, slice bound) is outside its range.
    #[error("{op}: index {index} out of range 0..{bound}")]
    IndexOutOfRange {
        /// The op.
        op: &'static str,
        /// The bad index.
        index: u64,
        /// The exclusive upper bound.
        bound: u64,
    },
    /// Any other invalid argument (a zero thread count, a bad permutation, …).
    #[error("{op}: invalid argument: {detail}")]
    InvalidArgument {
        /// The op.
        op: &'static str,
        /// What is wrong.
        detail: String,
    },
    /// A NaN or infinity where a finite value is required (e.g. a state about to be hashed).
    #[error("{what}: non-finite value {value} at element {index}")]
    NonFinite {
        /// What was being checked.
        what: String,
        /// Flat index of the first bad element.
        index: usize,
        /// The value found.
        value: f32,
    },
    /// The worker thread pool could not be built.
    #[error("thread pool: {0}")]
    ThreadPool(String),
}
