//! Proofs that the disputed node's inputs follow from data both parties agreed on: the
//! [`StateManifest`] of the agreed state `S_lo` and a [`ChainSegment`] of the agreed prefix
//! chain. Carried by [`super::InputTransfer`]; checked by the referee
//! (`crate::dispute`, `docs/protocol.md`, "Disputes").

use borsh::{BorshDeserialize, BorshSerialize};
use pinpoint_kernels::TensorHash;
use pinpoint_train::TrainState;
use pinpoint_train::state::STATE_HASH_CONTEXT;

use crate::codec::BoundedVec;
use crate::error::{ProtocolError, Result};

/// Most tensors in one section (parameters or optimizer state) of a [`StateManifest`]: 4096.
pub const MAX_STATE_TENSORS: u32 = 4096;
/// Longest tensor name: 255 bytes (as `pinpoint_train::state::MAX_NAME_LEN`).
pub const MAX_TENSOR_NAME: u32 = 255;
/// Most nodes in one [`ChainSegment`]: 65 536.
pub const MAX_SEGMENT_NODES: u32 = 65_536;
/// Most outputs of one graph node: 16.
pub const MAX_NODE_OUTPUTS: u32 = 16;

/// A named tensor hash of a state section.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct NamedHash {
    /// The tensor's name (bytes of `[A-Za-z0-9._/-]` for a valid state).
    pub name: BoundedVec<u8, MAX_TENSOR_NAME>,
    /// Its [`pinpoint_kernels::Tensor::hash`].
    pub hash: [u8; 32],
}

/// The hash preimage of a training state `S_t`: everything `h(S_t)` covers, with each tensor
/// replaced by its hash (`docs/training.md`). From it the referee recomputes `h(S_t)`
/// ([`StateManifest::state_hash`]) and then checks single tensors against it, without
/// fetching the whole checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct StateManifest {
    /// Steps completed.
    pub step: u64,
    /// Index of the next training batch.
    pub data_cursor: u64,
    /// Parameters, sorted by name.
    pub params: BoundedVec<NamedHash, MAX_STATE_TENSORS>,
    /// Optimizer state, sorted by name.
    pub optim: BoundedVec<NamedHash, MAX_STATE_TENSORS>,
}

fn section(list: &[(String, pinpoint_kernels::Tensor)]) -> Result<Vec<NamedHash>> {
    list.iter()
        .map(|(n, t)| {
            Ok(NamedHash {
                name: BoundedVec::new(n.as_bytes().to_vec())?,
                hash: t.hash().0,
            })
        })
        .collect()
}

impl StateManifest {
    /// The manifest of `state`.
    ///
    /// Errors: [`ProtocolError::TooLarge`] above the caps.
    pub fn of(state: &TrainState) -> Result<Self> {
        Ok(Self {
            step: state.step,
            data_cursor: state.data_cursor,
            params: BoundedVec::new(section(&state.params)?)?,
            optim: BoundedVec::new(section(&state.optim)?)?,
        })
    }

    /// `h(S)` recomputed from the manifest: `blake3_derive_key("pinpoint 2026 train state v1",
    /// step ‖ data_cursor ‖ section(params) ‖ section(optim))`, exactly as
    /// [`TrainState::hash`] (which it equals for the manifest of a valid state).
    pub fn state_hash(&self) -> [u8; 32] {
        state_hash_of(
            self.step,
            self.data_cursor,
            self.params.iter().map(|e| (&e.name[..], &e.hash)),
            self.optim.iter().map(|e| (&e.name[..], &e.hash)),
        )
    }

    /// The hash of the parameter (`optim = false`) or optimizer tensor named `name`.
    pub fn tensor(&self, optim: bool, name: &str) -> Option<[u8; 32]> {
        let list = if optim { &self.optim } else { &self.params };
        list.iter()
            .find(|e| &e.name[..] == name.as_bytes())
            .map(|e| e.hash)
    }
}

/// `h(S)` from its parts: each section is `count u64 ‖ (name_len u64 ‖ name ‖ hash)*` in the
/// order given (a valid state's sections are sorted by name).
pub fn state_hash_of<'a>(
    step: u64,
    data_cursor: u64,
    params: impl ExactSizeIterator<Item = (&'a [u8], &'a [u8; 32])>,
    optim: impl ExactSizeIterator<Item = (&'a [u8], &'a [u8; 32])>,
) -> [u8; 32] {
    let mut h = blake3::Hasher::new_derive_key(STATE_HASH_CONTEXT);
    h.update(&step.to_le_bytes());
    h.update(&data_cursor.to_le_bytes());
    let mut put = |list: &mut dyn ExactSizeIterator<Item = (&'a [u8], &'a [u8; 32])>| {
        h.update(&(list.len() as u64).to_le_bytes());
        for (name, hash) in list {
            h.update(&(name.len() as u64).to_le_bytes());
            h.update(name);
            h.update(hash);
        }
    };
    put(&mut { params });
    put(&mut { optim });
    *h.finalize().as_bytes()
}

/// The output hashes of one node (one per output, in output order).
pub type NodeOutputs = BoundedVec<[u8; 32], MAX_NODE_OUTPUTS>;

/// A stretch `c_{first-1}, v_first … v_last` of a party's prefix chain: the link before it and
/// every node's output hashes. Walking it ([`ChainSegment::walk`]) must end at the link both
/// parties agreed on; since each link hashes its predecessor, that pins every hash in the
/// stretch (barring a blake3 collision), so two parties can only prove the same values.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct ChainSegment {
    /// Chain position (1-based node index) of the first node in `outputs`.
    pub first: u64,
    /// `c_{first-1}`.
    pub start: [u8; 32],
    /// Output hashes of nodes `first, first + 1, …`.
    pub outputs: BoundedVec<NodeOutputs, MAX_SEGMENT_NODES>,
}

