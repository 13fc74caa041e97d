//! The bytes on a stream: a kind tag, then length-prefixed canonical frames.
//!
//! Every stream starts with one [`StreamKind`] byte. A frame is a `u32` little-endian length
//! followed by that many bytes of a canonically encoded [`Frame`] (protocol codec: borsh,
//! version check, no trailing bytes, re-encodes to the same bytes). The length is checked
//! against the configured limit **before** anything is buffered.
//!
//! - Request (bidirectional): client writes `[Request][len][Frame]` and finishes; the server
//!   answers `[len][Reply]`.
//! - Blob fetch (bidirectional): client writes `[Blob][32-byte blake3 hash]` and finishes; the
//!   server answers `[len][Reply]` (`Reply::Blob { len }` or an error) and then `len` raw bytes.
//! - One-way message (unidirectional): `[Message][len][Frame]`, then finish.

use std::time::Duration;

use borsh::{BorshDeserialize, BorshSerialize};
use pinpoint_protocol::codec::{self, Frame, Limits};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::error::{NetError, Result};

/// The first byte of every stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum StreamKind {
    /// A request and its reply (bidirectional stream).
    Request = 0,
    /// A blob fetch (bidirectional stream).
    Blob = 1,
    /// A one-way message (unidirectional stream).
    Message = 2,
}

impl StreamKind {
    /// Parses the tag byte. Errors: [`NetError::BadFrame`] for an unknown tag.
    pub fn from_byte(b: u8) -> Result<Self> {
        match b {
            0 => Ok(Self::Request),
            1 => Ok(Self::Blob),
            2 => Ok(Self::Message),
            other => Err(NetError::BadFrame(format!("unknown stream kind {other}"))),
        }
    }
}

/// What a server writes back on a request or blob stream (canonical borsh, length-prefixed).
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum Reply {
    /// The handler's answer.
    Ok(Frame),
    /// The blob follows: exactly `len` raw bytes.
    Blob {
        /// Length of the blob in bytes.
        len: u64,
    },
    /// The handler or the node declined (or has no such blob).
    Refused(String),
    /// The request frame exceeded the server's limit.
    TooLarge {
        /// Size announced by the length prefix.
        len: u64,
        /// The server's limit.
        limit: u64,
    },
    /// The request frame did not decode.
    BadFrame(String),
    /// The request did not arrive within the server's stream timeout.
    Timeout,
}

impl Reply {
    /// The error a reply stands for, if it is one.
    pub fn into_error(self) -> std::result::Result<Self, NetError> {
        match self {
            Self::Refused(why) => Err(NetError::Refused(format!("by peer: {why}"))),
            Self::TooLarge { len, limit } => Err(NetError::TooLarge {
                what: "request frame (refused by peer)",
                len,
                limit,
            }),
            Self::BadFrame(why) => Err(NetError::BadFrame(format!("by peer: {why}"))),
            Self::Timeout => Err(NetError::Timeout(
                "peer timed out reading the request".to_string(),
            )),
            ok => Ok(ok),
        }
    }

    /// The reply a server sends for a local error while reading a request.
    pub fn from_error(e: &NetError) -> Self {
        match e {
            NetError::TooLarge { len, limit, .. } => Self::TooLarge {
                len: *len,
                limit: *limit,
            },
            NetError::BadFrame(why) => Self::BadFrame(why.clone()),
            NetError::Timeout(_) => Self::Timeout,
            other => Self::Refused(other.to_string()),
        }
    }
}

/// Checks a length prefix against `limit`. Errors: [`NetError::TooLarge`].
pub fn check_len(prefix: [u8; 4], limit: usize) -> Result<usize> {
    let len = u32::from_le_bytes(prefix) as usize;
    if len > limit {
        return Err(NetError::TooLarge {
            what: "frame",
            len: len as u64,
            limit: limit as u64,
        });
    }
    Ok(len)
}

