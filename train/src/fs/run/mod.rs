//! A training run on disk: the [`Trainer`] plus its run directory.
//!
//! Layout of a run directory `DIR` ([`RunDir`]):
//! - `spec.toml`: the job spec as run (after `--steps`), with a text file path made absolute;
//! - `hashes.txt`: `h(S_0) … h(S_t)`, one per line ([`HashLog`]);
//! - `checkpoints/ckpt-<step>.ppck`: every `checkpoint_every` steps and at `T`;
//! - `metrics.jsonl`: loss of every step and every evaluation ([`metrics`]);
//! - `final.safetensors`: the parameters of `S_T` (metadata: spec hash, step, state hash);
//! - `summary.json`: [`Summary`].
//!
//! Order of work after step `t`: append `h(S_t)` to `hashes.txt` and the loss to
//! `metrics.jsonl`; evaluate if due and log it; if a checkpoint is due, fsync both logs, then
//! write the checkpoint atomically. So every checkpoint on disk is covered by the logs.
//! [`Run::resume`] takes the newest checkpoint that verifies (newer invalid ones are
//! reported and skipped), cuts both logs back to its step and continues: the hashes that follow
//! are those of an uninterrupted run.

pub mod metrics;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::digest::Digest;
use crate::error::{StoreError, StoreProblem, TrainError};
use crate::fs::store::{
    CheckpointStore, HashLog, load_spec, load_text, read_hashes, write_atomic, write_safetensors,
};
use crate::spec::{JobSpec, LoadedSpec};
use crate::state::TrainState;
use crate::trainer::{EvalReport, StepReport, Trainer};
use pinpoint_kernels::Cpu;
use pinpoint_kernels::graph::{Graph, Mode};

pub use metrics::{LossPoint, MetricsLog, Record, Summary};

/// The files of a run directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunDir {
    root: PathBuf,
}

impl RunDir {
    /// The run directory `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }
    /// The directory.
    pub fn root(&self) -> &Path {
        &self.root
    }
    /// `spec.toml`.
    pub fn spec(&self) -> PathBuf {
        self.root.join("spec.toml")
    }
    /// `hashes.txt`.
    pub fn hashes(&self) -> PathBuf {
        self.root.join("hashes.txt")
    }
    /// `checkpoints/`.
    pub fn checkpoints(&self) -> PathBuf {
        self.root.join("checkpoints")
    }
    /// `metrics.jsonl`.
    pub fn metrics(&self) -> PathBuf {
        self.root.join("metrics.jsonl")
    }
    /// `final.safetensors`.
    pub fn final_weights(&self) -> PathBuf {
        self.root.join("final.safetensors")
    }
    /// `summary.json`.
    pub fn summary(&self) -> PathBuf {
        self.root.join("summary.json")
    }
    /// True when any file of a run is present.
    pub fn has_run(&self) -> bool {
        self.spec().exists() || self.hashes().exists() || self.checkpoints().exists()
    }
}

/// What [`Run::run_until`] reports as it goes.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// Step `report.step` was taken and logged.
    Step(StepReport),
    /// An evaluation finished.
    Eval(EvalReport),
    /// A checkpoint was written.
    Checkpoint {
        /// Its step.
        step: u64,
        /// Its path.
        path: PathBuf,
    },
}

/// How [`Run::run_or_stop`] ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Finish {
    /// The run reached `S_T` and wrote its final weights.
    Done(Summary),
    /// The stop flag was raised: the last completed step's state is checkpointed, so
    /// [`Run::resume`] continues from it with the hashes of an uninterrupted run.
    Stopped {
        /// The last completed step `t` (the checkpoint holds `S_t`).
        step: u64,
        /// The checkpoint file.
        checkpoint: PathBuf,
    },
}

/// A run: trainer, logs and checkpoint store.
#[derive(Debug)]
pub struct Run {
    dir: RunDir,
    trainer: Trainer,
    log: HashLog,
    metrics: MetricsLog,
    store: CheckpointStore,
    resumed_from: Option<u64>,
    threads: usize,
    start_step: u64,
    initial_hash: Digest,
}

