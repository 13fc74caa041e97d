//! The crate's error type.

use pinpoint_kernels::KernelError;
use pinpoint_train::TrainError;
use thiserror::Error;

/// Result alias of the crate.
pub type Result<T> = std::result::Result<T, ProtocolError>;

/// Operating errors of the protocol core: bad input from a peer or a caller.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum ProtocolError {
    /// Bytes that do not decode as the expected type.
    #[error("malformed {what}: {detail}")]
    Malformed {
        /// What was being decoded.
        what: &'static str,
        /// Why it failed.
        detail: String,
    },
    /// Input larger than its limit.
    #[error("{what} of {len} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// What was too large.
        what: &'static str,
        /// Its size.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// A signature that does not verify, or a key that is not a valid ed25519 point.
    #[error("bad signature: {0}")]
    BadSignature(String),
    /// A signed statement seen before, or out of sequence.
    #[error("replayed or out-of-order statement: {0}")]
    Replay(String),
    /// A bounded table is full (e.g. the replay guard's tracked keys); nothing was evicted.
    #[error("{what}: capacity of {limit} reached")]
    CapacityExceeded {
        /// What is full.
        what: &'static str,
        /// Its capacity.
        limit: usize,
    },
    /// A Merkle proof that does not lead to the committed root.
    #[error("invalid Merkle proof: {0}")]
    BadProof(String),
    /// An argument outside its valid range (empty tree, index out of range, …).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// A well-formed value this code does not support: an unknown protocol version or frame kind.
    #[error("unsupported {what}: {value}")]
    Unsupported {
        /// What was not supported.
        what: &'static str,
        /// The value received.
        value: u64,
    },
    /// Content whose hash is not the hash claimed for it (a value blob, a rollout payload).
    #[error("hash mismatch in {what}: claimed {claimed:02x?}, actual {actual:02x?}")]
    HashMismatch {
        /// What was hashed.
        what: &'static str,
        /// The hash claimed (or agreed on).
        claimed: [u8; 32],
        /// The hash of the content received.
        actual: [u8; 32],
    },
    /// Token arithmetic that would overflow `u128` (nothing was computed).
    #[error("arithmetic overflow in {0}")]
    Overflow(&'static str),
    /// An input a state machine does not accept in its current phase; its state is unchanged.
    #[error("invalid transition in phase {phase}: {detail}")]
    InvalidTransition {
        /// The phase the machine was in.
        phase: &'static str,
        /// What was wrong with the input.
        detail: String,
    },
    /// The job's own training program failed: a spec, data, state or kernel error of
    /// `pinpoint-train` (this node's computation, not a peer's claim).
    #[error("training: {0}")]
    Train(#[from] TrainError),
    /// An operator that does not run on the inputs a party supplied for it (wrong types or
    /// shapes, a non-finite result): the party's answer is at fault.
    #[error("re-executed node: {0}")]
    Reexec(#[source] KernelError),
}

/// Who is at fault for a [`ProtocolError`], so a supervisor can act on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// The input came from another party and is invalid: drop it, and dispute or penalise
    /// the sender where the protocol says so.
    Peer,
    /// This node's own job or resources (training data, spec, state, a full table): the peer
    /// is not to blame.
    Local,
    /// A caller broke a documented contract (an argument out of range, an arithmetic
    /// overflow): a bug to report.
    Bug,
}

impl ProtocolError {
    /// The class of this error ([`ErrorClass`]).
    pub fn class(&self) -> ErrorClass {
        match self {
            ProtocolError::Malformed { .. }
            | ProtocolError::TooLarge { .. }
            | ProtocolError::BadSignature(_)
            | ProtocolError::Replay(_)
            | ProtocolError::BadProof(_)
            | ProtocolError::Unsupported { .. }
            | ProtocolError::HashMismatch { .. }
            | ProtocolError::InvalidTransition { .. }
            | ProtocolError::Reexec(_) => ErrorClass::Peer,
            ProtocolError::InvalidArgument(_)
            | ProtocolError::Overflow(_)
            | ProtocolError::Train(TrainError::Usage(_)) => ErrorClass::Bug,
            ProtocolError::CapacityExceeded { .. } | ProtocolError::Train(_) => ErrorClass::Local,
        }
    }
}
