//! Cross-entropy with integer class targets, over the last axis, and its backward.
//!
//! Logits of shape `[..., C]` are `N = numel / C` rows of `C` classes; `targets` holds one class
//! index per row. There is no `ignore_index`, no label smoothing and no class weights: every
//! row counts, with weight 1. Evaluation order (docs/numerics.md §8), per row with target `t`:
//! `m = row_max(x)`, `s = canonical_sum(exp(x_i − m))`, `loss = ln(s) − (x_t − m)`; the mean
//! is `canonical_sum(loss over rows) / N`.

use crate::cpu::Cpu;
use crate::error::{KernelError, Result};
use crate::math;
use crate::math::lanes;
use crate::ops::softmax::{
    last_axis_rows, row_groups, row_maxes, rows_per_task, softmax_rows_body,
};
use crate::reduce::{INTERLEAVE, canonical_sum, canonical_sums};
use crate::tensor::Tensor;

/// Validates logits and targets; returns `(rows, classes)`.
fn check(op: &'static str, logits: &Tensor, targets: &[u32]) -> Result<(usize, usize)> {
    let (rows, c) = last_axis_rows(op, logits)?;
    if targets.len() != rows {
        return Err(KernelError::ShapeMismatch {
            op,
            detail: format!(
                "{} targets for logits of shape {:?} ({rows} rows)",
                targets.len(),
                logits.shape()
            ),
        });
    }
    if let Some(&t) = targets.iter().find(|&&t| t as usize >= c) {
        return Err(KernelError::IndexOutOfRange {
            op,
            index: t as u64,
            bound: c as u64,
        });
    }
    Ok((rows, c))
}

/// The loss of one row computed alone, `ln(s) − (x_t − m)`: the plain form of the spec, the
/// reference the tests hold the interleaved row loops to.
#[cfg(test)]
fn row_loss(x: &[f32], t: usize) -> f32 {
    let m = crate::ops::softmax::row_max(x);
    let s = canonical_sum(x.len(), |i| math::exp(x[i] - m));
    math::ln(s) - (x[t] - m)
}

/// Per-row cross-entropy `−log_softmax(logits)[row, target[row]]`, shape `logits.shape[..-1]`
/// (rank-1 logits give a rank-0 result).
///
/// Order, per row `x` with target `t`: `m = row_max(x)` (as in
/// [`softmax`](crate::ops::softmax::softmax)); `s = canonical_sum(exp(x_i − m))` (each
/// difference rounded); `loss = ln(s) − (x_t − m)` (`x_t − m` rounded, then the difference
/// rounded). This equals the bits of `−log_softmax(x)[t]`, except that a zero loss is `+0`.
///
/// Errors: rank 0 ([`KernelError::InvalidArgument`]); no elements ([`KernelError::Empty`]);
/// `targets.len()` ≠ rows ([`KernelError::ShapeMismatch`]); a target ≥ C
/// ([`KernelError::IndexOutOfRange`], the first such target).
pub fn cross_entropy_rows(cx: &Cpu, logits: &Tensor, targets: &[u32]) -> Result<Tensor> {
    let (_, c) = check("cross_entropy_rows", logits, targets)?;
    let shape = &logits.shape()[..logits.rank() - 1];
    Tensor::new(shape, row_losses(cx, logits.data(), c, targets))
}

/// The per-row losses of validated input, in row order. Tasks of whole rows: each writes its
/// rows' shifted logits `x_i − m`, takes `exp` of the whole slice in the vectorized form (each
/// element gets `math::exp`'s bits), then each row's canonical sum and `ln` (rows in groups of
/// [`INTERLEAVE`] side by side).
fn row_losses(cx: &Cpu, xs: &[f32], c: usize, targets: &[u32]) -> Vec<f32> {
    let mut out = vec![0.0f32; targets.len()];
    let simd = cx.simd();
    let per = rows_per_task(c);
    cx.for_each_chunk_mut(&mut out, per, |task, l| {
        let r0 = task * per;
        let x = &xs[r0 * c..(r0 + l.len()) * c];
        let mut e = vec![0.0f32; x.len()];
        loss_rows(simd, c, x, &targets[r0..r0 + l.len()], &mut e, l);
    });
    out
}

