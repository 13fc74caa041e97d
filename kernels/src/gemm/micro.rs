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

/// Portable microkernel. `c` holds the tile's rows at offsets `i·ldc`, each `NR` long.
pub(crate) fn tile_portable(
    kc: usize,
    a: &[f32],
    b: &[f32],
    c: &mut [f32],
    ldc: usize,
    accumulate: bool,
) {
    let a = &a[..kc * MR];
    let b = &b[..kc * NR];
    let mut acc = [[0.0f32; NR]; MR];
    for (ap, bp) in a.chunks_exact(MR).zip(b.chunks_exact(NR)) {
        for (row, &av) in acc.iter_mut().zip(ap) {
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
    a: &[f32],
    b: &[f32],
    c: &mut [f32],
    ldc: usize,
    accumulate: bool,
) {
    assert!(
        a.len() >= kc * MR && b.len() >= kc * NR && ldc >= NR && c.len() >= (MR - 1) * ldc + NR,
        "invariant: microkernel operands cover the tile"
    );
    // SAFETY: lengths checked above; the caller guarantees AVX2+FMA support.
    unsafe { tile_avx2_raw(kc, a.as_ptr(), b.as_ptr(), c.as_mut_ptr(), ldc, accumulate) }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn tile_avx2_raw(
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
    for (i, row) in acc.iter().enumerate() {
        // SAFETY: row `i < MR` of the tile lies at `c + i·ldc .. + NR`, checked by the caller.
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
                tile_portable(kc, &a, &b, &mut c1, 20, accumulate);
                // SAFETY: AVX2+FMA detected above.
                unsafe { tile_avx2(kc, &a, &b, &mut c2, 20, accumulate) };
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&c1), bits(&c2));
            }
        }
    }
}
