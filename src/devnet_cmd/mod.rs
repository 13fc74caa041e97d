//! `pinpoint devnet`: a whole network on this machine. In this process (logic in
//! `pinpoint_actors::devnet`) on the embedded chain or on anvil (`--chain anvil`), or as
//! separate `pinpoint node` processes on anvil (`--processes`, [`processes`]). This module
//! parses flags, posts the job, shows progress and prints the summary.

mod anvil;
mod child;
mod processes;
mod progress;
mod summary;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use clap::Args;
use pinpoint_actors::api::bridge::Bridge;
use pinpoint_actors::api::{self, ApiConfig, ApiHandle, ApiState};
use pinpoint_actors::conduct::{Cheat, JobState};
use pinpoint_actors::devnet::{DevChain, Devnet, Plan, Terms};
use pinpoint_chain::{Addresses, Evm, RetryPolicy, Role, Settlement};
use pinpoint_train::fs::run::{load_job, override_steps};
use pinpoint_train::{JobSpec, LoadedSpec};
use tokio::sync::broadcast::error::RecvError;

use progress::{Member, View};
use summary::{Account, Before, Summary};

/// Start a whole network on this machine and watch a cheating trainer get caught.
///
/// Starts a submitter, trainers (the second one cheats), verifiers and arbiters, each a full
/// node on its own QUIC endpoint on 127.0.0.1, all on one chain: the embedded one in this
/// process, or the pinned anvil (--chain anvil) over JSON-RPC; with --processes every node is
/// a separate `pinpoint node` process with its own config, keys and data directory. Posts a
/// training job; shows the trainers' progress and then the dispute's bisection live; prints
/// the disputed step and operator, the verdict, who was slashed, the payouts, the fee burned
/// and the treasury's part, and checks that every token is accounted for (docs/devnet.md).
/// Everything it started (anvil, node processes) is stopped when it ends, also on Ctrl-C.
/// With RUST_LOG set (e.g. `RUST_LOG=info`), the in-process nodes' logs go to stderr.
///
/// Exit status: 0 when every check holds, 1 when a check fails, 2 when the job does not
/// finalize within --timeout (or the devnet cannot start, or it is interrupted).
///
/// Examples:
///   pinpoint devnet
///   pinpoint devnet --cheat none
///   pinpoint devnet --cheat wrong-node:7:40
///   pinpoint devnet --seed 3 --json
///   pinpoint devnet --spec examples/mlp.toml --keep --dir /tmp/devnet
///   pinpoint devnet --chain anvil
///   pinpoint devnet --chain anvil --processes --dir /tmp/devnet --keep
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub(crate) struct DevnetArgs {
    /// Trainers (every one takes the job; with a cheat, the second one cheats).
    #[arg(long, value_name = "N", default_value_t = 3,
          value_parser = clap::value_parser!(u8).range(1..))]
    trainers: u8,
    /// Sampling verifiers.
    #[arg(long, value_name = "N", default_value_t = 2)]
    verifiers: u8,
    /// Arbiters (a dispute committee is 3 of them, or 1 when there are fewer than 3).
    #[arg(long, value_name = "N", default_value_t = 3,
          value_parser = clap::value_parser!(u8).range(1..))]
    arbiters: u8,
    /// How the second trainer cheats: `none`, or `wrong-node[:STEP:NODE]`: the output of
    /// operator NODE (1-based, in the step graph's order) of step STEP (1..=T) is wrong, and
    /// so is every state from STEP on. Without STEP:NODE, both follow from --seed.
    #[arg(long, value_name = "STRATEGY", default_value = "wrong-node", value_parser = parse_cheat)]
    cheat: CheatArg,
    /// The job spec (TOML, as for `pinpoint train`) [default: examples/addition.toml with
    /// 160 steps of batch 32].
    #[arg(long, value_name = "FILE")]
    spec: Option<PathBuf>,
    /// Picks the cheat's step and operator when --cheat gives none.
    #[arg(long, value_name = "N", default_value_t = 1)]
    seed: u64,
    /// The nodes' data directory (empty or absent) [default: a temporary one, removed at the end].
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// Serve the dashboard and HTTP API of one node (the first arbiter: it referees the
    /// dispute) from the start, print its URL, and stay up after the summary until Ctrl-C.
    #[arg(long)]
    keep: bool,
    /// With --keep: where the dashboard and API listen (127.0.0.1 and a port the OS picks by
    /// default; a non-loopback address is refused: the devnet has no token).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
    api: std::net::SocketAddr,
    /// Print the summary as JSON on stdout (progress still goes to stderr).
    #[arg(long)]
    json: bool,
    /// Give up (exit 2) when the job has not finalized after this many seconds.
    #[arg(long, value_name = "SECS", default_value_t = 900)]
    timeout: u64,
    /// The chain: `embedded` (in this process) or `anvil` (the pinned anvil, started on a
    /// free port and killed at the end; the nodes reach it over JSON-RPC).
    #[arg(long, value_enum, default_value = "embedded")]
    chain: ChainKind,
    /// Run every node as a separate `pinpoint node --config DIR/<node>/node.toml` process
    /// (needs --chain anvil); their logs are `DIR/<node>/node.log`.
    #[arg(long)]
    processes: bool,
    /// The anvil binary [default: $PINPOINT_ANVIL, else the repository's pinned one, installed
    /// by scripts/eth-tools if missing].
    #[arg(long, value_name = "PATH")]
    anvil: Option<PathBuf>,
    /// Fault injection (with --processes): SIGKILL the node NAME (a trainer) once it saved a
    /// training checkpoint at step STEP or later (default: its first) before its last step, and
    /// start it again with the same config and data directory.
    #[arg(long, value_name = "NAME[@STEP]", requires = "processes")]
    crash: Option<String>,
}