crate::cpu::simd_fn! {
    /// The losses `l` of the rows of `xs` (targets `ts`), `e` a scratch of `xs.len()` values.
    fn loss_rows(c: usize, xs: &[f32], ts: &[u32], e: &mut [f32], l: &mut [f32]) => loss_rows_body
}

#[inline(always)]
fn loss_rows_body(c: usize, xs: &[f32], ts: &[u32], e: &mut [f32], l: &mut [f32]) {
    // First the maxima (kept in `l` until the losses replace them) and shifted values.
    for (r, g) in row_groups(l.len()) {
        let span = r * c..(r + g) * c;
        let (x, e) = (&xs[span.clone()], &mut e[span]);
        if g == INTERLEAVE {
            l[r..r + g].copy_from_slice(&row_maxes::<INTERLEAVE>(c, x));
        } else {
            l[r] = row_maxes::<1>(c, x)[0];
        }
        for (er, (xr, &m)) in e
            .chunks_exact_mut(c)
            .zip(x.chunks_exact(c).zip(&l[r..r + g]))
        {
            for (ei, &xi) in er.iter_mut().zip(xr) {
                *ei = xi - m;
            }
        }
    }
    lanes::exp_in_place(e);
    for (r, g) in row_groups(l.len()) {
        let e = &e[r * c..(r + g) * c];
        let mut s = [0.0f32; INTERLEAVE];
        if g == INTERLEAVE {
            s = canonical_sums::<INTERLEAVE>(c, |k, i| e[k * c + i]);
        } else {
            s[0] = canonical_sums::<1>(c, |k, i| e[k * c + i])[0];
        }
        for (k, &s) in s.iter().enumerate().take(g) {
            let row = r + k;
            let m = l[row];
            l[row] = math::ln(s) - (xs[row * c + ts[row] as usize] - m);
        }
    }
}

/// Mean cross-entropy over rows, as a rank-0 tensor: `canonical_sum(losses) / N` with the
/// per-row losses of [`cross_entropy_rows`] (rows ascending) and `N` the row count converted to
/// f32 (round to nearest; exact for `N ≤ 2²⁴`), one IEEE division.
///
/// Errors: as [`cross_entropy_rows`].
pub fn cross_entropy(cx: &Cpu, logits: &Tensor, targets: &[u32]) -> Result<Tensor> {
    let (rows, c) = check("cross_entropy", logits, targets)?;
    let l = row_losses(cx, logits.data(), c, targets);
    Ok(Tensor::scalar(canonical_sum(rows, |i| l[i]) / rows as f32))
}

/// Gradient of [`cross_entropy`] (the mean) with respect to the logits:
/// `dlogits[r, i] = (softmax(x_r)_i − [i = t_r]) · (dloss / N)`.
///
/// Order: `g = dloss / N` (`N` as f32, one IEEE division); per row, `p = softmax(x_r)` with the
/// exact bits of [`softmax`](crate::ops::softmax::softmax); then `dx_i = p_i * g` for
/// `i ≠ t` and `dx_t = (p_t − 1) * g` (the difference rounded, then the product).
///
/// Errors: as [`cross_entropy_rows`].
pub fn cross_entropy_backward(
    cx: &Cpu,
    logits: &Tensor,
    targets: &[u32],
    dloss: f32,
) -> Result<Tensor> {
    let (rows, c) = check("cross_entropy_backward", logits, targets)?;
    let g = dloss / rows as f32;
    let xs = logits.data();
    let mut out = crate::buffers::for_overwrite(xs.len());
    let simd = cx.simd();
    let per = rows_per_task(c);
    cx.for_each_chunk_mut(&mut out, per * c, |task, dx| {
        let r0 = task * per;
        let x = &xs[r0 * c..r0 * c + dx.len()];
        loss_backward_rows(simd, c, x, &targets[r0..r0 + dx.len() / c], g, dx);
    });
    Tensor::new(logits.shape(), out)
}

crate::cpu::simd_fn! {
    /// `dx` of the rows of `xs` (targets `ts`): the softmax rows of `softmax` (the same bits),
    /// then `p_i · g`, or `(p_t − 1) · g` at the target.
    fn loss_backward_rows(c: usize, xs: &[f32], ts: &[u32], g: f32, dx: &mut [f32]) => loss_backward_rows_body
}

