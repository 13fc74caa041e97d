//! The supervised executor: results, crash and resume with identical hashes, the restart
//! intensity, cancellation, one job at a time, and a node restart resuming the journal.

use pinpoint_actors::executor::fault::FaultKind;
use pinpoint_actors::executor::{
    ComputeRequest, ExecError, ExecEvent, ExecutorMsg, FaultPlan, TrainJob,
};
use pinpoint_actors::node::EXECUTOR;
use pinpoint_actors::store::{Kind, RefKey, StoreMsg};
use pinpoint_actors::supervisor::NodeError;
use pinpoint_kernels::{Cpu, SimdPolicy};
use pinpoint_protocol::merkle::StepCommitment;
use pinpoint_train::Trainer;
use pinpoint_train::trainer::StepReport;

use crate::common::{self, JOB, done, node, submit, train};

const STEPS: u64 = 12;

/// `h(S_T)` and the commitment root of an uninterrupted run, computed directly with the
/// trainer (no actors).
fn reference(steps: u64) -> ([u8; 32], [u8; 32]) {
    let cx = Cpu::new(1, SimdPolicy::Auto).expect("cpu");
    let mut tr = Trainer::new(&common::spec(steps), None, cx).expect("trainer");
    let mut leaves = vec![tr.state_hash().0];
    while !tr.done() {
        let r: StepReport = tr.step_once(&Default::default()).expect("step");
        leaves.push(r.hash.0);
    }
    let root = StepCommitment::new(&leaves).expect("commitment").root();
    (tr.state_hash().0, root)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uninterrupted_job_matches_the_trainer() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (n, mut rx, _c) = node(tmp.path(), 3, None).await;
    submit(&n, train(STEPS)).await;
    let (r, events) = done(&mut rx).await;
    let (hash, root) = reference(STEPS);
    assert_eq!((r.final_hash.0, r.root), (hash, root));
    assert_eq!(r.resumed_from, 0);
    let progress = events
        .iter()
        .filter(|e| matches!(e, ExecEvent::Progress { .. }))
        .count();
    assert_eq!(progress as u64, STEPS);
    let ckpts: Vec<u64> = events
        .iter()
        .filter_map(|e| match e {
            ExecEvent::Checkpointed { step, .. } => Some(*step),
            _ => None,
        })
        .collect();
    assert_eq!(ckpts, vec![3, 6, 9, 12]);
    {
        let mut store = n.store.lock().expect("store");
        assert!(store.get(&RefKey::weights(JOB)).expect("read").is_some());
        assert!(
            store.all_of(Kind::Request).is_empty(),
            "journal cleared when done"
        );
    }
    assert_eq!(n.handle.restarts().await, Some(0));
    let net = n
        .network
        .get()
        .expect("the network actor runs beside the executor");
    // The store actor serves the same store to async callers.
    let store = n.store_actor.get().expect("the store actor runs");
    let spec = ractor::call!(store, StoreMsg::Get, RefKey::spec(JOB))
        .expect("answers")
        .expect("reads");
    assert_eq!(spec, Some(common::spec(STEPS).encode().expect("encodes")));
    let weights = ractor::call!(store, StoreMsg::Blob, r.weights)
        .expect("answers")
        .expect("reads")
        .expect("present");
    assert_eq!(pinpoint_train::Digest::content(&weights), r.weights);
    n.handle.shutdown().await.expect("clean shutdown");
    net.wait(None).await.expect("stopped with the node");
}

