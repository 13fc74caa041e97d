//! Deterministic scalar math built only from `+ - * /`, `sqrt` and explicit `fma`.
//!
//! PLACEHOLDER during development: these forward to the platform libm and are replaced by the
//! RepOps implementations (see docs/numerics.md) before this module is considered done.

/// e^x.
pub fn exp(x: f32) -> f32 {
    x.exp()
}
/// Natural logarithm.
pub fn ln(x: f32) -> f32 {
    x.ln()
}
/// Hyperbolic tangent.
pub fn tanh(x: f32) -> f32 {
    x.tanh()
}
/// Logistic sigmoid 1/(1+e^-x).
pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}
/// Error function.
pub fn erf(x: f32) -> f32 {
    (x as f64).tanh() as f32 // placeholder only
}
/// GELU, tanh form: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))).
pub fn gelu_tanh(x: f32) -> f32 {
    0.5 * x * (1.0 + tanh(0.797_884_6 * (x + 0.044715 * x * x * x)))
}
/// GELU, erf form: 0.5·x·(1 + erf(x/√2)).
pub fn gelu_erf(x: f32) -> f32 {
    0.5 * x * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2))
}
/// Sine.
pub fn sin(x: f32) -> f32 {
    x.sin()
}
/// Cosine.
pub fn cos(x: f32) -> f32 {
    x.cos()
}
/// Square root (IEEE, correctly rounded).
pub fn sqrt(x: f32) -> f32 {
    x.sqrt()
}
/// 1/√x.
pub fn rsqrt(x: f32) -> f32 {
    1.0 / x.sqrt()
}
