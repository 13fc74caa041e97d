//! Axis reductions — `sum`, `mean`, `max`, `sum_squares` — over one axis or over all
//! elements, with their backward functions.
//!
//! The reduced axis is removed from the shape (no keepdim); reducing over all elements gives
//! a rank-0 tensor. Every output is computed by one thread, in the canonical order of
//! [`crate::reduce`] over the reduced axis in ascending index; threads split the outputs.
//! Exact rules: docs/numerics.md §5.

use crate::cpu::Cpu;
use crate::error::{KernelError, Result};
use crate::ops::broadcast::{ELEMENTWISE_CHUNK, Walker};
use crate::reduce::{REDUCE_BLOCK, canonical_dot, canonical_sum_slice};
use crate::tensor::{Tensor, numel};

/// What a reduction runs over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Over {
    /// One axis, removed from the result's shape.
    Axis(usize),
    /// Every element, in row-major order; the result has shape `[]`.
    All,
}

/// Column-wise canonical reduction: for every column `c` of `out`,
/// `out[c] = Σ_k row(k)[c]` in the canonical blocked order of [`crate::reduce::canonical_sum`]
/// (blocks of [`REDUCE_BLOCK`] rows from `+0.0`, block sums added in ascending order), with
/// `step(acc, v)` as the in-block accumulation (`acc + v` for a sum, `fma(v, v, acc)` for a
/// sum of squares). `n = 0` gives `+0.0`. Bit-identical to a per-column `canonical_sum`.
pub fn canonical_sum_columns<'a>(
    n: usize,
    out: &mut [f32],
    row: impl Fn(usize) -> &'a [f32],
    step: impl Fn(f32, f32) -> f32,
) {
    out.fill(0.0);
    let mut block = vec![0.0f32; out.len()];
    let mut start = 0usize;
    while start < n {
        let end = (start + REDUCE_BLOCK).min(n);
        block.fill(0.0);
        for k in start..end {
            for (acc, &v) in block.iter_mut().zip(row(k)) {
                *acc = step(*acc, v);
            }
        }
        if start == 0 {
            out.copy_from_slice(&block);
        } else {
            for (o, &b) in out.iter_mut().zip(&block) {
                *o += b;
            }
        }
        start = end;
    }
}

/// The reduced layout `[outer, n, inner]` and the result's shape.
struct Layout {
    outer: usize,
    n: usize,
    inner: usize,
    out_shape: Vec<usize>,
}

impl Layout {
    fn new(op: &'static str, shape: &[usize], over: Over) -> Result<Self> {
        if numel(shape) == 0 {
            return Err(KernelError::Empty {
                op,
                shape: shape.to_vec(),
            });
        }
        match over {
            Over::All => Ok(Self {
                outer: 1,
                n: numel(shape),
                inner: 1,
                out_shape: Vec::new(),
            }),
            Over::Axis(axis) if axis < shape.len() => {
                let mut out_shape = shape.to_vec();
                out_shape.remove(axis);
                Ok(Self {
                    outer: numel(&shape[..axis]),
                    n: shape[axis],
                    inner: numel(&shape[axis + 1..]),
                    out_shape,
                })
            }
            Over::Axis(axis) => Err(KernelError::BadAxis {
                op,
                axis,
                rank: shape.len(),
            }),
        }
    }

    /// Outputs per parallel chunk: about [`ELEMENTWISE_CHUNK`] input elements of work.
    fn chunk(&self) -> usize {
        (ELEMENTWISE_CHUNK / self.n).max(1)
    }

    /// Checks `dy` against the result's shape.
    fn check_dy(&self, op: &'static str, dy: &Tensor) -> Result<()> {
        if dy.shape() != self.out_shape.as_slice() {
            return Err(KernelError::ShapeMismatch {
                op,
                detail: format!(
                    "dy has shape {:?}, the reduction's output has {:?}",
                    dy.shape(),
                    self.out_shape
                ),
            });
        }
        Ok(())
    }

    /// Walks `dx` of shape `[outer, n, inner]` from `start`, giving per run the flat index of
    /// the matching `dy` element and the position `k` along the reduced axis.
    fn walk(&self, start: usize, len: usize, f: impl FnMut(usize, [usize; 2], [usize; 2], usize)) {
        let shape = [self.outer, self.n, self.inner];
        Walker::new(&shape, [&[self.inner, 0, 1], &[0, 1, 0]], start).runs(len, f);
    }
}

