//! `pinpoint kernels …`: the operator's check of the RepOps kernels on this machine.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use pinpoint_kernels::{Cpu, SimdPolicy, golden};

#[derive(Debug, Subcommand)]
pub(crate) enum KernelsCommand {
    /// Run the golden suite and compare every output hash with the committed one.
    ///
    /// Prints a table (op, shape, hash, ok) and exits with status 1 if any hash differs:
    /// this machine would then compute different bits from the network and must not take work.
    Selftest(SelftestArgs),
}

#[derive(Debug, Args)]
pub(crate) struct SelftestArgs {
    /// Kernel worker threads (results must not depend on it).
    #[arg(long, default_value_t = default_threads(), value_parser = clap::value_parser!(u16).range(1..=1024))]
    threads: u16,
    /// Use portable scalar code only (no AVX2/FMA paths).
    #[arg(long)]
    scalar: bool,
    /// Print full 64-character hashes instead of a 16-character prefix.
    #[arg(long)]
    full_hashes: bool,
    /// Compare against this hashes file (`name shape hash` per line) instead of the hashes
    /// built into the binary, e.g. a file published with a network release.
    #[arg(long, value_name = "FILE")]
    expected: Option<std::path::PathBuf>,
}

fn default_threads() -> u16 {
    std::thread::available_parallelism()
        .map(|n| n.get().min(1024) as u16)
        .unwrap_or(1)
}

pub(crate) fn run(cmd: KernelsCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        KernelsCommand::Selftest(args) => selftest(&args),
    }
}

fn selftest(args: &SelftestArgs) -> anyhow::Result<ExitCode> {
    let policy = if args.scalar {
        SimdPolicy::Scalar
    } else {
        SimdPolicy::Auto
    };
    let cx = Cpu::new(usize::from(args.threads), policy).context("starting the kernel threads")?;
    let expected = match &args.expected {
        None => golden::expected().context("reading the built-in golden hashes")?,
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading golden hashes from {}", path.display()))?;
            let rows = golden::parse(&text)
                .with_context(|| format!("parsing golden hashes in {}", path.display()))?;
            if rows.is_empty() {
                anyhow::bail!(
                    "{} holds no golden hashes: an empty file would check nothing",
                    path.display()
                );
            }
            rows
        }
    };
    eprintln!(
        "RepOps selftest: {} golden rows, {} thread(s), {} code",
        expected.len(),
        cx.threads(),
        cx.simd().name()
    );
    let started = std::time::Instant::now();
    let tty = std::io::stderr().is_terminal();
    let rows = golden::run(&cx, |done, total| {
        if tty {
            eprint!("\r  running case {done}/{total}");
            let _ = std::io::stderr().flush();
        }
    })
    .context("running the golden suite")?;
    let clear = if tty { "\r" } else { "" };
    eprintln!(
        "{clear}  ran {} rows in {:.2?}        ",
        rows.len(),
        started.elapsed()
    );

    let checks = golden::compare(&rows, &expected);
    let width = checks
        .iter()
        .map(|c| c.row.name.len())
        .max()
        .unwrap_or(2)
        .max(2);
    let swidth = checks
        .iter()
        .map(|c| c.row.shape.len())
        .max()
        .unwrap_or(5)
        .max(5);
    let hlen = if args.full_hashes { 64 } else { 16 };
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{:<width$}  {:<swidth$}  {:<hlen$}  ok",
        "op", "shape", "hash"
    )?;
    let mut failed = 0usize;
    for c in &checks {
        let ok = c.ok();
        failed += usize::from(!ok);
        let mark = match (ok, c.expected) {
            (true, _) => "ok",
            (false, None) => "NEW (not committed)",
            (false, Some(_)) => "MISMATCH",
        };
        let hex = c.row.hash.to_hex();
        writeln!(
            out,
            "{:<width$}  {:<swidth$}  {:<hlen$}  {mark}",
            c.row.name,
            c.row.shape,
            &hex[..hlen]
        )?;
    }
    let passed = checks.len() - failed;
    writeln!(out, "selftest: {passed} passed, {failed} failed")?;
    if failed > 0 {
        writeln!(
            out,
            "this machine does NOT reproduce the network's bits: do not take work with it \
             (see docs/numerics.md)"
        )?;
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}
