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
        // A liar that answers a duplicated query twice, once with its lie, has signed two
        // different answers for one round: the referee convicts it of equivocation.
        (
            "step-lie",
            "",
            &[
                "verdict_forfeit_bad_proof",
                "verdict_recomputed_state",
                "verdict_forfeit_equivocation",
            ],
        ),
        (
            "node-lie",
            "",
            &[
                "verdict_forfeit_bad_proof",
                "verdict_recomputed_node",
                "verdict_forfeit_equivocation",
            ],
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

/// Issue 16, defect 1: every replica dishonest, colluding or not; an honest verifier that
/// samples every step challenges each of them and no root is paid.
#[test]
fn all_dishonest_replicas_are_all_challenged_and_none_is_paid() {
    for name in ["all-dishonest-colluding", "all-dishonest-independent"] {
        let s = clean(name, 0..40);
        assert!(s.slashed_nodes >= 40 * 2 * 3, "{name}: {}", s.slashed_nodes);
    }
}

/// Issue 16, defects 2 and 3: heavy duplication and reordering; withheld and stalled openings
/// with the protocol's default opening timeout and the shortest window validation accepts.
#[test]
fn duplicates_and_withheld_or_slow_openings_stay_safe() {
    let d = clean("duplicates", 0..40);
    // Issue 12: the network's duplicated answers reach the referee's replay guard (the signed
    // path) and are refused there, and every dispute message went through it.
    let n = |k: &str| d.counters.get(k).copied().unwrap_or(0);
    assert!(n("referee_refused_replay") > 0, "{:?}", d.counters);
    assert!(n("dispute_messages_link_authenticated") > n("referee_refused_replay"));
    assert_eq!(n("referee_refused_foreign_signer"), 0);
    for name in ["withheld-openings", "slow-openings"] {
        let s = clean(name, 0..20);
        assert!(s.slashed_nodes >= 20 * 2, "{name}: {}", s.slashed_nodes);
    }
}

/// Issue 16, defect 5: timing values that would overflow are refused at validation, naming
/// the key, and so are back-end limits.
#[test]
fn overflowing_timings_and_back_end_limits_are_refused() {
    let base = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scenarios/standard.toml"
    ))
    .expect("standard.toml");
    let cases = [
        (
            "[timing]\nstep_ms = 2305843009213693952\n",
            "timing.step_ms",
        ),
        (
            "[timing]\nanswer_ms = 18446744073709551615\n",
            "timing.answer_ms",
        ),
        (
            "[timing]\nchallenge_window_ms = 18446744073709551615\n",
            "timing.challenge_window_ms",
        ),
        (
            "[faults]\ncrash_ms = [0, 18446744073709551615]\n",
            "faults.crash_ms",
        ),
    ];
    for (extra, key) in cases {
        let text = format!("{base}\n{extra}");
        let e = pinpoint_sim::Scenario::from_toml_str(&text, "x.toml")
            .expect_err(extra)
            .to_string();
        assert!(e.contains(key), "{extra}: {e}");
    }
    // The network table of standard.toml already exists: replace its latency.
    let text = base.replace(
        "latency_ms = [5, 50]",
        "latency_ms = [0, 18446744073709551615]",
    );
    let e = pinpoint_sim::Scenario::from_toml_str(&text, "x.toml")
        .expect_err("latency")
        .to_string();
    assert!(e.contains("network.latency_ms"), "{e}");
    // More replicas than the one limit (the protocol's, which the wire and the contracts
    // share), whatever the settlement back end.
    for settlement in ["", "settlement = \"embedded\"\n"] {
        let text = format!(
            "{settlement}{}",
            base.replace("trainers = 4", "trainers = 20")
                .replace("replicas = 2", "replicas = 17")
        );
        let e = pinpoint_sim::Scenario::from_toml_str(&text, "x.toml")
            .expect_err("replicas")
            .to_string();
        assert!(e.contains("jobs.replicas") && e.contains("16"), "{e}");
    }
    // A window a withholding trainer could outlast (the protocol's default 30 s timeout).
    let text = format!("{base}\n[timing]\nopening_ms = 30000\nchallenge_window_ms = 27000\n");
    let e = pinpoint_sim::Scenario::from_toml_str(&text, "x.toml")
        .expect_err("window")
        .to_string();
    assert!(e.contains("timing.challenge_window_ms"), "{e}");
}
