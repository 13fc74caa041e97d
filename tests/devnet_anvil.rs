//! End-to-end tests of `pinpoint devnet --chain anvil`, with real processes: the pinned anvil
//! (`$PINPOINT_ANVIL`, installed by `scripts/eth-tools`) and, with `--processes`, every node a
//! separate `pinpoint node` process (this test binary's `pinpoint`, the test profile).
//!
//! - the nodes in this process on anvil catch the cheater (summary as JSON);
//! - the nodes as processes catch the cheater, and Foundry's `cast` (`$PINPOINT_CAST`) reads
//!   the same balances, burned amount, treasury and job state as the summary from the kept
//!   devnet's anvil; Ctrl-C then stops anvil and every node process;
//! - a trainer process killed with SIGKILL near the end of its training and restarted with the
//!   same config and data directory resumes from its checkpoint and commits the same root as
//!   the uninterrupted trainers; the job finalizes.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// Dev-dependencies are shared by every test, bench and example target; each uses some.
#![allow(unused_crate_dependencies)]

use std::io::{BufRead as _, BufReader, Read as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A pinned Foundry tool: `$VAR`, else the repository's `.cache/eth` (see `scripts/eth-tools`).
/// Missing is a test FAILURE with instructions, never a silent pass.
fn tool(var: &str, name: &str) -> PathBuf {
    let p = match std::env::var_os(var) {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!(
            ".cache/eth/node_modules/@foundry-rs/{name}-linux-amd64/bin/{name}"
        )),
    };
    assert!(
        p.is_file(),
        "{name} not found at {} ({var} or the default path): run `scripts/eth-tools` (installs \
         the pinned anvil and cast from npm) and re-run the tests",
        p.display()
    );
    p
}

fn pinpoint() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_pinpoint"));
    c.env("PINPOINT_ANVIL", tool("PINPOINT_ANVIL", "anvil"));
    c
}