/// Sum-like reductions: `fma` selects a sum of squares instead of a sum.
fn sum_like(cx: &Cpu, op: &'static str, x: &Tensor, over: Over, squares: bool) -> Result<Tensor> {
    let l = Layout::new(op, x.shape(), over)?;
    let src = x.data();
    let mut out = vec![0.0f32; l.outer * l.inner];
    let chunk = l.chunk();
    cx.for_each_chunk_mut(&mut out, chunk, |ci, part| {
        let mut q = ci * chunk;
        let end = q + part.len();
        while q < end {
            let (o, c0) = (q / l.inner, q % l.inner);
            let c1 = l.inner.min(c0 + (end - q));
            let dst = &mut part[q - ci * chunk..q - ci * chunk + (c1 - c0)];
            if l.inner == 1 {
                let s = &src[o * l.n..(o + 1) * l.n];
                dst[0] = if squares {
                    canonical_dot(l.n, |i| s[i], |i| s[i])
                } else {
                    canonical_sum_slice(s)
                };
            } else {
                let row = |k: usize| {
                    let base = (o * l.n + k) * l.inner;
                    &src[base + c0..base + c1]
                };
                if squares {
                    canonical_sum_columns(l.n, dst, row, |acc, v| v.mul_add(v, acc));
                } else {
                    canonical_sum_columns(l.n, dst, row, |acc, v| acc + v);
                }
            }
            q += c1 - c0;
        }
    });
    Tensor::new(&l.out_shape, out)
}

/// Canonical sum over `over` (ascending index along the axis; row-major for [`Over::All`]).
/// Errors: [`KernelError::BadAxis`], [`KernelError::Empty`].
pub fn sum(cx: &Cpu, x: &Tensor, over: Over) -> Result<Tensor> {
    sum_like(cx, "sum", x, over, false)
}

/// Sum of squares: the canonical dot product of the reduced values with themselves
/// (`acc = fma(v, v, acc)` in each block).
pub fn sum_squares(cx: &Cpu, x: &Tensor, over: Over) -> Result<Tensor> {
    sum_like(cx, "sum_squares", x, over, true)
}

/// `n` as f32, the divisor of [`mean`]: exact for `n ≤ 2²⁴`, round-to-nearest-even above.
fn count_f32(n: usize) -> f32 {
    n as f32
}

/// Mean: the canonical [`sum`] divided once by `n` (the reduced count, converted to f32).
pub fn mean(cx: &Cpu, x: &Tensor, over: Over) -> Result<Tensor> {
    let l = Layout::new("mean", x.shape(), over)?;
    let s = sum_like(cx, "mean", x, over, false)?;
    let n = count_f32(l.n);
    crate::ops::elementwise::map_unary(cx, "mean", &s, |v| v / n)
}

/// True when `v` replaces the running maximum `m` in the ascending scan of [`max`].
#[inline]
fn max_replaces(m: f32, v: f32) -> bool {
    if m.is_nan() {
        false
    } else {
        v.is_nan()
            || v > m
            || (v == 0.0 && m == 0.0 && m.is_sign_negative() && v.is_sign_positive())
    }
}

/// The selected index along the reduced axis of every output (the scan of [`max`]).
fn argmax(cx: &Cpu, l: &Layout, src: &[f32]) -> Vec<usize> {
    let mut arg = vec![0usize; l.outer * l.inner];
    let chunk = l.chunk();
    cx.for_each_chunk_mut(&mut arg, chunk, |ci, part| {
        let first = ci * chunk;
        let mut q = first;
        let end = q + part.len();
        // Segments of adjacent columns of one outer index, scanned row by row.
        let mut m: Vec<f32> = Vec::new();
        while q < end {
            let (o, c0) = (q / l.inner, q % l.inner);
            let c1 = l.inner.min(c0 + (end - q));
            let row = |k: usize| {
                let base = (o * l.n + k) * l.inner;
                &src[base + c0..base + c1]
            };
            let best = &mut part[q - first..q - first + (c1 - c0)];
            m.clear();
            m.extend_from_slice(row(0));
            best.fill(0);
            for k in 1..l.n {
                for ((mc, bc), &v) in m.iter_mut().zip(best.iter_mut()).zip(row(k)) {
                    if max_replaces(*mc, v) {
                        *mc = v;
                        *bc = k;
                    }
                }
            }
            q = q + c1 - c0;
        }
    });
    arg
}

/// Maximum by an ascending scan from element 0: a later element replaces the running maximum
/// `m` when `m` is not NaN and (it is NaN, or it is greater, or it is `+0` and `m` is `−0`).
/// So the first NaN wins, `max(−0, +0) = +0`, and among equal values the first is selected.
pub fn max(cx: &Cpu, x: &Tensor, over: Over) -> Result<Tensor> {
    let l = Layout::new("max", x.shape(), over)?;
    let src = x.data();
    let arg = argmax(cx, &l, src);
    let out = arg
        .iter()
        .enumerate()
        .map(|(q, &k)| src[((q / l.inner) * l.n + k) * l.inner + q % l.inner])
        .collect();
    Tensor::new(&l.out_shape, out)
}

