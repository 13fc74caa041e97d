//! `metrics.jsonl` (the loss of every step and every evaluation, one JSON object a line) and
//! `summary.json`.
//!
//! Records: `{"kind":"loss","step":t,"loss":x,"lr":r}` after step `t` (`loss` is `null` if it
//! was not finite) and `{"kind":"eval","step":t,"metric":…,"correct":…,"total":…,"value":…,
//! "token_accuracy":…}` after an evaluation of `S_t`. Like `hashes.txt`, the file is appended
//! during the run and cut back to the records of steps `≤ c` when a run resumes from the
//! checkpoint of step `c`; a torn last line is dropped.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{StoreError, StoreProblem, TrainError};
use crate::fs::store::{read_file, write_atomic};
use crate::trainer::EvalReport;

/// One line of `metrics.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Record {
    /// The loss computed by step `step`.
    Loss(LossPoint),
    /// An evaluation of `S_step`.
    Eval(EvalReport),
}

impl Record {
    /// The step the record belongs to.
    pub fn step(&self) -> u64 {
        match self {
            Record::Loss(p) => p.step,
            Record::Eval(e) => e.step,
        }
    }
}

/// The loss of one step.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LossPoint {
    /// Step `t`.
    pub step: u64,
    /// The batch loss of step `t` (`None` if not finite).
    pub loss: Option<f32>,
    /// The learning rate of step `t`.
    pub lr: f32,
}

/// An open `metrics.jsonl`.
#[derive(Debug)]
pub struct MetricsLog {
    path: PathBuf,
    file: File,
    records: Vec<Record>,
}

impl MetricsLog {
    /// Opens (or creates) the log, keeps the records of steps `≤ keep_through` (all complete
    /// lines that parse; a torn or unreadable tail is dropped) and rewrites the file with them.
    pub fn open(path: &Path, keep_through: u64) -> Result<Self, StoreError> {
        let mut records = Vec::new();
        if path.exists() {
            let bytes = read_file(path)?;
            for line in bytes.split(|&b| b == b'\n') {
                match serde_json::from_slice::<Record>(line) {
                    Ok(r) if r.step() <= keep_through => records.push(r),
                    Ok(_) => {}
                    Err(_) => break,
                }
            }
        }
        let mut text = String::new();
        for r in &records {
            text.push_str(&line(path, r)?);
        }
        write_atomic(path, text.as_bytes())?;
        let file = OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(|e| StoreError::io(path, &e))?;
        Ok(Self {
            path: path.to_path_buf(),
            file,
            records,
        })
    }

    /// Appends a record (one write).
    pub fn push(&mut self, r: Record) -> Result<(), StoreError> {
        let l = line(&self.path, &r)?;
        self.file
            .write_all(l.as_bytes())
            .map_err(|e| StoreError::io(&self.path, &e))?;
        self.records.push(r);
        Ok(())
    }

    /// fsyncs the log.
    pub fn sync(&self) -> Result<(), StoreError> {
        self.file
            .sync_data()
            .map_err(|e| StoreError::io(&self.path, &e))
    }

    /// Every record, in order.
    pub fn records(&self) -> &[Record] {
        &self.records
    }
}

fn line(path: &Path, r: &Record) -> Result<String, StoreError> {
    let mut s = serde_json::to_string(r)
        .map_err(|e| StoreError::new(path, StoreProblem::Io(format!("JSON: {e}"))))?;
    s.push('\n');
    Ok(s)
}

/// `summary.json`: what a run did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Hex spec hash.
    pub spec_hash: String,
    /// `T`.
    pub steps: u64,
    /// The step of the last state (`T` for a complete run).
    pub final_step: u64,
    /// Hex `h(S_0)`.
    pub initial_state_hash: String,
    /// Hex `h(S_final_step)`.
    pub final_state_hash: String,
    /// The loss of every step, in order.
    pub loss: Vec<LossPoint>,
    /// Every evaluation, in order.
    pub eval: Vec<EvalReport>,
    /// The checkpoint step this invocation resumed from (`None`: started from `S_0`).
    pub resumed_from: Option<u64>,
    /// Kernel threads of this invocation.
    pub threads: usize,
    /// Steps taken by this invocation.
    pub steps_this_session: u64,
    /// Wall time of this invocation in seconds, as measured by the caller.
    pub wall_time_s: Option<f64>,
}

impl Summary {
    /// Writes the summary as pretty JSON, atomically.
    pub fn write(&self, path: &Path) -> Result<(), TrainError> {
        let mut text = serde_json::to_string_pretty(self)
            .map_err(|e| StoreError::new(path, StoreProblem::Io(format!("JSON: {e}"))))?;
        text.push('\n');
        write_atomic(path, text.as_bytes())?;
        Ok(())
    }
}
