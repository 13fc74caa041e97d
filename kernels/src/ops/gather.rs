//! Row gather (embedding lookup) and its backward (scatter-add in a canonical order).
//!
//! Forward: `y[t, :] = table[ids[t], :]` (a copy). Backward: for each table row `r`,
//! `dtable[r, d]` is the canonical sum ([`crate::reduce::canonical_sum`]) of `dy[t, d]` over
//! the positions `t` with `ids[t] == r`, in ascending `t`; rows that never occur are `+0.0`
//! (a row that occurs once gets `+0.0 + dy[t, d]`, so `−0.0` becomes `+0.0`). Threads split the
//! rows `r` (outputs), never the positions `t`. docs/numerics.md §7.

use crate::cpu::Cpu;
use crate::error::{KernelError, Result};
use crate::ops::broadcast::ELEMENTWISE_CHUNK;
use crate::ops::reduce_ops::canonical_sum_columns;
use crate::tensor::{Tensor, numel};

/// Checks every id against the vocabulary size; reports the first bad one (ascending `t`).
fn check_ids(op: &'static str, ids: &[u32], vocab: usize) -> Result<()> {
    if ids.is_empty() {
        return Err(KernelError::Empty { op, shape: vec![0] });
    }
    match ids.iter().find(|&&id| id as usize >= vocab) {
        Some(&id) => Err(KernelError::IndexOutOfRange {
            op,
            index: u64::from(id),
            bound: vocab as u64,
        }),
        None => Ok(()),
    }
}

/// `y[t, :] = table[ids[t], :]` for a table of shape `[V, D]`; `ids` has shape `ids_shape`
/// (row-major; `&[]` for a single id) and the result has shape `ids_shape ++ [D]`.
///
/// Errors: [`KernelError::ShapeMismatch`] if `table` is not rank 2;
/// [`KernelError::DataLength`] if `ids.len() != numel(ids_shape)`; [`KernelError::Empty`];
/// [`KernelError::IndexOutOfRange`] for the first id `≥ V`.
pub fn gather_rows(cx: &Cpu, table: &Tensor, ids: &[u32], ids_shape: &[usize]) -> Result<Tensor> {
    const OP: &str = "gather_rows";
    let &[vocab, dim] = table.shape() else {
        return Err(KernelError::ShapeMismatch {
            op: OP,
            detail: format!("table must be [V, D], got {:?}", table.shape()),
        });
    };
    table.require_nonempty(OP)?;
    if ids.len() != numel(ids_shape) {
        return Err(KernelError::DataLength {
            shape: ids_shape.to_vec(),
            expected: numel(ids_shape),
            len: ids.len(),
        });
    }
    check_ids(OP, ids, vocab)?;
    let src = table.data();
    let mut out = vec![0.0f32; ids.len() * dim];
    let per = (ELEMENTWISE_CHUNK / dim).max(1) * dim;
    cx.for_each_chunk_mut(&mut out, per, |ci, chunk| {
        let t0 = ci * per / dim;
        for (j, row) in chunk.chunks_mut(dim).enumerate() {
            let r = ids[t0 + j] as usize;
            row.copy_from_slice(&src[r * dim..(r + 1) * dim]);
        }
    });
    let mut shape = ids_shape.to_vec();
    shape.push(dim);
    Tensor::new(&shape, out)
}

