//! The node's configuration: `node.toml`.
//!
//! [`NodeConfig::load`] reads the file, rejects unknown keys, fills defaults, makes relative
//! paths relative to the file's directory and validates every field; each error names its
//! field as a dotted path (`executor.threads`, `network.bootstrap[1]`). [`NodeConfig::render`]
//! prints the resolved configuration (what `pinpoint node --print-config` shows). The full
//! reference with every default is in `docs/node.md`.
//!
//! ```toml
//! [node]
//! data_dir = "data"            # required; the store lives here
//! key_file = "keys/node.key"   # the ed25519 node key (`pinpoint keys new`)
//! disk_budget_mib = 10240      # retention keeps the store under this
//!
//! [roles.trainer]              # trainer, verifier, arbiter, solver; at least one
//! stake_pin = 1000             # whole PIN (or a decimal string such as "0.5")
//!
//! [network]
//! listen = "0.0.0.0:7070"
//! bootstrap = ["<node id, 64 hex>@203.0.113.7:7070"]
//!
//! [chain]                      # kind = "embedded" (data_dir) or "rpc" (url, addresses, key_file)
//! kind = "embedded"
//! data_dir = "chain"
//!
//! [executor]
//! threads = 2
//!
//! [limits]
//! inbound_queue = 1024
//! pending_per_role = 256
//!
//! [supervision]                # at most max_restarts restarts in window_s seconds
//! max_restarts = 3
//! window_s = 60
//!
//! [jobs]                       # which jobs this node accepts
//! max_steps = 100000
//! min_payment_pin = "0"
//! ```

mod amount;
mod validate;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use amount::{PIN_DECIMALS, PinAmount};
pub use validate::{Bootstrap, MAX_EXECUTOR_THREADS, MAX_QUEUE, MIN_DISK_BUDGET_MIB};

/// Default `node.key_file`, relative to the config file.
pub const DEFAULT_KEY_FILE: &str = "keys/node.key";
/// Default `node.disk_budget_mib` (10 GiB).
pub const DEFAULT_DISK_BUDGET_MIB: u64 = 10 * 1024;
/// Default `network.listen`.
pub const DEFAULT_LISTEN: &str = "0.0.0.0:7070";
/// Default `chain.data_dir` of the embedded chain, relative to the config file.
pub const DEFAULT_CHAIN_DIR: &str = "chain";
/// Default `executor.threads`.
pub const DEFAULT_EXECUTOR_THREADS: u16 = 1;
/// Default `limits.inbound_queue`: frames waiting to be routed.
pub const DEFAULT_INBOUND_QUEUE: u32 = 1024;
/// Default `limits.pending_per_role`: requests a role keeps in flight.
pub const DEFAULT_PENDING_PER_ROLE: u32 = 256;
/// Default `supervision.max_restarts` (R).
pub const DEFAULT_MAX_RESTARTS: u32 = 3;
/// Default `supervision.window_s` (W).
pub const DEFAULT_RESTART_WINDOW_S: u64 = 60;
/// Default `jobs.max_steps`.
pub const DEFAULT_MAX_STEPS: u64 = 1_000_000;

/// A `node.toml` problem. Every variant but [`ConfigError::Read`] names the field.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("reading the config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The TOML does not parse (the message carries line and column).
    #[error("{file}: not valid TOML: {message}")]
    Syntax {
        /// The file (or `<string>`).
        file: String,
        /// toml's message.
        message: String,
    },
    /// A field is unknown, missing, of the wrong type or out of range.
    #[error("{file}: field `{field}`: {message}")]
    Field {
        /// The file (or `<string>`).
        file: String,
        /// The field as a dotted path, e.g. `executor.threads`.
        field: String,
        /// What is wrong and what is allowed.
        message: String,
    },
}

impl ConfigError {
    /// The dotted path of the offending field, if the error is about one.
    pub fn field(&self) -> Option<&str> {
        match self {
            Self::Field { field, .. } => Some(field),
            _ => None,
        }
    }
}

/// The whole node configuration, resolved (defaults filled, paths absolute or relative to
/// the working directory).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// Identity and disk.
    pub node: NodeSection,
    /// Enabled roles and their stakes.
    #[serde(default)]
    pub roles: RolesConfig,
    /// Listen address and peers.
    #[serde(default)]
    pub network: NetworkConfig,
    /// Settlement back end.
    #[serde(default)]
    pub chain: ChainConfig,
    /// Compute.
    #[serde(default)]
    pub executor: ExecutorConfig,
    /// Queue bounds.
    #[serde(default)]
    pub limits: LimitsConfig,
    /// Restart intensity.
    #[serde(default)]
    pub supervision: SupervisionConfig,
    /// Which jobs to accept.
    #[serde(default)]
    pub jobs: JobPolicy,
}

