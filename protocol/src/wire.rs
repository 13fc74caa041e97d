//! Wire messages: one versioned [`Message`] enum covering every statement nodes exchange.
//!
//! - Job lifecycle: [`JobAnnounce`], [`JobAssign`], [`JobCommit`].
//! - Dispute (DESIGN §4): [`DisputeOpen`], step bisection ([`StepQuery`], [`StepAnswer`]),
//!   node bisection ([`NodePhaseStart`], [`NodeQuery`], [`NodeAnswer`]), the transfer of the
//!   disputed node's inputs ([`InputQuery`], [`InputTransfer`] of [`ValueBlob`]s with an
//!   [`AgreedProof`]: the [`StateManifest`] of `S_lo` and a [`ChainSegment`]) and the
//!   [`Verdict`].
//! - Sampling verifier: [`SampleChallenge`], and the opening of a sampled step
//!   ([`OpeningRequest`], [`WireOpening`]). Swarm: [`SwarmRollout`].
//! - Applications: [`AppMessage`] (opaque bytes for one node, under [`app_scope`]).
//!
//! Messages are signed as a whole: a [`SignedMessage`] is a [`Signed<Message>`], so the borsh
//! variant tag (see [`kind`]) is part of the signed bytes and a signature over one message type
//! can never be replayed as another, even when the field layouts coincide. Every variable-length
//! field is a [`crate::codec::BoundedVec`] with a documented cap, and the whole frame is further limited by
//! [`crate::codec::MAX_FRAME_BYTES`].
//!
//! Exact fields and caps: `docs/protocol.md`, "Wire messages".

use borsh::{BorshDeserialize, BorshSerialize};

use crate::codec::WireMessage;
use crate::error::{ProtocolError, Result};
use crate::id::{JobId, NodeKey, Signed};

mod agreed;
mod blob;
mod dispute;
mod job;
mod opening;
mod other;
mod proof;
#[cfg(test)]
mod tests;

pub use agreed::{
    AgreedProof, ChainSegment, MAX_NODE_OUTPUTS, MAX_SEGMENT_NODES, MAX_STATE_TENSORS,
    MAX_TENSOR_NAME, NamedHash, NodeOutputs, StateManifest, node_hash_of, state_hash_of,
};
pub use blob::{MAX_VALUE_BYTES, MAX_VALUE_RANK, ValueBlob};
pub use dispute::{
    DisputeOpen, Fault, InputQuery, InputTransfer, MAX_NODE_INPUTS, NodeAnswer, NodePhaseStart,
    NodeQuery, Outcome, Resolution, StepAnswer, StepQuery, Verdict,
};
pub use job::{JobAnnounce, JobAssign, JobCommit, MAX_TRAINERS};
pub use opening::{OpeningRequest, WireOpening};
pub use other::{
    APP_SCOPE_CONTEXT, AppMessage, MAX_APP_BYTES, MAX_ROLLOUT_BYTES, SWARM_ROLLOUT_CONTEXT,
    SampleChallenge, SwarmRollout, app_scope,
};
pub use proof::{MAX_PROOF_SIBLINGS, WireProof};

/// The borsh variant tag of each [`Message`] variant (the first byte of its encoding).
pub mod kind {
    /// [`super::Message::JobAnnounce`].
    pub const JOB_ANNOUNCE: u8 = 0;
    /// [`super::Message::JobAssign`].
    pub const JOB_ASSIGN: u8 = 1;
    /// [`super::Message::JobCommit`].
    pub const JOB_COMMIT: u8 = 2;
    /// [`super::Message::DisputeOpen`].
    pub const DISPUTE_OPEN: u8 = 3;
    /// [`super::Message::StepQuery`].
    pub const STEP_QUERY: u8 = 4;
    /// [`super::Message::StepAnswer`].
    pub const STEP_ANSWER: u8 = 5;
    /// [`super::Message::NodePhaseStart`].
    pub const NODE_PHASE_START: u8 = 6;
    /// [`super::Message::NodeQuery`].
    pub const NODE_QUERY: u8 = 7;
    /// [`super::Message::NodeAnswer`].
    pub const NODE_ANSWER: u8 = 8;
    /// [`super::Message::InputQuery`].
    pub const INPUT_QUERY: u8 = 9;
    /// [`super::Message::InputTransfer`].
    pub const INPUT_TRANSFER: u8 = 10;
    /// [`super::Message::Verdict`].
    pub const VERDICT: u8 = 11;
    /// [`super::Message::SampleChallenge`].
    pub const SAMPLE_CHALLENGE: u8 = 12;
    /// [`super::Message::SwarmRollout`].
    pub const SWARM_ROLLOUT: u8 = 13;
    /// [`super::Message::OpeningRequest`].
    pub const OPENING_REQUEST: u8 = 14;
    /// [`super::Message::StepOpening`].
    pub const STEP_OPENING: u8 = 15;
    /// [`super::Message::App`].
    pub const APP: u8 = 16;
}

/// Frame kind ([`WireMessage::KIND`]) of a bare [`Message`].
pub const MESSAGE_KIND: u16 = 0x0100;
/// Frame kind ([`WireMessage::KIND`]) of a [`SignedMessage`], the normal transport form.
pub const SIGNED_MESSAGE_KIND: u16 = 0x0101;

