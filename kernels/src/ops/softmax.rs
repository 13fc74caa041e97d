//! Softmax and log-softmax over the last axis, with their backward functions.
//!
//! A tensor of shape `[..., D]` is treated as `rows = numel / D` independent rows of `D`
//! elements; rows are spread over the worker threads, each row is computed by one thread in
//! the order of docs/numerics.md §8. Summary, per row `x`:
//!
//! - `m` = row maximum (`row_max`: ascending scan, first NaN wins, ties keep the first);
//! - `softmax`: `e_i = exp(x_i − m)`, `s = canonical_sum(e)`, `y_i = e_i / s`;
//! - `log_softmax`: `d_i = x_i − m`, `s = canonical_sum(exp(d))`, `y_i = d_i − ln(s)`;
//! - `softmax_backward`: `dx_i = y_i · (dy_i − canonical_dot(y, dy))`;
//! - `log_softmax_backward`: `dx_i = fma(−exp(y_i), canonical_sum(dy), dy_i)`.

use crate::cpu::{Cpu, with_simd};
use crate::error::{KernelError, Result};
use crate::math;
use crate::math::lanes;
use crate::ops::broadcast::ELEMENTWISE_CHUNK;
use crate::reduce::{INTERLEAVE, canonical_dot, canonical_sum};
use crate::tensor::Tensor;

/// Splits `x` into `(rows, row_len)` for an op over the last axis. Refuses rank 0
/// ([`KernelError::InvalidArgument`]) and tensors without elements ([`KernelError::Empty`]).
pub(crate) fn last_axis_rows(op: &'static str, x: &Tensor) -> Result<(usize, usize)> {
    let Some(&d) = x.shape().last() else {
        return Err(KernelError::InvalidArgument {
            op,
            detail: "rank-0 tensor: the op works over the last axis and needs rank >= 1".into(),
        });
    };
    x.require_nonempty(op)?;
    Ok((x.numel() / d, d))
}

/// Refuses `b` unless it has exactly the shape of `a`.
pub(crate) fn require_same_shape(
    op: &'static str,
    a_name: &str,
    a: &Tensor,
    b_name: &str,
    b: &Tensor,
) -> Result<()> {
    if a.shape() != b.shape() {
        return Err(KernelError::ShapeMismatch {
            op,
            detail: format!(
                "{b_name} has shape {:?} but {a_name} has shape {:?}",
                b.shape(),
                a.shape()
            ),
        });
    }
    Ok(())
}

/// The row maximum used by softmax, log-softmax and cross-entropy.
///
/// Ascending scan: `m = x_0`; for `i = 1, 2, …`: stop if `m` is NaN; otherwise `m = x_i` when
/// `x_i > m` or `x_i` is NaN. So the result is the first NaN of the row (with its payload) if
/// there is one, else the maximum; among equal values (including `-0.0` and `+0.0`) the first
/// one in the row is kept. `x` must not be empty.
pub(crate) fn row_max(x: &[f32]) -> f32 {
    let mut m = x[0];
    for &v in &x[1..] {
        if m.is_nan() {
            break;
        }
        if v > m || v.is_nan() {
            m = v;
        }
    }
    m
}

/// [`row_max`] of `G` rows of `d` elements at once (`xs` holds them in order): each row's scan
/// is the same sequence of comparisons, written without the early exit (a NaN maximum is never
/// replaced, which is what stopping does), so the `G` scans overlap.
#[inline(always)]
pub(crate) fn row_maxes<const G: usize>(d: usize, xs: &[f32]) -> [f32; G] {
    let mut m = [0.0f32; G];
    for (r, mr) in m.iter_mut().enumerate() {
        *mr = xs[r * d];
    }
    for i in 1..d {
        for (r, mr) in m.iter_mut().enumerate() {
            let v = xs[r * d + i];
            if !mr.is_nan() && (v > *mr || v.is_nan()) {
                *mr = v;
            }
        }
    }
    m
}

