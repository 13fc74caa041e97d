//! The checkers catch what they should: a dishonest single referee (beyond the assumption,
//! reported) and bad scenario files; the seeds where the simulator found two protocol bugs
//! (since fixed in the protocol) pass.

use pinpoint_sim::{RecordCache, Scenario, SimError, run_range, run_seed};

use super::shipped;

#[test]
fn a_dishonest_single_referee_slashes_honest_trainers_and_is_reported_beyond() {
    let cache = RecordCache::default();
    let s = run_range(&shipped("dishonest-referee"), 0..10, &cache, |r| {
        assert!(!r.within_assumption);
        assert!(
            r.violations.iter().any(|v| v.contains("honest node")),
            "{:?}",
            r.violations
        );
        assert!(!r.failed());
    })
    .expect("runs");
    assert_eq!((s.within, s.failed, s.beyond_with_violations), (0, 0, 10));
}

#[test]
fn the_seeds_that_found_the_fixed_protocol_bugs_pass() {
    // `lossy` 158: a node-phase start never re-sent (docs/sim.md, "Findings"), fixed in the
    // protocol. (The other finding, `swarm` seed 6, no longer names the same run: issue 16
    // widened the swarm draw, so seed 6 now draws other knobs; the protocol's honest answers
    // carry the chain root in every node answer, which its own tests cover.)
    let cache = RecordCache::default();
    let (name, seed) = ("lossy", 158);
    let r = run_seed(&shipped(name), seed, &cache).expect("run");
    assert!(
        r.within_assumption,
        "{name} {seed}: {:?}",
        r.assumption_breaks
    );
    assert!(r.violations.is_empty(), "{name} {seed}: {:?}", r.violations);
    assert!(!r.disputes.is_empty(), "{name} {seed}: no dispute");
}

fn err(text: &str) -> String {
    match Scenario::from_toml_str(text, "t.toml") {
        Err(SimError::Scenario { detail, .. }) => detail,
        other => panic!("expected a scenario error, got {other:?}"),
    }
}

const BASE: &str = r#"
name = "t"
[nodes]
trainers = 2
arbiters = 1
[jobs]
count = 1
replicas = 2
"#;

#[test]
fn scenario_files_are_validated_with_errors_naming_the_key() {
    assert!(Scenario::from_toml_str(BASE, "t.toml").is_ok());
    assert!(err(&format!("{BASE}bogus = 1\n")).contains("bogus"));
    assert!(err(&format!("{BASE}[network]\ndrop = 1.5\n")).contains("network.drop"));
    assert!(err(&format!("{BASE}[network]\ndorp = 0.1\n")).contains("dorp"));
    assert!(
        err(&BASE.replace("arbiters = 1", "arbiters = 2\ncommittee = 2")).contains("committee")
    );
    assert!(err(&BASE.replace("replicas = 2", "replicas = 3")).contains("jobs.replicas"));
    assert!(err(&BASE.replace("count = 1", "count = 1\nspec = \"gpt\"")).contains("jobs.spec"));
    assert!(
        err(&format!(
            "{BASE}[[strategy]]\nrole = \"verifier\"\nkind = \"wrong-state\"\n"
        ))
        .contains("strategy[0]")
    );
    assert!(
        err(&format!(
            "{BASE}[[strategy]]\nrole = \"trainer\"\nkind = \"wrong-state\"\ncount = 3\n"
        ))
        .contains("strategy[0].count")
    );
    assert!(
        err(&format!(
            "{BASE}[[strategy]]\nrole = \"trainer\"\nkind = \"corrupt-fraction\"\n"
        ))
        .contains("fraction")
    );
    assert!(
        err(&format!("{BASE}[timing]\ncommit_timeout_ms = 10\n")).contains("commit_timeout_ms")
    );
    assert!(err(&format!("{BASE}[faults]\npartition_ms = [9, 1]\n")).contains("partition_ms"));
    assert!(err("name = ").contains("t.toml") || !err("name = ").is_empty());
    assert!(matches!(
        Scenario::load(std::path::Path::new("/nonexistent/x.toml")),
        Err(SimError::Scenario { .. })
    ));
}
