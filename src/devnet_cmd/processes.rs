//! `pinpoint devnet --chain anvil --processes`: the devnet's nodes as separate `pinpoint node`
//! processes, each with its own config, keys and data directory, against one anvil.
//!
//! This process starts anvil, deploys the contracts, writes every node's directory, funds its
//! account, starts the node processes and waits until each has staked and registered (they
//! enroll themselves, `pinpoint_actors::run`). It is the **submitter**: it posts the job from
//! its own account and serves the spec from its own store on its own QUIC endpoint, which
//! every node has as its bootstrap peer (nodes fetch a job's spec by its hash from their
//! peers). It moves anvil's clock (the same clock as the in-process devnet), follows the
//! chain's events for the progress lines (and the trainers' logs for their checkpoints), and
//! reads the summary from the chain. Every child is stopped on exit (SIGTERM, then SIGKILL
//! after a grace period), whatever ends the devnet.
//!
//! Layout of the devnet's directory:
//!
//! ```text
//! anvil.log                   anvil's output
//! addresses.json              the deployed contracts (pinpoint chain status --addresses)
//! submitter/keys/             the submitter's keys (this process)
//! submitter/store/            its store: the job's spec
//! <node>/node.toml            e.g. trainer-1/node.toml: `pinpoint node --config` reads it
//! <node>/keys/                node.key (ed25519 NodeId), evm.key (the staking account)
//! <node>/data/                the node's store, executor journal and settlement journal
//! <node>/node.log             the node's log (stdout and stderr; a restart appends)
//! ```

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read as _, Seek as _, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use pinpoint_actors::conduct::SharedChain;
use pinpoint_actors::devnet::{
    Member, Plan, SpecServer, Terms, approve_all, fund, post_job, spawn_clock, stake_for,
};
use pinpoint_actors::keys;
use pinpoint_chain::bindings::JobMarket::JobMarketEvents as M;
use pinpoint_chain::bindings::Staking::StakingEvents;
use pinpoint_chain::{Address, ChainEvent, Evm, NodeId, PIN, Role, Settlement};
use pinpoint_train::JobSpec;

use super::child::{Children, Proc};
use super::progress::{View, ruling_text, short};
use super::summary::{self, Account, Before};
use super::{DevnetArgs, Endpoint, anvil, local_retry};

/// How long the nodes have to stake and register.
const ENROLL_TIMEOUT: Duration = Duration::from_secs(180);

/// The line a node logs when its executor saved a training checkpoint
/// (`pinpoint_actors::executor::worker`).
const CHECKPOINT_LINE: &str = "checkpoint saved";

/// The line a node logs when its executor resumes a journalled job after a restart.
const RESUME_LINE: &str = "resuming the journalled request";

/// One node process of the devnet.
#[derive(Debug)]
struct NodeProc {
    member: Member,
    account: Address,
    node: NodeId,
    config: PathBuf,
    log: PathBuf,
    /// New log lines are read from here on.
    read: u64,
}

impl NodeProc {
    /// Starts `pinpoint node --config <config>` (this very binary).
    fn spawn(&self) -> anyhow::Result<Proc> {
        let exe = std::env::current_exe().context("finding this program's path")?;
        let mut cmd = Command::new(exe);
        cmd.arg("node").arg("--config").arg(&self.config);
        if std::env::var_os("RUST_LOG").is_none() {
            cmd.env("RUST_LOG", "info");
        }
        cmd.env("NO_COLOR", "1");
        Proc::spawn(&self.member.name, &mut cmd, &self.log)
    }

    /// The complete lines its log got since the last call.
    fn new_lines(&mut self) -> Vec<String> {
        let Ok(mut f) = File::open(&self.log) else {
            return Vec::new();
        };
        if f.seek(SeekFrom::Start(self.read)).is_err() {
            return Vec::new();
        }
        let mut bytes = Vec::new();
        if f.read_to_end(&mut bytes).is_err() {
            return Vec::new();
        }
        let Some(end) = bytes.iter().rposition(|b| *b == b'\n') else {
            return Vec::new();
        };
        self.read += end as u64 + 1;
        String::from_utf8_lossy(&bytes[..end])
            .lines()
            .map(str::to_string)
            .collect()
    }
}

