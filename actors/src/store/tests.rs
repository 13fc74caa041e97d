//! Store tests: round trips and dedupe, corrupt blobs skipped with fallback and quarantined,
//! interrupted writes cleaned up at open, retention within the disk budget.

use std::path::Path;

use pinpoint_kernels::tensor::Tensor;
use pinpoint_train::TrainState;

use super::*;

const JOB: JobId = [7; 32];
const SPEC: Digest = Digest([9; 32]);

fn state(step: u64, fill: f32) -> TrainState {
    let t = Tensor::new(&[4], vec![fill; 4]).expect("tensor");
    TrainState::new(step, vec![("w".into(), t)], Vec::new(), step).expect("state")
}

fn open(root: &Path, budget: u64) -> Store {
    Store::open(root, budget).expect("open").0
}

fn flip_byte(path: &Path, at: usize) {
    let mut b = fs::read(path).expect("read");
    b[at] ^= 0x40;
    fs::write(path, b).expect("write");
}

#[test]
fn put_get_dedupe_and_reopen() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut s = open(tmp.path(), 1 << 20);
    let d = s.put(RefKey::spec(JOB), b"spec bytes").expect("put");
    assert_eq!(d, Digest::content(b"spec bytes"));
    let d2 = s
        .put(RefKey::step_record(JOB, 3), b"spec bytes")
        .expect("put");
    assert_eq!(d, d2);
    assert_eq!(s.stats().blobs, 1, "one blob for two refs");
    assert_eq!(s.stats().used_bytes, 10);
    assert_eq!(
        s.get(&RefKey::spec(JOB)).expect("get").as_deref(),
        Some(&b"spec bytes"[..])
    );
    s.remove(&RefKey::spec(JOB)).expect("remove");
    assert!(s.blob_path(&d).exists(), "still named by the record");
    drop(s);
    let mut s = open(tmp.path(), 1 << 20);
    assert_eq!(s.get(&RefKey::spec(JOB)).expect("get"), None);
    assert_eq!(
        s.get(&RefKey::step_record(JOB, 3)).expect("get").as_deref(),
        Some(&b"spec bytes"[..])
    );
    s.remove(&RefKey::step_record(JOB, 3)).expect("remove");
    assert!(!s.blob_path(&d).exists(), "unreferenced blob deleted");
    assert_eq!(s.stats().used_bytes, 0);
}

#[test]
fn corrupt_checkpoint_is_skipped_with_fallback_and_quarantined() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut s = open(tmp.path(), 1 << 20);
    s.save_checkpoint(JOB, SPEC, &state(2, 1.0)).expect("save");
    s.save_checkpoint(JOB, SPEC, &state(4, 2.0)).expect("save");
    let newest = s.lookup(&RefKey::checkpoint(JOB, 4)).expect("ref");
    flip_byte(&s.blob_path(&newest), 100);
    let c = s
        .latest_checkpoint(&JOB, SPEC)
        .expect("read")
        .expect("the older one");
    assert_eq!(c.state.step, 2);
    assert_eq!(s.stats().corrupt, 1);
    assert_eq!(s.steps(&JOB, Kind::Checkpoint), vec![2]);
    assert!(tmp.path().join("quarantine").join(newest.to_hex()).exists());
    // A truncated blob read by hash is reported missing too.
    let older = s.lookup(&RefKey::checkpoint(JOB, 2)).expect("ref");
    let p = s.blob_path(&older);
    let len = fs::metadata(&p).expect("meta").len();
    fs::OpenOptions::new()
        .write(true)
        .open(&p)
        .and_then(|f| f.set_len(len / 2))
        .expect("truncate");
    assert_eq!(s.get_blob(&older).expect("read"), None);
    assert_eq!(s.latest_checkpoint(&JOB, SPEC).expect("read"), None);
    assert_eq!(s.stats().corrupt, 2);
    // The refs are gone on disk too: a reopened store does not see them.
    drop(s);
    let s = open(tmp.path(), 1 << 20);
    assert!(s.steps(&JOB, Kind::Checkpoint).is_empty());
}

#[test]
fn checkpoint_of_another_spec_is_refused() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut s = open(tmp.path(), 1 << 20);
    s.save_checkpoint(JOB, SPEC, &state(2, 1.0)).expect("save");
    assert_eq!(
        s.latest_checkpoint(&JOB, Digest([1; 32])).expect("read"),
        None
    );
}

