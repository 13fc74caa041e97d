//! Random windows of a user's text file.
//!
//! The dataset is given the file's bytes (the caller reads the file) and is identified by the
//! plain blake3 hash of those bytes. Bytes are tokenized one token per byte by
//! [`crate::vocab::encode`].
//!
//! Split: the last `max(⌈len/10⌉, T + 1)` bytes are the eval region, the rest the train
//! region; a window of `T + 1` bytes lies wholly inside one region, so train and eval windows
//! never share a byte position. Both regions must hold one window: `len` must leave at least
//! `T + 1` bytes of train region.
//!
//! Randomness (task 2): the window of example `j` starts at `region start +
//! below64(w0, w1, region_len − T)` (block 0 of the draw, attempt 0); `tokens` are its first
//! `T` tokens, `targets` its last `T`, every position counted.

use crate::data::batch::TokenBatch;
use crate::data::sampler::{Draw, Split, below64};
use crate::digest::Digest;
use crate::error::DataError;
use crate::vocab::{self, VOCAB_SIZE};

/// Task number (streams 4 and 5).
const TASK: u8 = 2;

/// A text corpus.
#[derive(Clone, PartialEq)]
pub struct TextData {
    tokens: Vec<u32>,
    context: usize,
    split_at: usize,
    hash: Digest,
}

impl std::fmt::Debug for TextData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TextData")
            .field("bytes", &self.tokens.len())
            .field("context", &self.context)
            .field("split_at", &self.split_at)
            .field("hash", &self.hash)
            .finish()
    }
}

impl TextData {
    /// Token ids used: the whole vocabulary.
    pub const VOCAB: u32 = VOCAB_SIZE;

    /// The corpus of `bytes` with windows of `context` tokens. With `expected` set, the
    /// bytes' blake3 hash must equal it.
    ///
    /// Errors: [`DataError::TextHashMismatch`], [`DataError::TextTooShort`],
    /// [`DataError::BadConfig`] for `context` 0.
    pub fn new(bytes: &[u8], context: usize, expected: Option<Digest>) -> Result<Self, DataError> {
        let hash = Digest::content(bytes);
        if let Some(expected) = expected
            && expected != hash
        {
            return Err(DataError::TextHashMismatch {
                expected,
                actual: hash,
            });
        }
        if context == 0 {
            return Err(DataError::BadConfig("text context 0".to_string()));
        }
        let len = bytes.len();
        let window = context + 1;
        let eval_len = len.div_ceil(10).max(window);
        if len < eval_len + window {
            // At len = 2·window, ⌈len/10⌉ ≤ window: both regions are exactly one window.
            return Err(DataError::TextTooShort {
                len,
                needed: 2 * window,
                context,
            });
        }
        Ok(Self {
            tokens: vocab::encode(bytes),
            context,
            split_at: len - eval_len,
            hash,
        })
    }

    /// blake3 content hash of the bytes.
    pub fn content_hash(&self) -> Digest {
        self.hash
    }

    /// Context length `T`.
    pub fn context(&self) -> usize {
        self.context
    }

    /// Byte range of a split's region.
    pub fn region(&self, split: Split) -> std::ops::Range<usize> {
        match split {
            Split::Train => 0..self.split_at,
            Split::Eval => self.split_at..self.tokens.len(),
        }
    }

    /// Start offset of example `example` of batch `step`.
    pub fn offset(&self, seed: u64, split: Split, step: u64, example: u32) -> usize {
        let region = self.region(split);
        let windows = (region.len() - self.context) as u64;
        let w = Draw::new(seed, split.stream(TASK), step, example, 0).block(0);
        region.start + below64(w[0], w[1], windows) as usize
    }

    /// Batch `step` of `split`.
    pub fn batch(
        &self,
        seed: u64,
        split: Split,
        step: u64,
        batch_size: usize,
    ) -> Result<TokenBatch, DataError> {
        let seqs: Vec<Vec<u32>> = (0..batch_size as u32)
            .map(|j| {
                let o = self.offset(seed, split, step, j);
                self.tokens[o..o + self.context + 1].to_vec()
            })
            .collect();
        Ok(TokenBatch::from_sequences(&seqs, 0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn corpus(n: usize) -> Vec<u8> {
        (0..n).map(|i| b"the quick brown fox\n"[i % 20]).collect()
    }

    #[test]
    fn windows_stay_in_their_region() {
        let bytes = corpus(1000);
        let d = TextData::new(&bytes, 16, Some(Digest::content(&bytes))).unwrap();
        assert_eq!(d.region(Split::Eval), 900..1000);
        for step in 0..50 {
            for j in 0..8 {
                let o = d.offset(1, Split::Train, step, j);
                assert!(o + 17 <= 900);
                let e = d.offset(1, Split::Eval, step, j);
                assert!(e >= 900 && e + 17 <= 1000);
            }
        }
        let b = d.batch(1, Split::Train, 3, 4).unwrap();
        assert_eq!(b, d.batch(1, Split::Train, 3, 4).unwrap());
        assert_ne!(b, d.batch(1, Split::Train, 4, 4).unwrap());
        assert_eq!(b.counted(), 64);
        let o = d.offset(1, Split::Train, 3, 0);
        assert_eq!(b.tokens[..16], vocab::encode(&bytes[o..o + 16])[..]);
        assert_eq!(b.targets[..16], vocab::encode(&bytes[o + 1..o + 17])[..]);
    }

    #[test]
    fn typed_errors() {
        let bytes = corpus(100);
        assert!(matches!(
            TextData::new(&bytes, 16, Some(Digest::content(b"other"))),
            Err(DataError::TextHashMismatch { .. })
        ));
        let err = TextData::new(&bytes[..30], 16, None).unwrap_err();
        assert!(
            matches!(err, DataError::TextTooShort { len: 30, .. }),
            "{err}"
        );
        // The reported minimum really is enough, and one byte less is not.
        let DataError::TextTooShort { needed, .. } = err else {
            unreachable!()
        };
        assert!(TextData::new(&corpus(needed), 16, None).is_ok());
        assert!(TextData::new(&corpus(needed - 1), 16, None).is_err());
    }
}
