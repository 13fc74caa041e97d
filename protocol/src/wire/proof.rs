//! [`WireProof`]: a Merkle inclusion proof with a bounded sibling list.

use borsh::{BorshDeserialize, BorshSerialize};

use crate::codec::BoundedVec;
use crate::error::Result;
use crate::merkle::MerkleProof;

/// Most siblings a proof may carry: 64, enough for any tree of up to 2^64 leaves.
pub const MAX_PROOF_SIBLINGS: u32 = 64;

/// A [`MerkleProof`] as it travels: the same borsh layout
/// (`index u64 ‖ n_leaves u64 ‖ count u32 ‖ count × [32]`) but with at most
/// [`MAX_PROOF_SIBLINGS`] siblings, refused while decoding.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct WireProof {
    /// The leaf's position.
    pub index: u64,
    /// The tree's leaf count.
    pub n_leaves: u64,
    /// Sibling hashes, bottom up.
    pub siblings: BoundedVec<[u8; 32], MAX_PROOF_SIBLINGS>,
}

impl WireProof {
    /// Wraps `proof`; [`crate::ProtocolError::TooLarge`] above [`MAX_PROOF_SIBLINGS`].
    pub fn new(proof: MerkleProof) -> Result<Self> {
        Ok(Self {
            index: proof.index,
            n_leaves: proof.n_leaves,
            siblings: BoundedVec::new(proof.siblings)?,
        })
    }

    /// The plain proof, for [`MerkleProof::verify`].
    pub fn to_proof(&self) -> MerkleProof {
        MerkleProof {
            index: self.index,
            n_leaves: self.n_leaves,
            siblings: self.siblings.to_vec(),
        }
    }

    /// [`MerkleProof::verify`] of this proof: `leaf` at `self.index` under `root`.
    pub fn verify(&self, root: &[u8; 32], leaf: &[u8; 32]) -> Result<()> {
        self.to_proof().verify(root, leaf)
    }
}
