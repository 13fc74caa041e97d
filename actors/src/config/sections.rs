//! The sections of `node.toml`: one serde struct per table, unknown keys rejected, defaults
//! from the named constants of [`super`].

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::PinAmount;
use super::{
    DEFAULT_CHAIN_DIR, DEFAULT_DISK_BUDGET_MIB, DEFAULT_EXECUTOR_THREADS, DEFAULT_INBOUND_QUEUE,
    DEFAULT_KEY_FILE, DEFAULT_MAX_RESTARTS, DEFAULT_MAX_STEPS, DEFAULT_PENDING_PER_ROLE,
    DEFAULT_RESTART_WINDOW_S,
};

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
    /// Seed of the QUIC endpoint's random choices, 64 hex digits (a simulation or a replay
    /// fixes it); absent: from the OS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rng_seed: Option<String>,
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([0, 0, 0, 0], 7070))
}

impl Default for NetworkConfig {
    fn default() -> Self {
        Self {
            listen: default_listen(),
            bootstrap: Vec::new(),
            rng_seed: None,
        }
    }
}

/// `[api]`: the node's HTTP API and dashboard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiSection {
    /// Whether the node serves its API.
    #[serde(default = "default_api_enabled")]
    pub enabled: bool,
    /// TCP address of the API (a non-loopback address requires `token`).
    #[serde(default = "default_api_listen")]
    pub listen: SocketAddr,
    /// The bearer token every request must carry (`Authorization: Bearer <token>`); required
    /// when `listen` is not a loopback address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

fn default_api_enabled() -> bool {
    true
}

fn default_api_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], super::DEFAULT_API_PORT))
}

impl Default for ApiSection {
    fn default() -> Self {
        Self {
            enabled: true,
            listen: default_api_listen(),
            token: None,
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
    /// Kernel worker threads (results do not depend on it). With more than one, every worker
    /// stays busy for the length of a step (spinning for work between kernels).
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
    /// Steps a verifier samples from each committed root (0: it does not sample).
    #[serde(default = "default_verifier_samples")]
    pub verifier_samples: u64,
    /// As an arbiter: milliseconds a dispute party has to answer a query.
    #[serde(default = "default_dispute_answer_ms")]
    pub dispute_answer_ms: u64,
    /// As an arbiter: how often an unanswered query is asked again before the party forfeits
    /// (a party has `dispute_answer_ms · (1 + dispute_max_retries)` in all).
    #[serde(default = "default_dispute_max_retries")]
    pub dispute_max_retries: u32,
}

/// Default of `jobs.dispute_answer_ms` (the protocol's `Deadlines::default`).
pub const DEFAULT_DISPUTE_ANSWER_MS: u64 = 10_000;

/// Default of `jobs.dispute_max_retries` (the protocol's `Deadlines::default`).
pub const DEFAULT_DISPUTE_MAX_RETRIES: u32 = 2;

fn default_dispute_answer_ms() -> u64 {
    DEFAULT_DISPUTE_ANSWER_MS
}

fn default_dispute_max_retries() -> u32 {
    DEFAULT_DISPUTE_MAX_RETRIES
}

/// Default of `jobs.verifier_samples`.
pub const DEFAULT_VERIFIER_SAMPLES: u64 = 2;

fn default_verifier_samples() -> u64 {
    DEFAULT_VERIFIER_SAMPLES
}

/// `[adversary]`: this node cheats (tests and devnets only; a build without the `adversary`
/// feature refuses to run it). Logged loudly at start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdversaryConfig {
    /// The trainer's cheat: `wrong-node:STEP:NODE` (operator NODE of step STEP is wrong).
    pub cheat: String,
}

fn default_max_steps() -> u64 {
    DEFAULT_MAX_STEPS
}

impl Default for JobPolicy {
    fn default() -> Self {
        Self {
            max_steps: DEFAULT_MAX_STEPS,
            min_payment_pin: PinAmount::ZERO,
            verifier_samples: DEFAULT_VERIFIER_SAMPLES,
            dispute_answer_ms: DEFAULT_DISPUTE_ANSWER_MS,
            dispute_max_retries: DEFAULT_DISPUTE_MAX_RETRIES,
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
