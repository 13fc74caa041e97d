//! Elementwise building blocks: parallel maps over one tensor, two equally shaped tensors, or
//! two broadcast operands. The ops themselves are in [`super::unary`] and [`super::binary`].
//!
//! Every map computes each output element independently with the given closure, so the
//! result does not depend on the thread count or on [`ELEMENTWISE_CHUNK`]; threads split the
//! output into chunks of [`ELEMENTWISE_CHUNK`] elements. Each chunk runs under
//! `cpu::with_simd`, so `mul_add` in the closures compiles to the FMA instruction where the
//! CPU has one (the same correctly rounded result as the library call it replaces).

use crate::cpu::{Cpu, SimdLevel, with_simd};
use crate::error::{KernelError, Result};
use crate::ops::broadcast::{ELEMENTWISE_CHUNK, Walker, broadcast_shapes, broadcast_strides};
use crate::tensor::Tensor;

/// `y[i] = f(x[i])`, in parallel over chunks. Refuses empty `x`.
pub fn map_unary(
    cx: &Cpu,
    op: &'static str,
    x: &Tensor,
    f: impl Fn(f32) -> f32 + Sync + Send,
) -> Result<Tensor> {
    map_unary_slices(cx, op, x, |simd, s, o| {
        with_simd(simd, || {
            for (o, &v) in o.iter_mut().zip(s) {
                *o = f(v);
            }
        })
    })
}

/// `f(simd level, x chunk, y chunk)` over chunks of [`ELEMENTWISE_CHUNK`] elements of `x` and of a new
/// output of the same shape, in parallel; `f` must fill its output chunk elementwise (each
/// `y[i]` from `x[i]` alone), so the result does not depend on the chunking. This is
/// [`map_unary`] for functions with a vectorized slice form (`math::lanes`). Refuses empty `x`.
pub fn map_unary_slices(
    cx: &Cpu,
    op: &'static str,
    x: &Tensor,
    f: impl Fn(SimdLevel, &[f32], &mut [f32]) + Sync + Send,
) -> Result<Tensor> {
    x.require_nonempty(op)?;
    let src = x.data();
    let mut out = crate::buffers::for_overwrite(src.len());
    let simd = cx.simd();
    cx.for_each_chunk_mut(&mut out, ELEMENTWISE_CHUNK, |ci, chunk| {
        let s = &src[ci * ELEMENTWISE_CHUNK..ci * ELEMENTWISE_CHUNK + chunk.len()];
        f(simd, s, chunk)
    });
    Tensor::new(x.shape(), out)
}

/// `z[i] = f(x[i], y[i])` for two tensors of the same shape (no broadcasting), in parallel
/// over chunks. This is the shape of every unary backward (`dx = f(x or y, dy)`).
///
/// Errors: [`KernelError::ShapeMismatch`] if the shapes differ, [`KernelError::Empty`].
pub fn map_same_shape(
    cx: &Cpu,
    op: &'static str,
    x: &Tensor,
    y: &Tensor,
    f: impl Fn(f32, f32) -> f32 + Sync + Send,
) -> Result<Tensor> {
    map_same_shape_slices(cx, op, x, y, |simd, xs, ys, o| {
        with_simd(simd, || {
            for ((o, &a), &b) in o.iter_mut().zip(xs).zip(ys) {
                *o = f(a, b);
            }
        })
    })
}

/// [`map_same_shape`] for functions with a vectorized slice form: `f(simd level, x chunk,
/// y chunk, z chunk)` over chunks of [`ELEMENTWISE_CHUNK`] elements, in parallel; `f` must fill its
/// output chunk elementwise (each `z[i]` from `x[i]` and `y[i]` alone).
///
/// Errors: [`KernelError::ShapeMismatch`] if the shapes differ, [`KernelError::Empty`].
pub fn map_same_shape_slices(
    cx: &Cpu,
    op: &'static str,
    x: &Tensor,
    y: &Tensor,
    f: impl Fn(SimdLevel, &[f32], &[f32], &mut [f32]) + Sync + Send,
) -> Result<Tensor> {
    x.require_nonempty(op)?;
    if x.shape() != y.shape() {
        return Err(KernelError::ShapeMismatch {
            op,
            detail: format!(
                "{:?} vs {:?} (the same shape is required)",
                x.shape(),
                y.shape()
            ),
        });
    }
    let (xs, ys) = (x.data(), y.data());
    let mut out = crate::buffers::for_overwrite(xs.len());
    let simd = cx.simd();
    cx.for_each_chunk_mut(&mut out, ELEMENTWISE_CHUNK, |ci, chunk| {
        let lo = ci * ELEMENTWISE_CHUNK;
        let (xs, ys) = (&xs[lo..lo + chunk.len()], &ys[lo..lo + chunk.len()]);
        f(simd, xs, ys, chunk)
    });
    Tensor::new(x.shape(), out)
}

