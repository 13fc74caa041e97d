//! [`Tensor`]: an f32, row-major, shaped buffer, and its canonical hash.

use std::fmt;

use crate::error::{KernelError, Result};

/// Domain tag of the tensor hash (blake3 `derive_key` context).
pub const TENSOR_HASH_CONTEXT: &str = "pinpoint 2026 tensor hash v1";

/// Dtype tag written into the hash. Only f32 exists today.
pub const DTYPE_F32: u8 = 1;

/// Elements per `update` call of [`Tensor::hash`] (64 KiB of bytes; any size gives the same
/// hash).
const HASH_PIECE: usize = 16 * 1024;

/// A dense f32 tensor in row-major order.
///
/// Invariants: `data.len() == shape.iter().product()`. A rank-0 tensor (shape `[]`) holds one
/// element. Tensors with a zero-sized dimension may exist, but ops that need data refuse them
/// with [`KernelError::Empty`].
#[derive(Clone, PartialEq)]
pub struct Tensor {
    shape: Vec<usize>,
    data: Vec<f32>,
}

/// blake3 hash of a tensor's canonical encoding (see [`Tensor::hash`]).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TensorHash(pub [u8; 32]);

impl TensorHash {
    /// Lower-case hex, 64 characters.
    pub fn to_hex(&self) -> String {
        let mut s = String::with_capacity(64);
        for b in self.0 {
            s.push_str(&format!("{b:02x}"));
        }
        s
    }

    /// Parses 64 hex characters.
    pub fn from_hex(s: &str) -> Option<Self> {
        let s = s.trim();
        if s.len() != 64 || !s.is_ascii() {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
        }
        Some(Self(out))
    }
}

impl fmt::Display for TensorHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for TensorHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TensorHash({})", self.to_hex())
    }
}

/// Number of elements of a shape.
pub fn numel(shape: &[usize]) -> usize {
    shape.iter().product()
}

/// Row-major strides of a shape, in elements.
pub fn strides(shape: &[usize]) -> Vec<usize> {
    let mut st = vec![1usize; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        st[i] = st[i + 1] * shape[i + 1];
    }
    st
}

impl Tensor {
    /// A tensor from a shape and row-major data.
    pub fn new(shape: &[usize], data: Vec<f32>) -> Result<Self> {
        let expected = numel(shape);
        if expected != data.len() {
            return Err(KernelError::DataLength {
                shape: shape.to_vec(),
                expected,
                len: data.len(),
            });
        }
        Ok(Self {
            shape: shape.to_vec(),
            data,
        })
    }

    /// A tensor filled with `value`.
    pub fn full(shape: &[usize], value: f32) -> Self {
        Self {
            shape: shape.to_vec(),
            data: vec![value; numel(shape)],
        }
    }

    /// A tensor of `+0.0`.
    pub fn zeros(shape: &[usize]) -> Self {
        Self::full(shape, 0.0)
    }

    /// A rank-0 tensor.
    pub fn scalar(value: f32) -> Self {
        Self {
            shape: Vec::new(),
            data: vec![value],
        }
    }

