//! NumPy broadcasting: shape inference, a row-major index walker, and the canonical reduction
//! of a broadcast gradient back to an input's shape.
//!
//! Rules (docs/numerics.md §7): shapes are aligned on the right; missing leading dimensions
//! count as 1; two dimensions are compatible when they are equal or one of them is 1; the
//! result takes the larger. Empty shapes (a zero dimension) are refused, as everywhere in
//! `ops`.
//!
//! [`reduce_to_shape`] sums a gradient over the broadcast positions: for each element of the
//! input, the canonical sum ([`crate::reduce::canonical_sum`]) of the output elements that
//! read it, taken in ascending row-major order of the output index. When no element is read
//! more than once (same number of elements) the gradient is copied unchanged.

use crate::cpu::Cpu;
use crate::error::{KernelError, Result};
use crate::ops::reduce_ops::canonical_sum_columns;
use crate::reduce::canonical_sum;
use crate::tensor::{Tensor, numel, strides};

/// Output elements per parallel chunk of elementwise and data-movement work. The chunking
/// never changes results; it only sets the granularity of threading.
pub const ELEMENTWISE_CHUNK: usize = 1 << 14;

/// The broadcast shape of `a` and `b` (NumPy rules, right-aligned).
///
/// Errors: [`KernelError::ShapeMismatch`] when a pair of aligned dimensions differ and neither
/// is 1; [`KernelError::Empty`] when either shape has a zero dimension.
pub fn broadcast_shapes(op: &'static str, a: &[usize], b: &[usize]) -> Result<Vec<usize>> {
    for s in [a, b] {
        if numel(s) == 0 {
            return Err(KernelError::Empty {
                op,
                shape: s.to_vec(),
            });
        }
    }
    let rank = a.len().max(b.len());
    let mut out = vec![0usize; rank];
    for (i, o) in out.iter_mut().enumerate() {
        let da = dim_right_aligned(a, rank, i);
        let db = dim_right_aligned(b, rank, i);
        *o = if da == db || db == 1 {
            da
        } else if da == 1 {
            db
        } else {
            return Err(KernelError::ShapeMismatch {
                op,
                detail: format!(
                    "{a:?} and {b:?} do not broadcast (axis {i} of the result: {da} vs {db})"
                ),
            });
        };
    }
    Ok(out)
}

/// Dimension `i` of `shape` padded on the left with ones to `rank`.
fn dim_right_aligned(shape: &[usize], rank: usize, i: usize) -> usize {
    let pad = rank - shape.len();
    if i < pad { 1 } else { shape[i - pad] }
}

/// Strides (in elements) with which an input of shape `input` is read while walking `out` in
/// row-major order: the input's own row-major stride on its real dimensions, 0 on broadcast
/// (size-1 or missing) dimensions. Errors with [`KernelError::ShapeMismatch`] unless `input`
/// broadcasts to exactly `out`.
pub fn broadcast_strides(op: &'static str, input: &[usize], out: &[usize]) -> Result<Vec<usize>> {
    if input.len() > out.len() {
        return Err(KernelError::ShapeMismatch {
            op,
            detail: format!("{input:?} has more axes than {out:?}"),
        });
    }
    let pad = out.len() - input.len();
    let own = strides(input);
    let mut st = vec![0usize; out.len()];
    for (i, s) in st.iter_mut().enumerate().skip(pad) {
        let d = input[i - pad];
        if d == out[i] && d != 1 {
            *s = own[i - pad];
        } else if d != 1 {
            return Err(KernelError::ShapeMismatch {
                op,
                detail: format!("{input:?} does not broadcast to {out:?}"),
            });
        }
    }
    Ok(st)
}

/// Maps a flat row-major index of the broadcast output to the flat index of one input.
#[derive(Debug, Clone)]
pub struct BroadcastMap {
    out_shape: Vec<usize>,
    in_strides: Vec<usize>,
}

impl BroadcastMap {
    /// The map for an input of shape `input` broadcast to `out` (see [`broadcast_strides`]).
    pub fn new(op: &'static str, input: &[usize], out: &[usize]) -> Result<Self> {
        Ok(Self {
            in_strides: broadcast_strides(op, input, out)?,
            out_shape: out.to_vec(),
        })
    }

    /// The input's flat index read by output element `out_index` (row-major).
    pub fn index(&self, out_index: usize) -> usize {
        let mut rest = out_index;
        let mut idx = 0usize;
        for d in (0..self.out_shape.len()).rev() {
            let n = self.out_shape[d];
            idx += (rest % n) * self.in_strides[d];
            rest /= n;
        }
        idx
    }
}

/// Row-major walk over a shape, tracking the flat offsets of `N` operands read with the given
/// strides (0 on broadcast axes). Used by every elementwise and data-movement kernel.
pub(crate) struct Walker<const N: usize> {
    shape: Vec<usize>,
    strides: [Vec<usize>; N],
    idx: Vec<usize>,
    off: [usize; N],
}

