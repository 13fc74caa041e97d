//! Shape ops: reshape, permute/transpose, slice along one axis, concat and split, each with
//! its backward. They only move data, so every output bit is an input bit (or `+0.0` for the
//! zero padding of [`slice_backward`]).
//!
//! No op accepts or produces an empty tensor.

use crate::cpu::Cpu;
use crate::error::{KernelError, Result};
use crate::ops::broadcast::{ELEMENTWISE_CHUNK, Walker};
use crate::tensor::{Tensor, numel};

/// The same data with another shape of the same element count. Errors:
/// [`KernelError::ShapeMismatch`], [`KernelError::Empty`].
pub fn reshape(x: &Tensor, shape: &[usize]) -> Result<Tensor> {
    x.require_nonempty("reshape")?;
    x.reshape(shape)
}

/// [`reshape`] of a tensor the caller no longer needs: its buffer is reused, not copied. The
/// same result and errors as [`reshape`].
pub fn reshape_owned(x: Tensor, shape: &[usize]) -> Result<Tensor> {
    x.require_nonempty("reshape")?;
    x.into_reshaped(shape)
}

/// Backward of [`reshape`]: `dy` reshaped to the input's shape `x_shape`.
pub fn reshape_backward(x_shape: &[usize], dy: &Tensor) -> Result<Tensor> {
    dy.require_nonempty("reshape_backward")?;
    dy.reshape(x_shape)
}

/// Checks that `perm` is a permutation of `0..rank`.
fn check_perm(op: &'static str, perm: &[usize], rank: usize) -> Result<()> {
    let mut seen = vec![false; rank];
    if perm.len() != rank {
        return Err(KernelError::InvalidArgument {
            op,
            detail: format!(
                "permutation {perm:?} has {} axes, the tensor has {rank}",
                perm.len()
            ),
        });
    }
    for &p in perm {
        if p >= rank || seen[p] {
            return Err(KernelError::InvalidArgument {
                op,
                detail: format!("{perm:?} is not a permutation of 0..{rank}"),
            });
        }
        seen[p] = true;
    }
    Ok(())
}

fn permute_impl(cx: &Cpu, op: &'static str, x: &Tensor, perm: &[usize]) -> Result<Tensor> {
    x.require_nonempty(op)?;
    check_perm(op, perm, x.rank())?;
    let xs = x.strides();
    let shape: Vec<usize> = perm.iter().map(|&p| x.shape()[p]).collect();
    let read: Vec<usize> = perm.iter().map(|&p| xs[p]).collect();
    let src = x.data();
    let r = shape.len();
    if r >= 2 && read[r - 1] != 1 && read[r - 2] == 1 {
        return Tensor::new(&shape, transpose_last_two(cx, src, &shape, &read));
    }
    let mut out = crate::buffers::for_overwrite(src.len());
    cx.for_each_chunk_mut(&mut out, ELEMENTWISE_CHUNK, |ci, chunk| {
        let mut w = Walker::new(&shape, [&read], ci * ELEMENTWISE_CHUNK);
        w.runs(chunk.len(), |pos, [o], [s], run| {
            let dst = &mut chunk[pos..pos + run];
            if s == 1 {
                // A contiguous run (the usual last axis): one copy.
                dst.copy_from_slice(&src[o..o + run]);
            } else {
                for (j, v) in dst.iter_mut().enumerate() {
                    *v = src[o + j * s];
                }
            }
        });
    });
    Tensor::new(&shape, out)
}

/// Tile edge of the blocked transpose path.
const TILE: usize = 32;

/// Flat offset of row-major index `i` of `shape` read with `read` strides.
fn offset_of(mut i: usize, shape: &[usize], read: &[usize]) -> usize {
    let mut off = 0usize;
    for d in (0..shape.len()).rev() {
        off += (i % shape[d]) * read[d];
        i /= shape[d];
    }
    off
}