/// The rows `0..n` as `(first_row, rows)` groups: consecutive groups of [`INTERLEAVE`] rows,
/// then the remaining rows one by one. Callers dispatch on `rows` to a `const G` body with
/// plain `for` loops (no closure in the hot path: a closure may be compiled outside the
/// `simd_fn!` entry point, without its target features).
#[inline(always)]
pub(crate) fn row_groups(n: usize) -> impl Iterator<Item = (usize, usize)> {
    let whole = n / INTERLEAVE * INTERLEAVE;
    (0..whole)
        .step_by(INTERLEAVE)
        .map(|r| (r, INTERLEAVE))
        .chain((whole..n).map(|r| (r, 1)))
}

/// One softmax row computed alone, the plain form of the spec (`y_i = exp(x_i − m) / s`): the
/// reference the tests hold the interleaved row loops to.
#[cfg(test)]
pub(crate) fn softmax_row(x: &[f32], y: &mut [f32]) {
    let m = row_max(x);
    for (ei, &xi) in y.iter_mut().zip(x) {
        *ei = math::exp(xi - m);
    }
    let s = canonical_sum(y.len(), |i| y[i]);
    for yi in y.iter_mut() {
        *yi /= s;
    }
}

/// Softmax over the last axis: `y_i = exp(x_i − m) / Σ_j exp(x_j − m)`, `m` the row maximum.
///
/// Order (docs/numerics.md §8): `m = row_max(x)`; `e_i = exp(x_i − m)` (the difference
/// rounded, then [`crate::math::exp`]); `s = canonical_sum(e)`; `y_i = e_i / s` (one IEEE
/// division, not a multiplication by `1/s`). A row holding a NaN or `+∞`, or only `−∞`, gives
/// NaN throughout; `−∞` entries of a row with a finite maximum give `+0`.
///
/// Errors: rank 0 ([`KernelError::InvalidArgument`]), no elements ([`KernelError::Empty`]).
pub fn softmax(cx: &Cpu, x: &Tensor) -> Result<Tensor> {
    let (_, d) = last_axis_rows("softmax", x)?;
    let xs = x.data();
    let mut out = crate::buffers::for_overwrite(xs.len());
    let simd = cx.simd();
    let per = rows_per_task(d) * d;
    cx.for_each_chunk_mut(&mut out, per, |task, y| {
        softmax_rows(simd, d, &xs[task * per..task * per + y.len()], y)
    });
    Tensor::new(x.shape(), out)
}

/// Rows per parallel task of the row loops: about [`ELEMENTWISE_CHUNK`] elements. Does not
/// affect results (each row is computed alone), only the work split.
pub(crate) fn rows_per_task(d: usize) -> usize {
    (ELEMENTWISE_CHUNK / d.max(1)).max(1)
}

crate::cpu::simd_fn! {
    /// Softmax of the rows (of `d` elements) of `xs` into `ys`, with the bits of
    /// [`softmax_row`]: first every row's shifted values, then `exp` over the whole slice
    /// (vectorized across rows, `math::lanes`), then each row's sum and divisions.
    pub(crate) fn softmax_rows(d: usize, xs: &[f32], ys: &mut [f32]) => softmax_rows_body
}

#[inline(always)]
pub(crate) fn softmax_rows_body(d: usize, xs: &[f32], ys: &mut [f32]) {
    // Rows one by one: with rows as short as attention's (14), out-of-order execution already
    // overlaps consecutive rows, and interleaving them measured slower.
    for (xr, yr) in xs.chunks_exact(d).zip(ys.chunks_exact_mut(d)) {
        let m = row_max(xr);
        for (yi, &xi) in yr.iter_mut().zip(xr) {
            *yi = xi - m;
        }
    }
    lanes::exp_in_place(ys);
    for yr in ys.chunks_exact_mut(d) {
        let s = canonical_sum(d, |i| yr[i]);
        for yi in yr.iter_mut() {
            *yi /= s;
        }
    }
}

