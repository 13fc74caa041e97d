//! Training-step benchmark: one full step of the example transformer — forward, loss, backward
//! and AdamW, i.e. [`TrainStep::step`] — at batch sizes 8, 16, 32 and 64, with 1 and 2
//! threads.
//!
//! The model, data and optimizer come from `examples/addition.toml`, read at run time through
//! the spec loader (set `PINPOINT_BENCH_SPEC` to use another token-task spec); only the batch
//! size is replaced. Every iteration is one step on the same batch (batch 0 of the training
//! split), updating the parameters and optimizer state in place; batch generation is not timed.
//!
//! Two pinpoint variants are timed: `step`, the step with every node's output hashed
//! ([`Mode::Normal`], the record a dispute re-creates for its disputed step), and `trainer`,
//! what a trainer runs per step outside a dispute ([`Mode::Unhashed`], then the tensor hashes
//! of `h(S_t)`; a trainer commits state hashes only and re-runs a disputed step traced).
//!
//! After criterion's output the binary prints:
//! 1. a summary table: batch, threads, the step's ms/step (median of all timed runs, warm-up
//!    included), steps/s and examples/s, and the trainer's ms/step;
//! 2. a per-op-kind profile at the largest batch, 1 and 2 threads: node times taken with the
//!    graph executor's observer hook (`TrainStep::step_observed`) and `Instant`, grouped by op
//!    kind and by part of the step (forward, backward, optimizer), sorted by share of the step
//!    time. "hash + store" is the time between a node's kernel returning and the node being
//!    done (output type check, `h(out(v_i))`, storing and freeing values); "outside nodes" is
//!    the rest of the step (moving the state in and out, finiteness checks). The last line gives
//!    the bytes of all node outputs (what is hashed) and the throughput of "hash + store".
//!
//! With the feature `tch` (the libtorch baseline, `scripts/bench-torch`), every case is also
//! timed in libtorch in the same run, right after pinpoint's: the same transformer, shapes,
//! batch and AdamW hyper-parameters (`benches/support/libtorch.rs`), with libtorch's intra-op
//! threads set to the same count. The summary then adds libtorch's ms/step and the ratio
//! `libtorch time / pinpoint time` (pinpoint's speed as a fraction of PyTorch's: ≥ 1 means
//! pinpoint is at least as fast) for both variants, and the same ratios from rounds that
//! alternate the two back to back (`support/timing.rs`), which a drifting clock does not
//! skew.
//!
//! Run: `cargo bench --bench train_step` (optionally `-- b64` to filter the criterion part);
//! with the baseline: `scripts/bench-torch train_step`;
//! CI: `cargo bench --bench train_step -- --test` (every case once, a one-step profile).
// Dev-dependencies are shared by every test, bench and example target; each uses some.
#![allow(unused_crate_dependencies)]

/// Large allocations start on a cache line, as in the `pinpoint` binary (and libtorch).
#[global_allocator]
static ALLOC: pinpoint_kernels::alloc::CacheAligned = pinpoint_kernels::alloc::CacheAligned;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::hint::black_box;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput};
use pinpoint_kernels::graph::{Graph, Mode, NodePhase, Op, Value, ValueRef};
use pinpoint_kernels::models::{BatchShape, ModelConfig, TrainStep, init_optim, init_params};
use pinpoint_kernels::{Cpu, SimdPolicy, Tensor};
use pinpoint_train::LoadedSpec;
use pinpoint_train::data::Split;
use pinpoint_train::trainer::glue::{model_config, optim_config, train_inputs};

#[cfg(feature = "tch")]
#[path = "support/libtorch.rs"]
mod libtorch;

#[path = "support/timing.rs"]
mod timing;

/// Batch sizes timed.
const BATCHES: [usize; 4] = [8, 16, 32, 64];
/// Thread counts timed.
const THREADS: [usize; 2] = [1, 2];
/// Steps per profile (outside `--test`), after one warm-up step.
const PROFILE_STEPS: usize = 20;

