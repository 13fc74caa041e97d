//! The trainer and run directories: reproducibility across runs and thread counts, resume from
//! every checkpoint, corrupted checkpoints, golden first-step hashes of the example jobs, and a
//! loss that falls.

use std::path::{Path, PathBuf};

use pinpoint_kernels::{Cpu, SimdPolicy};
use pinpoint_train::fs::run::{Event, Run, RunDir};
use pinpoint_train::fs::store::load_spec;
use pinpoint_train::trainer::Trainer;
use pinpoint_train::{JobSpec, LoadedSpec};

const EXAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples");
const GOLDEN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden");

/// A fresh directory under the system temp dir, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let p =
            std::env::temp_dir().join(format!("pinpoint-it-train-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Self(p)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A tiny transformer learning 2-digit addition: a few ms per step.
const TINY_ADDITION: &str = r#"
seed = 11
steps = 6
checkpoint_every = 2
batch_size = 8
[model]
kind = "transformer"
vocab = 15
context = 8
layers = 1
width = 16
heads = 2
mlp_ratio = 2
[data]
kind = "addition"
digits = 2
[optimizer]
kind = "adamw"
lr = 0.01
beta1 = 0.9
beta2 = 0.98
eps = 1e-8
weight_decay = 0.01
[schedule]
warmup_steps = 3
[eval]
every = 3
batches = 2
batch_size = 16
"#;

/// A tiny MLP on spirals.
const TINY_MLP: &str = r#"
seed = 5
steps = 6
checkpoint_every = 2
batch_size = 16
[model]
kind = "mlp"
input = 2
hidden = [16]
classes = 3
activation = "tanh"
[data]
kind = "spirals"
classes = 3
turns = 1.0
noise = 0.05
[optimizer]
kind = "sgd"
lr = 0.1
momentum = 0.9
weight_decay = 0.001
[eval]
every = 4
batches = 1
batch_size = 32
"#;

fn write_spec(dir: &Path, text: &str) -> PathBuf {
    let p = dir.join("job.toml");
    std::fs::write(&p, text).unwrap();
    p
}

fn run_to_end(spec: &Path, out: &Path, cx: Cpu) -> Vec<u8> {
    let mut run = Run::create(spec, out, None, cx).unwrap();
    let summary = run.run(&mut |_| {}).unwrap();
    summary.write(&run.dir().summary()).unwrap();
    std::fs::read(out.join("hashes.txt")).unwrap()
}

#[test]
fn runs_and_thread_counts_give_identical_hashes() {
    let s = Scratch::new("repro");
    for (name, text) in [("add", TINY_ADDITION), ("mlp", TINY_MLP)] {
        let spec = write_spec(&s.0, text);
        let a = run_to_end(&spec, &s.0.join(format!("{name}-a")), Cpu::single());
        let b = run_to_end(&spec, &s.0.join(format!("{name}-b")), Cpu::single());
        let c = run_to_end(
            &spec,
            &s.0.join(format!("{name}-c")),
            Cpu::new(2, SimdPolicy::Auto).unwrap(),
        );
        let d = run_to_end(&spec, &s.0.join(format!("{name}-d")), Cpu::scalar());
        assert_eq!(a.len(), 65 * 7, "{name}: h(S_0) … h(S_6)");
        assert_eq!(a, b, "{name}: two runs differ");
        assert_eq!(a, c, "{name}: 1 thread vs 2 threads differ");
        assert_eq!(a, d, "{name}: SIMD vs scalar differ");
        let files = ["final.safetensors", "summary.json", "metrics.jsonl"];
        for f in files {
            assert!(s.0.join(format!("{name}-a")).join(f).exists(), "{f}");
        }
    }
}

fn copy_dir(from: &Path, to: &Path, keep_ckpt: impl Fn(u64) -> bool) {
    std::fs::create_dir_all(to.join("checkpoints")).unwrap();
    for f in ["spec.toml", "hashes.txt", "metrics.jsonl"] {
        std::fs::copy(from.join(f), to.join(f)).unwrap();
    }
    for e in std::fs::read_dir(from.join("checkpoints")).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().into_string().unwrap();
        let step: u64 = name[5..17].parse().unwrap();
        if keep_ckpt(step) {
            std::fs::copy(e.path(), to.join("checkpoints").join(&name)).unwrap();
        }
    }
}

fn summary_json(dir: &Path) -> serde_json::Value {
    let mut v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap()).unwrap();
    let o = v.as_object_mut().unwrap();
    for k in [
        "resumed_from",
        "steps_this_session",
        "wall_time_s",
        "threads",
    ] {
        o.remove(k);
    }
    v
}

