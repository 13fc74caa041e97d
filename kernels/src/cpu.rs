//! [`Cpu`]: the execution context of the CPU backend: thread count and instruction-set policy.
//!
//! Threads and SIMD never change results: ops parallelize over independent outputs only, and
//! every SIMD path computes the same sequence of correctly rounded operations as the scalar
//! path. The context exists so that tests can prove this by running every mode.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::error::{KernelError, Result};

/// Which instruction sets the kernels may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SimdPolicy {
    /// The best level this CPU supports, detected at run time.
    Auto,
    /// Portable scalar code only.
    Scalar,
}

/// The instruction-set level actually in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SimdLevel {
    /// Portable code.
    Scalar,
    /// x86-64 AVX2 with FMA3.
    Avx2Fma,
}

impl SimdLevel {
    /// The best level this machine supports.
    pub fn detect() -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                return SimdLevel::Avx2Fma;
            }
        }
        SimdLevel::Scalar
    }

    /// Short name for tables and logs.
    pub fn name(self) -> &'static str {
        match self {
            SimdLevel::Scalar => "scalar",
            SimdLevel::Avx2Fma => "avx2+fma",
        }
    }
}

/// Execution context passed to every op that may use threads or SIMD.
#[derive(Clone)]
pub struct Cpu {
    threads: usize,
    simd: SimdLevel,
    pool: Option<Arc<rayon::ThreadPool>>,
    /// Graph runs now on `pool` (all clones share it): see [`Cpu::enter_run`].
    runs: Arc<AtomicUsize>,
}

/// One graph run on a pool, counted while it lives ([`Cpu::enter_run`]).
pub(crate) struct PoolRun {
    runs: Arc<AtomicUsize>,
    sole: bool,
}

impl PoolRun {
    /// Whether no other run was on the pool when this one began: only such a run may keep
    /// the pool's workers spinning for itself. (Two runs that each did could deadlock: each
    /// spinner waits for the other run's main loop while sitting on top of it.)
    pub(crate) fn sole(&self) -> bool {
        self.sole
    }
}

impl Drop for PoolRun {
    fn drop(&mut self) {
        self.runs.fetch_sub(1, Ordering::AcqRel);
    }
}

impl std::fmt::Debug for Cpu {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cpu")
            .field("threads", &self.threads)
            .field("simd", &self.simd)
            .finish()
    }
}

impl Cpu {
    /// A context with `threads` worker threads (1 = run on the caller's thread).
    pub fn new(threads: usize, simd: SimdPolicy) -> Result<Self> {
        if threads == 0 {
            return Err(KernelError::InvalidArgument {
                op: "Cpu::new",
                detail: "thread count must be at least 1".into(),
            });
        }
        let simd = match simd {
            SimdPolicy::Auto => SimdLevel::detect(),
            SimdPolicy::Scalar => SimdLevel::Scalar,
        };
        let pool = if threads > 1 {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .thread_name(|i| format!("repops-{i}"))
                .build()
                .map_err(|e| KernelError::ThreadPool(e.to_string()))?;
            Some(Arc::new(pool))
        } else {
            None
        };
        Ok(Self {
            threads,
            simd,
            pool,
            runs: Arc::default(),
        })
    }

    /// One thread, best SIMD level. Cannot fail.
    pub fn single() -> Self {
        Self {
            threads: 1,
            simd: SimdLevel::detect(),
            pool: None,
            runs: Arc::default(),
        }
    }

    /// One thread, scalar code only. Cannot fail.
    pub fn scalar() -> Self {
        Self {
            threads: 1,
            simd: SimdLevel::Scalar,
            pool: None,
            runs: Arc::default(),
        }
    }

    /// Worker thread count.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// f32 lanes of the widest vectors this context's SIMD code uses: 1 (scalar), 8 (AVX2) or
    /// 16 (AVX-512, where it runs at full width). For peak-throughput estimates; results never
    /// depend on it.
    pub fn vector_lanes(&self) -> usize {
        match self.simd {
            SimdLevel::Scalar => 1,
            #[cfg(target_arch = "x86_64")]
            SimdLevel::Avx2Fma if avx512_pays() => 16,
            SimdLevel::Avx2Fma => 8,
        }
    }

    /// Instruction-set level in use.
    pub fn simd(&self) -> SimdLevel {
        self.simd
    }

    /// The worker pool, when there is more than one thread.
    pub(crate) fn pool(&self) -> Option<&rayon::ThreadPool> {
        self.pool.as_deref()
    }

    /// Counts a graph run on this context's pool until the returned guard drops.
    pub(crate) fn enter_run(&self) -> PoolRun {
        let before = self.runs.fetch_add(1, Ordering::AcqRel);
        PoolRun {
            runs: Arc::clone(&self.runs),
            sole: before == 0,
        }
    }