/// `h(out(v))` from a node's output hashes, as [`pinpoint_kernels::graph::node_hash`]: the
/// hash itself for one output, else `derive_key(NODE_OUTPUTS_CONTEXT, k u64 ‖ hashes)`.
pub fn node_hash_of(outputs: &[[u8; 32]]) -> TensorHash {
    if let [single] = outputs {
        return TensorHash(*single);
    }
    let mut h =
        blake3::Hasher::new_derive_key(pinpoint_kernels::graph::value::NODE_OUTPUTS_CONTEXT);
    h.update(&(outputs.len() as u64).to_le_bytes());
    for o in outputs {
        h.update(o);
    }
    TensorHash(*h.finalize().as_bytes())
}

impl ChainSegment {
    /// The link after the segment's last node: `c_{first-1+len}`.
    pub fn walk(&self) -> [u8; 32] {
        self.outputs.iter().fold(self.start, |c, outs| {
            crate::merkle::PrefixChain::link(&c, &node_hash_of(outs))
        })
    }

    /// The output hashes of the node at chain position `pos`, if the segment covers it.
    pub fn node(&self, pos: u64) -> Option<&[[u8; 32]]> {
        let k = pos.checked_sub(self.first)?;
        self.outputs
            .get(usize::try_from(k).ok()?)
            .map(|o| o.as_slice())
    }
}

/// The proof of agreed data sent with a disputed node's inputs.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct AgreedProof {
    /// The manifest of the agreed state `S_lo`: must hash to the agreed `h(S_lo)`.
    pub state: StateManifest,
    /// The chain from the earliest node the disputed node (or the state assembly) reads up
    /// to the node before it: must walk to the agreed `c_{i*-1}`.
    pub chain: ChainSegment,
}

impl AgreedProof {
    /// Checks the manifest against `agreed_state` and the segment against `agreed_link`
    /// (which must be `c_{end}`, the segment ending at chain position `end`).
    ///
    /// Errors: [`ProtocolError::HashMismatch`] naming what failed.
    pub fn check(&self, agreed_state: &[u8; 32], agreed_link: &[u8; 32], end: u64) -> Result<()> {
        let s = self.state.state_hash();
        if &s != agreed_state {
            return Err(ProtocolError::HashMismatch {
                what: "state manifest (against the agreed h(S_lo))",
                claimed: *agreed_state,
                actual: s,
            });
        }
        let len = self.chain.outputs.len() as u64;
        if self.chain.first == 0 || self.chain.first.checked_add(len) != end.checked_add(1) {
            return Err(ProtocolError::InvalidArgument(format!(
                "chain segment covers {}..{} but must end at {end}",
                self.chain.first,
                self.chain.first.saturating_add(len)
            )));
        }
        let c = self.chain.walk();
        if &c != agreed_link {
            return Err(ProtocolError::HashMismatch {
                what: "chain segment (against the agreed link)",
                claimed: *agreed_link,
                actual: c,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pinpoint_kernels::Tensor;

    fn state() -> TrainState {
        TrainState::new(
            3,
            vec![
                ("w".into(), Tensor::new(&[2], vec![1.0, -2.5]).expect("t")),
                ("b".into(), Tensor::scalar(0.5)),
            ],
            vec![(
                "adam.m/w".into(),
                Tensor::new(&[2], vec![0.0, 1.0]).expect("t"),
            )],
            3,
        )
        .expect("state")
    }

    #[test]
    fn manifest_hash_is_the_state_hash() {
        let s = state();
        let m = StateManifest::of(&s).expect("manifest");
        assert_eq!(m.state_hash(), s.hash().expect("hash").0);
        assert_eq!(m.tensor(false, "w"), Some(s.params[1].1.hash().0));
        assert_eq!(m.tensor(true, "adam.m/w"), Some(s.optim[0].1.hash().0));
        assert_eq!(m.tensor(true, "w"), None);
        let mut bad = m.clone();
        bad.data_cursor += 1;
        assert_ne!(bad.state_hash(), m.state_hash());
    }

    #[test]
    fn segment_walk_and_check() {
        let outs: Vec<NodeOutputs> = (0..3u8)
            .map(|i| BoundedVec::new(vec![[i; 32]]).expect("outs"))
            .collect();
        let seg = ChainSegment {
            first: 2,
            start: [9; 32],
            outputs: BoundedVec::new(outs).expect("seg"),
        };
        let end = seg.walk();
        assert_eq!(seg.node(3), Some(&[[1u8; 32]][..]));
        assert_eq!(seg.node(1), None);
        assert_eq!(seg.node(5), None);
        let m = StateManifest::of(&state()).expect("manifest");
        let p = AgreedProof {
            state: m.clone(),
            chain: seg.clone(),
        };
        p.check(&m.state_hash(), &end, 4).expect("valid");
        assert!(p.check(&m.state_hash(), &end, 5).is_err());
        assert!(p.check(&[0; 32], &end, 4).is_err());
        assert!(p.check(&m.state_hash(), &[0; 32], 4).is_err());
        // Multi-output nodes hash like the kernels' node_hash.
        let vals = [
            pinpoint_kernels::graph::Value::F32(Tensor::scalar(1.0)),
            pinpoint_kernels::graph::Value::F32(Tensor::scalar(2.0)),
        ];
        let hashes: Vec<[u8; 32]> = vals.iter().map(|v| v.hash().0).collect();
        assert_eq!(
            node_hash_of(&hashes),
            pinpoint_kernels::graph::node_hash(&vals)
        );
    }
}
