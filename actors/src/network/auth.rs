//! Authentication of one inbound frame, done once at the edge: it must decode as a
//! [`SignedMessage`] within the size limit, name a job this node routes, be signed by the
//! connection's own `NodeId`, verify, carry a fresh sequence number ([`ReplayGuard`]), and
//! not name another job inside than on its envelope.

use pinpoint_protocol::ProtocolError;
use pinpoint_protocol::codec::{Frame, Limits};
use pinpoint_protocol::id::{JobId, NodeId, ReplayGuard};
use pinpoint_protocol::wire::SignedMessage;

/// Why a frame was refused. Each is counted ([`super::NetCounters`]) and logged, and changes
/// nothing else.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Refusal {
    /// Not a signed message, not canonical, or too large.
    #[error("undecodable frame: {0}")]
    Undecodable(ProtocolError),
    /// No handler for its job.
    #[error("message for unknown job {}", pinpoint_train::Digest(*.0).to_hex())]
    UnknownJob(JobId),
    /// Signed by someone other than the connection's peer.
    #[error("signed by {signer} but sent by {connection}")]
    SignerMismatch {
        /// The authenticated peer of the connection.
        connection: NodeId,
        /// The envelope's signer.
        signer: NodeId,
    },
    /// The signature does not verify.
    #[error("forged: {0}")]
    BadSignature(ProtocolError),
    /// A sequence number already seen (or older) for its `(signer, job, round)`.
    #[error("replayed: {0}")]
    Replayed(ProtocolError),
    /// The message names another job than its envelope, or the replay guard is full.
    #[error("refused: {0}")]
    Invalid(ProtocolError),
    /// The node's inbound queue is full.
    #[error("the inbound queue is full")]
    QueueFull,
    /// The job's handler is gone.
    #[error("the handler of job {} is gone", pinpoint_train::Digest(*.0).to_hex())]
    HandlerGone(JobId),
}

/// Authenticates `frame` from `from`; `known(job)` says whether the job has a handler (checked
/// before the signature, so traffic for unknown jobs costs no verification).
pub fn authenticate(
    from: NodeId,
    frame: &Frame,
    limits: &Limits,
    known: impl Fn(&JobId) -> bool,
    guard: &mut ReplayGuard,
) -> Result<SignedMessage, Refusal> {
    if frame.body.len() > limits.max_frame_bytes {
        return Err(Refusal::Undecodable(ProtocolError::TooLarge {
            what: "frame",
            len: frame.body.len(),
            limit: limits.max_frame_bytes,
        }));
    }
    let m: SignedMessage = frame.open(limits).map_err(Refusal::Undecodable)?;
    if !known(&m.job) {
        return Err(Refusal::UnknownJob(m.job));
    }
    if m.signer != from {
        return Err(Refusal::SignerMismatch {
            connection: from,
            signer: m.signer,
        });
    }
    if let Some(inner) = m.statement.job()
        && inner != &m.job
    {
        return Err(Refusal::Invalid(ProtocolError::InvalidArgument(
            "the message names another job than its envelope".to_string(),
        )));
    }
    guard.accept(&m).map_err(|e| match e {
        ProtocolError::BadSignature(_) => Refusal::BadSignature(e),
        ProtocolError::Replay(_) => Refusal::Replayed(e),
        e => Refusal::Invalid(e),
    })?;
    Ok(m)
}
