//! The node's store: its data directory, content-addressed by blake3.
//!
//! Layout under the store's root:
//! - `blobs/<64 hex>`: a blob, named by the blake3 hash of its bytes ([`Digest::content`]);
//!   specs, checkpoints, step records, final weights, hash-log segments and the executor's
//!   request in flight are all blobs, stored once however many refs name them.
//! - `refs/<job, 64 hex>/<kind>-<step, 12 digits>`: a ref, the hex hash of the blob it names
//!   ([`RefKey`]); specs, weights and requests use step 0.
//! - `quarantine/`: blobs that failed verification, moved aside for the operator.
//!
//! Writes are atomic ([`pinpoint_train::fs::store::write_atomic`]: temp file, fsync, rename,
//! fsync the directory); the blob is written before the ref that names it, so a crash leaves
//! at most an unreferenced blob or a temp file, which [`Store::open`] removes. Every read
//! verifies the blob's hash: a corrupt blob is moved to `quarantine/`, its refs dropped, and
//! the read reports it missing with a warning ([`Store::latest_checkpoint`] then falls back to
//! the previous checkpoint). Retention ([`retention`]) keeps the blobs within the disk budget.
//!
//! A [`Store`] is used by one owner at a time; [`SharedStore`] lends it to the executor's
//! thread and to the node's actors, and serves blobs to peers (`pinpoint_net::BlobStore`);
//! [`StoreActor`] offers it to async callers, its file I/O on tokio's blocking pool.

mod actor;
mod key;
pub mod retention;

pub use actor::{StoreActor, StoreMsg};
pub use key::{Kind, RefKey};

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use pinpoint_protocol::id::JobId;
use pinpoint_train::checkpoint::{self, Checkpoint};
use pinpoint_train::fs::store::write_atomic;
use pinpoint_train::{Digest, StoreError as TrainStoreError};

/// A store error: a failed file operation, or a write over the disk budget.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StoreError {
    /// A file operation failed (the error names the file).
    #[error(transparent)]
    Io(#[from] TrainStoreError),
    /// Retention could not free enough room for a write.
    #[error(
        "the store is over its disk budget: {used_bytes} bytes used, {needed_bytes} more needed, \
         budget {budget_bytes} bytes (raise node.disk_budget_mib)"
    )]
    OverBudget {
        /// Bytes in blobs now.
        used_bytes: u64,
        /// Bytes the write needs.
        needed_bytes: u64,
        /// The budget.
        budget_bytes: u64,
    },
    /// The store's lock was poisoned by a panic while held.
    #[error("the store's lock is poisoned (a thread panicked while writing)")]
    Poisoned,
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |e| StoreError::Io(TrainStoreError::io(path, &e))
}

/// Counters of what the store has done (for the metrics endpoint).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Bytes in referenced blobs.
    pub used_bytes: u64,
    /// Referenced blobs.
    pub blobs: u64,
    /// Corrupt blobs found (and quarantined) since open.
    pub corrupt: u64,
    /// Blobs evicted by retention since open.
    pub evicted: u64,
}

/// The store (module docs).
#[derive(Debug)]
pub struct Store {
    root: PathBuf,
    budget_bytes: u64,
    refs: BTreeMap<RefKey, Digest>,
    /// Size and ref count of each referenced blob.
    blobs: BTreeMap<Digest, (u64, u32)>,
    stats: StoreStats,
}

fn hex(d: &[u8; 32]) -> String {
    Digest(*d).to_hex()
}

impl Store {
    /// Opens (creating if needed) the store in `root` with a disk budget. Leftover temp files
    /// and unreferenced blobs are removed; unreadable refs are skipped. Returns the warnings.
    pub fn open(root: &Path, budget_bytes: u64) -> Result<(Self, Vec<String>), StoreError> {
        let mut s = Self {
            root: root.to_path_buf(),
            budget_bytes,
            refs: BTreeMap::new(),
            blobs: BTreeMap::new(),
            stats: StoreStats::default(),
        };
        for d in [s.blobs_dir(), s.refs_dir(), s.quarantine_dir()] {
            fs::create_dir_all(&d).map_err(io_err(&d))?;
        }
        let mut warnings = Vec::new();
        s.load_refs(&mut warnings)?;
        s.sweep_blobs(&mut warnings)?;
        for w in &warnings {
            tracing::warn!(store = %root.display(), "{w}");
        }
        Ok((s, warnings))
    }

