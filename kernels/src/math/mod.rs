//! Deterministic scalar math built only from `+ - * /`, `sqrt` and explicit `fma`
//! (`f32::mul_add`), comparisons and integer/bit operations. No platform libm, no `f64`.
//!
//! Every function is a fixed sequence of correctly rounded f32 operations, so it returns the
//! same bits on every IEEE 754 machine. The exact sequences, constants (as bit patterns) and
//! the measured error bounds are in docs/numerics.md §4; the tests in `accuracy_tests` measure
//! the error against an f64 reference over > 10⁶ inputs per function and pin a few output bit
//! patterns per function.
//!
//! Every NaN result is the canonical quiet NaN `0x7FC00000` (never a propagated payload), so
//! NaN bits do not depend on the platform either.
//!
//! | function | asserted bound |
//! |---|---|
//! | [`exp`], [`ln`], [`tanh`], [`sigmoid`], [`erf`], [`sin`], [`cos`] | ≤ 1 ulp |
//! | [`sqrt`] | correctly rounded |
//! | [`rsqrt`] | ≤ 0.5 ulp + 10⁻⁶ (correctly rounded on all samples) |
//! | [`gelu_tanh`], [`gelu_erf`] | ≤ 2 ulp for x ≥ 0; by region below, see §4.1 |

mod erf;
mod exp;
mod gelu;
mod hyperbolic;
pub(crate) mod lanes;
mod log;
mod root;
mod trig;
mod trig_reduce;

pub(crate) use hyperbolic::tanh_core;

#[cfg(test)]
mod accuracy_tests;
#[cfg(test)]
mod golden_tests;

/// The quiet NaN every function returns for a NaN result (bits `0x7FC00000`).
pub const CANONICAL_NAN: f32 = f32::from_bits(0x7FC0_0000);

/// e^x, within 1 ulp of the correctly rounded result (measured; docs/numerics.md §4).
///
/// Special values: `exp(NaN) = NaN`, `exp(+inf) = +inf`, `exp(−inf) = +0`, `exp(±0) = 1`.
/// Results between 2⁻¹⁴⁹ and 2⁻¹²⁶ are subnormal (gradual underflow, rounded once).
#[inline]
pub fn exp(x: f32) -> f32 {
    canon(exp::exp(x))
}

/// Natural logarithm, within 1 ulp of the correctly rounded result (measured).
///
/// `ln(±0) = −inf`, `ln(x < 0) = NaN`, `ln(+inf) = +inf`, `ln(NaN) = NaN`, `ln(1) = +0`.
#[inline]
pub fn ln(x: f32) -> f32 {
    canon(log::ln(x))
}

/// Hyperbolic tangent (≤ 1 ulp, measured; docs/numerics.md §4).
///
/// `tanh(±0) = ±0`, `tanh(±inf) = ±1`, `tanh(NaN) = NaN`; |tanh(x)| = 1 exactly for |x| ≥ 9.125.
#[inline]
pub fn tanh(x: f32) -> f32 {
    canon(hyperbolic::tanh(x))
}

/// Logistic sigmoid `1/(1 + e^−x)` (≤ 1 ulp, measured).
///
/// `sigmoid(+inf) = 1`, `sigmoid(−inf) = +0`, `sigmoid(NaN) = NaN`. For very negative x the
/// result follows e^x into the subnormal range (no premature flush to 0).
#[inline]
pub fn sigmoid(x: f32) -> f32 {
    canon(hyperbolic::sigmoid(x))
}

/// Error function (≤ 1 ulp, measured; docs/numerics.md §4).
///
/// `erf(±0) = ±0`, `erf(±inf) = ±1`, `erf(NaN) = NaN`; |erf(x)| = 1 exactly for |x| ≥ 4.
#[inline]
pub fn erf(x: f32) -> f32 {
    canon(erf::erf(x))
}

/// GELU, tanh approximation: `0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))`.
///
/// Evaluated as `x·sigmoid(2·√(2/π)·(x + 0.044715·x³))` (see the module docs for the order).
#[inline]
pub fn gelu_tanh(x: f32) -> f32 {
    canon(gelu::gelu_tanh(x))
}

/// GELU, exact form: `0.5·x·(1 + erf(x/√2))` (see the module docs for the order).
#[inline]
pub fn gelu_erf(x: f32) -> f32 {
    canon(gelu::gelu_erf(x))
}

/// Sine (≤ 1 ulp, measured). Every finite argument is reduced exactly enough (Payne–Hanek for
/// |x| ≥ 2¹⁷). `sin(±0) = ±0`, `sin(±inf) = NaN`, `sin(NaN) = NaN`.
#[inline]
pub fn sin(x: f32) -> f32 {
    canon(trig::sin(x))
}

/// Cosine (≤ 1 ulp, measured). `cos(±0) = 1`, `cos(±inf) = NaN`, `cos(NaN) = NaN`.
#[inline]
pub fn cos(x: f32) -> f32 {
    canon(trig::cos(x))
}

/// Square root, IEEE 754 correctly rounded (`f32::sqrt`). `sqrt(−0) = −0`; a negative or NaN
/// argument gives the canonical NaN.
#[inline]
pub fn sqrt(x: f32) -> f32 {
    canon(root::sqrt(x))
}

/// `1/√x` (≤ 0.5 ulp + 10⁻⁶ asserted; correctly rounded on every sampled input).
#[inline]
pub fn rsqrt(x: f32) -> f32 {
    canon(root::rsqrt(x))
}

/// Replaces any NaN by [`CANONICAL_NAN`], in the integer domain. (Rust and LLVM treat NaN
/// sign and payload as unspecified, and do fold e.g. `if x < 0 { NAN } else { x.sqrt() }` into a
/// bare `sqrtss`, whose NaN is negative on x86; the bit test cannot be folded that way.)
#[inline]
fn canon(r: f32) -> f32 {
    let b = r.to_bits();
    f32::from_bits(if b & 0x7FFF_FFFF > 0x7F80_0000 {
        0x7FC0_0000
    } else {
        b
    })
}

/// `2^k` for −126 ≤ k ≤ 127, built from its bits.
#[inline(always)]
pub(crate) const fn pow2i(k: i32) -> f32 {
    // Wrapping: the same value for every k in range, and no overflow check in builds with
    // them (tests), where a check in the vectorized loops of `math::lanes` kept them scalar.
    f32::from_bits((k.wrapping_add(127) as u32) << 23)
}
