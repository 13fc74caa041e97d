//! Deterministic datasets: a batch is a pure function of `(seed, split, step, batch size)`.
//!
//! There is no iterator state: [`Dataset::batch`] computes example `j` of batch `step` from
//! its own Philox counters (see [`sampler`]), so any step's batch can be produced alone, in any
//! order. Token tasks give a [`TokenBatch`] (next-token prediction with a loss mask); the
//! classification task gives a [`PointBatch`].
//!
//! - [`addition`]: `"0123+0045=8610"`-style addition with the answer reversed.
//! - [`sorting`]: sort a short digit or letter string.
//! - [`text`]: random windows of a user's text file, identified by its blake3 content hash.
//! - [`spirals`]: 2-D points on interleaved spiral arms, one class per arm (for the MLP).
//!
//! Train and eval examples never coincide: see [`sampler`] for the split rule.

pub mod addition;
pub mod batch;
pub mod sampler;
pub mod sorting;
pub mod spirals;
pub mod text;

pub use addition::Addition;
pub use batch::{Accuracy, Batch, PointBatch, TokenBatch};
pub use sampler::Split;
pub use sorting::{Alphabet, Sorting};
pub use spirals::Spirals;
pub use text::TextData;

use crate::error::DataError;

/// Largest batch size any dataset accepts.
pub const MAX_BATCH: usize = 1 << 20;

/// Any dataset.
#[derive(Debug, Clone, PartialEq)]
pub enum Dataset {
    /// Multi-digit addition.
    Addition(Addition),
    /// Sorting a short string.
    Sorting(Sorting),
    /// Windows of a text file.
    Text(TextData),
    /// Spiral-arm classification.
    Spirals(Spirals),
}

impl Dataset {
    /// Batch `step` of `split`: `batch_size` examples, example `j` drawn from its own counters.
    ///
    /// Errors: `batch_size` 0 or above [`MAX_BATCH`] ([`DataError::BadConfig`]); an exhausted
    /// split (practically impossible, see [`sampler::MAX_ATTEMPTS`]).
    pub fn batch(
        &self,
        seed: u64,
        split: Split,
        step: u64,
        batch_size: usize,
    ) -> Result<Batch, DataError> {
        check_batch_size(batch_size)?;
        Ok(match self {
            Dataset::Addition(d) => Batch::Tokens(d.batch(seed, split, step, batch_size)?),
            Dataset::Sorting(d) => Batch::Tokens(d.batch(seed, split, step, batch_size)?),
            Dataset::Text(d) => Batch::Tokens(d.batch(seed, split, step, batch_size)?),
            Dataset::Spirals(d) => Batch::Points(d.batch(seed, split, step, batch_size)?),
        })
    }

    /// Token ids used are `< vocab_size()` (token datasets); `None` for point datasets.
    pub fn vocab_size(&self) -> Option<u32> {
        match self {
            Dataset::Addition(_) => Some(Addition::VOCAB),
            Dataset::Sorting(d) => Some(d.vocab_size()),
            Dataset::Text(_) => Some(TextData::VOCAB),
            Dataset::Spirals(_) => None,
        }
    }

    /// Sequence length `T` of a token batch; `None` for point datasets.
    pub fn seq_len(&self) -> Option<usize> {
        match self {
            Dataset::Addition(d) => Some(d.seq_len()),
            Dataset::Sorting(d) => Some(d.seq_len()),
            Dataset::Text(d) => Some(d.context()),
            Dataset::Spirals(_) => None,
        }
    }
}

/// Refuses batch sizes 0 and above [`MAX_BATCH`].
pub fn check_batch_size(batch_size: usize) -> Result<(), DataError> {
    if batch_size == 0 || batch_size > MAX_BATCH {
        return Err(DataError::BadConfig(format!(
            "batch size {batch_size} outside 1..={MAX_BATCH}"
        )));
    }
    Ok(())
}