/// Per-iteration seconds of every timed run, by (batch, threads, implementation).
type Records = RefCell<BTreeMap<(usize, usize, &'static str), Vec<f64>>>;

/// The implementation name of pinpoint's step (every node hashed) in [`Records`].
const PINPOINT: &str = "pinpoint";
/// The implementation name of the trainer's step ([`Case::trainer_step`]) in [`Records`].
const TRAINER: &str = "trainer";
/// The implementation name of the libtorch baseline in [`Records`].
#[cfg(feature = "tch")]
const LIBTORCH: &str = "libtorch";
/// Per-round speed ratios of [`timing::alternated`] (pinpoint's step) in [`Records`].
#[cfg(feature = "tch")]
const ALTERNATED: &str = "alternated";
/// Per-round speed ratios of [`timing::alternated`] (the trainer's step) in [`Records`].
#[cfg(feature = "tch")]
const ALTERNATED_TRAINER: &str = "alternated trainer";

/// One benchmark case: the step program, its batch and a state to update.
struct Case {
    prog: TrainStep,
    batch: Vec<Value>,
    params: Vec<(String, Tensor)>,
    optim: Vec<(String, Tensor)>,
    /// The libtorch step of the same model, parameters and batch (transformer specs only).
    #[cfg(feature = "tch")]
    torch: Option<libtorch::TorchStep>,
}

impl Case {
    /// The verified step with every node's output hashed ([`Mode::Normal`]).
    fn step(&mut self, cx: &Cpu) {
        self.run(cx, &Mode::Normal);
    }

    /// What a trainer runs for each step outside a dispute: the same step unhashed
    /// ([`Mode::Unhashed`]), then the tensor hashes `h(S_t)` is made of (every parameter and
    /// optimizer tensor, as `TrainState::hash` computes them, and one hash over those).
    fn trainer_step(&mut self, cx: &Cpu) {
        self.run(cx, &Mode::Unhashed);
        let mut h = blake3::Hasher::new();
        for (name, t) in self.params.iter().chain(&self.optim) {
            h.update(name.as_bytes());
            h.update(&t.hash().0);
        }
        black_box(h.finalize());
    }

    fn run(&mut self, cx: &Cpu, mode: &Mode) {
        let out = self
            .prog
            .step(cx, &mut self.params, &mut self.optim, &self.batch, mode)
            .expect("training step");
        black_box(out.loss);
    }
}

fn main() -> ExitCode {
    // As the `pinpoint` binary does: freed tensors stay in the process for the next step (the
    // libtorch baseline in this process gains too).
    pinpoint_train::memory::retain_freed_memory();
    let path = std::env::var("PINPOINT_BENCH_SPEC").unwrap_or_else(|_| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/addition.toml").to_string()
    });
    let spec = match std::fs::read_to_string(&path)
        .map_err(|e| e.to_string())
        .and_then(|t| LoadedSpec::from_toml_str(&t).map_err(|e| e.to_string()))
    {
        Ok(l) => l.spec,
        Err(e) => {
            eprintln!("cannot load {path}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let make_case = |batch: usize| -> Result<Case, String> {
        let dataset = spec.dataset(None).map_err(|e| e.to_string())?;
        let b = dataset
            .batch(spec.seed, Split::Train, 0, batch)
            .map_err(|e| e.to_string())?;
        let (values, positions) = train_inputs(b).map_err(|e| e.to_string())?;
        let model = model_config(&spec);
        let optim = optim_config(&spec, spec.optimizer.lr());
        let shape = BatchShape {
            batch,
            seq: dataset.seq_len().unwrap_or(0),
            loss_positions: positions,
        };
        let prog = TrainStep::new(&model, &optim, &shape).map_err(|e| e.to_string())?;
        let params = init_params(&model, spec.seed);
        #[cfg(feature = "tch")]
        let torch = match (&model, &optim) {
            (
                pinpoint_kernels::models::ModelConfig::Transformer(c),
                pinpoint_kernels::optim::OptimConfig::AdamW(h),
            ) => Some(libtorch::TorchStep::new(c, h, &params, &values)?),
            _ => None,
        };
        Ok(Case {
            prog,
            batch: values,
            params,
            optim: init_optim(&model, &optim),
            #[cfg(feature = "tch")]
            torch,
        })
    };
    let test_mode = std::env::args().any(|a| a == "--test");
    println!("spec: {path}");
    println!("model: {}", describe(&model_config(&spec)));

    let records = Records::default();
    let mut criterion = Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .configure_from_args();
    for threads in THREADS {
        let cx = Cpu::new(threads, SimdPolicy::Auto).expect("thread pool for the benchmark");
        let mut group = criterion.benchmark_group(format!("train_step_t{threads}"));
        group
            .sampling_mode(SamplingMode::Flat)
            .sample_size(10)
            .measurement_time(Duration::from_secs(2));
        for batch in BATCHES {
            let mut case = match make_case(batch) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("batch {batch}: {e}");
                    return ExitCode::FAILURE;
                }
            };
            group.throughput(Throughput::Elements(batch as u64));
            let id = BenchmarkId::new("step", format!("b{batch}"));
            group.bench_function(id, |bch| {
                bch.iter_custom(|iters| {
                    timed(&records, (batch, threads, PINPOINT), iters, || {
                        case.step(&cx)
                    })
                });
            });
            let id = BenchmarkId::new("trainer", format!("b{batch}"));
            group.bench_function(id, |bch| {
                bch.iter_custom(|iters| {
                    timed(&records, (batch, threads, TRAINER), iters, || {
                        case.trainer_step(&cx)
                    })
                });
            });
            #[cfg(feature = "tch")]
            if let Some(torch) = case.torch.as_mut() {
                let id = BenchmarkId::new("libtorch", format!("b{batch}"));
                group.bench_function(id, |bch| {
                    bch.iter_custom(|iters| {
                        libtorch::set_threads(threads);
                        timed(&records, (batch, threads, LIBTORCH), iters, || {
                            black_box(torch.step());
                        })
                    });
                });
            }
            #[cfg(feature = "tch")]
            if !test_mode && let Some(mut torch) = case.torch.take() {
                let ran = |imp| records.borrow().contains_key(&(batch, threads, imp));
                let mut theirs = || {
                    libtorch::set_threads(threads);
                    black_box(torch.step());
                };
                if ran(PINPOINT) {
                    let ratios = timing::alternated(|| case.step(&cx), &mut theirs);
                    records
                        .borrow_mut()
                        .insert((batch, threads, ALTERNATED), ratios);
                }
                if ran(TRAINER) {
                    let ratios = timing::alternated(|| case.trainer_step(&cx), &mut theirs);
                    records
                        .borrow_mut()
                        .insert((batch, threads, ALTERNATED_TRAINER), ratios);
                }
            }
        }
        group.finish();
    }
    criterion.final_summary();
    print_summary(&records.borrow(), test_mode);

    let batch = BATCHES[BATCHES.len() - 1];
    for threads in THREADS {
        let cx = Cpu::new(threads, SimdPolicy::Auto).expect("thread pool for the benchmark");
        let mut case = match make_case(batch) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("batch {batch}: {e}");
                return ExitCode::FAILURE;
            }
        };
        let steps = if test_mode { 1 } else { PROFILE_STEPS };
        profile(&mut case, &cx, batch, threads, steps, test_mode);
    }
    ExitCode::SUCCESS
}

