//! The slice-level GEMM core: BLIS-style blocking with `KC = GEMM_K_BLOCK`, packing, and
//! threading over column ranges or row blocks of C.
//!
//! Loop nest (outer to inner): column blocks of C (`col_block()` wide) → groups of K blocks
//! of exactly [`GEMM_K_BLOCK`] terms (the last may be shorter), ascending, whose packed B fits
//! `B_PACK_MAX` → pack the group's B blocks → the parts of C (one task each, spread over
//! threads) → row blocks of the part (`MC_MAX` rows) → the group's K blocks, ascending (so a
//! row block's C stays in L2 between them) → pack that A block → `NR`-wide column slivers →
//! `MR`-high row slivers → microkernel. Each microkernel call computes one tile's
//! block sums from `+0.0` and stores them (first K block) or adds them (later blocks) into C.
//! Only the K block boundaries are part of the numerics; the column-block width, the split
//! of C across threads, row-block sizes, tile shape and thread count change which core
//! computes an element, never its sequence of operations.

use std::cell::RefCell;
use std::ops::Range;
use std::sync::Mutex;

use super::GEMM_K_BLOCK;
use super::c_parts::CPart;
use super::matref::MatRef;
use super::micro::{self, APanel, MR, NR, tile_portable};
use super::pack::{AlignedBuf, pack_a, pack_b_slivers};
use crate::cpu::{Cpu, SimdLevel};
use crate::error::{KernelError, Result};

/// Columns of C per outer block (width of the packed B block): as wide as lets a packed K
/// block of B fill at most half a core's L2, so it stays there beside the A block while that
/// core's row tasks read it again and again, 512 to 1024. With 1 MiB of L2 (Zen 4), 2048
/// columns ran two threads ~5% slower than 512; with 2 MiB (Xeon), 1024 ran ~5% faster than
/// 512, as each A block is packed once per column block.
fn col_block() -> usize {
    let fits = crate::cpu::l2_bytes() / 2 / (GEMM_K_BLOCK * std::mem::size_of::<f32>());
    (fits / NR * NR).clamp(512, 1024)
}
/// Padding between packed B slivers (one cache line of f32): with slivers a multiple of
/// 4 KiB long, the kernel's two slivers and the rows that packing writes into every sliver
/// at once fell in the same L1 sets. Two threads ran ~1.5% faster with it at n = 1024 (one
/// thread: no change).
const SLIVER_PAD: usize = 16;
/// Largest row block of C packed at once (height of the packed A block); a multiple of `MR`.
const MC_MAX: usize = 96;
/// Fewest columns of C per thread for a column split (below it, threads split the rows). The
/// split packs A once per thread: at n = 512 on two threads (256 columns each) that cost
/// more than it saved; from n = 1024 it wins (2048: ~320 against ~270 GFLOP/s).
const COL_SPLIT_MIN: usize = 512;
/// Below this many multiply-adds (`m·n·k`) a call runs on the caller's thread only.
const PARALLEL_MIN_FMAS: usize = 1 << 18;
/// Longest rows (leading dimension) of a row-major A that the microkernel reads in place
/// instead of packing: short rows cost the scatter of packing most and lie in few pages;
/// rows of 4 KiB and more alias in the L1 sets and are packed.
const IN_PLACE_LDA_MAX: usize = 512;
/// Below this many packed B elements the B block is packed by one thread.
const PARALLEL_PACK_MIN: usize = 1 << 17;
/// Most packed B elements held at once (1 MiB, half this Xeon's L2): the K blocks of a column
/// block are packed in groups of at most this size, so that a group needs one parallel
/// region, not one per block, and a row block of C meets all of the group's K blocks while
/// it is in L2 (two threads at n = 1024: groups of two, 0.999–1.011 in six alternated sets).
const B_PACK_MAX: usize = 1 << 18;

thread_local! {
    static A_BUF: RefCell<AlignedBuf> = RefCell::new(AlignedBuf::default());
    static B_BUF: RefCell<AlignedBuf> = RefCell::new(AlignedBuf::default());
}