/// `--chain`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ChainKind {
    /// The embedded chain (revm), in this process.
    Embedded,
    /// The pinned anvil over JSON-RPC.
    Anvil,
}

/// Where an RPC chain's state can be read (shown in the JSON summary, for `cast`).
#[derive(Debug, Clone)]
struct Endpoint {
    url: String,
    addresses: Addresses,
}

/// Retries and polling for a local anvil (which mines each transaction at once).
fn local_retry() -> RetryPolicy {
    RetryPolicy {
        attempts: 5,
        initial_backoff: Duration::from_millis(100),
        poll_interval: Duration::from_millis(20),
        receipt_timeout: Duration::from_secs(60),
    }
}

/// `--cheat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CheatArg {
    /// Everybody is honest.
    None,
    /// A wrong operator output; `None`: chosen from the seed.
    WrongNode(Option<Cheat>),
}

fn parse_cheat(s: &str) -> Result<CheatArg, String> {
    if s == "none" {
        return Ok(CheatArg::None);
    }
    let Some(rest) = s.strip_prefix("wrong-node") else {
        return Err(format!(
            "unknown strategy {s:?}: use none or wrong-node[:STEP:NODE]"
        ));
    };
    if rest.is_empty() {
        return Ok(CheatArg::WrongNode(None));
    }
    let nums: Vec<&str> = rest.trim_start_matches(':').split(':').collect();
    match (rest.starts_with(':'), nums.as_slice()) {
        (true, [step, node]) => {
            let n = |x: &str| {
                x.parse::<u64>()
                    .ok()
                    .filter(|v| *v >= 1)
                    .ok_or_else(|| format!("{x:?} in {s:?}: expected a whole number ≥ 1"))
            };
            Ok(CheatArg::WrongNode(Some(Cheat {
                step: n(step)?,
                node: n(node)?,
            })))
        }
        _ => Err(format!(
            "{s:?}: expected wrong-node or wrong-node:STEP:NODE"
        )),
    }
}

/// The default job: the example addition transformer, small enough that the whole devnet
/// (three trainers, the verifiers' samples, the dispute's replays) runs in about a minute on
/// two cores.
const DEFAULT_STEPS: u64 = 160;
/// See [`DEFAULT_STEPS`].
const DEFAULT_BATCH: u32 = 32;

fn default_spec() -> anyhow::Result<JobSpec> {
    let text = include_str!("../../examples/addition.toml");
    let mut spec = LoadedSpec::from_toml_str(text)
        .context("the built-in examples/addition.toml")?
        .spec;
    spec.batch_size = DEFAULT_BATCH;
    override_steps(&mut spec, DEFAULT_STEPS)?;
    Ok(spec)
}

fn load_spec(path: Option<&Path>) -> anyhow::Result<JobSpec> {
    let Some(path) = path else {
        return default_spec();
    };
    let (loaded, text) = load_job(path, None)?;
    if text.is_some() {
        bail!(
            "{}: a job over a text file is not supported by the devnet yet (its nodes fetch \
             only the spec)",
            path.display()
        );
    }
    Ok(loaded.spec)
}

