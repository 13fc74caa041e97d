//! Binary elementwise ops with NumPy broadcasting, and their backward functions.
//!
//! Forward: `y[o] = f(a[ia(o)], b[ib(o)])` over the broadcast shape (one correctly rounded
//! operation, or a selection for `maximum`/`minimum`).
//!
//! Backward `name_backward(cx, a, b, dy) -> (da, db)`: first, for every output element `o`,
//! the gradient terms `ta[o]`, `tb[o]` (formulas below, each rounded as written); then each
//! is reduced to its input's shape by [`reduce_to_shape`]: the canonical sum over the output
//! positions that read the input element, in ascending row-major output order (a copy when
//! the input was not broadcast). Exact rules: docs/numerics.md §7.

use crate::cpu::Cpu;
use crate::error::Result;
use crate::ops::broadcast::reduce_to_shape;
use crate::ops::elementwise::{broadcast_term, check_dy, map_broadcast, map_unary};
use crate::tensor::Tensor;

/// `y = a + b`, broadcast.
pub fn add(cx: &Cpu, a: &Tensor, b: &Tensor) -> Result<Tensor> {
    map_broadcast(cx, "add", a, b, |x, y| x + y)
}

/// `y = a − b`, broadcast.
pub fn sub(cx: &Cpu, a: &Tensor, b: &Tensor) -> Result<Tensor> {
    map_broadcast(cx, "sub", a, b, |x, y| x - y)
}

/// `y = a · b`, broadcast.
pub fn mul(cx: &Cpu, a: &Tensor, b: &Tensor) -> Result<Tensor> {
    map_broadcast(cx, "mul", a, b, |x, y| x * y)
}

/// `y = a / b`, broadcast.
pub fn div(cx: &Cpu, a: &Tensor, b: &Tensor) -> Result<Tensor> {
    map_broadcast(cx, "div", a, b, |x, y| x / y)
}

/// The larger of two values: NaN if either is NaN (`a`'s NaN first), `+0` for a `±0` pair,
/// otherwise the greater value.
#[inline]
pub fn max_scalar(a: f32, b: f32) -> f32 {
    if a.is_nan() {
        a
    } else if b.is_nan() {
        b
    } else if a > b || (a == b && a.is_sign_positive()) {
        a
    } else {
        b
    }
}

/// The smaller of two values: NaN if either is NaN (`a`'s NaN first), `−0` for a `±0` pair,
/// otherwise the lesser value.
#[inline]
pub fn min_scalar(a: f32, b: f32) -> f32 {
    if a.is_nan() {
        a
    } else if b.is_nan() {
        b
    } else if a < b || (a == b && a.is_sign_negative()) {
        a
    } else {
        b
    }
}

/// `y = max(a, b)`, broadcast (see [`max_scalar`]).
pub fn maximum(cx: &Cpu, a: &Tensor, b: &Tensor) -> Result<Tensor> {
    map_broadcast(cx, "maximum", a, b, max_scalar)
}

/// `y = min(a, b)`, broadcast (see [`min_scalar`]).
pub fn minimum(cx: &Cpu, a: &Tensor, b: &Tensor) -> Result<Tensor> {
    map_broadcast(cx, "minimum", a, b, min_scalar)
}

/// Reduces the per-output terms `ta`, `tb` (computed by `fa`, `fb`) to the input shapes.
fn grads(
    cx: &Cpu,
    op: &'static str,
    (a, b, dy): (&Tensor, &Tensor, &Tensor),
    fa: impl Fn(f32, f32, f32) -> f32 + Sync + Send,
    fb: impl Fn(f32, f32, f32) -> f32 + Sync + Send,
) -> Result<(Tensor, Tensor)> {
    let ta = broadcast_term(cx, op, a, b, dy, fa)?;
    let da = reduce_to_shape(cx, &ta, a.shape())?;
    drop(ta);
    let tb = broadcast_term(cx, op, a, b, dy, fb)?;
    Ok((da, reduce_to_shape(cx, &tb, b.shape())?))
}

