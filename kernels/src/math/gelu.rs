//! GELU in its two usual forms, evaluated in orders that stay accurate in the negative tail.
//!
//! Exact evaluation orders (docs/numerics.md §4.6):
//! - `gelu_tanh(x) = 0.5·x·(1 + tanh(u))`, `u = √(2/π)·(x + 0.044715·x³)`, computed through the
//!   identity `0.5·(1 + tanh(u)) = sigmoid(2u)`:
//!   `x2 = x·x`, `x3 = x2·x`, `inner = fma(GELU_C, x3, x)`, `v = K2·inner` (K2 = fl(2·√(2/π)),
//!   which equals 2·fl(√(2/π)), so `v = 2·fl(√(2/π)·inner)` exactly), result `x·sigmoid(v)`.
//!   `gelu_tanh(−inf) = −0`, `gelu_tanh(+inf) = +inf`.
//! - `gelu_erf(x) = 0.5·x·(1 + erf(x/√2))`: `y = x·FRAC_1_SQRT_2`. If `y ≥ −1.25`: result
//!   `(0.5·x)·(1 + erf(y))`. If `y > 10.5` in magnitude (x < −14.85): `−0`. Else (negative tail,
//!   `1 + erf(y) = erfc(−y)`): `a = −x`, `h = a·a`, `l = fma(a, a, −h)`,
//!   `c = erfc_tail(−y, 0.5·h, 0.5·l)` (the exact square a²/2 feeds the exponential), result
//!   `(0.5·x)·c`.

use super::erf::{erf, erfc_tail};
use super::{CANONICAL_NAN, sigmoid};

/// 0.044715 rounded to f32 (0x3D372713).
const GELU_C: f32 = f32::from_bits(0x3D37_2713);
/// 2·√(2/π) rounded to f32 (0x3FCC422A = 2 × 0x3F4C422A).
const K2: f32 = f32::from_bits(0x3FCC_422A);
/// 1/√2 rounded to f32 (0x3F3504F3).
const FRAC_1_SQRT_2: f32 = f32::from_bits(0x3F35_04F3);
/// erf-branch boundary of gelu_erf in y = x/√2 (0xBFA00000 = −1.25).
const ERF_TAIL_Y: f32 = f32::from_bits(0xBFA0_0000);
/// Beyond y = −10.5 (0xC1280000) |gelu_erf(x)| < 2⁻¹⁵⁰ and the result is −0.
const ZERO_Y: f32 = f32::from_bits(0xC128_0000);

/// GELU, tanh approximation: `0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))`.
///
/// Evaluated as `x·sigmoid(2·√(2/π)·(x + 0.044715·x³))` (see the module docs for the order).
pub(crate) fn gelu_tanh(x: f32) -> f32 {
    if x.is_nan() {
        return CANONICAL_NAN;
    }
    if x == f32::NEG_INFINITY {
        return -0.0;
    }
    x * sigmoid(gelu_tanh_arg(x))
}

/// The sigmoid argument of [`gelu_tanh`]: `v = K2·fma(GELU_C, (x·x)·x, x)`.
#[inline(always)]
pub(crate) fn gelu_tanh_arg(x: f32) -> f32 {
    let x3 = (x * x) * x;
    let inner = GELU_C.mul_add(x3, x);
    K2 * inner
}

/// GELU, exact form: `0.5·x·(1 + erf(x/√2))` (see the module docs for the order).
pub(crate) fn gelu_erf(x: f32) -> f32 {
    if x.is_nan() {
        return CANONICAL_NAN;
    }
    let y = x * FRAC_1_SQRT_2;
    if y >= ERF_TAIL_Y {
        return (0.5 * x) * (1.0 + erf(y));
    }
    if y < ZERO_Y {
        return -0.0;
    }
    let a = -x;
    let h = a * a;
    let l = a.mul_add(a, -h);
    let c = erfc_tail(-y, 0.5 * h, 0.5 * l);
    (0.5 * x) * c
}