#[inline(always)]
fn loss_backward_rows_body(c: usize, xs: &[f32], ts: &[u32], g: f32, dx: &mut [f32]) {
    softmax_rows_body(c, xs, dx);
    for (dx, &t) in dx.chunks_exact_mut(c).zip(ts) {
        let t = t as usize;
        for (i, v) in dx.iter_mut().enumerate() {
            *v = if i == t { (*v - 1.0) * g } else { *v * g };
        }
    }
}

#[cfg(test)]
#[allow(clippy::needless_range_loop)] // index loops mirror the spec's formulas
mod tests {
    use super::*;
    use crate::ops::softmax::log_softmax;
    use crate::ops::softmax::test_util::*;

    fn targets(rows: usize, c: usize, salt: u32) -> Vec<u32> {
        (0..rows as u32)
            .map(|r| (r.wrapping_mul(2_654_435_761).wrapping_add(salt) >> 7) % c as u32)
            .collect()
    }

    fn ce64(x: &[f64], c: usize, t: &[u32]) -> f64 {
        let rows = x.len() / c;
        (0..rows)
            .map(|r| -log_softmax64(&x[r * c..(r + 1) * c])[t[r] as usize])
            .sum::<f64>()
            / rows as f64
    }

    #[test]
    fn interleaved_rows_follow_spec() {
        for (k, &(rows, c)) in [(29usize, 15usize), (3, 4), (2100, 15), (11, 300)]
            .iter()
            .enumerate()
        {
            let mut x = uniform(130 + k as u64, &[rows, c], -9.0, 9.0)
                .data()
                .to_vec();
            x[c / 2] = f32::NAN;
            x[c + c - 1] = f32::INFINITY;
            let x = Tensor::new(&[rows, c], x).unwrap();
            let t = targets(rows, c, k as u32);
            let g = 0.75f32 / rows as f32;
            for cx in contexts() {
                let per = cross_entropy_rows(&cx, &x, &t).unwrap();
                let dx = cross_entropy_backward(&cx, &x, &t, 0.75).unwrap();
                for r in 0..rows {
                    let xr = &x.data()[r * c..(r + 1) * c];
                    let want = row_loss(xr, t[r] as usize);
                    assert_eq!(per.data()[r].to_bits(), want.to_bits(), "loss {r} {cx:?}");
                    let mut p = vec![0.0f32; c];
                    crate::ops::softmax::softmax_row(xr, &mut p);
                    for i in 0..c {
                        let want = if i == t[r] as usize {
                            (p[i] - 1.0) * g
                        } else {
                            p[i] * g
                        };
                        assert_eq!(dx.data()[r * c + i].to_bits(), want.to_bits(), "dx {r} {i}");
                    }
                }
            }
        }
    }

    #[test]
    fn matches_f64_reference() {
        for (k, &c) in [1usize, 2, 10, 257, 1023].iter().enumerate() {
            let rows = 9;
            let x = uniform(100 + k as u64, &[rows, c], -6.0, 6.0);
            let t = targets(rows, c, k as u32);
            let cx = Cpu::single();
            let per = cross_entropy_rows(&cx, &x, &t).unwrap();
            assert_eq!(per.shape(), &[rows]);
            let x64 = f64s(x.data());
            let want: Vec<f64> = (0..rows)
                .map(|r| ce64(&x64[r * c..(r + 1) * c], c, &t[r..r + 1]))
                .collect();
            assert_close(per.data(), &want, 3e-6, 3e-6, "ce rows");
            let mean = cross_entropy(&cx, &x, &t).unwrap();
            assert_eq!(mean.shape(), &[] as &[usize]);
            assert_close(mean.data(), &[ce64(&x64, c, &t)], 3e-6, 3e-6, "ce");
        }
    }

    #[test]
    fn row_loss_is_negated_log_softmax() {
        let (rows, c) = (20, 300);
        let x = uniform(110, &[rows, c], -30.0, 30.0);
        let t = targets(rows, c, 3);
        let cx = Cpu::single();
        let ls = log_softmax(&cx, &x).unwrap();
        let per = cross_entropy_rows(&cx, &x, &t).unwrap();
        for r in 0..rows {
            let want = -ls.data()[r * c + t[r] as usize];
            assert_eq!(per.data()[r].to_bits(), want.to_bits());
        }
        let l = per.data();
        let mean = canonical_sum(rows, |i| l[i]) / rows as f32;
        assert_eq!(
            cross_entropy(&cx, &x, &t).unwrap().data()[0].to_bits(),
            mean.to_bits()
        );
    }

