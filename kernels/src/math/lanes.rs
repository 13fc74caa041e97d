//! Slice forms of the math functions that the compiler vectorizes, with the bits of the scalar
//! functions (docs/numerics.md §4.10).
//!
//! The input is cut into blocks of [`BLOCK`] elements. A block whose elements all lie in the
//! function's main range (finite, no special case, no rescaled subnormal result) is computed by
//! the function's branch-free core (`exp_core`, `sigmoid_core`, `tanh_core`: every case of the
//! main range evaluated and one selected per element). The core is the same sequence of
//! correctly rounded `+ − × /` and `fma` as the scalar function for that element, so a loop of
//! it compiles to vector code under `cpu::with_simd` without changing a bit. Any other block,
//! and the tail shorter than a block, runs the scalar function element by element. Sigmoid
//! and gelu_tanh run `sigmoid_core` as its two halves (`sigmoid_start`, `sigmoid_finish`) in
//! two loops over the block, so that the vector code divides once for both sign cases.

use super::exp::{EXP_CORE_MAX, EXP_CORE_MIN, exp_core};
use super::gelu::gelu_tanh_arg;
use super::hyperbolic::{sigmoid_finish, sigmoid_start, tanh_core};

/// Elements per block: a multiple of every vector width (8 lanes for AVX2).
pub(crate) const BLOCK: usize = 64;

/// Below this argument (−80) the scalar sigmoid takes its `exp(x)` tail.
const SIGMOID_CORE_MIN: f32 = -80.0;
/// Upper end of the sigmoid core's range (2²⁰; above 20 it selects 1 as the scalar function
/// does; the bound keeps the discarded exponent arithmetic in range).
const SIGMOID_CORE_MAX: f32 = 1_048_576.0;
/// Upper end of |x| in the tanh core's range (2²⁰; from 9.125 on it selects ±1).
const TANH_CORE_LIMIT: f32 = 1_048_576.0;

/// `out[i] = exact(src[i])` for every `i`, computed as `core(src[i])` in blocks where
/// `in_range` holds for every element. `core` must equal `exact` bit for bit on its range.
#[inline(always)]
pub(crate) fn map_blocks(
    src: &[f32],
    out: &mut [f32],
    in_range: impl Fn(f32) -> bool,
    core: impl Fn(f32) -> f32,
    exact: impl Fn(f32) -> f32,
) {
    let mut outs = out.chunks_exact_mut(BLOCK);
    let mut srcs = src.chunks_exact(BLOCK);
    for (o, s) in (&mut outs).zip(&mut srcs) {
        // `&`, not `&&`: no early exit, so the check vectorizes too.
        if s.iter().fold(true, |ok, &v| ok & in_range(v)) {
            for (o, &v) in o.iter_mut().zip(s) {
                *o = core(v);
            }
        } else {
            for (o, &v) in o.iter_mut().zip(s) {
                *o = exact(v);
            }
        }
    }
    for (o, &v) in outs.into_remainder().iter_mut().zip(srcs.remainder()) {
        *o = exact(v);
    }
}

/// `out[i] = exact(a[i], b[i])`, computed as `core(a[i], b[i])` in blocks where `in_range`
/// holds for every element of `a`. `core` must equal `exact` bit for bit when `in_range(a)`.
#[inline(always)]
pub(crate) fn map_blocks2(
    a: &[f32],
    b: &[f32],
    out: &mut [f32],
    in_range: impl Fn(f32) -> bool,
    core: impl Fn(f32, f32) -> f32,
    exact: impl Fn(f32, f32) -> f32,
) {
    let mut outs = out.chunks_exact_mut(BLOCK);
    let mut avs = a.chunks_exact(BLOCK);
    let mut bvs = b.chunks_exact(BLOCK);
    for ((o, a), b) in (&mut outs).zip(&mut avs).zip(&mut bvs) {
        if a.iter().fold(true, |ok, &v| ok & in_range(v)) {
            for ((o, &x), &y) in o.iter_mut().zip(a).zip(b) {
                *o = core(x, y);
            }
        } else {
            for ((o, &x), &y) in o.iter_mut().zip(a).zip(b) {
                *o = exact(x, y);
            }
        }
    }
    let rest = outs.into_remainder().iter_mut();
    for ((o, &x), &y) in rest.zip(avs.remainder()).zip(bvs.remainder()) {
        *o = exact(x, y);
    }
}

