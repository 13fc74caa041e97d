//! The embedded chain's durable transaction log: an append-only file of the successful
//! transactions, replayed on start.
//!
//! Format: the 8-byte magic `PINLOG01`, then records
//! `len: u32 LE | check: 4 bytes | payload (len bytes)` with `check` the first 4 bytes of
//! `keccak256(payload)` and payload `time: u64 LE | from: 20 bytes | has_to: u8 | to: 20
//! bytes if has_to | calldata`. Each append is followed by `fsync`. On open, a last record
//! that is short or fails its check (a write torn by a crash) is cut off with a warning; a bad
//! record anywhere before the end is [`ChainError::CorruptLog`].

use std::{
    fs::{File, OpenOptions},
    io::{Read, Write},
    path::{Path, PathBuf},
};

use alloy::primitives::{Address, Bytes, keccak256};

use crate::{Result, error::ChainError};

const MAGIC: &[u8; 8] = b"PINLOG01";
const HEADER: usize = 8;
/// Records larger than this are rejected as corrupt (no real call is anywhere near).
const MAX_RECORD: usize = 16 << 20;

/// One logged transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord {
    /// Block timestamp it executed at.
    pub time: u64,
    /// Sender.
    pub from: Address,
    /// Target (`None`: contract creation).
    pub to: Option<Address>,
    /// Calldata or creation code.
    pub data: Bytes,
}

impl LogRecord {
    pub(crate) fn payload(&self) -> Vec<u8> {
        let mut p = Vec::with_capacity(49 + self.data.len());
        p.extend_from_slice(&self.time.to_le_bytes());
        p.extend_from_slice(self.from.as_slice());
        match self.to {
            Some(to) => {
                p.push(1);
                p.extend_from_slice(to.as_slice());
            }
            None => p.push(0),
        }
        p.extend_from_slice(&self.data);
        p
    }

    fn from_payload(p: &[u8]) -> Option<Self> {
        let time = u64::from_le_bytes(p.get(0..8)?.try_into().ok()?);
        let from = Address::from_slice(p.get(8..28)?);
        let (to, rest) = match p.get(28)? {
            0 => (None, p.get(29..)?),
            1 => (Some(Address::from_slice(p.get(29..49)?)), p.get(49..)?),
            _ => return None,
        };
        Some(LogRecord {
            time,
            from,
            to,
            data: Bytes::copy_from_slice(rest),
        })
    }
}

/// What opening a log found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OpenReport {
    /// Records replayed.
    pub records: usize,
    /// Bytes of a torn last record that were cut off (0 when the log was clean).
    pub dropped_tail_bytes: u64,
}

/// An open log file, positioned for appends.
#[derive(Debug)]
pub(crate) struct TxLog {
    file: File,
}

fn check(payload: &[u8]) -> [u8; 4] {
    let h = keccak256(payload);
    [h[0], h[1], h[2], h[3]]
}

impl TxLog {
    /// Opens (creating if absent) the log at `path`; returns its records. A torn tail is
    /// truncated away and reported (and warned about on stderr).
    pub(crate) fn open(path: &Path) -> Result<(TxLog, Vec<LogRecord>, OpenReport)> {
        let shown = path.display().to_string();
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
            .map_err(ChainError::io(format!("opening {shown}")))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)
            .map_err(ChainError::io(format!("reading {shown}")))?;
        let corrupt = |offset: usize, why: &str| ChainError::CorruptLog {
            path: shown.clone(),
            offset: offset as u64,
            why: why.into(),
        };
        if bytes.len() < HEADER {
            if !MAGIC.starts_with(&bytes) {
                return Err(corrupt(0, "not a pinpoint chain log (bad magic)"));
            }
            // New, or torn while writing the header: start over.
            file.set_len(0)
                .map_err(ChainError::io(format!("truncating {shown}")))?;
            file.write_all(MAGIC)
                .and_then(|()| file.sync_data())
                .map_err(ChainError::io(format!("writing {shown}")))?;
            return Ok((TxLog { file }, Vec::new(), OpenReport::default()));
        }
        if &bytes[..HEADER] != MAGIC {
            return Err(corrupt(0, "not a pinpoint chain log (bad magic)"));
        }
        let mut records = Vec::new();
        let mut at = HEADER;
        let mut torn_at = None;
        while at < bytes.len() {
            let rest = &bytes[at..];
            let Some(len) = rest
                .get(0..4)
                .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
            else {
                torn_at = Some(at);
                break;
            };
            if len > MAX_RECORD {
                return Err(corrupt(at, "record length out of range"));
            }
            let Some(frame) = rest.get(..8 + len) else {
                torn_at = Some(at);
                break;
            };
            let payload = &frame[8..];
            if frame[4..8] != check(payload) {
                if at + 8 + len == bytes.len() {
                    torn_at = Some(at);
                    break;
                }
                return Err(corrupt(at, "checksum mismatch"));
            }
            let rec =
                LogRecord::from_payload(payload).ok_or_else(|| corrupt(at, "malformed record"))?;
            records.push(rec);
            at += 8 + len;
        }
        let mut report = OpenReport {
            records: records.len(),
            dropped_tail_bytes: 0,
        };
        if let Some(at) = torn_at {
            report.dropped_tail_bytes = (bytes.len() - at) as u64;
            eprintln!(
                "warning: {shown}: dropped a torn last record ({} bytes) left by an interrupted write; \
                 {} records kept",
                report.dropped_tail_bytes, report.records
            );
            file.set_len(at as u64)
                .and_then(|()| file.sync_data())
                .map_err(ChainError::io(format!("truncating {shown}")))?;
        }
        Ok((TxLog { file }, records, report))
    }

    /// Appends one record and syncs it to disk.
    pub(crate) fn append(&mut self, rec: &LogRecord) -> Result<()> {
        let payload = rec.payload();
        let len = u32::try_from(payload.len())
            .ok()
            .filter(|&l| l as usize <= MAX_RECORD)
            .ok_or_else(|| ChainError::InvalidArgument("transaction too large to log".into()))?;
        let mut frame = Vec::with_capacity(8 + payload.len());
        frame.extend_from_slice(&len.to_le_bytes());
        frame.extend_from_slice(&check(&payload));
        frame.extend_from_slice(&payload);
        self.file
            .write_all(&frame)
            .and_then(|()| self.file.sync_data())
            .map_err(ChainError::io("appending to the embedded chain log"))
    }
}

/// The log file inside an embedded chain's directory.
pub(crate) fn log_path(dir: &Path) -> PathBuf {
    dir.join("txlog.bin")
}
