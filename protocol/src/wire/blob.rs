//! [`ValueBlob`]: a graph value (f32 tensor or u32 ids) on the wire, with its hash.

use borsh::{BorshDeserialize, BorshSerialize};
use pinpoint_kernels::Tensor;
use pinpoint_kernels::graph::{DType, Ids, Value};

use crate::codec::BoundedVec;
use crate::error::{ProtocolError, Result};

/// Highest rank a value may have on the wire: 8.
pub const MAX_VALUE_RANK: u32 = 8;

/// Largest value payload: 15 MiB (so one value fits a 16 MiB frame with its envelope).
pub const MAX_VALUE_BYTES: u32 = 15 * 1024 * 1024;

/// A graph value as it travels: dtype tag, shape, raw little-endian elements, and the value's
/// canonical hash ([`Value::hash`], the `h(·)` of the prefix chain).
///
/// `dtype` is [`DType::tag`]: `1` = f32 (elements are the `f32::to_bits` words, LE), `2` = u32
/// (LE). The receiver rebuilds the value with [`ValueBlob::to_value`], which recomputes the hash
/// and refuses a mismatch, so a blob is either exactly the value its hash names or rejected.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct ValueBlob {
    /// Element type tag ([`DType::tag`]).
    pub dtype: u8,
    /// Row-major shape, at most [`MAX_VALUE_RANK`] dimensions.
    pub shape: BoundedVec<u64, MAX_VALUE_RANK>,
    /// Elements, 4 bytes each, little-endian; at most [`MAX_VALUE_BYTES`].
    pub data: BoundedVec<u8, MAX_VALUE_BYTES>,
    /// The value's canonical hash as claimed by the sender.
    pub hash: [u8; 32],
}

impl ValueBlob {
    /// Encodes `value`, with its hash.
    ///
    /// Errors: [`ProtocolError::TooLarge`] if its rank or size exceeds the caps.
    pub fn from_value(value: &Value) -> Result<Self> {
        let (dtype, shape, data): (DType, &[usize], Vec<u8>) = match value {
            Value::F32(t) => (
                DType::F32,
                t.shape(),
                t.data()
                    .iter()
                    .flat_map(|v| v.to_bits().to_le_bytes())
                    .collect(),
            ),
            Value::U32(i) => (
                DType::U32,
                i.shape(),
                i.data().iter().flat_map(|v| v.to_le_bytes()).collect(),
            ),
        };
        Ok(Self {
            dtype: dtype.tag(),
            shape: BoundedVec::new(shape.iter().map(|&d| d as u64).collect())?,
            data: BoundedVec::new(data)?,
            hash: value.hash().0,
        })
    }

    /// Rebuilds the value and checks its hash against [`ValueBlob::hash`].
    ///
    /// Errors: [`ProtocolError::Unsupported`] for an unknown dtype tag;
    /// [`ProtocolError::Malformed`] if the data length does not match the shape;
    /// [`ProtocolError::HashMismatch`] if the rebuilt value's hash differs from the claimed one.
    pub fn to_value(&self) -> Result<Value> {
        let malformed = |detail: String| ProtocolError::Malformed {
            what: "value blob",
            detail,
        };
        let mut shape = Vec::with_capacity(self.shape.len());
        let mut numel: usize = 1;
        for &d in self.shape.iter() {
            let d =
                usize::try_from(d).map_err(|_| malformed(format!("dimension {d} too large")))?;
            numel = numel
                .checked_mul(d)
                .ok_or_else(|| malformed(format!("shape {:?} overflows", self.shape)))?;
            shape.push(d);
        }
        if numel.checked_mul(4) != Some(self.data.len()) {
            return Err(malformed(format!(
                "{} data bytes for shape {shape:?} ({numel} elements of 4 bytes)",
                self.data.len()
            )));
        }
        let words = self
            .data
            .chunks_exact(4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
        let kernel = |e: pinpoint_kernels::KernelError| malformed(e.to_string());
        let value = if self.dtype == DType::F32.tag() {
            Value::F32(Tensor::new(&shape, words.map(f32::from_bits).collect()).map_err(kernel)?)
        } else if self.dtype == DType::U32.tag() {
            Value::U32(Ids::new(&shape, words.collect()).map_err(kernel)?)
        } else {
            return Err(ProtocolError::Unsupported {
                what: "value dtype",
                value: u64::from(self.dtype),
            });
        };
        let actual = value.hash().0;
        if actual != self.hash {
            return Err(ProtocolError::HashMismatch {
                what: "value blob",
                claimed: self.hash,
                actual,
            });
        }
        Ok(value)
    }

    /// [`ValueBlob::to_value`], then checks the hash against `expected` (the hash the parties
    /// agreed on): [`ProtocolError::HashMismatch`] if it differs.
    pub fn to_value_checked(&self, expected: &[u8; 32]) -> Result<Value> {
        let value = self.to_value()?;
        if &self.hash != expected {
            return Err(ProtocolError::HashMismatch {
                what: "value blob (against the agreed hash)",
                claimed: *expected,
                actual: self.hash,
            });
        }
        Ok(value)
    }
}
