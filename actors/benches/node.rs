//! Node benchmarks (issue 13), same machine, same run:
//! - `job/node` against `job/train`: wall time of one training job through a node assembly
//!   (store, supervised executor on its own thread, journal, checkpoints, final weights) and
//!   through `pinpoint train`'s path (`pinpoint_train::fs::run::Run`: spec file, checkpoints,
//!   logs, weights), the example transformer (`examples/addition.toml`) at `JOB_STEPS` steps,
//!   one kernel thread each. Target: node ≤ 1.10 × train.
//! - `dispute/quic`: wall time of a full dispute over QUIC on loopback — from the arbiter's
//!   assignment to its verdict — between an honest trainer and one whose operator is wrong,
//!   for the example transformer at `T = DISPUTE_STEPS`, one arbiter. After criterion's lines,
//!   the bytes of the messages the arbiter and the parties sent (encoded frames).
//!
//! `-- --test` (CI) runs each once with a tiny MLP spec.
// Dev-dependencies are shared by every test, bench and example target; each uses some.
#![allow(unused_crate_dependencies)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use criterion::Criterion;
use pinpoint_actors::conduct::{Cheat, JobState, Observed};
use pinpoint_actors::config::NodeConfig;
use pinpoint_actors::devnet::{Devnet, Plan, Terms};
use pinpoint_actors::executor::{ComputeOutput, ComputeRequest, ExecEvent, ExecutorMsg, TrainJob};
use pinpoint_actors::node::{Node, NodeDeps};
use pinpoint_chain::Role;
use pinpoint_train::{JobSpec, LoadedSpec};
use tokio::runtime::Runtime;

const JOB_STEPS: u64 = 24;
const DISPUTE_STEPS: u64 = 64;

fn test_mode() -> bool {
    std::env::args().any(|a| a == "--test")
}

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/addition.toml")
}

fn tiny() -> &'static str {
    "seed = 3\nsteps = 6\ncheckpoint_every = 3\nbatch_size = 8\n\
     [model]\nkind = \"mlp\"\ninput = 2\nhidden = [8]\nclasses = 3\nactivation = \"relu\"\n\
     [data]\nkind = \"spirals\"\nclasses = 3\nturns = 1.0\nnoise = 0.05\n\
     [optimizer]\nkind = \"sgd\"\nlr = 0.05\nmomentum = 0.9\nweight_decay = 0.0\n\
     [eval]\nevery = 6\nbatches = 1\nbatch_size = 16\n"
}

/// The spec text and the spec, the example cut to `steps` steps (checkpoints every 8 steps,
/// one evaluation of one example at the end), or the tiny MLP in test mode.
fn spec(steps: u64) -> (String, JobSpec) {
    let text = if test_mode() {
        tiny().to_string()
    } else {
        let full = std::fs::read_to_string(example()).expect("examples/addition.toml");
        // Evaluation is `pinpoint train`'s alone (a node does not evaluate): cut to the one
        // evaluation a spec must have, of one example, so both paths do the same work.
        full.replace("steps = 4000\n", &format!("steps = {steps}\n"))
            .replace("checkpoint_every = 250\n", "checkpoint_every = 8\n")
            .replace("every = 250\n", &format!("every = {steps}\n"))
            .replace(
                "batches = 4\nbatch_size = 256\n",
                "batches = 1\nbatch_size = 1\n",
            )
    };
    let spec = LoadedSpec::from_toml_str(&text).expect("spec").spec;
    (text, spec)
}

/// One job through a fresh node assembly; returns its wall time.
async fn node_job(spec: &JobSpec) -> Duration {
    let dir = tempfile::tempdir().expect("tempdir");
    let text =
        "[node]\ndata_dir = \"data\"\n[roles.trainer]\nstake_pin = 1\n[executor]\nthreads = 1\n";
    let config = NodeConfig::from_toml_str(text, dir.path(), "bench").expect("config");
    let (collector, mut rx) = pinpoint_actors::testkit::forward::<ExecEvent>()
        .await
        .expect("collector");
    let started = Instant::now();
    let deps = NodeDeps {
        executor_events: collector.get_derived().into(),
        fault: None,
        inbound: None,
        store: None,
    };
    let node = Node::spawn(&config, deps).await.expect("node");
    let exec = node.executor.get().expect("executor");
    let req = ComputeRequest::Train(TrainJob {
        job: [1; 32],
        spec: spec.clone(),
        text: None,
    });
    ractor::call!(exec, ExecutorMsg::Submit, req)
        .expect("answers")
        .expect("accepted");
    while let Some(e) = rx.recv().await {
        if matches!(e, ExecEvent::Done(ComputeOutput::Trained(_))) {
            break;
        }
    }
    let took = started.elapsed();
    let _ = node.handle.shutdown().await;
    collector.stop(None);
    took
}