/// Prepends the `u32` little-endian length to `body`.
///
/// Errors: [`NetError::TooLarge`] if `body` exceeds `limit` (or `u32::MAX`).
pub fn prefixed(body: &[u8], limit: usize) -> Result<Vec<u8>> {
    let len = u32::try_from(body.len())
        .ok()
        .filter(|&l| l as usize <= limit)
        .ok_or(NetError::TooLarge {
            what: "frame",
            len: body.len() as u64,
            limit: limit as u64,
        })?;
    let mut out = Vec::with_capacity(4 + body.len());
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(body);
    Ok(out)
}

/// Decodes exactly one length-prefixed frame from `buf` (the synchronous form of
/// [`read_frame`]; fuzzed). Errors: [`NetError::TooLarge`], [`NetError::BadFrame`].
pub fn decode_prefixed(buf: &[u8], limit: usize) -> Result<Frame> {
    let (prefix, body) = buf
        .split_first_chunk::<4>()
        .ok_or_else(|| NetError::BadFrame("shorter than the length prefix".to_string()))?;
    let len = check_len(*prefix, limit)?;
    if body.len() != len {
        return Err(NetError::BadFrame(format!(
            "length prefix says {len} bytes, {} follow",
            body.len()
        )));
    }
    decode_body(body, limit)
}

/// Decodes a frame body with the protocol's canonical rules.
pub fn decode_body(body: &[u8], limit: usize) -> Result<Frame> {
    Ok(codec::decode_frame(
        body,
        &Limits {
            max_frame_bytes: limit,
        },
    )?)
}

/// Decodes a [`Reply`] body canonically.
pub fn decode_reply(body: &[u8], limit: usize) -> Result<Reply> {
    Ok(codec::decode(
        body,
        &Limits {
            max_frame_bytes: limit,
        },
    )?)
}

/// Encodes `frame` canonically with its length prefix.
pub fn encode_frame(frame: &Frame, limit: usize) -> Result<Vec<u8>> {
    let body = codec::encode_with(
        frame,
        &Limits {
            max_frame_bytes: limit,
        },
    )?;
    prefixed(&body, limit)
}

/// Encodes `reply` canonically with its length prefix.
pub fn encode_reply(reply: &Reply, limit: usize) -> Result<Vec<u8>> {
    // A reply wraps a frame of up to `limit` bytes plus a few bytes of envelope.
    let limit = limit.saturating_add(64);
    let body = codec::encode_with(
        reply,
        &Limits {
            max_frame_bytes: limit,
        },
    )?;
    prefixed(&body, limit)
}

/// Reads one byte (the stream kind) within `timeout`.
pub async fn read_kind<R: AsyncRead + Unpin>(r: &mut R, timeout: Duration) -> Result<StreamKind> {
    let mut b = [0u8; 1];
    read_exact_within(r, &mut b, timeout).await?;
    StreamKind::from_byte(b[0])
}

/// Reads exactly `buf.len()` bytes, each read within `timeout` of the previous progress.
pub async fn read_exact_within<R: AsyncRead + Unpin>(
    r: &mut R,
    buf: &mut [u8],
    timeout: Duration,
) -> Result<()> {
    let mut filled = 0;
    while filled < buf.len() {
        let n = tokio::time::timeout(timeout, r.read(&mut buf[filled..]))
            .await
            .map_err(|_| NetError::Timeout(format!("stream stalled after {filled} bytes")))?
            .map_err(|e| NetError::BadFrame(format!("stream failed after {filled} bytes: {e}")))?;
        if n == 0 {
            return Err(NetError::BadFrame(format!(
                "stream ended after {filled} of {} bytes",
                buf.len()
            )));
        }
        filled += n;
    }
    Ok(())
}

/// Reads one length-prefixed body (at most `limit` bytes), with `timeout` per read.
pub async fn read_prefixed<R: AsyncRead + Unpin>(
    r: &mut R,
    limit: usize,
    timeout: Duration,
) -> Result<Vec<u8>> {
    let mut prefix = [0u8; 4];
    read_exact_within(r, &mut prefix, timeout).await?;
    let len = check_len(prefix, limit)?;
    // Grow with the data actually received, not with the announced length: a peer that
    // announces many large frames and sends nothing costs no memory.
    let mut body = Vec::with_capacity(len.min(GROW_STEP_BYTES));
    let mut chunk = vec![0u8; len.min(GROW_STEP_BYTES)];
    while body.len() < len {
        let n = (len - body.len()).min(chunk.len());
        read_exact_within(r, &mut chunk[..n], timeout).await?;
        body.extend_from_slice(&chunk[..n]);
    }
    Ok(body)
}