#[test]
fn resuming_from_each_checkpoint_reproduces_the_remaining_hashes() {
    let s = Scratch::new("resume");
    let spec = write_spec(&s.0, TINY_ADDITION);
    let full_dir = s.0.join("full");
    let full = run_to_end(&spec, &full_dir, Cpu::single());
    let full_summary = summary_json(&full_dir);
    // Checkpoints 2, 4, 6 (and none at all: restart from S_0). The copied logs run to step 6,
    // as after a crash past the checkpoint; resume must cut them back.
    for c in [0u64, 2, 4, 6] {
        let d = s.0.join(format!("from-{c}"));
        copy_dir(&full_dir, &d, |step| step <= c);
        let (mut run, warnings) = Run::resume(&d, Cpu::new(2, SimdPolicy::Auto).unwrap()).unwrap();
        assert_eq!(run.trainer().step(), c);
        assert_eq!(warnings.len(), usize::from(c == 0), "{warnings:?}");
        let summary = run.run(&mut |_| {}).unwrap();
        summary.write(&run.dir().summary()).unwrap();
        assert_eq!(
            std::fs::read(d.join("hashes.txt")).unwrap(),
            full,
            "from {c}"
        );
        assert_eq!(summary_json(&d), full_summary, "from {c}");
        assert_eq!(
            std::fs::read(d.join("final.safetensors")).unwrap(),
            std::fs::read(full_dir.join("final.safetensors")).unwrap()
        );
    }
    // An interrupted run (stopped after step 3, between checkpoints) continues identically.
    let d = s.0.join("interrupted");
    let mut run = Run::create(&spec, &d, None, Cpu::single()).unwrap();
    run.run_until(3, &mut |_| {}).unwrap();
    drop(run);
    let (mut run, _) = Run::resume(&d, Cpu::single()).unwrap();
    assert_eq!(run.trainer().step(), 2);
    run.run(&mut |_| {}).unwrap();
    assert_eq!(std::fs::read(d.join("hashes.txt")).unwrap(), full);
}

#[test]
fn a_corrupt_newest_checkpoint_is_skipped_on_resume() {
    let s = Scratch::new("corrupt");
    let spec = write_spec(&s.0, TINY_MLP);
    let full_dir = s.0.join("full");
    let full = run_to_end(&spec, &full_dir, Cpu::single());
    let d = s.0.join("torn");
    copy_dir(&full_dir, &d, |_| true);
    let newest = RunDir::new(&d).checkpoints().join("ckpt-000000000006.ppck");
    let mut bytes = std::fs::read(&newest).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    std::fs::write(&newest, &bytes).unwrap();
    let (mut run, warnings) = Run::resume(&d, Cpu::single()).unwrap();
    assert_eq!(run.trainer().step(), 4);
    assert_eq!(warnings.len(), 1);
    assert!(
        warnings[0].contains("ckpt-000000000006.ppck"),
        "{}",
        warnings[0]
    );
    assert!(warnings[0].contains("corrupted"), "{}", warnings[0]);
    run.run(&mut |_| {}).unwrap();
    assert_eq!(std::fs::read(d.join("hashes.txt")).unwrap(), full);
    // The corrupted file was replaced by a valid one.
    let (run, warnings) = Run::resume(&d, Cpu::single()).unwrap();
    assert!(warnings.is_empty());
    assert_eq!(run.trainer().step(), 6);
}

#[test]
fn an_existing_run_is_not_overwritten() {
    let s = Scratch::new("overwrite");
    let spec = write_spec(&s.0, TINY_MLP);
    let out = s.0.join("out");
    run_to_end(&spec, &out, Cpu::single());
    let e = Run::create(&spec, &out, None, Cpu::single())
        .unwrap_err()
        .to_string();
    assert!(e.contains("--resume"), "{e}");
    let e = Run::create(&spec, &out, Some(3), Cpu::single())
        .unwrap_err()
        .to_string();
    assert!(e.contains("different run"), "{e}");
}

fn example(name: &str) -> LoadedSpec {
    load_spec(&Path::new(EXAMPLES).join(name)).unwrap()
}

/// `h(S_0) … h(S_n)` of a spec, one hex line each.
fn first_hashes(spec: &JobSpec, n: u64, cx: Cpu) -> String {
    let mut t = Trainer::new(spec, None, cx).unwrap();
    let mut out = format!("{}\n", t.state_hash());
    for _ in 0..n {
        let r = t.step_once(&Default::default()).unwrap();
        out.push_str(&format!("{}\n", r.hash));
    }
    out
}