async fn crash_and_resume(kind: FaultKind, at_step: u64, resumed_from: u64) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let fault = FaultPlan::new(at_step, kind, 1);
    let (n, mut rx, _c) = node(tmp.path(), 3, Some(fault.clone())).await;
    submit(&n, train(STEPS)).await;
    let (r, events) = done(&mut rx).await;
    assert_eq!(fault.remaining(), 0, "the fault fired");
    let (hash, root) = reference(STEPS);
    assert_eq!(r.final_hash.0, hash, "final state hash after a crash");
    assert_eq!(r.root, root, "commitment root after a crash");
    assert_eq!(r.resumed_from, resumed_from);
    let starts: Vec<u64> = events
        .iter()
        .filter_map(|e| match e {
            ExecEvent::Started { from_step, .. } => Some(*from_step),
            _ => None,
        })
        .collect();
    assert_eq!(starts, vec![0, resumed_from]);
    assert_eq!(n.handle.restarts().await, Some(1));
    n.handle.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panic_at_step_k_resumes_from_the_checkpoint_with_identical_hashes() {
    crash_and_resume(FaultKind::Panic, 8, 6).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backend_error_restarts_and_resumes_with_identical_hashes() {
    crash_and_resume(FaultKind::BackendError, 4, 3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exceeding_the_restart_intensity_stops_the_node_naming_the_actor() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let fault = FaultPlan::new(2, FaultKind::Panic, u32::MAX);
    let (n, _rx, _c) = node(tmp.path(), 2, Some(fault)).await;
    submit(&n, train(STEPS)).await;
    let err = n.handle.wait().await.expect_err("the node stops");
    match &err {
        NodeError::RestartIntensity {
            actor,
            max_restarts,
            last_failure,
            ..
        } => {
            assert_eq!(actor, EXECUTOR);
            assert_eq!(*max_restarts, 2);
            assert!(last_failure.contains("injected panic"), "{last_failure}");
        }
        other => panic!("{other:?}"),
    }
    let shown = err.to_string();
    assert!(shown.contains("`executor`"), "{shown}");
    assert!(shown.contains("worker panicked"), "{shown}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_job_at_a_time_and_cancel_checkpoints() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (n, mut rx, _c) = node(tmp.path(), 3, None).await;
    let long = 100_000;
    submit(&n, train(long)).await;
    let exec = common::executor(&n);
    let busy = ractor::call!(exec, ExecutorMsg::Submit, train(5)).expect("answers");
    assert!(
        matches!(busy, Err(ExecError::Busy { job }) if job == JOB),
        "{busy:?}"
    );
    // Wait for some progress, then cancel.
    while let Some(e) = rx.recv().await {
        if matches!(e, ExecEvent::Progress { step, .. } if step >= 2) {
            break;
        }
    }
    let hit = ractor::call!(exec, ExecutorMsg::Cancel, JOB).expect("answers");
    assert!(hit);
    let mut stopped_at = None;
    while let Some(e) = rx.recv().await {
        if let ExecEvent::Cancelled { step, .. } = e {
            stopped_at = Some(step);
            break;
        }
    }
    let step = stopped_at.expect("cancelled");
    assert!(step >= 2 && step < long);
    {
        let store = n.store.lock().expect("store");
        assert_eq!(store.steps(&JOB, Kind::Checkpoint).last(), Some(&step));
        assert!(store.all_of(Kind::Request).is_empty(), "journal cleared");
    }
    assert_eq!(
        ractor::call!(exec, ExecutorMsg::Status).expect("answers"),
        None
    );
    n.handle.shutdown().await.expect("clean shutdown");
}

/// An ordered shutdown checkpoints the step in flight and keeps the journal; a new node on
/// the same data directory resumes the job by itself and ends with identical hashes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_node_resumes_the_journalled_job() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let steps = 60;
    {
        let (n, mut rx, _c) = node(tmp.path(), 3, None).await;
        submit(&n, train(steps)).await;
        while let Some(e) = rx.recv().await {
            if matches!(e, ExecEvent::Progress { step, .. } if step >= 4) {
                break;
            }
        }
        n.handle.shutdown().await.expect("clean shutdown");
    }
    let (n, mut rx, _c) = node(tmp.path(), 3, None).await;
    let (r, _) = done(&mut rx).await;
    assert!(r.resumed_from >= 4, "resumed from {}", r.resumed_from);
    let (hash, root) = reference(steps);
    assert_eq!((r.final_hash.0, r.root), (hash, root));
    n.handle.shutdown().await.expect("clean shutdown");
}

/// An invalid spec is refused at submission, naming the field.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_request_is_refused_up_front() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (n, _rx, _c) = node(tmp.path(), 0, None).await;
    let mut spec = common::spec(STEPS);
    spec.checkpoint_every = 0;
    let bad = ComputeRequest::Train(TrainJob {
        job: JOB,
        spec,
        text: None,
    });
    let r = ractor::call!(common::executor(&n), ExecutorMsg::Submit, bad).expect("answers");
    match r {
        Err(ExecError::InvalidRequest(e)) => assert!(e.contains("checkpoint_every"), "{e}"),
        other => panic!("{other:?}"),
    }
    n.handle.shutdown().await.expect("clean shutdown");
}

/// A job's own fault (text data that does not match the spec's hash) is reported as
/// `Failed`; the executor is not restarted and takes the next job.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_fault_is_reported_and_the_executor_goes_on() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (n, mut rx, _c) = node(tmp.path(), 0, None).await;
    let corpus = b"hello pinpoint, hello world; ".repeat(8);
    let toml = format!(
        "seed = 1\nsteps = 4\ncheckpoint_every = 2\nbatch_size = 2\n\
         [model]\nkind = \"transformer\"\nvocab = 299\ncontext = 8\nlayers = 1\nwidth = 8\n\
         heads = 1\nmlp_ratio = 1\n\
         [data]\nkind = \"text\"\npath = \"corpus.txt\"\nblake3 = \"{}\"\n\
         [optimizer]\nkind = \"sgd\"\nlr = 0.01\nmomentum = 0.0\nweight_decay = 0.0\n\
         [eval]\nevery = 4\nbatches = 1\nbatch_size = 2\n",
        pinpoint_train::Digest::content(&corpus).to_hex()
    );
    let spec = pinpoint_train::LoadedSpec::from_toml_str(&toml)
        .expect("valid spec")
        .spec;
    let wrong_text = ComputeRequest::Train(TrainJob {
        job: JOB,
        spec,
        text: Some(std::sync::Arc::new(b"another corpus entirely".repeat(8))),
    });
    // Each submission follows the previous one's `Failed` at once: the executor must have
    // let go of the failed job by the time it reports it (not answer `Busy`).
    for _ in 0..25 {
        submit(&n, wrong_text.clone()).await;
        let error = loop {
            match rx.recv().await.expect("events") {
                ExecEvent::Failed { job, error } => {
                    assert_eq!(job, JOB);
                    break error;
                }
                ExecEvent::Done(_) => panic!("a job with the wrong text finished"),
                _ => {}
            }
        };
        assert!(error.contains("hash"), "{error}");
    }
    assert!(
        n.store
            .lock()
            .expect("store")
            .all_of(Kind::Request)
            .is_empty(),
        "journal cleared"
    );
    // max_restarts = 0: a restart would have stopped the node. It takes the next job.
    submit(&n, train(STEPS)).await;
    let (r, _) = done(&mut rx).await;
    assert_eq!(r.final_hash.0, reference(STEPS).0);
    assert_eq!(n.handle.restarts().await, Some(0));
    n.handle.shutdown().await.expect("clean shutdown");
}

