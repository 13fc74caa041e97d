//! The embedded settlement back end: `standard-chain` settles every job on the contracts with
//! zero violations and the same simulation as `standard`, and a wrong mapping is caught.

use std::collections::BTreeMap;

use pinpoint_sim::onchain::MirrorFault;
use pinpoint_sim::scenario::SettlementBackend;
use pinpoint_sim::world::World;
use pinpoint_sim::{RecordCache, Scenario, SimError, run_range, run_seed};

use super::shipped;

#[test]
fn standard_chain_settles_every_job_on_the_embedded_chain_without_violations() {
    let s = shipped("standard-chain");
    let cache = RecordCache::default();
    let seeds = 0..8;
    let sum = run_range(&s, seeds.clone(), &cache, |r| {
        assert!(
            r.violations.is_empty(),
            "seed {}: {:?}",
            r.seed,
            r.violations
        );
    })
    .expect("runs");
    assert_eq!(sum.failed, 0);
    let c = |k: &str| sum.counters.get(k).copied().unwrap_or(0);
    // Every job of every run went through the contracts and paid out as the ledger did.
    let jobs = (seeds.end - seeds.start) * s.jobs.count as u64;
    assert_eq!(
        c("chain_settlements_compared") + c("chain_unmapped_jobs"),
        jobs
    );
    assert!(c("chain_settlements_compared") > 0, "{:?}", sum.counters);
    assert!(sum.disputes > 0);
}

/// Every shipped scenario's file stem.
fn shipped_names() -> Vec<String> {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("scenarios dir")
        .filter_map(|e| {
            let p = e.ok()?.path();
            (p.extension()? == "toml").then(|| p.file_stem()?.to_str().map(String::from))?
        })
        .collect();
    names.sort();
    names
}

#[test]
fn every_shipped_scenario_maps_every_job_onto_the_contracts() {
    // Issue 14 item 7: verifier challenges, both-lose rulings and disputes after the window
    // all go through the contracts; no job is left unmapped and every settlement compares.
    let cache = RecordCache::default();
    let seeds = 0..6;
    let mut all: BTreeMap<String, u64> = BTreeMap::new();
    let names = shipped_names();
    assert!(names.len() >= 15, "{names:?}");
    for name in names {
        let mut s = shipped(&name);
        s.settlement = SettlementBackend::Embedded;
        let sum = run_range(&s, seeds.clone(), &cache, |r| {
            let chain: Vec<&String> = r
                .violations
                .iter()
                .filter(|v| v.contains("embedded chain"))
                .collect();
            assert!(chain.is_empty(), "{name} seed {}: {chain:?}", r.seed);
        })
        .expect("runs");
        let c = |k: &str| sum.counters.get(k).copied().unwrap_or(0);
        assert_eq!(c("chain_unmapped_jobs"), 0, "{name}: {:?}", sum.counters);
        let jobs = (seeds.end - seeds.start) * s.jobs.count as u64;
        assert_eq!(
            c("chain_settlements_compared"),
            jobs,
            "{name}: {:?}",
            sum.counters
        );
        for (k, v) in &sum.counters {
            if k.starts_with("chain_") {
                *all.entry(k.clone()).or_default() += v;
            }
        }
    }
    // The new contract paths were taken.
    for k in ["chain_challenges", "chain_dispute_next", "chain_both_lose"] {
        assert!(all.get(k).copied().unwrap_or(0) > 0, "{k}: {all:?}");
    }
}

#[test]
fn the_chain_back_end_does_not_change_the_simulation() {
    let (mem, chain) = (shipped("standard"), shipped("standard-chain"));
    let cache = RecordCache::default();
    for seed in [0, 3, 11] {
        let a = run_seed(&mem, seed, &cache).expect("run");
        let mut b = run_seed(&chain, seed, &cache).expect("run");
        let again = run_seed(&chain, seed, &cache).expect("run");
        assert_eq!(b, again, "seed {seed}: embedded runs are deterministic");
        assert_ne!(a.trace, b.trace, "the chain's blocks enter the trace");
        b.counters.retain(|k, _| !k.starts_with("chain_"));
        b.trace.clone_from(&a.trace);
        assert_eq!(a, b, "seed {seed}");
    }
}

fn faulty_run(fault: MirrorFault, seed: u64) -> Vec<String> {
    let s = shipped("standard-chain");
    let cache = RecordCache::default();
    let recs = cache.get(&s.jobs.spec).expect("records");
    let r = World::new(s.for_seed(seed), seed, recs)
        .expect("world")
        .with_chain_fault(fault)
        .run();
    assert!(r.within_assumption, "{:?}", r.assumption_breaks);
    r.violations
}

#[test]
fn a_wrong_payment_on_chain_is_a_violation() {
    let v = faulty_run(MirrorFault::PaymentShortBy(1_000), 0);
    assert!(
        v.iter()
            .any(|v| v.contains("the chain's settlement differs from the ledger's")),
        "{v:?}"
    );
}

#[test]
fn a_flipped_verdict_on_chain_is_a_violation() {
    let v = faulty_run(MirrorFault::FlipVerdict, 0);
    assert!(
        v.iter()
            .any(|v| v.contains("the chain's settlement differs from the ledger's")),
        "{v:?}"
    );
}

#[test]
fn missed_commits_close_on_chain_and_a_refund_waits_for_the_contract_window() {
    // One trainer per job, crashes long enough to miss the commit deadline (beyond the
    // assumption: the simulator reports the honest slash, the chain must still agree).
    let text = r#"
name = "missed-commits"
settlement = "embedded"
[nodes]
trainers = 1
verifiers = 1
arbiters = 1
[jobs]
count = 2
replicas = 1
[timing]
commit_timeout_ms = 10000
challenge_window_ms = 5000
duration_ms = 20000
[faults]
crashes = 2
crash_ms = [1000, 15000]
"#;
    let s = Scenario::from_toml_str(text, "missed-commits.toml").expect("scenario");
    let cache = RecordCache::default();
    let sum = run_range(&s, 0..100, &cache, |r| {
        assert!(
            !r.violations.iter().any(|v| v.contains("embedded chain")),
            "seed {}: {:?}",
            r.seed,
            r.violations
        );
    })
    .expect("runs");
    let c = |k: &str| sum.counters.get(k).copied().unwrap_or(0);
    assert!(c("chain_close_commits") > 0, "{:?}", sum.counters);
    assert!(c("chain_finalize_deferred") > 0, "{:?}", sum.counters);
    assert_eq!(c("chain_settlements_compared"), 200);
}

#[test]
fn the_settlement_key_is_validated() {
    let bad = "name = \"t\"\nsettlement = \"anvil\"\n[nodes]\ntrainers = 2\narbiters = 1\n\
               [jobs]\ncount = 1\nreplicas = 2\n";
    assert!(matches!(
        Scenario::from_toml_str(bad, "t.toml"),
        Err(SimError::Scenario { detail, .. }) if detail.contains("settlement")
    ));
}
