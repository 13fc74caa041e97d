//! Multi-digit addition written as characters, answer reversed.
//!
//! With `n` digits, operands `a, b` are uniform in `[0, 10ⁿ)` and the full sequence
//! (`L = 3n + 3` tokens) is
//!
//! ```text
//! a (n digits, most significant first, zero-padded) '+' b (same) '=' s (n + 1 digits, LEAST
//! significant first, zero-padded)
//! ```
//!
//! e.g. `n = 3`, `123 + 45`: `"123+045=8610"`. The answer is written reversed because that is
//! the order in which a left-to-right model can compute it: each sum digit depends only on the
//! operand digits at its position and the carry from the digit emitted just before.
//!
//! Batch rows are `tokens = seq[..L-1]`, `targets = seq[1..]` (`T = 3n + 2`); only the `n + 1`
//! answer targets are counted (positions `2n + 1 ..= 3n + 1`).
//!
//! Randomness (task 0): `a = below64(w0, w1, 10ⁿ)`, `b = below64(w2, w3, 10ⁿ)` with the words of
//! block 0 of the draw. Split-rule problem bytes: `n u8 ‖ a u64 LE ‖ b u64 LE`.

use crate::data::batch::TokenBatch;
use crate::data::sampler::{Split, below64, draw_split};
use crate::error::DataError;
use crate::vocab::{ARITH_VOCAB, DIGIT0, EQUALS, PLUS};

/// Task number (streams 0 and 1).
const TASK: u8 = 0;
/// Split-rule tag.
const TAG: &str = "addition";

/// Multi-digit addition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Addition {
    digits: u32,
}

impl Addition {
    /// Smallest digit count (10⁴ problems, enough for a held-out set).
    pub const MIN_DIGITS: u32 = 2;
    /// Largest digit count (sums fit easily in u64).
    pub const MAX_DIGITS: u32 = 18;
    /// Token ids used.
    pub const VOCAB: u32 = ARITH_VOCAB;

    /// Addition of `digits`-digit numbers.
    pub fn new(digits: u32) -> Result<Self, DataError> {
        if !(Self::MIN_DIGITS..=Self::MAX_DIGITS).contains(&digits) {
            return Err(DataError::BadConfig(format!(
                "addition digits {digits} outside {}..={}",
                Self::MIN_DIGITS,
                Self::MAX_DIGITS
            )));
        }
        Ok(Self { digits })
    }

    /// Digits per operand.
    pub fn digits(&self) -> u32 {
        self.digits
    }

    /// Positions per batch row, `T = 3n + 2`.
    pub fn seq_len(&self) -> usize {
        3 * self.digits as usize + 2
    }

    /// First counted target position, `2n + 1`.
    pub fn answer_start(&self) -> usize {
        2 * self.digits as usize + 1
    }

    /// The full sequence (`3n + 3` tokens) of `a + b`.
    pub fn sequence(&self, a: u64, b: u64) -> Vec<u32> {
        let n = self.digits as usize;
        let mut seq = Vec::with_capacity(3 * n + 3);
        push_digits(&mut seq, a, n, false);
        seq.push(PLUS);
        push_digits(&mut seq, b, n, false);
        seq.push(EQUALS);
        push_digits(&mut seq, a + b, n + 1, true);
        seq
    }

    /// The operands of example `example` of batch `step`.
    pub fn operands(
        &self,
        seed: u64,
        split: Split,
        step: u64,
        example: u32,
    ) -> Result<(u64, u64), DataError> {
        let bound = 10u64.pow(self.digits);
        draw_split(seed, TASK, TAG, split, step, example, |d| {
            let w = d.block(0);
            let a = below64(w[0], w[1], bound);
            let b = below64(w[2], w[3], bound);
            let mut problem = vec![self.digits as u8];
            problem.extend_from_slice(&a.to_le_bytes());
            problem.extend_from_slice(&b.to_le_bytes());
            ((a, b), problem)
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
            .map(|j| {
                let (a, b) = self.operands(seed, split, step, j)?;
                Ok(self.sequence(a, b))
            })
            .collect::<Result<Vec<_>, DataError>>()?;
        Ok(TokenBatch::from_sequences(&seqs, self.answer_start()))
    }

    /// The sum encoded by `n + 1` answer tokens (least significant first); `None` if a token
    /// is not a digit.
    pub fn decode_answer(answer: &[u32]) -> Option<u64> {
        let mut v = 0u64;
        for &t in answer.iter().rev() {
            let d = t.checked_sub(DIGIT0).filter(|&d| d < 10)?;
            v = v.checked_mul(10)?.checked_add(u64::from(d))?;
        }
        Some(v)
    }
}

/// Appends `width` decimal digits of `v`, most significant first (or reversed).
fn push_digits(seq: &mut Vec<u32>, mut v: u64, width: usize, reversed: bool) {
    let start = seq.len();
    for _ in 0..width {
        seq.push(DIGIT0 + (v % 10) as u32);
        v /= 10;
    }
    if !reversed {
        seq[start..].reverse();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vocab::render;

    #[test]
    fn layout() {
        let t = Addition::new(3).unwrap();
        assert_eq!(render(&t.sequence(123, 45)), "123+045=8610");
        assert_eq!(render(&t.sequence(999, 999)), "999+999=8991");
        assert_eq!(t.seq_len(), 11);
        let seq = t.sequence(123, 45);
        assert_eq!(Addition::decode_answer(&seq[8..]), Some(168));
    }

    #[test]
    fn batch_is_a_pure_function_of_seed_and_step() {
        let t = Addition::new(4).unwrap();
        let b1 = t.batch(7, Split::Train, 10, 16).unwrap();
        let b2 = t.batch(7, Split::Train, 10, 16).unwrap();
        assert_eq!(b1, b2);
        assert_ne!(b1, t.batch(7, Split::Train, 11, 16).unwrap());
        assert_ne!(b1, t.batch(8, Split::Train, 10, 16).unwrap());
        // A bigger batch extends a smaller one: example j does not depend on the batch size.
        let small = t.batch(7, Split::Train, 10, 4).unwrap();
        assert_eq!(small.tokens[..], b1.tokens[..small.tokens.len()]);
        assert_eq!(b1.len, 14);
        assert_eq!(b1.counted(), 16 * 5);
        // Targets are the tokens shifted by one and the answer is the sum.
        for r in 0..16 {
            let row = &b1.targets[r * 14..(r + 1) * 14];
            let toks = &b1.tokens[r * 14..(r + 1) * 14];
            assert_eq!(toks[1..], row[..13]);
            let a = render(&toks[..4]).parse::<u64>().unwrap();
            let b = render(&toks[5..9]).parse::<u64>().unwrap();
            assert_eq!(Addition::decode_answer(&row[9..]), Some(a + b));
        }
    }

    #[test]
    fn train_and_eval_never_overlap() {
        let t = Addition::new(2).unwrap();
        let mut train = std::collections::HashSet::new();
        for step in 0..200 {
            for j in 0..32 {
                train.insert(t.operands(1, Split::Train, step, j).unwrap());
            }
        }
        let mut eval = std::collections::HashSet::new();
        for step in 0..50 {
            for j in 0..32 {
                eval.insert(t.operands(1, Split::Eval, step, j).unwrap());
            }
        }
        assert!(
            train.len() > 4000 && eval.len() > 300,
            "{} {}",
            train.len(),
            eval.len()
        );
        assert!(train.is_disjoint(&eval));
    }

    #[test]
    fn rejects_bad_digits() {
        assert!(Addition::new(1).is_err());
        assert!(Addition::new(19).is_err());
    }
}
