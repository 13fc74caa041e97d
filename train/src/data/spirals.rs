//! Points on interleaved spiral arms in the plane, one class per arm: a small nonlinear
//! classification task for the MLP.
//!
//! Randomness (task 3), per example: block 0 gives `c = below32(w0, K)` and
//! `t = uniform(w1)`; block 1 gives two standard normals `z0, z1` (the first two outputs of
//! [`normal4`]). In f32, each step rounded:
//!
//! ```text
//! base  = fl(c) · fl(2π / K)          (2π / K: fl(2π) / fl(K), rounded once)
//! θ     = fma(t, fl(turns · fl(2π)), base)
//! x     = fma(noise, z0, t · cos(θ))
//! y     = fma(noise, z1, t · sin(θ))
//! ```
//!
//! with `sin`/`cos` from [`pinpoint_kernels::math`]. Input `[x, y]`, label `c`. Split-rule problem bytes:
//! the six words `w0, w1` and block 1 (u32 LE each) — distinct words give distinct problems.

use crate::data::batch::PointBatch;
use crate::data::sampler::{Split, below32, draw_split};
use crate::error::DataError;
use pinpoint_kernels::math;
use pinpoint_kernels::rng::{normal4, uniform};
use pinpoint_kernels::tensor::Tensor;

/// Task number (streams 6 and 7).
const TASK: u8 = 3;
/// Split-rule tag.
const TAG: &str = "spirals";

/// Spiral-arm classification in 2-D.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spirals {
    classes: u32,
    turns: f32,
    noise: f32,
}

impl Spirals {
    /// Input dimension.
    pub const DIM: usize = 2;
    /// Most classes.
    pub const MAX_CLASSES: u32 = 64;

    /// `classes` arms of `turns` turns each, with Gaussian noise of standard deviation
    /// `noise`.
    pub fn new(classes: u32, turns: f32, noise: f32) -> Result<Self, DataError> {
        if !(2..=Self::MAX_CLASSES).contains(&classes) {
            return Err(DataError::BadConfig(format!(
                "spirals classes {classes} outside 2..={}",
                Self::MAX_CLASSES
            )));
        }
        if !(turns > 0.0 && turns <= 8.0) {
            return Err(DataError::BadConfig(format!(
                "spirals turns {turns} outside (0, 8]"
            )));
        }
        if !(0.0..=1.0).contains(&noise) {
            return Err(DataError::BadConfig(format!(
                "spirals noise {noise} outside [0, 1]"
            )));
        }
        Ok(Self {
            classes,
            turns,
            noise,
        })
    }

    /// Number of classes.
    pub fn classes(&self) -> u32 {
        self.classes
    }

    /// One example: `([x, y], class)`.
    pub fn example(
        &self,
        seed: u64,
        split: Split,
        step: u64,
        example: u32,
    ) -> Result<([f32; 2], u32), DataError> {
        let two_pi = std::f32::consts::TAU;
        let sector = two_pi / self.classes as f32;
        let sweep = self.turns * two_pi;
        draw_split(seed, TASK, TAG, split, step, example, |d| {
            let w = d.block(0);
            let n = d.block(1);
            let c = below32(w[0], self.classes);
            let t = uniform(w[1]);
            let z = normal4(n);
            let base = c as f32 * sector;
            let theta = t.mul_add(sweep, base);
            let x = self.noise.mul_add(z[0], t * math::cos(theta));
            let y = self.noise.mul_add(z[1], t * math::sin(theta));
            let mut problem = Vec::with_capacity(24);
            for word in [w[0], w[1], n[0], n[1], n[2], n[3]] {
                problem.extend_from_slice(&word.to_le_bytes());
            }
            (([x, y], c), problem)
        })
    }

    /// Batch `step` of `split`.
    pub fn batch(
        &self,
        seed: u64,
        split: Split,
        step: u64,
        batch_size: usize,
    ) -> Result<PointBatch, DataError> {
        let mut data = Vec::with_capacity(batch_size * 2);
        let mut labels = Vec::with_capacity(batch_size);
        for j in 0..batch_size as u32 {
            let (p, c) = self.example(seed, split, step, j)?;
            data.extend_from_slice(&p);
            labels.push(c);
        }
        let inputs =
            Tensor::new(&[batch_size, Self::DIM], data).expect("invariant: 2 values per row");
        Ok(PointBatch { inputs, labels })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_finite() {
        let s = Spirals::new(3, 1.5, 0.05).unwrap();
        let b = s.batch(1, Split::Train, 0, 64).unwrap();
        assert_eq!(b, s.batch(1, Split::Train, 0, 64).unwrap());
        assert_ne!(b, s.batch(1, Split::Train, 1, 64).unwrap());
        b.inputs.check_finite("spirals").unwrap();
        assert!(b.labels.iter().all(|&c| c < 3));
        assert!(b.inputs.data().iter().all(|v| v.abs() < 2.0));
        let pred = b.labels.clone();
        assert_eq!(b.accuracy(&pred).unwrap().fraction(), 1.0);
    }

    #[test]
    fn eval_points_differ_from_train_points() {
        let s = Spirals::new(2, 1.0, 0.1).unwrap();
        let key = |p: [f32; 2]| (p[0].to_bits(), p[1].to_bits());
        let train: std::collections::HashSet<_> = (0..20)
            .flat_map(|st| (0..64).map(move |j| (st, j)))
            .map(|(st, j)| key(s.example(4, Split::Train, st, j).unwrap().0))
            .collect();
        let eval: std::collections::HashSet<_> = (0..20)
            .flat_map(|st| (0..64).map(move |j| (st, j)))
            .map(|(st, j)| key(s.example(4, Split::Eval, st, j).unwrap().0))
            .collect();
        assert!(train.is_disjoint(&eval));
    }

    #[test]
    fn rejects_bad_config() {
        assert!(Spirals::new(1, 1.0, 0.1).is_err());
        assert!(Spirals::new(3, 0.0, 0.1).is_err());
        assert!(Spirals::new(3, 1.0, f32::NAN).is_err());
    }
}
