//! `tanh` (odd polynomial near 0, `1 − 2/(e^{2|x|} + 1)` beyond) and `sigmoid`.
//!
//! Algorithms (docs/numerics.md §4.4):
//! - `tanh`: `±0 → ±0`; `a = |x|`. If `a < 0.625`: `z = x·x`, `p = T0 + z·(T1 + … + z·T5)`
//!   by Horner with fma, result `fma(x·z, p, x)`. If `a ≥ 9.125`: `±1`. Else
//!   `e^{2a} = (ph + pl)·2^k` from `exp_parts(a + a)`, `eh = ph·2^k`, `el = pl·2^k`,
//!   `dh = eh + 1`, `dl = ((eh − dh) + 1) + el`, `q = 2/dh`, `rem = fma(−q, dh, 2)`,
//!   `rem = fma(−q, dl, rem)`, `q = fma(rem, 0.5·q, q)`, `y = 1 − q` with the sign of x.
//! - `sigmoid`: `x > 20`: 1; `x < −80`: `exp(x)`; else `(ph, pl, k) = exp_parts(−|x|)`,
//!   `eh = ph·2^k`, `el = pl·2^k`, `dh = 1 + eh`, `dl = ((1 − dh) + eh) + el`;
//!   `x ≥ 0`: `q = 1/dh`, `rem = fma(−q, dh, 1)`, `rem = fma(−q, dl, rem)`, result
//!   `fma(rem, q, q)`; `x < 0`: `q = eh/dh`, `rem = fma(−q, dh, eh)`,
//!   `rem = fma(−q, dl, rem + el)`, result `q + rem/dh`.

use super::exp::exp_parts;
use super::{CANONICAL_NAN, exp, pow2i};

/// Above this x (0x41A00000 = 20) sigmoid(x) rounds to 1.
const SIGMOID_ONE_MIN: f32 = f32::from_bits(0x41A0_0000);
/// Below this x (0xC2A00000 = −80) sigmoid(x) = e^x/(1 + e^x) equals e^x to 2⁻¹¹⁵ relative.
const SIGMOID_EXP_MAX: f32 = f32::from_bits(0xC2A0_0000);

/// Below this |x| (0x3F200000 = 0.625) tanh uses the odd polynomial.
const TANH_POLY_MAX: f32 = f32::from_bits(0x3F20_0000);
/// From this |x| on (0x41120000 = 9.125) tanh(x) rounds to ±1.
const TANH_ONE_MIN: f32 = f32::from_bits(0x4112_0000);
/// Minimax coefficients of (tanh(x) − x)/x³ in z = x² on [0, 0.625²] (weighted relative error
/// of the real polynomial 2^−32.5).
const T0: f32 = f32::from_bits(0xBEAA_AAAA);
const T1: f32 = f32::from_bits(0x3E08_8833);
const T2: f32 = f32::from_bits(0xBD5C_F748);
const T3: f32 = f32::from_bits(0x3CB1_C5AC);
const T4: f32 = f32::from_bits(0xBC05_FA7D);
const T5: f32 = f32::from_bits(0x3B0C_70EB);

/// Hyperbolic tangent (≤ 1 ulp, measured; docs/numerics.md §4).
///
/// `tanh(±0) = ±0`, `tanh(±inf) = ±1`, `tanh(NaN) = NaN`; |tanh(x)| = 1 exactly for |x| ≥ 9.125.
pub(crate) fn tanh(x: f32) -> f32 {
    if x.is_nan() {
        return CANONICAL_NAN;
    }
    if x == 0.0 {
        return x;
    }
    if x.abs() >= TANH_ONE_MIN {
        return 1.0f32.copysign(x);
    }
    tanh_core(x)
}

