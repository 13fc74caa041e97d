//! `exp`: Cody–Waite reduction by `ln 2`, a degree-6 polynomial, scaling by `2^k` from bits.
//!
//! Algorithm (docs/numerics.md §4.2):
//! 1. NaN → canonical NaN; `x > 0x42B17217` (88.72283) → `+inf`; `x < -104` → `+0`.
//! 2. `t = fma(x, LOG2E, SHIFTER)`, `kf = t − SHIFTER` (`kf` = `x·log2e` rounded to the nearest
//!    integer, ties to even), `k = kf as i32` ∈ [−150, 128].
//! 3. `rh = fma(−kf, LN2_HI, x)` (exact), `r = fma(−kf, LN2_LO, rh)`.
//! 4. `q = fma(E6, r, E5)`, `q = fma(q, r, E4)`, `q = fma(q, r, E3)`, `q = fma(q, r, E2)`,
//!    `qh = fma(q, r, 1)`, `p = fma(qh, r, 1)` (so `p ≈ 1 + r + E2·r² + … + E6·r⁶`).
//! 5. `p·2^k`: one multiplication by `2^k` when −126 ≤ k ≤ 127; `(p·2^(k−1))·2` when k = 128;
//!    `(p·2^(k+64))·2^−64` when k < −126 (the first product is exact, so a subnormal result
//!    is rounded once).

use super::{CANONICAL_NAN, pow2i};

/// 1.5·2²³: adding and subtracting it rounds a value of magnitude < 2²² to an integer.
pub(crate) const SHIFTER: f32 = f32::from_bits(0x4B40_0000);
/// log2(e) rounded to f32 (0x3FB8AA3B).
const LOG2E: f32 = f32::from_bits(0x3FB8_AA3B);
/// ln 2 rounded to f32 (0x3F317218); `kf·LN2_HI` with |kf| ≤ 150 makes `x − kf·LN2_HI` exact.
const LN2_HI: f32 = f32::from_bits(0x3F31_7218);
/// ln 2 − LN2_HI rounded to f32 (0xB102E308 ≈ −1.904654e−9).
const LN2_LO: f32 = f32::from_bits(0xB102_E308);
/// Largest x with a finite e^x: 0x42B17217 = 88.72283172607421875.
const OVERFLOW_MAX: f32 = f32::from_bits(0x42B1_7217);
/// Below −104 (0xC2D00000), e^x < 2⁻¹⁵⁰ rounds to +0.
const UNDERFLOW_MIN: f32 = f32::from_bits(0xC2D0_0000);

/// Coefficients E2..E6 of the minimax polynomial for e^r on |r| ≤ ln2/2 (relative error of the
/// real polynomial 2^−28.3).
const E2: f32 = f32::from_bits(0x3EFF_FFFE);
const E3: f32 = f32::from_bits(0x3E2A_AA49);
const E4: f32 = f32::from_bits(0x3D2A_AC79);
const E5: f32 = f32::from_bits(0x3C09_1CEB);
const E6: f32 = f32::from_bits(0x3AB5_1225);

/// e^x, within 1 ulp of the correctly rounded result (measured; docs/numerics.md §4).
///
/// Special values: `exp(NaN) = NaN`, `exp(+inf) = +inf`, `exp(−inf) = +0`, `exp(±0) = 1`.
/// Results between 2⁻¹⁴⁹ and 2⁻¹²⁶ are subnormal (gradual underflow, rounded once).
pub(crate) fn exp(x: f32) -> f32 {
    if x.is_nan() {
        return CANONICAL_NAN;
    }
    if x > OVERFLOW_MAX {
        return f32::INFINITY;
    }
    if x < UNDERFLOW_MIN {
        return 0.0;
    }
    let (p, _, k) = exp_parts(x);
    scale2(p, k)
}

/// `(ph, pl, k)` with `e^x ≈ (ph + pl)·2^k`, `ph ∈ [0.707, 1.415]`, `|pl| ≤ 2⁻²³`, for
/// −104 ≤ x ≤ 88.8. `ph` is the value `exp` scales; `pl` collects the rounding errors of the
/// last two Horner steps and of `r`, so `ph + pl` is accurate to about 2⁻²⁸ relative:
/// `rl = fma(−kf, LN2_LO, rh − r)`, `qh = fma(q, r, 1)`, `ql = fma(q, r, 1 − qh)`,
/// `ph = fma(qh, r, 1)`, `pl = fma(qh, r, 1 − ph) + fma(ql, r, rl·ph)`.
#[inline(always)]
pub(crate) fn exp_parts(x: f32) -> (f32, f32, i32) {
    let t = x.mul_add(LOG2E, SHIFTER);
    let kf = t - SHIFTER;
    let rh = (-kf).mul_add(LN2_HI, x);
    let r = (-kf).mul_add(LN2_LO, rh);
    let rl = (-kf).mul_add(LN2_LO, rh - r);
    let q = E6.mul_add(r, E5);
    let q = q.mul_add(r, E4);
    let q = q.mul_add(r, E3);
    let q = q.mul_add(r, E2);
    let qh = q.mul_add(r, 1.0);
    let ql = q.mul_add(r, 1.0 - qh);
    let ph = qh.mul_add(r, 1.0);
    let pl = qh.mul_add(r, 1.0 - ph) + ql.mul_add(r, rl * ph);
    (ph, pl, shifted_int(t))
}

/// `k = kf as i32` for `t = kf + SHIFTER` with `kf` an integer of magnitude < 2²², read from
/// the bits of `t` (which lies in the binade [2²³, 2²⁴), where the spacing is 1, so its bits are
/// `bits(SHIFTER) + kf`). Integer arithmetic only: unlike the saturating `as` conversion, a loop
/// of it compiles to vector code. Every caller of [`exp_parts`] stays inside |x·log2e| < 2²²
/// (the scalar functions below 151, the branch-free cores of `math::lanes` below 2²¹·log2e,
/// including the cases they compute and then discard), so this is exactly `kf as i32`.
#[inline(always)]
fn shifted_int(t: f32) -> i32 {
    (t.to_bits() as i32).wrapping_sub(SHIFTER.to_bits() as i32)
}

/// e^x for `EXP_CORE_MIN ≤ x ≤ EXP_CORE_MAX`, where `k` ∈ [−126, 127] and [`exp`] scales by
/// one multiplication: the same bits as [`exp`], without branches (vectorizable).
#[inline(always)]
pub(crate) fn exp_core(x: f32) -> f32 {
    let (p, _, k) = exp_parts(x);
    p * pow2i(k)
}

/// Lower end of the range of [`exp_core`] (−87: `x·log2e` ≥ −125.6, so k ≥ −126).
pub(crate) const EXP_CORE_MIN: f32 = -87.0;
/// Upper end of the range of [`exp_core`] (88: `x·log2e` ≤ 126.96, so k ≤ 127).
pub(crate) const EXP_CORE_MAX: f32 = 88.0;

/// `p·2^k` for `k` in [−150, 128] and `p` in [0.5, 2), rounded once.
#[inline]
fn scale2(p: f32, k: i32) -> f32 {
    if k > 127 {
        p * pow2i(k - 1) * 2.0
    } else if k < -126 {
        p * pow2i(k + 64) * pow2i(-64)
    } else {
        p * pow2i(k)
    }
}
