//! Simulator speed: runs per second of `standard.toml` (records cached across runs), side by
//! side with the baseline the cache avoids: re-training the job spec once per run.

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use pinpoint_kernels::Cpu;
use pinpoint_kernels::train::LoadedSpec;
use pinpoint_sim::glue::dispute::honest_record;
use pinpoint_sim::records::builtin_spec;
use pinpoint_sim::{RecordCache, Scenario, run_seed};

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
    g.finish();
}

criterion_group!(benches, speed);
criterion_main!(benches);
