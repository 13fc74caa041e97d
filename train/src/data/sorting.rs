//! Sorting a short string of digits or letters.
//!
//! With length `L`, the full sequence (`2L + 1` tokens) is the input string, `'='`, and the
//! input's characters in ascending order, e.g. `"dbca=abcd"`. Rows are `tokens = seq[..2L]`,
//! `targets = seq[1..]` (`T = 2L`); the `L` answer targets (positions `L ..= 2L − 1`) count.
//!
//! Randomness (task 1): character `i` is `below32(word i, k)` with `k` = 10 (digits) or 26
//! (letters). Split-rule problem bytes: `k u8 ‖ the L character indices, one byte each`.

use crate::data::batch::TokenBatch;
use crate::data::sampler::{Split, below32, draw_split};
use crate::error::DataError;
use crate::vocab::{ARITH_VOCAB, DIGIT0, EQUALS, LETTER_A, LETTER_VOCAB};

/// Task number (streams 2 and 3).
const TASK: u8 = 1;
/// Split-rule tag.
const TAG: &str = "sorting";

/// The characters of a sorting task.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    borsh::BorshSerialize,
    borsh::BorshDeserialize,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Alphabet {
    /// `'0'..='9'`.
    Digits,
    /// `'a'..='z'`.
    Letters,
}

impl Alphabet {
    /// Number of characters.
    pub fn size(self) -> u32 {
        match self {
            Alphabet::Digits => 10,
            Alphabet::Letters => 26,
        }
    }

    /// Token of character index `i`.
    pub fn token(self, i: u32) -> u32 {
        match self {
            Alphabet::Digits => DIGIT0 + i,
            Alphabet::Letters => LETTER_A + i,
        }
    }
}

/// Sorting task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sorting {
    length: u32,
    alphabet: Alphabet,
}

impl Sorting {
    /// Largest string length.
    pub const MAX_LENGTH: u32 = 64;
    /// Smallest problem space (`k^L`) accepted, so that the held-out set is not tiny.
    pub const MIN_PROBLEMS: u64 = 1000;

    /// Sorting strings of `length` characters of `alphabet`.
    pub fn new(length: u32, alphabet: Alphabet) -> Result<Self, DataError> {
        let space = u64::from(alphabet.size()).checked_pow(length.min(20));
        if length > Self::MAX_LENGTH || space.is_some_and(|s| s < Self::MIN_PROBLEMS) {
            return Err(DataError::BadConfig(format!(
                "sorting length {length} must be at most {} and give at least {} distinct \
                 strings over {} characters",
                Self::MAX_LENGTH,
                Self::MIN_PROBLEMS,
                alphabet.size()
            )));
        }
        Ok(Self { length, alphabet })
    }

    /// String length `L`.
    pub fn length(&self) -> u32 {
        self.length
    }

    /// The alphabet.
    pub fn alphabet(&self) -> Alphabet {
        self.alphabet
    }

    /// Token ids used.
    pub fn vocab_size(&self) -> u32 {
        match self.alphabet {
            Alphabet::Digits => ARITH_VOCAB,
            Alphabet::Letters => LETTER_VOCAB,
        }
    }

    /// Positions per batch row, `T = 2L`.
    pub fn seq_len(&self) -> usize {
        2 * self.length as usize
    }

    /// First counted target position, `L`.
    pub fn answer_start(&self) -> usize {
        self.length as usize
    }

    /// The full sequence of an input given as character indices.
    pub fn sequence(&self, chars: &[u32]) -> Vec<u32> {
        let mut sorted = chars.to_vec();
        sorted.sort_unstable();
        let mut seq: Vec<u32> = chars.iter().map(|&c| self.alphabet.token(c)).collect();
        seq.push(EQUALS);
        seq.extend(sorted.iter().map(|&c| self.alphabet.token(c)));
        seq
    }

    /// Character indices of example `example` of batch `step`.
    pub fn input(
        &self,
        seed: u64,
        split: Split,
        step: u64,
        example: u32,
    ) -> Result<Vec<u32>, DataError> {
        let k = self.alphabet.size();
        draw_split(seed, TASK, TAG, split, step, example, |d| {
            let chars: Vec<u32> = d
                .words(self.length as usize)
                .into_iter()
                .map(|w| below32(w, k))
                .collect();
            let mut problem = vec![k as u8];
            problem.extend(chars.iter().map(|&c| c as u8));
            (chars, problem)
        })
    }

    /// Batch `step` of `split`.
    pub fn batch(
        &self,
        seed: u64,
        split: Split,
        step: u64,
        batch_size: usize,
    ) -> Result<TokenBatch, DataError> {
        let seqs = (0..batch_size as u32)
            .map(|j| Ok(self.sequence(&self.input(seed, split, step, j)?)))
            .collect::<Result<Vec<_>, DataError>>()?;
        Ok(TokenBatch::from_sequences(&seqs, self.answer_start()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vocab::render;

    #[test]
    fn layout_and_determinism() {
        let t = Sorting::new(4, Alphabet::Letters).unwrap();
        assert_eq!(render(&t.sequence(&[3, 1, 2, 0])), "dbca=abcd");
        let b = t.batch(3, Split::Train, 5, 8).unwrap();
        assert_eq!(b, t.batch(3, Split::Train, 5, 8).unwrap());
        assert_ne!(b, t.batch(3, Split::Train, 6, 8).unwrap());
        assert_eq!(b.len, 8);
        assert_eq!(b.counted(), 8 * 4);
        assert!(b.tokens.iter().all(|&x| x < t.vocab_size()));
    }

    #[test]
    fn train_and_eval_never_overlap() {
        let t = Sorting::new(3, Alphabet::Digits).unwrap();
        let train: std::collections::HashSet<_> = (0..100)
            .flat_map(|s| (0..32).map(move |j| (s, j)))
            .map(|(s, j)| t.input(9, Split::Train, s, j).unwrap())
            .collect();
        let eval: std::collections::HashSet<_> = (0..20)
            .flat_map(|s| (0..32).map(move |j| (s, j)))
            .map(|(s, j)| t.input(9, Split::Eval, s, j).unwrap())
            .collect();
        assert!(train.len() > 800 && eval.len() > 30);
        assert!(train.is_disjoint(&eval));
    }

    #[test]
    fn rejects_tiny_problem_spaces() {
        assert!(Sorting::new(2, Alphabet::Digits).is_err());
        assert!(Sorting::new(3, Alphabet::Digits).is_ok());
        assert!(Sorting::new(65, Alphabet::Letters).is_err());
    }
}