/// `C = A·B` for `A: m×k`, `B: k×n` (either may be a transposed view), `C: m×n` row-major,
/// every element in the canonical blocked-fma order (docs/numerics.md §6). C is overwritten.
/// Threads from `cx` split C's columns (wide products) or rows; `cx.simd()` picks the SIMD or
/// portable microkernels. All choices give identical bits.
pub fn sgemm(
    cx: &Cpu,
    m: usize,
    n: usize,
    k: usize,
    a: MatRef<'_>,
    b: MatRef<'_>,
    c: &mut [f32],
) -> Result<()> {
    check_dims(m, n, k, &a, &b, c.len())?;
    let serial = Cpu::scalar();
    let exec = if cx.threads() > 1 && m.saturating_mul(n).saturating_mul(k) >= PARALLEL_MIN_FMAS {
        cx
    } else {
        &serial
    };
    gemm_core(exec, cx.simd(), m, n, k, &a, &b, c);
    Ok(())
}

fn check_dims(
    m: usize,
    n: usize,
    k: usize,
    a: &MatRef<'_>,
    b: &MatRef<'_>,
    c_len: usize,
) -> Result<()> {
    if m == 0 || n == 0 || k == 0 {
        return Err(KernelError::Empty {
            op: "sgemm",
            shape: vec![m, n, k],
        });
    }
    if (a.rows(), a.cols()) != (m, k) || (b.rows(), b.cols()) != (k, n) {
        return Err(KernelError::ShapeMismatch {
            op: "sgemm",
            detail: format!(
                "m={m} n={n} k={k} needs A {m}×{k} and B {k}×{n}, got A {}×{} and B {}×{}",
                a.rows(),
                a.cols(),
                b.rows(),
                b.cols()
            ),
        });
    }
    if c_len != m * n {
        return Err(KernelError::ShapeMismatch {
            op: "sgemm",
            detail: format!("C has {c_len} elements, {m}×{n} needs {}", m * n),
        });
    }
    Ok(())
}

/// Splits `m` rows into tasks of whole `MR` tiles (sizes differ by at most one tile), at most
/// `MC_MAX` rows each, a multiple of `threads` tasks where there are enough tiles. Small tasks
/// balance well when a worker joins late (busy with a hash of the graph executor).
fn row_blocks(m: usize, threads: usize) -> Vec<(usize, usize)> {
    let tiles = m.div_ceil(MR);
    let mut tasks = tiles.div_ceil(MC_MAX / MR);
    if threads > 1 {
        tasks = tasks.div_ceil(threads) * threads;
    }
    let tasks = tasks.clamp(1, tiles);
    let (base, extra) = (tiles / tasks, tiles % tasks);
    let mut out = Vec::with_capacity(tasks);
    let mut row = 0;
    for t in 0..tasks {
        let rows = ((base + usize::from(t < extra)) * MR).min(m - row);
        out.push((row, rows));
        row += rows;
    }
    out
}

/// The blocked loop nest; inputs already validated. One thread runs it on the caller's thread
/// over all of C (no locks: most calls of a training step's attention are products of a few
/// hundred multiply-adds). More threads split C's columns where each thread gets at least
/// `COL_SPLIT_MIN` of them ([`col_ranges`]: every thread packs its own B block and runs
/// its K blocks with no barrier), else its rows ([`row_blocks`]: one packed B block per K
/// group, shared). Every thread reuses its own packing buffer (no allocation once grown).
#[allow(clippy::too_many_arguments)]
pub(crate) fn gemm_core(
    exec: &Cpu,
    simd: SimdLevel,
    m: usize,
    n: usize,
    k: usize,
    a: &MatRef<'_>,
    b: &MatRef<'_>,
    c: &mut [f32],
) {
    let dims = Dims { simd, k };
    let threads = exec.threads();
    if threads > 1 && n / threads >= COL_SPLIT_MIN {
        let ranges = col_ranges(n, threads);
        let parts: Vec<Mutex<CPart<'_>>> = CPart::col_ranges(c, m, n, &ranges)
            .into_iter()
            .map(Mutex::new)
            .collect();
        let serial = Cpu::scalar();
        exec.for_each_task(parts.len(), |t| {
            let mut part = parts[t].lock().unwrap_or_else(|e| e.into_inner());
            let cols = ranges[t].clone();
            with_b_buf(|buf| blocked(&serial, dims, a, b, cols, &mut Parts::One(&mut part), buf));
        });
        return;
    }
    with_b_buf(|buf| {
        // One thread (most calls of a training step's attention: products of a few thousand
        // multiply-adds) takes all of C with no allocation.
        let blocks = if threads == 1 {
            Vec::new()
        } else {
            row_blocks(m, threads)
        };
        let mut whole;
        let mut parts = if blocks.len() <= 1 {
            whole = CPart::whole(c, m, n);
            Parts::One(&mut whole)
        } else {
            let bands = CPart::row_bands(c, m, n, &blocks);
            Parts::Tasks(bands.into_iter().map(Mutex::new).collect())
        };
        blocked(exec, dims, a, b, 0..n, &mut parts, buf);
    });
}

