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
//!
//! [api]                        # the HTTP API and dashboard; off loopback it needs a token
//! listen = "127.0.0.1:7071"
//! # token = "..."
//! ```

mod amount;
mod sections;
mod validate;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use amount::{PIN_DECIMALS, PinAmount};
pub use sections::{
    AdversaryConfig, ApiSection, Backend, ChainConfig, DEFAULT_VERIFIER_SAMPLES, Decline,
    ExecutorConfig, JobPolicy, LimitsConfig, NetworkConfig, NodeSection, RoleConfig, RolesConfig,
    SupervisionConfig,
};
pub use validate::{Bootstrap, MAX_EXECUTOR_THREADS, MAX_QUEUE, MIN_DISK_BUDGET_MIB};

/// Default `node.key_file`, relative to the config file.
pub const DEFAULT_KEY_FILE: &str = "keys/node.key";
/// Default `node.disk_budget_mib` (10 GiB).
pub const DEFAULT_DISK_BUDGET_MIB: u64 = 10 * 1024;
/// Default port of `api.listen` (on 127.0.0.1).
pub const DEFAULT_API_PORT: u16 = 7071;
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
    /// The HTTP API and dashboard.
    #[serde(default)]
    pub api: ApiSection,
    /// A cheating node (tests and devnets only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adversary: Option<AdversaryConfig>,
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

    /// The QUIC endpoint's RNG seed, if the config fixes one (validation has checked it).
    pub fn quic_rng_seed(&self) -> Option<[u8; 32]> {
        self.network
            .rng_seed
            .as_deref()
            .and_then(validate::parse_seed)
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
