//! Philox4x32-10: a counter-based random generator, and the uniform and normal samplers the
//! network defines from it.
//!
//! Every random value is a pure function of `(key, counter)`, so any element of any stream can
//! be computed alone, in any order, on any machine. Jobs key the generator from their seed and
//! put `(stream, step, index)` in the counter (see [`Philox::block`]).
//!
//! Samplers (docs/numerics.md, "Random numbers"):
//! - `uniform(w) = (w >> 8) · 2⁻²⁴` in `[0, 1)`; `uniform_open(w) = ((w >> 9) + 0.5) · 2⁻²³`
//!   in `(0, 1)`.
//! - `normal`: Box–Muller on one 4-word block `w0..w3` gives two normals:
//!   `r = sqrt(-2·ln(u1))`, `θ = 2π·u2` with `u1 = uniform_open(w0)`, `u2 = uniform(w1)`,
//!   `z0 = r·cos(θ)`, `z1 = r·sin(θ)`; words `w2, w3` give `z2, z3` the same way.
//!   `ln`, `sqrt`, `sin`, `cos` are the RepOps functions of [`crate::math`].

use crate::math;
use crate::tensor::Tensor;

const M0: u32 = 0xD251_1F53;
const M1: u32 = 0xCD9E_8D57;
const W0: u32 = 0x9E37_79B9;
const W1: u32 = 0xBB67_AE85;

/// 2π rounded to f32.
const TWO_PI: f32 = std::f32::consts::TAU;

/// The Philox4x32-10 bijection, keyed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Philox {
    key: [u32; 2],
}

#[inline]
fn mulhilo(a: u32, b: u32) -> (u32, u32) {
    let p = u64::from(a) * u64::from(b);
    ((p >> 32) as u32, p as u32)
}

impl Philox {
    /// A generator with a 64-bit key.
    pub fn new(key: [u32; 2]) -> Self {
        Self { key }
    }

    /// A generator keyed from a 64-bit seed (low word first).
    pub fn from_seed(seed: u64) -> Self {
        Self::new([seed as u32, (seed >> 32) as u32])
    }

    /// Encrypts one 128-bit counter: ten Philox rounds with the Weyl key schedule.
    pub fn block(&self, counter: [u32; 4]) -> [u32; 4] {
        let mut c = counter;
        let mut k = self.key;
        for round in 0..10 {
            if round > 0 {
                k[0] = k[0].wrapping_add(W0);
                k[1] = k[1].wrapping_add(W1);
            }
            let (hi0, lo0) = mulhilo(M0, c[0]);
            let (hi1, lo1) = mulhilo(M1, c[2]);
            c = [hi1 ^ c[1] ^ k[0], lo1, hi0 ^ c[3] ^ k[1], lo0];
        }
        c
    }

    /// Block for element group `index` of stream `stream`: counter `(index lo, index hi,
    /// stream lo, stream hi)`.
    pub fn block_at(&self, stream: u64, index: u64) -> [u32; 4] {
        self.block([
            index as u32,
            (index >> 32) as u32,
            stream as u32,
            (stream >> 32) as u32,
        ])
    }

    /// `n` uniform values in `[0, 1)` from stream `stream`: element `i` is word `i % 4` of
    /// block `i / 4`.
    pub fn uniform_vec(&self, stream: u64, n: usize) -> Vec<f32> {
        let mut out = Vec::with_capacity(n);
        let mut g = 0u64;
        while out.len() < n {
            let w = self.block_at(stream, g);
            for &word in w.iter().take(n - out.len()) {
                out.push(uniform(word));
            }
            g += 1;
        }
        out
    }

    /// `n` standard normal values from stream `stream`: element `i` is output `i % 4` of
    /// [`normal4`] on block `i / 4`.
    pub fn normal_vec(&self, stream: u64, n: usize) -> Vec<f32> {
        let mut out = Vec::with_capacity(n);
        let mut g = 0u64;
        while out.len() < n {
            let z = normal4(self.block_at(stream, g));
            for &v in z.iter().take(n - out.len()) {
                out.push(v);
            }
            g += 1;
        }
        out
    }

