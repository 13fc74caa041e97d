//! Every shipped scenario runs clean over a seed range.

use pinpoint_sim::{RecordCache, Summary, run_range};

use super::shipped;

fn clean(name: &str, seeds: std::ops::Range<u64>) -> Summary {
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
    assert_eq!(s.within, 40);
    assert!(s.disputes >= 40 * 2, "{} disputes", s.disputes);
}

#[test]
fn honest_runs_have_no_dispute_and_no_slash() {
    let s = clean("honest", 0..20);
    assert_eq!((s.disputes, s.slashed_nodes, s.escaped), (0, 0, 0));
    assert_eq!(s.finality_ms.len(), 20 * 3);
}

#[test]
fn single_cheater_always_loses() {
    let s = clean("single-cheater", 0..30);
    assert!(s.slashed_nodes >= 30 * 2);
}

#[test]
fn colluders_lose_to_one_honest_trainer() {
    let s = clean("collusion", 0..30);
    assert!(s.slashed_nodes >= 30 * 2 * 2, "{}", s.slashed_nodes);
}

#[test]
fn lossy_runs_exercise_faults_and_stay_safe() {
    let s = clean("lossy", 0..40);
    for c in [
        "dropped",
        "duplicated",
        "reordered",
        "crashes",
        "pauses",
        "referee_reasks",
    ] {
        assert!(
            s.counters.get(c).copied().unwrap_or(0) > 0,
            "{c} never happened"
        );
    }
    assert!(
        s.counters.get("partitions_one_way").copied().unwrap_or(0)
            + s.counters.get("partitions_two_way").copied().unwrap_or(0)
            > 0
    );
}

#[test]
fn swarm_false_challenge_and_sampling_stay_safe() {
    clean("swarm", 0..30);
    let f = clean("false-challenge", 0..20);
    assert!(f.counters.get("false_challenges").copied().unwrap_or(0) > 0);
    assert!(
        f.counters
            .get("dishonest_arbiter_votes")
            .copied()
            .unwrap_or(0)
            > 0
    );
    let s = clean("sampling", 0..30);
    assert!(!s.detection.is_empty());
}

/// `standard.toml` with every cheater playing `kind` (`extra`: more strategy keys).
fn standard_with(kind: &str, extra: &str) -> pinpoint_sim::Scenario {
    let p = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios/standard.toml");
    let text = std::fs::read_to_string(p).expect("shipped scenario");
    let text = text.replace(
        "kind = \"any-cheat\"",
        &format!("kind = \"{kind}\"\n{extra}"),
    );
    pinpoint_sim::Scenario::from_toml_str(&text, "standard.toml").expect("valid scenario")
}

#[test]
fn every_cheating_strategy_loses_its_disputes_the_way_it_should() {
    // (kind, extra keys, verdict counters the cheater's disputes may end with)
    let cases: [(&str, &str, &[&str]); 9] = [
        ("wrong-state", "", &["verdict_recomputed_state"]),
        ("wrong-node", "", &["verdict_recomputed_node"]),
        ("wrong-intermediate", "", &["verdict_recomputed_state"]),
        (
            "corrupt-fraction",
            "fraction = 0.5",
            &["verdict_recomputed_state"],
        ),
        (
            "step-lie",
            "",
            &["verdict_forfeit_bad_proof", "verdict_recomputed_state"],
        ),
        (
            "node-lie",
            "",
            &["verdict_forfeit_bad_proof", "verdict_recomputed_node"],
        ),
        ("bad-proof", "", &["verdict_forfeit_bad_proof"]),
        ("silent", "", &["verdict_forfeit_timeout"]),
        ("equivocate", "", &["verdict_forfeit_equivocation"]),
    ];
    let cache = RecordCache::default();
    for (kind, extra, verdicts) in cases {
        let s = run_range(&standard_with(kind, extra), 0..12, &cache, |_| {})
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.failed, 0, "{kind}: failed seeds {:?}", s.failed_seeds);
        assert_eq!(s.disputes, 12 * 2, "{kind}");
        let ended: u64 = verdicts
            .iter()
            .map(|v| s.counters.get(*v).copied().unwrap_or(0))
            .sum();
        let all: Vec<_> = s
            .counters
            .iter()
            .filter(|(k, _)| k.starts_with("verdict_"))
            .collect();
        assert_eq!(ended, s.disputes, "{kind}: verdicts {all:?}");
        assert!(s.slashed_nodes >= s.disputes, "{kind}: {}", s.slashed_nodes);
    }
}
