//! The counter layout shared by every dataset, the integer samplers, and the train/eval split
//! rule.
//!
//! - Key: `Philox::from_seed(seed ^ DATA_KEY_XOR)`, so data never shares a key with
//!   parameter initialization (keyed by the seed itself).
//! - Counter of block `g` of attempt `a` of example `j` of batch `step` in stream `s`:
//!   `(step lo, step hi, j, s << 24 | a << 8 | g)`; word `i` of an example is word `i mod 4` of
//!   block `i div 4`.
//! - Each dataset has two streams, train `2·task` and eval `2·task + 1`.
//! - Split rule: a problem (its canonical bytes) belongs to the eval set when byte 0 of
//!   `blake3_derive_key("pinpoint 2026 data split v1", len(tag) u8 ‖ tag ‖ problem)` is
//!   `< EVAL_THRESHOLD` (1/16 of problems). The rule does not depend on the seed: the held-out
//!   set is a fixed part of the problem space. Each split draws from its own stream and rejects
//!   problems of the other split, retrying with the next attempt number.

use crate::digest::Digest;
use crate::error::DataError;
use pinpoint_kernels::rng::Philox;

/// XOR-ed into the job seed to key the data generator.
pub const DATA_KEY_XOR: u64 = 0x6461_7461_5f6b_6579; // "data_key"
/// Domain tag of the split rule.
pub const SPLIT_CONTEXT: &str = "pinpoint 2026 data split v1";
/// Problems whose split hash starts with a byte below this are held out for evaluation.
pub const EVAL_THRESHOLD: u8 = 16;
/// Attempts per example before sampling gives up with [`DataError::Exhausted`].
pub const MAX_ATTEMPTS: u16 = 4096;

/// Which part of a dataset to draw from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Split {
    /// Training examples.
    Train,
    /// Held-out evaluation examples, never equal to a training example.
    Eval,
}

impl Split {
    /// `train` or `eval`.
    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Eval => "eval",
        }
    }

    /// The stream of task `task` for this split.
    pub fn stream(self, task: u8) -> u8 {
        2 * task + u8::from(self == Split::Eval)
    }
}

/// The random words of one attempt at one example.
#[derive(Debug, Clone, Copy)]
pub struct Draw {
    key: Philox,
    stream: u8,
    step: u64,
    example: u32,
    attempt: u16,
}

impl Draw {
    /// The draw for `(seed, stream, step, example, attempt)`.
    pub fn new(seed: u64, stream: u8, step: u64, example: u32, attempt: u16) -> Self {
        Self {
            key: Philox::from_seed(seed ^ DATA_KEY_XOR),
            stream,
            step,
            example,
            attempt,
        }
    }

    /// Block `g` of this draw.
    pub fn block(&self, g: u8) -> [u32; 4] {
        self.key.block([
            self.step as u32,
            (self.step >> 32) as u32,
            self.example,
            (u32::from(self.stream) << 24) | (u32::from(self.attempt) << 8) | u32::from(g),
        ])
    }

    /// The first `n` words (`n ≤ 1024`).
    pub fn words(&self, n: usize) -> Vec<u32> {
        debug_assert!(n <= 1024);
        let mut out = Vec::with_capacity(n);
        let mut g = 0u8;
        while out.len() < n {
            let b = self.block(g);
            out.extend(b.iter().take(n - out.len()));
            g = g.wrapping_add(1);
        }
        out
    }
}

/// Uniform integer in `[0, n)` from one word: `(w · n) >> 32` (u64 product).
pub fn below32(w: u32, n: u32) -> u32 {
    ((u64::from(w) * u64::from(n)) >> 32) as u32
}

/// Uniform integer in `[0, n)` from two words: `(x · n) >> 64` with `x = hi << 32 | lo`
/// (u128 product).
pub fn below64(hi: u32, lo: u32, n: u64) -> u64 {
    let x = (u64::from(hi) << 32) | u64::from(lo);
    ((u128::from(x) * u128::from(n)) >> 64) as u64
}

/// True when `problem` of task `tag` is in the held-out eval set.
pub fn is_eval(tag: &str, problem: &[u8]) -> bool {
    let mut bytes = Vec::with_capacity(1 + tag.len() + problem.len());
    bytes.push(tag.len() as u8);
    bytes.extend_from_slice(tag.as_bytes());
    bytes.extend_from_slice(problem);
    Digest::derive(SPLIT_CONTEXT, &bytes).0[0] < EVAL_THRESHOLD
}

/// Draws example `example` of `(seed, split, step)` for task `(task, tag)`: calls `make` with
/// attempts `0, 1, …` until the problem it returns (with its canonical bytes) is on `split`'s
/// side of the split rule.
pub fn draw_split<T>(
    seed: u64,
    task: u8,
    tag: &str,
    split: Split,
    step: u64,
    example: u32,
    make: impl Fn(&Draw) -> (T, Vec<u8>),
) -> Result<T, DataError> {
    let stream = split.stream(task);
    for attempt in 0..MAX_ATTEMPTS {
        let (value, problem) = make(&Draw::new(seed, stream, step, example, attempt));
        if is_eval(tag, &problem) == (split == Split::Eval) {
            return Ok(value);
        }
    }
    Err(DataError::Exhausted {
        split: split.name(),
        step,
        example,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn below_is_in_range() {
        assert_eq!(below32(u32::MAX, 10), 9);
        assert_eq!(below32(0, 10), 0);
        assert_eq!(below64(u32::MAX, u32::MAX, 1000), 999);
    }

    #[test]
    fn eval_fraction_is_about_one_sixteenth() {
        let n = 20_000u32;
        let eval = (0..n).filter(|i| is_eval("t", &i.to_le_bytes())).count();
        let frac = eval as f64 / f64::from(n);
        assert!((frac - 1.0 / 16.0).abs() < 0.01, "{frac}");
    }

    #[test]
    fn draws_differ_by_every_coordinate() {
        let base = Draw::new(1, 2, 3, 4, 5).block(0);
        assert_ne!(Draw::new(2, 2, 3, 4, 5).block(0), base);
        assert_ne!(Draw::new(1, 3, 3, 4, 5).block(0), base);
        assert_ne!(Draw::new(1, 2, 4, 4, 5).block(0), base);
        assert_ne!(Draw::new(1, 2, 3, 5, 5).block(0), base);
        assert_ne!(Draw::new(1, 2, 3, 4, 6).block(0), base);
        assert_ne!(Draw::new(1, 2, 3, 4, 5).block(1), base);
        assert_eq!(Draw::new(1, 2, 3, 4, 5).words(6)[..4], base);
    }
}
