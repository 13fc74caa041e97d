//! `sqrt` (IEEE, correctly rounded) and `rsqrt` (`1/sqrt` refined by one Newton step with an
//! exact residual).
//!
//! `rsqrt` algorithm (docs/numerics.md §4.8), for finite x > 0:
//! 1. Prescale: `x < 2⁻¹⁰⁰`: `xs = x·2⁶⁴`, `post = 2³²`; `x > 2¹⁰⁰`: `xs = x·2⁻⁶⁴`,
//!    `post = 2⁻³²`; else `xs = x`, `post = 1`.
//! 2. `y = 1/sqrt(xs)`, `h = y·y`, `hl = fma(y, y, −h)`, `e = fma(−xs, h, 1)`,
//!    `e = fma(−xs, hl, e)` (e ≈ 1 − xs·y²), `y = fma(0.5·y, e, y)`, result `y·post`.
//!
//! Other inputs: `rsqrt(+0) = +inf`, `rsqrt(−0) = −inf`, `rsqrt(+inf) = +0`,
//! `rsqrt(x < 0) = NaN`.

use super::{CANONICAL_NAN, pow2i};

/// Square root, IEEE 754 correctly rounded (`f32::sqrt`). `sqrt(−0) = −0`; a negative or NaN
/// argument gives the canonical NaN.
pub(crate) fn sqrt(x: f32) -> f32 {
    if x.is_nan() || x < 0.0 {
        return CANONICAL_NAN;
    }
    x.sqrt()
}

/// `1/√x` (≤ 0.5 ulp + 10⁻⁶ asserted; correctly rounded on every sampled input).
pub(crate) fn rsqrt(x: f32) -> f32 {
    if x.is_nan() || x < 0.0 {
        return CANONICAL_NAN;
    }
    if x == 0.0 || x == f32::INFINITY {
        return 1.0 / x.sqrt();
    }
    let (xs, post) = if x < pow2i(-100) {
        (x * pow2i(64), pow2i(32))
    } else if x > pow2i(100) {
        (x * pow2i(-64), pow2i(-32))
    } else {
        (x, 1.0)
    };
    let y = 1.0 / xs.sqrt();
    let h = y * y;
    let hl = y.mul_add(y, -h);
    let e = (-xs).mul_add(h, 1.0);
    let e = (-xs).mul_add(hl, e);
    let y = (0.5 * y).mul_add(e, y);
    y * post
}