/// Sets `steps = n` and lowers `checkpoint_every` and `eval.every` to at most `n` (they only
/// decide when files are written). The numerics of steps `1 … n` are those of the original
/// spec: `schedule.warmup_steps` is kept even when larger than `n`.
pub fn override_steps(spec: &mut JobSpec, n: u64) -> Result<(), TrainError> {
    spec.steps = n;
    spec.checkpoint_every = spec.checkpoint_every.min(n.max(1));
    spec.eval.every = spec.eval.every.min(n.max(1));
    spec.validate()?;
    Ok(())
}

/// Loads a spec file and, for text data, the text file (its path relative to the spec file's
/// directory unless absolute). Returns the spec with the text path made absolute.
pub fn load_job(
    spec_path: &Path,
    steps: Option<u64>,
) -> Result<(LoadedSpec, Option<Vec<u8>>), TrainError> {
    let mut loaded = load_spec(spec_path)?;
    if let Some(n) = steps {
        override_steps(&mut loaded.spec, n)
            .map_err(|e| TrainError::run_dir(spec_path, format!("with --steps {n}: {e}")))?;
    }
    let text = match (&loaded.text_path, &loaded.spec.data) {
        (Some(p), crate::spec::DataSpec::Text { content_hash }) => {
            let base = spec_path.parent().unwrap_or(Path::new("."));
            let path = base.join(p);
            let path = std::fs::canonicalize(&path).map_err(|e| StoreError::io(&path, &e))?;
            let bytes = load_text(&path, Digest(*content_hash))?;
            loaded.text_path = Some(path.to_string_lossy().into_owned());
            Some(bytes)
        }
        _ => None,
    };
    Ok((loaded, text))
}

fn spec_file_text(loaded: &LoadedSpec, hash: Digest) -> Result<String, TrainError> {
    Ok(format!(
        "# The job spec of this run, written by `pinpoint train` (spec hash {hash}).\n\
         # `pinpoint train --resume <this directory>` continues the run from it.\n{}",
        loaded.to_toml()?
    ))
}

impl Run {
    /// Starts a new run of `spec_path` (with `steps` overriding `T`) in `out` at `S_0`.
    /// Refuses a directory that already holds a run.
    pub fn create(
        spec_path: &Path,
        out: &Path,
        steps: Option<u64>,
        cx: Cpu,
    ) -> Result<Self, TrainError> {
        let (loaded, text) = load_job(spec_path, steps)?;
        let hash = loaded.spec.hash()?;
        let dir = RunDir::new(out);
        if dir.has_run() {
            let problem = match load_spec(&dir.spec()).map(|l| l.spec.hash()) {
                Ok(Ok(h)) if h == hash => format!(
                    "already holds a run of this spec (spec hash {hash}); continue it with \
                     `pinpoint train --resume {}` or choose another --out",
                    out.display()
                ),
                Ok(Ok(h)) => format!(
                    "already holds a different run (spec hash {h}, {} has {hash}); refusing to \
                     overwrite it: choose another --out, or continue that run with \
                     `pinpoint train --resume {}`",
                    spec_path.display(),
                    out.display()
                ),
                _ => "already holds files of a run (hashes.txt or checkpoints/); refusing to \
                      overwrite them: choose another --out"
                    .to_string(),
            };
            return Err(TrainError::run_dir(out, problem));
        }
        std::fs::create_dir_all(out).map_err(|e| StoreError::io(out, &e))?;
        write_atomic(&dir.spec(), spec_file_text(&loaded, hash)?.as_bytes())?;
        let threads = cx.threads();
        let trainer = Trainer::new(&loaded.spec, text.as_deref(), cx)?;
        Self::open(dir, trainer, None, threads)
    }

