//! `pinpoint train …`: run, resume or trace a training job (logic in
//! `pinpoint_train::{trainer, run}`; this file parses flags and prints).

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use pinpoint_kernels::graph::{DType, Graph, ValueRef};
use pinpoint_kernels::{Cpu, SimdPolicy};
use pinpoint_train::fs::run::{Event, Finish, Run, StepTrace, trace_step};

/// Train a job, continue an interrupted one, or print the operators of one step.
///
/// Every step `t` maps the state S_{t-1} to S_t and is a pure function of the spec and
/// S_{t-1}: the same spec gives the same `hashes.txt` on every machine and thread count.
///
/// Examples:
///   pinpoint train --spec examples/mlp.toml --out runs/mlp
///   pinpoint train --resume runs/mlp
///   pinpoint train --spec examples/mlp.toml --trace-step 3
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub(crate) struct TrainArgs {
    /// The job spec (TOML; see examples/ and docs/training.md).
    #[arg(long, value_name = "FILE")]
    spec: Option<PathBuf>,
    /// Run directory. Training writes spec.toml, hashes.txt (h(S_0) … h(S_T), one per line),
    /// checkpoints/, metrics.jsonl, final.safetensors and summary.json there; it refuses a
    /// directory that already holds a run. With --trace-step, replays from the newest
    /// checkpoint in DIR before the traced step and compares with DIR/hashes.txt (read only).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Continue the interrupted run in DIR from its newest valid checkpoint (invalid newer
    /// ones are skipped with a warning); the remaining hashes equal an uninterrupted run's.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["spec", "out", "steps", "trace_step"])]
    resume: Option<PathBuf>,
    /// Override the number of steps T (this makes another job, with its own spec hash).
    /// checkpoint_every and eval.every are lowered to at most N; warmup is kept as written.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    steps: Option<u64>,
    /// Kernel worker threads (the results do not depend on it).
    #[arg(long, value_name = "N", default_value_t = default_threads(),
          value_parser = clap::value_parser!(u16).range(1..=1024))]
    threads: u16,
    /// Replay the job to step t and print the node list of step t (S_{t-1} → S_t): index, op
    /// with attributes, output shapes, output hash h(out(v_i)) and input references. Writes
    /// no file.
    #[arg(long, value_name = "t")]
    trace_step: Option<u64>,
}

/// Raised by the SIGINT handler; the run checks it before every step.
static STOP: AtomicBool = AtomicBool::new(false);

/// The SIGINT handler: the first Ctrl-C asks the run to checkpoint and stop, a second one
/// exits at once (status 130).
extern "C" fn on_sigint(_: libc::c_int) {
    if STOP.swap(true, Ordering::SeqCst) {
        // SAFETY: `_exit` is async-signal-safe.
        unsafe { libc::_exit(130) }
    }
}

/// Installs [`on_sigint`] for SIGINT.
fn catch_ctrl_c() -> anyhow::Result<()> {
    let handler: extern "C" fn(libc::c_int) = on_sigint;
    // SAFETY: the handler only touches an atomic (and calls `_exit`), which is
    // async-signal-safe; `signal` has no other precondition.
    let previous = unsafe { libc::signal(libc::SIGINT, handler as libc::sighandler_t) };
    if previous == libc::SIG_ERR {
        bail!(
            "installing the Ctrl-C handler: {}",
            std::io::Error::last_os_error()
        );
    }
    Ok(())
}

fn default_threads() -> u16 {
    std::thread::available_parallelism()
        .map(|n| n.get().min(1024) as u16)
        .unwrap_or(1)
}

/// Runs the command.
pub(crate) fn run(args: TrainArgs) -> anyhow::Result<ExitCode> {
    let cx = Cpu::new(usize::from(args.threads), SimdPolicy::Auto)
        .context("starting the kernel threads")?;
    if let Some(t) = args.trace_step {
        return trace(&args, t, cx);
    }
    catch_ctrl_c()?;
    let started = Instant::now();
    let mut run = match (&args.resume, &args.spec, &args.out) {
        (Some(dir), _, _) => {
            let (run, warnings) = Run::resume(dir, cx)?;
            warn_all(&warnings);
            eprintln!(
                "resuming {} at step {} of {}",
                dir.display(),
                run.trainer().step(),
                run.trainer().spec().steps
            );
            run
        }
        (None, Some(spec), Some(out)) => {
            let run = Run::create(spec, out, args.steps, cx)?;
            eprintln!(
                "training {} into {} ({} steps, spec hash {})",
                spec.display(),
                out.display(),
                run.trainer().spec().steps,
                run.trainer().spec_hash()
            );
            run
        }
        (None, Some(_), None) => bail!("--spec needs --out DIR (or --trace-step t)"),
        (None, None, _) => bail!("give --spec FILE --out DIR, --resume DIR, or --trace-step t"),
    };
    let first = run.trainer().step();
    let total = run.trainer().spec().steps;
    let mut progress = Progress::new(first, total);
    let result = run.run_or_stop(&STOP, &mut |e| progress.event(e));
    progress.finish();
    let mut summary = match result? {
        Finish::Done(summary) => summary,
        Finish::Stopped { step, checkpoint } => {
            eprintln!(
                "interrupted: step {step} of {total} is checkpointed in {}",
                checkpoint.display()
            );
            eprintln!(
                "resume with: pinpoint train --resume {}",
                run.dir().root().display()
            );
            return Ok(ExitCode::from(130));
        }
    };
    let secs = started.elapsed().as_secs_f64();
    summary.wall_time_s = Some(secs);
    summary.write(&run.dir().summary())?;
    let taken = summary.steps_this_session;
    eprintln!(
        "done: steps {first}..{total} in {secs:.1} s ({:.2} steps/s); h(S_{total}) = {}",
        taken as f64 / secs.max(1e-9),
        summary.final_state_hash
    );
    if let Some(e) = summary.eval.last() {
        eprintln!(
            "eval at step {}: {} {:.2}% ({}/{})",
            e.step,
            e.metric,
            100.0 * e.value,
            e.correct,
            e.total
        );
    }
    eprintln!("wrote {}", run.dir().root().display());
    Ok(ExitCode::SUCCESS)
}

