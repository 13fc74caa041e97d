//! Range and format checks of a parsed [`NodeConfig`]; each failure is `(field, message)`.

use std::net::SocketAddr;

use pinpoint_protocol::id::NodeId;

use super::{ChainConfig, NodeConfig};

/// Smallest `node.disk_budget_mib`.
pub const MIN_DISK_BUDGET_MIB: u64 = 16;
/// Largest `executor.threads`.
pub const MAX_EXECUTOR_THREADS: u16 = 1024;
/// Largest `limits.inbound_queue` and `limits.pending_per_role`.
pub const MAX_QUEUE: u32 = 1 << 20;
/// Largest `supervision.max_restarts`.
pub(super) const MAX_RESTARTS: u32 = 1000;
/// Largest `supervision.window_s` (one day).
pub(super) const MAX_WINDOW_S: u64 = 86_400;
/// Most bootstrap peers.
pub(super) const MAX_BOOTSTRAP: usize = 256;

/// A bootstrap peer: `<node id hex>@<ip:port>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bootstrap {
    /// The peer's identity (the connection must present it).
    pub node: NodeId,
    /// Where it listens.
    pub addr: SocketAddr,
}

impl Bootstrap {
    /// Parses `<64 hex>@<ip:port>`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let (id, addr) = s
            .split_once('@')
            .ok_or_else(|| format!("{s:?} is not `<node id, 64 hex>@<ip:port>`"))?;
        let node = NodeId::from_hex(id).map_err(|e| format!("node id {id:?}: {e}"))?;
        let addr = addr
            .parse()
            .map_err(|_| format!("address {addr:?} is not `<ip>:<port>`"))?;
        Ok(Self { node, addr })
    }
}

type Check = Result<(), (String, String)>;

fn fail(field: &str, message: impl Into<String>) -> Check {
    Err((field.to_string(), message.into()))
}

/// serde names the struct that holds an unknown or missing field; point at the field itself.
pub(super) fn refine_path(path: &str, message: &str) -> String {
    for prefix in ["unknown field `", "missing field `"] {
        if let Some(rest) = message.strip_prefix(prefix)
            && let Some((name, _)) = rest.split_once('`')
        {
            let already = path == name || path.ends_with(&format!(".{name}"));
            return match (path, already) {
                (_, true) => path.to_string(),
                (".", _) | ("", _) => name.to_string(),
                _ => format!("{path}.{name}"),
            };
        }
    }
    if path == "." {
        return String::new();
    }
    path.to_string()
}

/// Checks every field's range and format.
pub(super) fn validate(c: &NodeConfig) -> Check {
    if c.node.data_dir.as_os_str().is_empty() {
        fail("node.data_dir", "must not be empty")?;
    }
    if c.node.key_file.as_os_str().is_empty() {
        fail("node.key_file", "must not be empty")?;
    }
    if c.node.disk_budget_mib < MIN_DISK_BUDGET_MIB {
        fail(
            "node.disk_budget_mib",
            format!(
                "{} MiB is below the minimum of {MIN_DISK_BUDGET_MIB} MiB",
                c.node.disk_budget_mib
            ),
        )?;
    }
    if let Some(a) = &c.adversary
        && let Err(e) = a.cheat.parse::<crate::conduct::Cheat>()
    {
        fail("adversary.cheat", e.to_string())?;
    }
    let enabled = c.roles.enabled();
    if enabled.is_empty() {
        fail(
            "roles",
            "no role is enabled: add at least one of [roles.trainer], [roles.verifier], \
             [roles.arbiter], [roles.solver]",
        )?;
    }
    for (role, rc) in enabled {
        if rc.stake_pin.base_units() == 0 {
            let name = format!("{role:?}").to_lowercase();
            fail(
                &format!("roles.{name}.stake_pin"),
                "must be more than 0 (the stake bonded for the role)",
            )?;
        }
    }
    if c.network.bootstrap.len() > MAX_BOOTSTRAP {
        fail(
            "network.bootstrap",
            format!("at most {MAX_BOOTSTRAP} peers"),
        )?;
    }
    for (i, b) in c.network.bootstrap.iter().enumerate() {
        if let Err(m) = Bootstrap::parse(b) {
            fail(&format!("network.bootstrap[{i}]"), m)?;
        }
    }
    if let Some(seed) = &c.network.rng_seed
        && parse_seed(seed).is_none()
    {
        fail("network.rng_seed", "must be 64 hex digits (32 bytes)")?;
    }
    match &c.chain {
        ChainConfig::Embedded { data_dir } => {
            if data_dir.as_os_str().is_empty() {
                fail("chain.data_dir", "must not be empty")?;
            }
        }
        ChainConfig::Rpc {
            url,
            addresses,
            key_file,
        } => {
            if !(url.starts_with("http://") || url.starts_with("https://"))
                || url.len() <= "https://".len()
            {
                fail(
                    "chain.url",
                    format!("{url:?} is not an http:// or https:// URL"),
                )?;
            }
            if addresses.as_os_str().is_empty() {
                fail("chain.addresses", "must not be empty")?;
            }
            if key_file.as_os_str().is_empty() {
                fail("chain.key_file", "must not be empty")?;
            }
        }
    }
    if !(1..=MAX_EXECUTOR_THREADS).contains(&c.executor.threads) {
        fail(
            "executor.threads",
            format!(
                "{} is outside 1 ..= {MAX_EXECUTOR_THREADS}",
                c.executor.threads
            ),
        )?;
    }
    for (field, v) in [
        ("limits.inbound_queue", c.limits.inbound_queue),
        ("limits.pending_per_role", c.limits.pending_per_role),
    ] {
        if !(1..=MAX_QUEUE).contains(&v) {
            fail(field, format!("{v} is outside 1 ..= {MAX_QUEUE}"))?;
        }
    }
    if c.supervision.max_restarts > MAX_RESTARTS {
        fail(
            "supervision.max_restarts",
            format!(
                "{} is above the maximum of {MAX_RESTARTS}",
                c.supervision.max_restarts
            ),
        )?;
    }
    if !(1..=MAX_WINDOW_S).contains(&c.supervision.window_s) {
        fail(
            "supervision.window_s",
            format!(
                "{} is outside 1 ..= {MAX_WINDOW_S} seconds",
                c.supervision.window_s
            ),
        )?;
    }
    if c.jobs.max_steps == 0 {
        fail("jobs.max_steps", "must be at least 1")?;
    }
    if let Some(t) = &c.api.token
        && (t.is_empty() || t.chars().any(|ch| ch.is_whitespace() || ch.is_control()))
    {
        fail(
            "api.token",
            "must be non-empty, without spaces or control characters",
        )?;
    }
    if c.api.enabled && !c.api.listen.ip().is_loopback() && c.api.token.is_none() {
        fail(
            "api.token",
            format!(
                "required: api.listen = {} is not a loopback address (set a bearer token, or \
                 listen on 127.0.0.1)",
                c.api.listen
            ),
        )?;
    }
    Ok(())
}

/// A 32-byte seed from 64 hex digits.
pub(crate) fn parse_seed(hex: &str) -> Option<[u8; 32]> {
    let bytes = hex.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in bytes.chunks(2).enumerate() {
        let s = std::str::from_utf8(pair).ok()?;
        out[i] = u8::from_str_radix(s, 16).ok()?;
    }
    Some(out)
}