/// Runs `f` with this thread's packing buffer, taken out for the call and put back after: a
/// thread waiting inside a parallel call may run another product meanwhile (stolen work),
/// which then finds no buffer and allocates its own instead of sharing this one.
fn with_b_buf<R>(f: impl FnOnce(&mut AlignedBuf) -> R) -> R {
    let mut buf = B_BUF.take();
    let r = f(&mut buf);
    B_BUF.set(buf);
    r
}

/// `threads` column ranges of `n`, each a whole number of `2·NR` pairs (the wide tile) but
/// the last, sizes differing by at most one pair.
fn col_ranges(n: usize, threads: usize) -> Vec<Range<usize>> {
    let pairs = n.div_ceil(2 * NR);
    let (base, extra) = (pairs / threads, pairs % threads);
    let mut out = Vec::with_capacity(threads);
    let mut j = 0;
    for t in 0..threads {
        let end = (j + (base + usize::from(t < extra)) * 2 * NR).min(n);
        if end > j {
            out.push(j..end);
        }
        j = end;
    }
    out
}

/// The parts of a product's shape and code path that every block needs.
#[derive(Clone, Copy)]
struct Dims {
    simd: SimdLevel,
    k: usize,
}

/// The parts of C that one pass over a K block writes: one, on the calling thread, or
/// several, one task each, each task locking only its own part.
enum Parts<'p, 'c> {
    One(&'p mut CPart<'c>),
    Tasks(Vec<Mutex<CPart<'c>>>),
}

impl Parts<'_, '_> {
    /// Runs `f` on every part, as tasks of `exec` when there are several.
    fn for_each(&mut self, exec: &Cpu, f: impl Fn(&mut CPart<'_>) + Sync + Send) {
        match self {
            Parts::One(part) => f(part),
            Parts::Tasks(parts) => exec.for_each_task(parts.len(), |t| {
                f(&mut parts[t].lock().unwrap_or_else(|e| e.into_inner()));
            }),
        }
    }
}

/// The loop nest of [`gemm_core`] over columns `cols` of C, writing `parts`. Each K-block
/// group is one packing pass (on `exec`'s threads when large) and one pass over the parts,
/// which run the group's K blocks in ascending order on their own rows (the canonical order
/// of every element). Every packed B sliver has the stride of a full K block (plus
/// `SLIVER_PAD`), so a group packs in uniform chunks.
fn blocked(
    exec: &Cpu,
    dims: Dims,
    a: &MatRef<'_>,
    b: &MatRef<'_>,
    cols: Range<usize>,
    parts: &mut Parts<'_, '_>,
    b_buf: &mut AlignedBuf,
) {
    let Dims { simd, k } = dims;
    let k_blocks = k.div_ceil(GEMM_K_BLOCK);
    let kc_of = |q: usize| GEMM_K_BLOCK.min(k - q * GEMM_K_BLOCK);
    let sliver_len = GEMM_K_BLOCK.min(k) * NR;
    let stride = sliver_len + SLIVER_PAD;
    let serial = Cpu::scalar();
    let nc_max = col_block();
    for jc in cols.clone().step_by(nc_max) {
        let nc = nc_max.min(cols.end - jc);
        let slivers = nc.div_ceil(NR);
        let block_len = slivers * stride;
        // (The slivers' padding is not counted: two 512-column K blocks make one group.)
        let group = (B_PACK_MAX / (slivers * sliver_len)).max(1);
        for g0 in (0..k_blocks).step_by(group) {
            let g_end = (g0 + group).min(k_blocks);
            let b_pack = b_buf.get((g_end - g0) * block_len);
            let packer = if b_pack.len() >= PARALLEL_PACK_MIN {
                exec
            } else {
                &serial
            };
            // One task per K block, or, for a lone K block packed in parallel, per share of
            // its slivers.
            let share = if g_end - g0 == 1 {
                slivers.div_ceil(packer.threads())
            } else {
                slivers
            };
            packer.for_each_chunk_mut(b_pack, share * stride, |ci, dst| {
                let (q, t0) = if share == slivers {
                    (g0 + ci, 0)
                } else {
                    (g0, ci * share)
                };
                let count = dst.len().div_ceil(stride);
                let p0 = q * GEMM_K_BLOCK;
                pack_b_slivers(dst, stride, b, p0, kc_of(q), jc, nc, (t0, count));
            });
            let b_pack: &[f32] = b_pack;
            let job = |q: usize| {
                let o = (q - g0) * block_len;
                BlockJob {
                    simd,
                    jc,
                    nc,
                    pc: q * GEMM_K_BLOCK,
                    kc: kc_of(q),
                    b_stride: stride,
                    accumulate: q > 0,
                    a,
                    b_pack: &b_pack[o..o + block_len],
                }
            };
            // Row blocks outside, the group's K blocks inside: a row block's C stays in L2
            // from one K block to the next instead of making a pass over all of C per block.
            parts.for_each(exec, |part| {
                for i0 in (0..part.rows()).step_by(MC_MAX) {
                    let mc = MC_MAX.min(part.rows() - i0);
                    for q in g0..g_end {
                        job(q).run_block(part, i0, mc);
                    }
                }
            });
        }
    }
}

/// One K block of one column block: everything a task needs.
struct BlockJob<'a, 'b> {
    simd: SimdLevel,
    jc: usize,
    nc: usize,
    pc: usize,
    kc: usize,
    /// Distance between packed B slivers (at least `kc·NR`).
    b_stride: usize,
    accumulate: bool,
    a: &'a MatRef<'b>,
    b_pack: &'a [f32],
}

impl BlockJob<'_, '_> {
    /// This block's columns of rows `i0 .. i0 + mc` (at most `MC_MAX`) of `part`. A row-major A
    /// (`col_stride == 1`) with rows up to `IN_PLACE_LDA_MAX` long is read in place by the
    /// microkernel (packing it was a scatter with stride `MR`, a quarter of the time of a
    /// K = 64 product); any other layout is packed first.
    fn run_block(&self, part: &mut CPart<'_>, i0: usize, mc: usize) {
        let row0 = part.row0() + i0;
        if self.a.col_stride() == 1 && self.a.row_stride() <= IN_PLACE_LDA_MAX {
            let (data, lda) = (self.a.data(), self.a.row_stride());
            self.tiles(part, i0, mc, |s, mr| {
                let start = (row0 + s * MR) * lda + self.pc;
                APanel::rows(&data[start..], lda, mr)
            });
        } else {
            A_BUF.with_borrow_mut(|buf| {
                let kc = self.kc;
                let a_pack = buf.get(mc.div_ceil(MR) * kc * MR);
                pack_a(self.simd, a_pack, self.a, row0, mc, self.pc, kc);
                let a_pack: &[f32] = a_pack;
                self.tiles(part, i0, mc, |s, _| {
                    APanel::packed(&a_pack[s * kc * MR..(s + 1) * kc * MR])
                });
            });
        }
    }

