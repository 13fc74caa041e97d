//! Sampling-verifier challenges, swarm rollouts, and applications' messages between nodes
//! (the HTTP API's AXL-compatible bridge).

use borsh::{BorshDeserialize, BorshSerialize};

use super::proof::WireProof;
use crate::codec::BoundedVec;
use crate::error::{ProtocolError, Result};
use crate::id::{JobId, NodeId};

/// Largest rollout payload: 1 MiB.
pub const MAX_ROLLOUT_BYTES: u32 = 1024 * 1024;

/// Largest application message payload: 256 KiB.
pub const MAX_APP_BYTES: u32 = 256 * 1024;

/// blake3 `derive_key` context of [`app_scope`].
pub const APP_SCOPE_CONTEXT: &str = "pinpoint 2026 app messages v1";

/// The envelope job id of every [`AppMessage`]: not a job, one scope for all application
/// traffic (a signer's sequence numbers in it are fresh per (signer, scope, round) as usual).
pub fn app_scope() -> JobId {
    blake3::derive_key(APP_SCOPE_CONTEXT, b"")
}

/// An application's bytes for one node (the API's `POST /send` on the sending node,
/// `GET /recv` on the receiving one): opaque to the protocol. Sent under [`app_scope`].
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct AppMessage {
    /// The node it is for (a node refuses one addressed to another).
    pub to: NodeId,
    /// The bytes, at most [`MAX_APP_BYTES`].
    pub payload: BoundedVec<u8, MAX_APP_BYTES>,
}

impl AppMessage {
    /// A message for `to`; [`ProtocolError::TooLarge`] over [`MAX_APP_BYTES`].
    pub fn new(to: NodeId, payload: Vec<u8>) -> Result<Self> {
        Ok(Self {
            to,
            payload: BoundedVec::new(payload)?,
        })
    }
}

/// blake3 `derive_key` context of a rollout payload's hash.
pub const SWARM_ROLLOUT_CONTEXT: &str = "pinpoint 2026 swarm rollout v1";

/// Verifier → referee: re-running step `step → step + 1` from the trainer's committed
/// `h(S_step)` gave `recomputed_hash`, not the trainer's `claimed_hash` for `h(S_{step+1})`.
/// The challenge opens a dispute with the verifier as counter-party.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct SampleChallenge {
    /// The job.
    pub job: JobId,
    /// The challenging verifier.
    pub verifier: NodeId,
    /// The challenged trainer.
    pub trainer: NodeId,
    /// The sampled step (the re-run is `step → step + 1`).
    pub step: u64,
    /// The trainer's committed `h(S_{step+1})`.
    pub claimed_hash: [u8; 32],
    /// Proof of `claimed_hash` (leaf `step + 1`) under the trainer's root.
    pub claimed_proof: WireProof,
    /// The verifier's recomputed `h(S_{step+1})`.
    pub recomputed_hash: [u8; 32],
}

/// Swarm peer → peers: rollouts generated in `round`, as an opaque payload.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct SwarmRollout {
    /// The swarm round.
    pub round: u64,
    /// The generating peer.
    pub peer: NodeId,
    /// The rollouts (encoded by the swarm layer), at most [`MAX_ROLLOUT_BYTES`].
    pub payload: BoundedVec<u8, MAX_ROLLOUT_BYTES>,
    /// `blake3::derive_key(SWARM_ROLLOUT_CONTEXT, payload)`.
    pub hash: [u8; 32],
}

impl SwarmRollout {
    /// A rollout message with its hash filled in; [`ProtocolError::TooLarge`] over the cap.
    pub fn new(round: u64, peer: NodeId, payload: Vec<u8>) -> Result<Self> {
        let hash = blake3::derive_key(SWARM_ROLLOUT_CONTEXT, &payload);
        Ok(Self {
            round,
            peer,
            payload: BoundedVec::new(payload)?,
            hash,
        })
    }

    /// Checks `hash` against the payload; [`ProtocolError::HashMismatch`] otherwise.
    pub fn verify_hash(&self) -> Result<()> {
        let actual = blake3::derive_key(SWARM_ROLLOUT_CONTEXT, &self.payload);
        if actual != self.hash {
            return Err(ProtocolError::HashMismatch {
                what: "swarm rollout payload",
                claimed: self.hash,
                actual,
            });
        }
        Ok(())
    }
}
