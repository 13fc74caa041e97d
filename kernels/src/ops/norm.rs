//! Layer normalization over the last axis, with its backward.
//!
//! `x` of shape `[..., D]` is `rows = numel / D` rows; `gamma` and `beta` have shape `[D]`.
//! Evaluation order (docs/numerics.md §8), per row with `Df = D as f32`:
//! `μ = canonical_sum(x) / Df`, `c_i = x_i − μ`, `v = canonical_dot(c, c) / Df`,
//! `r = 1 / sqrt(v + eps)`, `x̂_i = c_i · r`, `y_i = fma(x̂_i, γ_i, β_i)`.
//! The backward reduces `dγ`, `dβ` over rows in the canonical order (rows ascending), in
//! parallel over columns, and forms `dx` from per-row sums as documented on
//! [`layer_norm_backward`].

use crate::cpu::Cpu;
use crate::error::{KernelError, Result};
use crate::math;
use crate::ops::softmax::{last_axis_rows, require_same_shape, rows_per_task};
use crate::reduce::{INTERLEAVE, REDUCE_BLOCK, canonical_dots, canonical_sums};
use crate::tensor::Tensor;

/// Columns per task in the column reductions of [`layer_norm_backward`]. Does not affect
/// results (each column's order is fixed), only the work split.
const COLUMN_TASK: usize = 64;

/// What [`layer_norm`] saves for [`layer_norm_backward`].
#[derive(Debug, Clone, PartialEq)]
pub struct LayerNormSaved {
    /// The normalized input `x̂ = (x − μ) · r`, same shape as `x`.
    pub xhat: Tensor,
    /// The per-row reciprocal standard deviation `r = 1 / sqrt(var + eps)`, shape
    /// `x.shape[..-1]` (rank 0 for a rank-1 `x`).
    pub rstd: Tensor,
}

/// Refuses `t` unless its shape is exactly `[d]`.
fn require_vector(op: &'static str, name: &str, t: &Tensor, d: usize) -> Result<()> {
    if t.shape() != [d] {
        return Err(KernelError::ShapeMismatch {
            op,
            detail: format!("{name} has shape {:?}, expected [{d}]", t.shape()),
        });
    }
    Ok(())
}

crate::cpu::simd_fn! {
    /// Layer norm of the rows of `xs` (the order of [`layer_norm`]) into `y`, `xhat`, `rstd`.
    #[allow(clippy::too_many_arguments)]
    fn layer_norm_rows(
        xs: &[f32],
        gs: &[f32],
        bs: &[f32],
        eps: f32,
        y: &mut [f32],
        xhat: &mut [f32],
        rstd: &mut [f32],
    ) => layer_norm_rows_body
}

#[inline(always)]
fn layer_norm_rows_body(
    xs: &[f32],
    gs: &[f32],
    bs: &[f32],
    eps: f32,
    y: &mut [f32],
    xhat: &mut [f32],
    rstd: &mut [f32],
) {
    let d = gs.len();
    let span = INTERLEAVE * d;
    let full = rstd.len() / INTERLEAVE * INTERLEAVE;
    let (xg, xt) = xs.split_at(full * d);
    let (yg, yt) = y.split_at_mut(full * d);
    let (hg, ht) = xhat.split_at_mut(full * d);
    let (rg, rt) = rstd.split_at_mut(full);
    for (((x, y), h), r) in xg
        .chunks_exact(span)
        .zip(yg.chunks_exact_mut(span))
        .zip(hg.chunks_exact_mut(span))
        .zip(rg.chunks_exact_mut(INTERLEAVE))
    {
        layer_norm_group::<INTERLEAVE>(x, gs, bs, eps, y, h, r);
    }
    for (((x, y), h), r) in xt
        .chunks_exact(d)
        .zip(yt.chunks_exact_mut(d))
        .zip(ht.chunks_exact_mut(d))
        .zip(rt.chunks_exact_mut(1))
    {
        layer_norm_group::<1>(x, gs, bs, eps, y, h, r);
    }
}