    /// Every tile of rows `i0 .. i0 + mc` of `part` in this block: `panel(s, mr)` gives row
    /// sliver `s`'s A panel (`mr` valid rows). Where [`crate::cpu::avx512_pays`], two
    /// adjacent full slivers go together: two full row slivers at a time as one 12 × 32
    /// AVX-512 tile (24 zmm accumulators), a last full row sliver as a 6 × 32 tile, a partial
    /// one as two edge tiles.
    #[inline(always)]
    fn tiles<'p>(
        &self,
        part: &mut CPart<'_>,
        i0: usize,
        mc: usize,
        panel: impl Fn(usize, usize) -> APanel<'p>,
    ) {
        let slivers = self.b_pack.len() / self.b_stride;
        let wide = self.wide();
        let mut t = 0;
        while t < slivers {
            let j = self.jc + t * NR;
            if wide && t + 1 < slivers && j + 2 * NR <= self.jc + self.nc {
                let b = &self.b_pack[t * self.b_stride..];
                let full = mc / MR;
                let mut s = 0;
                while s + 2 <= full {
                    let c = part.tile(i0 + s * MR, j, 2 * MR, 2 * NR);
                    self.wide_tile([panel(s, MR), panel(s + 1, MR)], b, c, part.ld());
                    s += 2;
                }
                if s < full {
                    let c = part.tile(i0 + s * MR, j, MR, 2 * NR);
                    self.wide_tile([panel(s, MR)], b, c, part.ld());
                    s += 1;
                }
                if s * MR < mc {
                    let mr = mc - s * MR;
                    self.wide_edge_tile(panel(s, mr), b, i0 + s * MR, mr, j, part);
                }
                t += 2;
            } else {
                for s in 0..mc.div_ceil(MR) {
                    let i = s * MR;
                    let mr = MR.min(mc - i);
                    self.sliver_tile(panel(s, mr), t, i0 + i, mr, part);
                }
                t += 1;
            }
        }
    }

