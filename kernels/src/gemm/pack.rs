//! Packing of A and B blocks into microkernel panels, and an aligned scratch buffer.
//!
//! Packing only copies values (and writes `+0.0` padding past the matrix edge); it performs
//! no arithmetic. Padded rows/columns only feed tile entries that lie outside C, which the
//! driver never copies out, so padding cannot change any real output.

use super::matref::MatRef;
use super::micro::{MR, NR};

/// A growable f32 buffer whose handed-out slices start on a 64-byte boundary.
#[derive(Default)]
pub(crate) struct AlignedBuf {
    v: Vec<f32>,
}

impl AlignedBuf {
    /// A 64-byte-aligned slice of `len` elements (contents unspecified).
    pub(crate) fn get(&mut self, len: usize) -> &mut [f32] {
        const PAD: usize = 16;
        if self.v.len() < len + PAD {
            self.v = vec![0.0; len + PAD];
        }
        let addr = self.v.as_ptr() as usize;
        let off = ((64 - addr % 64) % 64) / std::mem::size_of::<f32>();
        &mut self.v[off..off + len]
    }
}

/// Packs rows `i0 .. i0+mc` and columns `p0 .. p0+kc` of `a` into `ceil(mc/MR)` slivers:
/// sliver `s` holds `a(i0 + s·MR + i, p0 + p)` at `dst[s·kc·MR + p·MR + i]`, zero past `mc`.
pub(crate) fn pack_a(dst: &mut [f32], a: &MatRef<'_>, i0: usize, mc: usize, p0: usize, kc: usize) {
    let data = a.data();
    let (rs, cs) = (a.row_stride(), a.col_stride());
    for (s, sliver) in dst
        .chunks_exact_mut(kc * MR)
        .take(mc.div_ceil(MR))
        .enumerate()
    {
        let r0 = i0 + s * MR;
        let valid = MR.min(i0 + mc - r0);
        if valid < MR {
            sliver.fill(0.0);
        }
        if cs == 1 {
            // Rows contiguous along k: read each row once, scatter with stride MR.
            for i in 0..valid {
                let start = (r0 + i) * rs + p0;
                let row = &data[start..start + kc];
                for (p, &v) in row.iter().enumerate() {
                    sliver[p * MR + i] = v;
                }
            }
        } else if rs == 1 {
            // Columns contiguous along i: copy `valid` consecutive values per k.
            for (p, out) in sliver.chunks_exact_mut(MR).enumerate() {
                let start = (p0 + p) * cs + r0;
                out[..valid].copy_from_slice(&data[start..start + valid]);
            }
        } else {
            for (p, out) in sliver.chunks_exact_mut(MR).enumerate() {
                for (i, o) in out.iter_mut().enumerate().take(valid) {
                    *o = a.at(r0 + i, p0 + p);
                }
            }
        }
    }
}

/// Packs sliver `t` of the block rows `p0 .. p0+kc`, columns `j0 .. j0+nc` of `b`:
/// `dst[p·NR + j] = b(p0 + p, j0 + t·NR + j)`, zero past `nc`. `dst` is `kc·NR` long.
pub(crate) fn pack_b_sliver(
    dst: &mut [f32],
    b: &MatRef<'_>,
    p0: usize,
    kc: usize,
    j0: usize,
    nc: usize,
    t: usize,
) {
    let data = b.data();
    let (rs, cs) = (b.row_stride(), b.col_stride());
    let c0 = j0 + t * NR;
    let valid = NR.min(j0 + nc - c0);
    if valid < NR {
        dst.fill(0.0);
    }
    if cs == 1 {
        for (p, out) in dst.chunks_exact_mut(NR).take(kc).enumerate() {
            let start = (p0 + p) * rs + c0;
            out[..valid].copy_from_slice(&data[start..start + valid]);
        }
    } else if rs == 1 {
        for j in 0..valid {
            let start = (c0 + j) * cs + p0;
            let col = &data[start..start + kc];
            for (p, &v) in col.iter().enumerate() {
                dst[p * NR + j] = v;
            }
        }
    } else {
        for (p, out) in dst.chunks_exact_mut(NR).take(kc).enumerate() {
            for (j, o) in out.iter_mut().enumerate().take(valid) {
                *o = b.at(p0 + p, c0 + j);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligned_slices_are_aligned() {
        let mut buf = AlignedBuf::default();
        for len in [1, 17, 1000, 5] {
            let s = buf.get(len);
            assert_eq!(s.len(), len);
            assert_eq!(s.as_ptr() as usize % 64, 0);
        }
    }

    #[test]
    fn pack_a_layout_and_padding() {
        let d: Vec<f32> = (0..8 * 5).map(|v| v as f32 + 1.0).collect();
        let m = MatRef::new(&d, 8, 5).unwrap();
        for view in [m, MatRef::new(&d, 5, 8).unwrap().t()] {
            let mut dst = vec![f32::NAN; 2 * 3 * MR];
            pack_a(&mut dst, &view, 1, 7, 2, 3);
            for s in 0..2 {
                for p in 0..3 {
                    for i in 0..MR {
                        let r = s * MR + i;
                        let want = if r < 7 { view.at(1 + r, 2 + p) } else { 0.0 };
                        assert_eq!(dst[s * 3 * MR + p * MR + i], want);
                    }
                }
            }
        }
    }

    #[test]
    fn pack_b_layout_and_padding() {
        let d: Vec<f32> = (0..4 * 20).map(|v| v as f32 + 1.0).collect();
        let m = MatRef::new(&d, 4, 20).unwrap();
        for view in [m, MatRef::new(&d, 20, 4).unwrap().t()] {
            let mut dst = vec![f32::NAN; 3 * NR];
            pack_b_sliver(&mut dst, &view, 1, 3, 2, 18, 1);
            for p in 0..3 {
                for j in 0..NR {
                    let c = NR + j;
                    let want = if c < 18 { view.at(1 + p, 2 + c) } else { 0.0 };
                    assert_eq!(dst[p * NR + j], want);
                }
            }
        }
    }
}
