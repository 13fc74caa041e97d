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
    // SAFETY: bounds checked above; the caller guarantees AVX2+FMA support.
    unsafe {
        if a.step == MR && a.offs == APanel::packed(a.data).offs {
            return tile_avx2_packed_raw(
                kc,
                a.data.as_ptr(),
                b.as_ptr(),
                c.as_mut_ptr(),
                ldc,
                accumulate,
            );
        }
        tile_avx2_rows_raw(
            kc,
            a.data.as_ptr(),
            &a.offs,
            a.step,
            b.as_ptr(),
            c.as_mut_ptr(),
            ldc,
            accumulate,
        )
    }
}

/// The packed-panel kernel: A read through one pointer (`a + p·MR + i`).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn tile_avx2_packed_raw(
    kc: usize,
    a: *const f32,
    b: *const f32,
    c: *mut f32,
    ldc: usize,
    accumulate: bool,
) {
    use std::arch::x86_64::*;
    let mut acc = [[_mm256_setzero_ps(); 2]; MR];
    let mut ap = a;
    let mut bp = b;
    for _ in 0..kc {
        // SAFETY: `ap`/`bp` stay within the `kc·MR` / `kc·NR` elements checked by the caller.
        unsafe {
            let b0 = _mm256_loadu_ps(bp);
            let b1 = _mm256_loadu_ps(bp.add(8));
            for (i, row) in acc.iter_mut().enumerate() {
                let av = _mm256_broadcast_ss(&*ap.add(i));
                row[0] = _mm256_fmadd_ps(av, b0, row[0]);
                row[1] = _mm256_fmadd_ps(av, b1, row[1]);
            }
            ap = ap.add(MR);
            bp = bp.add(NR);
        }
    }
    // SAFETY: the caller checked that the tile's rows lie in `c`.
    unsafe { store_tile(&acc, c, ldc, accumulate) }
}

/// The in-place kernel: A read through one pointer per row (`a + offs[i] + p·step`).
#[cfg(target_arch = "x86_64")]
#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "avx2,fma")]
unsafe fn tile_avx2_rows_raw(
    kc: usize,
    a: *const f32,
    offs: &[usize; MR],
    step: usize,
    b: *const f32,
    c: *mut f32,
    ldc: usize,
    accumulate: bool,
) {
    use std::arch::x86_64::*;
    let mut acc = [[_mm256_setzero_ps(); 2]; MR];
    // SAFETY: every `offs[i] + p·step` (p < kc) is inside A's panel (checked by the caller).
    let rows: [*const f32; MR] = std::array::from_fn(|i| unsafe { a.add(offs[i]) });
    let mut bp = b;
    let mut p_off = 0;
    for _ in 0..kc {
        // SAFETY: `rows[i] + p_off` and `bp` stay within the panels checked by the caller.
        unsafe {
            let b0 = _mm256_loadu_ps(bp);
            let b1 = _mm256_loadu_ps(bp.add(8));
            for (row, &r) in acc.iter_mut().zip(&rows) {
                let av = _mm256_broadcast_ss(&*r.add(p_off));
                row[0] = _mm256_fmadd_ps(av, b0, row[0]);
                row[1] = _mm256_fmadd_ps(av, b1, row[1]);
            }
            // Wrapping (no overflow check in builds with them): bounded by the caller.
            p_off = p_off.wrapping_add(step);
            bp = bp.add(NR);
        }
    }
    // SAFETY: the caller checked that the tile's rows lie in `c`.
    unsafe { store_tile(&acc, c, ldc, accumulate) }
}

/// Stores (or adds) the register tile to C's rows at `c + i·ldc`.
///
/// # Safety
/// AVX2 must be available and every row `c + i·ldc .. + NR` (`i < MR`) writable.
#[cfg(target_arch = "x86_64")]
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn store_tile(
    acc: &[[std::arch::x86_64::__m256; 2]; MR],
    c: *mut f32,
    ldc: usize,
    accumulate: bool,
) {
    use std::arch::x86_64::*;
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
