//! The crate's error type: every way a network operation can fail, as a value a caller can act on.

use pinpoint_protocol::error::ProtocolError;
use thiserror::Error;

/// Result alias of the crate.
pub type Result<T> = std::result::Result<T, NetError>;

/// Operating errors of the network layer. `Clone` so that they can be broadcast as faults.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum NetError {
    /// The peer could not be reached: no known address, no route, connection lost, or closed.
    #[error("peer {peer} unreachable: {detail}")]
    Unreachable {
        /// Who (hex `NodeId`, or an address when the id is not known).
        peer: String,
        /// Why.
        detail: String,
    },
    /// A deadline passed: a request, a handshake, or a stream that stopped sending.
    #[error("timed out: {0}")]
    Timeout(String),
    /// The peer or this node refused: wrong identity, no certificate, connection limits, a
    /// handler that declined, or a blob it does not have.
    #[error("refused: {0}")]
    Refused(String),
    /// A frame or blob larger than the configured limit.
    #[error("{what} of {len} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// What was too large.
        what: &'static str,
        /// Its size in bytes.
        len: u64,
        /// The limit in bytes.
        limit: u64,
    },
    /// Bytes that are not a valid frame (bad length prefix, non-canonical borsh, wrong version).
    #[error("bad frame: {0}")]
    BadFrame(String),
    /// A blob whose content does not hash to the requested blake3 hash.
    #[error("blob hash mismatch: wanted {wanted}, got {got}")]
    HashMismatch {
        /// The requested hash (hex).
        wanted: String,
        /// The hash of the bytes received (hex).
        got: String,
    },
    /// Local misconfiguration or I/O failure (binding a socket, building TLS configs, a sink).
    #[error("local error: {0}")]
    Local(String),
}

impl NetError {
    pub(crate) fn unreachable(
        peer: impl std::fmt::Display,
        detail: impl std::fmt::Display,
    ) -> Self {
        Self::Unreachable {
            peer: peer.to_string(),
            detail: detail.to_string(),
        }
    }
}

impl From<ProtocolError> for NetError {
    fn from(e: ProtocolError) -> Self {
        match e {
            ProtocolError::TooLarge { what, len, limit } => Self::TooLarge {
                what,
                len: len as u64,
                limit: limit as u64,
            },
            other => Self::BadFrame(other.to_string()),
        }
    }
}
