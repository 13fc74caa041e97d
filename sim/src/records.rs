//! Built-in tiny job specs and the cache of run records: training is deterministic, so the
//! honest record of a spec is computed once (real RepOps training, every node traced) and
//! shared by every run through an [`Arc`], with the referee's spec-derived re-execution
//! ([`SpecReexec`]); forged runs' hashes and commitments are cached by their forgery.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use pinpoint_kernels::Cpu;
use pinpoint_protocol::merkle::StepCommitment;
use pinpoint_train::LoadedSpec;

use crate::error::{Result, SimError};
use crate::glue::dispute::{self, Forge, RunRecord, SpecReexec};
use pinpoint_protocol::dispute::RunSource;

/// Names of the built-in specs.
pub const BUILTIN_SPECS: [&str; 2] = ["mlp-tiny", "mlp-small"];

fn spec_text(steps: u64, hidden: u64) -> String {
    pinpoint_train::spec::TinyMlp {
        seed: 5,
        steps,
        checkpoint_every: steps,
        hidden,
        activation: "relu",
        warmup_steps: 2,
        eval_every: steps,
    }
    .toml()
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

/// A run a trainer commits to: its state hashes, its commitment and how it was forged.
#[derive(Debug)]
pub struct Committed {
    /// `h(S_0) … h(S_T)` as committed.
    pub state_hashes: Vec<[u8; 32]>,
    /// Its step commitment (for openings).
    pub commitment: StepCommitment,
    /// The transitions `t` (1-based) whose `S_{t−1} → S_t` is not the honest function.
    pub corrupt: BTreeSet<u64>,
    /// `None` for the honest run.
    pub forgery: Option<Forgery>,
}

impl Committed {
    fn new(state_hashes: Vec<[u8; 32]>, forgery: Option<Forgery>) -> Result<Self> {
        let commitment = StepCommitment::new(&state_hashes)?;
        let corrupt = forgery
            .as_ref()
            .map(|f| f.forge.corrupt_transitions())
            .unwrap_or_default();
        Ok(Self {
            state_hashes,
            commitment,
            corrupt,
            forgery,
        })
    }

    /// The signed root.
    pub fn root(&self) -> [u8; 32] {
        self.commitment.root()
    }

    /// Number of steps `T`.
    pub fn steps(&self) -> u64 {
        self.state_hashes.len().saturating_sub(1) as u64
    }
}

/// What a cheater's run deviates in (the cache key).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Forgery {
    /// The corruption.
    pub forge: Forge,
    /// Tells independent cheaters apart (taken mod 128); colluders share it.
    pub salt: u64,
}

/// One spec's honest record, its graph size, the referee's re-execution and the forged runs.
#[derive(Debug)]
pub struct SpecRecords {
    /// The honest run's hashes and commitment.
    pub honest: Arc<Committed>,
    /// The honest run's full record (what every party answers from, through a corruption).
    pub record: Arc<RunRecord>,
    /// Nodes per step graph, `N`.
    pub nodes: u64,
    /// The referee's re-execution, derived from the spec alone (shared by every dispute).
    pub reexec: SpecReexec,
    forged: Mutex<BTreeMap<Forgery, Arc<Committed>>>,
}

impl SpecRecords {
    /// The committed run of `forgery` (built once).
    pub fn forged(&self, forgery: &Forgery) -> Result<Arc<Committed>> {
        let mut map = self.forged.lock().map_err(|_| SimError::Spec {
            name: "forged records".into(),
            detail: "cache lock poisoned".into(),
        })?;
        if let Some(c) = map.get(forgery) {
            return Ok(Arc::clone(c));
        }
        let src = dispute::forged_source(&self.record, &forgery.forge, forgery.salt)?;
        let c = Arc::new(Committed::new(
            src.state_hashes().to_vec(),
            Some(forgery.clone()),
        )?);
        map.insert(forgery.clone(), Arc::clone(&c));
        Ok(c)
    }

    /// A fresh source of `run` for a dispute party: the honest record, or the protocol's
    /// corrupted run over it.
    ///
    /// Errors: as [`dispute::forged_source`].
    pub fn source(&self, run: &Committed) -> Result<Box<dyn RunSource>> {
        Ok(match &run.forgery {
            None => dispute::honest_source(&self.record),
            Some(f) => dispute::forged_source(&self.record, &f.forge, f.salt)?,
        })
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
            honest: Arc::new(Committed::new(rec.state_hashes.clone(), None)?),
            record: Arc::new(rec),
            nodes,
            reexec: SpecReexec::new(&spec)?,
            forged: Mutex::new(BTreeMap::new()),
        });
        map.insert(name.into(), Arc::clone(&s));
        Ok(s)
    }
}
