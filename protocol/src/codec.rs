//! Canonical wire encoding: borsh, with size limits, no trailing bytes and a re-encoding check.
//!
//! Every message that crosses the wire, and every value that is hashed or signed, goes through
//! [`encode`] and [`decode`]. The rules (also in `docs/protocol.md`, "Canonical encoding"):
//!
//! 1. The encoding is borsh 1 (little-endian integers, `u32` length prefixes, `u8` enum tags).
//! 2. Input longer than [`Limits::max_frame_bytes`] is refused **before** parsing
//!    ([`ProtocolError::TooLarge`]); [`encode`] refuses to produce such output.
//! 3. Decoding must consume every byte: trailing bytes are [`ProtocolError::Malformed`].
//! 4. A decoded value must re-encode to exactly the input bytes, otherwise the input is
//!    non-canonical and [`ProtocolError::Malformed`]. Together with 3 this makes the encoding a
//!    bijection: one value, one byte string, so hashes and signatures over bytes are well defined.
//! 5. Wire types use `BTreeMap`/`BTreeSet` (never `HashMap`/`HashSet`), are not recursive, and use
//!    [`BoundedVec`] where a field needs a tighter element cap than the frame size gives.
//!
//! Messages travel in a versioned [`Frame`] (`version`, `kind`, `body`); [`decode_frame`] refuses
//! a version other than [`PROTOCOL_VERSION`] and [`Frame::open`] a kind other than the expected
//! [`WireMessage::KIND`], both with [`ProtocolError::Unsupported`].

use std::io;

use borsh::{BorshDeserialize, BorshSerialize};

use crate::error::{ProtocolError, Result};

mod bounded;
#[cfg(test)]
mod tests;

pub use bounded::BoundedVec;

/// Largest frame, in bytes, that [`encode`] produces and [`decode`] accepts by default: 16 MiB.
///
/// Large enough for the biggest message planned (a disputed node's input tensors for the example
/// models), small enough that a peer cannot make a node buffer much.
pub const MAX_FRAME_BYTES: usize = 16 * 1024 * 1024;

/// Version written into every [`Frame`]; [`decode_frame`] accepts only this one.
pub const PROTOCOL_VERSION: u16 = 1;

/// Size limits applied by [`decode`], for callers that configure them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest input accepted, in bytes; checked before any parsing.
    pub max_frame_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_frame_bytes: MAX_FRAME_BYTES,
        }
    }
}

/// Encodes `value` canonically, failing with [`ProtocolError::TooLarge`] once the output would
/// exceed [`MAX_FRAME_BYTES`] (serialization stops at that point; nothing larger is buffered).
pub fn encode<T: BorshSerialize + ?Sized>(value: &T) -> Result<Vec<u8>> {
    encode_with(value, &Limits::default())
}

/// [`encode`] with the limit taken from `limits`.
pub fn encode_with<T: BorshSerialize + ?Sized>(value: &T, limits: &Limits) -> Result<Vec<u8>> {
    let mut out = LimitedWriter {
        buf: Vec::new(),
        limit: limits.max_frame_bytes,
        exceeded: false,
    };
    match value.serialize(&mut out) {
        Ok(()) => Ok(out.buf),
        Err(_) if out.exceeded => Err(ProtocolError::TooLarge {
            what: std::any::type_name::<T>(),
            len: out.buf.len().saturating_add(1),
            limit: limits.max_frame_bytes,
        }),
        Err(e) => Err(ProtocolError::Malformed {
            what: std::any::type_name::<T>(),
            detail: format!("cannot encode: {e}"),
        }),
    }
}

