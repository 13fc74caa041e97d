//! End-to-end tests of `pinpoint devnet` with a tiny MLP job (6 steps): a cheating trainer is
//! disputed, the summary names the re-run operator and the cheater as slashed; with
//! `--cheat none` nobody is disputed and every trainer is paid; bad options are refused before
//! anything starts.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// Dev-dependencies are shared by every test, bench and example target; each uses some.
#![allow(unused_crate_dependencies)]

use std::path::PathBuf;
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

/// The MLP job of the actors' network test (`actors/tests/it/common.rs`), 6 steps, written
/// to a file in a fresh directory named by `tag`.
fn tiny_spec(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pinpoint-devnet-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let spec = dir.join("tiny.toml");
    std::fs::write(
        &spec,
        "seed = 3\nsteps = 6\ncheckpoint_every = 3\nbatch_size = 8\n\
         [model]\nkind = \"mlp\"\ninput = 2\nhidden = [8]\nclasses = 3\nactivation = \"relu\"\n\
         [data]\nkind = \"spirals\"\nclasses = 3\nturns = 1.0\nnoise = 0.05\n\
         [optimizer]\nkind = \"sgd\"\nlr = 0.05\nmomentum = 0.9\nweight_decay = 0.0\n\
         [eval]\nevery = 6\nbatches = 1\nbatch_size = 16\n",
    )
    .unwrap();
    spec
}

#[test]
fn a_cheater_is_caught_at_its_operator_and_slashed() {
    let spec = tiny_spec("cheat");
    let o = pinpoint(&[
        "devnet",
        "--spec",
        spec.to_str().unwrap(),
        "--cheat",
        "wrong-node:3:2",
    ]);
    let all = text(&o);
    assert_eq!(o.status.code(), Some(0), "{all}");
    let out = String::from_utf8_lossy(&o.stdout);
    for want in [
        "cheater: trainer-2 (corrupted the output of operator #2 in step 2 → 3)",
        "dispute #1: trainer-1 (challenger) vs trainer-2 (defendant)",
        "disputed step: 2 → 3",
        "disputed operator: #2 of ",
        "verdict: challenger wins (trainer-2 loses)",
        "slashed: trainer-2 lost 50 PIN",
        "all checks passed",
    ] {
        assert!(out.contains(want), "missing {want:?} in:\n{all}");
    }
    assert!(!out.contains("FAIL"), "{all}");
    // The bisection was shown live (on stderr): the node phase of step 2 → 3.
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("they agree on S_2 and differ on S_3"), "{all}");
    std::fs::remove_dir_all(spec.parent().unwrap()).unwrap();
}

#[test]
fn without_a_cheater_nobody_is_disputed_and_every_trainer_is_paid() {
    let spec = tiny_spec("honest");
    let o = pinpoint(&[
        "devnet",
        "--spec",
        spec.to_str().unwrap(),
        "--cheat",
        "none",
        "--json",
    ]);
    let all = text(&o);
    assert_eq!(o.status.code(), Some(0), "{all}");
    let s: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON summary");
    assert_eq!(s["ok"], true, "{all}");
    assert!(s["cheater"].is_null(), "{all}");
    assert_eq!(s["disputes"].as_array().unwrap().len(), 0, "{all}");
    assert_eq!(s["slashed"].as_array().unwrap().len(), 0, "{all}");
    let payouts = s["payouts"].as_array().unwrap();
    let mut paid: Vec<&str> = payouts
        .iter()
        .map(|p| p["trainer"]["name"].as_str().unwrap())
        .collect();
    paid.sort_unstable();
    assert_eq!(paid, ["trainer-1", "trainer-2", "trainer-3"], "{all}");
    // 1 000 PIN less the 0.5 % fee, in three shares (the first takes the remainder).
    let total: u128 = payouts
        .iter()
        .map(|p| p["amount"].as_str().unwrap().parse::<u128>().unwrap())
        .sum();
    assert_eq!(total, 995 * 10u128.pow(18), "{all}");
    assert_eq!(s["fee"]["fee"], "5000000000000000000", "{all}");
    std::fs::remove_dir_all(spec.parent().unwrap()).unwrap();
}

#[test]
fn bad_options_are_refused_before_anything_starts() {
    let spec = tiny_spec("bad");
    let path = spec.to_str().unwrap();
    let o = pinpoint(&["devnet", "--spec", path, "--cheat", "wrong-node:7:1"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("steps 1..=6"), "{}", text(&o));
    let o = pinpoint(&["devnet", "--spec", path, "--trainers", "1"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("at least 2 trainers"), "{}", text(&o));
    let o = pinpoint(&["devnet", "--cheat", "lie"]);
    assert!(!o.status.success());
    assert!(text(&o).contains("wrong-node"), "{}", text(&o));
    let o = pinpoint(&["devnet", "--help"]);
    assert!(o.status.success());
    assert!(
        text(&o).contains("pinpoint devnet --cheat none"),
        "{}",
        text(&o)
    );
    std::fs::remove_dir_all(spec.parent().unwrap()).unwrap();
}
