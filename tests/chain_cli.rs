//! End-to-end tests of `pinpoint chain deploy` and `pinpoint chain status` (against an anvil
//! started by the test on an OS-assigned port, and on the embedded chain).
#![allow(clippy::unwrap_used, clippy::expect_used)]
// Dev-dependencies are shared by every test, bench and example target; each uses some.
#![allow(unused_crate_dependencies)]

use std::{path::PathBuf, process::Command};

use pinpoint_chain::{Addresses, alloy::node_bindings::Anvil};

fn pinpoint(args: &[&str], cwd: &std::path::Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_pinpoint"))
        .args(args)
        .current_dir(cwd)
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

fn anvil_bin() -> PathBuf {
    let p = match std::env::var_os("PINPOINT_ANVIL") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join(".cache/eth/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil"),
    };
    assert!(
        p.exists(),
        "anvil not found at {} (PINPOINT_ANVIL or the default path): run `scripts/eth-tools`",
        p.display()
    );
    p
}

fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("pinpoint-chain-cli-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn deploy_then_status_over_rpc() {
    let anvil = Anvil::at(anvil_bin())
        .host("127.0.0.1")
        .port(0u16)
        .try_spawn()
        .expect("anvil starts");
    let dir = temp_dir("rpc");
    let key = pinpoint_chain::alloy::hex::encode(anvil.keys()[0].to_bytes());
    std::fs::write(dir.join("key"), format!("0x{key}\n")).unwrap();
    let url = anvil.endpoint();
    // `chain deploy` to this anvil with the key file `key` and `extra` arguments.
    let deploy = |extra: &[&str]| {
        let mut args = vec!["chain", "deploy", "--rpc", url.as_str(), "--key", "key"];
        args.extend_from_slice(extra);
        pinpoint(&args, &dir)
    };
    let o = deploy(&["--out", "a.json", "--chain-id", "31337"]);
    assert!(o.status.success(), "{}", text(&o));
    let a = Addresses::read_json(&dir.join("a.json")).unwrap();
    assert_ne!(a.token, a.market);
    let o = pinpoint(
        &["chain", "status", "--rpc", &url, "--addresses", "a.json"],
        &dir,
    );
    assert!(o.status.success(), "{}", text(&o));
    let out = text(&o);
    assert!(out.contains("chain id 31337"), "{out}");
    assert!(out.contains("total supply    10000000000 PIN"), "{out}");
    assert!(out.contains("open jobs       0 (of 0 posted)"), "{out}");

    // Wrong chain id and a bad key file are reported, not panics.
    let o = deploy(&["--chain-id", "1"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("wrong chain id"), "{}", text(&o));
    std::fs::write(dir.join("bad"), "not a key").unwrap();
    let o = pinpoint(&["chain", "deploy", "--rpc", &url, "--key", "bad"], &dir);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("private key"), "{}", text(&o));

    // Issue 16, defect 6: an unwritable --out is refused before anything is deployed.
    let o = deploy(&["--out", "/proc/no-such-dir/a.json"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("--out"), "{}", text(&o));
    assert!(
        !text(&o).contains("token"),
        "nothing deployed: {}",
        text(&o)
    );

    // Addresses without contract code: a clear error, not an ABI decoding failure.
    std::fs::write(
        dir.join("nocode.json"),
        serde_json::json!({
            "token": "0x00000000000000000000000000000000000000aa",
            "staking": "0x00000000000000000000000000000000000000bb",
            "market": "0x00000000000000000000000000000000000000cc",
        })
        .to_string(),
    )
    .unwrap();
    let o = pinpoint(
        &[
            "chain",
            "status",
            "--rpc",
            &url,
            "--addresses",
            "nocode.json",
        ],
        &dir,
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("no contract code"), "{}", text(&o));
    assert!(!text(&o).contains("buffer overrun"), "{}", text(&o));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn status_reads_the_embedded_chain() {
    let dir = temp_dir("embedded");
    // A read creates nothing (issue 16, defect 6): without a stored chain it shows a fresh one.
    let o = pinpoint(&["chain", "status", "--data", "c"], &dir);
    assert!(o.status.success(), "{}", text(&o));
    let out = text(&o);
    assert!(out.contains("no embedded chain stored in c yet"), "{out}");
    assert!(out.contains("burned          0 PIN"), "{out}");
    assert!(!dir.join("c").exists(), "status created the data directory");
    let o = pinpoint(&["chain", "status"], &dir);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        !dir.join(".pinpoint").exists(),
        "status created ./.pinpoint"
    );
    // A stored chain is read.
    pinpoint_chain::Embedded::open(&dir.join("c"), &pinpoint_chain::DeployConfig::default())
        .unwrap();
    let o = pinpoint(&["chain", "status", "--data", "c"], &dir);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("embedded chain in c (0 transactions"),
        "{}",
        text(&o)
    );
    let o = pinpoint(
        &[
            "chain",
            "status",
            "--rpc",
            "http://127.0.0.1:1",
            "--addresses",
            "missing.json",
        ],
        &dir,
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("missing.json"), "{}", text(&o));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn status_lists_registered_nodes_per_role() {
    use pinpoint_chain::{
        Call, DeployConfig, Embedded, PIN, Role, Settlement, Spender, U256,
        deploy::DEFAULT_DEPLOYER, embedded::EMBEDDED_CHAIN_ID, sign_registration,
    };
    let dir = temp_dir("nodes");
    let (mut chain, _) = Embedded::open(&dir.join("c"), &DeployConfig::default()).unwrap();
    let d = DEFAULT_DEPLOYER;
    for call in [
        Call::Approve {
            spender: Spender::Staking,
            amount: U256::MAX,
        },
        Call::Stake {
            role: Role::Trainer,
            amount: U256::from(100 * PIN),
        },
        Call::Stake {
            role: Role::Verifier,
            amount: U256::from(100 * PIN),
        },
    ] {
        chain.send_sync(d, &call).unwrap();
    }
    let key = pinpoint_chain::NodeKey::from_seed([5; 32]);
    let reg = sign_registration(
        &key,
        EMBEDDED_CHAIN_ID,
        chain.addresses().staking,
        d,
        &[Role::Trainer, Role::Verifier],
        "127.0.0.1:4433",
    )
    .unwrap();
    chain.send_sync(d, &reg).unwrap();
    drop(chain);
    let o = pinpoint(&["chain", "status", "--data", "c"], &dir);
    assert!(o.status.success(), "{}", text(&o));
    let out = text(&o);
    assert!(out.contains("nodes           1 registered"), "{out}");
    assert!(out.contains("  trainer   1"), "{out}");
    assert!(out.contains("  verifier  1"), "{out}");
    assert!(out.contains("  arbiter   0"), "{out}");
    assert!(
        out.contains(&format!("{} ", key.node_id())) && out.contains("127.0.0.1:4433"),
        "{out}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
