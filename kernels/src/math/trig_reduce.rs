//! Argument reduction for sin/cos: `|x| = j·π/2 + r`, `r = rh + rl` (a double-f32 value),
//! quadrant `j mod 4`.
//!
//! - `|x| ≤ 0x3F490FDB` (π/4 rounded up): `j = 0`, `r = |x|`.
//! - `|x| < 2¹⁷`: Cody–Waite with three f32 parts of π/2 and an exact double-f32 remainder.
//! - `|x| ≥ 2¹⁷`: Payne–Hanek: the 24-bit integer mantissa times a 96-bit window of the bits
//!   of 2/π (integer arithmetic, exact), giving the quadrant and 64 fraction bits.
//!
//! See docs/numerics.md §4.7 for the exact sequences.

use super::exp::SHIFTER;

/// π/4 rounded up to f32 (0x3F490FDB).
const PI_4: f32 = f32::from_bits(0x3F49_0FDB);
/// Cody–Waite limit 2¹⁷ (0x48000000).
const CW_MAX: f32 = f32::from_bits(0x4800_0000);
/// 2/π rounded to f32 (0x3F22F983).
const TWO_OVER_PI: f32 = f32::from_bits(0x3F22_F983);
/// π/2 = P1 + P2 + P3 + O(2⁻⁷⁵): P1 = fl(π/2) (0x3FC90FDB), P2 = fl(π/2 − P1) (0xB33BBD2E),
/// P3 = fl(π/2 − P1 − P2) (0xA6F72CED).
const P1: f32 = f32::from_bits(0x3FC9_0FDB);
const P2: f32 = f32::from_bits(0xB33B_BD2E);
const P3: f32 = f32::from_bits(0xA6F7_2CED);

/// The first 256 bits of 2/π after the binary point, most significant first.
const TWO_OVER_PI_BITS: [u32; 8] = [
    0xA2F9_836E,
    0x4E44_1529,
    0xFC27_57D1,
    0xF534_DDC0,
    0xDB62_9599,
    0x3C43_9041,
    0xFE51_63AB,
    0xDEBB_C561,
];

/// Reduces a finite `a ≥ 0`: returns `(j mod 4, rh, rl)` with `a ≈ j·π/2 + rh + rl`,
/// `|rh| ≤ π/4·(1 + 2⁻⁶)`, `|rl| ≤ ulp(rh)/2`.
#[inline]
pub(crate) fn reduce(a: f32) -> (u32, f32, f32) {
    if a <= PI_4 {
        (0, a, 0.0)
    } else if a < CW_MAX {
        cody_waite(a)
    } else {
        payne_hanek(a)
    }
}

/// Cody–Waite for π/4 < a < 2¹⁷.
#[inline]
pub(crate) fn cody_waite(a: f32) -> (u32, f32, f32) {
    let t = a.mul_add(TWO_OVER_PI, SHIFTER);
    let j = t - SHIFTER;
    // a − j·P1 is exact: both are multiples of 2⁻²⁴·(a's binade) and the difference is < 1.
    let r1 = (-j).mul_add(P1, a);
    // j·P2 = ph + pl exactly.
    let ph = j * P2;
    let pl = j.mul_add(P2, -ph);
    // TwoSum(r1, −ph) = (s, err) exactly.
    let s = r1 - ph;
    let bb = s - r1;
    let err = (r1 - (s - bb)) + (-ph - bb);
    let rlo = (-j).mul_add(P3, err - pl);
    // Fast2Sum(s, rlo).
    let rh = s + rlo;
    let rl = rlo - (rh - s);
    ((j as u32) & 3, rh, rl)
}

/// Payne–Hanek for any finite a ≥ 0.5 (used for a ≥ 2¹⁷; tests also run it below).
pub(crate) fn payne_hanek(a: f32) -> (u32, f32, f32) {
    let bits = a.to_bits();
    let m = u128::from((bits & 0x007F_FFFF) | 0x0080_0000);
    // a = m·2^e2.
    let e2 = ((bits >> 23) as i32) - 127 - 23;
    // Window of 96 bits of 2/π starting at bit p (bit 1 = first bit after the point); the
    // bits before p contribute multiples of 4 to a·2/π.
    let p = (e2 - 1).max(1);
    let off = (p - 1) as usize;
    let (wi, sh) = (off / 32, off % 32);
    let mut four: u128 = 0;
    for k in 0..4 {
        four = (four << 32) | u128::from(TWO_OVER_PI_BITS[wi + k]);
    }
    let window = (four << sh) >> 32;
    // a·2/π ≡ m·window·2^−s (mod 4), with s = p + 95 − e2 ∈ [94, 120].
    let prod = m * window;
    let s = (p + 95 - e2) as u32;
    let mut q = ((prod >> s) & 3) as u32;
    let frac = (prod >> (s - 64)) as u64;
    // Centre the fraction in [−1/2, 1/2) quadrant.
    q = (q + (frac >> 63) as u32) & 3;
    let fr = frac as i64;
    let hi = fr as f32;
    let lo = (i128::from(fr) - hi as i128) as f32;
    let scale = super::pow2i(-64);
    let (hi, lo) = (hi * scale, lo * scale);
    // (hi + lo)·(P1 + P2) as a double-f32.
    let rh0 = hi * P1;
    let e = hi.mul_add(P1, -rh0);
    let rl0 = hi.mul_add(P2, lo.mul_add(P1, e));
    let rh = rh0 + rl0;
    let rl = rl0 - (rh - rh0);
    (q, rh, rl)
}
