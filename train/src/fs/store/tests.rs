//! Filesystem tests of the store, each in its own fresh directory under the system temp dir.

use super::*;
use crate::state::tests::sample_state;

/// A fresh, unique directory, removed when dropped.
pub(crate) struct TempDir(pub(crate) PathBuf);

impl TempDir {
    pub(crate) fn new(name: &str) -> Self {
        static N: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "pinpoint-test-{name}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn spec_hash() -> Digest {
    Digest::derive("test", b"job")
}

fn store(dir: &TempDir) -> CheckpointStore {
    CheckpointStore::new(dir.0.join("ckpt"), spec_hash())
}

fn names_file(e: &StoreError, path: &Path) {
    assert_eq!(e.path, path);
    assert!(
        e.to_string().contains(&path.display().to_string()),
        "message does not name the file: {e}"
    );
}

#[test]
fn save_load_list() {
    let dir = TempDir::new("save");
    let st = store(&dir);
    assert!(st.list().unwrap().is_empty());
    st.create_dir().unwrap();
    for step in [10, 0, 5] {
        let (path, h) = st.save(&sample_state(step)).unwrap();
        assert_eq!(path, st.path_for(step));
        assert_eq!(h, sample_state(step).hash().unwrap());
    }
    let steps: Vec<u64> = st.list().unwrap().into_iter().map(|(s, _)| s).collect();
    assert_eq!(steps, vec![0, 5, 10]);
    let c = st.load_step(5).unwrap();
    assert_eq!(c.state, sample_state(5));
    assert_eq!(c.spec_hash, spec_hash());
    // Overwriting is atomic and leaves no temp file behind.
    st.save(&sample_state(5)).unwrap();
    let files: Vec<_> = fs::read_dir(st.dir()).unwrap().collect();
    assert_eq!(files.len(), 3);
    assert_eq!(parse_checkpoint_name("ckpt-000000000005.ppck"), Some(5));
    assert_eq!(parse_checkpoint_name("ckpt-.ppck"), None);
    assert_eq!(
        parse_checkpoint_name(".ckpt-000000000005.ppck.tmp.1.2"),
        None
    );
}

#[test]
fn bad_checkpoints_are_rejected_naming_the_file() {
    let dir = TempDir::new("bad");
    let st = store(&dir);
    st.create_dir().unwrap();
    let (path, _) = st.save(&sample_state(3)).unwrap();
    let good = fs::read(&path).unwrap();

    fs::write(&path, &good[..good.len() / 2]).unwrap();
    let e = st.load(&path).unwrap_err();
    names_file(&e, &path);
    assert!(matches!(e.problem, StoreProblem::Truncated { .. }), "{e}");
    assert!(e.to_string().contains("truncated"), "{e}");

    let mut bad = good.clone();
    bad[120] ^= 1;
    fs::write(&path, &bad).unwrap();
    let e = st.load(&path).unwrap_err();
    names_file(&e, &path);
    assert!(e.to_string().contains("corrupted"), "{e}");

    let mut v2 = good.clone();
    v2[8] = 9;
    fs::write(&path, &v2).unwrap();
    let e = st.load(&path).unwrap_err();
    names_file(&e, &path);
    assert!(
        e.to_string().contains("unsupported checkpoint version 9"),
        "{e}"
    );

    fs::write(&path, &good).unwrap();
    let other = CheckpointStore::new(st.dir(), Digest::derive("test", b"other job"));
    let e = other.load(&path).unwrap_err();
    names_file(&e, &path);
    assert!(matches!(e.problem, StoreProblem::WrongSpec { .. }), "{e}");
    assert!(e.to_string().contains("another job"), "{e}");

    // A valid checkpoint under another step's name.
    let renamed = st.path_for(4);
    fs::copy(&path, &renamed).unwrap();
    let e = st.load(&renamed).unwrap_err();
    assert!(
        matches!(
            e.problem,
            StoreProblem::StepMismatch {
                file_step: 4,
                state_step: 3
            }
        ),
        "{e}"
    );

    let missing = st.path_for(99);
    let e = st.load(&missing).unwrap_err();
    names_file(&e, &missing);
    assert!(matches!(e.problem, StoreProblem::Io(_)));
}

#[test]
fn latest_valid_skips_corrupt_newer_files() {
    let dir = TempDir::new("latest");
    let st = store(&dir);
    assert!(st.latest_valid().unwrap().checkpoint.is_none());
    st.create_dir().unwrap();
    for step in [0, 5, 10, 15] {
        st.save(&sample_state(step)).unwrap();
    }
    // Newest truncated (a torn write that was renamed by a broken filesystem), the one before
    // corrupted; a leftover temp file is ignored.
    let p15 = st.path_for(15);
    let b = fs::read(&p15).unwrap();
    fs::write(&p15, &b[..100]).unwrap();
    let p10 = st.path_for(10);
    let mut b = fs::read(&p10).unwrap();
    let last = b.len() - 1;
    b[last] ^= 0xff;
    fs::write(&p10, &b).unwrap();
    fs::write(st.dir().join(".ckpt-000000000020.ppck.tmp.1.0"), b"partial").unwrap();

    let latest = st.latest_valid().unwrap();
    let (path, c) = latest.checkpoint.unwrap();
    assert_eq!(path, st.path_for(5));
    assert_eq!(c.state, sample_state(5));
    assert_eq!(latest.skipped.len(), 2);
    names_file(&latest.skipped[0], &p15);
    names_file(&latest.skipped[1], &p10);
}

#[test]
fn hash_log_is_append_safe() {
    let dir = TempDir::new("hashes");
    let path = dir.0.join("hashes.txt");
    let hs: Vec<Digest> = (0..4u8).map(|i| Digest::derive("t", &[i])).collect();
    let (mut log, existing) = HashLog::open(&path).unwrap();
    assert!(existing.is_empty() && log.is_empty());
    for h in &hs[..3] {
        log.append(*h).unwrap();
    }
    log.sync().unwrap();
    drop(log);
    assert_eq!(read_hashes(&path).unwrap(), hs[..3]);
    // A torn write of the fourth line.
    let mut f = OpenOptions::new().append(true).open(&path).unwrap();
    f.write_all(&hs[3].to_hex().as_bytes()[..20]).unwrap();
    drop(f);
    let e = read_hashes(&path).unwrap_err();
    names_file(&e, &path);
    assert!(
        matches!(e.problem, StoreProblem::HashLine { line: 4, .. }),
        "{e}"
    );
    let (mut log, existing) = HashLog::open(&path).unwrap();
    assert_eq!(existing, hs[..3]);
    assert_eq!(fs::metadata(&path).unwrap().len(), 3 * 65);
    // Resume from the checkpoint of step 1: keep h(S_0), h(S_1), append again.
    log.truncate(2).unwrap();
    log.append(hs[3]).unwrap();
    assert_eq!(log.len(), 3);
    drop(log);
    assert_eq!(read_hashes(&path).unwrap(), vec![hs[0], hs[1], hs[3]]);
    // A malformed complete line is an error naming the line.
    let mut text = fs::read(&path).unwrap();
    text[65 + 3] = b'G';
    fs::write(&path, &text).unwrap();
    let e = HashLog::open(&path).unwrap_err();
    assert!(
        matches!(e.problem, StoreProblem::HashLine { line: 2, .. }),
        "{e}"
    );
    assert!(e.to_string().contains("line 2"), "{e}");
}

#[test]
fn spec_text_and_safetensors_files() {
    let dir = TempDir::new("files");
    let spec_path = dir.0.join("job.toml");
    fs::write(&spec_path, "seed = 1\nsteps = 0\n").unwrap();
    let e = load_spec(&spec_path).unwrap_err();
    names_file(&e, &spec_path);
    assert!(e.to_string().contains("missing field"), "{e}");
    let example = include_str!("../../../../examples/mlp.toml");
    fs::write(&spec_path, example).unwrap();
    let loaded = load_spec(&spec_path).unwrap();
    assert_eq!(loaded, LoadedSpec::from_toml_str(example).unwrap());

    let text_path = dir.0.join("corpus.txt");
    fs::write(&text_path, b"hello world\n").unwrap();
    let good = Digest::content(b"hello world\n");
    assert_eq!(load_text(&text_path, good).unwrap(), b"hello world\n");
    let e = load_text(&text_path, Digest::content(b"x")).unwrap_err();
    names_file(&e, &text_path);
    assert!(e.to_string().contains("content hash"), "{e}");

    let st_path = dir.0.join("final.safetensors");
    let state = sample_state(2);
    write_safetensors(&st_path, &state.params, &[("step".into(), "2".into())]).unwrap();
    let (tensors, meta) = safetensors::from_bytes(&fs::read(&st_path).unwrap()).unwrap();
    assert_eq!(tensors, state.params);
    assert_eq!(meta, vec![("step".to_string(), "2".to_string())]);
}
