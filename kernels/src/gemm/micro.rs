//! Microkernels: one `MR × NR` register tile of C over one K block of packed panels.
//!
//! Both kernels compute, for every tile element, `acc = +0.0`, then `acc = fma(a_ip, b_pj, acc)`
//! for `p = 0 … kc−1` ascending, then either store `C = acc` (first K block) or
//! `C = C + acc` (later blocks). The AVX2 kernel holds the tile in 12 ymm registers and
//! performs the same correctly rounded operations lane by lane, so both give the same bits.
//!
//! Packed layouts (see `pack.rs`): an A sliver holds `a[p·MR + i]`, a B sliver `b[p·NR + j]`.

/// Rows of the register tile.
pub(crate) const MR: usize = 6;
/// Columns of the register tile (two 8-lane vectors).
pub(crate) const NR: usize = 16;

/// Where a microkernel reads its `MR × kc` panel of A: element `(i, p)` is
/// `data[offs[i] + p·step]`. A packed sliver has `offs = [0, 1, …, MR−1]` and `step = MR`; a
/// row-major block read in place has `offs[i] = i·lda` and `step = 1` (rows past the matrix
/// edge repeat the last row's offset: they only feed tile rows that are never stored).
#[derive(Clone, Copy)]
pub(crate) struct APanel<'a> {
    pub(crate) data: &'a [f32],
    pub(crate) offs: [usize; MR],
    pub(crate) step: usize,
}

impl<'a> APanel<'a> {
    /// A packed sliver (`a[p·MR + i]`).
    pub(crate) fn packed(data: &'a [f32]) -> Self {
        Self {
            data,
            offs: std::array::from_fn(|i| i),
            step: MR,
        }
    }

    /// `mr ≤ MR` rows of a row-major matrix with leading dimension `lda`, starting at
    /// `data[0]` (row 0, the panel's first column).
    pub(crate) fn rows(data: &'a [f32], lda: usize, mr: usize) -> Self {
        Self {
            data,
            offs: std::array::from_fn(|i| i.min(mr.max(1) - 1) * lda),
            step: 1,
        }
    }

    /// Whether every read of a `kc`-deep tile lies inside `data`.
    fn covers(&self, kc: usize) -> bool {
        kc == 0
            || self
                .offs
                .iter()
                .all(|&o| o + (kc - 1) * self.step < self.data.len())
    }
}

/// Portable microkernel. `c` holds the tile's rows at offsets `i·ldc`, each `NR` long.
pub(crate) fn tile_portable(
    kc: usize,
    a: APanel<'_>,
    b: &[f32],
    c: &mut [f32],
    ldc: usize,
    accumulate: bool,
) {
    assert!(a.covers(kc), "invariant: the A panel covers the tile");
    let b = &b[..kc * NR];
    let mut acc = [[0.0f32; NR]; MR];
    for (p, bp) in b.chunks_exact(NR).enumerate() {
        for (row, &o) in acc.iter_mut().zip(&a.offs) {
            let av = a.data[o + p * a.step];
            for (x, &bv) in row.iter_mut().zip(bp) {
                *x = av.mul_add(bv, *x);
            }
        }
    }
    for (i, row) in acc.iter().enumerate() {
        let out = &mut c[i * ldc..i * ldc + NR];
        if accumulate {
            for (o, &v) in out.iter_mut().zip(row) {
                *o += v;
            }
        } else {
            out.copy_from_slice(row);
        }
    }
}

/// AVX2+FMA microkernel with the same contract as [`tile_portable`].
///
/// # Safety
/// The CPU must support AVX2 and FMA (callers hold a `SimdLevel::Avx2Fma` obtained from
/// run-time detection).
#[cfg(target_arch = "x86_64")]
pub(crate) unsafe fn tile_avx2(
    kc: usize,
    a: APanel<'_>,
    b: &[f32],
    c: &mut [f32],
    ldc: usize,
    accumulate: bool,
) {
    assert!(
        a.covers(kc) && b.len() >= kc * NR && ldc >= NR && c.len() >= (MR - 1) * ldc + NR,
        "invariant: microkernel operands cover the tile"
    );
    let (ap, bp, cp) = (a.data.as_ptr(), b.as_ptr(), c.as_mut_ptr());
    // SAFETY: bounds checked above; the caller guarantees AVX2+FMA support.
    unsafe {
        if a.step == MR && a.offs == APanel::packed(a.data).offs {
            tile_avx2_raw(kc, PackedPtr(ap), bp, cp, ldc, accumulate);
        } else {
            let rows = RowPtrs {
                rows: std::array::from_fn(|i| ap.add(a.offs[i])),
                off: 0,
                step: a.step,
            };
            tile_avx2_raw(kc, rows, bp, cp, ldc, accumulate);
        }
    }
}