/// Layer norm of `G` rows at once: each row's sums are [`canonical_sums`] /
/// [`canonical_dots`] lanes, so the `G` latency-bound reductions overlap; every row gets
/// exactly the operations of [`layer_norm`].
#[inline(always)]
fn layer_norm_group<const G: usize>(
    xs: &[f32],
    gs: &[f32],
    bs: &[f32],
    eps: f32,
    y: &mut [f32],
    xhat: &mut [f32],
    rstd: &mut [f32],
) {
    let d = gs.len();
    let df = d as f32;
    let sums = canonical_sums::<G>(d, |r, i| xs[r * d + i]);
    for ((hr, xr), s) in xhat.chunks_exact_mut(d).zip(xs.chunks_exact(d)).zip(sums) {
        let mu = s / df;
        for (h, &xi) in hr.iter_mut().zip(xr) {
            *h = xi - mu;
        }
    }
    let h: &[f32] = xhat;
    let dots = canonical_dots::<G>(d, |r, i| h[r * d + i], |r, i| h[r * d + i]);
    for (((yr, hr), rr), dot) in y
        .chunks_exact_mut(d)
        .zip(xhat.chunks_exact_mut(d))
        .zip(rstd.iter_mut())
        .zip(dots)
    {
        let var = dot / df;
        let r = 1.0 / math::sqrt(var + eps);
        for ((yi, h), (&g, &b)) in yr.iter_mut().zip(hr.iter_mut()).zip(gs.iter().zip(bs)) {
            *h *= r;
            *yi = h.mul_add(g, b);
        }
        *rr = r;
    }
}

/// Layer norm over the last axis; returns `y` and what the backward needs.
///
/// Order, per row `x` of `D` elements, `Df = D as f32` (round to nearest):
/// 1. `μ = canonical_sum(x) / Df` (one IEEE division);
/// 2. `c_i = x_i − μ` (rounded);
/// 3. `v = canonical_dot(c, c) / Df` (fma blocks, then one division; the biased variance);
/// 4. `r = 1 / sqrt(v + eps)` (the sum rounded, IEEE `sqrt`, IEEE division — not an
///    approximate rsqrt);
/// 5. `x̂_i = c_i * r`; `y_i = fma(x̂_i, γ_i, β_i)` (one rounding).
///
/// Errors: rank 0 ([`KernelError::InvalidArgument`]); no elements ([`KernelError::Empty`]);
/// `gamma` or `beta` not of shape `[D]` ([`KernelError::ShapeMismatch`]); `eps` negative, NaN
/// or infinite ([`KernelError::InvalidArgument`]).
pub fn layer_norm(
    cx: &Cpu,
    x: &Tensor,
    gamma: &Tensor,
    beta: &Tensor,
    eps: f32,
) -> Result<(Tensor, LayerNormSaved)> {
    const OP: &str = "layer_norm";
    let (rows, d) = last_axis_rows(OP, x)?;
    require_vector(OP, "gamma", gamma, d)?;
    require_vector(OP, "beta", beta, d)?;
    if !(eps >= 0.0 && eps.is_finite()) {
        return Err(KernelError::InvalidArgument {
            op: OP,
            detail: format!("eps must be finite and >= 0, got {eps}"),
        });
    }
    let (xs, gs, bs) = (x.data(), gamma.data(), beta.data());
    let mut y = crate::buffers::for_overwrite(xs.len());
    let mut xhat = crate::buffers::for_overwrite(xs.len());
    let mut rstd = vec![0.0f32; rows];
    {
        let per = rows_per_task(d);
        let mut jobs: Vec<(&mut [f32], &mut [f32], &mut [f32])> = y
            .chunks_mut(per * d)
            .zip(xhat.chunks_mut(per * d))
            .zip(rstd.chunks_mut(per))
            .map(|((a, b), c)| (a, b, c))
            .collect();
        let simd = cx.simd();
        cx.for_each_chunk_mut(&mut jobs, 1, |task, job| {
            let (yr, hr, rr) = &mut job[0];
            let xr = &xs[task * per * d..task * per * d + yr.len()];
            layer_norm_rows(simd, xr, gs, bs, eps, yr, hr, rr);
        });
    }
    let lead = &x.shape()[..x.rank() - 1];
    Ok((
        Tensor::new(x.shape(), y)?,
        LayerNormSaved {
            xhat: Tensor::new(x.shape(), xhat)?,
            rstd: Tensor::new(lead, rstd)?,
        },
    ))
}