/// Backward of [`add`]: `ta = dy`, `tb = dy`, reduced to the input shapes.
pub fn add_backward(cx: &Cpu, a: &Tensor, b: &Tensor, dy: &Tensor) -> Result<(Tensor, Tensor)> {
    check_dy("add_backward", a, b, dy)?;
    Ok((
        reduce_to_shape(cx, dy, a.shape())?,
        reduce_to_shape(cx, dy, b.shape())?,
    ))
}

/// Backward of [`sub`]: `ta = dy`, `tb = −dy`, reduced to the input shapes.
pub fn sub_backward(cx: &Cpu, a: &Tensor, b: &Tensor, dy: &Tensor) -> Result<(Tensor, Tensor)> {
    check_dy("sub_backward", a, b, dy)?;
    let tb = map_unary(cx, "sub_backward", dy, |g| -g)?;
    Ok((
        reduce_to_shape(cx, dy, a.shape())?,
        reduce_to_shape(cx, &tb, b.shape())?,
    ))
}

/// Backward of [`mul`]: `ta = dy · b`, `tb = dy · a`, reduced to the input shapes.
pub fn mul_backward(cx: &Cpu, a: &Tensor, b: &Tensor, dy: &Tensor) -> Result<(Tensor, Tensor)> {
    grads(
        cx,
        "mul_backward",
        (a, b, dy),
        |_, y, g| g * y,
        |x, _, g| g * x,
    )
}

/// Backward of [`div`]: `q = dy / b`; `ta = q`, `tb = −(q · (a / b))` (`a / b` recomputed,
/// the same bits as the forward output; no `b²`, so no overflow for large `b`).
pub fn div_backward(cx: &Cpu, a: &Tensor, b: &Tensor, dy: &Tensor) -> Result<(Tensor, Tensor)> {
    grads(
        cx,
        "div_backward",
        (a, b, dy),
        |_, y, g| g / y,
        |x, y, g| -((g / y) * (x / y)),
    )
}

/// True when `a` receives the gradient of `max(a, b)`: `a` is NaN, or `b` is not NaN and
/// `a ≥ b` (ties, including `±0` pairs, go to `a`).
#[inline]
fn a_wins_max(a: f32, b: f32) -> bool {
    a.is_nan() || (!b.is_nan() && a >= b)
}

/// True when `a` receives the gradient of `min(a, b)`: `a` is NaN, or `b` is not NaN and
/// `a ≤ b` (ties go to `a`).
#[inline]
fn a_wins_min(a: f32, b: f32) -> bool {
    a.is_nan() || (!b.is_nan() && a <= b)
}

/// Backward of [`maximum`]: the whole `dy` goes to the selected operand, `+0.0` to the other.
/// `a` is selected when it is NaN, or when `b` is not NaN and `a ≥ b` (ties → `a`);
/// otherwise `b`. Then reduced to the input shapes.
pub fn maximum_backward(cx: &Cpu, a: &Tensor, b: &Tensor, dy: &Tensor) -> Result<(Tensor, Tensor)> {
    grads(
        cx,
        "maximum_backward",
        (a, b, dy),
        |x, y, g| if a_wins_max(x, y) { g } else { 0.0 },
        |x, y, g| if a_wins_max(x, y) { 0.0 } else { g },
    )
}

