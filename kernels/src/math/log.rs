//! `ln`: exponent/mantissa split with bit operations, `s = f/(2+f)` polynomial, exact
//! recombination with `e·ln2` by Fast2Sum.
//!
//! Algorithm (docs/numerics.md §4.3), for finite x > 0:
//! 1. Subnormal x: `x·2²³` (exact) and `e = −23`.
//! 2. `e += biased exponent − 127`; mantissa bits `mb`. If `mb ≥ 0x3504F3` (m ≥ 1.4142135):
//!    `m = bits(mb | 0x3F000000)` ∈ [0.7071, 1), `e += 1`; else `m = bits(mb | 0x3F800000)`.
//! 3. `f = m − 1` (exact), `hfsq = (f·f)·0.5`, `s = f/(2 + f)`, `z = s·s`,
//!    `R = z·fma(fma(L3, z, L2), z, L1)`, `t = fma(s, hfsq + R, −hfsq)` (≈ ln(1+f) − f).
//! 4. `hi = e·LN2_HI` (exact), `sum = hi + f`, `err = f − (sum − hi)` (Fast2Sum, exact),
//!    `lo = t + fma(e, LN2_LO, err)`, result `sum + lo`.

use super::{CANONICAL_NAN, pow2i};

/// ln 2 truncated to 16 significant bits (0x3F317200 = 0.693145751953125): `e·LN2_HI` exact.
const LN2_HI: f32 = f32::from_bits(0x3F31_7200);
/// ln 2 − LN2_HI rounded to f32 (0x35BFBE8E ≈ 1.4286068e−6).
const LN2_LO: f32 = f32::from_bits(0x35BF_BE8E);
/// Minimax coefficients of R(z) = 2·(atanh(√z)/√z − 1) ≈ L1·z + L2·z² + L3·z³ on
/// 0 ≤ z ≤ 0.02944 (absolute error of the real polynomial 2^−29.2).
const L1: f32 = f32::from_bits(0x3F2A_AABD);
const L2: f32 = f32::from_bits(0x3ECC_AF5B);
const L3: f32 = f32::from_bits(0x3E98_F1A6);

/// Natural logarithm, within 1 ulp of the correctly rounded result (measured).
///
/// `ln(±0) = −inf`, `ln(x < 0) = NaN`, `ln(+inf) = +inf`, `ln(NaN) = NaN`, `ln(1) = +0`.
pub(crate) fn ln(x: f32) -> f32 {
    if x.is_nan() || x < 0.0 {
        return CANONICAL_NAN;
    }
    if x == 0.0 {
        return f32::NEG_INFINITY;
    }
    if x == f32::INFINITY {
        return f32::INFINITY;
    }
    let mut ix = x.to_bits();
    let mut e: i32 = 0;
    if ix < 0x0080_0000 {
        ix = (x * pow2i(23)).to_bits();
        e = -23;
    }
    e += ((ix >> 23) as i32) - 127;
    let mb = ix & 0x007F_FFFF;
    let m = if mb >= 0x0035_04F3 {
        e += 1;
        f32::from_bits(mb | 0x3F00_0000)
    } else {
        f32::from_bits(mb | 0x3F80_0000)
    };
    let f = m - 1.0;
    let hfsq = (f * f) * 0.5;
    let s = f / (2.0 + f);
    let z = s * s;
    let r = z * L3.mul_add(z, L2).mul_add(z, L1);
    let t = s.mul_add(hfsq + r, -hfsq);
    let ef = e as f32;
    let hi = ef * LN2_HI;
    let sum = hi + f;
    let err = f - (sum - hi);
    let lo = t + ef.mul_add(LN2_LO, err);
    sum + lo
}