    /// Continues the run in `out` from its newest valid checkpoint (or from `S_0` if none).
    /// Returns the run and warnings (skipped checkpoints).
    pub fn resume(out: &Path, cx: Cpu) -> Result<(Self, Vec<String>), TrainError> {
        let dir = RunDir::new(out);
        if !dir.spec().exists() {
            return Err(TrainError::run_dir(
                out,
                "no spec.toml: not a run directory of `pinpoint train --out`",
            ));
        }
        let (loaded, text) = load_job(&dir.spec(), None)?;
        let spec = loaded.spec;
        let hash = spec.hash()?;
        let store = CheckpointStore::new(dir.checkpoints(), hash);
        let latest = store.latest_valid()?;
        check_not_foreign(&latest.skipped, &dir)?;
        let mut warnings: Vec<String> = latest
            .skipped
            .iter()
            .map(|e| format!("skipping invalid checkpoint {e}"))
            .collect();
        let threads = cx.threads();
        let (trainer, from) = match latest.checkpoint {
            Some((_, c)) => {
                let step = c.state.step;
                (
                    Trainer::from_state(&spec, text.as_deref(), cx, c.state)?,
                    Some(step),
                )
            }
            None => {
                warnings.push("no valid checkpoint: starting again from step 0".to_string());
                (Trainer::new(&spec, text.as_deref(), cx)?, None)
            }
        };
        Ok((Self::open(dir, trainer, from, threads)?, warnings))
    }

    /// Opens the logs for a trainer at `S_c`: both are cut back to step `c`; the hash log's
    /// line `c` must be `h(S_c)`.
    fn open(
        dir: RunDir,
        trainer: Trainer,
        resumed_from: Option<u64>,
        threads: usize,
    ) -> Result<Self, TrainError> {
        let c = trainer.step();
        let (mut log, hashes) = HashLog::open(&dir.hashes())?;
        if let Some(h) = hashes.get(c as usize) {
            if *h != trainer.state_hash() {
                return Err(TrainError::run_dir(
                    dir.hashes(),
                    format!(
                        "line {} is {h} but the state of step {c} hashes to {}: the log \
                         belongs to another run",
                        c + 1,
                        trainer.state_hash()
                    ),
                ));
            }
        } else if c > 0 {
            return Err(TrainError::run_dir(
                dir.hashes(),
                format!(
                    "has {} lines but the checkpoint is at step {c}: the log does not cover it",
                    hashes.len()
                ),
            ));
        }
        log.truncate(c + 1)?;
        if c == 0 && log.is_empty() {
            log.append(trainer.state_hash())?;
        }
        let initial_hash = match hashes.first() {
            Some(h) => *h,
            None => trainer.state_hash(),
        };
        let metrics = MetricsLog::open(&dir.metrics(), c)?;
        let store = CheckpointStore::new(dir.checkpoints(), trainer.spec_hash());
        store.create_dir()?;
        Ok(Self {
            dir,
            trainer,
            log,
            metrics,
            store,
            resumed_from,
            threads,
            start_step: c,
            initial_hash,
        })
    }

    /// The trainer.
    pub fn trainer(&self) -> &Trainer {
        &self.trainer
    }

    /// The run directory.
    pub fn dir(&self) -> &RunDir {
        &self.dir
    }

    /// Takes steps until the state is `S_last` (or `S_T` if `last > T`), logging, evaluating
    /// and checkpointing as it goes; `on` sees every event.
    pub fn run_until(&mut self, last: u64, on: &mut dyn FnMut(&Event)) -> Result<(), TrainError> {
        self.steps_until(last, None, on).map(|_| ())
    }