    fn blobs_dir(&self) -> PathBuf {
        self.root.join("blobs")
    }
    fn refs_dir(&self) -> PathBuf {
        self.root.join("refs")
    }
    fn quarantine_dir(&self) -> PathBuf {
        self.root.join("quarantine")
    }
    fn job_dir(&self, job: &JobId) -> PathBuf {
        self.refs_dir().join(hex(job))
    }
    fn ref_path(&self, key: &RefKey) -> PathBuf {
        self.job_dir(&key.job).join(key.file_name())
    }
    /// The path of a blob.
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.blobs_dir().join(digest.to_hex())
    }

    fn load_refs(&mut self, warnings: &mut Vec<String>) -> Result<(), StoreError> {
        let refs_dir = self.refs_dir();
        for job_entry in fs::read_dir(&refs_dir).map_err(io_err(&refs_dir))? {
            let job_entry = job_entry.map_err(io_err(&refs_dir))?;
            let job_path = job_entry.path();
            let Some(job) = job_entry
                .file_name()
                .to_str()
                .and_then(Digest::from_hex)
                .map(|d| d.0)
            else {
                warnings.push(format!(
                    "{}: not a job directory, ignored",
                    job_path.display()
                ));
                continue;
            };
            for entry in fs::read_dir(&job_path).map_err(io_err(&job_path))? {
                let entry = entry.map_err(io_err(&job_path))?;
                let path = entry.path();
                let name = entry.file_name();
                let name = name.to_string_lossy();
                if name.starts_with('.') && name.contains(".tmp.") {
                    fs::remove_file(&path).map_err(io_err(&path))?;
                    continue;
                }
                let Some(key) = RefKey::parse_file_name(job, &name) else {
                    warnings.push(format!("{}: not a ref, ignored", path.display()));
                    continue;
                };
                let text = fs::read_to_string(&path).unwrap_or_default();
                let Some(digest) = Digest::from_hex(text.trim()) else {
                    warnings.push(format!("{}: unreadable ref, removed", path.display()));
                    fs::remove_file(&path).map_err(io_err(&path))?;
                    continue;
                };
                self.refs.insert(key, digest);
            }
        }
        Ok(())
    }

    /// Removes temp files and unreferenced blobs; drops refs whose blob is missing.
    fn sweep_blobs(&mut self, warnings: &mut Vec<String>) -> Result<(), StoreError> {
        let dir = self.blobs_dir();
        let mut present: BTreeMap<Digest, u64> = BTreeMap::new();
        for entry in fs::read_dir(&dir).map_err(io_err(&dir))? {
            let entry = entry.map_err(io_err(&dir))?;
            let path = entry.path();
            let name = entry.file_name();
            match name.to_str().and_then(Digest::from_hex) {
                Some(d) => {
                    let len = entry.metadata().map_err(io_err(&path))?.len();
                    present.insert(d, len);
                }
                None => {
                    // Temp files of interrupted writes and stray files.
                    fs::remove_file(&path).map_err(io_err(&path))?;
                }
            }
        }
        let keys: Vec<(RefKey, Digest)> = self.refs.iter().map(|(k, d)| (*k, *d)).collect();
        for (key, digest) in keys {
            match present.get(&digest) {
                Some(&len) => {
                    let e = self.blobs.entry(digest).or_insert((len, 0));
                    e.1 += 1;
                }
                None => {
                    warnings.push(format!(
                        "{}: its blob {} is missing, ref removed",
                        self.ref_path(&key).display(),
                        digest.to_hex()
                    ));
                    self.drop_ref_file(&key)?;
                    self.refs.remove(&key);
                }
            }
        }
        for (digest, _) in present {
            if !self.blobs.contains_key(&digest) {
                let p = self.blob_path(&digest);
                fs::remove_file(&p).map_err(io_err(&p))?;
            }
        }
        self.recount();
        Ok(())
    }

    fn recount(&mut self) {
        self.stats.used_bytes = self.blobs.values().map(|b| b.0).sum();
        self.stats.blobs = self.blobs.len() as u64;
    }

    fn drop_ref_file(&self, key: &RefKey) -> Result<(), StoreError> {
        let p = self.ref_path(key);
        match fs::remove_file(&p) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err(&p)(e)),
        }
    }

    /// Counters.
    pub fn stats(&self) -> StoreStats {
        self.stats
    }

    /// The disk budget in bytes.
    pub fn budget_bytes(&self) -> u64 {
        self.budget_bytes
    }

    /// The store's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The hash of the blob a ref names.
    pub fn lookup(&self, key: &RefKey) -> Option<Digest> {
        self.refs.get(key).copied()
    }

    /// Every ref of `kind`, in key order.
    pub fn all_of(&self, kind: Kind) -> Vec<RefKey> {
        self.refs
            .keys()
            .filter(|k| k.kind == kind)
            .copied()
            .collect()
    }

    /// All refs of `kind` for `job`, by step ascending.
    pub fn steps(&self, job: &JobId, kind: Kind) -> Vec<u64> {
        self.refs
            .keys()
            .filter(|k| &k.job == job && k.kind == kind)
            .map(|k| k.step)
            .collect()
    }

    /// Stores `bytes` under `key` (replacing what the key named). Retention may evict older
    /// items first; [`StoreError::OverBudget`] if it cannot make room.
    pub fn put(&mut self, key: RefKey, bytes: &[u8]) -> Result<Digest, StoreError> {
        let digest = Digest::content(bytes);
        let new_bytes = if self.blobs.contains_key(&digest) {
            0
        } else {
            bytes.len() as u64
        };
        retention::make_room(self, new_bytes, &key)?;
        if new_bytes > 0 {
            let p = self.blob_path(&digest);
            write_atomic(&p, bytes)?;
            self.blobs.insert(digest, (bytes.len() as u64, 0));
        }
        let dir = self.job_dir(&key.job);
        fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        let ref_path = self.ref_path(&key);
        if let Err(e) = write_atomic(&ref_path, format!("{}\n", digest.to_hex()).as_bytes()) {
            self.release_blob_if_unused(&digest)?;
            return Err(e.into());
        }
        if let Some(e) = self.blobs.get_mut(&digest) {
            e.1 += 1;
        }
        if let Some(old) = self.refs.insert(key, digest) {
            self.unref(&old)?;
        }
        self.recount();
        Ok(digest)
    }

    fn release_blob_if_unused(&mut self, digest: &Digest) -> Result<(), StoreError> {
        if let Some(&(_, 0)) = self.blobs.get(digest) {
            self.blobs.remove(digest);
            let p = self.blob_path(digest);
            fs::remove_file(&p).map_err(io_err(&p))?;
        }
        Ok(())
    }

    /// Drops one reference to `digest`, deleting the blob when none remain.
    fn unref(&mut self, digest: &Digest) -> Result<(), StoreError> {
        if let Some(e) = self.blobs.get_mut(digest) {
            e.1 = e.1.saturating_sub(1);
        }
        self.release_blob_if_unused(digest)
    }

    /// Removes `key` (and its blob if nothing else names it).
    pub fn remove(&mut self, key: &RefKey) -> Result<(), StoreError> {
        if let Some(d) = self.refs.remove(key) {
            self.drop_ref_file(key)?;
            self.unref(&d)?;
            self.recount();
        }
        Ok(())
    }

    /// The verified bytes of a blob by hash (what peers fetch). `None` if absent or corrupt
    /// (then quarantined, with a warning).
    pub fn get_blob(&mut self, digest: &Digest) -> Result<Option<Vec<u8>>, StoreError> {
        if !self.blobs.contains_key(digest) {
            return Ok(None);
        }
        let p = self.blob_path(digest);
        let bytes = match fs::read(&p) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                self.quarantine(digest, "is missing")?;
                return Ok(None);
            }
            Err(e) => return Err(io_err(&p)(e)),
        };
        if Digest::content(&bytes) != *digest {
            self.quarantine(digest, "does not match its hash")?;
            return Ok(None);
        }
        Ok(Some(bytes))
    }

    /// The verified bytes `key` names; `None` if absent or corrupt (module docs).
    pub fn get(&mut self, key: &RefKey) -> Result<Option<Vec<u8>>, StoreError> {
        match self.refs.get(key).copied() {
            Some(d) => self.get_blob(&d),
            None => Ok(None),
        }
    }

    /// Moves a bad blob to `quarantine/` and drops every ref to it.
    fn quarantine(&mut self, digest: &Digest, problem: &str) -> Result<(), StoreError> {
        let p = self.blob_path(digest);
        tracing::warn!(
            blob = %digest.to_hex(),
            "corrupt blob skipped: {} {problem}; moved to quarantine/",
            p.display()
        );
        self.stats.corrupt += 1;
        let to = self.quarantine_dir().join(digest.to_hex());
        match fs::rename(&p, &to) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(&p)(e)),
        }
        let keys: Vec<RefKey> = self
            .refs
            .iter()
            .filter(|(_, d)| *d == digest)
            .map(|(k, _)| *k)
            .collect();
        for k in keys {
            self.refs.remove(&k);
            self.drop_ref_file(&k)?;
        }
        self.blobs.remove(digest);
        self.recount();
        Ok(())
    }

    /// Saves a training checkpoint of `job` (spec `spec_hash`) at the state's step.
    pub fn save_checkpoint(
        &mut self,
        job: JobId,
        spec_hash: Digest,
        state: &pinpoint_train::TrainState,
    ) -> Result<Digest, StoreError> {
        let key = RefKey::checkpoint(job, state.step);
        let (bytes, state_hash) = checkpoint::encode(spec_hash, state).map_err(|e| {
            StoreError::Io(TrainStoreError::new(
                self.ref_path(&key),
                pinpoint_train::StoreProblem::State(e),
            ))
        })?;
        self.put(key, &bytes)?;
        Ok(state_hash)
    }

    /// The newest checkpoint of `job` that verifies (blob hash, then the checkpoint format,
    /// spec hash and state hash). Newer bad ones are quarantined and skipped with a warning.
    pub fn latest_checkpoint(
        &mut self,
        job: &JobId,
        spec_hash: Digest,
    ) -> Result<Option<Checkpoint>, StoreError> {
        self.checkpoint_at_most(job, spec_hash, u64::MAX)
    }

    /// The newest checkpoint of `job` at a step `≤ at_most` that verifies (as
    /// [`Store::latest_checkpoint`]): where a replay to step `at_most` starts.
    pub fn checkpoint_at_most(
        &mut self,
        job: &JobId,
        spec_hash: Digest,
        at_most: u64,
    ) -> Result<Option<Checkpoint>, StoreError> {
        let steps = self.steps(job, Kind::Checkpoint);
        for step in steps.into_iter().rev().filter(|s| *s <= at_most) {
            let key = RefKey::checkpoint(*job, step);
            let Some(digest) = self.lookup(&key) else {
                continue;
            };
            let Some(bytes) = self.get_blob(&digest)? else {
                continue;
            };
            match checkpoint::decode(&bytes, Some(spec_hash)) {
                Ok(c) if c.state.step == step => return Ok(Some(c)),
                Ok(c) => {
                    let problem = format!("holds step {}, its ref says {step}", c.state.step);
                    self.quarantine(&digest, &problem)?;
                }
                Err(p) => self.quarantine(&digest, &p.to_string())?,
            }
        }
        Ok(None)
    }
}

/// A [`Store`] shared between the node's actors and the executor's thread (one user at a
/// time; operations are short file writes).
#[derive(Debug, Clone)]
pub struct SharedStore(Arc<Mutex<Store>>);

impl SharedStore {
    /// Shares `store`.
    pub fn new(store: Store) -> Self {
        Self(Arc::new(Mutex::new(store)))
    }

    /// Locks the store.
    pub fn lock(&self) -> Result<MutexGuard<'_, Store>, StoreError> {
        self.0.lock().map_err(|_| StoreError::Poisoned)
    }
}

/// Peers fetch blobs by hash through the transport; each is verified before it is served (a
/// corrupt one is quarantined and reported missing).
impl pinpoint_net::BlobStore for SharedStore {
    fn open(&self, hash: &[u8; 32]) -> Option<pinpoint_net::BlobReader> {
        let bytes = self.lock().ok()?.get_blob(&Digest(*hash)).ok()??;
        Some(pinpoint_net::BlobReader::from_bytes(bytes))
    }
}

#[cfg(test)]
mod tests;
