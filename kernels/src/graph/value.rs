//! Values that flow along graph edges: f32 tensors and u32 id tensors, their types and hashes.

use crate::cpu::Cpu;
use crate::error::{KernelError, Result};
use crate::tensor::{Tensor, TensorHash, numel};

/// Domain tag of the id-tensor hash (blake3 `derive_key` context).
pub const IDS_HASH_CONTEXT: &str = "pinpoint 2026 ids hash v1";

/// Domain tag of the hash of a node with several outputs.
pub const NODE_OUTPUTS_CONTEXT: &str = "pinpoint 2026 node outputs v1";

/// Dtype tag written into the id-tensor hash (f32 tensors use [`crate::tensor::DTYPE_F32`]).
pub const DTYPE_U32: u8 = 2;

/// Element type of a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DType {
    /// IEEE binary32 ([`Tensor`]).
    F32,
    /// Unsigned 32-bit integers ([`Ids`]): token ids, class targets, positions.
    U32,
}

impl DType {
    /// The tag used in hashes and canonical encodings (1 for f32, 2 for u32).
    pub fn tag(self) -> u8 {
        match self {
            DType::F32 => crate::tensor::DTYPE_F32,
            DType::U32 => DTYPE_U32,
        }
    }
}

/// Dtype and shape of a value, known at graph build time.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ValueType {
    /// Element type.
    pub dtype: DType,
    /// Row-major shape.
    pub shape: Vec<usize>,
}

impl ValueType {
    /// An f32 type of the given shape.
    pub fn f32(shape: &[usize]) -> Self {
        Self {
            dtype: DType::F32,
            shape: shape.to_vec(),
        }
    }

    /// A u32 type of the given shape.
    pub fn u32(shape: &[usize]) -> Self {
        Self {
            dtype: DType::U32,
            shape: shape.to_vec(),
        }
    }

    /// Number of elements.
    pub fn numel(&self) -> usize {
        numel(&self.shape)
    }
}

/// A row-major tensor of u32 (token ids, class targets, positions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ids {
    shape: Vec<usize>,
    data: Vec<u32>,
}

impl Ids {
    /// Ids from a shape and row-major data. Errors: [`KernelError::DataLength`].
    pub fn new(shape: &[usize], data: Vec<u32>) -> Result<Self> {
        if numel(shape) != data.len() {
            return Err(KernelError::DataLength {
                shape: shape.to_vec(),
                expected: numel(shape),
                len: data.len(),
            });
        }
        Ok(Self {
            shape: shape.to_vec(),
            data,
        })
    }

    /// The shape.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The elements, row-major.
    pub fn data(&self) -> &[u32] {
        &self.data
    }

    /// The canonical hash: blake3 `derive_key` with [`IDS_HASH_CONTEXT`] over
    /// `2 (u8, DTYPE_U32) ‖ rank (u64 LE) ‖ each dim (u64 LE) ‖ each element (u32 LE)`.
    pub fn hash(&self) -> TensorHash {
        let mut h = blake3::Hasher::new_derive_key(IDS_HASH_CONTEXT);
        h.update(&[DTYPE_U32]);
        h.update(&(self.shape.len() as u64).to_le_bytes());
        for &d in &self.shape {
            h.update(&(d as u64).to_le_bytes());
        }
        for chunk in self.data.chunks(1024) {
            let bytes: Vec<u8> = chunk.iter().flat_map(|v| v.to_le_bytes()).collect();
            h.update(&bytes);
        }
        TensorHash(*h.finalize().as_bytes())
    }
}

/// A value on a graph edge.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// An f32 tensor.
    F32(Tensor),
    /// A u32 id tensor.
    U32(Ids),
}

impl Value {
    /// The value's type.
    pub fn ty(&self) -> ValueType {
        match self {
            Value::F32(t) => ValueType::f32(t.shape()),
            Value::U32(i) => ValueType::u32(i.shape()),
        }
    }

    /// The canonical hash: [`Tensor::hash`] or [`Ids::hash`] (different domain tags, so an
    /// f32 tensor and an id tensor never share a hash).
    pub fn hash(&self) -> TensorHash {
        match self {
            Value::F32(t) => t.hash(),
            Value::U32(i) => i.hash(),
        }
    }

    /// [`Value::hash`], with large f32 tensors hashed on `cx`'s threads
    /// ([`Tensor::hash_on`]). The same hash on any `cx`.
    pub fn hash_on(&self, cx: &Cpu) -> TensorHash {
        match self {
            Value::F32(t) => t.hash_on(cx),
            Value::U32(i) => i.hash(),
        }
    }

    /// The f32 tensor, or [`KernelError::InvalidArgument`] naming `op`.
    pub fn as_f32(&self, op: &'static str) -> Result<&Tensor> {
        match self {
            Value::F32(t) => Ok(t),
            Value::U32(_) => Err(KernelError::InvalidArgument {
                op,
                detail: "expected an f32 tensor, got u32 ids".into(),
            }),
        }
    }

    /// The id tensor, or [`KernelError::InvalidArgument`] naming `op`.
    pub fn as_ids(&self, op: &'static str) -> Result<&Ids> {
        match self {
            Value::U32(i) => Ok(i),
            Value::F32(_) => Err(KernelError::InvalidArgument {
                op,
                detail: "expected u32 ids, got an f32 tensor".into(),
            }),
        }
    }

    /// Consumes the value, returning its f32 tensor.
    pub fn into_f32(self, op: &'static str) -> Result<Tensor> {
        match self {
            Value::F32(t) => Ok(t),
            Value::U32(_) => Err(KernelError::InvalidArgument {
                op,
                detail: "expected an f32 tensor, got u32 ids".into(),
            }),
        }
    }
}

impl From<Tensor> for Value {
    fn from(t: Tensor) -> Self {
        Value::F32(t)
    }
}

impl From<Ids> for Value {
    fn from(i: Ids) -> Self {
        Value::U32(i)
    }
}

/// The output hash `h(out(v))` of a node with outputs `outs`: the output's own hash for a
/// single-output node; for `k ≥ 2` outputs, blake3 `derive_key` with [`NODE_OUTPUTS_CONTEXT`]
/// over `k (u64 LE) ‖ hash(out_0) ‖ … ‖ hash(out_{k−1})` (32 bytes each).
pub fn node_hash(outs: &[Value]) -> TensorHash {
    node_hash_on(&Cpu::scalar(), outs)
}

/// [`node_hash`], with large outputs hashed on `cx`'s threads ([`Value::hash_on`]). The same
/// hash on any `cx`.
pub fn node_hash_on(cx: &Cpu, outs: &[Value]) -> TensorHash {
    if let [single] = outs {
        return single.hash_on(cx);
    }
    let mut h = blake3::Hasher::new_derive_key(NODE_OUTPUTS_CONTEXT);
    h.update(&(outs.len() as u64).to_le_bytes());
    for v in outs {
        h.update(&v.hash_on(cx).0);
    }
    TensorHash(*h.finalize().as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_f32_hashes_are_separated() {
        let i = Value::U32(Ids::new(&[2], vec![0, 0]).unwrap());
        let t = Value::F32(Tensor::zeros(&[2]));
        assert_ne!(i.hash(), t.hash());
        assert_eq!(node_hash(std::slice::from_ref(&t)), t.hash());
        assert_ne!(node_hash(&[t.clone(), t.clone()]), t.hash());
    }

    #[test]
    fn ids_check_length() {
        assert!(Ids::new(&[3], vec![1]).is_err());
    }
}