    #[test]
    fn large_logits_and_higher_rank() {
        let x = Tensor::new(&[2, 1, 3], vec![1e30, -1e30, 0.0, -1e30, 1e30, 1e30]).unwrap();
        let cx = Cpu::single();
        let per = cross_entropy_rows(&cx, &x, &[0, 0]).unwrap();
        assert_eq!(per.shape(), &[2, 1]);
        assert_eq!(per.data(), &[0.0, 2e30]);
        let v = Tensor::new(&[3], vec![0.0, 0.0, 0.0]).unwrap();
        let l = cross_entropy_rows(&cx, &v, &[1]).unwrap();
        assert_eq!(l.shape(), &[] as &[usize]);
        assert_close(l.data(), &[3f64.ln()], 1e-6, 1e-6, "ln3");
    }

    #[test]
    fn backward_matches_finite_differences() {
        for (k, &c) in [1usize, 4, 257].iter().enumerate() {
            let rows = 3;
            let x = uniform(120 + k as u64, &[rows, c], -3.0, 3.0);
            let t = targets(rows, c, 7);
            let dloss = 1.7f32;
            let dx = cross_entropy_backward(&Cpu::single(), &x, &t, dloss).unwrap();
            let x64 = f64s(x.data());
            let fd = fd_grad(&x64, 1e-5, |z| dloss as f64 * ce64(z, c, &t));
            assert_close(dx.data(), &fd, 1e-6, 1e-4, "dce");
        }
    }

    #[test]
    fn backward_follows_spec() {
        let (rows, c) = (5, 300);
        let x = uniform(130, &[rows, c], -4.0, 4.0);
        let t = targets(rows, c, 1);
        let cx = Cpu::scalar();
        let p = crate::ops::softmax::softmax(&cx, &x).unwrap();
        let g = 0.3f32 / rows as f32;
        let dx = cross_entropy_backward(&cx, &x, &t, 0.3).unwrap();
        for r in 0..rows {
            for i in 0..c {
                let pi = p.data()[r * c + i];
                let want = if i == t[r] as usize {
                    (pi - 1.0) * g
                } else {
                    pi * g
                };
                assert_eq!(dx.data()[r * c + i].to_bits(), want.to_bits());
            }
        }
    }

    #[test]
    fn bit_identical_across_contexts() {
        for (k, &c) in [5usize, 257, 1023].iter().enumerate() {
            let rows = 41;
            let x = uniform(140 + k as u64, &[rows, c], -20.0, 20.0);
            let t = targets(rows, c, k as u32);
            let run = |cx: &Cpu| {
                [
                    bits(&cross_entropy_rows(cx, &x, &t).unwrap()),
                    bits(&cross_entropy(cx, &x, &t).unwrap()),
                    bits(&cross_entropy_backward(cx, &x, &t, 0.9).unwrap()),
                ]
            };
            let cxs = contexts();
            let want = run(&cxs[0]);
            for cx in &cxs[1..] {
                assert!(run(cx) == want, "c={c} differs under {cx:?}");
            }
        }
    }

    #[test]
    fn typed_errors() {
        let cx = Cpu::single();
        let x = Tensor::zeros(&[2, 3]);
        assert!(matches!(
            cross_entropy(&cx, &x, &[0]),
            Err(KernelError::ShapeMismatch { .. })
        ));
        assert_eq!(
            cross_entropy(&cx, &x, &[0, 3]),
            Err(KernelError::IndexOutOfRange {
                op: "cross_entropy",
                index: 3,
                bound: 3
            })
        );
        assert!(matches!(
            cross_entropy_backward(&cx, &x, &[5, 0], 1.0),
            Err(KernelError::IndexOutOfRange { index: 5, .. })
        ));
        assert!(matches!(
            cross_entropy_rows(&cx, &Tensor::zeros(&[0, 3]), &[]),
            Err(KernelError::Empty { .. })
        ));
        assert!(matches!(
            cross_entropy(&cx, &Tensor::zeros(&[2, 0]), &[0, 0]),
            Err(KernelError::Empty { .. })
        ));
        assert!(matches!(
            cross_entropy(&cx, &Tensor::scalar(0.0), &[0]),
            Err(KernelError::InvalidArgument { .. })
        ));
    }
}