    /// Runs `f(i)` for every `i in 0..n`, spread over the worker threads. `f` must only write
    /// state that belongs to task `i`.
    pub fn for_each_task<F>(&self, n: usize, f: F)
    where
        F: Fn(usize) + Sync + Send,
    {
        match &self.pool {
            Some(pool) if n > 1 => pool.install(|| {
                use rayon::prelude::*;
                (0..n).into_par_iter().for_each(&f);
            }),
            _ => (0..n).for_each(f),
        }
    }

    /// Runs `a` and `b`, in parallel on the worker threads when there is a pool (each may use
    /// the pool too), else one after the other. For two independent computations of similar
    /// size, this keeps both cores busy without splitting either.
    pub fn join<A, B, RA, RB>(&self, a: A, b: B) -> (RA, RB)
    where
        A: FnOnce() -> RA + Send,
        B: FnOnce() -> RB + Send,
        RA: Send,
        RB: Send,
    {
        match &self.pool {
            Some(pool) => pool.install(|| rayon::join(a, b)),
            None => (a(), b()),
        }
    }

    /// Splits `out` into consecutive chunks of `chunk_len` elements (the last may be shorter) and
    /// runs `f(chunk_index, chunk)` for each, spread over the worker threads.
    pub fn for_each_chunk_mut<T, F>(&self, out: &mut [T], chunk_len: usize, f: F)
    where
        T: Send,
        F: Fn(usize, &mut [T]) + Sync + Send,
    {
        let chunk_len = chunk_len.max(1);
        match &self.pool {
            Some(pool) if out.len() > chunk_len => pool.install(|| {
                use rayon::prelude::*;
                out.par_chunks_mut(chunk_len)
                    .enumerate()
                    .for_each(|(i, c)| f(i, c));
            }),
            _ => out
                .chunks_mut(chunk_len)
                .enumerate()
                .for_each(|(i, c)| f(i, c)),
        }
    }
}

/// Whether this CPU runs AVX-512 code at full width, so that [`SimdLevel::Avx2Fma`] code is
/// compiled a second time with AVX-512 enabled (16 lanes) and the GEMM uses its AVX-512 tiles:
/// AVX-512F and AVX-512VL are present and 512-bit FMAs are not split into two 256-bit halves.
/// AMD's Zen 4 (family 0x19) splits them (there a 512-bit GEMM tile measured ~6% slower than
/// two AVX2 tiles), so it keeps the AVX2 code. Only speed depends on this: the vector width
/// never changes an element's operations, so the bits are those of the scalar path.
#[cfg(target_arch = "x86_64")]
pub(crate) fn avx512_pays() -> bool {
    static WIDE: std::sync::LazyLock<bool> = std::sync::LazyLock::new(|| {
        if !(std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512vl"))
        {
            return false;
        }
        let f = std::arch::x86_64::__cpuid(1).eax;
        let base = (f >> 8) & 0xF;
        let family = if base == 0xF {
            base + ((f >> 20) & 0xFF)
        } else {
            base
        };
        !(is_amd() && family == 0x19)
    });
    *WIDE
}

/// Whether the CPU's vendor string is "AuthenticAMD".
#[cfg(target_arch = "x86_64")]
fn is_amd() -> bool {
    let v = std::arch::x86_64::__cpuid(0);
    [v.ebx, v.edx, v.ecx] == [0x6874_7541, 0x6974_6E65, 0x444D_4163]
}

/// The size of one core's L2 cache in bytes, from CPUID's cache descriptors (leaf 4 on Intel,
/// 0x8000_001D on AMD; both share one layout), or 1 MiB where they are missing. Blocking
/// sizes follow it; they never change an element's operations, so only speed depends on it.
pub(crate) fn l2_bytes() -> usize {
    static L2: std::sync::LazyLock<usize> = std::sync::LazyLock::new(|| {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::x86_64::{__cpuid, __cpuid_count};
            let leaf = if is_amd() && __cpuid(0x8000_0000).eax >= 0x8000_001D {
                0x8000_001D
            } else {
                4
            };
            if leaf == 0x8000_001D || __cpuid(0).eax >= 4 {
                for sub in 0..16 {
                    let r = __cpuid_count(leaf, sub);
                    let (kind, level) = (r.eax & 0x1F, (r.eax >> 5) & 0x7);
                    if kind == 0 {
                        break;
                    }
                    // Data (1) or unified (3) level-2 cache.
                    if level == 2 && (kind == 1 || kind == 3) {
                        let ways = ((r.ebx >> 22) & 0x3FF) as usize + 1;
                        let parts = ((r.ebx >> 12) & 0x3FF) as usize + 1;
                        let line = (r.ebx & 0xFFF) as usize + 1;
                        let sets = r.ecx as usize + 1;
                        return ways * parts * line * sets;
                    }
                }
            }
        }
        1 << 20
    });
    *L2
}