/// `out[j] = Σ_rows a[row, j]` (or `Σ_rows a[row, j]·b[row, j]` with fma when `b` is given),
/// with exactly the bits of [`canonical_sum`] / [`canonical_dot`] over rows ascending, parallel
/// over column groups. Each group keeps one block accumulator per column and walks rows in
/// order, which reads memory row by row without changing any column's order.
fn column_reduce(cx: &Cpu, rows: usize, d: usize, a: &[f32], b: Option<&[f32]>) -> Vec<f32> {
    let mut out = vec![0.0f32; d];
    let simd = cx.simd();
    cx.for_each_chunk_mut(&mut out, COLUMN_TASK, |task, total| {
        let j0 = task * COLUMN_TASK;
        match b {
            Some(b) => column_dot(simd, rows, d, j0, a, b, total),
            None => column_sum(simd, rows, d, j0, a, total),
        }
    });
    out
}

crate::cpu::simd_fn! {
    /// `total[j] = Σ_rows a[row, j0 + j]·b[row, j0 + j]` in the order of [`column_reduce`].
    fn column_dot(
        rows: usize,
        d: usize,
        j0: usize,
        a: &[f32],
        b: &[f32],
        total: &mut [f32],
    ) => column_dot_body
}

#[inline(always)]
fn column_dot_body(rows: usize, d: usize, j0: usize, a: &[f32], b: &[f32], total: &mut [f32]) {
    column_blocks(rows, total, |row, block| {
        let w = block.len();
        let ar = &a[row * d + j0..row * d + j0 + w];
        let br = &b[row * d + j0..row * d + j0 + w];
        for ((s, &p), &q) in block.iter_mut().zip(ar).zip(br) {
            *s = p.mul_add(q, *s);
        }
    });
}

crate::cpu::simd_fn! {
    /// `total[j] = Σ_rows a[row, j0 + j]` in the order of [`column_reduce`].
    fn column_sum(rows: usize, d: usize, j0: usize, a: &[f32], total: &mut [f32]) => column_sum_body
}

#[inline(always)]
fn column_sum_body(rows: usize, d: usize, j0: usize, a: &[f32], total: &mut [f32]) {
    column_blocks(rows, total, |row, block| {
        let w = block.len();
        let ar = &a[row * d + j0..row * d + j0 + w];
        for (s, &p) in block.iter_mut().zip(ar) {
            *s += p;
        }
    });
}

/// The canonical blocked order over rows for a group of columns: each block of
/// [`REDUCE_BLOCK`] rows accumulates from `+0` (`add(row, block)` for its rows ascending),
/// and the block sums are added to `total` in ascending order.
#[inline(always)]
fn column_blocks(rows: usize, total: &mut [f32], add: impl Fn(usize, &mut [f32])) {
    let mut block = vec![0.0f32; total.len()];
    let mut start = 0usize;
    while start < rows {
        let end = (start + REDUCE_BLOCK).min(rows);
        block.fill(0.0);
        for row in start..end {
            add(row, &mut block);
        }
        if start == 0 {
            total.copy_from_slice(&block);
        } else {
            for (t, &s) in total.iter_mut().zip(&block) {
                *t += s;
            }
        }
        start = end;
    }
}