/// `[node]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSection {
    /// The store's directory (required).
    pub data_dir: PathBuf,
    /// The ed25519 node key file.
    #[serde(default = "default_key_file")]
    pub key_file: PathBuf,
    /// Disk budget of the store, MiB.
    #[serde(default = "default_disk_budget")]
    pub disk_budget_mib: u64,
}

fn default_key_file() -> PathBuf {
    PathBuf::from(DEFAULT_KEY_FILE)
}
fn default_disk_budget() -> u64 {
    DEFAULT_DISK_BUDGET_MIB
}

/// `[roles]`: each present table enables that role.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RolesConfig {
    /// Runs training jobs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trainer: Option<RoleConfig>,
    /// Re-runs sampled steps and challenges.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verifier: Option<RoleConfig>,
    /// Referees disputes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arbiter: Option<RoleConfig>,
    /// Runs inference jobs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub solver: Option<RoleConfig>,
}

impl RolesConfig {
    /// The enabled roles with their configs, in the contracts' order.
    pub fn enabled(&self) -> Vec<(pinpoint_chain::Role, &RoleConfig)> {
        use pinpoint_chain::Role;
        [
            (Role::Trainer, &self.trainer),
            (Role::Solver, &self.solver),
            (Role::Verifier, &self.verifier),
            (Role::Arbiter, &self.arbiter),
        ]
        .into_iter()
        .filter_map(|(r, c)| c.as_ref().map(|c| (r, c)))
        .collect()
    }
}

/// `[roles.<role>]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleConfig {
    /// Stake bonded for this role (whole PIN, or a decimal string).
    pub stake_pin: PinAmount,
}

/// `[network]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkConfig {
    /// UDP address of the QUIC endpoint.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// Peers to dial at start: `<node id hex>@<ip:port>`.
    #[serde(default)]
    pub bootstrap: Vec<String>,
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([0, 0, 0, 0], 7070))
}

impl Default for NetworkConfig {
    fn default() -> Self {
        Self {
            listen: default_listen(),
            bootstrap: Vec::new(),
        }
    }
}

/// `[chain]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum ChainConfig {
    /// The in-process chain, durable in `data_dir`.
    Embedded {
        /// Its transaction log's directory.
        #[serde(default = "default_chain_dir")]
        data_dir: PathBuf,
    },
    /// An EVM chain over JSON-RPC.
    Rpc {
        /// `http://` or `https://` endpoint.
        url: String,
        /// The deployment's addresses (`pinpoint chain deploy --out`).
        addresses: PathBuf,
        /// The hex secp256k1 key of the node's account (`pinpoint keys new` writes `evm.key`).
        key_file: PathBuf,
    },
}

fn default_chain_dir() -> PathBuf {
    PathBuf::from(DEFAULT_CHAIN_DIR)
}

impl Default for ChainConfig {
    fn default() -> Self {
        Self::Embedded {
            data_dir: default_chain_dir(),
        }
    }
}

/// Compute back end of the executor.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// The RepOps CPU reference.
    #[default]
    Cpu,
}

/// `[executor]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecutorConfig {
    /// Kernel worker threads (results do not depend on it).
    #[serde(default = "default_threads")]
    pub threads: u16,
    /// Compute back end.
    #[serde(default)]
    pub backend: Backend,
}

fn default_threads() -> u16 {
    DEFAULT_EXECUTOR_THREADS
}

impl Default for ExecutorConfig {
    fn default() -> Self {
        Self {
            threads: DEFAULT_EXECUTOR_THREADS,
            backend: Backend::Cpu,
        }
    }
}

/// `[limits]`: bounds of the node's queues.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    /// Frames waiting for routing; a full queue refuses.
    #[serde(default = "default_inbound_queue")]
    pub inbound_queue: u32,
    /// Requests each role keeps pending; more are refused.
    #[serde(default = "default_pending")]
    pub pending_per_role: u32,
}

fn default_inbound_queue() -> u32 {
    DEFAULT_INBOUND_QUEUE
}
fn default_pending() -> u32 {
    DEFAULT_PENDING_PER_ROLE
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            inbound_queue: DEFAULT_INBOUND_QUEUE,
            pending_per_role: DEFAULT_PENDING_PER_ROLE,
        }
    }
}

/// `[supervision]`: the restart intensity (at most R restarts in W seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SupervisionConfig {
    /// R: restarts allowed within the window (0: the first failure stops the node).
    #[serde(default = "default_max_restarts")]
    pub max_restarts: u32,
    /// W, seconds.
    #[serde(default = "default_window")]
    pub window_s: u64,
}