    /// One tile: rows `i .. i + mr` of `part` against B sliver `t`. Full tiles with SIMD are
    /// computed in C; edge tiles and the portable kernel go through a scratch tile
    /// ([`BlockJob::put_scratch`]).
    #[inline(always)]
    fn sliver_tile(&self, a: APanel<'_>, t: usize, i: usize, mr: usize, part: &mut CPart<'_>) {
        let b_sl = &self.b_pack[t * self.b_stride..(t + 1) * self.b_stride];
        let j = self.jc + t * NR;
        let nr = NR.min(self.jc + self.nc - j);
        #[cfg(target_arch = "x86_64")]
        if self.simd == SimdLevel::Avx2Fma && mr == MR && nr == NR {
            let c = part.tile(i, j, MR, NR);
            // SAFETY: `SimdLevel::Avx2Fma` only comes from run-time detection of AVX2 and
            // FMA; `tile` checked that the tile lies inside `part`, which only this task
            // writes.
            unsafe { micro::tile_avx2(self.kc, a, b_sl, c, part.ld(), self.accumulate) };
            return;
        }
        let mut scratch = [0.0f32; MR * NR];
        match self.simd {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: as above; the scratch tile is this call's own.
            SimdLevel::Avx2Fma => unsafe {
                micro::tile_avx2(self.kc, a, b_sl, scratch.as_mut_ptr(), NR, false)
            },
            _ => tile_portable(self.kc, a, b_sl, &mut scratch, NR, false),
        }
        self.put_scratch(part, &scratch, NR, (i, j), (mr, nr));
    }

    /// Rows `0 .. mr`, columns `0 .. nr` of a scratch tile (rows `ld` apart) into `part` at
    /// `(i, j)`: stored, or added (`C + acc`, the kernel's own final operation).
    #[inline(always)]
    fn put_scratch(
        &self,
        part: &mut CPart<'_>,
        scratch: &[f32],
        ld: usize,
        (i, j): (usize, usize),
        (mr, nr): (usize, usize),
    ) {
        for r in 0..mr {
            let out = part.row_mut(i + r, j, nr);
            let src = &scratch[r * ld..r * ld + nr];
            if self.accumulate {
                out.iter_mut().zip(src).for_each(|(o, &v)| *o += v);
            } else {
                out.copy_from_slice(src);
            }
        }
    }

