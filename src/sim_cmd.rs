//! `pinpoint sim …`: run seeded Byzantine simulations (logic in `pinpoint_sim`; this file
//! parses flags, shows progress and prints).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use pinpoint_sim::report_files::{check_report_dir, read_report, write_report};
use pinpoint_sim::{
    RecordCache, RunOptions, RunResult, Scenario, Shard, Summary, parse_seeds, run_parallel,
    run_seed_logged,
};

/// Deterministic simulations of many nodes in virtual time (docs/sim.md).
#[derive(Debug, Subcommand)]
pub(crate) enum SimCommand {
    /// Run a seed range; exits 1 if a checker failed within the synchrony assumption.
    ///
    /// Example: pinpoint sim run --scenario sim/scenarios/standard.toml --seeds 0..1000
    Run(RunArgs),
    /// Reproduce one run exactly; the last line is `trace <hex>`.
    ///
    /// Example: pinpoint sim replay --scenario sim/scenarios/standard.toml --seed 7 --trace
    Replay(ReplayArgs),
    /// Merge the reports of the shards of one seed range (`run --shard I/N --report DIR`) into
    /// one report, identical to running the whole range at once; exits 1 if any shard failed.
    ///
    /// Example: pinpoint sim merge --out all shard-0 shard-1 shard-2
    Merge(MergeArgs),
}

/// `pinpoint sim merge`.
#[derive(Debug, Args)]
pub(crate) struct MergeArgs {
    /// Where to write the merged report.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Shard report directories, in shard order (0/N first).
    #[arg(value_name = "REPORT", required = true)]
    reports: Vec<PathBuf>,
    /// Print the merged summary as JSON on stdout instead of the table.
    #[arg(long)]
    json: bool,
}

/// `pinpoint sim run`.
#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    /// Scenario file (TOML; see sim/scenarios/).
    #[arg(long, value_name = "FILE")]
    scenario: PathBuf,
    /// Seeds `A..B` (B excluded) or one seed.
    #[arg(long, value_name = "A..B", default_value = "0..100")]
    seeds: String,
    /// Write summary.json, runs.json and SVG plots into DIR (checked before any seed runs).
    #[arg(long, value_name = "DIR")]
    report: Option<PathBuf>,
    /// Worker threads; results and trace hashes are identical for any value
    /// [default: every core].
    #[arg(long, value_name = "N")]
    jobs: Option<usize>,
    /// Stop at the first run that fails within the assumption (its replay command is printed).
    #[arg(long)]
    fail_fast: bool,
    /// Print the summary as JSON on stdout instead of the table (schema: docs/sim.md).
    #[arg(long)]
    json: bool,
    /// Run only shard I of N: a contiguous block of the seeds, for a cluster scheduler's job
    /// array (merge the shards' reports with `pinpoint sim merge`).
    #[arg(long, value_name = "I/N")]
    shard: Option<String>,
}

/// `pinpoint sim replay`.
#[derive(Debug, Args)]
pub(crate) struct ReplayArgs {
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
pub(crate) fn run(cmd: SimCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        SimCommand::Run(a) => run_seeds(a),
        SimCommand::Replay(a) => replay(a),
        SimCommand::Merge(a) => merge(a),
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
    let mut seeds = parse_seeds(&a.seeds)?;
    if let Some(shard) = &a.shard {
        seeds = Shard::parse(shard)?.of(seeds);
    }
    let jobs = match a.jobs {
        Some(0) => anyhow::bail!("--jobs 0: need at least one worker"),
        Some(n) => n,
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    // A bad report directory is found before any seed runs, not after.
    if let Some(dir) = &a.report {
        check_report_dir(dir)?;
    }
    let cache = RecordCache::default();
    cache
        .get(&scenario.jobs.spec)
        .context("training the scenario's job spec")?;
    let bar = if a.json {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(seeds.end - seeds.start)
    };
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} seeds {per_sec} eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let started = Instant::now();
    let mut kept: Vec<RunResult> = Vec::new();
    let mut failures: Vec<String> = Vec::new();
    let keep_all = a.report.is_some();
    let opts = RunOptions {
        jobs,
        fail_fast: a.fail_fast,
    };
    let summary = run_parallel(&scenario, seeds.clone(), &cache, opts, |r| {
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
    if a.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
        eprintln!(
            "wall {secs:.2} s, {:.0} runs/s, {jobs} worker(s)",
            summary.runs as f64 / secs.max(1e-9)
        );
    } else {
        print!("{}", summary.table());
        println!(
            "  wall {:.2} s, {:.0} runs/s, {jobs} worker(s)",
            secs,
            summary.runs as f64 / secs.max(1e-9)
        );
    }
    if let Some(dir) = &a.report {
        write_report(dir, &summary, &kept)?;
        eprintln!("report written to {}", dir.display());
    }
    let out = |f: &String| {
        if a.json {
            eprintln!("{f}");
        } else {
            println!("{f}");
        }
    };
    failures.iter().for_each(out);
    if a.fail_fast && summary.failed > 0 {
        eprintln!("stopped at the first failure (--fail-fast)");
    }
    Ok(if summary.failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn merge(a: MergeArgs) -> anyhow::Result<ExitCode> {
    check_report_dir(&a.out)?;
    let mut summary = Summary::default();
    let mut runs: Vec<RunResult> = Vec::new();
    for dir in &a.reports {
        let (s, r) = read_report(dir)?;
        summary
            .merge(&s)
            .map_err(|e| anyhow::anyhow!("{}: {e}", dir.display()))?;
        runs.extend(r);
    }
    let mut seeds: Vec<u64> = runs.iter().map(|r| r.seed).collect();
    seeds.dedup();
    if !seeds.windows(2).all(|w| w[0] < w[1]) {
        anyhow::bail!(
            "the reports' seeds overlap or are out of order: give the shard reports in shard \
             order (0/N first), each once"
        );
    }
    write_report(&a.out, &summary, &runs)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        print!("{}", summary.table());
    }
    eprintln!(
        "merged {} report(s), {} runs, into {}",
        a.reports.len(),
        summary.runs,
        a.out.display()
    );
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
