//! Sampling verifier ↔ trainer: a request to open a committed step, and the opening.

use borsh::{BorshDeserialize, BorshSerialize};

use super::proof::WireProof;
use crate::error::Result;
use crate::verify::StepOpening;

/// Verifier → trainer: open step `step` of your committed run (`h(S_{step−1})`, `h(S_step)`
/// with their proofs). The job is the envelope's.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct OpeningRequest {
    /// The sampled step `t ≥ 1`.
    pub step: u64,
}

/// Trainer → verifier: the wire form of a [`StepOpening`].
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct WireOpening {
    /// The sampled step `t ≥ 1`.
    pub step: u64,
    /// `h(S_{t−1})`.
    pub prev_hash: [u8; 32],
    /// Proof of leaf `t − 1`.
    pub prev_proof: WireProof,
    /// `h(S_t)`.
    pub hash: [u8; 32],
    /// Proof of leaf `t`.
    pub proof: WireProof,
}

impl WireOpening {
    /// The wire form of `o`.
    ///
    /// Errors: a proof with more siblings than [`super::MAX_PROOF_SIBLINGS`].
    pub fn new(o: StepOpening) -> Result<Self> {
        Ok(Self {
            step: o.step,
            prev_hash: o.prev_hash,
            prev_proof: WireProof::new(o.prev_proof)?,
            hash: o.hash,
            proof: WireProof::new(o.proof)?,
        })
    }

    /// The opening it carries (its proofs are checked by the verifier, not here).
    pub fn to_opening(&self) -> StepOpening {
        StepOpening {
            step: self.step,
            prev_hash: self.prev_hash,
            prev_proof: self.prev_proof.to_proof(),
            hash: self.hash,
            proof: self.proof.to_proof(),
        }
    }
}
