//! The crate's error type.

use alloy::primitives::{Address, U256};

/// Errors from settlement operations.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// The account does not have enough free stake in the role (decoded from the contracts'
    /// `InsufficientStake` error).
    #[error("insufficient stake: {who} has {available} free in role {role}, needs {needed}")]
    InsufficientStake {
        /// The account.
        who: Address,
        /// The role (0 trainer, 1 solver, 2 verifier, 3 arbiter).
        role: u8,
        /// Its free (unlocked) active stake.
        available: U256,
        /// The amount the operation needed.
        needed: U256,
    },
    /// A contract reverted; `reason` is the decoded revert string or custom error.
    #[error("transaction reverted: {reason}")]
    Reverted {
        /// The decoded reason, e.g. `PIN: insufficient balance` or `WindowOpen { windowEnd: 100 }`.
        reason: String,
    },
    /// The endpoint serves another chain than the one expected.
    #[error("wrong chain id: expected {expected}, the endpoint serves {actual}")]
    WrongChainId {
        /// The chain id asked for.
        expected: u64,
        /// The chain id the endpoint reported.
        actual: u64,
    },
    /// The JSON-RPC endpoint could not be reached (after the configured retries).
    #[error("RPC endpoint {url} unreachable after {attempts} attempts: {cause}")]
    Unreachable {
        /// The endpoint.
        url: String,
        /// How many attempts were made.
        attempts: u32,
        /// The last transport error.
        cause: String,
    },
    /// The endpoint answered with an error that is not a revert.
    #[error("RPC error: {0}")]
    Rpc(String),
    /// A transaction was sent but no receipt came within the configured time, even after
    /// resubmission.
    #[error("no receipt for transaction {0} in time")]
    ReceiptTimeout(String),
    /// No signer is configured for the sending account.
    #[error("no signer for account {0}")]
    NoSigner(Address),
    /// Bad input to a call of this crate (not a chain revert).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The embedded chain's transaction log is corrupt before its last record.
    #[error("embedded chain log {path} is corrupt at byte {offset}: {why}")]
    CorruptLog {
        /// The log file.
        path: String,
        /// Where the bad record starts.
        offset: u64,
        /// What is wrong.
        why: String,
    },
    /// The embedded EVM failed to execute (not a revert: an invalid transaction or a database
    /// error), or a contract failed to deploy.
    #[error("embedded EVM: {0}")]
    Evm(String),
    /// Decoding a return value or an event failed.
    #[error("decoding {what}: {why}")]
    Decode {
        /// What was decoded.
        what: &'static str,
        /// The decoder's message.
        why: String,
    },
    /// File-system error (the embedded log, an addresses file).
    #[error("{context}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

/// Shorthand for results of this crate.
pub type Result<T, E = ChainError> = std::result::Result<T, E>;

impl ChainError {
    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Self {
        let context = context.into();
        move |source| ChainError::Io { context, source }
    }
}
