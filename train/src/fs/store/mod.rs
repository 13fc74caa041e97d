//! The filesystem side of a training run: the one module of this crate that does I/O. Every
//! function takes the paths it works on; every error names the file and the problem.
//!
//! - [`write_atomic`]: temp file in the same directory, write, fsync, rename, fsync the
//!   directory. A reader sees the old file or the new one, never a torn one.
//! - [`CheckpointStore`]: checkpoints `ckpt-<step, 12 digits>.ppck` of one job in one
//!   directory; loads verify everything ([`crate::checkpoint`]);
//!   [`CheckpointStore::latest_valid`] skips (and reports) invalid files.
//! - [`HashLog`]: `hashes.txt`, one `h(S_t)` per line, append-only and repairable.
//! - [`load_spec`], [`load_text`], [`write_safetensors`]: the other files of a run.

pub mod hashes;

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::checkpoint::{self, Checkpoint};
use crate::digest::Digest;
use crate::error::{DataError, StoreError, StoreProblem};
use crate::safetensors;
use crate::spec::LoadedSpec;
use crate::state::TrainState;
use pinpoint_kernels::tensor::Tensor;

pub use hashes::{HashLog, read_hashes};

/// File name prefix of checkpoints.
pub const CHECKPOINT_PREFIX: &str = "ckpt-";
/// File name suffix of checkpoints.
pub const CHECKPOINT_SUFFIX: &str = ".ppck";

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Reads a whole file.
pub fn read_file(path: &Path) -> Result<Vec<u8>, StoreError> {
    fs::read(path).map_err(|e| StoreError::io(path, &e))
}

/// Writes `bytes` to `path` atomically: a temp file `.<name>.tmp.<pid>.<n>` in the same
/// directory is created, written, fsynced and renamed over `path`; then the directory is
/// fsynced (on Unix). On error the temp file is removed.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| StoreError::new(path, StoreProblem::Io("no file name".to_string())))?;
    let tmp = dir.join(format!(
        ".{}.tmp.{}.{}",
        name.to_string_lossy(),
        std::process::id(),
        TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(|e| StoreError::io(&tmp, &e))?;
        f.write_all(bytes).map_err(|e| StoreError::io(&tmp, &e))?;
        f.sync_all().map_err(|e| StoreError::io(&tmp, &e))?;
        drop(f);
        fs::rename(&tmp, path).map_err(|e| StoreError::io(path, &e))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result?;
    sync_dir(&dir)
}

/// fsyncs a directory (Unix; a no-op elsewhere).
pub fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    #[cfg(unix)]
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| StoreError::io(dir, &e))?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Reads and validates a TOML spec file; errors name the file.
pub fn load_spec(path: &Path) -> Result<LoadedSpec, StoreError> {
    let bytes = read_file(path)?;
    let text = String::from_utf8(bytes)
        .map_err(|_| StoreError::new(path, StoreProblem::Io("not UTF-8 text".to_string())))?;
    LoadedSpec::from_toml_str(&text).map_err(|e| StoreError::new(path, StoreProblem::Spec(e)))
}

/// Reads a text data file and checks its blake3 content hash.
pub fn load_text(path: &Path, expected: Digest) -> Result<Vec<u8>, StoreError> {
    let bytes = read_file(path)?;
    let actual = Digest::content(&bytes);
    if actual != expected {
        return Err(StoreError::new(
            path,
            StoreProblem::Data(DataError::TextHashMismatch { expected, actual }),
        ));
    }
    Ok(bytes)
}

/// Writes named tensors as a safetensors file, atomically.
pub fn write_safetensors(
    path: &Path,
    tensors: &[(String, Tensor)],
    metadata: &[(String, String)],
) -> Result<(), StoreError> {
    let bytes = safetensors::to_bytes(tensors, metadata)
        .map_err(|e| StoreError::new(path, StoreProblem::State(e)))?;
    write_atomic(path, &bytes)
}