/// Gradient of [`softmax`] from its output `y` and the output gradient `dy`:
/// `dx_i = y_i · (dy_i − Σ_j y_j·dy_j)`.
///
/// Order: `t = canonical_dot(y, dy)` (fma blocks, `j` ascending); `dx_i = y_i * (dy_i − t)`
/// (the difference rounded, then the product rounded).
///
/// Errors: as [`softmax`], and [`KernelError::ShapeMismatch`] when `dy`'s shape is not `y`'s.
pub fn softmax_backward(cx: &Cpu, y: &Tensor, dy: &Tensor) -> Result<Tensor> {
    const OP: &str = "softmax_backward";
    let (_, d) = last_axis_rows(OP, y)?;
    require_same_shape(OP, "y", y, "dy", dy)?;
    let (ys, dys) = (y.data(), dy.data());
    let mut out = crate::buffers::for_overwrite(ys.len());
    let simd = cx.simd();
    let per = rows_per_task(d) * d;
    cx.for_each_chunk_mut(&mut out, per, |task, dx| {
        let lo = task * per;
        let (yr, gr) = (&ys[lo..lo + dx.len()], &dys[lo..lo + dx.len()]);
        softmax_backward_rows(simd, d, yr, gr, dx)
    });
    Tensor::new(y.shape(), out)
}

crate::cpu::simd_fn! {
    /// [`softmax_backward`] of the rows (of `d` elements) of `ys`, `dys` into `dx`.
    fn softmax_backward_rows(d: usize, ys: &[f32], dys: &[f32], dx: &mut [f32]) => softmax_backward_rows_body
}

#[inline(always)]
fn softmax_backward_rows_body(d: usize, ys: &[f32], dys: &[f32], dx: &mut [f32]) {
    for ((yr, gr), dx) in ys
        .chunks_exact(d)
        .zip(dys.chunks_exact(d))
        .zip(dx.chunks_exact_mut(d))
    {
        let t = canonical_dot(d, |j| yr[j], |j| gr[j]);
        for ((dxi, &yi), &gi) in dx.iter_mut().zip(yr).zip(gr) {
            *dxi = yi * (gi - t);
        }
    }
}

/// Runs `f(d, y_row, dy_row, dx_row)` for every row of the last axis, in parallel over rows,
/// after checking that `y` and `dy` have one shape.
fn rows_of_pair(
    cx: &Cpu,
    op: &'static str,
    y: &Tensor,
    dy: &Tensor,
    f: impl Fn(usize, &[f32], &[f32], &mut [f32]) + Sync + Send,
) -> Result<Tensor> {
    let (_, d) = last_axis_rows(op, y)?;
    require_same_shape(op, "y", y, "dy", dy)?;
    let (ys, dys) = (y.data(), dy.data());
    let mut out = crate::buffers::for_overwrite(ys.len());
    let simd = cx.simd();
    cx.for_each_chunk_mut(&mut out, d, |r, dx| {
        with_simd(simd, || {
            f(d, &ys[r * d..(r + 1) * d], &dys[r * d..(r + 1) * d], dx)
        })
    });
    Tensor::new(y.shape(), out)
}

/// Log-softmax over the last axis: `y_i = x_i − m − ln Σ_j exp(x_j − m)`.
///
/// Order: `m = row_max(x)`; `d_i = x_i − m` (rounded); `s = canonical_sum(exp(d_i))`;
/// `l = ln(s)` ([`crate::math::ln`]); `y_i = d_i − l` (rounded), i.e. `(x_i − m) − ln(s)`.
/// NaN/∞ behaviour as [`softmax`] (`−∞` entries of a row with a finite maximum give `−∞`).
///
/// Errors: rank 0 ([`KernelError::InvalidArgument`]), no elements ([`KernelError::Empty`]).
pub fn log_softmax(cx: &Cpu, x: &Tensor) -> Result<Tensor> {
    let (_, d) = last_axis_rows("log_softmax", x)?;
    let xs = x.data();
    let mut out = crate::buffers::for_overwrite(xs.len());
    let simd = cx.simd();
    cx.for_each_chunk_mut(&mut out, d, |r, y| {
        with_simd(simd, || {
            let xr = &xs[r * d..(r + 1) * d];
            let m = row_max(xr);
            for (yi, &xi) in y.iter_mut().zip(xr) {
                *yi = xi - m;
            }
            let l = math::ln(canonical_sum(d, |i| math::exp(y[i])));
            for yi in y.iter_mut() {
                *yi -= l;
            }
        })
    });
    Tensor::new(x.shape(), out)
}