crate::cpu::simd_fn! {
    /// `dx` of the rows of `hs` (x̂), `dys`, with `rs` (rstd), in the order of
    /// [`layer_norm_backward`].
    fn layer_norm_backward_rows(
        hs: &[f32],
        dys: &[f32],
        gs: &[f32],
        rs: &[f32],
        dx: &mut [f32],
    ) => layer_norm_backward_rows_body
}

#[inline(always)]
fn layer_norm_backward_rows_body(hs: &[f32], dys: &[f32], gs: &[f32], rs: &[f32], dx: &mut [f32]) {
    let d = gs.len();
    let span = INTERLEAVE * d;
    let full = rs.len() / INTERLEAVE * INTERLEAVE;
    let (hg, ht) = hs.split_at(full * d);
    let (gg, gt) = dys.split_at(full * d);
    let (rg, rt) = rs.split_at(full);
    let (dg, dt) = dx.split_at_mut(full * d);
    for (((h, g), r), o) in hg
        .chunks_exact(span)
        .zip(gg.chunks_exact(span))
        .zip(rg.chunks_exact(INTERLEAVE))
        .zip(dg.chunks_exact_mut(span))
    {
        layer_norm_backward_group::<INTERLEAVE>(h, g, gs, r, o);
    }
    for (((h, g), r), o) in ht
        .chunks_exact(d)
        .zip(gt.chunks_exact(d))
        .zip(rt.chunks_exact(1))
        .zip(dt.chunks_exact_mut(d))
    {
        layer_norm_backward_group::<1>(h, g, gs, r, o);
    }
}

/// `dx` of `G` rows at once (their sums interleaved, as in [`layer_norm_group`]); every row
/// gets exactly the operations of [`layer_norm_backward`].
#[inline(always)]
fn layer_norm_backward_group<const G: usize>(
    hs: &[f32],
    dys: &[f32],
    gs: &[f32],
    rs: &[f32],
    dx: &mut [f32],
) {
    let d = gs.len();
    let df = d as f32;
    let g = |r: usize, i: usize| dys[r * d + i] * gs[i];
    let sa = canonical_sums::<G>(d, g);
    let sb = canonical_dots::<G>(d, g, |r, i| hs[r * d + i]);
    for (row, ((dxr, hr), &r)) in dx
        .chunks_exact_mut(d)
        .zip(hs.chunks_exact(d))
        .zip(rs)
        .enumerate()
    {
        let (a, b) = (sa[row], sb[row]);
        let k = r / df;
        let gr = &dys[row * d..(row + 1) * d];
        for (((v, &h), &dy), &gamma) in dxr.iter_mut().zip(hr).zip(gr).zip(gs) {
            *v = k * (-h).mul_add(b, df.mul_add(dy * gamma, -a));
        }
    }
}

/// Gradients of [`layer_norm`]: returns `(dx, dgamma, dbeta)` from what the forward saved,
/// `gamma`, and the output gradient `dy`.
///
/// Order:
/// - `dβ_j = canonical_sum over rows (ascending) of dy[row, j]`;
/// - `dγ_j = canonical_dot over rows (ascending) of dy[row, j] · x̂[row, j]` (fma blocks);
/// - per row, with `r` the saved rstd and `Df = D as f32`: `g_i = dy_i * γ_i` (rounded);
///   `a = canonical_sum(g)`; `b = canonical_dot(g, x̂)`; `k = r / Df`;
///   `dx_i = k * fma(−x̂_i, b, fma(Df, g_i, −a))`,
///   i.e. `(r/D)·((D·g_i − Σg) − x̂_i·Σ(g·x̂))` with the two inner steps fused.
///
/// Errors: `saved.xhat` of rank 0 or empty (as [`layer_norm`]); `dy` not of `x̂`'s shape,
/// `gamma` not `[D]`, or `saved.rstd` not holding one value per row
/// ([`KernelError::ShapeMismatch`]).
pub fn layer_norm_backward(
    cx: &Cpu,
    saved: &LayerNormSaved,
    gamma: &Tensor,
    dy: &Tensor,
) -> Result<(Tensor, Tensor, Tensor)> {
    layer_norm_backward_parts(cx, &saved.xhat, &saved.rstd, gamma, dy)
}