/// Runs `f` `iters` times and appends the per-iteration time to `records` under `key`.
fn timed(
    records: &Records,
    key: (usize, usize, &'static str),
    iters: u64,
    f: impl FnMut(),
) -> Duration {
    record(records, key, timing::time_iters(iters, f), iters)
}

/// Appends one run's per-iteration time to `records` and returns `elapsed`.
fn record(
    records: &Records,
    key: (usize, usize, &'static str),
    elapsed: Duration,
    iters: u64,
) -> Duration {
    records
        .borrow_mut()
        .entry(key)
        .or_default()
        .push(elapsed.as_secs_f64() / iters.max(1) as f64);
    elapsed
}

fn describe(model: &ModelConfig) -> String {
    match model {
        ModelConfig::Transformer(c) => format!(
            "transformer: vocab {}, context {}, {} layers, width {}, {} heads, mlp ratio {}",
            c.vocab, c.context, c.layers, c.width, c.heads, c.mlp_ratio
        ),
        ModelConfig::Mlp(c) => format!("mlp: input {}, hidden {:?}", c.input_dim, c.hidden),
    }
}

/// The median of the per-iteration times.
fn median(v: &[f64]) -> Option<f64> {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied()
}

fn print_summary(records: &BTreeMap<(usize, usize, &'static str), Vec<f64>>, test_mode: bool) {
    println!();
    println!(
        "== training step summary{}",
        if test_mode {
            " (test mode: single runs, not measurements)"
        } else {
            " (median time per run)"
        }
    );
    println!(
        "'step': every node's output hashed (the verified step as the dispute records it); \
         'trainer': what a trainer runs per step outside a dispute (unhashed step + the tensor \
         hashes of h(S_t))"
    );
    println!(
        "{:>6} {:>8} {:>9} {:>9} {:>11} {:>11} {:>12} {:>10} {:>11} {:>12} {:>11}",
        "batch",
        "threads",
        "step ms",
        "steps/s",
        "examples/s",
        "trainer ms",
        "libtorch ms",
        "step vs t.",
        "alt. vs t.",
        "trainer vs t.",
        "alt. vs t."
    );
    for threads in THREADS {
        for batch in BATCHES {
            let med = |imp| records.get(&(batch, threads, imp)).and_then(|v| median(v));
            let (step, trainer) = (med(PINPOINT), med(TRAINER));
            if step.is_none() && trainer.is_none() {
                continue; // filtered out
            }
            let ms = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{:.2}", v * 1e3));
            let per_s = |per: f64| step.map_or("-".to_string(), |t| format!("{:.0}", per / t));
            #[cfg(feature = "tch")]
            let (torch_ms, ratio, alt, t_ratio, t_alt) = {
                let tt = med(LIBTORCH);
                let vs = |ours: Option<f64>| match (tt, ours) {
                    (Some(tt), Some(o)) => format!("{:.3}x", tt / o),
                    _ => "-".to_string(),
                };
                let alt = |key| med(key).map_or("-".to_string(), |r| format!("{r:.3}x"));
                (
                    ms(tt),
                    vs(step),
                    alt(ALTERNATED),
                    vs(trainer),
                    alt(ALTERNATED_TRAINER),
                )
            };
            #[cfg(not(feature = "tch"))]
            let (torch_ms, ratio, alt, t_ratio, t_alt) = ("-", "(feature tch)", "-", "-", "-");
            println!(
                "{:>6} {:>8} {:>9} {:>9} {:>11} {:>11} {:>12} {:>10} {:>11} {:>12} {:>11}",
                batch,
                threads,
                ms(step),
                per_s(1.0),
                per_s(batch as f64),
                ms(trainer),
                torch_ms,
                ratio,
                alt,
                t_ratio,
                t_alt
            );
        }
    }
    #[cfg(feature = "tch")]
    {
        println!("vs t. = libtorch ms/step / pinpoint ms/step (≥ 1: pinpoint at least as fast)");
        timing::explain_alternated("alt. vs t.", "libtorch");
    }
}

/// The op kind a node is counted under.
fn kind(op: &Op) -> &'static str {
    match op.name() {
        "matmul" | "matmul_nt" | "matmul_tn" => "matmul",
        "bmm" | "bmm_nt" | "bmm_tn" => "bmm",
        "softmax" | "softmax_backward" | "log_softmax" | "log_softmax_backward" => "softmax",
        "layer_norm" | "layer_norm_backward" => "layer_norm",
        "gelu_tanh" | "gelu_tanh_backward" | "gelu_erf" | "gelu_erf_backward" => "gelu",
        "gather_rows" | "gather_rows_backward" => "gather",
        "cross_entropy" | "cross_entropy_backward" => "cross_entropy",
        "reshape" => "reshape",
        "permute" | "transpose" => "permute/transpose",
        "slice" | "slice_backward" | "concat" | "split" => "slice/concat/split",
        "sum"
        | "mean"
        | "sum_squares"
        | "max"
        | "sum_backward"
        | "mean_backward"
        | "sum_squares_backward"
        | "max_backward"
        | "reduce_to_shape" => "reductions",
        "adamw_step" => "adamw_step",
        "sgd_step" => "sgd_step",
        _ => "elementwise",
    }
}

/// Part of the step a node belongs to: forward up to the loss node, optimizer nodes, the rest
/// backward.
fn part(graph: &Graph, loss_node: usize, index: usize) -> &'static str {
    match graph.nodes[index].op {
        Op::AdamWStep { .. } | Op::SgdStep { .. } => "opt",
        _ if index <= loss_node => "fwd",
        _ => "bwd",
    }
}

/// Time and node count of one row of the profile.
#[derive(Default, Clone, Copy)]
struct Row {
    secs: f64,
    nodes: usize,
}

fn profile(case: &mut Case, cx: &Cpu, batch: usize, threads: usize, steps: usize, test: bool) {
    let graph = case.prog.graph().clone();
    let loss_node = match graph.outputs.first() {
        Some((_, ValueRef::Node { node, .. })) => *node,
        _ => graph.nodes.len(),
    };
    case.step(cx); // warm-up
    let mut rows: BTreeMap<(&'static str, &'static str), Row> = BTreeMap::new();
    let mut hash_store = 0.0f64;
    let mut total = 0.0f64;
    let mut started = Instant::now();
    let mut computed = Instant::now();
    for _ in 0..steps {
        let t0 = Instant::now();
        let out = case
            .prog
            .step_observed(
                cx,
                &mut case.params,
                &mut case.optim,
                &case.batch,
                &Mode::Normal,
                &mut |e| {
                    let now = Instant::now();
                    match e.phase {
                        NodePhase::Start => started = now,
                        NodePhase::Computed => {
                            computed = now;
                            let r = rows
                                .entry((kind(e.op), part(&graph, loss_node, e.index)))
                                .or_default();
                            r.secs += (now - started).as_secs_f64();
                            r.nodes += 1;
                        }
                        NodePhase::Done => hash_store += (now - computed).as_secs_f64(),
                    }
                },
            )
            .expect("training step");
        total += t0.elapsed().as_secs_f64();
        black_box(out.loss);
    }
    let in_nodes: f64 = rows.values().map(|r| r.secs).sum::<f64>() + hash_store;
    let per_step = |s: f64| s / steps as f64 * 1e3;
    let mut table: Vec<(String, f64, usize)> = rows
        .iter()
        .map(|(&(k, p), r)| (format!("{k} ({p})"), r.secs, r.nodes / steps))
        .collect();
    table.push(("hash + store (all nodes)".into(), hash_store, 0));
    table.push(("outside nodes".into(), (total - in_nodes).max(0.0), 0));
    table.sort_by(|a, b| b.1.total_cmp(&a.1));
    println!();
    println!(
        "== per-op-kind profile: batch {batch}, {threads} thread(s), {} nodes, {:.2} ms/step (mean of {steps} observed step{}){}",
        graph.nodes.len(),
        per_step(total),
        if steps == 1 { "" } else { "s" },
        if test {
            " (test mode: not a measurement)"
        } else {
            ""
        }
    );
    println!(
        "{:<34} {:>6} {:>9} {:>7}",
        "op kind (part)", "nodes", "ms/step", "share"
    );
    for (name, secs, nodes) in &table {
        let nodes = if *nodes == 0 {
            "-".to_string()
        } else {
            nodes.to_string()
        };
        println!(
            "{:<34} {:>6} {:>9.3} {:>6.1}%",
            name,
            nodes,
            per_step(*secs),
            100.0 * secs / total
        );
    }
    let mut by_part: BTreeMap<&str, f64> = BTreeMap::new();
    for (&(_, p), r) in &rows {
        *by_part.entry(p).or_default() += r.secs;
    }
    let parts = ["fwd", "bwd", "opt"]
        .iter()
        .map(|p| {
            let s = by_part.get(p).copied().unwrap_or(0.0);
            format!("{p} {:.1}%", 100.0 * s / total)
        })
        .collect::<Vec<_>>()
        .join(", ");
    println!(
        "by part: {parts}, hash + store {:.1}%, outside nodes {:.1}%",
        100.0 * hash_store / total,
        100.0 * (total - in_nodes).max(0.0) / total
    );
    let bytes: usize = graph
        .nodes
        .iter()
        .flat_map(|n| &n.outputs)
        .map(|t| 4 * t.numel())
        .sum();
    println!(
        "node outputs: {:.1} MB/step hashed, {:.2} GB/s through hash + store",
        bytes as f64 / 1e6,
        bytes as f64 * steps as f64 / hash_store.max(1e-12) / 1e9
    );
}