/// Runs `f`, compiled with AVX2 and FMA enabled when `simd` is [`SimdLevel::Avx2Fma`] (and
/// with AVX-512 as well where [`avx512_pays`]).
///
/// Only the code generation changes: `f32::mul_add` becomes one `vfmadd` instruction instead
/// of a call to the portable `fmaf`, and loops may be vectorized across independent
/// operations. Every operation stays the same correctly rounded IEEE operation in the same
/// order, so results are bit-identical to the scalar path (tests compare both).
#[inline(always)]
pub(crate) fn with_simd<R>(simd: SimdLevel, f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    if simd == SimdLevel::Avx2Fma {
        #[target_feature(enable = "avx2,fma")]
        fn avx2_fma<R>(f: impl FnOnce() -> R) -> R {
            f()
        }
        #[target_feature(enable = "avx2,fma,avx512f,avx512vl")]
        fn avx512<R>(f: impl FnOnce() -> R) -> R {
            f()
        }
        // SAFETY: `SimdLevel::Avx2Fma` is only produced by `SimdLevel::detect`, after run-time
        // detection of both AVX2 and FMA on this CPU; `avx512_pays` detected AVX-512F and VL.
        return unsafe {
            if avx512_pays() {
                avx512(f)
            } else {
                avx2_fma(f)
            }
        };
    }
    let _ = simd;
    f()
}

/// Defines `fn NAME(simd: SimdLevel, ARGS)` that runs `BODY(ARGS)` compiled with AVX2 and FMA
/// (and AVX-512 where [`avx512_pays`]) when `simd` is [`SimdLevel::Avx2Fma`], else portable.
/// `BODY` must be an `#[inline(always)]` function (and call only such functions in its hot loop): unlike a closure given to
/// [`with_simd`], it is then certainly compiled inside the target-feature function, so
/// `mul_add` is one `vfmadd` and its loops vectorize. Same operations, same bits.
macro_rules! simd_fn {
    ($(#[$m:meta])* $vis:vis fn $name:ident($($a:ident: $t:ty),* $(,)?) => $body:path) => {
        $(#[$m])*
        $vis fn $name(simd: $crate::cpu::SimdLevel, $($a: $t),*) {
            #[cfg(target_arch = "x86_64")]
            if simd == $crate::cpu::SimdLevel::Avx2Fma {
                #[target_feature(enable = "avx2,fma")]
                fn avx2_fma($($a: $t),*) {
                    $body($($a),*)
                }
                #[target_feature(enable = "avx2,fma,avx512f,avx512vl")]
                fn avx512($($a: $t),*) {
                    $body($($a),*)
                }
                // SAFETY: `SimdLevel::Avx2Fma` is only produced by `SimdLevel::detect`, after
                // run-time detection of both AVX2 and FMA on this CPU; `avx512_pays` detected
                // AVX-512F and VL.
                return unsafe {
                    if $crate::cpu::avx512_pays() {
                        avx512($($a),*)
                    } else {
                        avx2_fma($($a),*)
                    }
                };
            }
            let _ = simd;
            $body($($a),*)
        }
    };
}
pub(crate) use simd_fn;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn l2_size_is_plausible() {
        let l2 = l2_bytes();
        eprintln!("L2: {} KiB", l2 >> 10);
        assert!((64 << 10..=256 << 20).contains(&l2), "L2 of {l2} bytes");
    }

    #[test]
    fn zero_threads_is_an_error() {
        assert!(matches!(
            Cpu::new(0, SimdPolicy::Auto),
            Err(KernelError::InvalidArgument { .. })
        ));
    }

    #[test]
    fn chunks_cover_everything_once() {
        let cx = Cpu::new(2, SimdPolicy::Scalar).unwrap();
        let mut v = vec![0u32; 1000];
        cx.for_each_chunk_mut(&mut v, 7, |i, c| {
            for (j, x) in c.iter_mut().enumerate() {
                *x += (i * 7 + j) as u32;
            }
        });
        assert!(v.iter().enumerate().all(|(i, &x)| x == i as u32));
    }

    /// Runs are counted across clones: only one that began alone is `sole`, and the count
    /// falls when a run ends.
    #[test]
    fn runs_on_a_shared_pool_are_counted() {
        let cx = Cpu::new(2, SimdPolicy::Auto).unwrap();
        let other = cx.clone();
        let first = cx.enter_run();
        let second = other.enter_run();
        assert!(first.sole() && !second.sole());
        drop(first);
        assert!(
            !other.enter_run().sole(),
            "the second run is still on the pool"
        );
        drop(second);
        assert!(cx.enter_run().sole());
        // A separate pool has its own count.
        let _busy = cx.enter_run();
        assert!(Cpu::new(2, SimdPolicy::Auto).unwrap().enter_run().sole());
    }
}
