//! Config tests: defaults and resolution, the rendered config parses back, each field's
//! error names it, the accepted-job policy.

use std::path::Path;

use super::*;

const MINIMAL: &str = "[node]\ndata_dir = \"data\"\n[roles.trainer]\nstake_pin = 1000\n";

const ID: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";

fn parse(text: &str) -> Result<NodeConfig, ConfigError> {
    NodeConfig::from_toml_str(text, Path::new("/etc/pinpoint"), "node.toml")
}

#[test]
fn minimal_config_gets_defaults_and_resolved_paths() {
    let c = parse(MINIMAL).expect("valid");
    assert_eq!(c.node.data_dir, Path::new("/etc/pinpoint/data"));
    assert_eq!(c.node.key_file, Path::new("/etc/pinpoint/keys/node.key"));
    assert_eq!(c.node.disk_budget_mib, DEFAULT_DISK_BUDGET_MIB);
    assert_eq!(
        c.chain,
        ChainConfig::Embedded {
            data_dir: "/etc/pinpoint/chain".into()
        }
    );
    assert_eq!(c.network.listen.to_string(), DEFAULT_LISTEN);
    assert_eq!(c.executor, ExecutorConfig::default());
    assert_eq!(c.limits, LimitsConfig::default());
    assert_eq!(c.supervision, SupervisionConfig::default());
    assert_eq!(c.jobs, JobPolicy::default());
    assert_eq!(c.roles.enabled().len(), 1);
    assert_eq!(c.api, ApiSection::default());
    assert_eq!(
        c.api.listen.to_string(),
        format!("127.0.0.1:{DEFAULT_API_PORT}")
    );
}

#[test]
fn an_api_off_loopback_needs_its_token() {
    let open = parse(&format!("{MINIMAL}[api]\nlisten = \"0.0.0.0:8080\"\n"));
    let e = open.expect_err("a public API without a token");
    assert_eq!(e.field(), Some("api.token"));
    assert!(e.to_string().contains("0.0.0.0:8080"), "{e}");
    let guarded = parse(&format!(
        "{MINIMAL}[api]\nlisten = \"0.0.0.0:8080\"\ntoken = \"s3cret\"\n"
    ))
    .expect("valid with a token");
    assert_eq!(guarded.api.token.as_deref(), Some("s3cret"));
    let off = parse(&format!(
        "{MINIMAL}[api]\nenabled = false\nlisten = \"0.0.0.0:8080\"\n"
    ))
    .expect("a disabled API needs no token");
    assert!(!off.api.enabled);
}

#[test]
fn an_adversary_section_parses_its_cheat() {
    let c = parse(&format!(
        "{MINIMAL}[adversary]\ncheat = \"wrong-node:3:2\"\n"
    ))
    .expect("valid");
    let cheat: crate::conduct::Cheat = c.adversary.expect("section").cheat.parse().expect("cheat");
    assert_eq!(cheat, crate::conduct::Cheat { step: 3, node: 2 });
    assert_eq!(
        parse(MINIMAL).expect("valid").jobs.verifier_samples,
        DEFAULT_VERIFIER_SAMPLES
    );
}

#[test]
fn rendered_config_parses_back_to_itself() {
    const SEED: &str = "0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a";
    let text = format!(
        "{MINIMAL}[roles.arbiter]\nstake_pin = \"0.5\"\n[network]\nbootstrap = [\"{ID}@127.0.0.1:9\"]\n\
         rng_seed = \"{SEED}\"\n[chain]\nkind = \"rpc\"\nurl = \"http://127.0.0.1:8545\"\naddresses = \"a.json\"\nkey_file = \"evm.key\"\n"
    );
    let c = parse(&text).expect("valid");
    let shown = c.render();
    assert!(shown.contains("disk_budget_mib = 10240"), "{shown}");
    assert!(shown.contains("max_restarts = 3"), "{shown}");
    assert!(shown.contains("stake_pin = \"0.5\""), "{shown}");
    let again = NodeConfig::from_toml_str(&shown, Path::new("/"), "shown").expect("reparses");
    assert_eq!(again, c);
    assert_eq!(c.bootstrap_peers().len(), 1);
    assert_eq!(c.quic_rng_seed(), Some([0x0a; 32]));
}

