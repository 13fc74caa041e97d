//! Simulator speed: runs per second of `standard.toml` (records cached across runs), side by
//! side with two baselines: re-training the job spec once per run (what the record cache
//! avoids), and signing and verifying as many dispute messages as a standard run sends (what
//! driving the referee with signed messages would add; the simulator sends them unsigned).
// Dev-dependencies are shared by every test, bench and example target; each uses some.
#![allow(unused_crate_dependencies)]

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use pinpoint_kernels::Cpu;
use pinpoint_protocol::id::NodeKey;
use pinpoint_protocol::wire::{Message, StepQuery, verify_message};
use pinpoint_sim::glue::dispute::honest_record;
use pinpoint_sim::records::builtin_spec;
use pinpoint_sim::{RecordCache, Scenario, run_seed};
use pinpoint_train::LoadedSpec;

fn scenario(name: &str) -> Scenario {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(format!("{name}.toml"));
    Scenario::load(&p).expect("shipped scenario")
}

fn speed(c: &mut Criterion) {
    let standard = scenario("standard");
    let cache = RecordCache::default();
    cache.get(&standard.jobs.spec).expect("records");
    let mut g = c.benchmark_group("sim");
    g.throughput(Throughput::Elements(1));
    g.sample_size(20);
    let mut seed = 0u64;
    g.bench_function("standard run (cached records)", |b| {
        b.iter(|| {
            seed += 1;
            black_box(run_seed(&standard, seed, &cache).expect("run"))
        })
    });
    let text = builtin_spec(&standard.jobs.spec).expect("spec");
    let spec = LoadedSpec::from_toml_str(&text).expect("spec").spec;
    g.bench_function("baseline: re-train the spec once", |b| {
        b.iter(|| black_box(honest_record(&spec, Cpu::single()).expect("train")))
    });
    // Dispute messages per standard run, averaged over seeds 1..=50.
    let per_run = (1..=50u64)
        .map(|seed| {
            let r = run_seed(&standard, seed, &cache).expect("run");
            r.counters.get("dispute_messages").copied().unwrap_or(0)
        })
        .sum::<u64>()
        .div_ceil(50);
    let key = NodeKey::from_seed([7; 32]);
    g.bench_function(
        format!("baseline: sign + verify {per_run} dispute messages (one run's)"),
        |b| {
            b.iter(|| {
                for i in 0..per_run {
                    let q = Message::StepQuery(StepQuery { round: 1, step: i });
                    let s = q.sign(&key, [3; 32], 1, i).expect("sign");
                    verify_message(black_box(&s)).expect("verify");
                }
            })
        },
    );
    g.finish();
}

criterion_group!(benches, speed);
criterion_main!(benches);