/// Permutations whose last two output axes read the input with strides `(1, S)`: a batch of
/// 2-D transposes, copied in `TILE × TILE` tiles (same result as the plain walk).
fn transpose_last_two(cx: &Cpu, src: &[f32], shape: &[usize], read: &[usize]) -> Vec<f32> {
    let r = shape.len();
    let (ni, nj, s) = (shape[r - 2], shape[r - 1], read[r - 1]);
    let (outer_shape, outer_read) = (&shape[..r - 2], &read[..r - 2]);
    let mut out = crate::buffers::for_overwrite(src.len());
    let rows_per = (ELEMENTWISE_CHUNK / nj).max(TILE);
    cx.for_each_chunk_mut(&mut out, rows_per * nj, |ci, chunk| {
        let row0 = ci * rows_per;
        let row_end = row0 + chunk.len() / nj;
        let mut row = row0;
        while row < row_end {
            let (b, i0) = (row / ni, row % ni);
            let i1 = ni.min(i0 + (row_end - row));
            let base = offset_of(b, outer_shape, outer_read);
            for it in (i0..i1).step_by(TILE) {
                let ie = (it + TILE).min(i1);
                for jt in (0..nj).step_by(TILE) {
                    let je = (jt + TILE).min(nj);
                    for i in it..ie {
                        let dst = &mut chunk[(row - row0 + i - i0) * nj..][..nj];
                        for (j, d) in dst.iter_mut().enumerate().take(je).skip(jt) {
                            *d = src[base + i + j * s];
                        }
                    }
                }
            }
            row += i1 - i0;
        }
    });
    out
}

/// General axis permutation: `y.shape[i] = x.shape[perm[i]]` and
/// `y[i_0, …, i_{r−1}] = x[j]` with `j[perm[k]] = i_k`. Errors:
/// [`KernelError::InvalidArgument`] if `perm` is not a permutation of `0..rank`.
pub fn permute(cx: &Cpu, x: &Tensor, perm: &[usize]) -> Result<Tensor> {
    permute_impl(cx, "permute", x, perm)
}

/// The inverse permutation (`inv[perm[i]] = i`).
pub fn inverse_permutation(perm: &[usize]) -> Result<Vec<usize>> {
    check_perm("inverse_permutation", perm, perm.len())?;
    let mut inv = vec![0usize; perm.len()];
    for (i, &p) in perm.iter().enumerate() {
        inv[p] = i;
    }
    Ok(inv)
}

/// Backward of [`permute`]: `dy` permuted by the inverse permutation.
pub fn permute_backward(cx: &Cpu, perm: &[usize], dy: &Tensor) -> Result<Tensor> {
    let inv = inverse_permutation(perm)?;
    permute_impl(cx, "permute_backward", dy, &inv)
}

/// Swaps axes `a` and `b`. Errors: [`KernelError::BadAxis`].
pub fn transpose(cx: &Cpu, x: &Tensor, a: usize, b: usize) -> Result<Tensor> {
    let rank = x.rank();
    for axis in [a, b] {
        if axis >= rank {
            return Err(KernelError::BadAxis {
                op: "transpose",
                axis,
                rank,
            });
        }
    }
    let mut perm: Vec<usize> = (0..rank).collect();
    perm.swap(a, b);
    permute_impl(cx, "transpose", x, &perm)
}

/// Backward of [`transpose`]: the same swap applied to `dy`.
pub fn transpose_backward(cx: &Cpu, a: usize, b: usize, dy: &Tensor) -> Result<Tensor> {
    transpose(cx, dy, a, b)
}

/// `(outer, n, inner)` of a shape around `axis`: product of the axes before, the axis, after.
fn split_axis(op: &'static str, shape: &[usize], axis: usize) -> Result<(usize, usize, usize)> {
    if axis >= shape.len() {
        return Err(KernelError::BadAxis {
            op,
            axis,
            rank: shape.len(),
        });
    }
    Ok((
        numel(&shape[..axis]),
        shape[axis],
        numel(&shape[axis + 1..]),
    ))
}

