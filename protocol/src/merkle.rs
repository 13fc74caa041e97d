//! Domain-separated Merkle trees, the prefix chain and the step commitment (DESIGN §4).
//!
//! - [`MerkleTree`] / [`MerkleProof`]: a binary tree over 32-byte leaves, where an odd node
//!   at the end of a level is promoted unchanged (never duplicated) and the leaf count is bound
//!   into the root.
//! - [`PrefixChain`]: the chain `c_i = H(c_{i-1} ‖ h(out(v_i)))` over one training step's node
//!   output hashes, committed as a Merkle tree over `c_1 … c_N`; bisecting on it finds the first
//!   node where two parties differ.
//! - [`StepCommitment`]: the root over the state hashes `h(S_0) … h(S_T)` a trainer signs.
//!
//! Exact byte layouts and domain tags: `docs/protocol.md`, "Merkle trees and the prefix chain".

mod chain;
mod step;
mod tree;

pub use chain::{PREFIX_CHAIN_CONTEXT, PREFIX_LINK_CONTEXT, PrefixChain};
pub use step::StepCommitment;
pub use tree::{
    LEAF_CONTEXT, MerkleProof, MerkleTree, NODE_CONTEXT, ROOT_CONTEXT, leaf_hash, node_hash,
    root_hash,
};
