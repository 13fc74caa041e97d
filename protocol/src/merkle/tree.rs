//! The Merkle tree and its inclusion proofs.

use borsh::{BorshDeserialize, BorshSerialize};

use crate::error::{ProtocolError, Result};

/// blake3 `derive_key` context of a leaf hash.
pub const LEAF_CONTEXT: &str = "pinpoint 2026 merkle leaf v1";
/// blake3 `derive_key` context of an inner node hash.
pub const NODE_CONTEXT: &str = "pinpoint 2026 merkle node v1";
/// blake3 `derive_key` context of the root (binds the leaf count).
pub const ROOT_CONTEXT: &str = "pinpoint 2026 merkle root v1";

/// `blake3::derive_key("pinpoint 2026 merkle leaf v1", data)`.
pub fn leaf_hash(data: &[u8; 32]) -> [u8; 32] {
    blake3::derive_key(LEAF_CONTEXT, data)
}

/// `blake3::derive_key("pinpoint 2026 merkle node v1", left ‖ right)`.
pub fn node_hash(left: &[u8; 32], right: &[u8; 32]) -> [u8; 32] {
    let mut h = blake3::Hasher::new_derive_key(NODE_CONTEXT);
    h.update(left);
    h.update(right);
    *h.finalize().as_bytes()
}

/// `blake3::derive_key("pinpoint 2026 merkle root v1", n_leaves u64 LE ‖ top)`.
pub fn root_hash(n_leaves: u64, top: &[u8; 32]) -> [u8; 32] {
    let mut h = blake3::Hasher::new_derive_key(ROOT_CONTEXT);
    h.update(&n_leaves.to_le_bytes());
    h.update(top);
    *h.finalize().as_bytes()
}

/// A Merkle tree over `n ≥ 1` leaves of 32 bytes.
///
/// Level 0 holds the leaf hashes `leaf_hash(leaf_k)`. Level `l + 1` pairs the nodes of level
/// `l` left to right: nodes `2j` and `2j + 1` give `node_hash(a, b)`; when level `l` has an odd
/// count its last node is promoted unchanged to level `l + 1`. The level of one node is the top
/// and `root = root_hash(n, top)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MerkleTree {
    levels: Vec<Vec<[u8; 32]>>,
    root: [u8; 32],
}

impl MerkleTree {
    /// Builds the tree over `leaves` (the leaf *data*; each is hashed with [`leaf_hash`]).
    ///
    /// Errors: [`ProtocolError::InvalidArgument`] for an empty leaf list.
    pub fn new(leaves: &[[u8; 32]]) -> Result<Self> {
        if leaves.is_empty() {
            return Err(ProtocolError::InvalidArgument(
                "a Merkle tree needs at least one leaf".into(),
            ));
        }
        let mut levels = vec![leaves.iter().map(leaf_hash).collect::<Vec<_>>()];
        loop {
            let prev = levels.last().expect("invariant: levels is never empty");
            if prev.len() == 1 {
                break;
            }
            let next = prev
                .chunks(2)
                .map(|pair| match pair {
                    [a, b] => node_hash(a, b),
                    [a] => *a,
                    _ => unreachable!("chunks(2) yields one or two items"),
                })
                .collect();
            levels.push(next);
        }
        let top = levels.last().expect("invariant: levels is never empty")[0];
        let root = root_hash(leaves.len() as u64, &top);
        Ok(Self { levels, root })
    }

    /// The root (binds the leaf count).
    pub fn root(&self) -> [u8; 32] {
        self.root
    }

    /// The number of leaves.
    pub fn len(&self) -> usize {
        self.levels[0].len()
    }

    /// Always false: a tree has at least one leaf.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The inclusion proof of leaf `index`.
    ///
    /// Errors: [`ProtocolError::InvalidArgument`] if `index` is out of range.
    pub fn proof(&self, index: usize) -> Result<MerkleProof> {
        let n = self.len();
        if index >= n {
            return Err(ProtocolError::InvalidArgument(format!(
                "leaf index {index} out of range for {n} leaves"
            )));
        }
        let mut siblings = Vec::new();
        let mut idx = index;
        for level in &self.levels[..self.levels.len() - 1] {
            if let Some(s) = level.get(idx ^ 1) {
                siblings.push(*s);
            }
            idx >>= 1;
        }
        // Pair assertion with `MerkleProof::verify`: the proof built here has exactly the shape
        // the verifier requires.
        assert_eq!(
            siblings.len(),
            MerkleProof::expected_len(index as u64, n as u64),
            "invariant: a built proof has the verifier's length"
        );
        Ok(MerkleProof {
            index: index as u64,
            n_leaves: n as u64,
            siblings,
        })
    }
}

