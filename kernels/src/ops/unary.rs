//! Unary elementwise ops and their backward functions.
//!
//! Forward: `y[i] = f(x[i])` with `f` from [`crate::math`] or a single correctly rounded
//! operation. Backward: `dx[i] = dy[i] · d[i]` where `d` is the derivative, computed first and
//! rounded, then multiplied by `dy` (one more rounding), unless stated otherwise. Backward of
//! `exp`, `tanh`, `sigmoid`, `sqrt` and `rsqrt` take the forward *output* `y`; the others take
//! the input `x`. Exact formulas: docs/numerics.md §7.
//!
//! All shapes must match exactly (no broadcasting) and tensors must be non-empty.

use crate::cpu::Cpu;
use crate::error::Result;
use crate::math;
use crate::math::lanes;
use crate::ops::elementwise::{map_same_shape, map_same_shape_slices, map_unary, map_unary_slices};
use crate::tensor::Tensor;

/// √(2/π) rounded to f32 (0x3F4C422A ≈ 0.79788458), used by the tanh-form GELU derivative.
pub const GELU_TANH_C: f32 = f32::from_bits(0x3F4C_422A);
/// 0.044715 rounded to f32 (0x3D372713), the cubic coefficient of the tanh-form GELU.
pub const GELU_TANH_A: f32 = f32::from_bits(0x3D37_2713);
/// 0.134145 = 3·0.044715 rounded to f32 (0x3E095D4F), the derivative's coefficient.
pub const GELU_TANH_3A: f32 = f32::from_bits(0x3E09_5D4F);
/// 1/√2 rounded to f32 (0x3F3504F3).
pub const FRAC_1_SQRT_2: f32 = f32::from_bits(0x3F35_04F3);
/// 1/√(2π) rounded to f32 (0x3ECC422A ≈ 0.39894229), the standard normal density at 0.
pub const FRAC_1_SQRT_2PI: f32 = f32::from_bits(0x3ECC_422A);

/// `y = −x` (sign flip, exact).
pub fn neg(cx: &Cpu, x: &Tensor) -> Result<Tensor> {
    map_unary(cx, "neg", x, |v| -v)
}

/// Backward of [`neg`]: `dx = −dy`.
pub fn neg_backward(cx: &Cpu, dy: &Tensor) -> Result<Tensor> {
    map_unary(cx, "neg_backward", dy, |g| -g)
}

/// `y = math::exp(x)`.
pub fn exp(cx: &Cpu, x: &Tensor) -> Result<Tensor> {
    map_unary_slices(cx, "exp", x, lanes::exp)
}

/// Backward of [`exp`] from its output `y`: `dx = dy · y`.
pub fn exp_backward(cx: &Cpu, y: &Tensor, dy: &Tensor) -> Result<Tensor> {
    map_same_shape(cx, "exp_backward", y, dy, |y, g| g * y)
}

/// `y = math::ln(x)`.
pub fn ln(cx: &Cpu, x: &Tensor) -> Result<Tensor> {
    map_unary(cx, "ln", x, math::ln)
}

/// Backward of [`ln`] from its input `x`: `dx = dy / x` (one division).
pub fn ln_backward(cx: &Cpu, x: &Tensor, dy: &Tensor) -> Result<Tensor> {
    map_same_shape(cx, "ln_backward", x, dy, |x, g| g / x)
}

/// `y = math::tanh(x)`.
pub fn tanh(cx: &Cpu, x: &Tensor) -> Result<Tensor> {
    map_unary_slices(cx, "tanh", x, lanes::tanh)
}

/// Backward of [`tanh`] from its output `y`: `d = fma(−y, y, 1)`, `dx = dy · d`.
pub fn tanh_backward(cx: &Cpu, y: &Tensor, dy: &Tensor) -> Result<Tensor> {
    map_same_shape(cx, "tanh_backward", y, dy, |y, g| g * (-y).mul_add(y, 1.0))
}

/// `y = math::sigmoid(x)`.
pub fn sigmoid(cx: &Cpu, x: &Tensor) -> Result<Tensor> {
    map_unary_slices(cx, "sigmoid", x, lanes::sigmoid)
}