/// Gradient of [`log_softmax`] from its output `y` and the output gradient `dy`:
/// `dx_i = dy_i − exp(y_i) · Σ_j dy_j`.
///
/// Order: `t = canonical_sum(dy)`; `dx_i = fma(−exp(y_i), t, dy_i)` (one rounding after
/// [`crate::math::exp`]; the negation is exact).
///
/// Errors: as [`softmax_backward`].
pub fn log_softmax_backward(cx: &Cpu, y: &Tensor, dy: &Tensor) -> Result<Tensor> {
    rows_of_pair(cx, "log_softmax_backward", y, dy, |d, yr, gr, dx| {
        let t = canonical_sum(d, |j| gr[j]);
        for ((dxi, &yi), &gi) in dx.iter_mut().zip(yr).zip(gr) {
            *dxi = (-math::exp(yi)).mul_add(t, gi);
        }
    })
}

/// Helpers shared by the tests of softmax, loss and norm.
#[cfg(test)]
pub(crate) mod test_util {
    use crate::cpu::{Cpu, SimdPolicy};
    use crate::rng::Philox;
    use crate::tensor::Tensor;

    /// The three contexts whose results must agree bit for bit.
    pub(crate) fn contexts() -> Vec<Cpu> {
        vec![
            Cpu::scalar(),
            Cpu::single(),
            Cpu::new(2, SimdPolicy::Auto).unwrap(),
        ]
    }

    /// A uniform tensor in `[lo, hi)`, deterministic in `stream`.
    pub(crate) fn uniform(stream: u64, shape: &[usize], lo: f32, hi: f32) -> Tensor {
        Philox::from_seed(0x5eed_50f7).uniform_tensor(stream, shape, lo, hi)
    }

    /// Bit patterns of a tensor, for exact comparisons that treat NaN and ±0 strictly.
    pub(crate) fn bits(t: &Tensor) -> Vec<u32> {
        t.data().iter().map(|v| v.to_bits()).collect()
    }