fn default_max_restarts() -> u32 {
    DEFAULT_MAX_RESTARTS
}
fn default_window() -> u64 {
    DEFAULT_RESTART_WINDOW_S
}

impl Default for SupervisionConfig {
    fn default() -> Self {
        Self {
            max_restarts: DEFAULT_MAX_RESTARTS,
            window_s: DEFAULT_RESTART_WINDOW_S,
        }
    }
}

/// `[jobs]`: the accepted-job policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobPolicy {
    /// Jobs with more steps are declined.
    #[serde(default = "default_max_steps")]
    pub max_steps: u64,
    /// Jobs paying less are declined.
    #[serde(default)]
    pub min_payment_pin: PinAmount,
}

fn default_max_steps() -> u64 {
    DEFAULT_MAX_STEPS
}

impl Default for JobPolicy {
    fn default() -> Self {
        Self {
            max_steps: DEFAULT_MAX_STEPS,
            min_payment_pin: PinAmount::ZERO,
        }
    }
}

/// Why the accepted-job policy declines a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Decline {
    /// More steps than `jobs.max_steps`.
    #[error("the job has {steps} steps, more than jobs.max_steps = {max}")]
    TooManySteps {
        /// The job's `T`.
        steps: u64,
        /// The policy's bound.
        max: u64,
    },
    /// Pays less than `jobs.min_payment_pin`.
    #[error("the job pays {payment} PIN, less than jobs.min_payment_pin = {min}")]
    Underpaid {
        /// The job's payment.
        payment: PinAmount,
        /// The policy's bound.
        min: PinAmount,
    },
}

impl JobPolicy {
    /// Whether a job of `steps` steps paying `payment` is acceptable.
    pub fn check(&self, steps: u64, payment: PinAmount) -> Result<(), Decline> {
        if steps > self.max_steps {
            return Err(Decline::TooManySteps {
                steps,
                max: self.max_steps,
            });
        }
        if payment < self.min_payment_pin {
            return Err(Decline::Underpaid {
                payment,
                min: self.min_payment_pin,
            });
        }
        Ok(())
    }
}

impl NodeConfig {
    /// Reads, resolves and validates `path`. Relative paths in the file are taken relative to
    /// the file's directory.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let base = path.parent().unwrap_or(Path::new(""));
        Self::from_toml_str(&text, base, &path.display().to_string())
    }

    /// Parses and validates TOML text; relative paths are joined to `base`, `file` names the
    /// source in errors.
    pub fn from_toml_str(text: &str, base: &Path, file: &str) -> Result<Self, ConfigError> {
        let de = toml::Deserializer::parse(text).map_err(|e| ConfigError::Syntax {
            file: file.to_string(),
            message: e.to_string(),
        })?;
        let mut cfg: NodeConfig = serde_path_to_error::deserialize(de).map_err(|e| {
            let field = e.path().to_string();
            let inner = e.into_inner();
            let message = inner.message().trim().to_string();
            let field = validate::refine_path(&field, &message);
            ConfigError::Field {
                file: file.to_string(),
                field,
                message,
            }
        })?;
        cfg.resolve_paths(base);
        validate::validate(&cfg).map_err(|(field, message)| ConfigError::Field {
            file: file.to_string(),
            field,
            message,
        })?;
        Ok(cfg)
    }

    fn resolve_paths(&mut self, base: &Path) {
        let fix = |p: &mut PathBuf| {
            if p.is_relative() && !p.as_os_str().is_empty() {
                *p = base.join(&*p);
            }
        };
        fix(&mut self.node.data_dir);
        fix(&mut self.node.key_file);
        match &mut self.chain {
            ChainConfig::Embedded { data_dir } => fix(data_dir),
            ChainConfig::Rpc {
                addresses,
                key_file,
                ..
            } => {
                fix(addresses);
                fix(key_file);
            }
        }
    }

    /// The bootstrap peers, parsed (validation has checked them).
    pub fn bootstrap_peers(&self) -> Vec<Bootstrap> {
        self.network
            .bootstrap
            .iter()
            .filter_map(|s| Bootstrap::parse(s).ok())
            .collect()
    }

    /// The resolved configuration as TOML, every default written out.
    pub fn render(&self) -> String {
        toml::to_string_pretty(self)
            .unwrap_or_else(|e| format!("# the configuration cannot be printed: {e}\n"))
    }

    /// The store's disk budget in bytes.
    pub fn disk_budget_bytes(&self) -> u64 {
        self.node.disk_budget_mib.saturating_mul(1024 * 1024)
    }
}

#[cfg(test)]
mod tests;
