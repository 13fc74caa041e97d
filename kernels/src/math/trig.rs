//! `sin` and `cos`: reduction to `r ∈ [−π/4, π/4]` (see `trig_reduce.rs`) and fixed
//! polynomial kernels that take the remainder as a double-f32 `rh + rl`.
//!
//! Kernels (docs/numerics.md §4.7):
//! - `ksin(rh, rl)`: `z = rh·rh`, `s3 = z·rh`, `p = S0 + z·(S1 + z·(S2 + z·S3))` (Horner, fma),
//!   `c = fma(z, −0.5, 1)`, result `rh + fma(s3, p, rl·c)`.
//! - `kcos(rh, rl)`: `z = rh·rh`, `zl = fma(rh, rh, −z)`, `hz = 0.5·z`, `w = 1 − hz`,
//!   `tail = (1 − w) − hz`, `p = C0 + z·(C1 + z·C2)`, `corr = fma(z·z, p, tail − 0.5·zl)`,
//!   `corr = fma(−rh, rl, corr)`, result `w + corr`.
//! - `sin(x)`: quadrant 0,1,2,3 → `ksin, kcos, −ksin, −kcos`, then the sign of x.
//!   `cos(x)`: quadrant 0,1,2,3 → `kcos, −ksin, −kcos, ksin`.

use super::CANONICAL_NAN;
use super::erf::horner;
use super::trig_reduce::reduce;

/// Minimax coefficients of (sin r − r)/r³ in z = r² on |r| ≤ 1.01·π/4 (relative 2^−37.4).
const S: [f32; 4] = [
    f32::from_bits(0xBE2A_AAAB),
    f32::from_bits(0x3C08_8884),
    f32::from_bits(0xB950_0789),
    f32::from_bits(0x3636_5C01),
];
/// Minimax coefficients of (cos r − 1 + r²/2)/r⁴ in z = r² on |r| ≤ 1.01·π/4
/// (relative 2^−32.9).
const C: [f32; 3] = [
    f32::from_bits(0x3D2A_AAA5),
    f32::from_bits(0xBAB6_05E2),
    f32::from_bits(0x37CC_E5C0),
];

#[inline]
fn ksin(rh: f32, rl: f32) -> f32 {
    let z = rh * rh;
    let s3 = z * rh;
    let p = horner(&S, z);
    let c = z.mul_add(-0.5, 1.0);
    rh + s3.mul_add(p, rl * c)
}

#[inline]
fn kcos(rh: f32, rl: f32) -> f32 {
    let z = rh * rh;
    let zl = rh.mul_add(rh, -z);
    let hz = 0.5 * z;
    let w = 1.0 - hz;
    let tail = (1.0 - w) - hz;
    let p = horner(&C, z);
    let corr = (z * z).mul_add(p, tail - 0.5 * zl);
    let corr = (-rh).mul_add(rl, corr);
    w + corr
}

/// Sine (≤ 1 ulp, measured). Every finite argument is reduced exactly enough (Payne–Hanek for
/// |x| ≥ 2¹⁷). `sin(±0) = ±0`, `sin(±inf) = NaN`, `sin(NaN) = NaN`.
pub(crate) fn sin(x: f32) -> f32 {
    if !x.is_finite() {
        return CANONICAL_NAN;
    }
    let (q, rh, rl) = reduce(x.abs());
    let y = match q {
        0 => ksin(rh, rl),
        1 => kcos(rh, rl),
        2 => -ksin(rh, rl),
        _ => -kcos(rh, rl),
    };
    if x.is_sign_negative() { -y } else { y }
}

/// Cosine (≤ 1 ulp, measured). `cos(±0) = 1`, `cos(±inf) = NaN`, `cos(NaN) = NaN`.
pub(crate) fn cos(x: f32) -> f32 {
    if !x.is_finite() {
        return CANONICAL_NAN;
    }
    let (q, rh, rl) = reduce(x.abs());
    match q {
        0 => kcos(rh, rl),
        1 => -ksin(rh, rl),
        2 => -kcos(rh, rl),
        _ => ksin(rh, rl),
    }
}