    /// A tensor of uniform values in `[lo, hi)`: `lo + (hi - lo)·u` with `fma(u, hi - lo, lo)`.
    pub fn uniform_tensor(&self, stream: u64, shape: &[usize], lo: f32, hi: f32) -> Tensor {
        let n = crate::tensor::numel(shape);
        let span = hi - lo;
        let data = self
            .uniform_vec(stream, n)
            .into_iter()
            .map(|u| u.mul_add(span, lo))
            .collect();
        // The length equals the shape's element count by construction.
        Tensor::new(shape, data).expect("uniform_vec returns numel(shape) values")
    }

    /// A tensor of normal values with mean `mean` and standard deviation `std`:
    /// `fma(z, std, mean)`.
    pub fn normal_tensor(&self, stream: u64, shape: &[usize], mean: f32, std: f32) -> Tensor {
        let n = crate::tensor::numel(shape);
        let data = self
            .normal_vec(stream, n)
            .into_iter()
            .map(|z| z.mul_add(std, mean))
            .collect();
        Tensor::new(shape, data).expect("normal_vec returns numel(shape) values")
    }
}

/// Uniform in `[0, 1)` from the top 24 bits of a word.
#[inline]
pub fn uniform(word: u32) -> f32 {
    (word >> 8) as f32 * (1.0 / 16_777_216.0)
}

/// Uniform in `(0, 1)`: the top 23 bits, offset by half a step, so both ends stay exact
/// (the extreme values are `2⁻²⁴` and `1 - 2⁻²⁴`).
#[inline]
pub fn uniform_open(word: u32) -> f32 {
    ((word >> 9) as f32 + 0.5) * (1.0 / 8_388_608.0)
}

/// Four standard normals from one block by Box–Muller (see the module docs for the order).
pub fn normal4(w: [u32; 4]) -> [f32; 4] {
    let (a, b) = box_muller(w[0], w[1]);
    let (c, d) = box_muller(w[2], w[3]);
    [a, b, c, d]
}

#[inline]
fn box_muller(w_r: u32, w_theta: u32) -> (f32, f32) {
    let u1 = uniform_open(w_r);
    let u2 = uniform(w_theta);
    let r = math::sqrt(-2.0 * math::ln(u1));
    let theta = TWO_PI * u2;
    (r * math::cos(theta), r * math::sin(theta))
}

#[cfg(test)]
mod tests {
    use super::*;

    // Known-answer vectors of Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy
    // as 1, 2, 3", SC'11; the Random123 distribution's kat_vectors).
    #[test]
    fn known_answers() {
        let g = Philox::new([0, 0]);
        assert_eq!(
            g.block([0, 0, 0, 0]),
            [0x6627_e8d5, 0xe169_c58d, 0xbc57_ac4c, 0x9b00_dbd8]
        );
        let g = Philox::new([u32::MAX, u32::MAX]);
        assert_eq!(
            g.block([u32::MAX; 4]),
            [0x408f_276d, 0x41c8_3b0e, 0xa20b_c7c6, 0x6d54_51fd]
        );
        let g = Philox::new([0xa409_3822, 0x299f_31d0]);
        assert_eq!(
            g.block([0x243f_6a88, 0x85a3_08d3, 0x1319_8a2e, 0x0370_7344]),
            [0xd16c_fe09, 0x94fd_cceb, 0x5001_e420, 0x2412_6ea1]
        );
    }

    #[test]
    fn uniform_range() {
        assert_eq!(uniform(0), 0.0);
        assert!(uniform(u32::MAX) < 1.0);
        assert!(uniform_open(0) > 0.0);
        assert!(uniform_open(u32::MAX) < 1.0);
    }

    #[test]
    fn normal_moments() {
        let z = Philox::from_seed(7).normal_vec(3, 200_000);
        let n = z.len() as f64;
        let mean = z.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
        let var = z
            .iter()
            .map(|&v| (f64::from(v) - mean).powi(2))
            .sum::<f64>()
            / n;
        assert!(mean.abs() < 0.01, "mean {mean}");
        assert!((var - 1.0).abs() < 0.02, "var {var}");
        assert!(z.iter().all(|v| v.is_finite()));
    }

    #[test]
    fn streams_are_independent_of_length() {
        let g = Philox::from_seed(42);
        let long = g.uniform_vec(1, 10);
        let short = g.uniform_vec(1, 7);
        assert_eq!(&long[..7], &short[..]);
        assert_ne!(g.uniform_vec(2, 7), short);
    }
}
