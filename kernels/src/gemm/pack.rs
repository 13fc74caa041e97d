//! Packing of A and B blocks into microkernel panels, and an aligned scratch buffer.
//!
//! Packing only copies values (and writes `+0.0` padding past the matrix edge); it performs
//! no arithmetic. Padded rows/columns only feed tile entries that lie outside C, which the
//! driver never copies out, so padding cannot change any real output.

use super::matref::MatRef;
use super::micro::{MR, NR};
use crate::cpu::SimdLevel;

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

/// Asks for the cache line holding `p` ahead of its use. A hint only: it never faults and
/// never changes a value. Packing A reads six rows at once, each in its own page, where the
/// hardware prefetcher starts late (asking for the next six rows ahead took A's packing from
/// ~4% to ~2.5% of a 1024³ product; the same for B's rows, read whole, cost more than it saved).
#[inline(always)]
fn prefetch(p: *const f32) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch of any address is allowed: it neither faults nor reads into a value.
    unsafe {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        _mm_prefetch::<_MM_HINT_T0>(p.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// Packs rows `i0 .. i0+mc` and columns `p0 .. p0+kc` of `a` into `ceil(mc/MR)` slivers:
/// sliver `s` holds `a(i0 + s·MR + i, p0 + p)` at `dst[s·kc·MR + p·MR + i]`, zero past `mc`.
/// With AVX2, full slivers of a row-major A are transposed in registers, 8 columns at a time.
pub(crate) fn pack_a(
    simd: SimdLevel,
    dst: &mut [f32],
    a: &MatRef<'_>,
    i0: usize,
    mc: usize,
    p0: usize,
    kc: usize,
) {
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
        if cs == 1 && valid == MR && simd == SimdLevel::Avx2Fma {
            let rows: [&[f32]; MR] = std::array::from_fn(|i| {
                let start = (r0 + i) * rs + p0;
                &data[start..start + kc]
            });
            // The next sliver's rows, asked for while this one is transposed.
            let next: [*const f32; MR] =
                std::array::from_fn(|i| data.as_ptr().wrapping_add((r0 + MR + i) * rs + p0));
            // SAFETY: `SimdLevel::Avx2Fma` only comes from run-time detection of AVX2.
            unsafe { transpose_rows(rows, next, sliver) };
        } else if cs == 1 {
            // Rows contiguous along k: read each row once, scatter with stride MR.
            for i in 0..valid {
                let start = (r0 + i) * rs + p0;
                let row = &data[start..start + kc];
                for (p, &v) in row.iter().enumerate() {
                    sliver[p * MR + i] = v;
                }
            }
        } else if rs == 1 {
            // Columns contiguous along i: `valid` consecutive values per k.
            copy_runs::<MR>(sliver, kc, valid, data, |p| (p0 + p) * cs + r0);
        } else {
            for (p, out) in sliver.chunks_exact_mut(MR).enumerate() {
                for (i, o) in out.iter_mut().enumerate().take(valid) {
                    *o = a.at(r0 + i, p0 + p);
                }
            }
        }
    }
}

/// `dst[p·W .. p·W + valid] = data[start(p) .. start(p) + valid]` for `p < runs`. Full runs
/// (`valid == W`) are fixed-size copies, inlined: a run-time length compiled to a `memmove`
/// call per run (24 bytes for A's slivers), which cost more than the copy (~2–3% of a
/// training step).
#[inline(always)]
fn copy_runs<const W: usize>(
    dst: &mut [f32],
    runs: usize,
    valid: usize,
    data: &[f32],
    start: impl Fn(usize) -> usize,
) {
    if valid == W {
        for (p, out) in dst.as_chunks_mut::<W>().0.iter_mut().take(runs).enumerate() {
            out.copy_from_slice(&data[start(p)..start(p) + W]);
        }
    } else {
        for (p, out) in dst.chunks_exact_mut(W).take(runs).enumerate() {
            out[..valid].copy_from_slice(&data[start(p)..start(p) + valid]);
        }
    }
}

/// `dst[p·MR + i] = rows[i][p]` for `p < kc` (every row `kc` long, `dst` `kc·MR` long),
/// prefetching `next[i] .. + kc` (any addresses) on the way. Compiled for AVX2 as a whole,
/// so that its 8-column transposes inline (a call per 8 columns cost ~1% of a product).
///
/// # Safety
/// AVX2 must be available (`SimdLevel::Avx2Fma`).
#[cfg_attr(target_arch = "x86_64", target_feature(enable = "avx2"))]
unsafe fn transpose_rows(rows: [&[f32]; MR], next: [*const f32; MR], dst: &mut [f32]) {
    let kc = dst.len() / MR;
    assert!(
        dst.len() == kc * MR && rows.iter().all(|r| r.len() == kc),
        "invariant: {MR} rows of kc and a kc·{MR} sliver"
    );
    // Each 8-column group stores 8 floats per column `p` at `p·MR`, the last two of which the
    // next column overwrites: groups stop where that would pass the end; the rest is scalar.
    #[cfg_attr(not(target_arch = "x86_64"), allow(unused_mut))]
    let mut p = 0;
    #[cfg(target_arch = "x86_64")]
    while p + 9 <= kc {
        // SAFETY: AVX2 is available (the caller's contract); reads are `rows[i][p..p+8]` and
        // writes `dst[p·MR .. (p+7)·MR + 8]`, inside both since `p + 9 ≤ kc`.
        unsafe {
            let src: [*const f32; MR] = std::array::from_fn(|i| rows[i].as_ptr().add(p));
            transpose_6x8_avx2(src, dst.as_mut_ptr().add(p * MR));
        }
        if p % 16 == 0 {
            next.iter().for_each(|r| prefetch(r.wrapping_add(p)));
        }
        p += 8;
    }
    for (q, out) in dst.chunks_exact_mut(MR).enumerate().skip(p) {
        for (o, row) in out.iter_mut().zip(&rows) {
            *o = row[q];
        }
    }
}

/// Eight columns of six rows into eight packed columns: column `c` (`src[i][c]`, `i < 6`)
/// goes to `dst[c·MR .. c·MR + 6]`, and two scratch floats after each (overwritten by the
/// next column, the last two left for the caller).
///
/// # Safety
/// AVX2; `src[i] .. + 8` readable, `dst .. + 7·MR + 8` writable.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn transpose_6x8_avx2(src: [*const f32; MR], dst: *mut f32) {
    use std::arch::x86_64::*;
    // SAFETY: the caller's contract.
    unsafe {
        let r: [__m256; MR] = std::array::from_fn(|i| _mm256_loadu_ps(src[i]));
        let z = _mm256_setzero_ps();
        // Pairs of rows interleaved: a0 b0 a1 b1 | a4 b4 a5 b5 and a2 b2 a3 b3 | a6 b6 a7 b7.
        let (ab_lo, ab_hi) = (
            _mm256_unpacklo_ps(r[0], r[1]),
            _mm256_unpackhi_ps(r[0], r[1]),
        );
        let (cd_lo, cd_hi) = (
            _mm256_unpacklo_ps(r[2], r[3]),
            _mm256_unpackhi_ps(r[2], r[3]),
        );
        let (ef_lo, ef_hi) = (
            _mm256_unpacklo_ps(r[4], r[5]),
            _mm256_unpackhi_ps(r[4], r[5]),
        );
        // Rows 0–3 of columns c and c+4 (lanes), and rows 4–5 followed by two zeros.
        let abcd = [
            _mm256_shuffle_ps::<0x44>(ab_lo, cd_lo),
            _mm256_shuffle_ps::<0xEE>(ab_lo, cd_lo),
            _mm256_shuffle_ps::<0x44>(ab_hi, cd_hi),
            _mm256_shuffle_ps::<0xEE>(ab_hi, cd_hi),
        ];
        let ef = [
            _mm256_shuffle_ps::<0x44>(ef_lo, z),
            _mm256_shuffle_ps::<0xEE>(ef_lo, z),
            _mm256_shuffle_ps::<0x44>(ef_hi, z),
            _mm256_shuffle_ps::<0xEE>(ef_hi, z),
        ];
        for c in 0..4 {
            _mm256_storeu_ps(
                dst.add(c * MR),
                _mm256_permute2f128_ps::<0x20>(abcd[c], ef[c]),
            );
        }
        for c in 0..4 {
            let col = _mm256_permute2f128_ps::<0x31>(abcd[c], ef[c]);
            _mm256_storeu_ps(dst.add((c + 4) * MR), col);
        }
    }
}