impl<const N: usize> Walker<N> {
    /// A walker over `shape` positioned at row-major index `start`. A rank-0 shape walks one
    /// element.
    pub(crate) fn new(shape: &[usize], strides: [&[usize]; N], start: usize) -> Self {
        let (shape, strides): (Vec<usize>, [Vec<usize>; N]) = if shape.is_empty() {
            (vec![1], std::array::from_fn(|_| vec![0]))
        } else {
            (shape.to_vec(), std::array::from_fn(|k| strides[k].to_vec()))
        };
        let mut idx = vec![0usize; shape.len()];
        let mut off = [0usize; N];
        let mut rest = start;
        for d in (0..shape.len()).rev() {
            idx[d] = rest % shape[d];
            rest /= shape[d];
            for k in 0..N {
                off[k] += idx[d] * strides[k][d];
            }
        }
        Self {
            shape,
            strides,
            idx,
            off,
        }
    }

    /// Strides of the operands along the last axis.
    pub(crate) fn last_strides(&self) -> [usize; N] {
        let last = self.shape.len() - 1;
        std::array::from_fn(|k| self.strides[k][last])
    }

    /// Elements left in the current run along the last axis.
    pub(crate) fn run_left(&self) -> usize {
        let last = self.shape.len() - 1;
        self.shape[last] - self.idx[last]
    }

    /// Advances by `n ≤ run_left()` elements along the last axis, carrying into outer axes.
    pub(crate) fn skip(&mut self, n: usize) {
        let last = self.shape.len() - 1;
        self.idx[last] += n;
        for k in 0..N {
            self.off[k] += n * self.strides[k][last];
        }
        let mut d = last;
        while self.idx[d] == self.shape[d] {
            self.idx[d] = 0;
            for k in 0..N {
                self.off[k] -= self.shape[d] * self.strides[k][d];
            }
            if d == 0 {
                return;
            }
            d -= 1;
            self.idx[d] += 1;
            for k in 0..N {
                self.off[k] += self.strides[k][d];
            }
        }
    }

    /// Calls `f(pos, offsets, last_strides, run)` for consecutive runs covering `len`
    /// elements from the current position; `pos` counts from 0 within this call.
    pub(crate) fn runs(
        &mut self,
        len: usize,
        mut f: impl FnMut(usize, [usize; N], [usize; N], usize),
    ) {
        let ls = self.last_strides();
        let mut pos = 0usize;
        while pos < len {
            let run = self.run_left().min(len - pos);
            f(pos, self.off, ls, run);
            pos += run;
            self.skip(run);
        }
    }
}

