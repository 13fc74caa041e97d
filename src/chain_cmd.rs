//! `pinpoint chain …`: deploy the settlement contracts to a JSON-RPC endpoint and show the
//! state of a chain (a JSON-RPC endpoint, or the embedded chain in its log directory).

use std::{path::PathBuf, process::ExitCode};

use anyhow::Context;
use clap::{Args, Subcommand};
use pinpoint_chain::{
    Address, Addresses, DeployConfig, Embedded, Evm, PIN, PrivateKeySigner, RetryPolicy,
    Settlement, Totals, U256, read_key_file,
};

#[derive(Debug, Subcommand)]
pub(crate) enum ChainCommand {
    /// Deploy PinToken, Staking and JobMarket to a JSON-RPC endpoint (anvil or an L2).
    ///
    /// The deployer's key pays for four transactions and receives the whole token supply.
    /// The contract addresses are written as JSON to --out.
    Deploy(DeployArgs),
    /// Show total supply, burned, staked, escrow and open jobs.
    ///
    /// With --rpc, reads a deployed chain (addresses from --addresses). Without it, reads the
    /// embedded chain stored in --data (a read: if none is stored there, a fresh one in memory).
    Status(StatusArgs),
}

#[derive(Debug, Args)]
pub(crate) struct DeployArgs {
    /// JSON-RPC endpoint, e.g. http://127.0.0.1:8545.
    #[arg(long, value_name = "URL")]
    rpc: String,
    /// File holding the deployer's hex private key.
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    /// Where to write the addresses (JSON).
    #[arg(long, value_name = "FILE", default_value = "addresses.json")]
    out: PathBuf,
    /// Fail unless the endpoint serves this chain id.
    #[arg(long)]
    chain_id: Option<u64>,
    /// Treasury that receives 30% of the protocol fee (default: the deployer).
    #[arg(long, value_name = "ADDRESS")]
    treasury: Option<Address>,
    /// Arbiters per dispute committee (odd, ≤ 15; 1 = Verde's single referee).
    #[arg(long, default_value_t = 1)]
    committee_size: u64,
    /// Unbonding delay in seconds.
    #[arg(long, default_value_t = 7 * 24 * 3600)]
    unbonding_delay: u64,
}

#[derive(Debug, Args)]
pub(crate) struct StatusArgs {
    /// JSON-RPC endpoint; without it, the embedded chain in --data is read.
    #[arg(long, value_name = "URL")]
    rpc: Option<String>,
    /// Addresses file written by `pinpoint chain deploy` (with --rpc).
    #[arg(long, value_name = "FILE", default_value = "addresses.json")]
    addresses: PathBuf,
    /// Directory of the embedded chain (its config and transaction log).
    #[arg(long, value_name = "DIR", default_value = ".pinpoint/chain")]
    data: PathBuf,
}

pub(crate) fn run(cmd: ChainCommand) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(async {
        match cmd {
            ChainCommand::Deploy(args) => deploy(args).await,
            ChainCommand::Status(args) => status(args).await,
        }
    })
}

async fn deploy(args: DeployArgs) -> anyhow::Result<ExitCode> {
    let key = read_key_file(&args.key)?;
    // Check --out before deploying: contracts whose addresses were never shown are lost.
    check_writable(&args.out)?;
    let config = DeployConfig {
        treasury: args.treasury.unwrap_or(key.address()),
        committee_size: args.committee_size,
        unbonding_delay: args.unbonding_delay,
        ..DeployConfig::default()
    };
    let evm = Evm::deploy(
        &args.rpc,
        key,
        &config,
        args.chain_id,
        RetryPolicy::default(),
    )
    .await
    .with_context(|| format!("deploying to {}", args.rpc))?;
    let a = evm.addresses();
    a.write_json(&args.out)?;
    println!("chain id  {}", evm.chain_id());
    println!("token     {}", a.token);
    println!("staking   {}", a.staking);
    println!("market    {}", a.market);
    println!("addresses written to {}", args.out.display());
    Ok(ExitCode::SUCCESS)
}