/// Packs slivers `t0 .. t0 + count` of the block rows `p0 .. p0+kc`, columns `j0 .. j0+nc`
/// of `b`, sliver `t0 + u` at `dst[u·stride ..]` as [`pack_b_sliver`] lays it out. A row-major
/// B is read row by row (one contiguous run of `count·NR` values per row, which the hardware
/// prefetcher follows) instead of sliver by sliver (one 64-byte run per row and sliver, a new
/// page per row); other layouts go sliver by sliver.
#[allow(clippy::too_many_arguments)]
pub(crate) fn pack_b_slivers(
    dst: &mut [f32],
    stride: usize,
    b: &MatRef<'_>,
    p0: usize,
    kc: usize,
    j0: usize,
    nc: usize,
    (t0, count): (usize, usize),
) {
    assert!(
        stride >= kc * NR && dst.len() >= (count.max(1) - 1) * stride + kc * NR,
        "invariant: {count} slivers of {kc}·{NR} at stride {stride} fit"
    );
    if b.col_stride() != 1 {
        for u in 0..count {
            let sliver = &mut dst[u * stride..u * stride + kc * NR];
            pack_b_sliver(sliver, b, p0, kc, j0, nc, t0 + u);
        }
        return;
    }
    let (data, rs) = (b.data(), b.row_stride());
    let c0 = j0 + t0 * NR;
    let width = (count * NR).min(j0 + nc - c0);
    let full = width / NR;
    let tail = width - full * NR;
    if tail > 0 {
        dst[full * stride..full * stride + kc * NR].fill(0.0);
    }
    for p in 0..kc {
        let row = &data[(p0 + p) * rs + c0..(p0 + p) * rs + c0 + width];
        let (runs, rest) = row.as_chunks::<NR>();
        for (u, run) in runs.iter().enumerate() {
            let at = u * stride + p * NR;
            dst[at..at + NR].copy_from_slice(run);
        }
        if tail > 0 {
            let at = full * stride + p * NR;
            dst[at..at + tail].copy_from_slice(rest);
        }
    }
}

