//! Same seed, same trace: twice, across kernel thread counts, and between run and replay.

use pinpoint_kernels::{Cpu, SimdPolicy};
use pinpoint_sim::{RecordCache, run_range, run_seed, run_seed_logged};

use super::shipped;

#[test]
fn same_seed_twice_gives_the_same_trace() {
    for name in ["standard", "lossy", "swarm"] {
        let s = shipped(name);
        let cache = RecordCache::default();
        for seed in [0, 1, 17, 4242] {
            let a = run_seed(&s, seed, &cache).expect("run");
            let b = run_seed(&s, seed, &cache).expect("run");
            assert_eq!(a, b, "{name} seed {seed}");
            assert_eq!(a.trace.len(), 64);
        }
        let x = run_seed(&s, 1, &cache).expect("run");
        let y = run_seed(&s, 2, &cache).expect("run");
        assert_ne!(x.trace, y.trace, "{name}: seeds 1 and 2 gave one trace");
    }
}

#[test]
fn one_and_two_kernel_threads_give_the_same_traces() {
    let one = RecordCache::new(Cpu::single());
    let two = RecordCache::new(Cpu::new(2, SimdPolicy::Auto).expect("cpu"));
    for name in ["standard", "sampling"] {
        let s = shipped(name);
        for seed in 0..5 {
            let a = run_seed(&s, seed, &one).expect("run");
            let b = run_seed(&s, seed, &two).expect("run");
            assert_eq!(a.trace, b.trace, "{name} seed {seed}");
        }
    }
}

#[test]
fn replay_of_a_seed_reproduces_the_run_trace() {
    let s = shipped("lossy");
    let cache = RecordCache::default();
    let mut traces = Vec::new();
    run_range(&s, 10..20, &cache, |r| {
        traces.push((r.seed, r.trace.clone()))
    })
    .expect("runs");
    // A fresh cache, as a separate `pinpoint sim replay` process would have.
    let fresh = RecordCache::default();
    for (seed, trace) in traces {
        let (r, log) = run_seed_logged(&s, seed, &fresh).expect("replay");
        assert_eq!(r.trace, trace, "seed {seed}");
        assert!(!log.is_empty() && log.len() as u64 <= r.events);
    }
}