/// SplitMix64: spreads a seed into well-mixed words.
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The cheat of `arg` for `spec` (checked against its step count and graph).
fn resolve_cheat(arg: CheatArg, spec: &JobSpec, seed: u64) -> anyhow::Result<Option<Cheat>> {
    let nodes = summary::operator_count(spec)?;
    let cheat = match arg {
        CheatArg::None => return Ok(None),
        CheatArg::WrongNode(Some(c)) => c,
        CheatArg::WrongNode(None) => Cheat {
            step: 1 + mix(seed) % spec.steps,
            node: 1 + mix(mix(seed)) % nodes,
        },
    };
    if cheat.step > spec.steps || cheat.node > nodes {
        bail!(
            "--cheat wrong-node:{}:{}: the job has steps 1..={} and operators 1..={nodes} per step",
            cheat.step,
            cheat.node,
            spec.steps
        );
    }
    if !cfg!(feature = "adversary") {
        bail!("this build has no `adversary` feature: only --cheat none runs");
    }
    Ok(Some(cheat))
}

/// The nodes' directory: `--dir` (created; refused unless empty) or a temporary one.
fn data_dir(dir: Option<&Path>) -> anyhow::Result<(PathBuf, Option<tempfile::TempDir>)> {
    match dir {
        Some(d) => {
            std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
            let used = std::fs::read_dir(d)
                .with_context(|| format!("reading {}", d.display()))?
                .next()
                .is_some();
            if used {
                bail!(
                    "--dir {}: not empty (a devnet starts from nothing; give an empty or new directory)",
                    d.display()
                );
            }
            Ok((d.to_path_buf(), None))
        }
        None => {
            let t = tempfile::Builder::new()
                .prefix("pinpoint-devnet-")
                .tempdir()
                .context("creating a temporary directory")?;
            Ok((t.path().to_path_buf(), Some(t)))
        }
    }
}

/// Runs the command.
pub(crate) fn run(args: DevnetArgs) -> anyhow::Result<ExitCode> {
    if args.processes && args.chain != ChainKind::Anvil {
        bail!(
            "--processes needs --chain anvil: the embedded chain lives in one process's memory, \
             so separate node processes cannot share it (run `pinpoint devnet --chain anvil \
             --processes`)"
        );
    }
    if std::env::var_os("RUST_LOG").is_some() {
        // The in-process nodes' logs, on stderr beside the progress lines (with --processes
        // each node writes its own node.log).
        crate::node_cmd::init_logs(crate::node_cmd::LogFormat::Human);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    // A signal drops the devnet's future: everything it started (anvil, node processes, the
    // temporary directory) is stopped and removed on the way out.
    let result = rt.block_on(async {
        let stop = StopSignal::listen();
        let run = devnet(args, &stop);
        tokio::pin!(run);
        tokio::select! {
            biased;
            r = &mut run => r,
            s = stop.wait() => {
                if stop.is_awaited() {
                    // The devnet was staying up until this very signal (--keep): it stops
                    // cleanly and reports the run's own status, however the two waits woke.
                    tokio::time::timeout(KEEP_STOP_GRACE, run).await.unwrap_or_else(|_| {
                        let grace = KEEP_STOP_GRACE.as_secs();
                        Err(anyhow!("interrupted ({s}): the devnet did not stop within {grace} s"))
                    })
                } else {
                    Err(anyhow!("interrupted ({s}): stopped everything the devnet started"))
                }
            }
        }
    });
    // Compute still running on blocking threads (a verifier's sample) must not hold the exit.
    rt.shutdown_background();
    result
}

/// How long a devnet that stays up (--keep) may take to stop its nodes and anvil after the signal.
const KEEP_STOP_GRACE: std::time::Duration = std::time::Duration::from_secs(60);

/// The first Ctrl-C (SIGINT) or SIGTERM, seen by every waiter, however late it starts waiting.
///
/// One listener records the signal; waiters read the record. Two independent listeners (the
/// devnet's own "stays up" wait and the interrupt around the whole run) could disagree about
/// one signal: the outer one alone seeing it turned a clean stop into an "interrupted" error.
///
/// A waiter that expects the signal as its normal end (the devnet staying up with --keep) says
/// so ([`StopSignal::wait_as_the_end`]): the interrupt around the whole run then lets the run
/// finish instead of reporting an interruption. Under load the outer wait was sometimes woken
/// and chosen before the devnet's own, and a clean Ctrl-C exited with status 2.
#[derive(Clone)]
struct StopSignal {
    rx: tokio::sync::watch::Receiver<Option<&'static str>>,
    awaited: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl StopSignal {
    /// Starts the listener (on the current runtime).
    fn listen() -> Self {
        let (tx, rx) = tokio::sync::watch::channel(None);
        tokio::spawn(async move {
            let _ = tx.send(Some(next_signal().await));
        });
        Self {
            rx,
            awaited: Default::default(),
        }
    }

    /// [`StopSignal::wait`], for a waiter whose normal end is the signal.
    async fn wait_as_the_end(&self) -> &'static str {
        self.awaited
            .store(true, std::sync::atomic::Ordering::SeqCst);
        self.wait().await
    }

    /// Whether a waiter expects the signal as its normal end.
    fn is_awaited(&self) -> bool {
        self.awaited.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Resolves once a signal has arrived (at once if it already has); names it.
    async fn wait(&self) -> &'static str {
        let mut rx = self.rx.clone();
        match rx.wait_for(Option::is_some).await {
            Ok(seen) => (*seen).unwrap_or("a signal"),
            // The listener ended without a signal: only at runtime shutdown.
            Err(_) => std::future::pending().await,
        }
    }
}

/// Resolves on the next Ctrl-C (SIGINT) or SIGTERM; names the signal.
async fn next_signal() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    match signal(SignalKind::terminate()) {
        Ok(mut term) => tokio::select! {
            _ = ctrl_c => "Ctrl-C",
            _ = term.recv() => "SIGTERM",
        },
        Err(_) => {
            ctrl_c.await;
            "Ctrl-C"
        }
    }
}