/// Every node hash `h(out(v_i))` of the first two steps of the examples is the same on one
/// thread (nodes run and hashed one after the other) as on pools of 2 and 3 threads (a node's
/// hash overlapped with the next node's compute), scalar and SIMD.
#[test]
fn node_hashes_of_the_examples_are_the_same_in_every_mode() {
    for file in ["addition.toml", "mlp.toml"] {
        let spec = example(file).spec;
        let node_hashes = |cx: Cpu| {
            let mut t = Trainer::new(&spec, None, cx).unwrap();
            (0..2)
                .map(|_| t.step_once(&Default::default()).unwrap().node_hashes)
                .collect::<Vec<_>>()
        };
        let want = node_hashes(Cpu::single());
        for (mode, cx) in [
            ("scalar/1", Cpu::scalar()),
            ("auto/2", Cpu::new(2, SimdPolicy::Auto).unwrap()),
            ("scalar/2", Cpu::new(2, SimdPolicy::Scalar).unwrap()),
            ("auto/3", Cpu::new(3, SimdPolicy::Auto).unwrap()),
        ] {
            assert!(node_hashes(cx) == want, "{file}: auto/1 vs {mode}");
        }
    }
}

/// Golden `h(S_0) … h(S_3)` of `examples/addition.toml` and `examples/mlp.toml`.
///
/// These hashes change whenever an example's numbers (seed, model, data, optimizer, batch
/// size, warmup) or the RepOps math change. Regenerate them with
/// `PINPOINT_BLESS=1 cargo test -p pinpoint-kernels --test it train::golden` and commit the
/// files with the change that caused it.
#[test]
fn golden_first_steps_of_the_examples() {
    for (file, golden) in [
        ("addition.toml", "train_addition.txt"),
        ("mlp.toml", "train_mlp.txt"),
    ] {
        let spec = example(file).spec;
        let got = first_hashes(&spec, 3, Cpu::single());
        // The same bits scalar and SIMD, at 1, 2 and 3 threads.
        for (mode, cx) in [
            ("scalar/1", Cpu::scalar()),
            ("auto/2", Cpu::new(2, SimdPolicy::Auto).unwrap()),
            ("scalar/2", Cpu::new(2, SimdPolicy::Scalar).unwrap()),
            ("auto/3", Cpu::new(3, SimdPolicy::Auto).unwrap()),
        ] {
            let other = first_hashes(&spec, 3, cx);
            assert_eq!(got, other, "{file}: auto/1 vs {mode}");
        }
        let path = Path::new(GOLDEN).join(golden);
        let header = format!(
            "# h(S_0) … h(S_3) of examples/{file}, one per line.\n\
             # Re-bless when the example or the RepOps math changes:\n\
             # PINPOINT_BLESS=1 cargo test -p pinpoint-kernels --test it train::golden\n"
        );
        if std::env::var_os("PINPOINT_BLESS").is_some() {
            std::fs::write(&path, format!("{header}{got}")).unwrap();
            eprintln!("blessed {}", path.display());
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let want: String = text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| format!("{l}\n"))
            .collect();
        assert_eq!(
            got,
            want,
            "{file}: first-step hashes differ from {}",
            path.display()
        );
    }
}

#[test]
fn mlp_example_loss_decreases() {
    let spec = example("mlp.toml").spec;
    let mut t = Trainer::new(&spec, None, Cpu::new(2, SimdPolicy::Auto).unwrap()).unwrap();
    let mut losses = Vec::new();
    for _ in 0..60 {
        losses.push(t.step_once(&Default::default()).unwrap().loss);
    }
    let first: f32 = losses[..10].iter().sum::<f32>() / 10.0;
    let last: f32 = losses[50..].iter().sum::<f32>() / 10.0;
    assert!(last < 0.9 * first, "loss {first} → {last}");
    let e = t.evaluate().unwrap();
    assert_eq!(e.metric, "accuracy");
    assert!(e.value > 0.4, "{e:?}");
}

#[test]
fn run_events_come_in_order() {
    let s = Scratch::new("events");
    let spec = write_spec(&s.0, TINY_MLP);
    let mut run = Run::create(&spec, &s.0.join("out"), None, Cpu::single()).unwrap();
    let mut seen = Vec::new();
    run.run(&mut |e| {
        seen.push(match e {
            Event::Step(r) => format!("s{}", r.step),
            Event::Eval(r) => format!("e{}", r.step),
            Event::Checkpoint { step, .. } => format!("c{step}"),
        })
    })
    .unwrap();
    assert_eq!(seen.join(" "), "s1 s2 c2 s3 s4 e4 c4 s5 s6 e6 c6");
}