    /// Asserts `|got − want| <= atol + rtol·|want|` elementwise.
    pub(crate) fn assert_close(got: &[f32], want: &[f64], atol: f64, rtol: f64, what: &str) {
        assert_eq!(got.len(), want.len(), "{what}: length");
        for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
            let err = (g as f64 - w).abs();
            assert!(
                err <= atol + rtol * w.abs(),
                "{what}[{i}]: got {g}, want {w}, err {err:e}"
            );
        }
    }

    /// f64 softmax of one row (reference).
    pub(crate) fn softmax64(x: &[f64]) -> Vec<f64> {
        let m = x.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let e: Vec<f64> = x.iter().map(|v| (v - m).exp()).collect();
        let s: f64 = e.iter().sum();
        e.iter().map(|v| v / s).collect()
    }

    /// f64 log-softmax of one row (reference).
    pub(crate) fn log_softmax64(x: &[f64]) -> Vec<f64> {
        let m = x.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let l = x.iter().map(|v| (v - m).exp()).sum::<f64>().ln();
        x.iter().map(|v| v - m - l).collect()
    }

    /// Central finite-difference gradient of `f` at `x` with step `h` (f64).
    pub(crate) fn fd_grad(x: &[f64], h: f64, f: impl Fn(&[f64]) -> f64) -> Vec<f64> {
        let mut xp = x.to_vec();
        (0..x.len())
            .map(|i| {
                xp[i] = x[i] + h;
                let fp = f(&xp);
                xp[i] = x[i] - h;
                let fm = f(&xp);
                xp[i] = x[i];
                (fp - fm) / (2.0 * h)
            })
            .collect()
    }

    /// Widens to f64.
    pub(crate) fn f64s(xs: &[f32]) -> Vec<f64> {
        xs.iter().map(|&v| v as f64).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::test_util::*;
    use super::*;
    use crate::reduce::REDUCE_BLOCK;

    /// Rows of `d` values with NaN, ±inf, −inf-only and ±0 rows mixed in.
    fn awkward_rows(rows: usize, d: usize, seed: u64) -> Tensor {
        let mut x = uniform(seed, &[rows, d], -20.0, 20.0).data().to_vec();
        let q = f32::from_bits(0x7FC0_0123);
        for (r, row) in x.chunks_exact_mut(d).enumerate() {
            match r % 11 {
                1 => row[d / 2] = f32::NAN,
                2 => {
                    row[0] = q;
                    row[d - 1] = f32::NAN;
                }
                3 => row[d - 1] = f32::INFINITY,
                4 => row.fill(f32::NEG_INFINITY),
                5 => {
                    row.fill(0.0);
                    row[0] = -0.0;
                }
                6 => row[1 % d] = f32::NEG_INFINITY,
                _ => {}
            }
        }
        Tensor::new(&[rows, d], x).unwrap()
    }

    #[test]
    fn row_maxes_are_row_max() {
        for d in [1usize, 2, 14, 15, 64] {
            let x = awkward_rows(8, d, d as u64);
            let m = row_maxes::<8>(d, x.data());
            for (r, m) in m.iter().enumerate() {
                let want = row_max(&x.data()[r * d..(r + 1) * d]);
                assert_eq!(m.to_bits(), want.to_bits(), "d {d} row {r}");
            }
        }
    }

    #[test]
    fn interleaved_rows_follow_spec() {
        for (k, &(rows, d)) in [(29usize, 14usize), (3, 5), (2100, 15), (13, 300)]
            .iter()
            .enumerate()
        {
            let x = awkward_rows(rows, d, 80 + k as u64);
            let dy = uniform(90 + k as u64, &[rows, d], -1.0, 1.0);
            for cx in contexts() {
                let y = softmax(&cx, &x).unwrap();
                let dx = softmax_backward(&cx, &y, &dy).unwrap();
                for r in 0..rows {
                    let span = r * d..(r + 1) * d;
                    let mut want = vec![0.0f32; d];
                    softmax_row(&x.data()[span.clone()], &mut want);
                    let got = &y.data()[span.clone()];
                    for i in 0..d {
                        assert_eq!(got[i].to_bits(), want[i].to_bits(), "y row {r} {i} {cx:?}");
                    }
                    let (yr, gr) = (&y.data()[span.clone()], &dy.data()[span.clone()]);
                    let t = canonical_dot(d, |j| yr[j], |j| gr[j]);
                    for i in 0..d {
                        let want = yr[i] * (gr[i] - t);
                        assert_eq!(dx.data()[r * d + i].to_bits(), want.to_bits(), "dx {r} {i}");
                    }
                }
            }
        }
    }

    const SIZES: [usize; 6] = [1, 2, 7, 256, 257, 1023];

    #[test]
    fn row_max_nan_and_zero_rules() {
        assert_eq!(row_max(&[1.0, 3.0, 2.0]), 3.0);
        assert!(row_max(&[1.0, f32::NAN, 5.0]).is_nan());
        assert!(row_max(&[f32::NAN, 5.0]).is_nan());
        let q = f32::from_bits(0x7fc0_0001);
        assert_eq!(row_max(&[1.0, q, f32::NAN]).to_bits(), q.to_bits());
        assert_eq!(row_max(&[-0.0, 0.0]).to_bits(), (-0.0f32).to_bits());
        assert_eq!(row_max(&[0.0, -0.0]).to_bits(), 0.0f32.to_bits());
        assert_eq!(row_max(&[f32::NEG_INFINITY, -1e30]), -1e30);
    }

    #[test]
    fn softmax_matches_f64_and_rows_sum_to_one() {
        for (k, &d) in SIZES.iter().enumerate() {
            let x = uniform(k as u64, &[3, d], -8.0, 8.0);
            let y = softmax(&Cpu::single(), &x).unwrap();
            for r in 0..3 {
                let xr = f64s(&x.data()[r * d..(r + 1) * d]);
                let yr = &y.data()[r * d..(r + 1) * d];
                assert_close(yr, &softmax64(&xr), 0.0, 1e-5, "softmax");
                let s: f64 = yr.iter().map(|&v| v as f64).sum();
                assert!((s - 1.0).abs() < 1e-5, "d={d} row sum {s}");
            }
        }
    }

    #[test]
    fn log_softmax_matches_f64() {
        for (k, &d) in SIZES.iter().enumerate() {
            let x = uniform(10 + k as u64, &[2, d], -8.0, 8.0);
            let y = log_softmax(&Cpu::single(), &x).unwrap();
            for r in 0..2 {
                let xr = f64s(&x.data()[r * d..(r + 1) * d]);
                let yr = &y.data()[r * d..(r + 1) * d];
                assert_close(yr, &log_softmax64(&xr), 2e-6, 2e-6, "log_softmax");
            }
        }
    }

    #[test]
    fn large_logits_do_not_overflow() {
        let x = Tensor::new(&[2, 3], vec![1e30, -1e30, 1e30, -1e30, 0.0, -3e38]).unwrap();
        let y = softmax(&Cpu::single(), &x).unwrap();
        assert_eq!(y.data(), &[0.5, 0.0, 0.5, 0.0, 1.0, 0.0]);
        let l = log_softmax(&Cpu::single(), &x).unwrap();
        let ln2 = std::f64::consts::LN_2;
        assert_close(&l.data()[..3], &[-ln2, -2e30, -ln2], 1e-6, 1e-6, "ls");
        assert_eq!(&l.data()[3..5], &[-1e30, 0.0]);
        assert!(l.data()[5] == -3e38);
    }

    #[test]
    fn non_finite_rows() {
        let ni = f32::NEG_INFINITY;
        let x = Tensor::new(&[3, 3], vec![0.0, ni, 0.0, 1.0, f32::NAN, 2.0, ni, ni, ni]).unwrap();
        let y = softmax(&Cpu::single(), &x).unwrap();
        assert_eq!(&y.data()[..3], &[0.5, 0.0, 0.5]);
        assert!(y.data()[3..].iter().all(|v| v.is_nan()));
        let l = log_softmax(&Cpu::single(), &x).unwrap();
        assert_eq!(l.data()[1], ni);
        assert!(l.data()[3..].iter().all(|v| v.is_nan()));
    }

    #[test]
    fn any_rank_works_over_last_axis() {
        let x = uniform(20, &[2, 3, 5], -2.0, 2.0);
        let y = softmax(&Cpu::single(), &x).unwrap();
        let y2 = softmax(&Cpu::single(), &x.reshape(&[6, 5]).unwrap()).unwrap();
        assert_eq!(bits(&y), bits(&y2));
        assert_eq!(y.shape(), &[2, 3, 5]);
        let v = Tensor::new(&[2], vec![0.0, 0.0]).unwrap();
        assert_eq!(softmax(&Cpu::single(), &v).unwrap().data(), &[0.5, 0.5]);
    }

    #[test]
    fn softmax_backward_matches_finite_differences() {
        for (k, &d) in [1usize, 5, 257].iter().enumerate() {
            let x = uniform(30 + k as u64, &[2, d], -3.0, 3.0);
            let dy = uniform(40 + k as u64, &[2, d], -1.0, 1.0);
            let cx = Cpu::single();
            let y = softmax(&cx, &x).unwrap();
            let dx = softmax_backward(&cx, &y, &dy).unwrap();
            for r in 0..2 {
                let xr = f64s(&x.data()[r * d..(r + 1) * d]);
                let w = f64s(&dy.data()[r * d..(r + 1) * d]);
                let fd = fd_grad(&xr, 1e-5, |z| {
                    softmax64(z).iter().zip(&w).map(|(a, b)| a * b).sum()
                });
                assert_close(&dx.data()[r * d..(r + 1) * d], &fd, 1e-6, 1e-4, "dsoftmax");
            }
        }
    }

    #[test]
    fn log_softmax_backward_matches_finite_differences() {
        for (k, &d) in [1usize, 5, 257].iter().enumerate() {
            let x = uniform(50 + k as u64, &[2, d], -3.0, 3.0);
            let dy = uniform(60 + k as u64, &[2, d], -1.0, 1.0);
            let cx = Cpu::single();
            let y = log_softmax(&cx, &x).unwrap();
            let dx = log_softmax_backward(&cx, &y, &dy).unwrap();
            for r in 0..2 {
                let xr = f64s(&x.data()[r * d..(r + 1) * d]);
                let w = f64s(&dy.data()[r * d..(r + 1) * d]);
                let fd = fd_grad(&xr, 1e-5, |z| {
                    log_softmax64(z).iter().zip(&w).map(|(a, b)| a * b).sum()
                });
                assert_close(
                    &dx.data()[r * d..(r + 1) * d],
                    &fd,
                    2e-5,
                    1e-4,
                    "dlogsoftmax",
                );
            }
        }
    }

    #[test]
    fn bit_identical_across_contexts() {
        for (k, &d) in [3usize, REDUCE_BLOCK + 1, 1023].iter().enumerate() {
            let x = uniform(70 + k as u64, &[37, d], -20.0, 20.0);
            let dy = uniform(80 + k as u64, &[37, d], -1.0, 1.0);
            let run = |cx: &Cpu| {
                let y = softmax(cx, &x).unwrap();
                let l = log_softmax(cx, &x).unwrap();
                let a = softmax_backward(cx, &y, &dy).unwrap();
                let b = log_softmax_backward(cx, &l, &dy).unwrap();
                [bits(&y), bits(&l), bits(&a), bits(&b)]
            };
            let cxs = contexts();
            let want = run(&cxs[0]);
            for cx in &cxs[1..] {
                assert!(run(cx) == want, "d={d} differs under {cx:?}");
            }
        }
    }

    #[test]
    fn spec_order_is_followed() {
        // Re-derive one row with the documented formulas and compare bits.
        let d = 600;
        let x = uniform(90, &[1, d], -5.0, 5.0);
        let xs = x.data();
        let m = xs.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
        let s = canonical_sum(d, |i| math::exp(xs[i] - m));
        let want: Vec<u32> = xs
            .iter()
            .map(|&v| (math::exp(v - m) / s).to_bits())
            .collect();
        assert_eq!(bits(&softmax(&Cpu::scalar(), &x).unwrap()), want);
        let l = math::ln(s);
        let want: Vec<u32> = xs.iter().map(|&v| ((v - m) - l).to_bits()).collect();
        assert_eq!(bits(&log_softmax(&Cpu::scalar(), &x).unwrap()), want);
    }

    #[test]
    fn typed_errors() {
        let cx = Cpu::single();
        let r0 = Tensor::scalar(1.0);
        assert!(matches!(
            softmax(&cx, &r0),
            Err(KernelError::InvalidArgument { .. })
        ));
        assert!(matches!(
            log_softmax(&cx, &r0),
            Err(KernelError::InvalidArgument { .. })
        ));
        let e = Tensor::zeros(&[3, 0]);
        assert!(matches!(softmax(&cx, &e), Err(KernelError::Empty { .. })));
        let e = Tensor::zeros(&[0, 4]);
        assert!(matches!(
            log_softmax(&cx, &e),
            Err(KernelError::Empty { .. })
        ));
        let (a, b) = (Tensor::zeros(&[2, 3]), Tensor::zeros(&[3, 2]));
        assert!(matches!(
            softmax_backward(&cx, &a, &b),
            Err(KernelError::ShapeMismatch { .. })
        ));
        assert!(matches!(
            log_softmax_backward(&cx, &a, &b),
            Err(KernelError::ShapeMismatch { .. })
        ));
        assert!(matches!(
            softmax_backward(&cx, &Tensor::zeros(&[0]), &Tensor::zeros(&[0])),
            Err(KernelError::Empty { .. })
        ));
    }
}