/// Backward of [`minimum`]: as [`maximum_backward`] with `a ≤ b` selecting `a`.
pub fn minimum_backward(cx: &Cpu, a: &Tensor, b: &Tensor, dy: &Tensor) -> Result<(Tensor, Tensor)> {
    grads(
        cx,
        "minimum_backward",
        (a, b, dy),
        |x, y, g| if a_wins_min(x, y) { g } else { 0.0 },
        |x, y, g| if a_wins_min(x, y) { 0.0 } else { g },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::SimdPolicy;
    use crate::error::KernelError;
    use crate::ops::broadcast::BroadcastMap;
    use crate::tensor::numel;
    use proptest::prelude::*;

    type Fwd = fn(&Cpu, &Tensor, &Tensor) -> Result<Tensor>;
    type Bwd = fn(&Cpu, &Tensor, &Tensor, &Tensor) -> Result<(Tensor, Tensor)>;
    type Scalar = fn(f32, f32) -> f32;
    const OPS: [(&str, Fwd, Bwd, Scalar); 6] = [
        ("add", add, add_backward, |x, y| x + y),
        ("sub", sub, sub_backward, |x, y| x - y),
        ("mul", mul, mul_backward, |x, y| x * y),
        ("div", div, div_backward, |x, y| x / y),
        ("maximum", maximum, maximum_backward, max_scalar),
        ("minimum", minimum, minimum_backward, min_scalar),
    ];

    fn filled(shape: &[usize], seed: u64) -> Tensor {
        let n = numel(shape);
        let data = (0..n as u64)
            .map(|i| {
                let v = ((i + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15)
                    ^ seed.wrapping_mul(0xD251_1F53))
                    >> 40;
                // Values in [0.5, 2.5) with a random sign: safe divisors.
                let m = 0.5 + (v % 10_000) as f32 / 5000.0;
                if v & 1 == 1 { -m } else { m }
            })
            .collect();
        Tensor::new(shape, data).unwrap()
    }

    #[test]
    fn forward_matches_naive_broadcast() {
        // Last-axis strides (1, 0), (1, 1), (0, 1), (0, 0) and a rank-0 operand: every run
        // shape of `map_broadcast`.
        let cases: [(&[usize], &[usize], &[usize]); 5] = [
            (&[4, 1, 3], &[5, 1], &[4, 5, 3]),
            (&[4, 1, 3], &[5, 3], &[4, 5, 3]),
            (&[3, 1], &[1, 3], &[3, 3]),
            (&[2, 3, 1], &[3, 1], &[2, 3, 1]),
            (&[70, 300], &[], &[70, 300]),
        ];
        for cx in [
            Cpu::scalar(),
            Cpu::single(),
            Cpu::new(2, SimdPolicy::Auto).unwrap(),
        ] {
            for (sa, sb, out) in cases {
                let (a, b) = (filled(sa, 1), filled(sb, 2));
                let (ma, mb) = (
                    BroadcastMap::new("t", sa, out).unwrap(),
                    BroadcastMap::new("t", sb, out).unwrap(),
                );
                for (name, f, _, s) in OPS {
                    for (a, b, ma, mb) in [(&a, &b, &ma, &mb), (&b, &a, &mb, &ma)] {
                        let y = f(&cx, a, b).unwrap();
                        assert_eq!(y.shape(), out);
                        for o in 0..numel(out) {
                            let want = s(a.data()[ma.index(o)], b.data()[mb.index(o)]);
                            assert_eq!(y.data()[o].to_bits(), want.to_bits(), "{name} at {o}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn errors_are_typed() {
        let cx = Cpu::scalar();
        let (a, b) = (filled(&[2, 3], 1), filled(&[4], 2));
        for (_, f, bw, _) in OPS {
            assert!(matches!(
                f(&cx, &a, &b),
                Err(KernelError::ShapeMismatch { .. })
            ));
            assert!(matches!(
                f(&cx, &a, &Tensor::zeros(&[0])),
                Err(KernelError::Empty { .. })
            ));
            // dy of the wrong shape.
            let c = filled(&[3], 3);
            assert!(matches!(
                bw(&cx, &a, &c, &c),
                Err(KernelError::ShapeMismatch { .. })
            ));
        }
    }

    #[test]
    fn max_min_ties_zeros_and_nans() {
        assert_eq!(max_scalar(-0.0, 0.0).to_bits(), 0);
        assert_eq!(max_scalar(0.0, -0.0).to_bits(), 0);
        assert_eq!(min_scalar(-0.0, 0.0).to_bits(), (-0.0f32).to_bits());
        assert_eq!(min_scalar(0.0, -0.0).to_bits(), (-0.0f32).to_bits());
        assert!(max_scalar(f32::NAN, 1.0).is_nan() && max_scalar(1.0, f32::NAN).is_nan());
        assert!(min_scalar(f32::NAN, 1.0).is_nan() && min_scalar(1.0, f32::NAN).is_nan());
        let cx = Cpu::scalar();
        let a = Tensor::new(&[4], vec![1.0, 2.0, f32::NAN, 0.0]).unwrap();
        let b = Tensor::new(&[4], vec![1.0, 3.0, 5.0, -0.0]).unwrap();
        let g = Tensor::new(&[4], vec![10.0, 20.0, 30.0, 40.0]).unwrap();
        let (da, db) = maximum_backward(&cx, &a, &b, &g).unwrap();
        assert_eq!(da.data(), &[10.0, 0.0, 30.0, 40.0]);
        assert_eq!(db.data(), &[0.0, 20.0, 0.0, 0.0]);
        let (da, db) = minimum_backward(&cx, &a, &b, &g).unwrap();
        assert_eq!(da.data(), &[10.0, 20.0, 30.0, 40.0]);
        assert_eq!(db.data(), &[0.0, 0.0, 0.0, 0.0]);
        let b = Tensor::new(&[4], vec![f32::NAN; 4]).unwrap();
        let a = Tensor::new(&[4], vec![1.0; 4]).unwrap();
        let (da, db) = maximum_backward(&cx, &a, &b, &g).unwrap();
        assert_eq!(da.data(), &[0.0; 4]);
        assert_eq!(db.data(), g.data());
    }

    /// f64 reference gradients, reduced over broadcast axes in f64.
    fn reference_grads(name: &str, a: &Tensor, b: &Tensor, g: &Tensor) -> (Vec<f64>, Vec<f64>) {
        let out = g.shape();
        let (ma, mb) = (
            BroadcastMap::new("t", a.shape(), out).unwrap(),
            BroadcastMap::new("t", b.shape(), out).unwrap(),
        );
        let mut da = vec![0.0f64; a.numel()];
        let mut db = vec![0.0f64; b.numel()];
        for o in 0..g.numel() {
            let (ia, ib) = (ma.index(o), mb.index(o));
            let (x, y, gg) = (a.data()[ia] as f64, b.data()[ib] as f64, g.data()[o] as f64);
            let (ta, tb) = match name {
                "add" => (gg, gg),
                "sub" => (gg, -gg),
                "mul" => (gg * y, gg * x),
                "div" => (gg / y, -gg * x / (y * y)),
                "maximum" => {
                    if x >= y {
                        (gg, 0.0)
                    } else {
                        (0.0, gg)
                    }
                }
                "minimum" => {
                    if x <= y {
                        (gg, 0.0)
                    } else {
                        (0.0, gg)
                    }
                }
                _ => unreachable!(),
            };
            da[ia] += ta;
            db[ib] += tb;
        }
        (da, db)
    }

    #[test]
    fn backward_matches_f64_reference_and_finite_differences() {
        let cx = Cpu::scalar();
        for (sa, sb) in [
            (vec![3, 1, 4], vec![2, 1]),
            (vec![5], vec![2, 3, 5]),
            (vec![2, 3], vec![2, 3]),
            (vec![], vec![3, 2]),
        ] {
            let (a, b) = (filled(&sa, 7), filled(&sb, 8));
            for (name, f, bw, _) in OPS {
                let y = f(&cx, &a, &b).unwrap();
                let g = filled(y.shape(), 9);
                let (da, db) = bw(&cx, &a, &b, &g).unwrap();
                assert_eq!((da.shape(), db.shape()), (a.shape(), b.shape()));
                let (ra, rb) = reference_grads(name, &a, &b, &g);
                for (got, want) in da.data().iter().zip(&ra).chain(db.data().iter().zip(&rb)) {
                    assert!(
                        (*got as f64 - want).abs() <= 1e-5 * want.abs().max(1.0),
                        "{name}: {got} vs {want}"
                    );
                }
                // Finite differences of L = Σ g·f(a, b) for the smooth ops.
                if matches!(name, "maximum" | "minimum") {
                    continue;
                }
                let loss = |a: &Tensor, b: &Tensor| -> f64 {
                    let y = f(&cx, a, b).unwrap();
                    y.data()
                        .iter()
                        .zip(g.data())
                        .map(|(&y, &g)| y as f64 * g as f64)
                        .sum()
                };
                for (which, grad) in [(0, &da), (1, &db)] {
                    for i in 0..grad.numel() {
                        let h = 1e-2f32;
                        let bump = |t: &Tensor, s: f32| {
                            let mut t = t.clone();
                            t.data_mut()[i] += s;
                            t
                        };
                        let (lp, lm) = if which == 0 {
                            (loss(&bump(&a, h), &b), loss(&bump(&a, -h), &b))
                        } else {
                            (loss(&a, &bump(&b, h)), loss(&a, &bump(&b, -h)))
                        };
                        let fd = (lp - lm) / (2.0 * h as f64);
                        let an = grad.data()[i] as f64;
                        assert!(
                            (fd - an).abs() <= 2e-2 * fd.abs().max(1.0),
                            "{name} d{which}[{i}]: fd {fd} vs {an}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn threads_give_the_same_bits() {
        let (a, b) = (filled(&[300, 1, 70], 1), filled(&[90, 70], 2));
        let g = filled(&[300, 90, 70], 3);
        let cxs = [
            Cpu::scalar(),
            Cpu::single(),
            Cpu::new(2, SimdPolicy::Auto).unwrap(),
        ];
        for (name, f, bw, _) in OPS {
            let hs: Vec<_> = cxs
                .iter()
                .map(|cx| {
                    let (da, db) = bw(cx, &a, &b, &g).unwrap();
                    (f(cx, &a, &b).unwrap().hash(), da.hash(), db.hash())
                })
                .collect();
            assert!(hs.iter().all(|h| *h == hs[0]), "{name}");
        }
    }

    fn shape_pair() -> impl Strategy<Value = (Vec<usize>, Vec<usize>)> {
        prop::collection::vec((1usize..4, 0u8..3), 0..5).prop_flat_map(|dims| {
            // For each output axis choose which operands keep it (0: both, 1: only a, 2: only b).
            let out: Vec<usize> = dims.iter().map(|d| d.0).collect();
            let a: Vec<usize> = dims
                .iter()
                .map(|&(d, k)| if k == 2 { 1 } else { d })
                .collect();
            let b: Vec<usize> = dims
                .iter()
                .map(|&(d, k)| if k == 1 { 1 } else { d })
                .collect();
            let la = a.len();
            (0..=la, Just(a), Just(b), Just(out))
                .prop_map(|(drop, a, b, _)| (a[drop.min(a.len())..].to_vec(), b))
        })
    }

    proptest! {
        #[test]
        fn broadcast_add_matches_naive((sa, sb) in shape_pair(), seed in 0u64..1000) {
            let cx = Cpu::scalar();
            let (a, b) = (filled(&sa, seed), filled(&sb, seed + 1));
            let y = add(&cx, &a, &b).unwrap();
            let (ma, mb) = (BroadcastMap::new("t", &sa, y.shape()).unwrap(), BroadcastMap::new("t", &sb, y.shape()).unwrap());
            for o in 0..y.numel() {
                prop_assert_eq!(y.data()[o].to_bits(), (a.data()[ma.index(o)] + b.data()[mb.index(o)]).to_bits());
            }
            // Gradient sums: each input element receives exactly its number of readers · 1.
            let (da, db) = add_backward(&cx, &a, &b, &Tensor::full(y.shape(), 1.0)).unwrap();
            prop_assert!(da.data().iter().all(|&v| v == (y.numel() / a.numel()) as f32));
            prop_assert!(db.data().iter().all(|&v| v == (y.numel() / b.numel()) as f32));
        }
    }
}