/// [`layer_norm_backward`] with the saved `x̂` and `rstd` borrowed separately (as the graph
/// holds them), so nothing is copied. Same order, errors and results.
pub fn layer_norm_backward_parts(
    cx: &Cpu,
    xhat: &Tensor,
    rstd: &Tensor,
    gamma: &Tensor,
    dy: &Tensor,
) -> Result<(Tensor, Tensor, Tensor)> {
    const OP: &str = "layer_norm_backward";
    let (rows, d) = last_axis_rows(OP, xhat)?;
    require_same_shape(OP, "xhat", xhat, "dy", dy)?;
    require_vector(OP, "gamma", gamma, d)?;
    if rstd.numel() != rows {
        return Err(KernelError::ShapeMismatch {
            op: OP,
            detail: format!(
                "rstd has {} elements, expected one per row ({rows})",
                rstd.numel()
            ),
        });
    }
    let (hs, gs, dys, rs) = (xhat.data(), gamma.data(), dy.data(), rstd.data());
    let mut dx = crate::buffers::for_overwrite(hs.len());
    let simd = cx.simd();
    let per = rows_per_task(d);
    cx.for_each_chunk_mut(&mut dx, per * d, |task, dxr| {
        let lo = task * per * d;
        let (hr, gr) = (&hs[lo..lo + dxr.len()], &dys[lo..lo + dxr.len()]);
        let rr = &rs[task * per..task * per + dxr.len() / d];
        layer_norm_backward_rows(simd, hr, gr, gs, rr, dxr);
    });
    let dgamma = column_reduce(cx, rows, d, dys, Some(hs));
    let dbeta = column_reduce(cx, rows, d, dys, None);
    Ok((
        Tensor::new(dy.shape(), dx)?,
        Tensor::new(&[d], dgamma)?,
        Tensor::new(&[d], dbeta)?,
    ))
}

#[cfg(test)]
#[allow(clippy::needless_range_loop)] // index loops mirror the spec's formulas
mod tests {
    use super::*;
    use crate::ops::softmax::test_util::*;
    use crate::reduce::{canonical_dot, canonical_sum};

    #[test]
    fn interleaved_rows_follow_spec() {
        // Row counts with full groups of INTERLEAVE rows and a remainder, several tasks.
        for (k, &(rows, d)) in [(29usize, 5usize), (21, 64), (11, 300), (2100, 14)]
            .iter()
            .enumerate()
        {
            let x = uniform(60 + k as u64, &[rows, d], -3.0, 4.0);
            let (g, b) = params(60 + k as u64, d);
            let dy = uniform(70 + k as u64, &[rows, d], -1.0, 1.0);
            let (gs, bs) = (g.data(), b.data());
            let df = d as f32;
            for cx in contexts() {
                let (y, s) = layer_norm(&cx, &x, &g, &b, 1e-5).unwrap();
                let (dx, _, _) = layer_norm_backward(&cx, &s, &g, &dy).unwrap();
                for row in 0..rows {
                    let xr = &x.data()[row * d..(row + 1) * d];
                    let mu = canonical_sum(d, |i| xr[i]) / df;
                    let c: Vec<f32> = xr.iter().map(|&v| v - mu).collect();
                    let var = canonical_dot(d, |i| c[i], |i| c[i]) / df;
                    let r = 1.0 / (var + 1e-5).sqrt();
                    assert_eq!(s.rstd.data()[row].to_bits(), r.to_bits(), "rstd {row}");
                    let h: Vec<f32> = c.iter().map(|&v| v * r).collect();
                    let gr = &dy.data()[row * d..(row + 1) * d];
                    let gg = |i: usize| gr[i] * gs[i];
                    let a = canonical_sum(d, gg);
                    let bb = canonical_dot(d, gg, |i| h[i]);
                    let kk = r / df;
                    for i in 0..d {
                        let at = row * d + i;
                        assert_eq!(s.xhat.data()[at].to_bits(), h[i].to_bits());
                        let want = h[i].mul_add(gs[i], bs[i]);
                        assert_eq!(y.data()[at].to_bits(), want.to_bits(), "y {row} {i}");
                        let want = kk * (-h[i]).mul_add(bb, df.mul_add(gg(i), -a));
                        assert_eq!(dx.data()[at].to_bits(), want.to_bits(), "dx {row} {i}");
                    }
                }
            }
        }
    }