/// Checks `start..end` against an axis of size `n`.
fn check_range(op: &'static str, start: usize, end: usize, n: usize) -> Result<()> {
    if start >= n {
        return Err(KernelError::IndexOutOfRange {
            op,
            index: start as u64,
            bound: n as u64,
        });
    }
    if end > n {
        return Err(KernelError::IndexOutOfRange {
            op,
            index: end as u64,
            bound: n as u64 + 1,
        });
    }
    if start >= end {
        return Err(KernelError::InvalidArgument {
            op,
            detail: format!("empty range {start}..{end}"),
        });
    }
    Ok(())
}

/// Copies a `[outer, n_src, inner]` block layout into `[outer, n_dst, inner]`: output row `k`
/// of each outer index comes from source row `map(k)`, or is `+0.0` when `map(k)` is `None`.
fn copy_rows(
    cx: &Cpu,
    src: &[f32],
    (outer, n_src, inner): (usize, usize, usize),
    n_dst: usize,
    map: impl Fn(usize) -> Option<usize> + Sync + Send,
) -> Vec<f32> {
    let mut out = vec![0.0f32; outer * n_dst * inner];
    // One task per outer index when the inner block is large, else chunks of whole outers.
    let per = (ELEMENTWISE_CHUNK / (n_dst * inner)).max(1) * n_dst * inner;
    cx.for_each_chunk_mut(&mut out, per, |ci, chunk| {
        let first = ci * per / (n_dst * inner);
        for (q, block) in chunk.chunks_mut(n_dst * inner).enumerate() {
            let o = first + q;
            for (k, row) in block.chunks_mut(inner).enumerate() {
                if let Some(s) = map(k) {
                    let base = (o * n_src + s) * inner;
                    row.copy_from_slice(&src[base..base + inner]);
                }
            }
        }
    });
    out
}

/// Elements `start..end` of `axis` (other axes whole). Errors: [`KernelError::BadAxis`];
/// [`KernelError::IndexOutOfRange`] when `start ≥ dim` (bound `dim`) or `end > dim` (bound
/// `dim + 1`); [`KernelError::InvalidArgument`] when `start ≥ end`.
pub fn slice(cx: &Cpu, x: &Tensor, axis: usize, start: usize, end: usize) -> Result<Tensor> {
    const OP: &str = "slice";
    x.require_nonempty(OP)?;
    let (outer, n, inner) = split_axis(OP, x.shape(), axis)?;
    check_range(OP, start, end, n)?;
    let out = copy_rows(cx, x.data(), (outer, n, inner), end - start, |k| {
        Some(start + k)
    });
    let mut shape = x.shape().to_vec();
    shape[axis] = end - start;
    Tensor::new(&shape, out)
}

/// Backward of [`slice()`]: a tensor of shape `x_shape`, `+0.0` everywhere except `start..end`
/// of `axis`, which holds `dy`.
pub fn slice_backward(
    cx: &Cpu,
    x_shape: &[usize],
    axis: usize,
    start: usize,
    end: usize,
    dy: &Tensor,
) -> Result<Tensor> {
    const OP: &str = "slice_backward";
    dy.require_nonempty(OP)?;
    let (outer, n, inner) = split_axis(OP, x_shape, axis)?;
    check_range(OP, start, end, n)?;
    let mut want = x_shape.to_vec();
    want[axis] = end - start;
    if dy.shape() != want.as_slice() {
        return Err(KernelError::ShapeMismatch {
            op: OP,
            detail: format!("dy has shape {:?}, the slice has {want:?}", dy.shape()),
        });
    }
    let out = copy_rows(cx, dy.data(), (outer, end - start, inner), n, |k| {
        (start..end).contains(&k).then(|| k - start)
    });
    Tensor::new(x_shape, out)
}