async fn devnet(args: DevnetArgs, stop: &StopSignal) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let spec = load_spec(args.spec.as_deref())?;
    let cheat = resolve_cheat(args.cheat, &spec, args.seed)?;
    if cheat.is_some() && args.trainers < 2 {
        bail!("a cheat needs at least 2 trainers (the second one cheats): use --cheat none");
    }
    let (dir, _temp) = data_dir(args.dir.as_deref())?;
    let mut plan = Plan::standard(&dir, cheat);
    plan.trainers = usize::from(args.trainers);
    plan.verifiers = usize::from(args.verifiers);
    plan.arbiters = usize::from(args.arbiters);
    plan.committee = if args.arbiters >= 3 { 3 } else { 1 };
    // Parties replay the job up to the disputed step before they answer the node phase:
    // give them a minute on a slow machine. The referee waits only for a query left unanswered:
    // today the first query of the node phase always is, until its re-ask after `answer_ms`.
    plan.deadlines.answer_ms = 5_000;
    plan.deadlines.max_retries = 11;
    // A slower chain clock than the library's test default leaves a busy machine time to
    // fetch the spec and accept (120 chain seconds) and the committee time to rule (3 600).
    plan.chain_second = Duration::from_millis(50);

    let where_ = match (args.chain, args.processes) {
        (ChainKind::Embedded, _) => "one embedded chain, QUIC on 127.0.0.1",
        (ChainKind::Anvil, false) => "anvil (JSON-RPC), QUIC on 127.0.0.1, in this process",
        (ChainKind::Anvil, true) => "anvil (JSON-RPC), QUIC on 127.0.0.1, each node a process",
    };
    eprintln!(
        "devnet: a submitter, {} trainers, {} verifiers, {} arbiters (committee {}) on {where_}; \
         data in {}",
        plan.trainers,
        plan.verifiers,
        plan.arbiters,
        plan.committee,
        dir.display()
    );
    match (args.chain, args.processes) {
        (ChainKind::Embedded, _) => {
            let net = Devnet::start(&plan).await.context("starting the devnet")?;
            in_process(&args, net, &spec, started, None, stop).await
        }
        (ChainKind::Anvil, false) => {
            let bin = anvil::locate(args.anvil.as_deref())?;
            let anvil = anvil::start(&bin, &dir.join("anvil.log")).await?;
            eprintln!(
                "  anvil       {} ({}, log {})",
                anvil.url,
                bin.display(),
                anvil.proc.log.display()
            );
            let evm = Evm::deploy(
                &anvil.url,
                anvil.deployer.clone(),
                &plan.deploy_config(),
                None,
                local_retry(),
            )
            .await
            .with_context(|| format!("deploying the contracts to anvil at {}", anvil.url))?;
            let addresses = evm.addresses();
            addresses.write_json(&dir.join("addresses.json"))?;
            let mut signers = vec![anvil.deployer.clone()];
            signers.extend(plan.signers()?);
            let evm = Evm::connect(&anvil.url, signers, None, addresses, local_retry()).await?;
            // Every node reads the chain over JSON-RPC: fewer reads than on the embedded chain.
            plan.tick = Duration::from_millis(250);
            let net = Devnet::start_on(&plan, evm)
                .await
                .context("starting the devnet")?;
            let endpoint = Endpoint {
                url: anvil.url.clone(),
                addresses,
            };
            let code = in_process(&args, net, &spec, started, Some(&endpoint), stop).await;
            drop(anvil);
            code
        }
        (ChainKind::Anvil, true) => processes::run(&args, &plan, &spec, &dir, started, stop).await,
    }
}

