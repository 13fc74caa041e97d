//! [`Tensor`]: an f32, row-major, shaped buffer, and its canonical hash.

use std::fmt;

use crate::cpu::Cpu;
use crate::error::{KernelError, Result};

/// Domain tag of the tensor hash (blake3 `derive_key` context).
pub const TENSOR_HASH_CONTEXT: &str = "pinpoint 2026 tensor hash v1";

/// Dtype tag written into the hash. Only f32 exists today.
pub const DTYPE_F32: u8 = 1;

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

/// A dropped tensor's buffer goes back to the pool of `buffers.rs`, for the next output
/// of its length that a kernel overwrites.
impl Drop for Tensor {
    fn drop(&mut self) {
        crate::buffers::recycle(std::mem::take(&mut self.data));
    }
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
    pub fn into_data(mut self) -> Vec<f32> {
        std::mem::take(&mut self.data)
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

    /// [`Tensor::reshape`] without copying: the same buffer under the new shape (same errors).
    pub fn into_reshaped(mut self, shape: &[usize]) -> Result<Self> {
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
        self.shape = shape.to_vec();
        Ok(self)
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
        self.hash_on(&Cpu::scalar())
    }

    /// [`Tensor::hash`], with large tensors hashed on `cx`'s worker threads (blake3's tree
    /// split into subtrees, from [`PARALLEL_HASH_MIN_BYTES`] on). The same hash on any `cx`.
    pub fn hash_on(&self, cx: &Cpu) -> TensorHash {
        hash_as_on(&self.shape, &self.data, cx)
    }
}

/// The [`Tensor::hash`] of a tensor with `shape` and `data` (whose lengths must agree), on
/// `cx`'s threads when large: lets the graph executor hash a buffer that a reshape has since
/// taken over under the shape it had before.
pub(crate) fn hash_as_on(shape: &[usize], data: &[f32], cx: &Cpu) -> TensorHash {
    debug_assert_eq!(
        numel(shape),
        data.len(),
        "invariant: shape matches the data"
    );
    let mut h = TENSOR_HASHER.clone();
    #[cfg(target_endian = "little")]
    {
        // blake3 hashes whole chunks in SIMD batches of 16 only when they arrive together;
        // fed header first, the stream's first chunk was compressed alone and the next 15
        // went 1, 2, 4 and 8 at a time. So the header and the start of the data go in one
        // contiguous copy: the whole tensor up to `CONTIGUOUS_HASH_MAX_BYTES`, else the first
        // 16 chunks, after which the rest, fed in place, starts on a 16-chunk boundary.
        let bytes = f32_bytes(data);
        let prefix = HASH_BUF.with_borrow_mut(|buf| {
            buf.clear();
            push_header(buf, shape);
            let prefix = if bytes.len() <= CONTIGUOUS_HASH_MAX_BYTES {
                bytes.len()
            } else {
                ALIGNED_PREFIX_BYTES.saturating_sub(buf.len())
            };
            buf.extend_from_slice(&bytes[..prefix]);
            h.update(buf);
            prefix
        });
        update_bytes(&mut h, &bytes[prefix..], cx);
        TensorHash(*h.finalize().as_bytes())
    }
    #[cfg(not(target_endian = "little"))]
    {
        let mut header = Vec::with_capacity(1 + 8 * (shape.len() + 1));
        push_header(&mut header, shape);
        h.update(&header);
        update_f32_le(&mut h, data, cx);
        TensorHash(*h.finalize().as_bytes())
    }
}

/// Bytes of blake3's widest SIMD batch (16 chunks of 1 KiB): see [`hash_as_on`].
const ALIGNED_PREFIX_BYTES: usize = 16 << 10;

/// The hashed prefix of an f32 tensor: dtype tag, rank (u64 LE), each dimension (u64 LE).
fn push_header(buf: &mut Vec<u8>, shape: &[usize]) {
    buf.push(DTYPE_F32);
    buf.extend_from_slice(&(shape.len() as u64).to_le_bytes());
    for &d in shape {
        buf.extend_from_slice(&(d as u64).to_le_bytes());
    }
}

/// Tensors up to this many data bytes are hashed from one contiguous copy of header and
/// data (a copy costs far less than the single-lane chunks it avoids); larger ones copy only
/// their first `ALIGNED_PREFIX_BYTES` with the header (see [`hash_as_on`]).
const CONTIGUOUS_HASH_MAX_BYTES: usize = 64 << 10;

thread_local! {
    /// The copy buffer of [`hash_as_on`] (at most a header and `CONTIGUOUS_HASH_MAX_BYTES`).
    static HASH_BUF: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// A blake3 hasher in `derive_key` mode for [`TENSOR_HASH_CONTEXT`], set up once (deriving
/// the context key is itself a hash); every tensor hash starts from a clone of it.
static TENSOR_HASHER: std::sync::LazyLock<blake3::Hasher> =
    std::sync::LazyLock::new(|| blake3::Hasher::new_derive_key(TENSOR_HASH_CONTEXT));

/// The bytes of `data` as stored: on a little-endian target, exactly the little-endian bytes
/// of every element's bits.
#[cfg(target_endian = "little")]
fn f32_bytes(data: &[f32]) -> &[u8] {
    // SAFETY: `f32` has size 4 and no padding, and every byte is a valid `u8`; `u8` has
    // alignment 1, so the byte view of the whole slice is valid for the slice's lifetime.
    unsafe { std::slice::from_raw_parts(data.as_ptr().cast::<u8>(), size_of_val(data)) }
}

/// From this many bytes on, [`Tensor::hash_on`] hashes on the worker threads. blake3 advises
/// its multi-threaded update from about 128 KiB on; on the project's 2-core machine, shared
/// with other builds, 2 threads did not beat 1 below a few MiB (docs/benchmarks.md), so only
/// the largest outputs (the MLP activations of the example transformer, 3.7 MB at batch 64)
/// take this path.
pub const PARALLEL_HASH_MIN_BYTES: usize = 1 << 20;

/// Feeds `bytes` to `h`, on `cx`'s threads when large. blake3's result does not depend on how
/// the stream is fed or split, so every path gives the same hash.
#[cfg(target_endian = "little")]
fn update_bytes(h: &mut blake3::Hasher, bytes: &[u8], cx: &Cpu) {
    match cx.pool() {
        Some(pool) if bytes.len() >= PARALLEL_HASH_MIN_BYTES => {
            pool.install(|| h.update_rayon(bytes));
        }
        _ => {
            h.update(bytes);
        }
    }
}

/// Feeds `data` to `h` as little-endian u32 bits, through a buffer of 64 KiB pieces.
#[cfg(not(target_endian = "little"))]
fn update_f32_le(h: &mut blake3::Hasher, data: &[f32], _cx: &Cpu) {
    const PIECE: usize = 16 * 1024;
    let mut buf = vec![0u8; 4 * PIECE.min(data.len())];
    for chunk in data.chunks(PIECE) {
        for (b, v) in buf.chunks_exact_mut(4).zip(chunk) {
            b.copy_from_slice(&v.to_bits().to_le_bytes());
        }
        h.update(&buf[..4 * chunk.len()]);
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

    /// The encoding of [`Tensor::hash`] written out element by element, as the docs state it.
    fn reference_hash(t: &Tensor) -> TensorHash {
        let mut h = blake3::Hasher::new_derive_key(TENSOR_HASH_CONTEXT);
        h.update(&[DTYPE_F32]);
        h.update(&(t.rank() as u64).to_le_bytes());
        for &d in t.shape() {
            h.update(&(d as u64).to_le_bytes());
        }
        for v in t.data() {
            h.update(&v.to_bits().to_le_bytes());
        }
        TensorHash(*h.finalize().as_bytes())
    }

    #[test]
    fn hash_on_threads_is_the_documented_encoding() {
        let cxs = [
            Cpu::scalar(),
            Cpu::new(2, crate::cpu::SimdPolicy::Auto).unwrap(),
            Cpu::new(3, crate::cpu::SimdPolicy::Scalar).unwrap(),
        ];
        // Sizes around the parallel threshold and blake3's 1 KiB chunks.
        let n_par = PARALLEL_HASH_MIN_BYTES / 4;
        // ... and around the contiguous-copy limit.
        let n_copy = CONTIGUOUS_HASH_MAX_BYTES / 4;
        for n in [
            0,
            1,
            255,
            256,
            257,
            n_copy - 1,
            n_copy,
            n_copy + 1,
            n_par - 1,
            n_par,
            n_par + 1,
            3 * n_par + 17,
        ] {
            let data: Vec<f32> = (0..n)
                .map(|i| f32::from_bits((i as u32).wrapping_mul(0x9E37_79B9)))
                .collect();
            let t = Tensor::new(&[n], data).unwrap();
            let want = reference_hash(&t);
            assert_eq!(t.hash(), want, "n = {n}");
            for cx in &cxs {
                assert_eq!(t.hash_on(cx), want, "n = {n}, {cx:?}");
            }
        }
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
