//! Batches and the accuracy metrics computed on them.

use crate::error::DataError;
use pinpoint_kernels::tensor::Tensor;

/// A next-token batch of `batch` rows of `len` positions, row-major.
///
/// `targets[r, i]` is the token that should follow `tokens[r, ..=i]`; `mask[r, i]` is `1.0` where
/// position `i` counts in the loss and the metrics, `0.0` elsewhere.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenBatch {
    /// Rows `B`.
    pub batch: usize,
    /// Positions per row `T`.
    pub len: usize,
    /// Input tokens `[B, T]`.
    pub tokens: Vec<u32>,
    /// Target tokens `[B, T]`.
    pub targets: Vec<u32>,
    /// Loss mask `[B, T]`, `1.0` or `0.0`.
    pub mask: Vec<f32>,
}

/// A classification batch.
#[derive(Debug, Clone, PartialEq)]
pub struct PointBatch {
    /// Inputs `[B, D]`.
    pub inputs: Tensor,
    /// Class labels `[B]`.
    pub labels: Vec<u32>,
}

/// A batch of either kind.
#[derive(Debug, Clone, PartialEq)]
pub enum Batch {
    /// Next-token prediction.
    Tokens(TokenBatch),
    /// Classification.
    Points(PointBatch),
}

/// `correct` out of `total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Accuracy {
    /// Items right.
    pub correct: u64,
    /// Items counted.
    pub total: u64,
}

impl Accuracy {
    /// `correct / total`, 0 when nothing was counted.
    pub fn fraction(&self) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            self.correct as f64 / self.total as f64
        }
    }

    /// The sum of two counts (to accumulate over eval batches).
    pub fn merge(self, other: Accuracy) -> Accuracy {
        Accuracy {
            correct: self.correct + other.correct,
            total: self.total + other.total,
        }
    }
}

impl TokenBatch {
    /// Builds a batch from full sequences of equal length `L + 1`: `tokens = seq[..L]`,
    /// `targets = seq[1..]`, counted positions `first_counted..L`.
    pub fn from_sequences(seqs: &[Vec<u32>], first_counted: usize) -> Self {
        let len = seqs.first().map_or(0, |s| s.len().saturating_sub(1));
        let mut tokens = Vec::with_capacity(seqs.len() * len);
        let mut targets = Vec::with_capacity(seqs.len() * len);
        let mut mask = Vec::with_capacity(seqs.len() * len);
        for s in seqs {
            debug_assert_eq!(s.len(), len + 1);
            tokens.extend_from_slice(&s[..len]);
            targets.extend_from_slice(&s[1..]);
            mask.extend((0..len).map(|i| if i >= first_counted { 1.0 } else { 0.0 }));
        }
        Self {
            batch: seqs.len(),
            len,
            tokens,
            targets,
            mask,
        }
    }

    /// Number of counted positions (`mask = 1`).
    pub fn counted(&self) -> usize {
        self.mask.iter().filter(|&&m| m != 0.0).count()
    }

    fn check(&self, predicted: &[u32]) -> Result<(), DataError> {
        if predicted.len() != self.targets.len() {
            return Err(DataError::PredictionShape {
                expected: self.targets.len(),
                got: predicted.len(),
            });
        }
        Ok(())
    }

    /// Token accuracy over the counted positions; `predicted` is `[B, T]` (e.g. the argmax of
    /// the logits at every position).
    pub fn token_accuracy(&self, predicted: &[u32]) -> Result<Accuracy, DataError> {
        self.check(predicted)?;
        let mut acc = Accuracy::default();
        for ((&p, &t), &m) in predicted.iter().zip(&self.targets).zip(&self.mask) {
            if m != 0.0 {
                acc.total += 1;
                acc.correct += u64::from(p == t);
            }
        }
        Ok(acc)
    }

    /// Exact match: a row counts as correct when every counted position is predicted right;
    /// `predicted` is `[B, T]`.
    ///
    /// With teacher forcing (argmax at every position of the true sequence) this equals the
    /// exact match of greedy autoregressive decoding of the answer: if every answer token is
    /// right given the true prefix, greedy decoding reproduces the true prefix at each step;
    /// if one is wrong, greedy decoding is wrong at the first such position.
    pub fn exact_match(&self, predicted: &[u32]) -> Result<Accuracy, DataError> {
        self.check(predicted)?;
        let mut acc = Accuracy::default();
        for r in 0..self.batch {
            let row = r * self.len..(r + 1) * self.len;
            let ok = row
                .clone()
                .all(|i| self.mask[i] == 0.0 || predicted[i] == self.targets[i]);
            acc.total += 1;
            acc.correct += u64::from(ok);
        }
        Ok(acc)
    }
}

impl PointBatch {
    /// Classification accuracy; `predicted` is one class per row.
    pub fn accuracy(&self, predicted: &[u32]) -> Result<Accuracy, DataError> {
        if predicted.len() != self.labels.len() {
            return Err(DataError::PredictionShape {
                expected: self.labels.len(),
                got: predicted.len(),
            });
        }
        let correct = predicted
            .iter()
            .zip(&self.labels)
            .filter(|(p, l)| p == l)
            .count();
        Ok(Accuracy {
            correct: correct as u64,
            total: self.labels.len() as u64,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_count_masked_positions_only() {
        let b = TokenBatch::from_sequences(&[vec![1, 2, 3, 4], vec![5, 6, 7, 8]], 1);
        assert_eq!(b.len, 3);
        assert_eq!(b.tokens, vec![1, 2, 3, 5, 6, 7]);
        assert_eq!(b.targets, vec![2, 3, 4, 6, 7, 8]);
        assert_eq!(b.counted(), 4);
        // Row 0 wrong only at an unmasked position; row 1 wrong at a masked one.
        let pred = vec![9, 3, 4, 6, 7, 0];
        assert_eq!(
            b.exact_match(&pred).unwrap(),
            Accuracy {
                correct: 1,
                total: 2
            }
        );
        assert_eq!(b.token_accuracy(&pred).unwrap().correct, 3);
        assert!(matches!(
            b.exact_match(&pred[..5]),
            Err(DataError::PredictionShape {
                expected: 6,
                got: 5
            })
        ));
    }
}