crate::cpu::simd_fn! {
    /// `out[i] = math::exp(src[i])`.
    pub(crate) fn exp(src: &[f32], out: &mut [f32]) => exp_body
}

#[inline(always)]
fn exp_body(src: &[f32], out: &mut [f32]) {
    map_blocks(src, out, exp_in_range, exp_core, super::exp);
}

/// `out[i] = math::exp(out[i])` in place, as [`exp`] (blocks in the core's range take the
/// core). Call from inside a `simd_fn!` body so that it is compiled with its features.
#[inline(always)]
pub(crate) fn exp_in_place(buf: &mut [f32]) {
    let mut blocks = buf.chunks_exact_mut(BLOCK);
    for b in &mut blocks {
        if b.iter().fold(true, |ok, &v| ok & exp_in_range(v)) {
            for v in b.iter_mut() {
                *v = exp_core(*v);
            }
        } else {
            for v in b.iter_mut() {
                *v = super::exp(*v);
            }
        }
    }
    for v in blocks.into_remainder() {
        *v = super::exp(*v);
    }
}

/// Whether [`exp_core`] gives `math::exp(x)` (NaN: no).
#[inline(always)]
pub(crate) fn exp_in_range(x: f32) -> bool {
    (EXP_CORE_MIN..=EXP_CORE_MAX).contains(&x)
}

crate::cpu::simd_fn! {
    /// `out[i] = math::sigmoid(src[i])`.
    pub(crate) fn sigmoid(src: &[f32], out: &mut [f32]) => sigmoid_body
}

#[inline(always)]
fn sigmoid_body(src: &[f32], out: &mut [f32]) {
    sigmoid_blocks(src, out, |x| x, |_, y| y, super::sigmoid);
}

/// Whether `sigmoid_core` gives `math::sigmoid(x)` (NaN: no).
#[inline(always)]
fn sigmoid_in_range(x: f32) -> bool {
    (SIGMOID_CORE_MIN..=SIGMOID_CORE_MAX).contains(&x)
}

crate::cpu::simd_fn! {
    /// `out[i] = math::tanh(src[i])`.
    pub(crate) fn tanh(src: &[f32], out: &mut [f32]) => tanh_body
}

#[inline(always)]
fn tanh_body(src: &[f32], out: &mut [f32]) {
    map_blocks(src, out, tanh_in_range, tanh_core, super::tanh);
}

/// Whether [`tanh_core`] gives `math::tanh(x)` (NaN: no).
#[inline(always)]
pub(crate) fn tanh_in_range(x: f32) -> bool {
    x.abs() <= TANH_CORE_LIMIT
}

crate::cpu::simd_fn! {
    /// `out[i] = math::gelu_tanh(src[i])`.
    pub(crate) fn gelu_tanh(src: &[f32], out: &mut [f32]) => gelu_tanh_body
}

#[inline(always)]
fn gelu_tanh_body(src: &[f32], out: &mut [f32]) {
    sigmoid_blocks(src, out, gelu_tanh_arg, |x, y| x * y, super::gelu_tanh);
}

