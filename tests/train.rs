//! End-to-end tests of `pinpoint train`: files written, reproducibility, resume, clear errors.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// Dev-dependencies are shared by every test, bench and example target; each uses some.
#![allow(unused_crate_dependencies)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const EXAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples");

fn pinpoint(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pinpoint"))
        .args(args)
        .output()
        .expect("the pinpoint binary runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn ok(o: &Output) {
    assert!(
        o.status.success(),
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status,
        text(&o.stdout),
        text(&o.stderr)
    );
}

struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let p =
            std::env::temp_dir().join(format!("pinpoint-cli-train-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Self(p)
    }
    fn path(&self, rel: &str) -> String {
        self.0.join(rel).to_str().unwrap().to_string()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Writes `dir/name`: the example spec `example` with each `(from, to)` replaced in turn.
fn edited_example(dir: &Path, name: &str, example: &str, edits: &[(&str, &str)]) -> String {
    let mut spec = std::fs::read_to_string(Path::new(EXAMPLES).join(example)).unwrap();
    for (from, to) in edits {
        spec = spec.replace(from, to);
    }
    let p = dir.join(name);
    std::fs::write(&p, spec).unwrap();
    p.to_str().unwrap().to_string()
}

/// examples/mlp.toml with 6 steps, a checkpoint every 2 and an eval every 3.
fn small_mlp(dir: &Path) -> String {
    edited_example(
        dir,
        "small.toml",
        "mlp.toml",
        &[
            ("steps = 2000", "steps = 6"),
            ("checkpoint_every = 250", "checkpoint_every = 2"),
            ("every = 250", "every = 3"),
        ],
    )
}

fn train(spec: &str, out: &str, threads: &str) -> Output {
    pinpoint(&["train", "--spec", spec, "--out", out, "--threads", threads])
}

#[test]
fn train_writes_the_run_files_and_is_thread_independent() {
    let s = Scratch::new("files");
    let spec = small_mlp(&s.0);
    let o = train(&spec, &s.path("a"), "1");
    ok(&o);
    assert!(
        text(&o.stderr).contains("done: steps 0..6"),
        "{}",
        text(&o.stderr)
    );
    ok(&train(&spec, &s.path("b"), "2"));
    let a = std::fs::read_to_string(s.0.join("a/hashes.txt")).unwrap();
    assert_eq!(a.lines().count(), 7);
    assert_eq!(
        a,
        std::fs::read_to_string(s.0.join("b/hashes.txt")).unwrap()
    );
    for f in [
        "spec.toml",
        "final.safetensors",
        "metrics.jsonl",
        "checkpoints/ckpt-000000000006.ppck",
    ] {
        assert!(s.0.join("a").join(f).exists(), "{f}");
    }
    let sum: serde_json::Value =
        serde_json::from_slice(&std::fs::read(s.0.join("a/summary.json")).unwrap()).unwrap();
    assert_eq!(sum["final_step"], 6);
    assert_eq!(sum["loss"].as_array().unwrap().len(), 6);
    let evals: Vec<u64> = sum["eval"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["step"].as_u64().unwrap())
        .collect();
    assert_eq!(evals, vec![3, 6]);
    assert_eq!(
        sum["final_state_hash"].as_str().unwrap(),
        a.lines().last().unwrap()
    );
    assert!(sum["wall_time_s"].as_f64().is_some());

    // The same --out again: refused, pointing at --resume.
    let o = train(&spec, &s.path("a"), "1");
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("--resume"), "{}", text(&o.stderr));
    // A different job into it: refused too.
    let o = pinpoint(&[
        "train",
        "--spec",
        &spec,
        "--out",
        &s.path("a"),
        "--steps",
        "4",
    ]);
    assert!(
        text(&o.stderr).contains("different run"),
        "{}",
        text(&o.stderr)
    );

    // Resuming a finished run changes nothing.
    let o = pinpoint(&["train", "--resume", &s.path("a")]);
    ok(&o);
    assert_eq!(
        a,
        std::fs::read_to_string(s.0.join("a/hashes.txt")).unwrap()
    );
}

fn damage(path: &Path, how: &str) {
    let mut b = std::fs::read(path).unwrap();
    match how {
        "flip" => {
            let i = b.len() / 2;
            b[i] ^= 1;
        }
        _ => b.truncate(b.len() - 100),
    }
    std::fs::write(path, b).unwrap();
}

#[test]
fn resume_skips_a_damaged_newest_checkpoint_with_a_warning() {
    let s = Scratch::new("resume");
    let spec = small_mlp(&s.0);
    ok(&train(&spec, &s.path("full"), "1"));
    let full = std::fs::read_to_string(s.0.join("full/hashes.txt")).unwrap();
    for (how, word) in [("flip", "corrupted"), ("truncate", "truncated")] {
        let d = s.0.join(how);
        ok(&train(&spec, d.to_str().unwrap(), "1"));
        let newest = d.join("checkpoints/ckpt-000000000006.ppck");
        damage(&newest, how);
        // A torn tail on the hash log, as after a crash.
        let mut log = std::fs::read(d.join("hashes.txt")).unwrap();
        log.extend_from_slice(b"abc");
        std::fs::write(d.join("hashes.txt"), log).unwrap();
        let o = pinpoint(&["train", "--resume", d.to_str().unwrap(), "--threads", "2"]);
        ok(&o);
        let err = text(&o.stderr);
        assert!(
            err.contains("warning: skipping invalid checkpoint"),
            "{err}"
        );
        assert!(err.contains(newest.to_str().unwrap()), "{err}");
        assert!(err.contains(word), "{err}");
        assert!(
            err.contains("resuming") && err.contains("at step 4"),
            "{err}"
        );
        assert_eq!(
            full,
            std::fs::read_to_string(d.join("hashes.txt")).unwrap(),
            "{how}"
        );
    }
}

#[test]
fn wrong_spec_for_the_checkpoints_is_an_error() {
    let s = Scratch::new("wrongspec");
    let spec = small_mlp(&s.0);
    let out = s.path("run");
    ok(&train(&spec, &out, "1"));
    let sp = s.0.join("run/spec.toml");
    let changed = std::fs::read_to_string(&sp)
        .unwrap()
        .replace("seed = 7", "seed = 8");
    std::fs::write(&sp, changed).unwrap();
    let o = pinpoint(&["train", "--resume", &out]);
    assert_eq!(o.status.code(), Some(2));
    let err = text(&o.stderr);
    assert!(err.contains("ckpt-000000000006.ppck"), "{err}");
    assert!(err.contains("wrong spec for this checkpoint"), "{err}");
    // Tracing with a spec that is not the run's.
    let o = pinpoint(&[
        "train",
        "--spec",
        &spec,
        "--out",
        &out,
        "--trace-step",
        "3",
        "--steps",
        "5",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).contains("wrong spec for the run"),
        "{}",
        text(&o.stderr)
    );
}

#[test]
fn malformed_specs_name_the_file_and_the_problem() {
    let s = Scratch::new("badspec");
    let good = std::fs::read_to_string(Path::new(EXAMPLES).join("mlp.toml")).unwrap();
    let cases = [
        (
            "syntax.toml",
            good.replace("steps = 2000", "steps = = 2000"),
            "line 3",
        ),
        (
            "unknown.toml",
            good.replace("seed = 7", "seed = 7\nsed = 8"),
            "sed",
        ),
        (
            "range.toml",
            good.replace("lr = 0.05", "lr = 50.0"),
            "optimizer.lr",
        ),
        (
            "mismatch.toml",
            good.replace("classes = 3\nactivation", "classes = 4\nactivation"),
            "model.classes",
        ),
    ];
    for (name, body, needle) in cases {
        let p = s.0.join(name);
        std::fs::write(&p, body).unwrap();
        let o = train(p.to_str().unwrap(), &s.path("out"), "1");
        assert_eq!(o.status.code(), Some(2), "{name}");
        let err = text(&o.stderr);
        assert!(err.contains(p.to_str().unwrap()), "{name}: {err}");
        assert!(err.contains(needle), "{name}: {err}");
        assert!(!s.0.join("out").exists(), "{name}: nothing written");
    }
    let o = train(&s.path("missing.toml"), &s.path("out"), "1");
    assert!(
        text(&o.stderr).contains("missing.toml"),
        "{}",
        text(&o.stderr)
    );
}

#[test]
fn trace_step_prints_the_nodes_of_a_step() {
    let s = Scratch::new("trace");
    let spec = small_mlp(&s.0);
    let out = s.path("run");
    ok(&train(&spec, &out, "1"));
    let hashes = std::fs::read_to_string(s.0.join("run/hashes.txt")).unwrap();
    let h5 = hashes.lines().nth(5).unwrap();
    // From S_0, no files.
    let before = std::fs::read_dir(&s.0).unwrap().count();
    let o = pinpoint(&["train", "--spec", &spec, "--trace-step", "5"]);
    ok(&o);
    assert_eq!(before, std::fs::read_dir(&s.0).unwrap().count());
    let plain = text(&o.stdout);
    assert!(plain.contains("replayed from S_0"), "{plain}");
    assert!(plain.contains(&format!("h(S_5) = {h5}")), "{plain}");
    assert!(plain.contains("sgd_step"), "{plain}");
    assert!(
        plain
            .lines()
            .any(|l| l.trim_start().starts_with("0  matmul")),
        "{plain}"
    );
    // From the run's checkpoint of step 4, checked against its hashes.txt.
    let o = pinpoint(&["train", "--out", &out, "--trace-step", "5"]);
    ok(&o);
    let from_ckpt = text(&o.stdout);
    assert!(from_ckpt.contains("ckpt-000000000004.ppck"), "{from_ckpt}");
    assert!(
        from_ckpt.contains("matches the run's hashes.txt"),
        "{from_ckpt}"
    );
    // Same node list and hashes either way.
    let body = |t: &str| {
        t.lines()
            .filter(|l| !l.starts_with('#'))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(body(&plain), body(&from_ckpt));
    let o = pinpoint(&["train", "--spec", &spec, "--trace-step", "7"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("1..=6"), "{}", text(&o.stderr));
}

#[test]
fn addition_example_runs_and_help_explains_the_flags() {
    let s = Scratch::new("addition");
    let spec = format!("{EXAMPLES}/addition.toml");
    let o = pinpoint(&[
        "train",
        "--spec",
        &spec,
        "--out",
        &s.path("add"),
        "--steps",
        "2",
    ]);
    ok(&o);
    assert!(
        text(&o.stderr).contains("exact_match"),
        "{}",
        text(&o.stderr)
    );
    let o = pinpoint(&["train", "--help"]);
    ok(&o);
    let help = text(&o.stdout);
    for flag in [
        "--spec",
        "--out",
        "--resume",
        "--steps",
        "--threads",
        "--trace-step",
    ] {
        assert!(help.contains(flag), "{flag}: {help}");
    }
    // The examples of the command's own docs are shown (a doc comment on the subcommand
    // variant used to replace them).
    for example in [
        "Examples:",
        "pinpoint train --spec examples/mlp.toml --out runs/mlp",
        "pinpoint train --resume runs/mlp",
        "pinpoint train --spec examples/mlp.toml --trace-step 3",
    ] {
        assert!(help.contains(example), "{example}: {help}");
    }
    let o = pinpoint(&["train", "--resume", &s.path("add"), "--steps", "3"]);
    assert_eq!(o.status.code(), Some(2));
}

/// A transformer on a user's text file, identified by its content hash: the path is resolved
/// next to the spec, a wrong hash is refused, and the run resumes with identical hashes.
#[test]
fn text_file_job_runs_and_a_wrong_content_hash_is_refused() {
    let s = Scratch::new("text");
    let corpus: String = (0..200)
        .map(|i| format!("line {i}: the quick brown fox jumps over the lazy dog\n"))
        .collect();
    std::fs::write(s.0.join("corpus.txt"), &corpus).unwrap();
    let hash = pinpoint_train::Digest::content(corpus.as_bytes()).to_hex();
    let spec = |h: &str| {
        format!(
            "seed = 7\nsteps = 4\ncheckpoint_every = 2\nbatch_size = 4\n\
             [model]\nkind = \"transformer\"\nvocab = 299\ncontext = 16\nlayers = 1\n\
             width = 16\nheads = 2\nmlp_ratio = 2\n\
             [data]\nkind = \"text\"\npath = \"corpus.txt\"\nblake3 = \"{h}\"\n\
             [optimizer]\nkind = \"adamw\"\nlr = 0.001\nbeta1 = 0.9\nbeta2 = 0.99\n\
             eps = 1e-8\nweight_decay = 0.0\n\
             [eval]\nevery = 2\nbatches = 1\nbatch_size = 4\n"
        )
    };
    std::fs::write(s.0.join("text.toml"), spec(&hash)).unwrap();
    let out = train(&s.path("text.toml"), &s.path("run"), "1");
    ok(&out);
    let hashes = std::fs::read_to_string(s.0.join("run/hashes.txt")).unwrap();
    assert_eq!(hashes.lines().count(), 5, "h(S_0) … h(S_4)");

    // The same job again gives the same hashes.
    let again = train(&s.path("text.toml"), &s.path("run2"), "2");
    ok(&again);
    assert_eq!(
        hashes,
        std::fs::read_to_string(s.0.join("run2/hashes.txt")).unwrap()
    );

    // A file whose content does not match the spec's hash is refused, naming the file.
    let wrong = "0".repeat(64);
    std::fs::write(s.0.join("wrong.toml"), spec(&wrong)).unwrap();
    let bad = train(&s.path("wrong.toml"), &s.path("run3"), "1");
    assert_eq!(bad.status.code(), Some(2), "{}", text(&bad.stderr));
    let err = text(&bad.stderr);
    assert!(err.contains("corpus.txt"), "{err}");
    assert!(!s.0.join("run3/hashes.txt").exists());
}

/// Ctrl-C (SIGINT) stops a run at its last completed step, checkpoints it and prints the
/// exact resume command; resuming gives the hashes of an uninterrupted run.
#[test]
fn ctrl_c_checkpoints_and_the_resumed_run_has_identical_hashes() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;

    let s = Scratch::new("sigint");
    let spec_path = edited_example(
        &s.0,
        "long.toml",
        "addition.toml",
        &[
            ("steps = 4000", "steps = 80"),
            ("checkpoint_every = 250", "checkpoint_every = 5"),
            ("every = 250", "every = 80"),
        ],
    );

    let full = s.path("full");
    ok(&train(&spec_path, &full, "2"));

    let cut = s.path("cut");
    let mut child = Command::new(env!("CARGO_BIN_EXE_pinpoint"))
        .args([
            "train",
            "--spec",
            &spec_path,
            "--out",
            &cut,
            "--threads",
            "2",
        ])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = Vec::new();
    // Wait for the first progress line of a checkpoint, then interrupt.
    for line in lines.by_ref() {
        let line = line.unwrap();
        let progress = line.starts_with("checkpoint at step");
        seen.push(line);
        if progress {
            break;
        }
    }
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    seen.extend(lines.map(Result::unwrap));
    let status = child.wait().unwrap();
    let stderr = seen.join("\n");
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("interrupted: step "), "{stderr}");
    let resume = format!("pinpoint train --resume {cut}");
    assert!(stderr.contains(&resume), "{stderr}");

    ok(&pinpoint(&["train", "--resume", &cut]));
    let hashes = |dir: &str| std::fs::read_to_string(Path::new(dir).join("hashes.txt")).unwrap();
    assert_eq!(hashes(&cut), hashes(&full));
}
