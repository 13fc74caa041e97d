//! `pinpoint sim …`: run seeded Byzantine simulations (logic in `pinpoint_sim`; this file
//! parses flags, shows progress and prints).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use pinpoint_sim::report_files::write_report;
use pinpoint_sim::{RecordCache, RunResult, Scenario, parse_seeds, run_range, run_seed_logged};

/// Deterministic simulations of many nodes in virtual time (docs/sim.md).
#[derive(Debug, Subcommand)]
pub enum SimCommand {
    /// Run a seed range; exits 1 if a checker failed within the synchrony assumption.
    ///
    /// Example: pinpoint sim run --scenario sim/scenarios/standard.toml --seeds 0..1000
    Run(RunArgs),
    /// Reproduce one run exactly; the last line is `trace <hex>`.
    ///
    /// Example: pinpoint sim replay --scenario sim/scenarios/standard.toml --seed 7 --trace
    Replay(ReplayArgs),
}

/// `pinpoint sim run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Scenario file (TOML; see sim/scenarios/).
    #[arg(long, value_name = "FILE")]
    scenario: PathBuf,
    /// Seeds `A..B` (B excluded) or one seed.
    #[arg(long, value_name = "A..B", default_value = "0..100")]
    seeds: String,
    /// Write summary.json, runs.json and SVG plots into DIR.
    #[arg(long, value_name = "DIR")]
    report: Option<PathBuf>,
}

/// `pinpoint sim replay`.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// Scenario file.
    #[arg(long, value_name = "FILE")]
    scenario: PathBuf,
    /// The seed.
    #[arg(long)]
    seed: u64,
    /// Print every processed event.
    #[arg(long)]
    trace: bool,
}

/// Runs a `pinpoint sim` command.
pub fn run(cmd: SimCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        SimCommand::Run(a) => run_seeds(a),
        SimCommand::Replay(a) => replay(a),
    }
}

fn replay_cmd(scenario: &std::path::Path, seed: u64) -> String {
    format!(
        "pinpoint sim replay --scenario {} --seed {seed}",
        scenario.display()
    )
}

fn run_seeds(a: RunArgs) -> anyhow::Result<ExitCode> {
    let scenario = Scenario::load(&a.scenario)?;
    let seeds = parse_seeds(&a.seeds)?;
    let cache = RecordCache::default();
    cache
        .get(&scenario.jobs.spec)
        .context("training the scenario's job spec")?;
    let bar = ProgressBar::new(seeds.end - seeds.start);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} seeds {per_sec} eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let started = Instant::now();
    let mut kept: Vec<RunResult> = Vec::new();
    let mut failures: Vec<String> = Vec::new();
    let keep_all = a.report.is_some();
    let summary = run_range(&scenario, seeds.clone(), &cache, |r| {
        bar.inc(1);
        if r.failed() {
            failures.push(format!(
                "FAIL seed={} trace={}\n  {}\n  replay: {}",
                r.seed,
                r.trace,
                r.violations.join("\n  "),
                replay_cmd(&a.scenario, r.seed)
            ));
        }
        if keep_all {
            let mut r = r.clone();
            if !r.failed() && r.within_assumption {
                r.counters.clear();
            }
            kept.push(r);
        }
    })?;
    bar.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();
    print!("{}", summary.table());
    println!(
        "  wall {:.2} s, {:.0} runs/s",
        secs,
        summary.runs as f64 / secs.max(1e-9)
    );
    if let Some(dir) = &a.report {
        write_report(dir, &summary, &kept)?;
        println!("report written to {}", dir.display());
    }
    for f in &failures {
        println!("{f}");
    }
    Ok(if summary.failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn replay(a: ReplayArgs) -> anyhow::Result<ExitCode> {
    let scenario = Scenario::load(&a.scenario)?;
    let cache = RecordCache::default();
    let (r, log) = run_seed_logged(&scenario, a.seed, &cache)?;
    if a.trace {
        for line in &log {
            println!("{line}");
        }
    }
    println!("seed {}", r.seed);
    println!("within assumption: {}", r.within_assumption);
    for b in &r.assumption_breaks {
        println!("  beyond: {b}");
    }
    for v in &r.violations {
        println!("  violation: {v}");
    }
    for d in &r.disputes {
        println!(
            "  dispute: {} rounds, {} ms, {}",
            d.rounds, d.elapsed_ms, d.resolution
        );
    }
    for (k, v) in &r.counters {
        println!("  {k} = {v}");
    }
    println!("events {}", r.events);
    println!("trace {}", r.trace);
    Ok(if r.failed() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
