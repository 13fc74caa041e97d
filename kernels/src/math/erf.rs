//! `erf`: odd polynomial for |x| < 0.875, `erf(1) + P(|x| − 1)` up to 1.25, `1 − e^{−x²}·G(1/x)` for 1.25 ≤ |x| < 4, ±1 beyond.
//! Also the scaled tail `erfc` used by `gelu_erf` for its negative tail.
//!
//! Algorithm (docs/numerics.md §4.5):
//! - |x| < 0.875: `z = x·x`, `p = A0 + z·(A1 + … + z·A6)` (Horner, fma), `erf = fma(x, p, x)`.
//! - 0.875 ≤ |x| < 1.25: `s = |x| − 1` (exact), `P = M0 + s·(M1 + … + s·M7)`,
//!   `erf = ±(ERF1 + P)` with ERF1 = fl(erf(1)) (0x3F57BB3D).
//! - 1.25 ≤ |x| < 4: `a = |x|`, `hi = a·a`, `lo = fma(a, a, −hi)` (a² = hi + lo exactly),
//!   `erfc(a) = erfc_tail(a, hi, lo)`, `erf = ±(1 − erfc(a))`.
//! - |x| ≥ 4: ±1 (erfc(4) < 2⁻²⁵).
//! - `erfc_tail(y, hi, lo)` for y ≥ 1.25 with y² = hi + lo: `t = 1/y`; if `t > 0.25`:
//!   `s = t − 0.5`, `G = B0 + s·(B1 + … + s·B9)`; else `s = t − 0.1875`,
//!   `G = C0 + s·(C1 + … + s·C6)`; `E = exp(−hi)`, `eg = E·G`, result `fma(−lo, eg, eg)`
//!   (e^{−hi−lo} ≈ e^{−hi}·(1 − lo), |lo| ≤ 2⁻¹⁸).

use super::{CANONICAL_NAN, exp};

/// Below this |x| (0x3F600000 = 0.875) erf uses the odd polynomial.
const ERF_POLY_MAX: f32 = f32::from_bits(0x3F60_0000);
/// Below this |x| (0x3FA00000 = 1.25) erf uses `ERF1 + P(|x| − 1)`.
const ERF_MID_MAX: f32 = f32::from_bits(0x3FA0_0000);
/// erf(1) rounded to f32 (0x3F57BB3D).
const ERF1: f32 = f32::from_bits(0x3F57_BB3D);
/// From this |x| on (0x40800000 = 4) erf(x) rounds to ±1.
const ERF_ONE_MIN: f32 = f32::from_bits(0x4080_0000);

/// Minimax coefficients of erf(x)/x − 1 in z = x² on [0, 0.875²] (relative error 2^−32.2).
const A: [f32; 7] = [
    f32::from_bits(0x3E03_75D4),
    f32::from_bits(0xBEC0_93A2),
    f32::from_bits(0x3DE7_1742),
    f32::from_bits(0xBCDC_0CD3),
    f32::from_bits(0x3BAA_9D5D),
    f32::from_bits(0xBA57_3FC8),
    f32::from_bits(0x38B5_EFA4),
];
/// Minimax coefficients of erf(1 + s) − ERF1 on s ∈ [−0.125, 0.25] (absolute error 2^−33.8).
const M: [f32; 8] = [
    f32::from_bits(0x3267_14C6),
    f32::from_bits(0x3ED4_88F8),
    f32::from_bits(0xBED4_88F6),
    f32::from_bits(0x3E0D_B084),
    f32::from_bits(0x3D8D_AC27),
    f32::from_bits(0xBD8D_8D80),
    f32::from_bits(0x3B9E_FFDD),
    f32::from_bits(0x3C4B_CEBF),
];
/// G(y) = erfc(y)·e^{y²} as a polynomial in s = 1/y − 0.5 for y ∈ [1.25, 4]
/// (relative error 2^−29.4).
const B: [f32; 10] = [
    f32::from_bits(0x3E82_C339),
    f32::from_bits(0x3EDA_B81A),
    f32::from_bits(0xBE3D_FAE7),
    f32::from_bits(0x3CBB_2E29),
    f32::from_bits(0x3D84_3934),
    f32::from_bits(0xBDB3_5858),
    f32::from_bits(0x3D82_6FFC),
    f32::from_bits(0xBC29_95B9),
    f32::from_bits(0xBD6C_8244),
    f32::from_bits(0x3D9B_8135),
];
/// G(y) as a polynomial in s = 1/y − 0.1875 for y ∈ [4, 10.6] (relative error 2^−29.7).
const C: [f32; 7] = [
    f32::from_bits(0x3DD5_068C),
    f32::from_bits(0x3F09_69FC),
    f32::from_bits(0xBE0A_4BF9),
    f32::from_bits(0xBE2C_CB34),
    f32::from_bits(0x3E6A_E077),
    f32::from_bits(0x3B7E_BBFA),
    f32::from_bits(0xBECE_D00D),
];

/// Horner with fma, highest coefficient first: `c[n−1]`, then `acc = fma(acc, t, c[i])`.
#[inline]
pub(crate) fn horner(c: &[f32], t: f32) -> f32 {
    let mut acc = c[c.len() - 1];
    for &ci in c[..c.len() - 1].iter().rev() {
        acc = acc.mul_add(t, ci);
    }
    acc
}

/// Error function (≤ 1 ulp, measured; docs/numerics.md §4).
///
/// `erf(±0) = ±0`, `erf(±inf) = ±1`, `erf(NaN) = NaN`; |erf(x)| = 1 exactly for |x| ≥ 4.
pub(crate) fn erf(x: f32) -> f32 {
    if x.is_nan() {
        return CANONICAL_NAN;
    }
    let a = x.abs();
    if a < ERF_POLY_MAX {
        let p = horner(&A, x * x);
        return x.mul_add(p, x);
    }
    let y = if a < ERF_MID_MAX {
        ERF1 + horner(&M, a - 1.0)
    } else if a >= ERF_ONE_MIN {
        1.0
    } else {
        let hi = a * a;
        let lo = a.mul_add(a, -hi);
        1.0 - erfc_tail(a, hi, lo)
    };
    y.copysign(x)
}

/// erfc(y) for 1.25 ≤ y ≤ 10.6, given y² = hi + lo exactly (the caller splits it, so the
/// exponential sees the exact square). Relative error a few ulp.
#[inline]
pub(crate) fn erfc_tail(y: f32, hi: f32, lo: f32) -> f32 {
    let t = 1.0 / y;
    let g = if t > 0.25 {
        horner(&B, t - 0.5)
    } else {
        horner(&C, t - 0.1875)
    };
    let eg = exp(-hi) * g;
    (-lo).mul_add(eg, eg)
}