/// The checkpoints of one job in one directory.
#[derive(Debug, Clone)]
pub struct CheckpointStore {
    dir: PathBuf,
    spec_hash: Digest,
}

/// Result of [`CheckpointStore::latest_valid`].
#[derive(Debug)]
pub struct LatestValid {
    /// The newest checkpoint that verified, with its path.
    pub checkpoint: Option<(PathBuf, Checkpoint)>,
    /// Newer checkpoints that failed verification, newest first: warnings to report.
    pub skipped: Vec<StoreError>,
}

/// The step of a checkpoint file name, if it is one.
pub fn parse_checkpoint_name(name: &str) -> Option<u64> {
    let digits = name
        .strip_prefix(CHECKPOINT_PREFIX)?
        .strip_suffix(CHECKPOINT_SUFFIX)?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

impl CheckpointStore {
    /// The store of job `spec_hash` in `dir` (nothing is touched yet).
    pub fn new(dir: impl Into<PathBuf>, spec_hash: Digest) -> Self {
        Self {
            dir: dir.into(),
            spec_hash,
        }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Creates the directory (and parents) if missing.
    pub fn create_dir(&self) -> Result<(), StoreError> {
        fs::create_dir_all(&self.dir).map_err(|e| StoreError::io(&self.dir, &e))
    }

    /// Path of the checkpoint of `step`.
    pub fn path_for(&self, step: u64) -> PathBuf {
        self.dir
            .join(format!("{CHECKPOINT_PREFIX}{step:012}{CHECKPOINT_SUFFIX}"))
    }

    /// Writes the checkpoint of `state` atomically; returns its path and `h(state)`.
    pub fn save(&self, state: &TrainState) -> Result<(PathBuf, Digest), StoreError> {
        let path = self.path_for(state.step);
        let (bytes, hash) = checkpoint::encode(self.spec_hash, state)
            .map_err(|e| StoreError::new(&path, StoreProblem::State(e)))?;
        write_atomic(&path, &bytes)?;
        Ok((path, hash))
    }

    /// Loads and verifies a checkpoint file (magic, version, length, checksum, spec hash,
    /// state, state hash, and the step in its name when it has a checkpoint name).
    pub fn load(&self, path: &Path) -> Result<Checkpoint, StoreError> {
        let bytes = read_file(path)?;
        let c = checkpoint::decode(&bytes, Some(self.spec_hash))
            .map_err(|p| StoreError::new(path, p))?;
        if let Some(file_step) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(parse_checkpoint_name)
            && file_step != c.state.step
        {
            return Err(StoreError::new(
                path,
                StoreProblem::StepMismatch {
                    file_step,
                    state_step: c.state.step,
                },
            ));
        }
        Ok(c)
    }

    /// Loads the checkpoint of `step`.
    pub fn load_step(&self, step: u64) -> Result<Checkpoint, StoreError> {
        self.load(&self.path_for(step))
    }

    /// Checkpoint files in the directory, by step ascending (temp files and other names are
    /// ignored). A missing directory has none.
    pub fn list(&self) -> Result<Vec<(u64, PathBuf)>, StoreError> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(StoreError::io(&self.dir, &e)),
        };
        let mut out = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| StoreError::io(&self.dir, &e))?;
            if let Some(step) = entry.file_name().to_str().and_then(parse_checkpoint_name) {
                out.push((step, entry.path()));
            }
        }
        out.sort();
        Ok(out)
    }

    /// The newest checkpoint that verifies. Newer files that fail are skipped and returned
    /// as warnings; they are never used.
    pub fn latest_valid(&self) -> Result<LatestValid, StoreError> {
        let mut skipped = Vec::new();
        for (_, path) in self.list()?.into_iter().rev() {
            match self.load(&path) {
                Ok(c) => {
                    return Ok(LatestValid {
                        checkpoint: Some((path, c)),
                        skipped,
                    });
                }
                Err(e) => skipped.push(e),
            }
        }
        Ok(LatestValid {
            checkpoint: None,
            skipped,
        })
    }
}

#[cfg(test)]
pub(crate) mod tests;