/// A node stops mid-job (its restart limit is 0); its newest checkpoint is then corrupted on
/// disk. The next node on the same data directory skips it with a warning, resumes from the
/// previous one, and ends with the hashes of an uninterrupted run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_skips_a_corrupt_checkpoint_with_identical_hashes() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let fault = FaultPlan::new(11, FaultKind::BackendError, 1);
    let (n, _rx, _c) = node(tmp.path(), 0, Some(fault)).await;
    submit(&n, train(STEPS)).await;
    let store = n.store.clone();
    let err = n
        .handle
        .wait()
        .await
        .expect_err("the node stops at step 11");
    assert!(err.to_string().contains("backend error"), "{err}");
    let blob = {
        let s = store.lock().expect("store");
        assert_eq!(s.steps(&JOB, Kind::Checkpoint), vec![3, 6, 9]);
        s.blob_path(&s.lookup(&RefKey::checkpoint(JOB, 9)).expect("ref"))
    };
    drop(store);
    let mut bytes = std::fs::read(&blob).expect("read");
    let mid = bytes.len() / 2;
    bytes[mid] ^= 1;
    std::fs::write(&blob, bytes).expect("corrupt");
    let (n, mut rx, _c) = node(tmp.path(), 0, None).await;
    let (r, _) = done(&mut rx).await;
    assert_eq!(r.resumed_from, 6, "checkpoint 9 is corrupt");
    let (hash, root) = reference(STEPS);
    assert_eq!((r.final_hash.0, r.root), (hash, root));
    assert_eq!(n.store.lock().expect("store").stats().corrupt, 1);
    n.handle.shutdown().await.expect("clean shutdown");
}
