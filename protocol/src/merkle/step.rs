//! The step commitment: the root over the state hashes `h(S_0) … h(S_T)`.

use super::tree::{MerkleProof, MerkleTree};
use crate::error::{ProtocolError, Result};

/// A trainer's commitment to its run: `MerkleTree(h(S_0) … h(S_T)).root()`, where `h(S_t)` is
/// the 32-byte state hash (`pinpoint_train::TrainState::hash()`) after step `t` and
/// Merkle leaf `t` holds `h(S_t)`. The leaf count `T + 1` is bound into the root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepCommitment {
    tree: MerkleTree,
}

impl StepCommitment {
    /// The commitment over `state_hashes = [h(S_0), …, h(S_T)]`.
    ///
    /// Errors: [`ProtocolError::InvalidArgument`] if empty (`h(S_0)` is always present).
    pub fn new(state_hashes: &[[u8; 32]]) -> Result<Self> {
        if state_hashes.is_empty() {
            return Err(ProtocolError::InvalidArgument(
                "a step commitment needs at least h(S_0)".into(),
            ));
        }
        Ok(Self {
            tree: MerkleTree::new(state_hashes)?,
        })
    }

    /// The root a trainer signs.
    pub fn root(&self) -> [u8; 32] {
        self.tree.root()
    }

    /// The number of steps `T` (one less than the number of state hashes).
    pub fn steps(&self) -> u64 {
        (self.tree.len() - 1) as u64
    }

    /// The inclusion proof of `h(S_t)`, `0 ≤ t ≤ T`.
    ///
    /// Errors: [`ProtocolError::InvalidArgument`] if `t > T`.
    pub fn proof(&self, t: u64) -> Result<MerkleProof> {
        let t = usize::try_from(t).map_err(|_| {
            ProtocolError::InvalidArgument(format!("step {t} does not fit in usize"))
        })?;
        self.tree.proof(t)
    }

    /// Checks that `state_hash` is `h(S_t)` in the run of `steps` steps committed to by `root`.
    ///
    /// Errors: [`ProtocolError::BadProof`] if the proof is for another step or step count, or
    /// does not verify.
    pub fn verify(
        root: &[u8; 32],
        steps: u64,
        t: u64,
        state_hash: &[u8; 32],
        proof: &MerkleProof,
    ) -> Result<()> {
        if proof.index != t || Some(proof.n_leaves) != steps.checked_add(1) {
            return Err(ProtocolError::BadProof(format!(
                "proof is for leaf {} of {}, expected state {t} of {} steps",
                proof.index, proof.n_leaves, steps
            )));
        }
        proof.verify(root, state_hash)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commits_and_proves_every_state() {
        let states: Vec<[u8; 32]> = (0..=9u8).map(|t| blake3::hash(&[t]).into()).collect();
        let c = StepCommitment::new(&states).expect("commit");
        assert_eq!(c.steps(), 9);
        assert_eq!(c.root(), MerkleTree::new(&states).expect("tree").root());
        for (t, h) in states.iter().enumerate() {
            let t = t as u64;
            let p = c.proof(t).expect("proof");
            StepCommitment::verify(&c.root(), 9, t, h, &p).expect("verifies");
            assert!(StepCommitment::verify(&c.root(), 10, t, h, &p).is_err());
            assert!(StepCommitment::verify(&c.root(), 9, (t + 1) % 10, h, &p).is_err());
            let mut wrong = *h;
            wrong[0] ^= 1;
            assert!(matches!(
                StepCommitment::verify(&c.root(), 9, t, &wrong, &p),
                Err(ProtocolError::BadProof(_))
            ));
        }
        assert!(c.proof(10).is_err());
        assert!(StepCommitment::new(&[]).is_err());
    }
}
