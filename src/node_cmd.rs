//! `pinpoint node …`: a node's configuration (logic in `pinpoint_actors::config`).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use pinpoint_actors::config::NodeConfig;

/// Run a node with the roles in its config until Ctrl-C or SIGTERM (docs/node.md).
///
/// The config is node.toml: roles and stakes, listen address, bootstrap peers, chain,
/// data directory and disk budget, executor threads, queue bounds, restart intensity and the
/// accepted-job policy. Unknown keys are rejected; every error names its field. Relative
/// paths are relative to the config file. On start the node stakes for each role and
/// registers its NodeId and endpoint on the chain (only what is missing); on Ctrl-C it stops
/// taking work, checkpoints the step in flight and flushes its store.
///
/// Examples:
///   pinpoint keys new --out keys
///   pinpoint node --config node.toml --print-config
///   pinpoint node --config node.toml
///   RUST_LOG=debug pinpoint node --config node.toml --log-format json
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub(crate) struct NodeArgs {
    /// The node's config file.
    #[arg(long, value_name = "FILE", default_value = "node.toml")]
    config: PathBuf,
    /// Print the resolved config (every default filled in, paths resolved) and exit.
    #[arg(long)]
    print_config: bool,
    /// Log lines for people (`human`) or one JSON object per line (`json`). The level
    /// comes from RUST_LOG (default `info`).
    #[arg(long, value_enum, default_value = "human")]
    log_format: LogFormat,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub(crate) enum LogFormat {
    /// Human-readable lines.
    Human,
    /// One JSON object per line.
    Json,
}

pub(crate) fn init_logs(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // A second initialisation (tests in one process) is harmless: the first one stays.
    let _ = match format {
        LogFormat::Human => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// Resolves on Ctrl-C or SIGTERM.
async fn stop_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => ctrl_c.await,
        }
    }
    #[cfg(not(unix))]
    ctrl_c.await;
}

pub(crate) fn run(args: NodeArgs) -> anyhow::Result<ExitCode> {
    let cfg = NodeConfig::load(&args.config)?;
    if args.print_config {
        print!("{}", cfg.render());
        return Ok(ExitCode::SUCCESS);
    }
    init_logs(args.log_format);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(pinpoint_actors::run::run(&cfg, stop_signal()))
        .with_context(|| format!("running the node of {}", args.config.display()))?;
    Ok(ExitCode::SUCCESS)
}