/// Every wire message of protocol version 1 ([`crate::codec::PROTOCOL_VERSION`]).
///
/// Variants are only ever appended; the tag of each is fixed in [`kind`].
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum Message {
    /// A job is posted (payment escrowed).
    JobAnnounce(JobAnnounce),
    /// Trainers are assigned to a job.
    JobAssign(JobAssign),
    /// A trainer commits to its run.
    JobCommit(JobCommit),
    /// The referee opens a dispute between two committed parties.
    DisputeOpen(DisputeOpen),
    /// Referee → party: the state hash at a step, please.
    StepQuery(StepQuery),
    /// Party → referee: a state hash with its proof against the party's root.
    StepAnswer(StepAnswer),
    /// Referee → parties: step bisection ended; node bisection starts.
    NodePhaseStart(NodePhaseStart),
    /// Referee → party: the prefix-chain link at a node index, please.
    NodeQuery(NodeQuery),
    /// Party → referee: a prefix-chain link with its proof.
    NodeAnswer(NodeAnswer),
    /// Referee → party: the disputed node's input values, please.
    InputQuery(InputQuery),
    /// Party → referee: the disputed node's input values.
    InputTransfer(InputTransfer),
    /// Referee → everyone: the dispute's outcome.
    Verdict(Verdict),
    /// Verifier → referee: a sampled step did not reproduce.
    SampleChallenge(SampleChallenge),
    /// Swarm peer → peers: a round's rollouts.
    SwarmRollout(SwarmRollout),
    /// Verifier → trainer: open a sampled step, please.
    OpeningRequest(OpeningRequest),
    /// Trainer → verifier: the opening of a sampled step.
    StepOpening(WireOpening),
    /// Node → node: an application's bytes (the API's AXL-compatible bridge).
    App(AppMessage),
}

/// The transport form of every message: signed, with job, round and sequence number.
pub type SignedMessage = Signed<Message>;

impl WireMessage for Message {
    const KIND: u16 = MESSAGE_KIND;
}

impl WireMessage for SignedMessage {
    const KIND: u16 = SIGNED_MESSAGE_KIND;
}

impl Message {
    /// The variant's borsh tag (one of the [`kind`] constants).
    pub fn kind(&self) -> u8 {
        match self {
            Message::JobAnnounce(_) => kind::JOB_ANNOUNCE,
            Message::JobAssign(_) => kind::JOB_ASSIGN,
            Message::JobCommit(_) => kind::JOB_COMMIT,
            Message::DisputeOpen(_) => kind::DISPUTE_OPEN,
            Message::StepQuery(_) => kind::STEP_QUERY,
            Message::StepAnswer(_) => kind::STEP_ANSWER,
            Message::NodePhaseStart(_) => kind::NODE_PHASE_START,
            Message::NodeQuery(_) => kind::NODE_QUERY,
            Message::NodeAnswer(_) => kind::NODE_ANSWER,
            Message::InputQuery(_) => kind::INPUT_QUERY,
            Message::InputTransfer(_) => kind::INPUT_TRANSFER,
            Message::Verdict(_) => kind::VERDICT,
            Message::SampleChallenge(_) => kind::SAMPLE_CHALLENGE,
            Message::SwarmRollout(_) => kind::SWARM_ROLLOUT,
            Message::OpeningRequest(_) => kind::OPENING_REQUEST,
            Message::StepOpening(_) => kind::STEP_OPENING,
            Message::App(_) => kind::APP,
        }
    }

    /// The job id the message names in its own fields, if it has one (messages inside a
    /// dispute or a swarm round rely on the envelope's job id alone).
    pub fn job(&self) -> Option<&JobId> {
        match self {
            Message::JobAnnounce(m) => Some(&m.job),
            Message::JobAssign(m) => Some(&m.job),
            Message::JobCommit(m) => Some(&m.job),
            Message::DisputeOpen(m) => Some(&m.job),
            Message::Verdict(m) => Some(&m.job),
            Message::SampleChallenge(m) => Some(&m.job),
            _ => None,
        }
    }

    /// Signs the message for `(job, round, seq)`: the transport form.
    ///
    /// Errors: [`ProtocolError::InvalidArgument`] if the message names a job other than `job`.
    pub fn sign(self, key: &NodeKey, job: JobId, round: u32, seq: u64) -> Result<SignedMessage> {
        check_job(&self, &job)?;
        Signed::sign(key, job, round, seq, self)
    }
}

/// Verifies a received [`SignedMessage`]: the signature, and that a job id named inside the
/// message equals the envelope's.
///
/// Errors: [`ProtocolError::BadSignature`]; [`ProtocolError::InvalidArgument`] on a job
/// mismatch. Replay protection is separate ([`crate::id::ReplayGuard::accept`]).
pub fn verify_message(signed: &SignedMessage) -> Result<()> {
    signed.verify()?;
    check_job(&signed.statement, &signed.job)
}

fn check_job(msg: &Message, job: &JobId) -> Result<()> {
    match msg.job() {
        Some(inner) if inner != job => Err(ProtocolError::InvalidArgument(format!(
            "message names job {} but is signed for job {}",
            hex(inner),
            hex(job)
        ))),
        _ => Ok(()),
    }
}

fn hex(bytes: &[u8; 32]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