/// Backward of [`sigmoid`] from its output `y`: `d = y · (1 − y)` (two roundings),
/// `dx = dy · d`.
pub fn sigmoid_backward(cx: &Cpu, y: &Tensor, dy: &Tensor) -> Result<Tensor> {
    map_same_shape(cx, "sigmoid_backward", y, dy, |y, g| g * (y * (1.0 - y)))
}

/// ReLU of one value: `x` if `x > 0`, `x` itself if NaN, else `+0.0` (so `relu(−0) = +0`).
#[inline]
pub fn relu_scalar(x: f32) -> f32 {
    if x > 0.0 || x.is_nan() { x } else { 0.0 }
}

/// `y = relu(x)` (see [`relu_scalar`]).
pub fn relu(cx: &Cpu, x: &Tensor) -> Result<Tensor> {
    map_unary(cx, "relu", x, relu_scalar)
}

/// Backward of [`relu`] from its input `x`: `dx = dy` where `x > 0`, `dx = x` (NaN, kept)
/// where `x` is NaN, `dx = +0.0` elsewhere (so relu'(0) = 0).
pub fn relu_backward(cx: &Cpu, x: &Tensor, dy: &Tensor) -> Result<Tensor> {
    map_same_shape(cx, "relu_backward", x, dy, |x, g| {
        if x > 0.0 {
            g
        } else if x.is_nan() {
            x
        } else {
            0.0
        }
    })
}

/// Derivative of the tanh-form GELU, `0.5·x·(1 + tanh(c·(x + a·x³)))`, evaluated as
///
/// ```text
/// x2 = x·x;  x3 = x2·x
/// t  = math::tanh(c · fma(a, x3, x))          c = GELU_TANH_C, a = GELU_TANH_A
/// s  = fma(−t, t, 1)                          (sech², 1 − t²)
/// l  = 0.5 · (1 + t)
/// if s == 0: d = l
/// else:      d = fma((0.5·x) · s, c · fma(3a, x2, 1), l)     3a = GELU_TANH_3A
/// ```
///
/// The `s == 0` branch (|t| = 1) keeps `d` finite when `x2` overflows.
#[inline]
pub fn gelu_tanh_grad(x: f32) -> f32 {
    gelu_tanh_grad_with(x, math::tanh)
}

/// The tanh argument of [`gelu_tanh_grad`]: `c · fma(a, (x·x)·x, x)`.
#[inline(always)]
fn gelu_tanh_grad_arg(x: f32) -> f32 {
    GELU_TANH_C * GELU_TANH_A.mul_add((x * x) * x, x)
}

/// [`gelu_tanh_grad`] with the tanh given: `math::tanh`, or its branch-free core where that
/// has the same bits (the vectorized backward).
#[inline(always)]
fn gelu_tanh_grad_with(x: f32, tanh: impl Fn(f32) -> f32) -> f32 {
    let x2 = x * x;
    let t = tanh(gelu_tanh_grad_arg(x));
    let s = (-t).mul_add(t, 1.0);
    let l = 0.5 * (1.0 + t);
    if s == 0.0 {
        l
    } else {
        let du = GELU_TANH_C * GELU_TANH_3A.mul_add(x2, 1.0);
        ((0.5 * x) * s).mul_add(du, l)
    }
}

/// `y = math::gelu_tanh(x)`.
pub fn gelu_tanh(cx: &Cpu, x: &Tensor) -> Result<Tensor> {
    map_unary_slices(cx, "gelu_tanh", x, lanes::gelu_tanh)
}

/// Backward of [`gelu_tanh`] from its input: `dx = dy · gelu_tanh_grad(x)`.
pub fn gelu_tanh_backward(cx: &Cpu, x: &Tensor, dy: &Tensor) -> Result<Tensor> {
    map_same_shape_slices(cx, "gelu_tanh_backward", x, dy, gelu_tanh_backward_slices)
}

crate::cpu::simd_fn! {
    /// `out[i] = dy[i] · gelu_tanh_grad(x[i])`, vectorized (`math::lanes`).
    fn gelu_tanh_backward_slices(xs: &[f32], gs: &[f32], out: &mut [f32]) => gelu_tanh_backward_body
}

