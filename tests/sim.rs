//! End-to-end tests of `pinpoint sim`: run with a report, replay's last line, bad input.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// Dev-dependencies are shared by every test, bench and example target; each uses some.
#![allow(unused_crate_dependencies)]

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

/// Issue 16, defect 7: `--jobs` changes nothing but speed; `--shard I/N` reports merged with
/// `sim merge` equal the report of the whole range.
#[test]
fn jobs_and_shards_give_the_same_results_as_one_run() {
    let dir = std::env::temp_dir().join(format!("pinpoint-sim-shards-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let d = |n: &str| dir.join(n).to_str().unwrap().to_string();
    // `sim run` over seeds 0..60 of the standard scenario, with `extra` arguments.
    let run60 = |extra: &[&str]| {
        let mut args = vec!["sim", "run", "--scenario", STANDARD, "--seeds", "0..60"];
        args.extend_from_slice(extra);
        pinpoint(&args)
    };
    let whole = d("whole");
    let one = run60(&["--jobs", "1", "--json", "--report", &whole]);
    let two = run60(&["--jobs", "2", "--json"]);
    assert_eq!(one.status.code(), Some(0), "{}", text(&one));
    assert_eq!(one.stdout, two.stdout, "--jobs 1 and --jobs 2 differ");
    let summary: serde_json::Value = serde_json::from_slice(&one.stdout).unwrap();
    assert_eq!(summary["runs"], 60);
    for i in 0..3 {
        let shard = format!("{i}/3");
        let report = d(&format!("s{i}"));
        let o = run60(&["--shard", &shard, "--report", &report]);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    }
    let o = pinpoint(&[
        "sim",
        "merge",
        "--out",
        &d("merged"),
        &d("s0"),
        &d("s1"),
        &d("s2"),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    for f in ["summary.json", "runs.json"] {
        assert_eq!(
            std::fs::read(dir.join("merged").join(f)).unwrap(),
            std::fs::read(dir.join("whole").join(f)).unwrap(),
            "{f}"
        );
    }
    // Shards given twice or out of order are refused.
    let o = pinpoint(&["sim", "merge", "--out", &d("bad"), &d("s1"), &d("s0")]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("out of order"), "{}", text(&o));
    let o = pinpoint(&["sim", "run", "--scenario", STANDARD, "--shard", "3/3"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("shard"), "{}", text(&o));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Issue 16, defect 6: a bad `--report` directory is refused before any seed runs.
#[test]
fn a_bad_report_dir_is_refused_before_running() {
    let o = pinpoint(&[
        "sim",
        "run",
        "--scenario",
        STANDARD,
        "--seeds",
        "0..100000",
        "--report",
        "/proc/no-such-dir/report",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("/proc/no-such-dir/report"),
        "{}",
        text(&o)
    );
    assert!(o.stdout.is_empty(), "nothing ran: {}", text(&o));
}

/// Issue 16, defect 6: a reader that goes away (`| head`) ends the process quietly, never
/// with a panic.
#[test]
fn a_closed_pipe_is_not_a_panic() {
    use std::io::BufRead;
    let mut child = Command::new(env!("CARGO_BIN_EXE_pinpoint"))
        .args([
            "sim",
            "replay",
            "--scenario",
            STANDARD,
            "--seed",
            "3",
            "--trace",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.starts_with("t="), "{first}");
    // The reader is gone now (its end of the pipe was dropped with the BufReader).
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_ne!(o.status.code(), Some(101), "{err}");
}