/// `dx[…, k, …] = f(flat index, dy[…], k)` over the input shape, in parallel.
fn expand(
    cx: &Cpu,
    l: &Layout,
    x_shape: &[usize],
    dy: &Tensor,
    f: impl Fn(usize, f32, usize) -> f32 + Sync + Send,
) -> Result<Tensor> {
    let g = dy.data();
    let mut dx = vec![0.0f32; numel(x_shape)];
    cx.for_each_chunk_mut(&mut dx, ELEMENTWISE_CHUNK, |ci, part| {
        let lo = ci * ELEMENTWISE_CHUNK;
        l.walk(lo, part.len(), |pos, [gi, k], [gs, ks], run| {
            for (j, d) in part[pos..pos + run].iter_mut().enumerate() {
                *d = f(lo + pos + j, g[gi + j * gs], k + j * ks);
            }
        });
    });
    Tensor::new(x_shape, dx)
}

/// Backward of [`sum`]: `dy` broadcast back over the reduced axis (bits unchanged).
pub fn sum_backward(cx: &Cpu, x_shape: &[usize], over: Over, dy: &Tensor) -> Result<Tensor> {
    let l = Layout::new("sum_backward", x_shape, over)?;
    l.check_dy("sum_backward", dy)?;
    expand(cx, &l, x_shape, dy, |_, g, _| g)
}

/// Backward of [`mean`]: `dx = dy / n` (one division by the same f32 `n` as the forward).
pub fn mean_backward(cx: &Cpu, x_shape: &[usize], over: Over, dy: &Tensor) -> Result<Tensor> {
    let l = Layout::new("mean_backward", x_shape, over)?;
    l.check_dy("mean_backward", dy)?;
    let n = count_f32(l.n);
    expand(cx, &l, x_shape, dy, |_, g, _| g / n)
}

/// Backward of [`max`]: `dy` to the index the forward selected (the first maximal one, see
/// [`max`]), `+0.0` to every other element.
pub fn max_backward(cx: &Cpu, x: &Tensor, over: Over, dy: &Tensor) -> Result<Tensor> {
    let l = Layout::new("max_backward", x.shape(), over)?;
    l.check_dy("max_backward", dy)?;
    let arg = argmax(cx, &l, x.data());
    let inner = l.inner;
    expand(cx, &l, x.shape(), dy, |i, g, k| {
        let q = (i / (l.n * inner)) * inner + i % inner;
        if arg[q] == k { g } else { 0.0 }
    })
}