#[inline(always)]
fn gelu_tanh_backward_body(xs: &[f32], gs: &[f32], out: &mut [f32]) {
    lanes::map_blocks2(
        xs,
        gs,
        out,
        gelu_tanh_grad_in_range,
        gelu_tanh_backward_core,
        gelu_tanh_backward_exact,
    )
}

/// Whether the branch-free tanh core gives `math::tanh` at the argument of [`gelu_tanh_grad`].
#[inline(always)]
fn gelu_tanh_grad_in_range(x: f32) -> bool {
    lanes::tanh_in_range(gelu_tanh_grad_arg(x))
}

/// `dy · gelu_tanh_grad(x)` on [`gelu_tanh_grad_in_range`], branch-free.
#[inline(always)]
fn gelu_tanh_backward_core(x: f32, g: f32) -> f32 {
    g * gelu_tanh_grad_with(x, math::tanh_core)
}

/// `dy · gelu_tanh_grad(x)`.
#[inline(always)]
fn gelu_tanh_backward_exact(x: f32, g: f32) -> f32 {
    g * gelu_tanh_grad(x)
}

/// Derivative of the erf-form GELU, `Φ(x) + x·φ(x)`, evaluated as
///
/// ```text
/// l   = 0.5 · (1 + math::erf(x · FRAC_1_SQRT_2))
/// phi = math::exp(−0.5 · (x·x)) · FRAC_1_SQRT_2PI
/// d   = fma(x, phi, l)
/// ```
#[inline]
pub fn gelu_erf_grad(x: f32) -> f32 {
    let l = 0.5 * (1.0 + math::erf(x * FRAC_1_SQRT_2));
    let phi = math::exp(-0.5 * (x * x)) * FRAC_1_SQRT_2PI;
    x.mul_add(phi, l)
}

/// `y = math::gelu_erf(x)`.
pub fn gelu_erf(cx: &Cpu, x: &Tensor) -> Result<Tensor> {
    map_unary(cx, "gelu_erf", x, math::gelu_erf)
}

/// Backward of [`gelu_erf`] from its input: `dx = dy · gelu_erf_grad(x)`.
pub fn gelu_erf_backward(cx: &Cpu, x: &Tensor, dy: &Tensor) -> Result<Tensor> {
    map_same_shape(cx, "gelu_erf_backward", x, dy, |x, g| g * gelu_erf_grad(x))
}

/// `y = math::sqrt(x)` (IEEE square root).
pub fn sqrt(cx: &Cpu, x: &Tensor) -> Result<Tensor> {
    map_unary(cx, "sqrt", x, math::sqrt)
}

/// Backward of [`sqrt`] from its output `y`: `dx = dy / (y + y)` (`y + y` is exact unless it
/// overflows; one division). At `x = 0` this is `±inf` (or NaN when `dy = 0`).
pub fn sqrt_backward(cx: &Cpu, y: &Tensor, dy: &Tensor) -> Result<Tensor> {
    map_same_shape(cx, "sqrt_backward", y, dy, |y, g| g / (y + y))
}

/// `y = math::rsqrt(x)` = 1/√x.
pub fn rsqrt(cx: &Cpu, x: &Tensor) -> Result<Tensor> {
    map_unary(cx, "rsqrt", x, math::rsqrt)
}

/// Backward of [`rsqrt`] from its output `y`: `d = −0.5 · ((y·y)·y)`, `dx = dy · d`.
pub fn rsqrt_backward(cx: &Cpu, y: &Tensor, dy: &Tensor) -> Result<Tensor> {
    map_same_shape(cx, "rsqrt_backward", y, dy, |y, g| {
        g * (-0.5 * ((y * y) * y))
    })
}

/// `y = x · x`.
pub fn square(cx: &Cpu, x: &Tensor) -> Result<Tensor> {
    map_unary(cx, "square", x, |v| v * v)
}

/// Backward of [`square`] from its input: `dx = dy · (x + x)`.
pub fn square_backward(cx: &Cpu, x: &Tensor, dy: &Tensor) -> Result<Tensor> {
    map_same_shape(cx, "square_backward", x, dy, |x, g| g * (x + x))
}