/// Sums `full` (a tensor of shape `out_shape`, e.g. a per-output gradient) back to
/// `target`, an input shape that broadcasts to `out_shape`.
///
/// Element `p` of the result is the canonical sum ([`canonical_sum`]) of `full[o]` over the
/// output indices `o` that read input element `p`, in ascending row-major order of `o`. If
/// `numel(target) == numel(out_shape)` (nothing is replicated), the data is copied unchanged
/// (no summation; `-0.0` stays `-0.0`). Parallel over chunks of the result.
pub fn reduce_to_shape(cx: &Cpu, full: &Tensor, target: &[usize]) -> Result<Tensor> {
    const OP: &str = "reduce_to_shape";
    full.require_nonempty(OP)?;
    let out_shape = full.shape();
    // Validates that `target` broadcasts to `out_shape`.
    broadcast_strides(OP, target, out_shape)?;
    if numel(target) == 0 {
        return Err(KernelError::Empty {
            op: OP,
            shape: target.to_vec(),
        });
    }
    if numel(target) == full.numel() {
        return full.reshape(target);
    }
    let rank = out_shape.len();
    let tp: Vec<usize> = (0..rank)
        .map(|i| dim_right_aligned(target, rank, i))
        .collect();
    let os = strides(out_shape);
    // Offsets of the reduced positions, row-major over the broadcast axes (ascending in `o`).
    let red_axes: Vec<usize> = (0..rank)
        .filter(|&d| tp[d] == 1 && out_shape[d] > 1)
        .collect();
    let red_shape: Vec<usize> = red_axes.iter().map(|&d| out_shape[d]).collect();
    let red_strides: Vec<usize> = red_axes.iter().map(|&d| os[d]).collect();
    let n_red = numel(&red_shape);
    let mut offs = Vec::with_capacity(n_red);
    Walker::new(&red_shape, [&red_strides], 0).runs(n_red, |_, [o], [s], run| {
        offs.extend((0..run).map(|j| o + j * s));
    });
    // Base offset of target element p: its coordinates times the output strides.
    let base_strides: Vec<usize> = (0..rank)
        .map(|d| if tp[d] == 1 { 0 } else { os[d] })
        .collect();
    let src = full.data();
    let mut out = vec![0.0f32; numel(target)];
    cx.for_each_chunk_mut(&mut out, ELEMENTWISE_CHUNK, |ci, chunk| {
        let mut w = Walker::new(&tp, [&base_strides], ci * ELEMENTWISE_CHUNK);
        w.runs(chunk.len(), |pos, [b], [s], run| {
            if s == 1 && run > 1 {
                // Adjacent target elements read adjacent output columns: accumulate the run
                // column-wise (bit-identical to one canonical sum per element).
                let row = |k: usize| &src[b + offs[k]..b + offs[k] + run];
                canonical_sum_columns(n_red, &mut chunk[pos..pos + run], row, |a, v| a + v);
            } else {
                for j in 0..run {
                    let base = b + j * s;
                    chunk[pos + j] = canonical_sum(n_red, |k| src[base + offs[k]]);
                }
            }
        });
    });
    Tensor::new(target, out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::SimdPolicy;

    #[test]
    fn shapes_broadcast_right_aligned() {
        assert_eq!(
            broadcast_shapes("t", &[2, 1, 3], &[4, 1]).unwrap(),
            vec![2, 4, 3]
        );
        assert_eq!(broadcast_shapes("t", &[], &[5]).unwrap(), vec![5]);
        assert_eq!(
            broadcast_shapes("t", &[], &[]).unwrap(),
            Vec::<usize>::new()
        );
        assert_eq!(broadcast_shapes("t", &[7, 1], &[7, 1]).unwrap(), vec![7, 1]);
    }

    #[test]
    fn shape_errors_are_typed() {
        assert!(matches!(
            broadcast_shapes("t", &[2, 3], &[4, 3]),
            Err(KernelError::ShapeMismatch { op: "t", .. })
        ));
        assert!(matches!(
            broadcast_shapes("t", &[0, 3], &[3]),
            Err(KernelError::Empty { .. })
        ));
        assert!(matches!(
            broadcast_strides("t", &[3, 2], &[3]),
            Err(KernelError::ShapeMismatch { .. })
        ));
        assert!(matches!(
            broadcast_strides("t", &[2], &[3]),
            Err(KernelError::ShapeMismatch { .. })
        ));
    }

    #[test]
    fn map_and_walker_agree() {
        let input = [3, 1, 4];
        let out = [2, 3, 5, 4];
        let m = BroadcastMap::new("t", &input, &out).unwrap();
        let st = broadcast_strides("t", &input, &out).unwrap();
        for start in [0usize, 3, 17, 60] {
            let mut w = Walker::new(&out, [&st], start);
            let mut got = Vec::new();
            w.runs(numel(&out) - start, |_, [o], [s], run| {
                got.extend((0..run).map(|j| o + j * s));
            });
            let want: Vec<usize> = (start..numel(&out)).map(|i| m.index(i)).collect();
            assert_eq!(got, want);
        }
        // Explicit check of one index: out (1,2,3,1) reads input (2,0,1) = 2*4 + 1.
        assert_eq!(m.index(60 + 2 * 20 + 3 * 4 + 1), 9);
    }

    #[test]
    fn reduce_to_shape_sums_in_ascending_output_order() {
        let cx = Cpu::scalar();
        // [2,3] -> [3]: column sums; -> [2,1]: row sums; -> [] : total.
        let full = Tensor::new(&[2, 3], vec![1.0, 2.0, 3.0, 10.0, 20.0, 30.0]).unwrap();
        assert_eq!(
            reduce_to_shape(&cx, &full, &[3]).unwrap().data(),
            &[11.0, 22.0, 33.0]
        );
        assert_eq!(
            reduce_to_shape(&cx, &full, &[2, 1]).unwrap().data(),
            &[6.0, 60.0]
        );
        assert_eq!(reduce_to_shape(&cx, &full, &[]).unwrap().data(), &[66.0]);
        // Same element count: copied, -0.0 kept.
        let z = Tensor::new(&[1, 2], vec![-0.0, 1.0]).unwrap();
        let r = reduce_to_shape(&cx, &z, &[2]).unwrap();
        assert_eq!(r.data()[0].to_bits(), (-0.0f32).to_bits());
        assert!(reduce_to_shape(&cx, &full, &[2]).is_err());
    }

    #[test]
    fn reduce_to_shape_matches_canonical_sum_order() {
        // 600 terms per output (more than one block) with values that round differently in
        // another order: compare with canonical_sum over the explicit list.
        let (a, b, c) = (3usize, 600usize, 5usize);
        let data: Vec<f32> = (0..a * b * c)
            .map(|i| {
                ((i * 2654435761usize) % 1000) as f32 * 0.37 + if i % 7 == 0 { 1e6 } else { 0.0 }
            })
            .collect();
        let full = Tensor::new(&[a, b, c], data.clone()).unwrap();
        let threads = Cpu::new(2, SimdPolicy::Auto).unwrap();
        for cx in [Cpu::scalar(), Cpu::single(), threads] {
            let r = reduce_to_shape(&cx, &full, &[1, c]).unwrap();
            for j in 0..c {
                let want = canonical_sum(a * b, |k| data[k * c + j]);
                assert_eq!(r.data()[j].to_bits(), want.to_bits());
            }
            let r = reduce_to_shape(&cx, &full, &[a, 1, 1]).unwrap();
            for i in 0..a {
                let want = canonical_sum(b * c, |k| data[i * b * c + k]);
                assert_eq!(r.data()[i].to_bits(), want.to_bits());
            }
        }
    }
}