/// An inclusion proof: the siblings on the path from leaf `index` to the top, bottom up,
/// skipping the levels where the path node is promoted (has no sibling).
///
/// Borsh layout: `index u64 LE ‖ n_leaves u64 LE ‖ count u32 LE ‖ count × [32]`.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct MerkleProof {
    /// The leaf's position, `0 ≤ index < n_leaves`.
    pub index: u64,
    /// The tree's leaf count (bound into the root).
    pub n_leaves: u64,
    /// Sibling hashes, bottom up.
    pub siblings: Vec<[u8; 32]>,
}

impl MerkleProof {
    /// The number of siblings a proof of `index` in a tree of `n_leaves` must have.
    pub fn expected_len(index: u64, n_leaves: u64) -> usize {
        let (mut idx, mut count, mut len) = (index, n_leaves, 0);
        while count > 1 {
            if (idx ^ 1) < count {
                len += 1;
            }
            idx >>= 1;
            count = count.div_ceil(2);
        }
        len
    }

    /// Checks that `leaf` (leaf data, hashed with [`leaf_hash`]) sits at `self.index` of the
    /// tree of `self.n_leaves` leaves whose root is `root`.
    ///
    /// Errors: [`ProtocolError::BadProof`] for an empty tree, an index out of range, a wrong
    /// number of siblings, or a path that does not lead to `root` (wrong leaf, index, leaf
    /// count or sibling).
    pub fn verify(&self, root: &[u8; 32], leaf: &[u8; 32]) -> Result<()> {
        if self.n_leaves == 0 {
            return Err(ProtocolError::BadProof("proof claims an empty tree".into()));
        }
        if self.index >= self.n_leaves {
            return Err(ProtocolError::BadProof(format!(
                "index {} out of range for {} leaves",
                self.index, self.n_leaves
            )));
        }
        let expected = Self::expected_len(self.index, self.n_leaves);
        if self.siblings.len() != expected {
            return Err(ProtocolError::BadProof(format!(
                "wrong length: {} siblings where index {} of {} leaves needs {expected}",
                self.siblings.len(),
                self.index,
                self.n_leaves
            )));
        }
        let (mut idx, mut count) = (self.index, self.n_leaves);
        let mut acc = leaf_hash(leaf);
        let mut siblings = self.siblings.iter();
        while count > 1 {
            if (idx ^ 1) < count {
                let s = siblings
                    .next()
                    .expect("invariant: sibling count checked above");
                acc = if idx & 1 == 0 {
                    node_hash(&acc, s)
                } else {
                    node_hash(s, &acc)
                };
            }
            idx >>= 1;
            count = count.div_ceil(2);
        }
        if root_hash(self.n_leaves, &acc) != *root {
            return Err(ProtocolError::BadProof(format!(
                "path of leaf {} of {} does not lead to the root",
                self.index, self.n_leaves
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn leaves(n: usize, salt: u8) -> Vec<[u8; 32]> {
        (0..n)
            .map(|i| {
                let mut l = [salt; 32];
                l[..8].copy_from_slice(&(i as u64).to_le_bytes());
                l
            })
            .collect()
    }

    #[test]
    fn empty_is_rejected() {
        assert!(matches!(
            MerkleTree::new(&[]),
            Err(ProtocolError::InvalidArgument(_))
        ));
    }

    #[test]
    fn small_shapes_are_as_specified() {
        let l = leaves(5, 0);
        let h: Vec<_> = l.iter().map(leaf_hash).collect();
        // One leaf: the top is the leaf hash.
        assert_eq!(
            MerkleTree::new(&l[..1]).expect("tree").root(),
            root_hash(1, &h[0])
        );
        // Three leaves: (h0 h1) h2, with h2 promoted.
        let top3 = node_hash(&node_hash(&h[0], &h[1]), &h[2]);
        assert_eq!(
            MerkleTree::new(&l[..3]).expect("tree").root(),
            root_hash(3, &top3)
        );
        // Five leaves: ((h0 h1)(h2 h3)) h4.
        let top5 = node_hash(
            &node_hash(&node_hash(&h[0], &h[1]), &node_hash(&h[2], &h[3])),
            &h[4],
        );
        assert_eq!(
            MerkleTree::new(&l).expect("tree").root(),
            root_hash(5, &top5)
        );
    }

    #[test]
    fn duplicated_last_leaf_gives_a_different_root() {
        // The CVE-2012-2459 ambiguity: [a, b, c] vs [a, b, c, c].
        let l = leaves(3, 0);
        let mut l4 = l.clone();
        l4.push(l[2]);
        assert_ne!(
            MerkleTree::new(&l).expect("tree").root(),
            MerkleTree::new(&l4).expect("tree").root()
        );
    }

    #[test]
    fn every_proof_verifies_for_sizes_1_to_33() {
        for n in 1..=33 {
            let l = leaves(n, 1);
            let t = MerkleTree::new(&l).expect("tree");
            for (i, leaf) in l.iter().enumerate() {
                let p = t.proof(i).expect("proof");
                assert_eq!(
                    p.siblings.len(),
                    MerkleProof::expected_len(i as u64, n as u64)
                );
                p.verify(&t.root(), leaf).expect("verifies");
                let bytes = borsh::to_vec(&p).expect("encode");
                assert_eq!(borsh::from_slice::<MerkleProof>(&bytes).expect("decode"), p);
            }
            assert!(t.proof(n).is_err());
        }
    }

    #[test]
    fn degenerate_proofs_are_bad() {
        let l = leaves(4, 2);
        let t = MerkleTree::new(&l).expect("tree");
        let mut p = t.proof(1).expect("proof");
        p.n_leaves = 0;
        assert!(matches!(
            p.verify(&t.root(), &l[1]),
            Err(ProtocolError::BadProof(_))
        ));
        let mut p = t.proof(1).expect("proof");
        p.index = 4;
        assert!(matches!(
            p.verify(&t.root(), &l[1]),
            Err(ProtocolError::BadProof(_))
        ));
    }

    fn bad(p: &MerkleProof, root: &[u8; 32], leaf: &[u8; 32]) -> bool {
        matches!(p.verify(root, leaf), Err(ProtocolError::BadProof(_)))
    }

    proptest! {
        #[test]
        fn proofs_reject_tampering(
            n in 1usize..=33,
            i_seed in any::<u64>(),
            j_seed in any::<u64>(),
            salt in any::<u8>(),
            bit in 0usize..256,
        ) {
            let l = leaves(n, salt);
            let t = MerkleTree::new(&l).expect("tree");
            let root = t.root();
            let i = (i_seed % n as u64) as usize;
            let p = t.proof(i).expect("proof");
            prop_assert!(p.verify(&root, &l[i]).is_ok());

            // Wrong leaf.
            let mut leaf = l[i];
            leaf[bit / 8] ^= 1 << (bit % 8);
            prop_assert!(bad(&p, &root, &leaf));

            // Wrong index (a different leaf position, same siblings).
            if n > 1 {
                let j = (j_seed % (n as u64 - 1)) as usize;
                let j = if j >= i { j + 1 } else { j };
                let mut q = p.clone();
                q.index = j as u64;
                prop_assert!(bad(&q, &root, &l[i]));
                // A correct proof for j does not prove l[i] at j either.
                prop_assert!(bad(&t.proof(j).expect("proof"), &root, &l[i]));
            }

            // Wrong sibling.
            if !p.siblings.is_empty() {
                let k = (j_seed % p.siblings.len() as u64) as usize;
                let mut q = p.clone();
                q.siblings[k][bit / 8] ^= 1 << (bit % 8);
                prop_assert!(bad(&q, &root, &l[i]));
            }

            // Wrong length: one sibling too many or too few.
            let mut q = p.clone();
            q.siblings.push([0; 32]);
            prop_assert!(bad(&q, &root, &l[i]));
            if !p.siblings.is_empty() {
                let mut q = p.clone();
                q.siblings.pop();
                prop_assert!(bad(&q, &root, &l[i]));
            }

            // Wrong leaf count (the count is bound into the root).
            for m in [n as u64 + 1, n as u64 - 1, 2 * n as u64] {
                if m > i as u64 && m != n as u64 {
                    let mut q = p.clone();
                    q.n_leaves = m;
                    prop_assert!(bad(&q, &root, &l[i]));
                }
            }

            // Wrong root.
            let mut r = root;
            r[bit / 8] ^= 1 << (bit % 8);
            prop_assert!(bad(&p, &r, &l[i]));
        }
    }
}