    /// Rows `i .. i + mr` (`mr < MR`, the last of a row block) against the sliver pair at `b`
    /// (columns `j .. j + 2·NR`): one `MR × 2·NR` AVX-512 tile into a scratch tile, whose first
    /// `mr` rows [`BlockJob::put_scratch`] writes; the panel's rows past `mr` feed only rows
    /// that are dropped. Only called where [`BlockJob::wide`] holds.
    #[inline(always)]
    fn wide_edge_tile(
        &self,
        a: APanel<'_>,
        b: &[f32],
        i: usize,
        mr: usize,
        j: usize,
        part: &mut CPart<'_>,
    ) {
        assert!(mr < MR, "invariant: an edge of fewer than MR rows");
        let mut scratch = [0.0f32; MR * 2 * NR];
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `wide()` held, so AVX-512F was detected at run time; the scratch tile is
        // this call's own, `MR` rows of `2·NR`.
        unsafe {
            micro::tile_avx512(
                self.kc,
                [a],
                b,
                self.b_stride,
                scratch.as_mut_ptr(),
                2 * NR,
                false,
            )
        }
        #[cfg(not(target_arch = "x86_64"))]
        unreachable!("invariant: wide tiles exist only on x86-64");
        self.put_scratch(part, &scratch, 2 * NR, (i, j), (mr, 2 * NR));
    }

    /// Whether this block's full tiles go two slivers at a time ([`micro::tile_avx512`]).
    fn wide(&self) -> bool {
        #[cfg(target_arch = "x86_64")]
        if self.simd == SimdLevel::Avx2Fma {
            return crate::cpu::avx512_pays();
        }
        false
    }

    /// The `P·MR × 2·NR` tile of panels `a` and B slivers `b`, `b + b_stride` at `c`
    /// (leading dimension `ldc`), from [`CPart::tile`]; only called where
    /// [`BlockJob::wide`] holds.
    #[inline(always)]
    fn wide_tile<const P: usize>(&self, a: [APanel<'_>; P], b: &[f32], c: *mut f32, ldc: usize) {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `wide()` held, so AVX-512F was detected at run time; `CPart::tile` checked
        // that the tile lies inside the task's part of C, which only this task writes.
        unsafe {
            micro::tile_avx512(self.kc, a, b, self.b_stride, c, ldc, self.accumulate)
        }
        #[cfg(not(target_arch = "x86_64"))]
        unreachable!("invariant: wide tiles exist only on x86-64")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_blocks_cover_rows_in_tiles() {
        for m in [1, 5, 6, 7, 95, 96, 97, 1023, 1024, 3000] {
            for threads in [1, 2, 3] {
                let blocks = row_blocks(m, threads);
                let mut next = 0;
                for &(row, rows) in &blocks {
                    assert_eq!(row, next);
                    assert!(rows > 0 && rows <= MC_MAX);
                    next += rows;
                }
                assert_eq!(next, m);
                let full = blocks.iter().filter(|b| b.1 % MR != 0).count();
                assert!(full <= 1, "only the last block may be a partial tile");
            }
        }
    }

    #[test]
    fn bad_dims_are_errors() {
        let cx = Cpu::single();
        let d = [1.0f32; 6];
        let a = MatRef::new(&d, 2, 3).unwrap();
        let mut c = [0.0f32; 4];
        assert!(matches!(
            sgemm(&cx, 2, 2, 3, a, a, &mut c),
            Err(KernelError::ShapeMismatch { .. })
        ));
        assert!(sgemm(&cx, 2, 2, 3, a, a.t(), &mut c).is_ok());
        assert!(matches!(
            sgemm(&cx, 2, 2, 3, a, a.t(), &mut c[..3]),
            Err(KernelError::ShapeMismatch { .. })
        ));
        let e = MatRef::new(&[], 0, 3).unwrap();
        assert!(matches!(
            sgemm(&cx, 0, 0, 3, e, e.t(), &mut []),
            Err(KernelError::Empty { .. })
        ));
    }
}