/// Backward of [`sum_squares`]: `dx = (2·x) · dy` (`2·x` is exact barring overflow; one
/// rounding).
pub fn sum_squares_backward(cx: &Cpu, x: &Tensor, over: Over, dy: &Tensor) -> Result<Tensor> {
    let l = Layout::new("sum_squares_backward", x.shape(), over)?;
    l.check_dy("sum_squares_backward", dy)?;
    let xs = x.data();
    expand(cx, &l, x.shape(), dy, |i, g, _| (2.0 * xs[i]) * g)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::SimdPolicy;
    use crate::reduce::canonical_sum;

    fn contexts() -> Vec<Cpu> {
        vec![
            Cpu::scalar(),
            Cpu::single(),
            Cpu::new(2, SimdPolicy::Auto).unwrap(),
        ]
    }

    fn noisy(shape: &[usize]) -> Tensor {
        noisy_scaled(shape, 1e4)
    }

    fn noisy_scaled(shape: &[usize], big: f32) -> Tensor {
        let data = (0..numel(shape) as u64)
            .map(|i| {
                let v = (i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40) as f32 / 16_777_216.0;
                (v - 0.5) * if i % 13 == 0 { big } else { 3.0 }
            })
            .collect();
        Tensor::new(shape, data).unwrap()
    }

    #[test]
    fn column_sums_match_canonical_sum() {
        let (n, w) = (700usize, 5usize);
        let x = noisy(&[n, w]);
        let mut out = vec![1.0; w];
        canonical_sum_columns(n, &mut out, |k| &x.data()[k * w..(k + 1) * w], |a, v| a + v);
        for (c, o) in out.iter().enumerate() {
            assert_eq!(
                o.to_bits(),
                canonical_sum(n, |k| x.data()[k * w + c]).to_bits()
            );
        }
        canonical_sum_columns(0, &mut out, |_| &[], |a, v| a + v);
        assert!(out.iter().all(|v| v.to_bits() == 0));
    }

    #[test]
    fn values_match_references() {
        let cx = Cpu::scalar();
        let x = Tensor::new(&[2, 3], vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
        assert_eq!(
            sum(&cx, &x, Over::Axis(0)).unwrap().data(),
            &[5.0, 7.0, 9.0]
        );
        assert_eq!(sum(&cx, &x, Over::Axis(1)).unwrap().data(), &[6.0, 15.0]);
        let all = sum(&cx, &x, Over::All).unwrap();
        assert_eq!((all.shape(), all.data()), (&[][..], &[21.0][..]));
        assert_eq!(mean(&cx, &x, Over::Axis(1)).unwrap().data(), &[2.0, 5.0]);
        assert_eq!(
            max(&cx, &x, Over::Axis(0)).unwrap().data(),
            &[4.0, 5.0, 6.0]
        );
        assert_eq!(
            sum_squares(&cx, &x, Over::Axis(1)).unwrap().data(),
            &[14.0, 77.0]
        );
        assert_eq!(max(&cx, &x, Over::All).unwrap().data(), &[6.0]);
    }

    #[test]
    fn sums_follow_the_canonical_order_for_every_axis_and_context() {
        let x = noisy(&[3, 600, 7]);
        let d = x.data();
        for cx in contexts() {
            let s = sum(&cx, &x, Over::Axis(1)).unwrap();
            let q = sum_squares(&cx, &x, Over::Axis(1)).unwrap();
            for o in 0..3 {
                for c in 0..7 {
                    let at = |k: usize| d[(o * 600 + k) * 7 + c];
                    assert_eq!(
                        s.data()[o * 7 + c].to_bits(),
                        canonical_sum(600, at).to_bits()
                    );
                    assert_eq!(
                        q.data()[o * 7 + c].to_bits(),
                        canonical_dot(600, at, at).to_bits()
                    );
                }
            }
            let s = sum(&cx, &x, Over::Axis(2)).unwrap();
            assert_eq!(
                s.data()[5].to_bits(),
                canonical_sum(7, |k| d[5 * 7 + k]).to_bits()
            );
            let s = sum(&cx, &x, Over::Axis(0)).unwrap();
            assert_eq!(
                s.data()[11].to_bits(),
                canonical_sum(3, |k| d[k * 4200 + 11]).to_bits()
            );
            let all = sum(&cx, &x, Over::All).unwrap();
            assert_eq!(all.data()[0].to_bits(), canonical_sum_slice(d).to_bits());
        }
    }

    #[test]
    fn all_contexts_give_the_same_bits() {
        let x = noisy(&[64, 300, 40]);
        let mut hs = Vec::new();
        for cx in contexts() {
            let mut h = Vec::new();
            for over in [Over::Axis(0), Over::Axis(1), Over::Axis(2), Over::All] {
                let s = sum(&cx, &x, over).unwrap();
                let g = noisy(s.shape());
                h.push(s.hash());
                h.push(mean(&cx, &x, over).unwrap().hash());
                h.push(max(&cx, &x, over).unwrap().hash());
                h.push(sum_squares(&cx, &x, over).unwrap().hash());
                h.push(sum_backward(&cx, x.shape(), over, &g).unwrap().hash());
                h.push(mean_backward(&cx, x.shape(), over, &g).unwrap().hash());
                h.push(max_backward(&cx, &x, over, &g).unwrap().hash());
                h.push(sum_squares_backward(&cx, &x, over, &g).unwrap().hash());
            }
            hs.push(h);
        }
        assert!(hs.iter().all(|h| *h == hs[0]));
    }

    #[test]
    fn max_nan_and_signed_zero_rules() {
        let cx = Cpu::scalar();
        let t = |v: Vec<f32>| Tensor::new(&[v.len()], v).unwrap();
        let m = |v: Vec<f32>| max(&cx, &t(v), Over::All).unwrap().data()[0];
        assert_eq!(m(vec![-0.0, 0.0]).to_bits(), 0);
        assert_eq!(m(vec![0.0, -0.0]).to_bits(), 0);
        assert_eq!(m(vec![-0.0, -0.0]).to_bits(), (-0.0f32).to_bits());
        assert!(m(vec![1.0, f32::NAN, 3.0]).is_nan());
        assert!(m(vec![f32::NAN, 3.0]).is_nan());
        assert_eq!(m(vec![f32::NEG_INFINITY, -5.0]), -5.0);
        // First maximal index gets the gradient; the first NaN wins.
        let g = Tensor::scalar(2.0);
        let d = max_backward(&cx, &t(vec![1.0, 3.0, 3.0]), Over::All, &g).unwrap();
        assert_eq!(d.data(), &[0.0, 2.0, 0.0]);
        let d = max_backward(&cx, &t(vec![1.0, f32::NAN, f32::NAN]), Over::All, &g).unwrap();
        assert_eq!(d.data(), &[0.0, 2.0, 0.0]);
        let d = max_backward(&cx, &t(vec![-0.0, 0.0, 0.0]), Over::All, &g).unwrap();
        assert_eq!(d.data(), &[0.0, 2.0, 0.0]);
        // Column-wise scan (inner > 1): the same rules per column.
        let x = Tensor::new(
            &[3, 3],
            vec![1.0, 5.0, -0.0, 1.0, f32::NAN, 0.0, 0.0, 5.0, 0.0],
        )
        .unwrap();
        let m = max(&cx, &x, Over::Axis(0)).unwrap();
        assert_eq!(m.data()[0], 1.0);
        assert!(m.data()[1].is_nan());
        assert_eq!(m.data()[2].to_bits(), 0);
        let g = Tensor::new(&[3], vec![1.0, 2.0, 3.0]).unwrap();
        let d = max_backward(&cx, &x, Over::Axis(0), &g).unwrap();
        assert_eq!(d.data(), &[1.0, 0.0, 0.0, 0.0, 2.0, 3.0, 0.0, 0.0, 0.0]);
    }

    #[test]
    fn backward_values_and_finite_differences() {
        let cx = Cpu::scalar();
        let x = noisy_scaled(&[3, 4, 5], 3.0);
        for axis in 0..3 {
            let over = Over::Axis(axis);
            let g = noisy_scaled(sum(&cx, &x, over).unwrap().shape(), 3.0);
            let n = x.shape()[axis];
            let grads = [
                sum_backward(&cx, x.shape(), over, &g).unwrap(),
                mean_backward(&cx, x.shape(), over, &g).unwrap(),
                sum_squares_backward(&cx, &x, over, &g).unwrap(),
                max_backward(&cx, &x, over, &g).unwrap(),
            ];
            type F = fn(&Cpu, &Tensor, Over) -> Result<Tensor>;
            let fwds: [F; 4] = [sum, mean, sum_squares, max];
            for (f, dx) in fwds.iter().zip(&grads) {
                let loss = |x: &Tensor| -> f64 {
                    let y = f(&cx, x, over).unwrap();
                    y.data()
                        .iter()
                        .zip(g.data())
                        .map(|(&a, &b)| a as f64 * b as f64)
                        .sum()
                };
                for i in 0..x.numel() {
                    let h = 1e-2f32;
                    let mut xp = x.clone();
                    xp.data_mut()[i] += h;
                    let mut xm = x.clone();
                    xm.data_mut()[i] -= h;
                    let fd = (loss(&xp) - loss(&xm)) / (xp.data()[i] as f64 - xm.data()[i] as f64);
                    let an = dx.data()[i] as f64;
                    assert!(
                        (fd - an).abs() <= 2e-2 * fd.abs().max(1.0),
                        "axis {axis} i {i}: fd {fd} vs {an}"
                    );
                }
            }
            // Exact values: mean = dy / n, sum_squares = (2x)·dy.
            for i in 0..x.numel() {
                let s = x.strides();
                let q = (i / (s[axis] * n)) * s[axis] + i % s[axis];
                assert_eq!(
                    grads[1].data()[i].to_bits(),
                    (g.data()[q] / n as f32).to_bits()
                );
                assert_eq!(
                    grads[2].data()[i].to_bits(),
                    ((2.0 * x.data()[i]) * g.data()[q]).to_bits()
                );
            }
        }
    }

    #[test]
    fn errors_are_typed() {
        let cx = Cpu::scalar();
        let x = noisy(&[2, 3]);
        assert!(matches!(
            sum(&cx, &x, Over::Axis(2)),
            Err(KernelError::BadAxis {
                axis: 2,
                rank: 2,
                ..
            })
        ));
        assert!(matches!(
            max(&cx, &Tensor::zeros(&[2, 0]), Over::All),
            Err(KernelError::Empty { .. })
        ));
        assert!(matches!(
            sum_backward(&cx, &[2, 3], Over::Axis(0), &Tensor::zeros(&[2])),
            Err(KernelError::ShapeMismatch { .. })
        ));
        assert!(matches!(
            mean_backward(&cx, &[2, 3], Over::All, &Tensor::zeros(&[1])),
            Err(KernelError::ShapeMismatch { .. })
        ));
    }
}