/// Packs sliver `t` of the block rows `p0 .. p0+kc`, columns `j0 .. j0+nc` of `b`:
/// `dst[p·NR + j] = b(p0 + p, j0 + t·NR + j)`, zero past `nc`. `dst` is `kc·NR` long. Any
/// layout; [`pack_b_slivers`] packs a row-major B row by row itself and sends the others here.
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
    if rs == 1 {
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
            pack_a(SimdLevel::Scalar, &mut dst, &view, 1, 7, 2, 3);
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
    fn simd_pack_a_equals_the_scalar_one() {
        if SimdLevel::detect() != SimdLevel::Avx2Fma {
            return;
        }
        let (rows, cols) = (20, 300);
        let d: Vec<f32> = (0..rows * cols).map(|v| v as f32 * 0.5 - 7.0).collect();
        let a = MatRef::new(&d, rows, cols).unwrap();
        for (i0, mc) in [(0usize, 6usize), (1, 12), (2, 17), (0, 20)] {
            for (p0, kc) in [
                (0, 1),
                (3, 8),
                (0, 9),
                (5, 16),
                (1, 17),
                (0, 256),
                (44, 256),
            ] {
                let len = mc.div_ceil(MR) * kc * MR;
                let mut want = vec![f32::NAN; len + 8];
                let mut got = vec![f32::NAN; len + 8];
                pack_a(SimdLevel::Scalar, &mut want[..len], &a, i0, mc, p0, kc);
                pack_a(SimdLevel::Avx2Fma, &mut got[..len], &a, i0, mc, p0, kc);
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&got), bits(&want), "i0 {i0} mc {mc} p0 {p0} kc {kc}");
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

    #[test]
    fn pack_b_slivers_equals_packing_each_sliver() {
        let (rows, cols) = (9, 75);
        let d: Vec<f32> = (0..rows * cols).map(|v| v as f32 + 1.0).collect();
        let m = MatRef::new(&d, rows, cols).unwrap();
        let mt = MatRef::new(&d, cols, rows).unwrap().t();
        let (p0, kc, stride) = (2, 5, 6 * NR);
        // Column block 3 .. 73 (70 wide): slivers 0–3 full, sliver 4 six wide.
        let (j0, nc) = (3, 70);
        for view in [m, MatRef::new(&d[..rows * 73], rows, 73).unwrap(), mt] {
            if view.cols() < j0 + nc {
                continue;
            }
            for (t0, count) in [(0, 5), (1, 2), (3, 2), (4, 1)] {
                let mut got = vec![f32::NAN; count * stride];
                pack_b_slivers(&mut got, stride, &view, p0, kc, j0, nc, (t0, count));
                for u in 0..count {
                    let mut want = vec![f32::NAN; kc * NR];
                    pack_b_sliver(&mut want, &view, p0, kc, j0, nc, t0 + u);
                    let sliver = &got[u * stride..u * stride + kc * NR];
                    assert_eq!(
                        sliver.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                        want.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                        "slivers {t0}+{count}, sliver {u}"
                    );
                }
            }
        }
    }
}