    /// [`Run::run_until`], checking `stop` before every step; true when it stopped early.
    fn steps_until(
        &mut self,
        last: u64,
        stop: Option<&AtomicBool>,
        on: &mut dyn FnMut(&Event),
    ) -> Result<bool, TrainError> {
        let last = last.min(self.trainer.spec().steps);
        while self.trainer.step() < last {
            if stop.is_some_and(|s| s.load(Ordering::SeqCst)) {
                return Ok(true);
            }
            // The run's record is h(S_t) (hashes.txt); node hashes are for `trace-step`.
            let report = self.trainer.step_once(&Mode::Unhashed)?;
            let t = report.step;
            self.log.append(report.hash)?;
            self.metrics.push(Record::Loss(LossPoint {
                step: t,
                loss: report.loss.is_finite().then_some(report.loss),
                lr: report.lr,
            }))?;
            on(&Event::Step(report));
            if self.trainer.eval_due(t) {
                let e = self.trainer.evaluate()?;
                self.metrics.push(Record::Eval(e.clone()))?;
                on(&Event::Eval(e));
            }
            if self.trainer.checkpoint_due(t) {
                self.log.sync()?;
                self.metrics.sync()?;
                let (path, _) = self.store.save(self.trainer.state())?;
                on(&Event::Checkpoint { step: t, path });
            }
        }
        Ok(false)
    }

    /// Runs to `S_T`, then writes `final.safetensors`; returns the summary (not yet written:
    /// the caller adds the wall time and calls [`Summary::write`] on [`RunDir::summary`]).
    pub fn run(&mut self, on: &mut dyn FnMut(&Event)) -> Result<Summary, TrainError> {
        self.run_until(u64::MAX, on)?;
        self.finish()
    }

    /// [`Run::run`], unless `stop` is raised first (a caller's Ctrl-C handler sets it): then the
    /// step in flight completes, its state is checkpointed (logs synced first) and the run
    /// returns [`Finish::Stopped`]. Nothing computed is lost.
    pub fn run_or_stop(
        &mut self,
        stop: &AtomicBool,
        on: &mut dyn FnMut(&Event),
    ) -> Result<Finish, TrainError> {
        if !self.steps_until(u64::MAX, Some(stop), on)? {
            return self.finish().map(Finish::Done);
        }
        self.log.sync()?;
        self.metrics.sync()?;
        let (checkpoint, _) = self.store.save(self.trainer.state())?;
        Ok(Finish::Stopped {
            step: self.trainer.step(),
            checkpoint,
        })
    }

    /// Writes `final.safetensors` at `S_T` and returns the summary.
    fn finish(&mut self) -> Result<Summary, TrainError> {
        self.log.sync()?;
        self.metrics.sync()?;
        let st = self.trainer.state();
        write_safetensors(
            &self.dir.final_weights(),
            &st.params,
            &[
                ("spec_hash".to_string(), self.trainer.spec_hash().to_hex()),
                ("step".to_string(), st.step.to_string()),
                ("state_hash".to_string(), self.trainer.state_hash().to_hex()),
            ],
        )?;
        Ok(self.summary())
    }

    /// The summary of the run so far.
    pub fn summary(&self) -> Summary {
        let mut loss = Vec::new();
        let mut eval = Vec::new();
        for r in self.metrics.records() {
            match r {
                Record::Loss(p) => loss.push(*p),
                Record::Eval(e) => eval.push(e.clone()),
            }
        }
        Summary {
            spec_hash: self.trainer.spec_hash().to_hex(),
            steps: self.trainer.spec().steps,
            final_step: self.trainer.step(),
            initial_state_hash: self.initial_hash.to_hex(),
            final_state_hash: self.trainer.state_hash().to_hex(),
            loss,
            eval,
            resumed_from: self.resumed_from,
            threads: self.threads,
            steps_this_session: self.trainer.step() - self.start_step,
            wall_time_s: None,
        }
    }
}

/// A checkpoint of another job in the run's directory is an error (never a torn write).
fn check_not_foreign(skipped: &[StoreError], dir: &RunDir) -> Result<(), TrainError> {
    if let Some(e) = skipped
        .iter()
        .find(|e| matches!(e.problem, StoreProblem::WrongSpec { .. }))
    {
        return Err(TrainError::run_dir(
            &e.path,
            format!(
                "{}: wrong spec for this checkpoint ({} was changed, or the file comes from \
                 another run)",
                e.problem,
                dir.spec().display()
            ),
        ));
    }
    Ok(())
}