/// Concatenation along `axis`: all inputs have the same rank and the same sizes on every
/// other axis. Errors: [`KernelError::InvalidArgument`] for no inputs,
/// [`KernelError::BadAxis`], [`KernelError::ShapeMismatch`], [`KernelError::Empty`].
pub fn concat(cx: &Cpu, xs: &[&Tensor], axis: usize) -> Result<Tensor> {
    const OP: &str = "concat";
    let Some(first) = xs.first() else {
        return Err(KernelError::InvalidArgument {
            op: OP,
            detail: "no inputs".into(),
        });
    };
    let (outer, _, inner) = split_axis(OP, first.shape(), axis)?;
    let mut total = 0usize;
    for x in xs {
        x.require_nonempty(OP)?;
        let same = x.rank() == first.rank()
            && x.shape()
                .iter()
                .zip(first.shape())
                .enumerate()
                .all(|(i, (a, b))| i == axis || a == b);
        if !same {
            return Err(KernelError::ShapeMismatch {
                op: OP,
                detail: format!(
                    "{:?} and {:?} differ outside axis {axis}",
                    first.shape(),
                    x.shape()
                ),
            });
        }
        total += x.shape()[axis];
    }
    // Source of each output row k along the axis: (input, row within it).
    let mut sources = Vec::with_capacity(total);
    for (i, x) in xs.iter().enumerate() {
        sources.extend((0..x.shape()[axis]).map(|r| (i, r)));
    }
    let mut out = crate::buffers::for_overwrite(outer * total * inner);
    let block = total * inner;
    let per = (ELEMENTWISE_CHUNK / block).max(1) * block;
    cx.for_each_chunk_mut(&mut out, per, |ci, chunk| {
        let first_o = ci * per / block;
        for (q, blk) in chunk.chunks_mut(block).enumerate() {
            let o = first_o + q;
            for (row, &(i, r)) in blk.chunks_mut(inner).zip(&sources) {
                let n_i = xs[i].shape()[axis];
                let base = (o * n_i + r) * inner;
                row.copy_from_slice(&xs[i].data()[base..base + inner]);
            }
        }
    });
    let mut shape = first.shape().to_vec();
    shape[axis] = total;
    Tensor::new(&shape, out)
}

/// Splits `x` along `axis` into consecutive pieces of the given sizes (which must be positive
/// and sum to the axis size). Errors: [`KernelError::BadAxis`],
/// [`KernelError::ShapeMismatch`], [`KernelError::InvalidArgument`] for a zero size.
pub fn split(cx: &Cpu, x: &Tensor, axis: usize, sizes: &[usize]) -> Result<Vec<Tensor>> {
    const OP: &str = "split";
    x.require_nonempty(OP)?;
    let (_, n, _) = split_axis(OP, x.shape(), axis)?;
    if sizes.is_empty() || sizes.contains(&0) {
        return Err(KernelError::InvalidArgument {
            op: OP,
            detail: format!("sizes {sizes:?} must be non-empty and positive"),
        });
    }
    if sizes.iter().sum::<usize>() != n {
        return Err(KernelError::ShapeMismatch {
            op: OP,
            detail: format!(
                "sizes {sizes:?} do not add up to axis {axis} of {:?}",
                x.shape()
            ),
        });
    }
    let mut start = 0usize;
    let mut parts = Vec::with_capacity(sizes.len());
    for &s in sizes {
        parts.push(slice(cx, x, axis, start, start + s)?);
        start += s;
    }
    Ok(parts)
}

