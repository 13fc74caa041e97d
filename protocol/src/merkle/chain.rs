//! The prefix chain over one training step's node output hashes (DESIGN §4).

use pinpoint_kernels::TensorHash;

use super::tree::{MerkleProof, MerkleTree};
use crate::error::{ProtocolError, Result};

/// blake3 `derive_key` context of the chain's start `c_0`.
pub const PREFIX_CHAIN_CONTEXT: &str = "pinpoint 2026 prefix chain v1";
/// blake3 `derive_key` context of a chain link `c_i`, `i ≥ 1`.
pub const PREFIX_LINK_CONTEXT: &str = "pinpoint 2026 prefix chain link v1";

/// The prefix chain of one step `lo → lo + 1` and its Merkle commitment.
///
/// With the step's nodes `v_1 … v_N` in canonical topological order and `h_i` the
/// [`TensorHash`] of `out(v_i)`:
///
/// ```text
/// c_0 = blake3::derive_key("pinpoint 2026 prefix chain v1", step_input_hash)
/// c_i = blake3::derive_key("pinpoint 2026 prefix chain link v1", c_{i-1} ‖ h_i)   (1 ≤ i ≤ N)
/// commitment = MerkleTree(c_1 … c_N).root()     (leaf k holds c_{k+1})
/// ```
///
/// `step_input_hash` is the agreed state hash `h(S_lo)`.
///
/// **Why agreeing on `c_i` means agreeing on every node before `i`:** `c_i` is a hash of
/// `c_{i-1}` and `h_i`, so (barring a blake3 collision) equal `c_i` imply equal `c_{i-1}` and
/// equal `h_i`; by induction down to `c_0`, equal `c_i` imply equal `h_1 … h_i` and an equal
/// start. Hence "agree on `c_i`" is monotone in `i`: if two parties agree at `i` they agree
/// at every `j < i`, and if they disagree at `i` they disagree at every `j > i`. Binary search
/// over `i` therefore finds the first node `v*` with `c_{i*-1}` agreed and `c_{i*}` not,
/// which (given the agreed `c_{i*-1}`) means the parties disagree exactly on `h_{i*}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrefixChain {
    /// `c_0 … c_N`.
    links: Vec<[u8; 32]>,
    /// Merkle tree over `c_1 … c_N`.
    tree: MerkleTree,
}

impl PrefixChain {
    /// `c_0 = blake3::derive_key("pinpoint 2026 prefix chain v1", step_input_hash)`.
    pub fn start(step_input_hash: &[u8; 32]) -> [u8; 32] {
        blake3::derive_key(PREFIX_CHAIN_CONTEXT, step_input_hash)
    }

    /// `c_i = blake3::derive_key("pinpoint 2026 prefix chain link v1", c_{i-1} ‖ h_i)`.
    pub fn link(prev: &[u8; 32], node_hash: &TensorHash) -> [u8; 32] {
        let mut h = blake3::Hasher::new_derive_key(PREFIX_LINK_CONTEXT);
        h.update(prev);
        h.update(&node_hash.0);
        *h.finalize().as_bytes()
    }

    /// The chain over `node_hashes` (`h_1 … h_N`) starting from `step_input_hash`.
    ///
    /// Errors: [`ProtocolError::InvalidArgument`] if `node_hashes` is empty.
    pub fn new(step_input_hash: &[u8; 32], node_hashes: &[TensorHash]) -> Result<Self> {
        if node_hashes.is_empty() {
            return Err(ProtocolError::InvalidArgument(
                "a prefix chain needs at least one node".into(),
            ));
        }
        let mut links = Vec::with_capacity(node_hashes.len() + 1);
        let mut c = Self::start(step_input_hash);
        links.push(c);
        for h in node_hashes {
            c = Self::link(&c, h);
            links.push(c);
        }
        let tree = MerkleTree::new(&links[1..])?;
        Ok(Self { links, tree })
    }

    /// The number of nodes `N`.
    pub fn len(&self) -> usize {
        self.links.len() - 1
    }

    /// Always false: a chain has at least one node.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// `c_i` for `0 ≤ i ≤ N`, `None` beyond.
    pub fn get(&self, i: usize) -> Option<[u8; 32]> {
        self.links.get(i).copied()
    }

    /// The Merkle root over `c_1 … c_N` that a party signs.
    pub fn commitment(&self) -> [u8; 32] {
        self.tree.root()
    }

    /// The inclusion proof of `c_i`, `1 ≤ i ≤ N` (Merkle leaf index `i - 1`).
    ///
    /// Errors: [`ProtocolError::InvalidArgument`] if `i` is 0 or above `N`.
    pub fn proof(&self, i: usize) -> Result<MerkleProof> {
        if i == 0 || i > self.len() {
            return Err(ProtocolError::InvalidArgument(format!(
                "prefix chain position {i} out of range 1..={}",
                self.len()
            )));
        }
        self.tree.proof(i - 1)
    }