fn text(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A fresh directory for `tag`.
fn fresh(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "pinpoint-devnet-anvil-{tag}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The 6-step MLP job of `tests/devnet.rs`, in `dir`.
fn tiny_spec(dir: &Path) -> PathBuf {
    let spec = dir.join("tiny.toml");
    std::fs::write(
        &spec,
        "seed = 3\nsteps = 6\ncheckpoint_every = 3\nbatch_size = 8\n\
         [model]\nkind = \"mlp\"\ninput = 2\nhidden = [8]\nclasses = 3\nactivation = \"relu\"\n\
         [data]\nkind = \"spirals\"\nclasses = 3\nturns = 1.0\nnoise = 0.05\n\
         [optimizer]\nkind = \"sgd\"\nlr = 0.05\nmomentum = 0.9\nweight_decay = 0.0\n\
         [eval]\nevery = 6\nbatches = 1\nbatch_size = 16\n",
    )
    .unwrap();
    spec
}

/// The example addition transformer cut to 40 steps of batch 32, a checkpoint every 5: long
/// enough (a few seconds) to be interrupted.
fn addition_spec(dir: &Path) -> PathBuf {
    let example = include_str!("../examples/addition.toml");
    let text: String = example
        .lines()
        .map(|l| match l {
            "steps = 4000" => "steps = 40",
            "checkpoint_every = 250" => "checkpoint_every = 5",
            "batch_size = 64" => "batch_size = 32",
            "every = 250" => "every = 40",
            "batches = 4" => "batches = 1",
            other => other,
        })
        .collect::<Vec<_>>()
        .join("\n");
    assert!(text.contains("steps = 40\n"), "the example changed: {text}");
    let spec = dir.join("addition40.toml");
    std::fs::write(&spec, text).unwrap();
    spec
}

/// The summary's checks that failed.
fn failed_checks(s: &Value) -> Vec<String> {
    s["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["ok"] != true)
        .map(|c| c["check"].to_string())
        .collect()
}

/// The cheater of `wrong-node:3:2` lost the one dispute at its operator and was slashed.
fn assert_cheater_caught(s: &Value, all: &str) {
    assert_eq!(s["ok"], true, "failed: {:?}\n{all}", failed_checks(s));
    assert_eq!(s["cheater"]["name"], "trainer-2", "{all}");
    let disputes = s["disputes"].as_array().unwrap();
    assert_eq!(disputes.len(), 1, "{all}");
    assert_eq!(disputes[0]["loser"], "trainer-2", "{all}");
    assert_eq!(
        (&disputes[0]["step"], &disputes[0]["node"]),
        (&2.into(), &2.into()),
        "{all}"
    );
    assert_eq!(s["slashed"][0]["who"]["name"], "trainer-2", "{all}");
    assert!(
        s["rpc"]["url"]
            .as_str()
            .unwrap()
            .starts_with("http://127.0.0.1:"),
        "{all}"
    );
}

#[test]
fn in_process_nodes_on_anvil_catch_the_cheater() {
    let dir = fresh("inproc");
    let spec = tiny_spec(&dir);
    let o = pinpoint()
        .args([
            "devnet",
            "--chain",
            "anvil",
            "--json",
            "--cheat",
            "wrong-node:3:2",
        ])
        .arg("--spec")
        .arg(&spec)
        .arg("--dir")
        .arg(dir.join("net"))
        .output()
        .unwrap();
    let all = text(&o);
    assert_eq!(o.status.code(), Some(0), "{all}");
    let s: Value = serde_json::from_slice(&o.stdout).expect("JSON summary");
    assert_cheater_caught(&s, &all);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Runs `cast ARGS --rpc-url URL`; its first output word per line (cast appends `[1e18]`-style
/// annotations to numbers).
fn cast(url: &str, args: &[&str]) -> Result<Vec<String>, String> {
    let o = Command::new(tool("PINPOINT_CAST", "cast"))
        .args(args)
        .args(["--rpc-url", url])
        .output()
        .unwrap();
    if !o.status.success() {
        return Err(text(&o));
    }
    Ok(String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| l.split_whitespace().next().unwrap_or_default().to_string())
        .collect())
}

fn cast_one(url: &str, args: &[&str]) -> String {
    let out = cast(url, args).unwrap_or_else(|e| panic!("cast {args:?}: {e}"));
    out.into_iter().next().unwrap_or_default()
}

/// A kept devnet: interrupted (SIGINT, so that it stops anvil and its nodes), then killed if
/// need be, when dropped, so that a failing test leaves nothing running.
struct Kept(std::process::Child);

impl Kept {
    fn interrupt(&self) {
        // SAFETY: `kill` has no memory preconditions; the pid is our unreaped child's.
        unsafe {
            libc::kill(self.0.id() as libc::pid_t, libc::SIGINT);
        }
    }
}

impl Drop for Kept {
    fn drop(&mut self) {
        if self.0.try_wait().ok().flatten().is_some() {
            return;
        }
        self.interrupt();
        let until = Instant::now() + Duration::from_secs(30);
        while Instant::now() < until {
            if self.0.try_wait().ok().flatten().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Whether process `pid` still exists (and is not a zombie).
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| !s.contains(") Z "))
        .unwrap_or(false)
}

#[test]
fn node_processes_on_anvil_catch_the_cheater_and_cast_reads_the_same_state() {
    let dir = fresh("procs");
    let spec = tiny_spec(&dir);
    let net = dir.join("net");
    let child = pinpoint()
        .args([
            "devnet",
            "--chain",
            "anvil",
            "--processes",
            "--keep",
            "--json",
        ])
        .args(["--cheat", "wrong-node:3:2", "--timeout", "400"])
        .arg("--spec")
        .arg(&spec)
        .arg("--dir")
        .arg(&net)
        .stdout(Stdio::piped())
        .stderr(Stdio::from(
            std::fs::File::create(dir.join("devnet.err")).unwrap(),
        ))
        .spawn()
        .unwrap();
    let mut child = Kept(child);
    // With --keep the summary is printed and the devnet stays up: read the JSON object.
    let mut json = String::new();
    let mut stdout = BufReader::new(child.0.stdout.take().unwrap());
    loop {
        let mut line = String::new();
        if stdout.read_line(&mut line).unwrap() == 0 {
            break;
        }
        json.push_str(&line);
        if line == "}\n" {
            break;
        }
    }
    let err = || std::fs::read_to_string(dir.join("devnet.err")).unwrap_or_default();
    let s: Value = serde_json::from_str(&json)
        .unwrap_or_else(|e| panic!("no JSON summary ({e}): {json}\n{}", err()));
    assert_cheater_caught(&s, &err());

    // Every node was a process of its own, with its own config, keys, data and log.
    for name in ["trainer-1", "trainer-2", "verifier-1", "arbiter-3"] {
        for f in [
            "node.toml",
            "keys/node.key",
            "keys/evm.key",
            "data",
            "node.log",
        ] {
            assert!(net.join(name).join(f).exists(), "{name}/{f}\n{}", err());
        }
    }
    let pids: Vec<u32> = err()
        .lines()
        .filter_map(|l| l.split_once(" pid ").map(|(_, r)| r))
        .filter_map(|r| r.split_whitespace().next()?.parse().ok())
        .collect();
    assert_eq!(pids.len(), 8, "{}", err());
    assert!(pids.iter().all(|p| alive(*p)), "{}", err());

    // cast reads the same chain state as the summary.
    let url = s["rpc"]["url"].as_str().unwrap();
    let token = s["rpc"]["token"].as_str().unwrap();
    let market = s["rpc"]["market"].as_str().unwrap();
    let balances = s["balances"].as_array().unwrap();
    assert!(balances.len() >= 9 + 4, "{s}");
    for b in balances {
        let account = b["account"].as_str().unwrap();
        let on_chain = cast_one(
            url,
            &["call", token, "balanceOf(address)(uint256)", account],
        );
        assert_eq!(
            on_chain,
            b["balance"].as_str().unwrap(),
            "{}: {b}",
            b["name"]
        );
    }
    let chain = &s["chain"];
    assert_eq!(
        cast_one(url, &["call", token, "burned()(uint256)"]),
        chain["burned"]
    );
    assert_eq!(
        cast_one(url, &["call", token, "totalSupply()(uint256)"]),
        chain["total_supply"]
    );
    let treasury = balances
        .iter()
        .find(|b| b["name"] == "treasury")
        .expect("the treasury's balance");
    assert_eq!(treasury["balance"], chain["treasury"]);
    let info = cast(
        url,
        &[
            "call",
            market,
            "jobInfo(uint256)(address,uint8,uint8,uint8,uint64,bytes32,uint256,uint256,address[])",
            "1",
        ],
    )
    .unwrap();
    assert_eq!(info[1], "5", "job 1 is Finalized (state 5): {info:?}");
    assert_eq!(
        cast_one(url, &["call", market, "totalEscrow()(uint256)"]),
        chain["escrow"]
    );

    // Ctrl-C stops everything: the devnet exits with the summary's status, anvil and the
    // node processes are gone.
    child.interrupt();
    let until = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(s) = child.0.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < until, "the devnet did not stop on Ctrl-C");
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    assert_eq!(status.code(), Some(0), "{}", err());
    assert!(
        pids.iter().all(|p| !alive(*p)),
        "node processes left: {}",
        err()
    );
    assert!(
        cast(url, &["block-number"]).is_err(),
        "anvil still answers at {url}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_trainer_killed_mid_training_resumes_and_commits_the_same_root() {
    let dir = fresh("crash");
    let spec = addition_spec(&dir);
    let net = dir.join("net");
    let o = pinpoint()
        .args(["devnet", "--chain", "anvil", "--processes", "--json"])
        .args([
            "--cheat",
            "none",
            "--crash",
            // Early enough that 30 steps (about half a second) remain when it is killed.
            "trainer-1@10",
            "--timeout",
            "400",
        ])
        .arg("--spec")
        .arg(&spec)
        .arg("--dir")
        .arg(&net)
        .output()
        .unwrap();
    let all = text(&o);
    assert_eq!(o.status.code(), Some(0), "{all}");
    let s: Value = serde_json::from_slice(&o.stdout).expect("JSON summary");
    assert_eq!(s["ok"], true, "failed: {:?}\n{all}", failed_checks(&s));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("trainer-1: killed with SIGKILL"), "{all}");
    // The restarted process resumed the job from its journal, not from S_0 …
    let log = std::fs::read_to_string(net.join("trainer-1/node.log")).unwrap();
    assert_eq!(
        log.matches("pinpoint_actors::run: starting").count(),
        2,
        "{log}"
    );
    let restart = log.rfind("pinpoint_actors::run: starting").unwrap();
    let after = &log[restart..];
    assert!(after.contains("resuming the journalled request"), "{log}");
    let first_saved = after
        .lines()
        .find(|l| l.contains("checkpoint saved"))
        .and_then(|l| l.split("step=").nth(1))
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse::<u64>().ok())
        .expect("a checkpoint after the restart");
    assert!(
        first_saved > 10,
        "resumed from S_0? first checkpoint {first_saved}\n{log}"
    );
    // … and committed the same root as the two uninterrupted trainers; nobody was disputed.
    let roots = s["roots"].as_array().unwrap();
    assert_eq!(roots.len(), 3, "{all}");
    assert!(roots.iter().all(|r| r["root"] == roots[0]["root"]), "{all}");
    assert!(
        roots.iter().any(|r| r["trainer"]["name"] == "trainer-1"),
        "{all}"
    );
    assert_eq!(s["disputes"].as_array().unwrap().len(), 0, "{all}");
    assert_eq!(s["payouts"].as_array().unwrap().len(), 3, "{all}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn processes_need_anvil_and_a_crash_needs_processes() {
    let o = pinpoint().args(["devnet", "--processes"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("--processes needs --chain anvil"),
        "{}",
        text(&o)
    );
    let o = pinpoint()
        .args(["devnet", "--chain", "anvil", "--crash", "trainer-1"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(text(&o).contains("--processes"), "{}", text(&o));
    let o = pinpoint()
        .args([
            "devnet",
            "--chain",
            "anvil",
            "--anvil",
            "/nonexistent/anvil",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("/nonexistent/anvil: no such file"),
        "{}",
        text(&o)
    );
}