    /// f64 layer norm of one row.
    fn ln64(x: &[f64], g: &[f64], b: &[f64], eps: f64) -> Vec<f64> {
        let d = x.len() as f64;
        let mu = x.iter().sum::<f64>() / d;
        let var = x.iter().map(|v| (v - mu) * (v - mu)).sum::<f64>() / d;
        let r = 1.0 / (var + eps).sqrt();
        (0..x.len())
            .map(|i| (x[i] - mu) * r * g[i] + b[i])
            .collect()
    }

    fn params(k: u64, d: usize) -> (Tensor, Tensor) {
        (
            uniform(200 + k, &[d], 0.5, 1.5),
            uniform(300 + k, &[d], -0.5, 0.5),
        )
    }

    #[test]
    fn forward_matches_f64() {
        for (k, &d) in [1usize, 2, 8, 256, 257, 1023].iter().enumerate() {
            let rows = 4;
            let x = uniform(k as u64, &[rows, d], -3.0, 5.0);
            let (g, b) = params(k as u64, d);
            let (y, saved) = layer_norm(&Cpu::single(), &x, &g, &b, 1e-5).unwrap();
            assert_eq!(saved.rstd.shape(), &[rows]);
            let (g64, b64) = (f64s(g.data()), f64s(b.data()));
            for r in 0..rows {
                let xr = f64s(&x.data()[r * d..(r + 1) * d]);
                let want = ln64(&xr, &g64, &b64, 1e-5);
                assert_close(
                    &y.data()[r * d..(r + 1) * d],
                    &want,
                    2e-5,
                    1e-5,
                    "layer_norm",
                );
            }
        }
    }

    #[test]
    fn forward_follows_spec() {
        let d = 700;
        let x = uniform(5, &[1, d], -2.0, 9.0);
        let (g, b) = params(5, d);
        let (y, saved) = layer_norm(&Cpu::scalar(), &x, &g, &b, 1e-5).unwrap();
        let xs = x.data();
        let df = d as f32;
        let mu = canonical_sum(d, |i| xs[i]) / df;
        let c: Vec<f32> = xs.iter().map(|&v| v - mu).collect();
        let var = canonical_dot(d, |i| c[i], |i| c[i]) / df;
        let r = 1.0 / (var + 1e-5).sqrt();
        assert_eq!(saved.rstd.data()[0].to_bits(), r.to_bits());
        for i in 0..d {
            let h = c[i] * r;
            assert_eq!(saved.xhat.data()[i].to_bits(), h.to_bits());
            let want = h.mul_add(g.data()[i], b.data()[i]);
            assert_eq!(y.data()[i].to_bits(), want.to_bits());
        }
    }

    #[test]
    fn constant_row_and_rank_one() {
        let x = Tensor::new(&[4], vec![3.0; 4]).unwrap();
        let g = Tensor::full(&[4], 2.0);
        let b = Tensor::full(&[4], 0.25);
        let (y, saved) = layer_norm(&Cpu::single(), &x, &g, &b, 1e-5).unwrap();
        assert_eq!(y.data(), &[0.25; 4]);
        assert_eq!(saved.rstd.shape(), &[] as &[usize]);
        let (y3, _) = layer_norm(
            &Cpu::single(),
            &x.reshape(&[1, 1, 4]).unwrap(),
            &g,
            &b,
            1e-5,
        )
        .unwrap();
        assert_eq!(bits(&y3), bits(&y));
        assert_eq!(y3.shape(), &[1, 1, 4]);
    }

