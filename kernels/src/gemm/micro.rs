//! Microkernels: one register tile of C over one K block of packed panels: `MR × NR` (portable,
//! AVX2) or `P·MR × 2·NR` (AVX-512, two adjacent B slivers and one or two A panels).
//!
//! Every kernel computes, for every tile element, `acc = +0.0`, then
//! `acc = fma(a_ip, b_pj, acc)` for `p = 0 … kc−1` ascending, then either stores `C = acc`
//! (first K block) or `C = C + acc` (later blocks). The AVX2 kernel holds the tile in 12 ymm
//! registers, the AVX-512 one in 12 or 24 zmm registers; both perform the same correctly rounded
//! operations lane by lane, so all give the same bits.
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
    data: &'a [f32],
    offs: [usize; MR],
    step: usize,
    /// Whether this is a packed sliver (so one pointer walks it); set by the constructors, as
    /// comparing `offs` on every tile cost a `memcmp` call per tile (~5% of a GEMM).
    packed: bool,
}

impl<'a> APanel<'a> {
    /// A packed sliver (`a[p·MR + i]`).
    pub(crate) fn packed(data: &'a [f32]) -> Self {
        Self {
            data,
            offs: std::array::from_fn(|i| i),
            step: MR,
            packed: true,
        }
    }

