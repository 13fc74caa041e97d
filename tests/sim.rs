//! End-to-end tests of `pinpoint sim`: run with a report, replay's last line, bad input.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

fn pinpoint(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_pinpoint"))
        .args(args)
        .output()
        .expect("the pinpoint binary runs")
}

fn text(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

const STANDARD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/sim/scenarios/standard.toml");

#[test]
fn run_writes_a_report_and_replay_ends_with_the_trace() {
    let dir = std::env::temp_dir().join(format!("pinpoint-sim-{}", std::process::id()));
    let d = dir.to_str().unwrap();
    let o = pinpoint(&[
        "sim",
        "run",
        "--scenario",
        STANDARD,
        "--seeds",
        "0..20",
        "--report",
        d,
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("FAILED (violations)                0"),
        "{}",
        text(&o)
    );
    for f in [
        "summary.json",
        "runs.json",
        "dispute_rounds.svg",
        "finality.svg",
        "detection.svg",
        "slashing.svg",
    ] {
        assert!(dir.join(f).is_file(), "{f} missing");
    }
    let runs: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("runs.json")).unwrap()).unwrap();
    let trace7 = runs[7]["trace"].as_str().unwrap().to_string();
    let o = pinpoint(&["sim", "replay", "--scenario", STANDARD, "--seed", "7"]);
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert_eq!(out.lines().last().unwrap(), format!("trace {trace7}"));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn bad_scenarios_and_seed_ranges_are_clear_errors() {
    let o = pinpoint(&["sim", "run", "--scenario", STANDARD, "--seeds", "9..3"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("seed range"), "{}", text(&o));
    let o = pinpoint(&[
        "sim",
        "replay",
        "--scenario",
        "/nonexistent.toml",
        "--seed",
        "1",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("/nonexistent.toml"), "{}", text(&o));
}