    /// Checks that `c_i` is position `i` (`1 ≤ i ≤ n_nodes`) of the chain of `n_nodes` nodes
    /// committed to by `commitment`.
    ///
    /// Errors: [`ProtocolError::BadProof`] if the proof is for another position or another
    /// node count, or does not verify.
    pub fn verify_link(
        commitment: &[u8; 32],
        n_nodes: u64,
        i: u64,
        c_i: &[u8; 32],
        proof: &MerkleProof,
    ) -> Result<()> {
        if i == 0 || proof.index != i - 1 || proof.n_leaves != n_nodes {
            return Err(ProtocolError::BadProof(format!(
                "proof is for leaf {} of {}, expected chain position {i} of {n_nodes}",
                proof.index, proof.n_leaves
            )));
        }
        proof.verify(commitment, c_i)
    }

    /// Checks that the agreed `c_{i-1}` and a claimed `h(out(v_i))` give the claimed `c_i`.
    ///
    /// Errors: [`ProtocolError::BadProof`] if `link(prev, node_hash) != claimed`.
    pub fn check_link(prev: &[u8; 32], node_hash: &TensorHash, claimed: &[u8; 32]) -> Result<()> {
        if Self::link(prev, node_hash) != *claimed {
            return Err(ProtocolError::BadProof(format!(
                "prefix chain link does not follow from the agreed predecessor and node hash {}",
                node_hash.to_hex()
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn hashes(n: usize, salt: u8) -> Vec<TensorHash> {
        (0..n)
            .map(|i| TensorHash(blake3::hash(&[salt, i as u8]).into()))
            .collect()
    }

    #[test]
    fn empty_is_rejected() {
        assert!(matches!(
            PrefixChain::new(&[0; 32], &[]),
            Err(ProtocolError::InvalidArgument(_))
        ));
    }

    #[test]
    fn links_follow_the_definition() {
        let h = hashes(3, 0);
        let start = [9; 32];
        let c = PrefixChain::new(&start, &h).expect("chain");
        assert_eq!(c.len(), 3);
        assert_eq!(c.get(0), Some(PrefixChain::start(&start)));
        for i in 1..=3 {
            let prev = c.get(i - 1).expect("prev");
            let ci = c.get(i).expect("c_i");
            assert_eq!(PrefixChain::link(&prev, &h[i - 1]), ci);
            PrefixChain::check_link(&prev, &h[i - 1], &ci).expect("check");
            assert!(matches!(
                PrefixChain::check_link(&prev, &h[i % 3], &ci),
                Err(ProtocolError::BadProof(_))
            ));
            let p = c.proof(i).expect("proof");
            PrefixChain::verify_link(&c.commitment(), 3, i as u64, &ci, &p).expect("verifies");
            // Wrong position or node count.
            assert!(
                PrefixChain::verify_link(&c.commitment(), 3, i as u64 % 3 + 1, &ci, &p).is_err()
            );
            assert!(PrefixChain::verify_link(&c.commitment(), 4, i as u64, &ci, &p).is_err());
        }
        assert_eq!(c.get(4), None);
        assert!(c.proof(0).is_err());
        assert!(c.proof(4).is_err());
        assert_eq!(
            c.commitment(),
            MerkleTree::new(&[
                c.get(1).expect("1"),
                c.get(2).expect("2"),
                c.get(3).expect("3")
            ])
            .expect("tree")
            .root()
        );
    }

    #[test]
    fn start_is_bound() {
        let h = hashes(4, 1);
        let a = PrefixChain::new(&[0; 32], &h).expect("chain");
        let b = PrefixChain::new(&[1; 32], &h).expect("chain");
        for i in 0..=4 {
            assert_ne!(a.get(i), b.get(i));
        }
        assert_ne!(a.commitment(), b.commitment());
    }

    proptest! {
        #[test]
        fn changing_node_i_changes_exactly_the_links_from_i_on(
            n in 1usize..=40,
            i_seed in any::<usize>(),
            salt in any::<u8>(),
            bit in 0usize..256,
        ) {
            let h = hashes(n, salt);
            let i = i_seed % n + 1; // 1-based node position
            let mut h2 = h.clone();
            h2[i - 1].0[bit / 8] ^= 1 << (bit % 8);
            let a = PrefixChain::new(&[7; 32], &h).expect("chain");
            let b = PrefixChain::new(&[7; 32], &h2).expect("chain");
            for j in 0..=n {
                if j < i {
                    prop_assert_eq!(a.get(j), b.get(j));
                } else {
                    prop_assert_ne!(a.get(j), b.get(j));
                }
            }
            prop_assert_ne!(a.commitment(), b.commitment());
            // Bisection on the committed links finds exactly i.
            let (mut lo, mut hi) = (0usize, n); // agree at lo, disagree at hi
            while hi - lo > 1 {
                let mid = lo + (hi - lo) / 2;
                if a.get(mid) == b.get(mid) { lo = mid } else { hi = mid }
            }
            prop_assert_eq!(hi, i);
        }
    }
}