/// Backward of [`gather_rows`]: `dtable` of shape `[vocab, D]` where row `r` is the canonical
/// sum over the positions `t` with `ids[t] == r`, ascending `t`, of `dy[t, :]` (`+0.0` for
/// rows that never occur). `dy` has shape `ids_shape ++ [D]` (any leading shape with
/// `len(ids)` elements).
///
/// Errors: [`KernelError::ShapeMismatch`] if `dy` is rank 0 or its leading axes do not hold
/// `len(ids)` elements; [`KernelError::Empty`]; [`KernelError::IndexOutOfRange`].
pub fn gather_rows_backward(cx: &Cpu, vocab: usize, ids: &[u32], dy: &Tensor) -> Result<Tensor> {
    const OP: &str = "gather_rows_backward";
    dy.require_nonempty(OP)?;
    let Some((&dim, lead)) = dy.shape().split_last() else {
        return Err(KernelError::ShapeMismatch {
            op: OP,
            detail: "dy must have a last axis D".into(),
        });
    };
    if numel(lead) != ids.len() {
        return Err(KernelError::ShapeMismatch {
            op: OP,
            detail: format!(
                "dy has shape {:?} but there are {} ids",
                dy.shape(),
                ids.len()
            ),
        });
    }
    if vocab == 0 {
        return Err(KernelError::Empty {
            op: OP,
            shape: vec![0, dim],
        });
    }
    check_ids(OP, ids, vocab)?;
    // Positions of each row in ascending t (a stable counting sort): row r owns
    // positions[start[r]..start[r + 1]].
    let mut start = vec![0usize; vocab + 1];
    for &id in ids {
        start[id as usize + 1] += 1;
    }
    for r in 0..vocab {
        start[r + 1] += start[r];
    }
    let mut fill = start.clone();
    let mut positions = vec![0usize; ids.len()];
    for (t, &id) in ids.iter().enumerate() {
        positions[fill[id as usize]] = t;
        fill[id as usize] += 1;
    }
    let g = dy.data();
    let mut out = vec![0.0f32; vocab * dim];
    let per = (ELEMENTWISE_CHUNK / dim).max(1) * dim;
    cx.for_each_chunk_mut(&mut out, per, |ci, chunk| {
        let r0 = ci * per / dim;
        for (j, row) in chunk.chunks_mut(dim).enumerate() {
            let r = r0 + j;
            let ts = &positions[start[r]..start[r + 1]];
            canonical_sum_columns(
                ts.len(),
                row,
                |k| &g[ts[k] * dim..(ts[k] + 1) * dim],
                |a, v| a + v,
            );
        }
    });
    Tensor::new(&[vocab, dim], out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::SimdPolicy;
    use crate::reduce::canonical_sum;

    fn table(v: usize, d: usize) -> Tensor {
        Tensor::new(&[v, d], (0..v * d).map(|i| i as f32 * 0.5 - 3.0).collect()).unwrap()
    }

    #[test]
    fn gathers_rows_with_shaped_ids() {
        let cx = Cpu::scalar();
        let t = table(5, 3);
        let y = gather_rows(&cx, &t, &[4, 0, 4, 2], &[2, 2]).unwrap();
        assert_eq!(y.shape(), &[2, 2, 3]);
        assert_eq!(&y.data()[..3], &t.data()[12..15]);
        assert_eq!(&y.data()[3..6], &t.data()[0..3]);
        let y = gather_rows(&cx, &t, &[1], &[]).unwrap();
        assert_eq!((y.shape(), y.data()), (&[3][..], &t.data()[3..6]));
    }

    #[test]
    fn errors_are_typed() {
        let cx = Cpu::scalar();
        let t = table(5, 3);
        assert!(matches!(
            gather_rows(&cx, &t, &[1, 5, 7], &[3]),
            Err(KernelError::IndexOutOfRange {
                index: 5,
                bound: 5,
                ..
            })
        ));
        assert!(matches!(
            gather_rows(&cx, &t, &[1, 2], &[3]),
            Err(KernelError::DataLength { .. })
        ));
        assert!(matches!(
            gather_rows(&cx, &t, &[], &[0]),
            Err(KernelError::Empty { .. })
        ));
        assert!(matches!(
            gather_rows(&cx, &Tensor::zeros(&[5]), &[1], &[1]),
            Err(KernelError::ShapeMismatch { .. })
        ));
        let dy = Tensor::zeros(&[2, 3]);
        assert!(matches!(
            gather_rows_backward(&cx, 5, &[1, 9], &dy),
            Err(KernelError::IndexOutOfRange { index: 9, .. })
        ));
        assert!(matches!(
            gather_rows_backward(&cx, 5, &[1], &dy),
            Err(KernelError::ShapeMismatch { .. })
        ));
        assert!(matches!(
            gather_rows_backward(&cx, 5, &[1], &Tensor::scalar(1.0)),
            Err(KernelError::ShapeMismatch { .. })
        ));
    }

    #[test]
    fn backward_is_the_canonical_sum_in_ascending_t() {
        // 1000 positions over 7 rows (row 6 unused): each row sums > 1 block of terms whose
        // value depends on the order.
        let (v, d, n) = (7usize, 4usize, 1000usize);
        let ids: Vec<u32> = (0..n).map(|t| ((t * 7919) % 6) as u32).collect();
        let dy = Tensor::new(
            &[n, d],
            (0..n * d)
                .map(|i| {
                    if i % 11 == 0 {
                        1e5
                    } else {
                        (i % 97) as f32 * 0.013
                    }
                })
                .collect(),
        )
        .unwrap();
        let mut hashes = Vec::new();
        for cx in [
            Cpu::scalar(),
            Cpu::single(),
            Cpu::new(2, SimdPolicy::Auto).unwrap(),
        ] {
            let g = gather_rows_backward(&cx, v, &ids, &dy).unwrap();
            for r in 0..v {
                let ts: Vec<usize> = (0..n).filter(|&t| ids[t] as usize == r).collect();
                for c in 0..d {
                    let want = canonical_sum(ts.len(), |k| dy.data()[ts[k] * d + c]);
                    assert_eq!(g.data()[r * d + c].to_bits(), want.to_bits());
                }
            }
            assert!(g.data()[6 * d..].iter().all(|x| x.to_bits() == 0));
            hashes.push(g.hash());
        }
        assert!(hashes.iter().all(|h| *h == hashes[0]));
    }

    #[test]
    fn backward_matches_finite_differences() {
        // L = Σ w·gather(table): dL/dtable[r] = Σ_{t: ids[t]=r} w[t] exactly (linear).
        let cx = Cpu::scalar();
        let t = table(4, 2);
        let ids = [3u32, 1, 3, 3, 0];
        let w = Tensor::new(&[5, 2], (0..10).map(|i| i as f32 * 0.25 - 1.0).collect()).unwrap();
        let g = gather_rows_backward(&cx, 4, &ids, &w).unwrap();
        for i in 0..t.numel() {
            let loss = |tb: &Tensor| -> f64 {
                let y = gather_rows(&cx, tb, &ids, &[5]).unwrap();
                y.data()
                    .iter()
                    .zip(w.data())
                    .map(|(&a, &b)| a as f64 * b as f64)
                    .sum()
            };
            let (mut tp, mut tm) = (t.clone(), t.clone());
            tp.data_mut()[i] += 0.5;
            tm.data_mut()[i] -= 0.5;
            let fd = (loss(&tp) - loss(&tm)) / 1.0;
            assert!(
                (fd - g.data()[i] as f64).abs() < 1e-9,
                "{i}: {fd} vs {}",
                g.data()[i]
            );
        }
    }
}