/// The result of [`trace_step`].
#[derive(Debug, Clone)]
pub struct StepTrace {
    /// The traced step `t`.
    pub step: u64,
    /// The checkpoint the replay started from (`None`: `S_0`).
    pub from_checkpoint: Option<PathBuf>,
    /// `h(S_{t−1})`.
    pub prev_hash: Digest,
    /// What step `t` computed (node hashes, `h(S_t)`, loss).
    pub report: StepReport,
    /// The graph of step `t` (with step `t`'s learning rate).
    pub graph: Graph,
    /// `h(S_t)` from `DIR/hashes.txt` when a run directory with that line was given.
    pub recorded_hash: Option<Digest>,
}

/// Replays a job to step `t` and returns the step's node list and hashes. The job is
/// `spec_path` (with `steps` overriding `T`) or, without it, `out`'s `spec.toml`. With `out`,
/// the replay starts from the newest valid checkpoint of step `< t` in it (the spec must be
/// the run's). Nothing is written. Returns the trace and warnings.
pub fn trace_step(
    spec_path: Option<&Path>,
    out: Option<&Path>,
    steps: Option<u64>,
    t: u64,
    cx: Cpu,
) -> Result<(StepTrace, Vec<String>), TrainError> {
    let dir = out.map(RunDir::new);
    let spec_file = match (spec_path, &dir) {
        (Some(p), _) => p.to_path_buf(),
        (None, Some(d)) => d.spec(),
        (None, None) => {
            return Err(TrainError::Usage(
                "--trace-step needs --spec or --out".into(),
            ));
        }
    };
    let (loaded, text) = load_job(&spec_file, steps)?;
    let spec = loaded.spec;
    let hash = spec.hash()?;
    if t == 0 || t > spec.steps {
        return Err(TrainError::Usage(format!(
            "--trace-step {t}: the job's steps are 1..={}",
            spec.steps
        )));
    }
    let mut warnings = Vec::new();
    let mut start: Option<(PathBuf, TrainState)> = None;
    let mut recorded_hash = None;
    if let Some(d) = &dir {
        if d.spec().exists() && spec_file != d.spec() {
            let run_hash = load_spec(&d.spec())?.spec.hash()?;
            if run_hash != hash {
                return Err(TrainError::run_dir(
                    &spec_file,
                    format!(
                        "wrong spec for the run in {}: spec hash {hash}, the run's is {run_hash} \
                         (pass the run's --steps too, or leave out --spec to use {})",
                        d.root().display(),
                        d.spec().display()
                    ),
                ));
            }
        }
        let store = CheckpointStore::new(d.checkpoints(), hash);
        for (step, path) in store.list()?.into_iter().rev() {
            if step >= t {
                continue;
            }
            match store.load(&path) {
                Ok(c) => {
                    start = Some((path, c.state));
                    break;
                }
                Err(e) => warnings.push(format!("skipping invalid checkpoint {e}")),
            }
        }
        if d.hashes().exists() {
            match read_hashes(&d.hashes()) {
                Ok(hashes) => recorded_hash = hashes.get(t as usize).copied(),
                Err(e) => warnings.push(format!("not comparing with the run's hashes: {e}")),
            }
        }
    }
    let (mut trainer, from_checkpoint) = match start {
        Some((path, state)) => (
            Trainer::from_state(&spec, text.as_deref(), cx, state)?,
            Some(path),
        ),
        None => (Trainer::new(&spec, text.as_deref(), cx)?, None),
    };
    while trainer.step() + 1 < t {
        trainer.step_once(&Mode::Unhashed)?;
    }
    let prev_hash = trainer.state_hash();
    let report = trainer.step_once(&Mode::Normal)?;
    Ok((
        StepTrace {
            step: t,
            from_checkpoint,
            prev_hash,
            report,
            graph: trainer.step_program().graph().clone(),
            recorded_hash,
        },
        warnings,
    ))
}