/// `y = x · c`.
pub fn scale(cx: &Cpu, x: &Tensor, c: f32) -> Result<Tensor> {
    map_unary(cx, "scale", x, |v| v * c)
}

/// Backward of [`scale`]: `dx = dy · c`.
pub fn scale_backward(cx: &Cpu, c: f32, dy: &Tensor) -> Result<Tensor> {
    map_unary(cx, "scale_backward", dy, |g| g * c)
}

/// `y = x + c`.
pub fn add_scalar(cx: &Cpu, x: &Tensor, c: f32) -> Result<Tensor> {
    map_unary(cx, "add_scalar", x, |v| v + c)
}

/// Backward of [`add_scalar`]: `dx = dy` (a copy, bits unchanged).
pub fn add_scalar_backward(dy: &Tensor) -> Result<Tensor> {
    dy.require_nonempty("add_scalar_backward")?;
    Ok(dy.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::SimdPolicy;
    use crate::error::KernelError;

    fn contexts() -> Vec<Cpu> {
        vec![
            Cpu::scalar(),
            Cpu::single(),
            Cpu::new(2, SimdPolicy::Auto).unwrap(),
        ]
    }

    /// A spread of values (both signs, zeros, small and large) longer than two chunks.
    fn sample(n: usize) -> Tensor {
        let data = (0..n)
            .map(|i| {
                let u = ((i as u64 * 0x9E37_79B9) % 20011) as f32 / 20011.0;
                (u - 0.5) * 16.0
            })
            .collect();
        Tensor::new(&[n], data).unwrap()
    }

    type Fwd = fn(&Cpu, &Tensor) -> Result<Tensor>;
    type Bwd = fn(&Cpu, &Tensor, &Tensor) -> Result<Tensor>;

    fn fwd_ops() -> Vec<(&'static str, Fwd)> {
        vec![
            ("neg", neg),
            ("exp", exp),
            ("ln", ln),
            ("tanh", tanh),
            ("sigmoid", sigmoid),
            ("relu", relu),
            ("gelu_tanh", gelu_tanh),
            ("gelu_erf", gelu_erf),
            ("sqrt", sqrt),
            ("rsqrt", rsqrt),
            ("square", square),
            ("scale", |cx, x| scale(cx, x, 0.3)),
            ("add_scalar", |cx, x| add_scalar(cx, x, -1.25)),
        ]
    }

    fn bwd_ops() -> Vec<(&'static str, Bwd)> {
        vec![
            ("neg", |cx, _x, g| neg_backward(cx, g)),
            ("exp", exp_backward),
            ("ln", ln_backward),
            ("tanh", tanh_backward),
            ("sigmoid", sigmoid_backward),
            ("relu", relu_backward),
            ("gelu_tanh", gelu_tanh_backward),
            ("gelu_erf", gelu_erf_backward),
            ("sqrt", sqrt_backward),
            ("rsqrt", rsqrt_backward),
            ("square", square_backward),
            ("scale", |cx, _x, g| scale_backward(cx, 0.3, g)),
            ("add_scalar", |_cx, _x, g| add_scalar_backward(g)),
        ]
    }

    #[test]
    fn all_contexts_give_the_same_bits() {
        let x = sample(40_000);
        let g = Tensor::new(&[40_000], sample(40_001).data()[1..].to_vec()).unwrap();
        for (name, f) in fwd_ops() {
            let hs: Vec<_> = contexts()
                .iter()
                .map(|cx| f(cx, &x).unwrap().hash())
                .collect();
            assert!(hs.iter().all(|h| *h == hs[0]), "{name}");
        }
        for (name, f) in bwd_ops() {
            let hs: Vec<_> = contexts()
                .iter()
                .map(|cx| f(cx, &x, &g).unwrap().hash())
                .collect();
            assert!(hs.iter().all(|h| *h == hs[0]), "{name} backward");
        }
    }

    #[test]
    fn errors_are_typed() {
        let cx = Cpu::scalar();
        let e = Tensor::zeros(&[0, 3]);
        for (_, f) in fwd_ops() {
            assert!(matches!(f(&cx, &e), Err(KernelError::Empty { .. })));
        }
        let x = sample(6);
        let g = Tensor::zeros(&[2, 3]);
        for (name, f) in bwd_ops() {
            if matches!(name, "neg" | "scale" | "add_scalar") {
                continue;
            }
            assert!(
                matches!(f(&cx, &x, &g), Err(KernelError::ShapeMismatch { .. })),
                "{name}"
            );
        }
    }

    #[test]
    fn simple_values() {
        let cx = Cpu::scalar();
        let x = Tensor::new(&[5], vec![-2.0, -0.0, 0.0, 1.5, f32::NAN]).unwrap();
        let r = relu(&cx, &x).unwrap();
        assert_eq!(
            r.data()[..4]
                .iter()
                .map(|v| v.to_bits())
                .collect::<Vec<_>>(),
            vec![0, 0, 0, 1.5f32.to_bits()]
        );
        assert!(r.data()[4].is_nan());
        let g = Tensor::full(&[5], 3.0);
        let d = relu_backward(&cx, &x, &g).unwrap();
        assert_eq!(&d.data()[..4], &[0.0, 0.0, 0.0, 3.0]);
        assert_eq!(d.data()[2].to_bits(), 0);
        assert!(d.data()[4].is_nan());
        let x = Tensor::new(&[3], vec![1.0, -2.0, 3.0]).unwrap();
        assert_eq!(square(&cx, &x).unwrap().data(), &[1.0, 4.0, 9.0]);
        assert_eq!(scale(&cx, &x, 2.0).unwrap().data(), &[2.0, -4.0, 6.0]);
        assert_eq!(add_scalar(&cx, &x, 1.0).unwrap().data(), &[2.0, -1.0, 4.0]);
        assert_eq!(neg(&cx, &x).unwrap().data(), &[-1.0, 2.0, -3.0]);
        let g = Tensor::new(&[3], vec![1.0, 1.0, 0.5]).unwrap();
        assert_eq!(
            square_backward(&cx, &x, &g).unwrap().data(),
            &[2.0, -4.0, 3.0]
        );
    }

    /// f64 reference derivatives; `erf64` is a test-only series/continued-fraction erf.
    fn erf64(x: f64) -> f64 {
        // Simpson integration of 2/√π·e^{−t²} on [0, x]: far more accurate than f32 needs.
        let n = 2000;
        let h = x / n as f64;
        let f = |t: f64| (-t * t).exp();
        let mut s = f(0.0) + f(x);
        for i in 1..n {
            s += f(i as f64 * h) * if i % 2 == 1 { 4.0 } else { 2.0 };
        }
        s * h / 3.0 * 2.0 / std::f64::consts::PI.sqrt()
    }

    fn reference_grad(name: &str, x: f64) -> f64 {
        let c = (2.0 / std::f64::consts::PI).sqrt();
        match name {
            "exp" => x.exp(),
            "ln" => 1.0 / x,
            "tanh" => 1.0 - x.tanh().powi(2),
            "sigmoid" => {
                let s = 1.0 / (1.0 + (-x).exp());
                s * (1.0 - s)
            }
            "sqrt" => 0.5 / x.sqrt(),
            "rsqrt" => -0.5 * x.powf(-1.5),
            "gelu_tanh" => {
                let u = c * (x + 0.044715 * x * x * x);
                let t = u.tanh();
                0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * c * (1.0 + 3.0 * 0.044715 * x * x)
            }
            "gelu_erf" => {
                0.5 * (1.0 + erf64(x / 2f64.sqrt()))
                    + x * (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt()
            }
            _ => unreachable!(),
        }
    }

    #[test]
    fn backward_matches_analytic_derivatives() {
        let cx = Cpu::scalar();
        let xs: Vec<f32> = (0..161).map(|i| -8.0 + i as f32 * 0.1).collect();
        let n = xs.len();
        let x = Tensor::new(&[n], xs.clone()).unwrap();
        let ones = Tensor::full(&[n], 1.0);
        for (name, f) in fwd_ops()
            .into_iter()
            .zip(bwd_ops())
            .map(|((n, f), (_, b))| (n, (f, b)))
        {
            if matches!(name, "neg" | "relu" | "square" | "scale" | "add_scalar") {
                continue;
            }
            let positive = matches!(name, "ln" | "sqrt" | "rsqrt");
            let (fw, bw) = f;
            let xin = if positive {
                map_unary(&cx, "t", &x, |v| v.abs() + 0.05).unwrap()
            } else {
                x.clone()
            };
            let y = fw(&cx, &xin).unwrap();
            let uses_y = matches!(name, "exp" | "tanh" | "sigmoid" | "sqrt" | "rsqrt");
            let d = bw(&cx, if uses_y { &y } else { &xin }, &ones).unwrap();
            for (i, (&xv, &dv)) in xin.data().iter().zip(d.data()).enumerate() {
                let want = reference_grad(name, xv as f64);
                let err = (dv as f64 - want).abs();
                assert!(
                    err <= 2e-6 * want.abs().max(1.0) + 1e-30,
                    "{name} at {xv} (#{i}): {dv} vs {want}"
                );
            }
        }
    }

    #[test]
    fn backward_matches_finite_differences_of_forward() {
        // Central differences in f64 of the f32 forward: loose tolerance (h = 1e-2, the f32
        // forward's rounding noise / h ~ 1e-5).
        let cx = Cpu::scalar();
        for ((name, fw), (_, bw)) in fwd_ops().into_iter().zip(bwd_ops()) {
            let positive = matches!(name, "ln" | "sqrt" | "rsqrt");
            let xs: Vec<f32> = (0..40)
                .map(|i| -3.9 + i as f32 * 0.2)
                .map(|v| if positive { v.abs() + 0.5 } else { v })
                .filter(|v| !(name == "relu" && v.abs() < 0.05))
                .collect();
            let n = xs.len();
            let x = Tensor::new(&[n], xs.clone()).unwrap();
            let h = 1e-2f32;
            let xp = map_unary(&cx, "t", &x, |v| v + h).unwrap();
            let xm = map_unary(&cx, "t", &x, |v| v - h).unwrap();
            let (yp, ym) = (fw(&cx, &xp).unwrap(), fw(&cx, &xm).unwrap());
            let y = fw(&cx, &x).unwrap();
            let g = Tensor::full(&[n], 1.0);
            let uses_y = matches!(name, "exp" | "tanh" | "sigmoid" | "sqrt" | "rsqrt");
            let d = bw(&cx, if uses_y { &y } else { &x }, &g).unwrap();
            for i in 0..n {
                let hx = (xp.data()[i] as f64 - xm.data()[i] as f64) / 2.0;
                let fd = (yp.data()[i] as f64 - ym.data()[i] as f64) / (2.0 * hx);
                let dv = d.data()[i] as f64;
                assert!(
                    (fd - dv).abs() <= 2e-3 * fd.abs().max(1.0),
                    "{name} at {}: fd {fd} vs {dv}",
                    x.data()[i]
                );
            }
        }
    }

    #[test]
    fn gelu_erf_grad_formula_independent_of_erf_accuracy() {
        // Φ taken from the crate's own erf: checks the derivative formula alone.
        for i in 0..161 {
            let x = -8.0 + i as f32 * 0.1;
            let phi_cdf = 0.5 * (1.0 + math::erf(x * FRAC_1_SQRT_2) as f64);
            let want = phi_cdf
                + x as f64 * (-0.5 * (x as f64).powi(2)).exp()
                    / (2.0 * std::f64::consts::PI).sqrt();
            let got = gelu_erf_grad(x) as f64;
            assert!(
                (got - want).abs() <= 2e-6 * want.abs().max(1.0),
                "{x}: {got} vs {want}"
            );
        }
    }

    #[test]
    fn gelu_grads_stay_finite_at_extremes() {
        for x in [
            -1e30f32,
            -1e20,
            -50.0,
            50.0,
            1e20,
            1e30,
            f32::MAX,
            -f32::MAX,
        ] {
            let d = gelu_tanh_grad(x);
            assert!(d == 0.0 || d == 1.0, "gelu_tanh_grad({x}) = {d}");
            let d = gelu_erf_grad(x);
            assert!(d == 0.0 || d == 1.0, "gelu_erf_grad({x}) = {d}");
        }
        assert_eq!(gelu_tanh_grad(0.0), 0.5);
        assert_eq!(gelu_erf_grad(0.0), 0.5);
    }
}