/// `out[i] = exact(src[i])` for a function of the form `post(x, sigmoid(arg(x)))`: blocks whose
/// arguments all lie in the sigmoid core's range take `sigmoid_start` for the whole block, then
/// `sigmoid_finish` (two loops, so that the vector code divides once for both sign cases),
/// the others `exact`. `post(x, sigmoid_core(arg(x)))` must equal `exact(x)` bit for bit there.
#[inline(always)]
fn sigmoid_blocks(
    src: &[f32],
    out: &mut [f32],
    arg: impl Fn(f32) -> f32,
    post: impl Fn(f32, f32) -> f32,
    exact: impl Fn(f32) -> f32,
) {
    let mut outs = out.chunks_exact_mut(BLOCK);
    let mut srcs = src.chunks_exact(BLOCK);
    let mut v = [0.0f32; BLOCK];
    // The parts of `sigmoid_start`, one array each (so both loops stay plain vector code).
    let mut p = [[0.0f32; BLOCK]; 4];
    for (o, s) in (&mut outs).zip(&mut srcs) {
        for (v, &x) in v.iter_mut().zip(s) {
            *v = arg(x);
        }
        if v.iter().fold(true, |ok, &v| ok & sigmoid_in_range(v)) {
            for (i, &v) in v.iter().enumerate() {
                let [n, dh, dl, el] = sigmoid_start(v);
                (p[0][i], p[1][i], p[2][i], p[3][i]) = (n, dh, dl, el);
            }
            for (i, (o, &x)) in o.iter_mut().zip(s).enumerate() {
                *o = post(
                    x,
                    sigmoid_finish(v[i], [p[0][i], p[1][i], p[2][i], p[3][i]]),
                );
            }
        } else {
            for (o, &x) in o.iter_mut().zip(s) {
                *o = exact(x);
            }
        }
    }
    for (o, &x) in outs.into_remainder().iter_mut().zip(srcs.remainder()) {
        *o = exact(x);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::SimdLevel;

    /// Inputs that hit every block kind: the main ranges, tails, ±0, ±inf, NaN, subnormals,
    /// and pseudo-random bit patterns, in an order that mixes in-range and out-of-range blocks.
    fn inputs() -> Vec<f32> {
        let mut v = Vec::new();
        for i in 0..40_000 {
            v.push(-110.0 + i as f32 * 0.0055);
        }
        for i in 0..20_000 {
            v.push(-12.0 + i as f32 * 0.0012);
        }
        v.extend([
            0.0,
            -0.0,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
            f32::MIN_POSITIVE,
            -1e-40,
            1e-40,
            f32::MAX,
            f32::MIN,
            -87.0,
            88.0,
            1_048_576.0,
            -1_048_576.0,
            1_048_577.0,
            3.0e6,
            -80.0,
            20.0,
            9.125,
            -9.125,
            0.625,
            -0.625,
        ]);
        let mut s = 0x9E37_79B9u32;
        for _ in 0..100_000 {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            // Half of them as bit patterns, half as small values.
            v.push(if s & 1 == 0 {
                f32::from_bits(s)
            } else {
                (s >> 8) as f32 / (1u32 << 21) as f32 - 4.0
            });
        }
        v
    }

    fn check(name: &str, lanes: fn(SimdLevel, &[f32], &mut [f32]), scalar: fn(f32) -> f32) {
        let x = inputs();
        for level in [SimdLevel::Scalar, SimdLevel::detect()] {
            // Every offset shifts the blocks against the special values.
            for offset in [0, 1, 37] {
                let x = &x[offset..];
                let mut out = vec![0.0f32; x.len()];
                lanes(level, x, &mut out);
                for (i, (&xi, &yi)) in x.iter().zip(&out).enumerate() {
                    assert_eq!(
                        yi.to_bits(),
                        scalar(xi).to_bits(),
                        "{name}({xi:e}) at {i}, {level:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn exp_matches_scalar() {
        check("exp", exp, super::super::exp);
    }

    #[test]
    fn exp_in_place_matches_scalar() {
        let x = inputs();
        for offset in [0, 1, 37] {
            let x = &x[offset..];
            let mut buf = x.to_vec();
            exp_in_place(&mut buf);
            for (&xi, &yi) in x.iter().zip(&buf) {
                assert_eq!(yi.to_bits(), super::super::exp(xi).to_bits(), "exp({xi:e})");
            }
        }
    }

    #[test]
    fn sigmoid_matches_scalar() {
        check("sigmoid", sigmoid, super::super::sigmoid);
    }

    #[test]
    fn tanh_matches_scalar() {
        check("tanh", tanh, super::super::tanh);
    }

    #[test]
    fn gelu_tanh_matches_scalar() {
        check("gelu_tanh", gelu_tanh, super::super::gelu_tanh);
    }

    #[test]
    fn most_blocks_of_typical_inputs_take_the_core() {
        // Guards the speed path: activations in [−4, 4] are all in range.
        let x: Vec<f32> = (0..BLOCK).map(|i| -4.0 + i as f32 / 8.0).collect();
        assert!(x.iter().all(|&v| sigmoid_in_range(gelu_tanh_arg(v))));
        assert!(x.iter().all(|&v| tanh_in_range(v) && exp_in_range(v)));
    }
}