    #[test]
    fn column_reduce_is_canonical() {
        let (rows, d) = (REDUCE_BLOCK * 2 + 37, 150);
        let a = uniform(6, &[rows, d], -1.0, 1.0);
        let b = uniform(7, &[rows, d], -1.0, 1.0);
        let (av, bv) = (a.data(), b.data());
        for cx in contexts() {
            let s = column_reduce(&cx, rows, d, av, None);
            let p = column_reduce(&cx, rows, d, av, Some(bv));
            for j in 0..d {
                let ws = canonical_sum(rows, |r| av[r * d + j]);
                let wp = canonical_dot(rows, |r| av[r * d + j], |r| bv[r * d + j]);
                assert_eq!(s[j].to_bits(), ws.to_bits());
                assert_eq!(p[j].to_bits(), wp.to_bits());
            }
        }
    }

    #[test]
    fn backward_matches_finite_differences() {
        for (k, &d) in [1usize, 3, 257].iter().enumerate() {
            let rows = 3;
            let eps = 1e-5f32;
            let x = uniform(10 + k as u64, &[rows, d], -2.0, 2.0);
            let (g, b) = params(10 + k as u64, d);
            let dy = uniform(20 + k as u64, &[rows, d], -1.0, 1.0);
            let cx = Cpu::single();
            let (_, saved) = layer_norm(&cx, &x, &g, &b, eps).unwrap();
            let (dx, dg, db) = layer_norm_backward(&cx, &saved, &g, &dy).unwrap();
            let (x64, g64, b64, w) = (
                f64s(x.data()),
                f64s(g.data()),
                f64s(b.data()),
                f64s(dy.data()),
            );
            let eps64 = eps as f64;
            let objective = |x: &[f64], g: &[f64], b: &[f64]| -> f64 {
                (0..rows)
                    .map(|r| {
                        let y = ln64(&x[r * d..(r + 1) * d], g, b, eps64);
                        y.iter()
                            .zip(&w[r * d..(r + 1) * d])
                            .map(|(p, q)| p * q)
                            .sum::<f64>()
                    })
                    .sum()
            };
            let fdx = fd_grad(&x64, 1e-5, |z| objective(z, &g64, &b64));
            let fdg = fd_grad(&g64, 1e-5, |z| objective(&x64, z, &b64));
            let fdb = fd_grad(&b64, 1e-5, |z| objective(&x64, &g64, z));
            // d = 1: x̂ = 0 and dx = 0 exactly (with eps > 0); the FD agrees.
            assert_close(dx.data(), &fdx, 5e-5, 1e-3, "dx");
            assert_close(dg.data(), &fdg, 1e-5, 1e-4, "dgamma");
            assert_close(db.data(), &fdb, 1e-5, 1e-4, "dbeta");
        }
    }

    #[test]
    fn backward_follows_spec() {
        let (rows, d) = (3, 300);
        let x = uniform(30, &[rows, d], -2.0, 2.0);
        let (g, b) = params(30, d);
        let dy = uniform(31, &[rows, d], -1.0, 1.0);
        let cx = Cpu::scalar();
        let (_, saved) = layer_norm(&cx, &x, &g, &b, 1e-5).unwrap();
        let (dx, _, _) = layer_norm_backward(&cx, &saved, &g, &dy).unwrap();
        let df = d as f32;
        for r in 0..rows {
            let h = &saved.xhat.data()[r * d..(r + 1) * d];
            let gv: Vec<f32> = (0..d).map(|i| dy.data()[r * d + i] * g.data()[i]).collect();
            let a = canonical_sum(d, |i| gv[i]);
            let bb = canonical_dot(d, |i| gv[i], |i| h[i]);
            let k = saved.rstd.data()[r] / df;
            for i in 0..d {
                let want = k * (-h[i]).mul_add(bb, df.mul_add(gv[i], -a));
                assert_eq!(dx.data()[r * d + i].to_bits(), want.to_bits());
            }
        }
    }