/// How the AVX2 kernel walks its A panel: the address of row `i`'s element at the current
/// `p`, and the step to `p + 1`. Monomorphized, so each layout gets its own tight loop.
trait PanelWalk {
    /// The address of row `i < MR` at the current `p`.
    fn at(&self, i: usize) -> *const f32;
    /// Moves to the next `p`.
    fn advance(&mut self);
}

/// A packed panel: one pointer, `a + p·MR + i`.
struct PackedPtr(*const f32);

impl PanelWalk for PackedPtr {
    #[inline(always)]
    fn at(&self, i: usize) -> *const f32 {
        self.0.wrapping_add(i)
    }
    #[inline(always)]
    fn advance(&mut self) {
        self.0 = self.0.wrapping_add(MR);
    }
}

/// A panel read in place: one pointer per row, `rows[i] + p·step`.
struct RowPtrs {
    rows: [*const f32; MR],
    off: usize,
    step: usize,
}

impl PanelWalk for RowPtrs {
    #[inline(always)]
    fn at(&self, i: usize) -> *const f32 {
        self.rows[i].wrapping_add(self.off)
    }
    #[inline(always)]
    fn advance(&mut self) {
        self.off = self.off.wrapping_add(self.step);
    }
}

/// The AVX2 register tile over `kc` steps of `a`.
///
/// # Safety
/// AVX2 and FMA must be available; every address `a` yields for `p < kc`, the `kc·NR` elements
/// at `b` and the tile's rows at `c + i·ldc .. + NR` must be valid.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn tile_avx2_raw<W: PanelWalk>(
    kc: usize,
    mut a: W,
    b: *const f32,
    c: *mut f32,
    ldc: usize,
    accumulate: bool,
) {
    use std::arch::x86_64::*;
    let mut acc = [[_mm256_setzero_ps(); 2]; MR];
    let mut bp = b;
    for _ in 0..kc {
        // SAFETY: the panel addresses and `bp` stay within the operands (the caller's contract).
        unsafe {
            let b0 = _mm256_loadu_ps(bp);
            let b1 = _mm256_loadu_ps(bp.add(8));
            for (i, row) in acc.iter_mut().enumerate() {
                let av = _mm256_broadcast_ss(&*a.at(i));
                row[0] = _mm256_fmadd_ps(av, b0, row[0]);
                row[1] = _mm256_fmadd_ps(av, b1, row[1]);
            }
            a.advance();
            bp = bp.add(NR);
        }
    }
    for (i, row) in acc.iter().enumerate() {
        // SAFETY: row `i < MR` of the tile lies at `c + i·ldc .. + NR` (the caller's contract).
        unsafe {
            let out = c.add(i * ldc);
            if accumulate {
                _mm256_storeu_ps(out, _mm256_add_ps(_mm256_loadu_ps(out), row[0]));
                let out8 = out.add(8);
                _mm256_storeu_ps(out8, _mm256_add_ps(_mm256_loadu_ps(out8), row[1]));
            } else {
                _mm256_storeu_ps(out, row[0]);
                _mm256_storeu_ps(out.add(8), row[1]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn avx2_tile_matches_portable() {
        if crate::SimdLevel::detect() != crate::SimdLevel::Avx2Fma {
            return;
        }
        #[cfg(target_arch = "x86_64")]
        {
            let kc = 37;
            let a: Vec<f32> = (0..kc * MR)
                .map(|i| ((i * 7919) % 97) as f32 / 13.0 - 3.0)
                .collect();
            let b: Vec<f32> = (0..kc * NR)
                .map(|i| ((i * 104729) % 89) as f32 / 7.0 - 6.0)
                .collect();
            for accumulate in [false, true] {
                let mut c1: Vec<f32> = (0..MR * 20).map(|i| i as f32 * 0.1).collect();
                let mut c2 = c1.clone();
                tile_portable(kc, APanel::packed(&a), &b, &mut c1, 20, accumulate);
                // SAFETY: AVX2+FMA detected above.
                unsafe { tile_avx2(kc, APanel::packed(&a), &b, &mut c2, 20, accumulate) };
                // The same panel read in place from a row-major matrix (lda = kc + 3).
                let lda = kc + 3;
                let mut rows = vec![f32::NAN; MR * lda];
                for i in 0..MR {
                    for p in 0..kc {
                        rows[i * lda + p] = a[p * MR + i];
                    }
                }
                let mut c3: Vec<f32> = (0..MR * 20).map(|i| i as f32 * 0.1).collect();
                let mut c4 = c3.clone();
                tile_portable(
                    kc,
                    APanel::rows(&rows, lda, MR),
                    &b,
                    &mut c3,
                    20,
                    accumulate,
                );
                // SAFETY: AVX2+FMA detected above.
                unsafe {
                    tile_avx2(
                        kc,
                        APanel::rows(&rows, lda, MR),
                        &b,
                        &mut c4,
                        20,
                        accumulate,
                    )
                };
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&c1), bits(&c2));
                assert_eq!(bits(&c1), bits(&c3));
                assert_eq!(bits(&c1), bits(&c4));
            }
        }
    }
}