/// One job through `pinpoint train`'s path; returns its wall time.
fn train_job(text: &str) -> Duration {
    let dir = tempfile::tempdir().expect("tempdir");
    let spec_path = dir.path().join("spec.toml");
    std::fs::write(&spec_path, text).expect("spec file");
    let started = Instant::now();
    let cx = pinpoint_kernels::Cpu::new(1, pinpoint_kernels::SimdPolicy::Auto).expect("cpu");
    let out = dir.path().join("out");
    let mut run = pinpoint_train::fs::run::Run::create(&spec_path, &out, None, cx).expect("run");
    run.run(&mut |_| {}).expect("trained");
    started.elapsed()
}

/// One dispute over QUIC; returns its wall time (assignment → verdict) and the message bytes
/// the arbiter and the two parties sent (frames, not counting QUIC's headers, acks and path
/// MTU probes).
async fn dispute(spec: &JobSpec) -> (Duration, u64) {
    let dir = tempfile::tempdir().expect("tempdir");
    let cheat = Cheat {
        step: (spec.steps / 2).max(1),
        node: 2,
    };
    let mut plan = Plan::standard(dir.path(), Some(cheat));
    plan.trainers = 2;
    plan.verifiers = 0;
    plan.arbiters = 1;
    plan.committee = 1;
    plan.samples = 0;
    // Training the transformer takes seconds; the deadlines must not end it first.
    plan.deadlines.answer_ms = 60_000;
    let net = Devnet::start(&plan).await.expect("devnet");
    let mut events = net.subscribe();
    let mut terms = Terms::standard(2);
    terms.commit_secs = 1_000_000;
    let job = net.post_job(spec, terms).await.expect("posted");
    let arbiter = net.with_role(Role::Arbiter).next().expect("arbiter");
    let mut assigned = None;
    let mut took = None;
    while took.is_none() {
        match tokio::time::timeout(Duration::from_secs(600), events.recv()).await {
            Ok(Ok((_, Observed::Refereeing { .. }))) => assigned = Some(Instant::now()),
            Ok(Ok((_, Observed::Verdict { .. }))) => took = assigned.map(|t| t.elapsed()),
            Ok(Ok(_)) | Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => {}
            other => panic!("no verdict: {other:?}"),
        }
    }
    // The protocol's bytes: every message the arbiter and the two parties signed and sent
    // (no other messages flow between them with sampling off).
    let mut bytes = arbiter.status().await.expect("status").bytes_sent;
    for t in net.with_role(Role::Trainer) {
        bytes += t.status().await.expect("status").bytes_sent;
    }
    // Let the job finalize, so nothing is cut off mid-transaction.
    for _ in 0..100 {
        let st = net.submitter().status().await.expect("status");
        if st
            .jobs
            .iter()
            .any(|(j, s)| *j == job && *s == JobState::Finalized)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (took.expect("timed"), bytes)
}

fn main() {
    let rt = Runtime::new().expect("runtime");
    let mut c = Criterion::default().configure_from_args().sample_size(10);
    let (text, job_spec) = spec(JOB_STEPS);
    let mut g = c.benchmark_group("job");
    g.bench_function("node", |b| {
        b.iter_custom(|n| (0..n).map(|_| rt.block_on(node_job(&job_spec))).sum())
    });
    g.bench_function("train", |b| {
        b.iter_custom(|n| (0..n).map(|_| train_job(&text)).sum())
    });
    g.finish();
    let (_, dispute_spec) = spec(DISPUTE_STEPS);
    let mut bytes = Vec::new();
    let mut g = c.benchmark_group("dispute");
    g.sample_size(10).measurement_time(Duration::from_secs(1));
    g.bench_function("quic", |b| {
        b.iter_custom(|n| {
            (0..n)
                .map(|_| {
                    let (t, moved) = rt.block_on(dispute(&dispute_spec));
                    bytes.push(moved);
                    t
                })
                .sum()
        })
    });
    g.finish();
    bytes.sort_unstable();
    if let Some(median) = bytes.get(bytes.len() / 2) {
        println!(
            "dispute/quic: T = {}, message bytes sent by the arbiter and both parties: median {median} over {} runs",
            dispute_spec.steps,
            bytes.len()
        );
    }
    c.final_summary();
}
