//! `pinpoint node …`: a node's configuration (logic in `pinpoint_actors::config`).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::bail;
use clap::Args;
use pinpoint_actors::config::NodeConfig;

/// Run a node with the roles in its config (docs/node.md).
///
/// The config is node.toml: roles and stakes, listen address, bootstrap peers, chain,
/// data directory and disk budget, executor threads, queue bounds, restart intensity and the
/// accepted-job policy. Unknown keys are rejected; every error names its field. Relative
/// paths are relative to the config file.
///
/// Examples:
///   pinpoint keys new --out keys
///   pinpoint node --config node.toml --print-config
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub(crate) struct NodeArgs {
    /// The node's config file.
    #[arg(long, value_name = "FILE", default_value = "node.toml")]
    config: PathBuf,
    /// Print the resolved config (every default filled in, paths resolved) and exit.
    #[arg(long)]
    print_config: bool,
}

pub(crate) fn run(args: NodeArgs) -> anyhow::Result<ExitCode> {
    let cfg = NodeConfig::load(&args.config)?;
    if args.print_config {
        print!("{}", cfg.render());
        return Ok(ExitCode::SUCCESS);
    }
    bail!(
        "{} is valid, but running a node is not built yet (the role actors of issue 13 are \
         pending); use --print-config to see the resolved config",
        args.config.display()
    )
}