/// A crash at any point of a write leaves the old state readable: leftover temp files (the
/// write died before its rename), an unreferenced blob (died between the blob and its ref),
/// a ref whose blob is missing (the blob was lost) are all cleaned up at open.
#[test]
fn interrupted_writes_leave_the_old_state() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path();
    let mut s = open(root, 1 << 20);
    s.put(RefKey::spec(JOB), b"kept").expect("put");
    let blobs = root.join("blobs");
    let job_dir = root.join("refs").join(Digest(JOB).to_hex());
    drop(s);
    fs::write(blobs.join(".abc.tmp.1.2"), b"half a blo").expect("temp blob");
    fs::write(job_dir.join(".ckpt-000000000009.tmp.1.3"), b"12").expect("temp ref");
    let orphan = Digest::content(b"orphan");
    fs::write(blobs.join(orphan.to_hex()), b"orphan").expect("orphan");
    let lost = Digest::content(b"lost");
    fs::write(
        job_dir.join("ckpt-000000000005"),
        format!("{}\n", lost.to_hex()),
    )
    .expect("ref");
    let (mut s, warnings) = Store::open(root, 1 << 20).expect("open");
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("missing"), "{warnings:?}");
    let names: Vec<String> = fs::read_dir(&blobs)
        .expect("ls")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, vec![Digest::content(b"kept").to_hex()]);
    assert_eq!(fs::read_dir(&job_dir).expect("ls").count(), 1);
    assert_eq!(
        s.get(&RefKey::spec(JOB)).expect("get").as_deref(),
        Some(&b"kept"[..])
    );
    assert_eq!(s.stats().used_bytes, 4);
}

#[test]
fn retention_keeps_the_newest_checkpoint_specs_and_weights() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut s = open(tmp.path(), 100);
    s.put(RefKey::spec(JOB), &[1; 20]).expect("spec");
    s.put(RefKey::weights(JOB), &[2; 20]).expect("weights");
    s.put(RefKey::step_record(JOB, 1), &[3; 20])
        .expect("record");
    s.put(RefKey::checkpoint(JOB, 1), &[4; 20]).expect("ckpt 1");
    s.put(RefKey::checkpoint(JOB, 2), &[5; 20]).expect("ckpt 2");
    assert_eq!(s.stats().used_bytes, 100);
    // Checkpoint 3 evicts checkpoint 1 (older), not the record.
    s.put(RefKey::checkpoint(JOB, 3), &[6; 20]).expect("ckpt 3");
    assert_eq!(s.steps(&JOB, Kind::Checkpoint), vec![2, 3]);
    assert_eq!(s.steps(&JOB, Kind::StepRecord), vec![1]);
    // A 40-byte checkpoint needs two evictions: checkpoints 2 and 3 (older checkpoints go
    // before step records).
    s.put(RefKey::checkpoint(JOB, 4), &[7; 40]).expect("ckpt 4");
    assert_eq!(s.steps(&JOB, Kind::Checkpoint), vec![4]);
    assert_eq!(s.steps(&JOB, Kind::StepRecord), vec![1]);
    assert_eq!(s.stats().evicted, 3);
    // 70 bytes cannot fit even after evicting checkpoint 4 and the record: refused, and
    // nothing is evicted.
    let e = s
        .put(RefKey::checkpoint(JOB, 5), &[8; 70])
        .expect_err("full");
    assert!(matches!(e, StoreError::OverBudget { .. }), "{e}");
    assert!(e.to_string().contains("disk_budget_mib"), "{e}");
    assert_eq!(s.steps(&JOB, Kind::Checkpoint), vec![4]);
    assert_eq!(s.steps(&JOB, Kind::StepRecord), vec![1]);
    assert_eq!(s.stats().evicted, 3);
    // 50 bytes fit once checkpoint 4 and the record go; specs and weights always stay.
    s.put(RefKey::checkpoint(JOB, 5), &[8; 50]).expect("ckpt 5");
    assert_eq!(s.steps(&JOB, Kind::Checkpoint), vec![5]);
    assert!(s.steps(&JOB, Kind::StepRecord).is_empty());
    assert!(s.get(&RefKey::spec(JOB)).expect("get").is_some());
    assert!(s.get(&RefKey::weights(JOB)).expect("get").is_some());
    assert!(s.stats().used_bytes <= s.budget_bytes());
}