    #[test]
    fn bit_identical_across_contexts() {
        for (k, &(rows, d)) in [(300usize, 5usize), (37, 257), (9, 1023)]
            .iter()
            .enumerate()
        {
            let x = uniform(40 + k as u64, &[rows, d], -4.0, 4.0);
            let (g, b) = params(40 + k as u64, d);
            let dy = uniform(50 + k as u64, &[rows, d], -1.0, 1.0);
            let run = |cx: &Cpu| {
                let (y, s) = layer_norm(cx, &x, &g, &b, 1e-5).unwrap();
                let (dx, dg, db) = layer_norm_backward(cx, &s, &g, &dy).unwrap();
                [
                    bits(&y),
                    bits(&s.xhat),
                    bits(&s.rstd),
                    bits(&dx),
                    bits(&dg),
                    bits(&db),
                ]
            };
            let cxs = contexts();
            let want = run(&cxs[0]);
            for cx in &cxs[1..] {
                assert!(run(cx) == want, "({rows}, {d}) differs under {cx:?}");
            }
        }
    }

    #[test]
    fn typed_errors() {
        let cx = Cpu::single();
        let x = Tensor::zeros(&[2, 3]);
        let (g, b) = (Tensor::full(&[3], 1.0), Tensor::zeros(&[3]));
        let bad = Tensor::zeros(&[4]);
        let ln = |x: &Tensor, g: &Tensor, b: &Tensor, e: f32| layer_norm(&cx, x, g, b, e);
        assert!(matches!(
            ln(&x, &bad, &b, 1e-5),
            Err(KernelError::ShapeMismatch { .. })
        ));
        assert!(matches!(
            ln(&x, &g, &bad, 1e-5),
            Err(KernelError::ShapeMismatch { .. })
        ));
        let g2 = Tensor::full(&[1, 3], 1.0);
        assert!(matches!(
            ln(&x, &g2, &b, 1e-5),
            Err(KernelError::ShapeMismatch { .. })
        ));
        for e in [-1e-5, f32::NAN, f32::INFINITY] {
            assert!(matches!(
                ln(&x, &g, &b, e),
                Err(KernelError::InvalidArgument { .. })
            ));
        }
        assert!(ln(&x, &g, &b, 0.0).is_ok());
        let e0 = Tensor::zeros(&[0, 3]);
        assert!(matches!(
            ln(&e0, &g, &b, 1e-5),
            Err(KernelError::Empty { .. })
        ));
        let s0 = Tensor::scalar(1.0);
        assert!(matches!(
            ln(&s0, &g, &b, 1e-5),
            Err(KernelError::InvalidArgument { .. })
        ));

        let (_, saved) = ln(&x, &g, &b, 1e-5).unwrap();
        let bw = |s: &LayerNormSaved, g: &Tensor, dy: &Tensor| layer_norm_backward(&cx, s, g, dy);
        assert!(matches!(
            bw(&saved, &g, &Tensor::zeros(&[3, 2])),
            Err(KernelError::ShapeMismatch { .. })
        ));
        assert!(matches!(
            bw(&saved, &bad, &x),
            Err(KernelError::ShapeMismatch { .. })
        ));
        let mut short = saved.clone();
        short.rstd = Tensor::zeros(&[1]);
        assert!(matches!(
            bw(&short, &g, &x),
            Err(KernelError::ShapeMismatch { .. })
        ));
        let empty = LayerNormSaved {
            xhat: Tensor::zeros(&[0, 3]),
            rstd: Tensor::zeros(&[0]),
        };
        assert!(matches!(
            bw(&empty, &g, &Tensor::zeros(&[0, 3])),
            Err(KernelError::Empty { .. })
        ));
    }
}
