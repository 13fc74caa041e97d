//! `pinpoint devnet`: a whole network in this process (logic in `pinpoint_actors::devnet`;
//! this module parses flags, posts the job, shows progress and prints the summary).

mod progress;
mod summary;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use pinpoint_actors::api::bridge::Bridge;
use pinpoint_actors::api::{self, ApiConfig, ApiHandle, ApiState};
use pinpoint_actors::conduct::{Cheat, JobState};
use pinpoint_actors::devnet::{Devnet, Plan, Terms};
use pinpoint_chain::{Role, Settlement};
use pinpoint_train::fs::run::{load_job, override_steps};
use pinpoint_train::{JobSpec, LoadedSpec};
use tokio::sync::broadcast::error::RecvError;

use progress::{Member, View};
use summary::{Account, Inputs, Summary};

/// Start a whole network in this process and watch a cheating trainer get caught.
///
/// Starts a submitter, trainers (the second one cheats), verifiers and arbiters, each a full
/// node on its own QUIC endpoint on 127.0.0.1, all on one embedded chain; posts a training
/// job; shows the trainers' progress and then the dispute's bisection live; prints the
/// disputed step and operator, the verdict, who was slashed, the payouts, the fee burned and
/// the treasury's part, and checks that every token is accounted for (docs/devnet.md).
///
/// Exit status: 0 when every check holds, 1 when a check fails, 2 when the job does not
/// finalize within --timeout (or the devnet cannot start).
///
/// Examples:
///   pinpoint devnet
///   pinpoint devnet --cheat none
///   pinpoint devnet --cheat wrong-node:7:40
///   pinpoint devnet --seed 3 --json
///   pinpoint devnet --spec examples/mlp.toml --keep --dir /tmp/devnet
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
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let result = rt.block_on(devnet(args));
    // Compute still running on blocking threads (a verifier's sample) must not hold the exit.
    rt.shutdown_background();
    result
}

async fn devnet(args: DevnetArgs) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let spec = load_spec(args.spec.as_deref())?;
    let cheat = resolve_cheat(args.cheat, &spec, args.seed)?;
    if cheat.is_some() && args.trainers < 2 {
        bail!("a cheat needs at least 2 trainers (the second one cheats): use --cheat none");
    }
    let (dir, temp) = data_dir(args.dir.as_deref())?;
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

    eprintln!(
        "devnet: a submitter, {} trainers, {} verifiers, {} arbiters (committee {}) on one \
         embedded chain, QUIC on 127.0.0.1; data in {}",
        plan.trainers,
        plan.verifiers,
        plan.arbiters,
        plan.committee,
        dir.display()
    );
    let net = Arc::new(Devnet::start(&plan).await.context("starting the devnet")?);
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
    let (before, treasury_before, treasury) = {
        let c = net.chain.lock().await;
        let treasury = c.config().treasury;
        (c.totals().await?, c.balance_of(treasury).await?, treasury)
    };
    let api = if args.keep {
        Some(serve_dashboard(&net, args.api).await?)
    } else {
        None
    };
    let terms = Terms::standard(args.trainers);
    let mut view = View::new(members, spec.steps);
    let mut events = net.subscribe();
    let job = net
        .post_job(&spec, terms)
        .await
        .context("posting the job")?;
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

    let summary = {
        let c = net.chain.lock().await;
        let a = c.addresses();
        let mut balances = Vec::new();
        for n in &net.nodes {
            balances.push(c.balance_of(n.account).await?);
        }
        let deployer = pinpoint_chain::deploy::DEFAULT_DEPLOYER;
        let mut others = Vec::new();
        for (name, addr) in [
            ("deployer", deployer),
            ("treasury", treasury),
            ("Staking", a.staking),
            ("JobMarket", a.market),
        ] {
            others.push((name.to_string(), addr, c.balance_of(addr).await?));
        }
        let after = c.totals().await?;
        let events = c.events_since(0).await?;
        Summary::new(&Inputs {
            spec: &spec,
            job,
            payment: terms.payment,
            accounts: &accounts,
            others,
            balances,
            before,
            treasury: (treasury_before, c.balance_of(treasury).await?),
            after,
            events: &events,
            rounds: view.rounds(),
            wall_s,
        })
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary.json())?);
    } else {
        print!("{}", summary.text());
    }
    if args.keep {
        eprintln!(
            "the devnet stays up (data in {}); Ctrl-C stops it",
            dir.display()
        );
        wait_for_ctrl_c().await?;
    }
    if let Some(api) = api {
        api.stop().await;
    }
    drop(net);
    drop(temp);
    Ok(if summary.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// `--keep`: serves the dashboard and API of the first arbiter (it referees the dispute; the
/// submitter's and the chain's views are there too), with the chain's totals and job
/// submission through the devnet's submitter, and prints its URL.
async fn serve_dashboard(
    net: &Arc<Devnet>,
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

/// Raised by the SIGINT handler of `--keep`.
static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_sigint(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

/// Waits for Ctrl-C (SIGINT).
async fn wait_for_ctrl_c() -> anyhow::Result<()> {
    let handler: extern "C" fn(libc::c_int) = on_sigint;
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe; `signal` has
    // no other precondition.
    let previous = unsafe { libc::signal(libc::SIGINT, handler as libc::sighandler_t) };
    if previous == libc::SIG_ERR {
        bail!(
            "installing the Ctrl-C handler: {}",
            std::io::Error::last_os_error()
        );
    }
    while !STOP.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!("stopping");
    Ok(())
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
