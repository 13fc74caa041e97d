//! End-to-end tests of `pinpoint keys` and `pinpoint node --print-config`.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// Dev-dependencies are shared by every test, bench and example target; each uses some.
#![allow(unused_crate_dependencies)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn pinpoint(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pinpoint"))
        .args(args)
        .output()
        .expect("the pinpoint binary runs")
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("pinpoint-node-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn keys_new_show_and_refuse_to_overwrite() {
    let dir = scratch("keys");
    let keys = dir.join("keys");
    let o = pinpoint(&["keys", "new", "--out", s(&keys)]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(
        out.contains("node_id") && out.contains("evm_address 0x"),
        "{out}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for f in ["node.key", "evm.key"] {
            let mode = std::fs::metadata(keys.join(f))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{f}");
        }
    }
    let shown = pinpoint(&["keys", "show", "--dir", s(&keys)]);
    assert!(shown.status.success());
    assert_eq!(text(&shown).0, out, "show prints what new printed");
    let again = pinpoint(&["keys", "new", "--out", s(&keys)]);
    assert_eq!(again.status.code(), Some(2));
    assert!(
        text(&again).1.contains("refusing to overwrite"),
        "{}",
        text(&again).1
    );
    assert_eq!(text(&pinpoint(&["keys", "show", "--dir", s(&keys)])).0, out);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn node_print_config_and_field_errors() {
    let dir = scratch("config");
    let cfg = dir.join("node.toml");
    std::fs::write(
        &cfg,
        "[node]\ndata_dir = \"data\"\n[roles.verifier]\nstake_pin = 5\n",
    )
    .unwrap();
    let o = pinpoint(&["node", "--config", s(&cfg), "--print-config"]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(
        out.contains("[supervision]\nmax_restarts = 3\nwindow_s = 60"),
        "{out}"
    );
    assert!(
        out.contains(&format!("data_dir = \"{}\"", s(&dir.join("data")))),
        "{out}"
    );
    std::fs::write(&cfg, "[node]\ndata_dir = \"data\"\n[roles.verifier]\nstake_pin = 5\n[limits]\ninbound_queue = 0\n").unwrap();
    let o = pinpoint(&["node", "--config", s(&cfg), "--print-config"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o).1.contains("field `limits.inbound_queue`"),
        "{}",
        text(&o).1
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn help_shows_examples() {
    for (args, example) in [
        (
            &["keys", "new", "--help"][..],
            "pinpoint keys new --out keys",
        ),
        (
            &["keys", "show", "--help"][..],
            "pinpoint keys show --dir keys",
        ),
        (
            &["node", "--help"][..],
            "pinpoint node --config node.toml --print-config",
        ),
    ] {
        let o = pinpoint(args);
        assert!(o.status.success());
        assert!(text(&o).0.contains(example), "{args:?}: {}", text(&o).0);
    }
}