/// Step by which a frame buffer grows while its bytes arrive.
const GROW_STEP_BYTES: usize = 64 * 1024;

/// Reads and decodes one length-prefixed [`Frame`].
pub async fn read_frame<R: AsyncRead + Unpin>(
    r: &mut R,
    limit: usize,
    timeout: Duration,
) -> Result<Frame> {
    let body = read_prefixed(r, limit, timeout).await?;
    decode_body(&body, limit)
}

/// Reads and decodes one length-prefixed [`Reply`].
pub async fn read_reply<R: AsyncRead + Unpin>(
    r: &mut R,
    limit: usize,
    timeout: Duration,
) -> Result<Reply> {
    let limit = limit.saturating_add(64);
    let body = read_prefixed(r, limit, timeout).await?;
    decode_reply(&body, limit)
}

/// Writes `bytes` within `timeout`.
pub async fn write_within<W: AsyncWrite + Unpin>(
    w: &mut W,
    bytes: &[u8],
    timeout: Duration,
) -> Result<()> {
    tokio::time::timeout(timeout, w.write_all(bytes))
        .await
        .map_err(|_| NetError::Timeout("peer stopped reading".to_string()))?
        .map_err(|e| NetError::unreachable("peer", format!("write failed: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use pinpoint_protocol::codec::PROTOCOL_VERSION;

    fn frame(n: usize) -> Frame {
        Frame {
            version: PROTOCOL_VERSION,
            kind: 7,
            body: vec![5; n],
        }
    }

    #[test]
    fn round_trip_and_limits() {
        let bytes = encode_frame(&frame(10), 1000).expect("encode");
        assert_eq!(decode_prefixed(&bytes, 1000), Ok(frame(10)));
        assert!(matches!(
            decode_prefixed(&bytes, 8),
            Err(NetError::TooLarge { .. })
        ));
        assert!(matches!(
            encode_frame(&frame(100), 50),
            Err(NetError::TooLarge { .. })
        ));
        assert!(matches!(
            decode_prefixed(&bytes[..3], 1000),
            Err(NetError::BadFrame(_))
        ));
        assert!(matches!(
            decode_prefixed(&bytes[..bytes.len() - 1], 1000),
            Err(NetError::BadFrame(_))
        ));
        let mut wrong_version = bytes.clone();
        wrong_version[4] = 9;
        assert!(matches!(
            decode_prefixed(&wrong_version, 1000),
            Err(NetError::BadFrame(_))
        ));
    }

    #[test]
    fn replies_map_to_typed_errors() {
        for e in [
            NetError::TooLarge {
                what: "frame",
                len: 9,
                limit: 4,
            },
            NetError::BadFrame("x".into()),
            NetError::Timeout("x".into()),
            NetError::Refused("x".into()),
        ] {
            let reply = Reply::from_error(&e);
            let bytes = encode_reply(&reply, 100).expect("encode");
            let back = decode_reply(&bytes[4..], 100).expect("decode");
            let err = back.into_error().expect_err("an error reply");
            assert_eq!(std::mem::discriminant(&err), std::mem::discriminant(&e));
        }
        assert!(Reply::Blob { len: 3 }.into_error().is_ok());
    }

    #[tokio::test]
    async fn async_reader_checks_limit_before_reading() {
        let mut bytes = encode_frame(&frame(10), 1000).expect("encode");
        let mut r = &bytes[..];
        let got = read_frame(&mut r, 1000, Duration::from_secs(1)).await;
        assert_eq!(got, Ok(frame(10)));
        bytes[..4].copy_from_slice(&u32::MAX.to_le_bytes());
        let mut r = &bytes[..];
        let got = read_frame(&mut r, 1000, Duration::from_secs(1)).await;
        assert!(matches!(got, Err(NetError::TooLarge { .. })));
    }
}
