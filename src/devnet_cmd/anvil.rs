//! The pinned anvil of `--chain anvil`: found, installed if need be, and started on a free
//! loopback port with its output in a log file; it is killed when dropped (and with the
//! devnet, whatever ends it: see [`super::child`]).
//!
//! Where anvil comes from, first match: `--anvil PATH`; `$PINPOINT_ANVIL` (what
//! `scripts/test` exports); the repository's `.cache/eth` (where `scripts/eth-tools` installs
//! the pinned npm package); else `scripts/eth-tools` is run to install it there (idempotent).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use pinpoint_chain::PrivateKeySigner;

use super::child::{Proc, TAIL_LINES, tail};

/// The repository this binary was built from (where `scripts/eth-tools` and `.cache/eth` are).
const REPO: &str = env!("CARGO_MANIFEST_DIR");

/// How long anvil may take to listen.
const LISTEN_TIMEOUT: Duration = Duration::from_secs(30);

/// Finds the anvil binary (see the module docs), installing the pinned one if needed.
///
/// Errors: none of the places has it and it cannot be installed (each place is named).
pub(super) fn locate(explicit: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(p) = explicit {
        if !p.is_file() {
            bail!("--anvil {}: no such file", p.display());
        }
        return Ok(p.to_path_buf());
    }
    if let Some(p) = std::env::var_os("PINPOINT_ANVIL") {
        let p = PathBuf::from(p);
        if !p.is_file() {
            bail!(
                "PINPOINT_ANVIL={}: no such file (unset it to use the repository's pinned anvil)",
                p.display()
            );
        }
        return Ok(p);
    }
    let repo = Path::new(REPO);
    let cached = repo.join(".cache/eth/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil");
    if cached.is_file() {
        return Ok(cached);
    }
    let script = repo.join("scripts/eth-tools");
    if !script.is_file() {
        bail!(
            "anvil not found: give --anvil PATH or set PINPOINT_ANVIL (this binary was built \
             from {REPO}, which has no scripts/eth-tools to install the pinned one)"
        );
    }
    eprintln!(
        "devnet: installing the pinned anvil with {}",
        script.display()
    );
    let out = Command::new(&script)
        .stderr(std::process::Stdio::inherit())
        .output()
        .with_context(|| format!("running {}", script.display()))?;
    if !out.status.success() {
        bail!(
            "{} failed ({}): anvil comes from npm (@foundry-rs/anvil); is npm installed and the \
             registry reachable? Or give --anvil PATH",
            script.display(),
            out.status
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let path = text
        .lines()
        .find_map(|l| l.strip_prefix("ANVIL="))
        .map(PathBuf::from)
        .with_context(|| format!("{} printed no ANVIL= line", script.display()))?;
    Ok(path)
}

/// A running anvil.
#[derive(Debug)]
pub(super) struct Anvil {
    /// Its JSON-RPC endpoint, `http://127.0.0.1:PORT`.
    pub(super) url: String,
    /// The key of its first development account (as it printed it): the devnet's deployer,
    /// [`pinpoint_chain::deploy::DEFAULT_DEPLOYER`].
    pub(super) deployer: PrivateKeySigner,
    /// The process (killed on drop).
    pub(super) proc: Proc,
}

/// Starts `bin` on 127.0.0.1 on a port the OS picks, its output appended to `log`, and waits
/// until it listens.
///
/// Errors: it cannot start, exits, or does not listen within 30 s (its log's last lines are
/// in the message).
pub(super) async fn start(bin: &Path, log: &Path) -> anyhow::Result<Anvil> {
    let mut cmd = Command::new(bin);
    cmd.args(["--host", "127.0.0.1", "--port", "0"]);
    let mut proc = Proc::spawn("anvil", &mut cmd, log)?;
    let started = Instant::now();
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if let Some(addr) = text
            .lines()
            .find_map(|l| l.trim().strip_prefix("Listening on "))
        {
            let deployer = first_key(&text).with_context(|| {
                format!("anvil printed no private keys (see {})", log.display())
            })?;
            let expected = pinpoint_chain::deploy::DEFAULT_DEPLOYER;
            if deployer.address() != expected {
                bail!(
                    "anvil's first account is {}, not the devnet's deployer {expected} (is it \
                     started with another mnemonic?)",
                    deployer.address()
                );
            }
            return Ok(Anvil {
                url: format!("http://{}", addr.trim()),
                deployer,
                proc,
            });
        }
        if proc.exited().is_some() {
            bail!(
                "anvil ({}) did not start: {}",
                bin.display(),
                proc.failure()
            );
        }
        if started.elapsed() > LISTEN_TIMEOUT {
            bail!(
                "anvil ({}) did not listen within {} s; its log is {}{}",
                bin.display(),
                LISTEN_TIMEOUT.as_secs(),
                log.display(),
                tail(log, TAIL_LINES)
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The first private key anvil prints (`(0) 0x…` under `Private Keys`).
fn first_key(text: &str) -> Option<PrivateKeySigner> {
    text.lines()
        .skip_while(|l| !l.contains("Private Keys"))
        .find_map(|l| l.trim().strip_prefix("(0) "))
        .and_then(|k| k.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_private_key_is_read_from_anvils_banner() {
        let banner = "Available Accounts\n==================\n\n\
            (0) 0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266 (10000.000000000000000000 ETH)\n\n\
            Private Keys\n==================\n\n\
            (0) 0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80\n\
            (1) 0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d\n\n\
            Listening on 127.0.0.1:8545\n";
        let k = first_key(banner).expect("a key");
        assert_eq!(k.address(), pinpoint_chain::deploy::DEFAULT_DEPLOYER);
        // The accounts' list comes first: its `(0)` line is an address, not a key.
        assert!(first_key("(0) 0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266\n").is_none());
    }

    #[test]
    fn an_explicit_anvil_must_exist() {
        let e = locate(Some(Path::new("/nonexistent/anvil"))).expect_err("missing");
        assert!(
            e.to_string().contains("/nonexistent/anvil: no such file"),
            "{e}"
        );
    }
}