/// Backward of [`concat()`]: `dy` split along `axis` into pieces of the inputs' sizes on that
/// axis (`sizes[i] = xs[i].shape()[axis]`).
pub fn concat_backward(cx: &Cpu, axis: usize, sizes: &[usize], dy: &Tensor) -> Result<Vec<Tensor>> {
    split(cx, dy, axis, sizes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::SimdPolicy;
    use proptest::prelude::*;

    fn iota(shape: &[usize]) -> Tensor {
        Tensor::new(shape, (0..numel(shape)).map(|i| i as f32).collect()).unwrap()
    }

    fn contexts() -> Vec<Cpu> {
        vec![
            Cpu::scalar(),
            Cpu::single(),
            Cpu::new(2, SimdPolicy::Auto).unwrap(),
        ]
    }

    #[test]
    fn transpose_2d_and_permute_3d() {
        let cx = Cpu::scalar();
        let x = iota(&[2, 3]);
        let t = transpose(&cx, &x, 0, 1).unwrap();
        assert_eq!(t.shape(), &[3, 2]);
        assert_eq!(t.data(), &[0.0, 3.0, 1.0, 4.0, 2.0, 5.0]);
        let x = iota(&[2, 3, 4]);
        let p = permute(&cx, &x, &[2, 0, 1]).unwrap();
        assert_eq!(p.shape(), &[4, 2, 3]);
        // y[i,j,k] = x[j,k,i]
        for i in 0..4 {
            for j in 0..2 {
                for k in 0..3 {
                    assert_eq!(p.data()[(i * 2 + j) * 3 + k], x.data()[(j * 3 + k) * 4 + i]);
                }
            }
        }
        let back = permute_backward(&cx, &[2, 0, 1], &p).unwrap();
        assert_eq!(back, x);
    }

    #[test]
    fn errors_are_typed() {
        let cx = Cpu::scalar();
        let x = iota(&[2, 3]);
        assert!(matches!(
            permute(&cx, &x, &[0]),
            Err(KernelError::InvalidArgument { .. })
        ));
        assert!(matches!(
            permute(&cx, &x, &[1, 1]),
            Err(KernelError::InvalidArgument { .. })
        ));
        assert!(matches!(
            transpose(&cx, &x, 0, 2),
            Err(KernelError::BadAxis {
                axis: 2,
                rank: 2,
                ..
            })
        ));
        assert!(matches!(
            reshape(&x, &[4]),
            Err(KernelError::ShapeMismatch { .. })
        ));
        assert!(matches!(
            reshape(&Tensor::zeros(&[0]), &[0]),
            Err(KernelError::Empty { .. })
        ));
        assert!(matches!(
            slice(&cx, &x, 2, 0, 1),
            Err(KernelError::BadAxis { .. })
        ));
        assert!(matches!(
            slice(&cx, &x, 1, 3, 3),
            Err(KernelError::IndexOutOfRange {
                index: 3,
                bound: 3,
                ..
            })
        ));
        assert!(matches!(
            slice(&cx, &x, 1, 0, 4),
            Err(KernelError::IndexOutOfRange {
                index: 4,
                bound: 4,
                ..
            })
        ));
        assert!(matches!(
            slice(&cx, &x, 1, 2, 1),
            Err(KernelError::InvalidArgument { .. })
        ));
        assert!(matches!(
            slice_backward(&cx, &[2, 3], 1, 0, 2, &x),
            Err(KernelError::ShapeMismatch { .. })
        ));
        assert!(matches!(
            concat(&cx, &[], 0),
            Err(KernelError::InvalidArgument { .. })
        ));
        let y = iota(&[3, 3]);
        assert!(matches!(
            concat(&cx, &[&x, &y], 1),
            Err(KernelError::ShapeMismatch { .. })
        ));
        assert!(matches!(
            concat(&cx, &[&x, &iota(&[2, 3, 1])], 0),
            Err(KernelError::ShapeMismatch { .. })
        ));
        assert!(matches!(
            split(&cx, &x, 1, &[1, 1]),
            Err(KernelError::ShapeMismatch { .. })
        ));
        assert!(matches!(
            split(&cx, &x, 1, &[3, 0]),
            Err(KernelError::InvalidArgument { .. })
        ));
    }

    #[test]
    fn slice_concat_and_backward() {
        let cx = Cpu::scalar();
        let x = iota(&[2, 4, 3]);
        let s = slice(&cx, &x, 1, 1, 3).unwrap();
        assert_eq!(s.shape(), &[2, 2, 3]);
        assert_eq!(&s.data()[..6], &[3.0, 4.0, 5.0, 6.0, 7.0, 8.0]);
        assert_eq!(&s.data()[6..], &[15.0, 16.0, 17.0, 18.0, 19.0, 20.0]);
        let g = slice_backward(&cx, x.shape(), 1, 1, 3, &s).unwrap();
        for (i, &v) in g.data().iter().enumerate() {
            let k = (i / 3) % 4;
            let want = if (1..3).contains(&k) { i as f32 } else { 0.0 };
            assert_eq!(v.to_bits(), want.to_bits());
        }
        let a = slice(&cx, &x, 1, 0, 1).unwrap();
        let b = slice(&cx, &x, 1, 1, 4).unwrap();
        let c = concat(&cx, &[&a, &b], 1).unwrap();
        assert_eq!(c, x);
        let parts = concat_backward(&cx, 1, &[1, 3], &c).unwrap();
        assert_eq!(parts, vec![a, b]);
    }

    #[test]
    fn threads_give_the_same_bits() {
        let x = iota(&[37, 50, 29]);
        let mut hs = Vec::new();
        for cx in contexts() {
            let p = permute(&cx, &x, &[1, 2, 0]).unwrap();
            let s = slice(&cx, &x, 1, 3, 40).unwrap();
            let sb = slice_backward(&cx, x.shape(), 1, 3, 40, &s).unwrap();
            let c = concat(&cx, &[&x, &s], 1).unwrap();
            hs.push((p.hash(), s.hash(), sb.hash(), c.hash()));
        }
        assert!(hs.iter().all(|h| *h == hs[0]));
    }

    #[test]
    fn tiled_transpose_matches_plain_walk() {
        // [3, 70, 45] with the last two axes swapped takes the tiled path; [45, 3, 70] → the
        // 2-D transposes of several batch layouts; compare with an index-by-index reference.
        for (shape, perm) in [
            (vec![3, 70, 45], vec![0, 2, 1]),
            (vec![70, 45], vec![1, 0]),
            (vec![5, 3, 40], vec![1, 2, 0]),
        ] {
            let x = iota(&shape);
            for cx in contexts() {
                let y = permute(&cx, &x, &perm).unwrap();
                let st = x.strides();
                for (o, &v) in y.data().iter().enumerate() {
                    let j = offset_of(
                        o,
                        y.shape(),
                        &perm.iter().map(|&p| st[p]).collect::<Vec<_>>(),
                    );
                    assert_eq!(v, x.data()[j]);
                }
            }
        }
    }

    fn shape_and_perm() -> impl Strategy<Value = (Vec<usize>, Vec<usize>)> {
        prop::collection::vec(1usize..5, 0..5).prop_flat_map(|shape| {
            let r = shape.len();
            (
                Just(shape),
                Just((0..r).collect::<Vec<usize>>()).prop_shuffle(),
            )
        })
    }

    proptest! {
        #[test]
        fn permute_round_trips((shape, perm) in shape_and_perm()) {
            let cx = Cpu::new(2, SimdPolicy::Auto).unwrap();
            let x = iota(&shape);
            let y = permute(&cx, &x, &perm).unwrap();
            let st = x.strides();
            // Every output element is the input element at the permuted index.
            for (o, &v) in y.data().iter().enumerate() {
                let mut rest = o;
                let mut j = 0usize;
                for d in (0..perm.len()).rev() {
                    j += (rest % y.shape()[d]) * st[perm[d]];
                    rest /= y.shape()[d];
                }
                prop_assert_eq!(v, x.data()[j]);
            }
            prop_assert_eq!(permute_backward(&cx, &perm, &y).unwrap(), x);
        }

        #[test]
        fn slice_then_concat_round_trips(shape in prop::collection::vec(1usize..5, 1..4), axis_seed in 0usize..8, cut_seed in 0usize..8) {
            let cx = Cpu::scalar();
            let axis = axis_seed % shape.len();
            let n = shape[axis];
            let x = iota(&shape);
            if n >= 2 {
                let cut = 1 + cut_seed % (n - 1);
                let a = slice(&cx, &x, axis, 0, cut).unwrap();
                let b = slice(&cx, &x, axis, cut, n).unwrap();
                prop_assert_eq!(concat(&cx, &[&a, &b], axis).unwrap(), x.clone());
                let ga = slice_backward(&cx, &shape, axis, 0, cut, &a).unwrap();
                let gb = slice_backward(&cx, &shape, axis, cut, n, &b).unwrap();
                let sum: Vec<f32> = ga.data().iter().zip(gb.data()).map(|(p, q)| p + q).collect();
                prop_assert_eq!(sum.as_slice(), x.data());
            }
        }
    }
}