/// `tanh(x)` for `|x| ≤ 2²⁰` (zero included), without branches: both the polynomial
/// and the exponential form are evaluated and one is selected, so the compiler can vectorize
/// a loop of calls. Each form is the exact sequence of the module docs, so the result has the
/// bits [`tanh`] returns.
#[inline(always)]
pub(crate) fn tanh_core(x: f32) -> f32 {
    let a = x.abs();
    let z = x * x;
    let p = T5.mul_add(z, T4);
    let p = p.mul_add(z, T3);
    let p = p.mul_add(z, T2);
    let p = p.mul_add(z, T1);
    let p = p.mul_add(z, T0);
    let small = (x * z).mul_add(p, x);
    // e^{2a} = eh + el; d = eh + 1 + el = dh + dl (Fast2Sum, eh ≥ 1).
    let (ph, pl, k) = exp_parts(a + a);
    let s = pow2i(k);
    let (eh, el) = (ph * s, pl * s);
    let dh = eh + 1.0;
    let dl = ((eh - dh) + 1.0) + el;
    // q = 2/d: quotient, exact remainder, one correction.
    let q = 2.0 / dh;
    let rem = (-q).mul_add(dh, 2.0);
    let rem = (-q).mul_add(dl, rem);
    let q = rem.mul_add(0.5 * q, q);
    let large = (1.0 - q).copysign(x);
    let y = if a < TANH_POLY_MAX { small } else { large };
    let y = if a >= TANH_ONE_MIN {
        1.0f32.copysign(x)
    } else {
        y
    };
    if x == 0.0 { x } else { y }
}

/// Logistic sigmoid `1/(1 + e^−x)` (≤ 1 ulp, measured).
///
/// `sigmoid(+inf) = 1`, `sigmoid(−inf) = +0`, `sigmoid(NaN) = NaN`. For very negative x the
/// result follows e^x into the subnormal range (no premature flush to 0).
pub(crate) fn sigmoid(x: f32) -> f32 {
    if x.is_nan() {
        return CANONICAL_NAN;
    }
    if x > SIGMOID_ONE_MIN {
        return 1.0;
    }
    if x < SIGMOID_EXP_MAX {
        return exp(x);
    }
    sigmoid_core(x)
}

/// `sigmoid(x)` for `−80 ≤ x ≤ 2²⁰`, without branches: both sign cases are evaluated and one
/// is selected, so the compiler can vectorize a loop of calls. Each case is the exact sequence
/// of the module docs, so the result has the bits [`sigmoid`] returns.
#[inline(always)]
pub(crate) fn sigmoid_core(x: f32) -> f32 {
    sigmoid_finish(x, sigmoid_start(x))
}

/// The first half of [`sigmoid_core`]: `[n, dh, dl, el]` with `d = 1 + e^{−|x|} = dh + dl`
/// and the numerator `n` of the quotient `q = n/dh`: `1` for x ≥ 0, `eh` for x < 0.
///
/// The two sign cases start alike (`q = n/dh`, `rem = fma(−q, dh, n)`), so one division
/// serves both. `math::lanes` stores these values for a block and runs [`sigmoid_finish`]
/// in a second loop: in one loop the compiler splits `select(c, 1, eh)/dh` back into two
/// divisions. Same operations on every element either way.
#[inline(always)]
pub(crate) fn sigmoid_start(x: f32) -> [f32; 4] {
    let (ph, pl, k) = exp_parts(-x.abs());
    let s = pow2i(k);
    let (eh, el) = (ph * s, pl * s);
    // d = 1 + eh + el = dh + dl (Fast2Sum, eh ≤ 1).
    let dh = 1.0 + eh;
    let dl = ((1.0 - dh) + eh) + el;
    let n = if x >= 0.0 { 1.0 } else { eh };
    [n, dh, dl, el]
}

/// The second half of [`sigmoid_core`], from [`sigmoid_start`]`(x)`.
/// x ≥ 0: `q = 1/dh`, `rem = fma(−q, dl, fma(−q, dh, 1))`, result `fma(rem, q, q)`;
/// x < 0: `q = eh/dh`, `rem = fma(−q, dl, fma(−q, dh, eh) + el)`, result `q + rem/dh`.
#[inline(always)]
pub(crate) fn sigmoid_finish(x: f32, [n, dh, dl, el]: [f32; 4]) -> f32 {
    let nonneg = x >= 0.0;
    let q = n / dh;
    let rem = (-q).mul_add(dh, n);
    let rem = (-q).mul_add(dl, if nonneg { rem } else { rem + el });
    let pos = rem.mul_add(q, q);
    let neg = q + rem / dh;
    let y = if nonneg { pos } else { neg };
    if x > SIGMOID_ONE_MIN { 1.0 } else { y }
}