    /// The shape.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// Number of dimensions.
    pub fn rank(&self) -> usize {
        self.shape.len()
    }

    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.data.len()
    }

    /// True when the tensor holds no element.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Row-major strides in elements.
    pub fn strides(&self) -> Vec<usize> {
        strides(&self.shape)
    }

    /// The elements, row-major.
    pub fn data(&self) -> &[f32] {
        &self.data
    }

    /// The elements, mutable.
    pub fn data_mut(&mut self) -> &mut [f32] {
        &mut self.data
    }

    /// Consumes the tensor, returning its elements.
    pub fn into_data(self) -> Vec<f32> {
        self.data
    }

    /// The same data under another shape with the same number of elements.
    pub fn reshape(&self, shape: &[usize]) -> Result<Self> {
        if numel(shape) != self.data.len() {
            return Err(KernelError::ShapeMismatch {
                op: "reshape",
                detail: format!(
                    "cannot view {:?} ({} elements) as {:?} ({} elements)",
                    self.shape,
                    self.data.len(),
                    shape,
                    numel(shape)
                ),
            });
        }
        Ok(Self {
            shape: shape.to_vec(),
            data: self.data.clone(),
        })
    }

    /// Refuses empty tensors on behalf of `op`.
    pub fn require_nonempty(&self, op: &'static str) -> Result<()> {
        if self.data.is_empty() {
            return Err(KernelError::Empty {
                op,
                shape: self.shape.clone(),
            });
        }
        Ok(())
    }

    /// Errors on the first NaN or infinity; `what` names the tensor in the message.
    pub fn check_finite(&self, what: &str) -> Result<()> {
        match self.data.iter().position(|v| !v.is_finite()) {
            None => Ok(()),
            Some(index) => Err(KernelError::NonFinite {
                what: what.to_string(),
                index,
                value: self.data[index],
            }),
        }
    }

    /// The canonical hash: blake3 in `derive_key` mode with [`TENSOR_HASH_CONTEXT`], over
    /// `dtype (u8) ‖ rank (u64 LE) ‖ each dim (u64 LE) ‖ each element's bits (u32 LE)`.
    /// Bits are hashed as they are: `-0.0` and `+0.0` differ, and every NaN payload differs.
    pub fn hash(&self) -> TensorHash {
        let mut h = blake3::Hasher::new_derive_key(TENSOR_HASH_CONTEXT);
        h.update(&[DTYPE_F32]);
        h.update(&(self.shape.len() as u64).to_le_bytes());
        for &d in &self.shape {
            h.update(&(d as u64).to_le_bytes());
        }
        // The bytes go to blake3 in pieces of up to HASH_PIECE elements; the piece size does
        // not change the hash (blake3 hashes the concatenation), but large pieces let it hash
        // many 1 KiB chunks at once in SIMD lanes.
        let mut buf = vec![0u8; 4 * self.data.len().min(HASH_PIECE)];
        for chunk in self.data.chunks(HASH_PIECE) {
            for (b, v) in buf.chunks_exact_mut(4).zip(chunk) {
                b.copy_from_slice(&v.to_bits().to_le_bytes());
            }
            h.update(&buf[..4 * chunk.len()]);
        }
        TensorHash(*h.finalize().as_bytes())
    }
}

impl fmt::Debug for Tensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SHOWN: usize = 8;
        write!(f, "Tensor{:?}[", self.shape)?;
        for (i, v) in self.data.iter().take(SHOWN).enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{v}")?;
        }
        if self.data.len() > SHOWN {
            write!(f, ", … {} more", self.data.len() - SHOWN)?;
        }
        f.write_str("]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_wrong_length() {
        assert!(matches!(
            Tensor::new(&[2, 3], vec![0.0; 5]),
            Err(KernelError::DataLength {
                expected: 6,
                len: 5,
                ..
            })
        ));
    }

    #[test]
    fn hash_depends_on_shape_and_bits() {
        let a = Tensor::new(&[2, 3], vec![1.0; 6]).unwrap();
        let b = a.reshape(&[3, 2]).unwrap();
        assert_ne!(a.hash(), b.hash());
        let z = Tensor::new(&[1], vec![0.0]).unwrap();
        let nz = Tensor::new(&[1], vec![-0.0]).unwrap();
        assert_ne!(z.hash(), nz.hash());
        assert_eq!(a.hash(), a.clone().hash());
    }

    #[test]
    fn hex_round_trip() {
        let h = Tensor::scalar(3.5).hash();
        assert_eq!(TensorHash::from_hex(&h.to_hex()), Some(h));
        assert_eq!(TensorHash::from_hex("zz"), None);
    }

    #[test]
    fn check_finite_reports_first_bad_element() {
        let t = Tensor::new(&[3], vec![1.0, f32::NAN, f32::INFINITY]).unwrap();
        assert!(matches!(
            t.check_finite("state"),
            Err(KernelError::NonFinite { index: 1, .. })
        ));
    }
}
