//! End-to-end tests of `pinpoint job` against the API of `pinpoint devnet --keep` (the tiny
//! 6-step MLP job, nobody cheating): `status` follows the devnet's own job to its
//! finalization, `result` writes its final weights after checking them against a trainer's
//! root (their `h(S_T)` equals a local `pinpoint train` run's), then `submit --wait` follows a job posted through the API to its
//! finalization, `status` and `list` show it, an unknown job shows the node's 404 message,
//! an unreachable node and a bad spec are clear errors; `--help` shows examples.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// Dev-dependencies are shared by every test, bench and example target; each uses some.
#![allow(unused_crate_dependencies)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_pinpoint");

fn pinpoint(args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .args(args)
        .output()
        .expect("the pinpoint binary runs")
}

fn text(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn spec() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/browser/mlp6.toml")
}

/// A running `pinpoint devnet --keep`: its dashboard's URL; stopped with SIGINT on drop.
struct Devnet {
    child: Child,
    url: String,
}

impl Devnet {
    fn start() -> Self {
        let mut child = Command::new(BIN)
            .args(["devnet", "--keep", "--cheat", "none", "--spec"])
            .arg(spec())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the devnet starts");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let url = loop {
            let line = rx
                .recv_timeout(Duration::from_secs(120))
                .expect("the devnet prints its dashboard's URL");
            if let Some((_, url)) = line.split_once("dashboard and API of arbiter-1: ") {
                break url.trim_end_matches('/').to_string();
            }
        };
        // Keep draining stderr so the devnet never blocks on a full pipe.
        std::thread::spawn(move || while rx.recv().is_ok() {});
        Self { child, url }
    }
}

impl Drop for Devnet {
    fn drop(&mut self) {
        // SAFETY: `kill` with a child's pid and SIGINT has no memory-safety precondition.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGINT);
        }
        let _ = self.child.wait();
    }
}

#[test]
fn a_job_submitted_through_the_api_is_followed_to_its_finalization() {
    let net = Devnet::start();
    let node = net.url.as_str();
    // The devnet's own job first: a trainer's executor runs one job at a time, and a job
    // assigned while it is busy is not retried yet (docs/node.md, known limits).
    let mut first = String::new();
    for _ in 0..600 {
        let o = pinpoint(&["job", "status", "1", "--node", node]);
        first = text(&o);
        if first.starts_with("job 1: finalized") {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(first.starts_with("job 1: finalized"), "{first}");
    let o = pinpoint(&[
        "job",
        "submit",
        "--spec",
        spec().to_str().unwrap(),
        "--replicas",
        "3",
        "--payment",
        "12.5",
        "--node",
        node,
        "--wait",
        "--timeout",
        "300",
    ]);
    let all = text(&o);
    assert_eq!(o.status.code(), Some(0), "{all}");
    let out = String::from_utf8_lossy(&o.stdout);
    // the devnet posted job 1 itself; this is job 2
    assert!(out.contains("job 2 posted"), "{all}");
    assert!(out.contains("job 2: finalized"), "{all}");
    assert!(out.contains("12.5 PIN (3 replicas"), "{all}");
    assert_eq!(out.matches("  trainer ").count(), 3, "{all}");

    let o = pinpoint(&["job", "status", "2", "--node", node, "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON");
    assert_eq!(j["state"], "finalized");
    assert_eq!(j["payment"], "12500000000000000000");

    let o = pinpoint(&["job", "list", "--node", node]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        out.lines()
            .any(|l| l.trim_start().starts_with("2  finalized")),
        "{out}"
    );

    // the final weights, checked against a trainer's root on chain, equal a local run's
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("result");
    let o = pinpoint(&[
        "job",
        "result",
        "2",
        "--out",
        out.to_str().unwrap(),
        "--node",
        node,
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("is leaf 6 of trainer"), "{}", text(&o));
    let weights = std::fs::read(out.join("weights.safetensors")).unwrap();
    assert!(weights.len() > 100, "{} bytes", weights.len());
    let r: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("result.json")).unwrap()).unwrap();
    let local = dir.path().join("local");
    let o = pinpoint(&[
        "train",
        "--spec",
        spec().to_str().unwrap(),
        "--out",
        local.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let hashes = std::fs::read_to_string(local.join("hashes.txt")).unwrap();
    assert_eq!(
        r["state_hash"].as_str(),
        hashes.lines().last(),
        "the network's h(S_T) is the local run's"
    );
    // a job that does not exist has no result
    let o = pinpoint(&[
        "job",
        "result",
        "99",
        "--out",
        out.to_str().unwrap(),
        "--node",
        node,
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("no job 99"), "{}", text(&o));

    // the node's 4xx message is shown
    let o = pinpoint(&["job", "status", "99", "--node", node]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o).contains("404 Not Found: no job 99"),
        "{}",
        text(&o)
    );
    // a spec the node would refuse is refused here first, naming the file
    let bad = std::env::temp_dir().join(format!("pinpoint-job-bad-{}.toml", std::process::id()));
    std::fs::write(&bad, "steps = ").unwrap();
    let o = pinpoint(&[
        "job",
        "submit",
        "--spec",
        bad.to_str().unwrap(),
        "--node",
        node,
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains(bad.to_str().unwrap()), "{}", text(&o));
    std::fs::remove_file(&bad).unwrap();
}

#[test]
fn an_unreachable_node_and_a_bad_url_are_clear_errors() {
    // Port 9 (discard) on loopback: nothing listens there.
    let o = pinpoint(&["job", "list", "--node", "http://127.0.0.1:9"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("cannot connect"), "{}", text(&o));
    let o = pinpoint(&["job", "list", "--node", "ftp://x"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("http://"), "{}", text(&o));
    let o = pinpoint(&["job", "--help"]);
    assert!(o.status.success());
    let help = text(&o);
    assert!(help.contains("pinpoint job submit --spec"), "{help}");
    assert!(help.contains("http://127.0.0.1:7071"), "{help}");
}