async fn status(args: StatusArgs) -> anyhow::Result<ExitCode> {
    let (source, totals, nodes) = match &args.rpc {
        Some(url) => {
            let addresses = Addresses::read_json(&args.addresses)?;
            // Read-only: a throwaway key, never used to sign.
            let key = PrivateKeySigner::random();
            let evm = Evm::connect(url, vec![key], None, addresses, RetryPolicy::default())
                .await
                .with_context(|| format!("connecting to {url}"))?;
            evm.check_deployed().await?;
            (
                format!("{url} (chain id {})", evm.chain_id()),
                evm.totals().await?,
                pinpoint_chain::registered_nodes(&evm).await?,
            )
        }
        None => {
            // A read creates nothing: without a stored chain, show a fresh one in memory.
            if args.data.join("config.json").exists() {
                let (chain, report) = Embedded::open_existing(&args.data).with_context(|| {
                    format!("opening the embedded chain in {}", args.data.display())
                })?;
                (
                    format!(
                        "embedded chain in {} ({} transactions, block {})",
                        args.data.display(),
                        report.records,
                        chain.block_number()
                    ),
                    chain.totals().await?,
                    pinpoint_chain::registered_nodes(&chain).await?,
                )
            } else {
                let chain = Embedded::in_memory(&DeployConfig::default())
                    .context("starting a fresh embedded chain in memory")?;
                (
                    format!(
                        "no embedded chain stored in {} yet; a fresh one (nothing written):",
                        args.data.display()
                    ),
                    chain.totals().await?,
                    pinpoint_chain::registered_nodes(&chain).await?,
                )
            }
        }
    };
    print_totals(&source, &totals);
    print_nodes(&nodes);
    Ok(ExitCode::SUCCESS)
}

/// Fails unless `path` can be written: its directory exists (or is created) and a file can be
/// created there. Nothing is left behind.
fn check_writable(path: &std::path::Path) -> anyhow::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("--out {}: cannot create {}", path.display(), dir.display()))?;
    let probe = dir.join(format!(".pinpoint-write-check-{}", std::process::id()));
    std::fs::write(&probe, b"").with_context(|| {
        format!(
            "--out {}: {} is not writable",
            path.display(),
            dir.display()
        )
    })?;
    let _ = std::fs::remove_file(&probe);
    if path.is_dir() {
        anyhow::bail!("--out {}: is a directory, not a file", path.display());
    }
    Ok(())
}

/// Formats base units as PIN with up to 18 decimals.
pub(crate) fn pin(x: U256) -> String {
    let unit = U256::from(PIN);
    let (whole, frac) = (x / unit, x % unit);
    if frac.is_zero() {
        return format!("{whole} PIN");
    }
    let digits = frac.to_string();
    let padded = "0".repeat(18usize.saturating_sub(digits.len())) + &digits;
    format!("{whole}.{} PIN", padded.trim_end_matches('0'))
}

fn print_totals(source: &str, t: &Totals) {
    println!("{source}");
    println!("initial supply  {}", pin(t.initial_supply));
    println!("total supply    {}", pin(t.total_supply));
    println!("burned          {}", pin(t.burned));
    println!("staked          {}", pin(t.staked));
    println!("escrow          {}", pin(t.escrow));
    println!("open jobs       {} (of {} posted)", t.open_jobs, t.jobs);
    println!("disputes        {}", t.disputes);
    println!("arbiters        {}", t.arbiters);
}

/// Registered nodes (signatures verified) per role: count, then one line per node.
fn print_nodes(nodes: &[pinpoint_chain::RegisteredNode]) {
    println!("nodes           {} registered", nodes.len());
    for role in pinpoint_chain::Role::ALL {
        let serving: Vec<_> = nodes.iter().filter(|n| n.serves(role)).collect();
        println!(
            "  {:<9} {}",
            format!("{role:?}").to_lowercase(),
            serving.len()
        );
        for n in serving {
            println!("    {} {} {}", n.node_id, n.account, n.endpoint);
        }
    }
}
