//! GEMM benchmark: RepOps `sgemm` (canonical blocked-fma order) against `matrixmultiply::sgemm`
//! in the same run, 1 and 2 threads, square sizes 128 … 2048 and one transformer-shaped case.
//!
//! `matrixmultiply` (feature `threading`) reads its thread count once per process from
//! `MATMUL_NUM_THREADS`. To compare like with like, this binary re-runs itself once per thread
//! count with `MATMUL_NUM_THREADS` set, and each child benchmarks RepOps with the same count.
//! Setting `MATMUL_NUM_THREADS` yourself runs only that thread count.
//!
//! After the criterion output, each child prints a table: GFLOP/s of both (from the median
//! per-iteration time of all timed runs, warm-up included), the ratio RepOps / matrixmultiply
//! (of medians, and of the fastest runs, which is steadier on a busy machine), and RepOps's
//! fraction of the peak of the cores it used (`threads × FMA pipes × lanes × 2 × clock`).
//!
//! With the feature `tch` (the libtorch baseline, `scripts/bench-torch`), each case is also
//! timed with libtorch's `matmul` (MKL's sgemm on the PyPI build) in the same child, with
//! libtorch's intra-op threads set to the same count, and the table adds its GFLOP/s, the
//! ratio RepOps / libtorch, and that ratio from rounds that alternate the two back to back
//! (`support/libtorch.rs`, `alternated`), which a drifting clock does not skew.
//!
//! Run: `cargo bench --bench gemm` (optionally `-- 1024` to filter); with the baseline:
//! `scripts/bench-torch gemm`; CI: `-- --test`.
// Dev-dependencies are shared by every test, bench and example target; each uses some.
#![allow(unused_crate_dependencies)]

/// Large allocations start on a cache line, as in the `pinpoint` binary (and libtorch).
#[global_allocator]
static ALLOC: pinpoint_kernels::alloc::CacheAligned = pinpoint_kernels::alloc::CacheAligned;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::hint::black_box;
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput};
use pinpoint_kernels::gemm::{MatRef, sgemm};
use pinpoint_kernels::{Cpu, SimdPolicy};

#[cfg(feature = "tch")]
#[path = "support/libtorch.rs"]
mod libtorch;

#[cfg(feature = "openblas")]
#[path = "support/openblas.rs"]
mod openblas;

#[path = "support/timing.rs"]
mod timing;

/// FMA pipes per core assumed for the peak (AVX2- and AVX-512-class x86-64 cores have two; the
/// f32 lanes per FMA are those the kernels use, `Cpu::vector_lanes`).
const FMA_PIPES: f64 = 2.0;
/// Thread counts compared.
const THREADS: [usize; 2] = [1, 2];

/// `(name, m, k, n)`.
const CASES: [(&str, usize, usize, usize); 6] = [
    ("square 128", 128, 128, 128),
    ("square 256", 256, 256, 256),
    ("square 512", 512, 512, 512),
    ("square 1024", 1024, 1024, 1024),
    ("square 2048", 2048, 2048, 2048),
    ("tokens512 x768 x3072", 512, 768, 3072),
];