fn warn_all(warnings: &[String]) {
    for w in warnings {
        eprintln!("warning: {w}");
    }
}

/// A progress bar on a terminal, a line every few seconds otherwise.
struct Progress {
    bar: Option<ProgressBar>,
    total: u64,
    loss: f32,
    eval: String,
    last_line: Instant,
}

impl Progress {
    fn new(first: u64, total: u64) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let b = ProgressBar::new(total);
            b.set_style(
                ProgressStyle::with_template("{bar:30} step {pos}/{len} {rate} eta {eta} {msg}")
                    .expect("invariant: a valid template")
                    .with_key(
                        "rate",
                        |s: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                            let _ = write!(w, "{:.2} steps/s", s.per_sec());
                        },
                    ),
            );
            b.set_position(first);
            b.reset_eta();
            b
        });
        Self {
            bar,
            total,
            loss: f32::NAN,
            eval: String::new(),
            last_line: Instant::now(),
        }
    }

    fn event(&mut self, e: &Event) {
        match e {
            Event::Step(r) => {
                self.loss = r.loss;
                if let Some(b) = &self.bar {
                    b.set_position(r.step);
                    b.set_message(format!("loss {:.4}{}", r.loss, self.eval));
                } else if self.last_line.elapsed() >= Duration::from_secs(2) || r.step == self.total
                {
                    self.last_line = Instant::now();
                    eprintln!(
                        "step {}/{} loss {:.4}{}",
                        r.step, self.total, r.loss, self.eval
                    );
                }
            }
            Event::Eval(r) => {
                self.eval = format!(" | eval@{} {} {:.1}%", r.step, r.metric, 100.0 * r.value);
                let line = format!(
                    "eval at step {}: {} {:.2}%",
                    r.step,
                    r.metric,
                    100.0 * r.value
                );
                match &self.bar {
                    Some(b) => b.println(line),
                    None => eprintln!("{line}"),
                }
            }
            Event::Checkpoint { step, path } => {
                let line = format!("checkpoint at step {step}: {}", path.display());
                match &self.bar {
                    Some(b) => b.println(line),
                    None => eprintln!("{line}"),
                }
            }
        }
    }

    fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

fn trace(args: &TrainArgs, t: u64, cx: Cpu) -> anyhow::Result<ExitCode> {
    let (tr, warnings) = trace_step(args.spec.as_deref(), args.out.as_deref(), args.steps, t, cx)?;
    warn_all(&warnings);
    let mut out = std::io::stdout().lock();
    print_trace(&mut out, &tr)?;
    if let Some(h) = tr.recorded_hash
        && h != tr.report.hash
    {
        writeln!(
            out,
            "MISMATCH: the run's hashes.txt has h(S_{t}) = {h}, this machine computes {}",
            tr.report.hash
        )?;
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

fn describe_ref(g: &Graph, r: ValueRef) -> String {
    match r {
        ValueRef::Input(i) => g
            .inputs
            .get(i)
            .map_or_else(|| r.to_string(), |s| s.name.clone()),
        _ => r.to_string(),
    }
}

fn print_trace(out: &mut impl Write, tr: &StepTrace) -> std::io::Result<()> {
    let t = tr.step;
    let g = &tr.graph;
    match &tr.from_checkpoint {
        Some(p) => writeln!(out, "# step {t}, replayed from {}", p.display())?,
        None => writeln!(out, "# step {t}, replayed from S_0")?,
    }
    writeln!(out, "# h(S_{}) = {}", t - 1, tr.prev_hash)?;
    let check = match tr.recorded_hash {
        Some(h) if h == tr.report.hash => "  (matches the run's hashes.txt)",
        Some(_) => "  (DIFFERS from the run's hashes.txt)",
        None => "",
    };
    writeln!(out, "# h(S_{t}) = {}{check}", tr.report.hash)?;
    writeln!(
        out,
        "# loss {} lr {} nodes {} graph {}",
        tr.report.loss,
        tr.report.lr,
        g.nodes.len(),
        g.structure_hash().to_hex()
    )?;
    let rows: Vec<(String, String)> = g
        .nodes
        .iter()
        .map(|n| {
            let outs: Vec<String> = n
                .outputs
                .iter()
                .map(|o| {
                    let d = match o.dtype {
                        DType::F32 => "f32",
                        DType::U32 => "u32",
                    };
                    format!("{d}{:?}", o.shape)
                })
                .collect();
            (n.op.describe(), outs.join(" "))
        })
        .collect();
    let wop = rows.iter().map(|r| r.0.len()).max().unwrap_or(2).max(2);
    let wsh = rows.iter().map(|r| r.1.len()).max().unwrap_or(5).max(5);
    writeln!(
        out,
        "{:>5}  {:<wop$}  {:<wsh$}  {:<64}  inputs",
        "node", "op", "shape", "output hash"
    )?;
    for (i, ((op, shape), (n, h))) in rows
        .iter()
        .zip(g.nodes.iter().zip(&tr.report.node_hashes))
        .enumerate()
    {
        let ins: Vec<String> = n.inputs.iter().map(|r| describe_ref(g, *r)).collect();
        writeln!(
            out,
            "{i:>5}  {op:<wop$}  {shape:<wsh$}  {}  {}",
            h.to_hex(),
            ins.join(", ")
        )?;
    }
    Ok(())
}