/// Every field: a bad value, and the field its error must name.
#[test]
fn each_bad_field_is_named() {
    let rpc =
        "[chain]\nkind = \"rpc\"\nurl = \"http://h:1\"\naddresses = \"a.json\"\nkey_file = \"k\"\n";
    let cases: Vec<(String, &str)> = vec![
        ("[roles.trainer]\nstake_pin = 1\n".into(), "node"),
        (
            format!("{MINIMAL}[adversary]\ncheat = \"wrong-node:0:1\"\n"),
            "adversary.cheat",
        ),
        (format!("{MINIMAL}[adversary]\n"), "adversary.cheat"),
        (
            format!("{MINIMAL}[api]\nlisten = \"0.0.0.0:7071\"\n"),
            "api.token",
        ),
        (
            format!("{MINIMAL}[api]\nlisten = \"127.0.0.1:7071\"\ntoken = \"\"\n"),
            "api.token",
        ),
        (
            format!("{MINIMAL}[api]\nlisten = \"nowhere\"\n"),
            "api.listen",
        ),
        (format!("{MINIMAL}[api]\nport = 1\n"), "api.port"),
        (
            format!("{MINIMAL}[jobs]\nverifier_samples = -1\n"),
            "jobs.verifier_samples",
        ),
        (
            "[node]\n[roles.trainer]\nstake_pin = 1\n".into(),
            "node.data_dir",
        ),
        (
            "[node]\ndata_dir = \"\"\n[roles.trainer]\nstake_pin = 1\n".into(),
            "node.data_dir",
        ),
        (
            "[node]\ndata_dir = 5\n[roles.trainer]\nstake_pin = 1\n".into(),
            "node.data_dir",
        ),
        (
            "[node]\ndata_dir = \"d\"\nkey_file = \"\"\n[roles.trainer]\nstake_pin = 1\n".into(),
            "node.key_file",
        ),
        (
            "[node]\ndata_dir = \"d\"\ndisk_budget_mib = 1\n[roles.trainer]\nstake_pin = 1\n"
                .into(),
            "node.disk_budget_mib",
        ),
        (
            "[node]\ndata_dir = \"d\"\ndisk_budget_mib = -1\n[roles.trainer]\nstake_pin = 1\n"
                .into(),
            "node.disk_budget_mib",
        ),
        (
            "[node]\ndata_dir = \"d\"\ncolour = 1\n[roles.trainer]\nstake_pin = 1\n".into(),
            "node.colour",
        ),
        ("[node]\ndata_dir = \"d\"\n".into(), "roles"),
        (
            "[node]\ndata_dir = \"d\"\n[roles.miner]\nstake_pin = 1\n".into(),
            "roles.miner",
        ),
        (
            "[node]\ndata_dir = \"d\"\n[roles.trainer]\n".into(),
            "roles.trainer.stake_pin",
        ),
        (
            "[node]\ndata_dir = \"d\"\n[roles.trainer]\nstake_pin = 0\n".into(),
            "roles.trainer.stake_pin",
        ),
        (
            "[node]\ndata_dir = \"d\"\n[roles.verifier]\nstake_pin = \"0\"\n".into(),
            "roles.verifier.stake_pin",
        ),
        (
            "[node]\ndata_dir = \"d\"\n[roles.arbiter]\nstake_pin = \"1.2.3\"\n".into(),
            "roles.arbiter.stake_pin",
        ),
        (
            "[node]\ndata_dir = \"d\"\n[roles.solver]\nstake_pin = -5\n".into(),
            "roles.solver.stake_pin",
        ),
        (
            format!("{MINIMAL}[network]\nlisten = \"nowhere\"\n"),
            "network.listen",
        ),
        (
            format!("{MINIMAL}[network]\nbootstrap = \"x\"\n"),
            "network.bootstrap",
        ),
        (
            format!("{MINIMAL}[network]\nbootstrap = [\"{ID}@127.0.0.1:9\", \"zz@1.2.3.4:5\"]\n"),
            "network.bootstrap[1]",
        ),
        (
            format!("{MINIMAL}[network]\nbootstrap = [\"{ID}\"]\n"),
            "network.bootstrap[0]",
        ),
        (
            format!("{MINIMAL}[network]\nbootstrap = [\"{ID}@host\"]\n"),
            "network.bootstrap[0]",
        ),
        (
            format!("{MINIMAL}[network]\nrng_seed = \"abc\"\n"),
            "network.rng_seed",
        ),
        (
            format!("{MINIMAL}[chain]\nkind = \"ganache\"\n"),
            "chain.kind",
        ),
        (
            format!("{MINIMAL}[chain]\nkind = \"embedded\"\ndata_dir = \"\"\n"),
            "chain.data_dir",
        ),
        (
            format!("{MINIMAL}[chain]\nkind = \"embedded\"\nurl = \"http://x\"\n"),
            "chain.url",
        ),
        (
            format!("{MINIMAL}{}", rpc.replace("http://h:1", "ftp://h")),
            "chain.url",
        ),
        (
            format!("{MINIMAL}{}", rpc.replace("addresses = \"a.json\"\n", "")),
            "chain.addresses",
        ),
        (
            format!("{MINIMAL}{}", rpc.replace("key_file = \"k\"\n", "")),
            "chain.key_file",
        ),
        (
            format!(
                "{MINIMAL}{}",
                rpc.replace("key_file = \"k\"", "key_file = \"\"")
            ),
            "chain.key_file",
        ),
        (
            format!("{MINIMAL}[executor]\nthreads = 0\n"),
            "executor.threads",
        ),
        (
            format!("{MINIMAL}[executor]\nthreads = 5000\n"),
            "executor.threads",
        ),
        (
            format!("{MINIMAL}[executor]\nthreads = 70000\n"),
            "executor.threads",
        ),
        (
            format!("{MINIMAL}[executor]\nbackend = \"tpu\"\n"),
            "executor.backend",
        ),
        (
            format!("{MINIMAL}[executor]\nthread = 2\n"),
            "executor.thread",
        ),
        (
            format!("{MINIMAL}[limits]\ninbound_queue = 0\n"),
            "limits.inbound_queue",
        ),
        (
            format!("{MINIMAL}[limits]\npending_per_role = 0\n"),
            "limits.pending_per_role",
        ),
        (
            format!("{MINIMAL}[limits]\npending_per_role = 99999999\n"),
            "limits.pending_per_role",
        ),
        (
            format!("{MINIMAL}[supervision]\nmax_restarts = 5000\n"),
            "supervision.max_restarts",
        ),
        (
            format!("{MINIMAL}[supervision]\nwindow_s = 0\n"),
            "supervision.window_s",
        ),
        (
            format!("{MINIMAL}[supervision]\nwindow_s = \"1m\"\n"),
            "supervision.window_s",
        ),
        (
            format!("{MINIMAL}[jobs]\nmax_steps = 0\n"),
            "jobs.max_steps",
        ),
        (
            format!("{MINIMAL}[jobs]\nmin_payment_pin = \"lots\"\n"),
            "jobs.min_payment_pin",
        ),
        (
            format!("{MINIMAL}[jobs]\nmax_price = 1\n"),
            "jobs.max_price",
        ),
        (format!("{MINIMAL}[extra]\nx = 1\n"), "extra"),
    ];
    for (text, field) in cases {
        match parse(&text) {
            Err(e) => {
                assert_eq!(e.field(), Some(field), "{text}\n→ {e}");
                let shown = e.to_string();
                assert!(shown.contains(&format!("`{field}`")), "{shown}");
                assert!(shown.starts_with("node.toml:"), "{shown}");
            }
            Ok(c) => panic!("accepted:\n{text}\n{c:?}"),
        }
    }
}

#[test]
fn syntax_errors_and_missing_files_are_reported() {
    let e = parse("[node\n").expect_err("bad TOML");
    assert!(matches!(e, ConfigError::Syntax { .. }), "{e}");
    let e = NodeConfig::load(Path::new("/nonexistent/node.toml")).expect_err("no file");
    assert!(e.to_string().contains("/nonexistent/node.toml"), "{e}");
}

#[test]
fn job_policy_declines_long_or_underpaid_jobs() {
    let text = format!("{MINIMAL}[jobs]\nmax_steps = 100\nmin_payment_pin = \"2.5\"\n");
    let p = parse(&text).expect("valid").jobs;
    let pay = |s: &str| PinAmount::parse(s).expect("amount");
    assert_eq!(p.check(100, pay("2.5")), Ok(()));
    assert!(matches!(
        p.check(101, pay("3")),
        Err(Decline::TooManySteps {
            steps: 101,
            max: 100
        })
    ));
    let e = p.check(10, pay("2.4")).expect_err("underpaid");
    assert!(e.to_string().contains("jobs.min_payment_pin = 2.5"), "{e}");
}