/// Decodes one `T` from exactly `bytes`, enforcing the canonical-encoding rules of this module:
/// the size limit (before parsing), no trailing bytes, and re-encoding to the same bytes.
pub fn decode<T: BorshDeserialize + BorshSerialize>(bytes: &[u8], limits: &Limits) -> Result<T> {
    let what = std::any::type_name::<T>();
    if bytes.len() > limits.max_frame_bytes {
        return Err(ProtocolError::TooLarge {
            what,
            len: bytes.len(),
            limit: limits.max_frame_bytes,
        });
    }
    let mut rest = bytes;
    let value = T::deserialize(&mut rest).map_err(|e| ProtocolError::Malformed {
        what,
        detail: e.to_string(),
    })?;
    if !rest.is_empty() {
        return Err(ProtocolError::Malformed {
            what,
            detail: format!(
                "{} trailing bytes after {} bytes of value",
                rest.len(),
                bytes.len() - rest.len()
            ),
        });
    }
    let mut check = CompareWriter {
        expected: bytes,
        pos: 0,
        mismatch: None,
    };
    let encoded = value.serialize(&mut check);
    let mismatch = match (encoded, check.mismatch) {
        (_, Some(at)) => Some(at),
        (Ok(()), None) if check.pos != bytes.len() => Some(check.pos),
        (Ok(()), None) => None,
        (Err(_), None) => Some(check.pos),
    };
    if let Some(at) = mismatch {
        return Err(ProtocolError::Malformed {
            what,
            detail: format!("non-canonical encoding: re-encoding differs at byte {at}"),
        });
    }
    Ok(value)
}

/// A message type that travels in a [`Frame`] under its own kind number.
pub trait WireMessage: BorshSerialize + BorshDeserialize {
    /// The frame kind that identifies this type on the wire; unique per message type.
    const KIND: u16;
}

/// The envelope of every wire message: protocol version, message kind, encoded body.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Frame {
    /// Protocol version; [`PROTOCOL_VERSION`] when written by this code.
    pub version: u16,
    /// Which message type `body` holds (its [`WireMessage::KIND`]).
    pub kind: u16,
    /// The canonical encoding of the message.
    pub body: Vec<u8>,
}

impl Frame {
    /// Wraps `msg` in a frame of the current [`PROTOCOL_VERSION`].
    pub fn seal<T: WireMessage>(msg: &T) -> Result<Self> {
        Ok(Self {
            version: PROTOCOL_VERSION,
            kind: T::KIND,
            body: encode(msg)?,
        })
    }

    /// Decodes the body as `T`, refusing a kind other than `T::KIND` with
    /// [`ProtocolError::Unsupported`] and a body that breaks the rules of [`decode`].
    pub fn open<T: WireMessage>(&self, limits: &Limits) -> Result<T> {
        if self.kind != T::KIND {
            return Err(ProtocolError::Unsupported {
                what: "frame kind",
                value: u64::from(self.kind),
            });
        }
        decode(&self.body, limits)
    }
}

/// Encodes `msg` as a complete frame (the bytes that go on the wire).
pub fn encode_frame<T: WireMessage>(msg: &T) -> Result<Vec<u8>> {
    encode(&Frame::seal(msg)?)
}

/// Decodes a frame, checking the rules of [`decode`] and that its version is
/// [`PROTOCOL_VERSION`] ([`ProtocolError::Unsupported`] otherwise). The body is left encoded:
/// dispatch on [`Frame::kind`], then [`Frame::open`].
pub fn decode_frame(bytes: &[u8], limits: &Limits) -> Result<Frame> {
    let frame: Frame = decode(bytes, limits)?;
    if frame.version != PROTOCOL_VERSION {
        return Err(ProtocolError::Unsupported {
            what: "protocol version",
            value: u64::from(frame.version),
        });
    }
    Ok(frame)
}

/// Decodes a frame that must hold a `T`: [`decode_frame`] then [`Frame::open`].
pub fn decode_message<T: WireMessage>(bytes: &[u8], limits: &Limits) -> Result<T> {
    decode_frame(bytes, limits)?.open(limits)
}

/// A writer that fails once more than `limit` bytes are written.
struct LimitedWriter {
    buf: Vec<u8>,
    limit: usize,
    exceeded: bool,
}

impl io::Write for LimitedWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if data.len() > self.limit - self.buf.len() {
            self.exceeded = true;
            return Err(io::Error::other("output exceeds the frame limit"));
        }
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A writer that compares what is written with `expected` instead of storing it.
struct CompareWriter<'a> {
    expected: &'a [u8],
    pos: usize,
    mismatch: Option<usize>,
}

impl io::Write for CompareWriter<'_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let rest = &self.expected[self.pos..];
        let same = rest.iter().zip(data).take_while(|(a, b)| a == b).count();
        if same < data.len() {
            self.mismatch = Some(self.pos + same);
            return Err(io::Error::other("re-encoding differs from the input"));
        }
        self.pos += data.len();
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