/// The `step=N` field of a log line.
fn step_field(line: &str) -> Option<u64> {
    let rest = &line[line.find("step=")? + 5..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// `--crash NAME[@STEP]`: the node and the checkpoint step from which it is killed (default
/// 1: its first checkpoint).
fn parse_crash(s: &str) -> anyhow::Result<(String, u64)> {
    match s.split_once('@') {
        None => Ok((s.to_string(), 1)),
        Some((name, step)) => {
            let step = step
                .parse::<u64>()
                .ok()
                .filter(|v| *v >= 1)
                .with_context(|| format!("--crash {s}: STEP must be a whole number ≥ 1"))?;
            Ok((name.to_string(), step))
        }
    }
}

/// A node's `node.toml` (with the plan's dispute deadlines).
fn node_toml(m: &Member, role: Role, boot: &str, url: &str, plan: &Plan) -> String {
    let section = match role {
        Role::Trainer => "trainer",
        Role::Verifier => "verifier",
        Role::Arbiter => "arbiter",
        Role::Solver => "solver",
    };
    let stake_pin = stake_for(role) / pinpoint_chain::U256::from(PIN);
    let mut t = format!(
        "# Written by `pinpoint devnet --processes`: run with `pinpoint node --config node.toml`.\n\
         [node]\ndata_dir = \"data\"\nkey_file = \"keys/node.key\"\n\n\
         [roles.{section}]\nstake_pin = {stake_pin}\n\n\
         [network]\nlisten = \"127.0.0.1:0\"\nbootstrap = [\"{boot}\"]\n\n\
         [chain]\nkind = \"rpc\"\nurl = \"{url}\"\naddresses = \"../addresses.json\"\n\
         key_file = \"keys/evm.key\"\n\n\
         [jobs]\nverifier_samples = {}\ndispute_answer_ms = {}\ndispute_max_retries = {}\n\n\
         # Each node's HTTP API and dashboard on a port of its own (its log prints the URL).\n\
         [api]\nlisten = \"127.0.0.1:0\"\n",
        plan.samples, plan.deadlines.answer_ms, plan.deadlines.max_retries
    );
    if let Some(c) = m.cheat {
        t.push_str(&format!(
            "\n# This node cheats on purpose (the devnet's adversary).\n\
             [adversary]\ncheat = \"wrong-node:{}:{}\"\n",
            c.step, c.node
        ));
    }
    t
}

/// Runs the devnet of `plan` as processes; see the module docs.
///
/// Errors: anvil, the chain, a node that cannot start or dies (its log's last lines are in the
/// message), a job that does not finalize in time.
pub(super) async fn run(
    args: &DevnetArgs,
    plan: &Plan,
    spec: &JobSpec,
    dir: &Path,
    started: Instant,
    stop: &super::StopSignal,
) -> anyhow::Result<ExitCode> {
    let bin = anvil::locate(args.anvil.as_deref())?;
    let anvil = anvil::start(&bin, &dir.join("anvil.log")).await?;
    eprintln!(
        "  anvil       {} ({}, log {})",
        anvil.url,
        bin.display(),
        anvil.proc.log.display()
    );
    let deployer = anvil.deployer.clone();
    let evm = Evm::deploy(
        &anvil.url,
        deployer.clone(),
        &plan.deploy_config(),
        None,
        local_retry(),
    )
    .await
    .with_context(|| format!("deploying the contracts to anvil at {}", anvil.url))?;
    let addresses = evm.addresses();
    let addresses_file = dir.join("addresses.json");
    addresses.write_json(&addresses_file)?;

    // The submitter: this process, with keys, a store and a QUIC endpoint of its own.
    let sub_dir = dir.join("submitter");
    let sub_keys = keys::generate(&sub_dir.join("keys"))?;
    let sub_seed = keys::load_node_seed(&keys::key_paths(&sub_dir.join("keys")).0)?;
    let chain: SharedChain<Evm> = SharedChain::new(
        Evm::connect(
            &anvil.url,
            vec![deployer, sub_keys.evm.clone()],
            None,
            addresses,
            local_retry(),
        )
        .await?,
    );
    let server = SpecServer::start(&sub_dir.join("store"), sub_seed)?;
    let sub_addr = server.addr;
    let sub_account = sub_keys.evm_address();
    fund(&chain, sub_account).await?;
    approve_all(&chain, sub_account).await?;
    eprintln!(
        "  submitter   {sub_addr} {} (this process)",
        sub_keys.node_id()
    );
    let boot = format!("{}@{sub_addr}", sub_keys.node_id());

    // The nodes: a directory each, funded, then started.
    let mut nodes = Vec::new();
    for m in plan.members().into_iter().filter(|m| m.role.is_some()) {
        let Some(role) = m.role else { continue };
        let home = dir.join(&m.name);
        let k = keys::generate(&home.join("keys"))?;
        let config = home.join("node.toml");
        std::fs::write(&config, node_toml(&m, role, &boot, &anvil.url, plan))
            .with_context(|| format!("writing {}", config.display()))?;
        fund(&chain, k.evm_address()).await?;
        nodes.push(NodeProc {
            member: m,
            account: k.evm_address(),
            node: k.node_id(),
            config,
            log: home.join("node.log"),
            read: 0,
        });
    }
    let mut children = Children::default();
    for n in &nodes {
        children.0.push(n.spawn()?);
    }
    eprintln!(
        "  {} node processes started (`pinpoint node --config {}/<node>/node.toml`); waiting \
         until they have staked and registered",
        nodes.len(),
        dir.display()
    );
    wait_enrolled(&chain, &nodes, &mut children).await?;
    for n in &nodes {
        let what = n.member.cheat.map_or(String::new(), |c| {
            format!(
                " CHEATS: wrong output of operator #{} in step {}",
                c.node, c.step
            )
        });
        let pid = children.named(&n.member.name).map_or(0, |p| p.pid());
        eprintln!("  {:<11} pid {pid:<7} {}{what}", n.member.name, n.node);
    }

    let clock = spawn_clock(chain.clone(), plan.chain_second);
    let _clock = AbortOnDrop(clock);
    let treasury = plan.deploy_config().treasury;
    let before = Before::read(&*chain.lock().await, treasury).await?;
    let terms = Terms::standard(u8::try_from(plan.trainers).unwrap_or(u8::MAX));
    let job = post_job(&chain, &server.store, sub_account, spec, terms)
        .await
        .context("posting the job")?;
    eprintln!(
        "job {job} posted by the submitter: {} steps, {} replicas, payment {}, bond {} each",
        spec.steps,
        terms.replicas,
        crate::chain_cmd::pin(terms.payment),
        crate::chain_cmd::pin(terms.bond)
    );

    let mut names: Vec<(Address, String)> = nodes
        .iter()
        .map(|n| (n.account, n.member.name.clone()))
        .collect();
    names.push((sub_account, "submitter".into()));
    let mut follow = Follow {
        view: View::new(Vec::new(), spec.steps),
        names,
        job,
        cursor: 0,
        done: None,
    };
    let mut crash = args.crash.as_deref().map(parse_crash).transpose()?;
    let deadline = started + Duration::from_secs(args.timeout);
    loop {
        let events = chain.lock().await.events_since(follow.cursor).await?;
        for e in &events {
            follow.cursor = follow.cursor.max(e.block + 1);
            follow.on(&e.event);
        }
        for n in &mut nodes {
            for line in n.new_lines() {
                if line.contains(RESUME_LINE) {
                    follow.view.line(format!(
                        "{}: resumes its journalled job from its last checkpoint",
                        n.member.name
                    ));
                }
                let Some(step) = line
                    .contains(CHECKPOINT_LINE)
                    .then(|| step_field(&line))
                    .flatten()
                else {
                    continue;
                };
                follow.view.line(format!(
                    "{}: step {step}/{} (checkpoint saved)",
                    n.member.name, spec.steps
                ));
                let due = crash
                    .as_ref()
                    .is_some_and(|(name, at)| *name == n.member.name && step >= *at);
                if due && step < spec.steps {
                    crash = None;
                    restart(n, &mut children, &mut follow.view)?;
                }
            }
        }
        match follow.done {
            Some(true) => break,
            Some(false) => bail!(
                "job {job} was cancelled (not enough trainers accepted in time, or the committee \
                 never ruled); the nodes' logs:{}",
                log_tails(&nodes)
            ),
            None => {}
        }
        if let Some(p) = children.dead() {
            bail!("a node process died: {}", p.failure());
        }
        if Instant::now() > deadline {
            bail!(
                "job {job} did not finalize within {} s (a slow or busy machine may need a larger \
                 --timeout); the nodes' logs:{}",
                args.timeout,
                log_tails(&nodes)
            );
        }
        // While a crash is pending, the trainer's log is read often: a step takes tens of
        // milliseconds, and the kill must land before the last one.
        let poll = if crash.is_some() { 20 } else { 200 };
        tokio::time::sleep(Duration::from_millis(poll)).await;
    }
    if let Some((name, at)) = crash {
        bail!(
            "--crash {name}@{at}: it saved no training checkpoint at step {at} or later before \
             its last step (not a trainer, or a job too short to interrupt there)"
        );
    }
    follow.view.finish();
    let wall_s = started.elapsed().as_secs_f64();

    let mut accounts = vec![Account {
        name: "submitter".into(),
        role: None,
        account: sub_account,
        cheat: None,
    }];
    accounts.extend(nodes.iter().map(|n| Account {
        name: n.member.name.clone(),
        role: n.member.role,
        account: n.account,
        cheat: n.member.cheat,
    }));
    let summary = summary::read(
        &*chain.lock().await,
        spec,
        job,
        terms.payment,
        &accounts,
        before,
        BTreeMap::new(),
        wall_s,
    )
    .await?;
    let endpoint = Endpoint {
        url: anvil.url.clone(),
        addresses,
    };
    super::print_summary(args, &summary, Some(&endpoint))?;
    if args.keep {
        eprintln!(
            "the devnet stays up: anvil at {}, addresses in {}, nodes in {}; Ctrl-C stops it",
            anvil.url,
            addresses_file.display(),
            dir.display()
        );
        stop.wait_as_the_end().await;
        eprintln!("stopping");
    }
    drop(children);
    drop(anvil);
    Ok(if summary.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Lines of each node's log shown when the job failed.
const FAILED_JOB_TAIL_LINES: usize = 5;

/// Each node's log path and last lines.
fn log_tails(nodes: &[NodeProc]) -> String {
    nodes
        .iter()
        .map(|n| {
            format!(
                "\n  {}: {}{}",
                n.member.name,
                n.log.display(),
                super::child::tail(&n.log, FAILED_JOB_TAIL_LINES)
            )
        })
        .collect()
}

/// SIGKILLs node `n` and starts it again with the same config and data directory.
fn restart(n: &NodeProc, children: &mut Children, view: &mut View) -> anyhow::Result<()> {
    let Some(p) = children.named(&n.member.name) else {
        bail!("--crash {}: no such node process", n.member.name);
    };
    let pid = p.pid();
    p.kill_now();
    view.line(format!(
        "{}: killed with SIGKILL (pid {pid}) mid-training; restarting it with the same config \
         and data directory",
        n.member.name
    ));
    let fresh = n.spawn()?;
    if let Some(slot) = children.0.iter_mut().find(|p| p.name == n.member.name) {
        *slot = fresh;
    }
    Ok(())
}

/// Waits until every node's account is in the registry (each stakes before it registers).
async fn wait_enrolled(
    chain: &SharedChain<Evm>,
    nodes: &[NodeProc],
    children: &mut Children,
) -> anyhow::Result<()> {
    let since = Instant::now();
    loop {
        let registered = {
            let c = chain.lock().await;
            pinpoint_chain::registered_nodes(&*c).await?
        };
        let missing: Vec<&str> = nodes
            .iter()
            .filter(|n| !registered.iter().any(|r| r.account == n.account))
            .map(|n| n.member.name.as_str())
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        if let Some(p) = children.dead() {
            bail!("a node process died before it enrolled: {}", p.failure());
        }
        if since.elapsed() > ENROLL_TIMEOUT {
            let logs: Vec<String> = missing
                .iter()
                .filter_map(|m| children.named(m).map(|p| p.failure()))
                .collect();
            bail!(
                "{} did not stake and register within {} s: {}",
                missing.join(", "),
                ENROLL_TIMEOUT.as_secs(),
                logs.join("\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Aborts a task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The devnet's view of the job, from the chain's events.
struct Follow {
    view: View,
    names: Vec<(Address, String)>,
    job: u64,
    cursor: u64,
    /// `Some(true)`: finalized; `Some(false)`: cancelled.
    done: Option<bool>,
}

impl Follow {
    fn name(&self, a: &Address) -> String {
        self.names
            .iter()
            .find(|(x, _)| x == a)
            .map_or_else(|| a.to_string(), |(_, n)| n.clone())
    }

    fn names(&self, accounts: &[Address]) -> String {
        accounts
            .iter()
            .map(|a| self.name(a))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Shows one chain event (of this job, or of a dispute).
    fn on(&mut self, e: &ChainEvent) {
        let id = |x: pinpoint_chain::U256| u64::try_from(x).unwrap_or(u64::MAX);
        let text = match e {
            ChainEvent::Market(m) => match m {
                M::JobAccepted(a) if id(a.jobId) == self.job => {
                    format!("{}: accepted the job", self.name(&a.trainer))
                }
                M::JobAssigned(a) if id(a.jobId) == self.job => {
                    format!("job assigned to {}", self.names(&a.trainers))
                }
                M::RootCommitted(c) if id(c.jobId) == self.job => format!(
                    "{}: committed root {}",
                    self.name(&c.trainer),
                    short(&c.root.0)
                ),
                M::ChallengeWindowStarted(w) if id(w.jobId) == self.job => {
                    format!(
                        "commits closed; challenge window until chain time {}",
                        w.windowEnd
                    )
                }
                M::SeedFixed(_) => "the verifiers' sampling seed is fixed".to_string(),
                M::Challenged(c) if id(c.jobId) == self.job => format!(
                    "{}: challenges {}",
                    self.name(&c.verifier),
                    self.name(&c.trainer)
                ),
                M::DisputeOpened(d) if id(d.jobId) == self.job => format!(
                    "dispute #{} opened: {} (challenger) vs {} (defendant); committee {}",
                    d.disputeId,
                    self.name(&d.challenger),
                    self.name(&d.defendant),
                    self.names(&d.committee)
                ),
                M::VoteCast(v) => format!(
                    "{}: votes on dispute #{}: {} (step {} → {}, operator {})",
                    self.name(&v.arbiter),
                    v.disputeId,
                    ruling_text(v.ruling),
                    v.finding.step,
                    v.finding.step + 1,
                    v.finding.node
                ),
                M::Verdict(v) if id(v.jobId) == self.job => format!(
                    "verdict on dispute #{}: {}",
                    v.disputeId,
                    ruling_text(v.ruling)
                ),
                M::TrainerPaid(p) if id(p.jobId) == self.job => format!(
                    "{}: paid {}",
                    self.name(&p.trainer),
                    crate::chain_cmd::pin(p.amount)
                ),
                M::JobFinalized(f) if id(f.jobId) == self.job => {
                    self.done = Some(true);
                    format!("job {} finalized", self.job)
                }
                M::JobCancelled(c) if id(c.jobId) == self.job => {
                    self.done = Some(false);
                    format!("job {} cancelled", self.job)
                }
                _ => return,
            },
            ChainEvent::Staking(StakingEvents::Slashed(s)) => format!(
                "{}: slashed {}",
                self.name(&s.who),
                crate::chain_cmd::pin(s.amount)
            ),
            ChainEvent::Staking(StakingEvents::NodeUpdated(n)) => format!(
                "{}: registered its new endpoint {}",
                self.name(&n.account),
                n.endpoint
            ),
            _ => return,
        };
        self.view.line(text);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_step_field_of_a_log_line() {
        assert_eq!(
            step_field("2026-12-04T21:00:00Z  INFO x: checkpoint saved step=15 job=ab"),
            Some(15)
        );
        assert_eq!(step_field("checkpoint saved"), None);
        assert_eq!(step_field("step=x"), None);
    }

    #[test]
    fn crash_targets_parse() {
        assert_eq!(parse_crash("trainer-1").ok(), Some(("trainer-1".into(), 1)));
        assert_eq!(
            parse_crash("trainer-3@35").ok(),
            Some(("trainer-3".into(), 35))
        );
        assert!(parse_crash("trainer-3@0").is_err());
        assert!(parse_crash("trainer-3@x").is_err());
    }

    #[test]
    fn a_node_config_is_valid_and_names_the_cheat() {
        let m = Member {
            name: "trainer-2".into(),
            role: Some(Role::Trainer),
            cheat: Some(pinpoint_actors::conduct::Cheat { step: 3, node: 2 }),
        };
        let node = pinpoint_chain::NodeKey::from_seed([7; 32]).node_id();
        let boot = format!("{node}@127.0.0.1:7000");
        let mut plan = Plan::standard(Path::new("/tmp/devnet"), None);
        plan.deadlines.answer_ms = 5_000;
        plan.deadlines.max_retries = 11;
        let text = node_toml(&m, Role::Trainer, &boot, "http://127.0.0.1:8545", &plan);
        let dir = std::path::Path::new("/tmp/devnet/trainer-2");
        let c = pinpoint_actors::config::NodeConfig::from_toml_str(&text, dir, "node.toml")
            .expect("a valid node.toml");
        assert!(c.roles.trainer.is_some());
        assert_eq!(
            c.adversary.map(|a| a.cheat).as_deref(),
            Some("wrong-node:3:2")
        );
        assert_eq!(c.network.bootstrap, vec![boot]);
        assert_eq!(
            (c.jobs.dispute_answer_ms, c.jobs.dispute_max_retries),
            (5_000, 11)
        );
    }
}