/// `z[o] = f(a[ia(o)], b[ib(o)])` over the broadcast shape of `a` and `b` (NumPy rules), in
/// parallel over chunks of the output.
pub fn map_broadcast(
    cx: &Cpu,
    op: &'static str,
    a: &Tensor,
    b: &Tensor,
    f: impl Fn(f32, f32) -> f32 + Sync + Send,
) -> Result<Tensor> {
    let shape = broadcast_shapes(op, a.shape(), b.shape())?;
    if a.shape() == b.shape() {
        return map_same_shape(cx, op, a, b, f);
    }
    let sa = broadcast_strides(op, a.shape(), &shape)?;
    let sb = broadcast_strides(op, b.shape(), &shape)?;
    let (ad, bd) = (a.data(), b.data());
    let mut out = crate::buffers::for_overwrite(crate::tensor::numel(&shape));
    let simd = cx.simd();
    cx.for_each_chunk_mut(&mut out, ELEMENTWISE_CHUNK, |ci, chunk| {
        let mut w = Walker::new(&shape, [&sa, &sb], ci * ELEMENTWISE_CHUNK);
        with_simd(simd, || {
            w.runs(chunk.len(), |pos, [ia, ib], [sa, sb], run| {
                let o = &mut chunk[pos..pos + run];
                // The common run shapes as plain slice loops (they vectorize); the same `f` on
                // the same elements, so the same bits.
                match (sa, sb) {
                    (1, 1) => {
                        let (xs, ys) = (&ad[ia..ia + run], &bd[ib..ib + run]);
                        for ((o, &x), &y) in o.iter_mut().zip(xs).zip(ys) {
                            *o = f(x, y);
                        }
                    }
                    (1, 0) => {
                        let y = bd[ib];
                        for (o, &x) in o.iter_mut().zip(&ad[ia..ia + run]) {
                            *o = f(x, y);
                        }
                    }
                    (0, 1) => {
                        let x = ad[ia];
                        for (o, &y) in o.iter_mut().zip(&bd[ib..ib + run]) {
                            *o = f(x, y);
                        }
                    }
                    _ => {
                        for (j, o) in o.iter_mut().enumerate() {
                            *o = f(ad[ia + j * sa], bd[ib + j * sb]);
                        }
                    }
                }
            })
        });
    });
    Tensor::new(&shape, out)
}

/// One per-output gradient term of a broadcast binary op: `t[o] = f(a[ia(o)], b[ib(o)],
/// dy[o])`, of the output's shape (not yet reduced to an input shape).
///
/// Errors: [`KernelError::ShapeMismatch`] unless `dy` has the broadcast shape of `a` and `b`.
pub fn broadcast_term(
    cx: &Cpu,
    op: &'static str,
    a: &Tensor,
    b: &Tensor,
    dy: &Tensor,
    f: impl Fn(f32, f32, f32) -> f32 + Sync + Send,
) -> Result<Tensor> {
    check_dy(op, a, b, dy)?;
    let shape = dy.shape();
    let sa = broadcast_strides(op, a.shape(), shape)?;
    let sb = broadcast_strides(op, b.shape(), shape)?;
    let (ad, bd, gd) = (a.data(), b.data(), dy.data());
    let mut out = crate::buffers::for_overwrite(gd.len());
    let simd = cx.simd();
    cx.for_each_chunk_mut(&mut out, ELEMENTWISE_CHUNK, |ci, chunk| {
        let lo = ci * ELEMENTWISE_CHUNK;
        let mut w = Walker::new(shape, [&sa, &sb], lo);
        with_simd(simd, || {
            w.runs(chunk.len(), |pos, [ia, ib], [sa, sb], run| {
                let g = &gd[lo + pos..lo + pos + run];
                for (j, (o, &g)) in chunk[pos..pos + run].iter_mut().zip(g).enumerate() {
                    *o = f(ad[ia + j * sa], bd[ib + j * sb], g);
                }
            })
        });
    });
    Tensor::new(shape, out)
}

/// Checks that `dy` has the broadcast shape of `a` and `b`.
pub fn check_dy(op: &'static str, a: &Tensor, b: &Tensor, dy: &Tensor) -> Result<()> {
    let shape = broadcast_shapes(op, a.shape(), b.shape())?;
    if dy.shape() != shape.as_slice() {
        return Err(KernelError::ShapeMismatch {
            op,
            detail: format!("dy has shape {:?}, the output has {:?}", dy.shape(), shape),
        });
    }
    Ok(())
}