/// Per-iteration seconds of every timed run, by (case, implementation).
type Records = RefCell<BTreeMap<(usize, &'static str), Vec<f64>>>;

fn main() -> ExitCode {
    // As the `pinpoint` binary does: freed buffers stay in the process (both libraries gain).
    pinpoint_train::memory::retain_freed_memory();
    let Some(threads) = std::env::var("MATMUL_NUM_THREADS").ok() else {
        return run_children();
    };
    let Ok(threads) = threads.trim().parse::<usize>() else {
        eprintln!("MATMUL_NUM_THREADS must be a positive integer");
        return ExitCode::FAILURE;
    };
    if threads == 0 {
        eprintln!("MATMUL_NUM_THREADS must be a positive integer");
        return ExitCode::FAILURE;
    }
    let test_mode = std::env::args().any(|a| a == "--test");
    let records = Records::default();
    let mut criterion = Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .configure_from_args();
    bench_all(&mut criterion, threads, &records, test_mode);
    criterion.final_summary();
    print_table(threads, &records.borrow(), test_mode);
    ExitCode::SUCCESS
}

/// Re-runs this binary once per thread count with `MATMUL_NUM_THREADS` set.
fn run_children() -> ExitCode {
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => {
            eprintln!("cannot find own executable: {e}");
            return ExitCode::FAILURE;
        }
    };
    let args: Vec<_> = std::env::args_os().skip(1).collect();
    for t in THREADS {
        println!("\n#### {t} thread(s): MATMUL_NUM_THREADS={t}, RepOps Cpu::new({t}, Auto)");
        match Command::new(&exe)
            .args(&args)
            .env("MATMUL_NUM_THREADS", t.to_string())
            .status()
        {
            Ok(s) if s.success() => {}
            Ok(s) => {
                eprintln!("benchmark child for {t} thread(s) failed: {s}");
                return ExitCode::FAILURE;
            }
            Err(e) => {
                eprintln!("cannot start benchmark child: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}

/// Deterministic inputs in [-1, 1).
fn inputs(len: usize, seed: u32) -> Vec<f32> {
    let mut s = seed.wrapping_mul(2_654_435_761) | 1;
    (0..len)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            (s >> 8) as f32 / (1u32 << 23) as f32 - 1.0
        })
        .collect()
}

fn bench_all(c: &mut Criterion, threads: usize, records: &Records, test_mode: bool) {
    #[cfg(not(any(feature = "tch", feature = "openblas")))]
    let _ = test_mode;
    let cx = Cpu::new(threads, SimdPolicy::Auto).expect("thread pool for the benchmark");
    let mut group = c.benchmark_group(format!("gemm_t{threads}"));
    group.sampling_mode(SamplingMode::Flat);
    for (case, &(name, m, k, n)) in CASES.iter().enumerate() {
        let flops = 2.0 * (m * n * k) as f64;
        // About 0.5 s of timed work per implementation for the big cases, 10 samples minimum.
        let secs = (flops / 40e9 * 10.0 / threads as f64).clamp(0.5, 4.0);
        group
            .sample_size(10)
            .measurement_time(Duration::from_secs_f64(secs));
        group.throughput(Throughput::Elements((m * n * k) as u64));
        let a = inputs(m * k, 1);
        let b = inputs(k * n, 2);
        let mut out = vec![0.0f32; m * n];
        let id = format!("{name} ({m}x{k}x{n})");
        let (av, bv) = (MatRef::new(&a, m, k), MatRef::new(&b, k, n));
        let (av, bv) = (av.expect("A shape"), bv.expect("B shape"));
        let repops = |out: &mut [f32]| {
            sgemm(&cx, m, n, k, av, bv, out).expect("repops sgemm");
            black_box(out);
        };
        group.bench_function(BenchmarkId::new("repops", &id), |bch| {
            bch.iter_custom(|iters| timed(records, case, "repops", iters, || repops(&mut out)));
        });
        group.bench_function(BenchmarkId::new("matrixmultiply", &id), |bch| {
            bch.iter_custom(|iters| {
                let start = Instant::now();
                for _ in 0..iters {
                    // SAFETY: row-major A (m×k), B (k×n), C (m×n) with matching strides; β = 0.
                    unsafe {
                        matrixmultiply::sgemm(
                            m,
                            k,
                            n,
                            1.0,
                            a.as_ptr(),
                            k as isize,
                            1,
                            b.as_ptr(),
                            n as isize,
                            1,
                            0.0,
                            out.as_mut_ptr(),
                            n as isize,
                            1,
                        );
                    }
                    black_box(&mut out);
                }
                record(records, case, "matrixmultiply", start.elapsed(), iters)
            });
        });
        #[cfg(feature = "tch")]
        {
            let mut torch = libtorch::TorchGemm::new(&a, &b, m, k, n);
            bench_baseline(
                &mut group,
                records,
                (case, &id),
                ("libtorch", "alternated"),
                test_mode,
                || libtorch::set_threads(threads),
                || torch.run(),
                || repops(&mut out),
            );
        }
        #[cfg(feature = "openblas")]
        {
            let mut blas = openblas::BlasGemm::new(&a, &b, m, k, n);
            bench_baseline(
                &mut group,
                records,
                (case, &id),
                ("openblas", "alternated openblas"),
                test_mode,
                || openblas::set_threads(threads),
                || blas.run(),
                || repops(&mut out),
            );
            if records.borrow().contains_key(&(case, "openblas")) {
                repops(&mut out);
                check_close(&out, blas.output(), &id);
            }
        }
    }
    group.finish();
}

/// Times a baseline library's product (`theirs`, after `set_threads`) under criterion as `key`
/// and, outside test mode when RepOps ran too, alternated with RepOps' (`ours`) as `alt_key`.
#[cfg(any(feature = "tch", feature = "openblas"))]
#[allow(clippy::too_many_arguments)]
fn bench_baseline(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    records: &Records,
    (case, id): (usize, &str),
    (key, alt_key): (&'static str, &'static str),
    test_mode: bool,
    set_threads: impl Fn(),
    mut theirs: impl FnMut(),
    ours: impl FnMut(),
) {
    group.bench_function(BenchmarkId::new(key, id), |bch| {
        bch.iter_custom(|iters| {
            set_threads();
            timed(records, case, key, iters, &mut theirs)
        });
    });
    if !test_mode && records.borrow().contains_key(&(case, "repops")) {
        set_threads();
        let ratios = timing::alternated(ours, theirs);
        records.borrow_mut().insert((case, alt_key), ratios);
    }
}

/// Panics unless a baseline's product `theirs` matches RepOps' `ours` to a relative 1e-4 (of
/// the largest output magnitude): the two differ only in summation order.
#[cfg(feature = "openblas")]
fn check_close(ours: &[f32], theirs: &[f32], id: &str) {
    let scale = ours.iter().fold(1.0f32, |s, v| s.max(v.abs()));
    let worst = ours
        .iter()
        .zip(theirs)
        .fold(0.0f32, |w, (x, y)| w.max((x - y).abs()));
    assert!(
        ours.len() == theirs.len() && worst <= 1e-4 * scale,
        "{id}: the baseline's product differs from RepOps' by {worst} (scale {scale})"
    );
}

/// Runs `f` `iters` times and records the per-iteration time as `imp`'s for `case`.
fn timed(
    records: &Records,
    case: usize,
    imp: &'static str,
    iters: u64,
    f: impl FnMut(),
) -> Duration {
    record(records, case, imp, timing::time_iters(iters, f), iters)
}

fn record(
    records: &Records,
    case: usize,
    imp: &'static str,
    elapsed: Duration,
    iters: u64,
) -> Duration {
    let per = elapsed.as_secs_f64() / iters.max(1) as f64;
    records
        .borrow_mut()
        .entry((case, imp))
        .or_default()
        .push(per);
    elapsed
}

/// `(median, minimum)` of the per-iteration times.
fn median_min(v: &[f64]) -> Option<(f64, f64)> {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    Some((*v.get(v.len() / 2)?, *v.first()?))
}

/// The first "cpu MHz" of /proc/cpuinfo, if readable.
fn cpu_mhz() -> Option<f64> {
    let info = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    info.lines()
        .find(|l| l.starts_with("cpu MHz"))
        .and_then(|l| l.split(':').nth(1))
        .and_then(|v| v.trim().parse().ok())
}

fn print_table(
    threads: usize,
    records: &BTreeMap<(usize, &'static str), Vec<f64>>,
    test_mode: bool,
) {
    let mhz = cpu_mhz();
    let lanes = Cpu::single().vector_lanes() as f64;
    println!();
    println!(
        "== GEMM summary, {threads} thread(s){}",
        if test_mode {
            " (test mode: single runs, not measurements)"
        } else {
            ""
        }
    );
    match mhz {
        Some(mhz) => println!(
            "peak assumption: {threads} core(s) × {FMA_PIPES} FMA pipes × {lanes} f32 lanes × 2 flop × {mhz:.0} MHz (/proc/cpuinfo \"cpu MHz\", the nominal clock: turbo can put measurements above 100%) = {:.1} GFLOP/s",
            threads as f64 * FMA_PIPES * lanes * 2.0 * mhz / 1e3
        ),
        None => println!("peak: unknown (no \"cpu MHz\" in /proc/cpuinfo)"),
    }
    println!("GFLOP/s from the median time per run; 'best ratio' compares the fastest runs");
    #[cfg(feature = "tch")]
    timing::explain_alternated("alt. vs t.", "libtorch");
    #[cfg(feature = "openblas")]
    {
        timing::explain_alternated("alt. vs OB", "OpenBLAS");
        println!("OpenBLAS: {}", openblas::describe());
    }
    let mut header = format!(
        "{:<36} {:>14} {:>14} {:>8} {:>11} {:>10}",
        "case (m x k x n)", "repops GFLOP/s", "mm GFLOP/s", "ratio", "best ratio", "% of peak"
    );
    for b in BASELINES {
        header += &format!(
            " {:>14} {:>10} {:>11} {:>11}",
            format!("{} GFLOP/s", b.label),
            format!("vs {}", b.short),
            format!("best vs {}", b.short),
            format!("alt. vs {}", b.short)
        );
    }
    println!("{header}");
    for (case, &(name, m, k, n)) in CASES.iter().enumerate() {
        let flops = 2.0 * (m * n * k) as f64;
        let gf = |imp| {
            let (med, min) = median_min(records.get(&(case, imp))?)?;
            Some((flops / med / 1e9, flops / min / 1e9))
        };
        let (Some((r, r_best)), Some((mm, mm_best))) = (gf("repops"), gf("matrixmultiply")) else {
            continue; // filtered out
        };
        let peak = mhz.map_or("?".to_string(), |mhz| {
            let p = threads as f64 * FMA_PIPES * lanes * 2.0 * mhz / 1e3;
            format!("{:.1}%", 100.0 * r / p)
        });
        let mut line = format!(
            "{:<36} {:>14.1} {:>14.1} {:>8.3} {:>11.3} {:>10}",
            format!("{name} ({m}x{k}x{n})"),
            r,
            mm,
            r / mm,
            r_best / mm_best,
            peak
        );
        for b in BASELINES {
            let (gflops, vs, best_vs) = match gf(b.key) {
                Some((t, t_best)) => (
                    format!("{t:.1}"),
                    format!("{:.3}", r / t),
                    format!("{:.3}", r_best / t_best),
                ),
                None => ("-".into(), "-".into(), "-".into()),
            };
            let alt = records
                .get(&(case, b.alternated))
                .and_then(|v| median_min(v))
                .map_or("-".to_string(), |(med, _)| format!("{med:.3}"));
            line += &format!(" {gflops:>14} {vs:>10} {best_vs:>11} {alt:>11}");
        }
        println!("{line}");
    }
}

/// A baseline library's columns in the table.
struct Baseline {
    /// Its implementation name in [`Records`].
    key: &'static str,
    /// The [`Records`] name of its alternated ratios.
    alternated: &'static str,
    /// Column label.
    label: &'static str,
    /// Short label in ratio columns.
    short: &'static str,
}

/// The baselines built in (features `tch`, `openblas`).
const BASELINES: &[Baseline] = &[
    #[cfg(feature = "tch")]
    Baseline {
        key: "libtorch",
        alternated: "alternated",
        label: "torch",
        short: "t.",
    },
    #[cfg(feature = "openblas")]
    Baseline {
        key: "openblas",
        alternated: "alternated openblas",
        label: "OB",
        short: "OB",
    },
];
