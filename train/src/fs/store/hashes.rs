//! `hashes.txt`: `h(S_0) … h(S_T)`, one per line.
//!
//! Every line is exactly 65 bytes: 64 lower-case hex characters and `'\n'`, so line `t` is
//! `h(S_t)` at byte offset `65·t`. Each hash is appended with one write; after a crash the file
//! holds complete lines and possibly one torn last line, which [`HashLog::open`] drops. A run
//! resuming from the checkpoint of step `c` keeps the first `c + 1` lines
//! ([`HashLog::truncate`]) and appends from there. Call [`HashLog::sync`] before writing a
//! checkpoint, so that the log always covers every checkpoint on disk.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::digest::Digest;
use crate::error::{StoreError, StoreProblem};
use crate::fs::store::read_file;

/// Bytes per line.
pub const LINE_LEN: usize = 65;

/// An open `hashes.txt`, positioned at its end.
#[derive(Debug)]
pub struct HashLog {
    path: PathBuf,
    file: File,
    len: u64,
}

/// Parses complete lines; `torn_ok` accepts (and ignores) a partial last line.
fn parse(path: &Path, bytes: &[u8], torn_ok: bool) -> Result<Vec<Digest>, StoreError> {
    let full = bytes.len() / LINE_LEN;
    if !torn_ok && !bytes.len().is_multiple_of(LINE_LEN) {
        return Err(StoreError::new(
            path,
            StoreProblem::HashLine {
                line: full + 1,
                problem: "incomplete line (expected 64 hex digits and a newline)".to_string(),
            },
        ));
    }
    (0..full)
        .map(|i| {
            let line = &bytes[i * LINE_LEN..(i + 1) * LINE_LEN];
            let bad = |problem: &str| {
                StoreError::new(
                    path,
                    StoreProblem::HashLine {
                        line: i + 1,
                        problem: problem.to_string(),
                    },
                )
            };
            if line[64] != b'\n' {
                return Err(bad("expected 64 hex digits and a newline"));
            }
            if !line[..64]
                .iter()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
            {
                return Err(bad("not 64 lower-case hex digits"));
            }
            let s = std::str::from_utf8(&line[..64]).expect("invariant: ASCII");
            Digest::from_hex(s).ok_or_else(|| bad("not a hash"))
        })
        .collect()
}

/// Reads a complete `hashes.txt` strictly: every line must be whole and valid.
pub fn read_hashes(path: &Path) -> Result<Vec<Digest>, StoreError> {
    parse(path, &read_file(path)?, false)
}

impl HashLog {
    /// Opens (or creates) the log, drops a torn last line, and returns the log with the
    /// hashes it holds. Any malformed complete line is an error naming the file and line.
    pub fn open(path: &Path) -> Result<(Self, Vec<Digest>), StoreError> {
        let io = |e: std::io::Error| StoreError::io(path, &e);
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
            .map_err(io)?;
        let bytes = read_file(path)?;
        let hashes = parse(path, &bytes, true)?;
        let len = (hashes.len() * LINE_LEN) as u64;
        if len != bytes.len() as u64 {
            file.set_len(len).map_err(io)?;
            file.sync_all().map_err(io)?;
        }
        Ok((
            Self {
                path: path.to_path_buf(),
                file,
                len,
            },
            hashes,
        ))
    }

    /// Number of hashes in the log.
    pub fn len(&self) -> u64 {
        self.len / LINE_LEN as u64
    }

    /// True when the log holds no hash.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Keeps the first `n` hashes (no-op if there are fewer), durably.
    pub fn truncate(&mut self, n: u64) -> Result<(), StoreError> {
        if n < self.len() {
            self.len = n * LINE_LEN as u64;
            let io = |e: std::io::Error| StoreError::io(&self.path, &e);
            self.file.set_len(self.len).map_err(io)?;
            self.file.sync_all().map_err(io)?;
        }
        Ok(())
    }

    /// Appends one hash line (one write; not synced).
    pub fn append(&mut self, hash: Digest) -> Result<(), StoreError> {
        let mut line = hash.to_hex().into_bytes();
        line.push(b'\n');
        self.file
            .write_all(&line)
            .map_err(|e| StoreError::io(&self.path, &e))?;
        self.len += LINE_LEN as u64;
        Ok(())
    }

    /// fsyncs the log.
    pub fn sync(&self) -> Result<(), StoreError> {
        self.file
            .sync_data()
            .map_err(|e| StoreError::io(&self.path, &e))
    }
}
