//! Built-in tiny job specs and the cache of run records: training is deterministic, so the
//! honest record of a spec is computed once (real RepOps training, every node traced) and
//! shared by every run through an [`Arc`]; forged records are cached by their forgery.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use pinpoint_kernels::Cpu;
use pinpoint_kernels::train::LoadedSpec;
use pinpoint_protocol::merkle::StepCommitment;

use crate::error::{Result, SimError};
use crate::glue::dispute::{self, RunRecord};

/// Names of the built-in specs.
pub const BUILTIN_SPECS: [&str; 2] = ["mlp-tiny", "mlp-small"];

fn spec_text(steps: u64, hidden: u64) -> String {
    format!(
        r#"
seed = 5
steps = {steps}
checkpoint_every = {steps}
batch_size = 4
[model]
kind = "mlp"
input = 2
hidden = [{hidden}]
classes = 2
activation = "relu"
[data]
kind = "spirals"
classes = 2
turns = 0.5
noise = 0.0
[optimizer]
kind = "adamw"
lr = 0.01
beta1 = 0.9
beta2 = 0.99
eps = 1e-8
weight_decay = 0.0
[schedule]
warmup_steps = 2
[eval]
every = {steps}
batches = 1
batch_size = 8
"#
    )
}

/// The TOML of a built-in spec: `mlp-tiny` (2-4-2 MLP, T = 8) or `mlp-small` (2-8-2, T = 16).
pub fn builtin_spec(name: &str) -> Option<String> {
    match name {
        "mlp-tiny" => Some(spec_text(8, 4)),
        "mlp-small" => Some(spec_text(16, 8)),
        _ => None,
    }
}

/// Number of steps `T` of a built-in spec.
pub fn builtin_steps(name: &str) -> Option<u64> {
    match name {
        "mlp-tiny" => Some(8),
        "mlp-small" => Some(16),
        _ => None,
    }
}

/// A record with its commitment.
#[derive(Debug)]
pub struct Committed {
    /// The record (shared).
    pub record: Arc<RunRecord>,
    /// Its step commitment (for openings).
    pub commitment: StepCommitment,
    /// The transitions `t` (1-based) whose `S_{t−1} → S_t` is not the honest function.
    pub corrupt: BTreeSet<u64>,
}

impl Committed {
    fn new(record: RunRecord, corrupt: BTreeSet<u64>) -> Result<Self> {
        let commitment = StepCommitment::new(&record.state_hashes)?;
        Ok(Self {
            record: Arc::new(record),
            commitment,
            corrupt,
        })
    }

    /// The signed root.
    pub fn root(&self) -> [u8; 32] {
        self.commitment.root()
    }

    /// Number of steps `T`.
    pub fn steps(&self) -> u64 {
        self.record.steps.len() as u64
    }
}

/// What a cheater's record deviates in (the cache key).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Forgery {
    /// Corrupted transitions (1-based, non-empty).
    pub corrupt: BTreeSet<u64>,
    /// A wrong node output `(step, node index)`.
    pub node: Option<(u64, usize)>,
    /// Tells independent cheaters apart; colluders share it.
    pub salt: u64,
}

/// One spec's honest record, its graph size and its forgeries.
#[derive(Debug)]
pub struct SpecRecords {
    /// The honest run.
    pub honest: Arc<Committed>,
    /// Nodes per step graph, `N`.
    pub nodes: u64,
    forged: Mutex<BTreeMap<Forgery, Arc<Committed>>>,
}

impl SpecRecords {
    /// The record of `forgery` (built once).
    pub fn forged(&self, forgery: &Forgery) -> Result<Arc<Committed>> {
        let mut map = self.forged.lock().map_err(|_| SimError::Spec {
            name: "forged records".into(),
            detail: "cache lock poisoned".into(),
        })?;
        if let Some(c) = map.get(forgery) {
            return Ok(Arc::clone(c));
        }
        let rec = dispute::forge(
            &self.honest.record,
            &forgery.corrupt,
            forgery.node,
            forgery.salt,
        )?;
        let c = Arc::new(Committed::new(rec, forgery.corrupt.clone())?);
        map.insert(forgery.clone(), Arc::clone(&c));
        Ok(c)
    }
}

/// Honest records per spec name, built on a chosen CPU configuration.
#[derive(Debug)]
pub struct RecordCache {
    cpu: Cpu,
    specs: Mutex<BTreeMap<String, Arc<SpecRecords>>>,
}

impl Default for RecordCache {
    fn default() -> Self {
        Self::new(Cpu::single())
    }
}

impl RecordCache {
    /// A cache that trains on `cpu` (the records do not depend on it: RepOps).
    pub fn new(cpu: Cpu) -> Self {
        Self {
            cpu,
            specs: Mutex::new(BTreeMap::new()),
        }
    }

    /// The records of built-in spec `name`, training it on first use.
    pub fn get(&self, name: &str) -> Result<Arc<SpecRecords>> {
        let err = |detail: String| SimError::Spec {
            name: name.into(),
            detail,
        };
        let mut map = self
            .specs
            .lock()
            .map_err(|_| err("cache lock poisoned".into()))?;
        if let Some(s) = map.get(name) {
            return Ok(Arc::clone(s));
        }
        let text = builtin_spec(name).ok_or_else(|| err("unknown built-in spec".into()))?;
        let spec = LoadedSpec::from_toml_str(&text)
            .map_err(|e| err(e.to_string()))?
            .spec;
        let rec = dispute::honest_record(&spec, self.cpu.clone())?;
        let nodes = dispute::graph_nodes(&rec);
        let s = Arc::new(SpecRecords {
            honest: Arc::new(Committed::new(rec, BTreeSet::new())?),
            nodes,
            forged: Mutex::new(BTreeMap::new()),
        });
        map.insert(name.into(), Arc::clone(&s));
        Ok(s)
    }
}
