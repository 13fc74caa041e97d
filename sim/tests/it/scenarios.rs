//! Every shipped scenario runs clean over a seed range.

use pinpoint_sim::{RecordCache, run_range};

use super::shipped;

fn clean(name: &str, seeds: std::ops::Range<u64>) -> pinpoint_sim::Summary {
    let cache = RecordCache::default();
    let s = run_range(&shipped(name), seeds, &cache, |r| {
        if r.failed() {
            eprintln!("seed {}: {:?}", r.seed, r.violations);
        }
    })
    .unwrap_or_else(|e| panic!("{e}"));
    eprintln!("{}", s.table());
    assert_eq!(s.failed, 0, "{name}: failed seeds {:?}", s.failed_seeds);
    s
}

#[test]
fn standard_runs_clean_with_one_dispute_per_job() {
    let s = clean("standard", 0..40);
    assert!(s.disputes >= 40 * 2, "{} disputes", s.disputes);
}