/// Prints the summary (text, or JSON with the RPC endpoint when there is one).
fn print_summary(
    args: &DevnetArgs,
    summary: &Summary,
    endpoint: Option<&Endpoint>,
) -> anyhow::Result<()> {
    if args.json {
        let mut v = summary.json();
        if let Some(e) = endpoint {
            v["rpc"] = serde_json::json!({
                "url": e.url,
                "token": e.addresses.token.to_string(),
                "staking": e.addresses.staking.to_string(),
                "market": e.addresses.market.to_string(),
            });
        }
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        print!("{}", summary.text());
        if let Some(e) = endpoint {
            println!(
                "chain: {} (token {}, staking {}, market {})",
                e.url, e.addresses.token, e.addresses.staking, e.addresses.market
            );
        }
    }
    Ok(())
}

/// Runs the job on a devnet whose nodes are in this process, shows its progress and prints
/// the summary.
async fn in_process<S: DevChain>(
    args: &DevnetArgs,
    net: Devnet<S>,
    spec: &JobSpec,
    started: Instant,
    endpoint: Option<&Endpoint>,
    stop: &StopSignal,
) -> anyhow::Result<ExitCode> {
    let net = Arc::new(net);
    for n in &net.nodes {
        let what = n.cheat.map_or(String::new(), |c| {
            format!(
                " CHEATS: wrong output of operator #{} in step {}",
                c.node, c.step
            )
        });
        eprintln!("  {:<11} {} {}{what}", n.name, n.addr, n.node);
    }
    let members: Vec<Member> = net
        .nodes
        .iter()
        .map(|n| Member {
            name: n.name.clone(),
            node: n.node,
            trainer: n.role == Some(Role::Trainer),
            cheat: n.cheat,
        })
        .collect();
    let accounts: Vec<Account> = net
        .nodes
        .iter()
        .map(|n| Account {
            name: n.name.clone(),
            role: n.role,
            account: n.account,
            cheat: n.cheat,
        })
        .collect();
    let treasury = pinpoint_chain::deploy::DEFAULT_TREASURY;
    let before = Before::read(&*net.chain.lock().await, treasury).await?;
    let api = if args.keep {
        Some(serve_dashboard(&net, args.api).await?)
    } else {
        None
    };
    let terms = Terms::standard(args.trainers);
    let mut view = View::new(members, spec.steps);
    let mut events = net.subscribe();
    let job = net.post_job(spec, terms).await.context("posting the job")?;
    eprintln!(
        "job {job} posted: {} steps, {} replicas, payment {}, bond {} each",
        spec.steps,
        terms.replicas,
        crate::chain_cmd::pin(terms.payment),
        crate::chain_cmd::pin(terms.bond)
    );
    view.start_training();

    let deadline = started + Duration::from_secs(args.timeout);
    let mut poll = tokio::time::interval(Duration::from_millis(250));
    loop {
        tokio::select! {
            ev = events.recv() => match ev {
                Ok((i, e)) => view.on(i, &e),
                Err(RecvError::Lagged(n)) => view.lagged(n),
                Err(RecvError::Closed) => break,
            },
            _ = poll.tick() => {
                let state = net
                    .submitter()
                    .status()
                    .await?
                    .jobs
                    .iter()
                    .find(|(j, _)| *j == job)
                    .map(|(_, s)| *s);
                match state {
                    Some(JobState::Finalized) => break,
                    Some(JobState::Cancelled) => {
                        view.finish();
                        bail!("job {job} was cancelled (not enough trainers accepted in time, or the committee never ruled)");
                    }
                    _ => {}
                }
                if Instant::now() > deadline {
                    view.finish();
                    bail!(
                        "job {job} did not finalize within {} s (the submitter sees it as {}); \
                         a slow or busy machine may need a larger --timeout",
                        args.timeout,
                        state.map_or_else(|| "not yet posted".into(), |s| format!("{s:?}"))
                    );
                }
            }
        }
    }
    // Reports that were sent before the finalization are shown before the summary.
    while let Ok((i, e)) = events.try_recv() {
        view.on(i, &e);
    }
    view.finish();
    let wall_s = started.elapsed().as_secs_f64();

    let summary = summary::read(
        &*net.chain.lock().await,
        spec,
        job,
        terms.payment,
        &accounts,
        before,
        view.rounds(),
        wall_s,
    )
    .await?;
    print_summary(args, &summary, endpoint)?;
    if args.keep {
        let at = endpoint.map_or(String::new(), |e| format!(" (chain at {})", e.url));
        eprintln!("the devnet stays up{at}; Ctrl-C stops it");
        stop.wait_as_the_end().await;
        eprintln!("stopping");
    }
    // No await from here on: `run` races this future against the same Ctrl-C, and it must end
    // in the poll that sees the signal for the summary's exit status to count (the server's
    // tasks end with the runtime).
    drop(api);
    drop(net);
    Ok(if summary.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// `--keep`: serves the dashboard and API of the first arbiter (it referees the dispute; the
/// submitter's and the chain's views are there too), with the chain's totals and job
/// submission through the devnet's submitter, and prints its URL.
async fn serve_dashboard<S: DevChain + Send + Sync>(
    net: &Arc<Devnet<S>>,
    bind: std::net::SocketAddr,
) -> anyhow::Result<ApiHandle> {
    let index = net
        .nodes
        .iter()
        .position(|n| n.role == Some(Role::Arbiter))
        .unwrap_or(0);
    let node = &net.nodes[index];
    let bridge = Bridge::start(
        node.key.clone(),
        node.transport.clone(),
        node.assembly.network.clone(),
    )
    .await
    .context("starting the AXL bridge")?;
    let state = ApiState {
        conductor: node.conductor.clone(),
        events: api::node_events(net.subscribe(), index),
        totals: Some(api::chain_totals(net.chain.clone())),
        submit: Some(api::submit::devnet_submit(net.clone())),
        bridge: Some(bridge),
        results: Some(api::result::devnet_results(net.clone())),
    };
    let handle = api::serve(ApiConfig { bind, token: None }, state)
        .context("--api: serving the dashboard")?;
    eprintln!(
        "dashboard and API of {}: http://{}/",
        node.name,
        handle.addr()
    );
    Ok(handle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cheat_strategies_parse() {
        assert_eq!(parse_cheat("none"), Ok(CheatArg::None));
        assert_eq!(parse_cheat("wrong-node"), Ok(CheatArg::WrongNode(None)));
        assert_eq!(
            parse_cheat("wrong-node:3:17"),
            Ok(CheatArg::WrongNode(Some(Cheat { step: 3, node: 17 })))
        );
        for bad in [
            "wrong-node:3",
            "wrong-node:0:2",
            "wrong-node3:4",
            "wrong-node:a:b",
            "lie",
        ] {
            assert!(parse_cheat(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_seed_picks_a_cheat_inside_the_job() {
        let spec = default_spec().expect("the default spec");
        let n = summary::operator_count(&spec).expect("graph");
        let mut seen = std::collections::BTreeSet::new();
        for seed in 0..20 {
            let c = resolve_cheat(CheatArg::WrongNode(None), &spec, seed)
                .expect("resolves")
                .expect("a cheat");
            assert!((1..=spec.steps).contains(&c.step) && (1..=n).contains(&c.node));
            seen.insert((c.step, c.node));
        }
        assert!(seen.len() > 10, "seeds give different cheats: {seen:?}");
        let too_late = CheatArg::WrongNode(Some(Cheat {
            step: spec.steps + 1,
            node: 1,
        }));
        assert!(resolve_cheat(too_late, &spec, 0).is_err());
    }
}