    /// `mr ≤ MR` rows of a row-major matrix with leading dimension `lda`, starting at
    /// `data[0]` (row 0, the panel's first column).
    pub(crate) fn rows(data: &'a [f32], lda: usize, mr: usize) -> Self {
        Self {
            data,
            offs: std::array::from_fn(|i| i.min(mr.max(1) - 1) * lda),
            step: 1,
            packed: false,
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

/// AVX2+FMA microkernel with the same operations as [`tile_portable`], writing the tile's
/// rows at `c + i·ldc .. + NR`.
///
/// # Safety
/// The CPU must support AVX2 and FMA (callers hold a `SimdLevel::Avx2Fma` obtained from
/// run-time detection); the tile's rows at `c` must be valid for reads and writes and
/// written by no one else during the call.
#[cfg(target_arch = "x86_64")]
pub(crate) unsafe fn tile_avx2(
    kc: usize,
    a: APanel<'_>,
    b: &[f32],
    c: *mut f32,
    ldc: usize,
    accumulate: bool,
) {
    assert!(
        a.covers(kc) && b.len() >= kc * NR && ldc >= NR,
        "invariant: microkernel operands cover the tile"
    );
    let (ap, bp) = (a.data.as_ptr(), b.as_ptr());
    // SAFETY: bounds checked above (`covers`: every row pointer stays in `a.data`); the caller
    // guarantees AVX2+FMA support and the tile's rows.
    unsafe {
        if a.packed {
            tile_avx2_raw(kc, PackedPtr(ap), bp, c, ldc, accumulate);
        } else {
            tile_avx2_raw(kc, RowPtrs::of(&a), bp, c, ldc, accumulate);
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

impl RowPtrs {
    /// The row pointers of `a` (any layout), at `p = 0`.
    fn of(a: &APanel<'_>) -> Self {
        let base = a.data.as_ptr();
        Self {
            rows: std::array::from_fn(|i| base.wrapping_add(a.offs[i])),
            off: 0,
            step: a.step,
        }
    }
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
    // All of C is read before any of it is written (see `tile_avx512_raw`: 4K aliasing).
    if accumulate {
        for (i, row) in acc.iter_mut().enumerate() {
            // SAFETY: row `i < MR` of the tile lies at `c + i·ldc .. + NR` (the caller's
            // contract).
            unsafe {
                let out = c.add(i * ldc);
                row[0] = _mm256_add_ps(_mm256_loadu_ps(out), row[0]);
                row[1] = _mm256_add_ps(_mm256_loadu_ps(out.add(8)), row[1]);
            }
        }
    }
    for (i, row) in acc.iter().enumerate() {
        // SAFETY: as above.
        unsafe {
            let out = c.add(i * ldc);
            _mm256_storeu_ps(out, row[0]);
            _mm256_storeu_ps(out.add(8), row[1]);
        }
    }
}

/// AVX-512 microkernel over two adjacent packed B slivers and `P` (1 or 2) A panels: the
/// `P·MR × 2·NR` tile whose rows `q·MR ..` are [`tile_avx2`]'s tiles of panel `a[q]` over `b`
/// (left half) and over `b + b_stride` (right half), with the same contract and the same
/// operations per element (one zmm register per sliver row), so the same bits. `c` holds the
/// tile's rows at offsets `i·ldc`, each `2·NR` long.
///
/// # Safety
/// The CPU must support AVX-512F ([`crate::cpu::avx512_pays`] or run-time detection); the
/// tile's rows at `c` must be valid for reads and writes and written by no one else during
/// the call.
#[cfg(target_arch = "x86_64")]
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn tile_avx512<const P: usize>(
    kc: usize,
    a: [APanel<'_>; P],
    b: &[f32],
    b_stride: usize,
    c: *mut f32,
    ldc: usize,
    accumulate: bool,
) {
    assert!(
        a.iter().all(|p| p.covers(kc))
            && b_stride >= kc * NR
            && b.len() >= b_stride + kc * NR
            && ldc >= 2 * NR,
        "invariant: microkernel operands cover the tile"
    );
    let bp = b.as_ptr();
    // SAFETY: A and B bounds checked above; the caller guarantees AVX-512F support and C.
    unsafe {
        let b1 = bp.add(b_stride);
        if a.iter().all(|p| p.packed) {
            let walks = a.map(|p| PackedPtr(p.data.as_ptr()));
            tile_avx512_raw(kc, walks, bp, b1, c, ldc, accumulate);
        } else {
            tile_avx512_raw(kc, a.map(|p| RowPtrs::of(&p)), bp, b1, c, ldc, accumulate);
        }
    }
}

/// The AVX-512 register tile (`2·P·MR` zmm) over `kc` steps of the panels `a` and the slivers
/// at `b0`, `b1`.
///
/// # Safety
/// AVX-512F must be available; every address the walks yield for `p < kc`, the `kc·NR`
/// elements at `b0` and at `b1` and the tile's rows at `c + i·ldc .. + 2·NR` must be valid.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
// Indexed loops: with iterators over the nested accumulator arrays, LLVM kept the 24
// accumulators of the 12 × 32 tile in memory (a store per FMA, half the speed).
#[allow(clippy::needless_range_loop)]
unsafe fn tile_avx512_raw<W: PanelWalk, const P: usize>(
    kc: usize,
    mut a: [W; P],
    b0: *const f32,
    b1: *const f32,
    c: *mut f32,
    ldc: usize,
    accumulate: bool,
) {
    use std::arch::x86_64::*;
    if accumulate {
        // The tile's C rows lie in L2; their loads after the loop would stall on it.
        for i in 0..P * MR {
            // SAFETY: prefetches of the tile's rows (valid by the caller's contract).
            unsafe {
                let row = c.add(i * ldc) as *const i8;
                _mm_prefetch::<_MM_HINT_T0>(row);
                _mm_prefetch::<_MM_HINT_T0>(row.add(64));
            }
        }
    }
    let mut acc = [[[_mm512_setzero_ps(); 2]; MR]; P];
    let mut off = 0;
    for _ in 0..kc {
        // SAFETY: the panel addresses and both slivers stay within the operands (the caller's
        // contract).
        unsafe {
            let x0 = _mm512_loadu_ps(b0.add(off));
            let x1 = _mm512_loadu_ps(b1.add(off));
            for q in 0..P {
                for i in 0..MR {
                    let av = _mm512_set1_ps(*a[q].at(i));
                    acc[q][i][0] = _mm512_fmadd_ps(av, x0, acc[q][i][0]);
                    acc[q][i][1] = _mm512_fmadd_ps(av, x1, acc[q][i][1]);
                }
                a[q].advance();
            }
            off += NR;
        }
    }
    // All of C is read (added into the accumulators) before any of it is written: with C's
    // rows a multiple of 4 KiB apart, a load after a store to another row matches the
    // store's low 12 address bits and waits for it ("4K aliasing"), ~4% of a GEMM.
    if accumulate {
        for q in 0..P {
            for i in 0..MR {
                // SAFETY: row `q·MR + i < P·MR` of the tile lies at `c + (q·MR + i)·ldc ..
                // + 2·NR` (the caller's contract).
                unsafe {
                    let out = c.add((q * MR + i) * ldc);
                    let [lo, hi] = &mut acc[q][i];
                    *lo = _mm512_add_ps(_mm512_loadu_ps(out), *lo);
                    *hi = _mm512_add_ps(_mm512_loadu_ps(out.add(NR)), *hi);
                }
            }
        }
    }
    for q in 0..P {
        for i in 0..MR {
            // SAFETY: as above.
            unsafe {
                let out = c.add((q * MR + i) * ldc);
                let [lo, hi] = acc[q][i];
                _mm512_storeu_ps(out, lo);
                _mm512_storeu_ps(out.add(NR), hi);
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
                unsafe { tile_avx2(kc, APanel::packed(&a), &b, c2.as_mut_ptr(), 20, accumulate) };
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
                        c4.as_mut_ptr(),
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

    #[test]
    fn avx512_tiles_are_portable_tiles() {
        #[cfg(target_arch = "x86_64")]
        {
            if !std::arch::is_x86_feature_detected!("avx512f") {
                return;
            }
            let (kc, stride, ldc) = (41, 41 * NR + 16, 2 * NR + 5);
            // Two packed panels (rows 0–5 and 6–11) and the same rows of a row-major matrix.
            let a: Vec<f32> = (0..2 * kc * MR)
                .map(|i| ((i * 7919) % 97) as f32 / 13.0 - 3.0)
                .collect();
            let b: Vec<f32> = (0..stride + kc * NR)
                .map(|i| ((i * 104729) % 89) as f32 / 7.0 - 6.0)
                .collect();
            let lda = kc + 3;
            let mut rows = vec![f32::NAN; 2 * MR * lda];
            for q in 0..2 {
                for i in 0..MR {
                    for p in 0..kc {
                        rows[(q * MR + i) * lda + p] = a[q * kc * MR + p * MR + i];
                    }
                }
            }
            let packed = |q: usize| APanel::packed(&a[q * kc * MR..(q + 1) * kc * MR]);
            let in_place = |q: usize| APanel::rows(&rows[q * MR * lda..], lda, MR);
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            for accumulate in [false, true] {
                let start: Vec<f32> = (0..2 * MR * ldc).map(|i| i as f32 * 0.1 - 3.0).collect();
                let mut want = start.clone();
                for q in 0..2 {
                    for half in 0..2 {
                        let c = &mut want[q * MR * ldc + half * NR..];
                        let b = &b[half * stride..];
                        tile_portable(kc, packed(q), b, c, ldc, accumulate);
                    }
                }
                let rows_of = |v: &[f32], n: usize| bits(&v[..n * MR * ldc]);
                for [p0, p1] in [[packed(0), packed(1)], [in_place(0), in_place(1)]] {
                    let mut one = start.clone();
                    let mut two = start.clone();
                    // SAFETY: AVX-512F detected above.
                    unsafe {
                        tile_avx512(kc, [p0], &b, stride, one.as_mut_ptr(), ldc, accumulate);
                        tile_avx512(kc, [p0, p1], &b, stride, two.as_mut_ptr(), ldc, accumulate);
                    }
                    assert_eq!(rows_of(&one, 1), rows_of(&want, 1));
                    assert_eq!(bits(&one[MR * ldc..]), bits(&start[MR * ldc..]));
                    assert_eq!(bits(&two), bits(&want));
                }
            }
        }
    }
}
