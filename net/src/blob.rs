//! Receiving a blob: chunked copy into the caller's sink, hashed with blake3 as it arrives.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::error::{NetError, Result};
use crate::transport::Progress;

/// Lower-case hex of a 32-byte hash.
pub fn hex(bytes: &[u8; 32]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Copies exactly `len` bytes from `src` to `sink` in chunks of `chunk_bytes`, hashing them,
/// calling `progress` after each chunk; a chunk that does not arrive within `stall` is a
/// [`NetError::Timeout`]. At the end the blake3 hash must equal `want`.
pub async fn receive<R, W, P>(
    src: &mut R,
    len: u64,
    want: &[u8; 32],
    sink: &mut W,
    mut progress: P,
    chunk_bytes: usize,
    stall: Duration,
) -> Result<u64>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
    P: FnMut(Progress),
{
    let mut hasher = blake3::Hasher::new();
    let mut buf = vec![0u8; chunk_bytes.max(1)];
    let mut received: u64 = 0;
    while received < len {
        let want_now = usize::try_from(len - received)
            .unwrap_or(usize::MAX)
            .min(buf.len());
        let n = tokio::time::timeout(stall, src.read(&mut buf[..want_now]))
            .await
            .map_err(|_| {
                NetError::Timeout(format!("blob stalled after {received} of {len} bytes"))
            })?
            .map_err(|e| NetError::unreachable("blob sender", format!("stream failed: {e}")))?;
        if n == 0 {
            return Err(NetError::BadFrame(format!(
                "blob ended after {received} of {len} bytes"
            )));
        }
        hasher.update(&buf[..n]);
        sink.write_all(&buf[..n])
            .await
            .map_err(|e| NetError::Local(format!("blob sink: {e}")))?;
        received += n as u64;
        progress(Progress {
            received_bytes: received,
            total_bytes: len,
        });
    }
    sink.flush()
        .await
        .map_err(|e| NetError::Local(format!("blob sink: {e}")))?;
    let got = hasher.finalize();
    if got.as_bytes() != want {
        return Err(NetError::HashMismatch {
            wanted: hex(want),
            got: hex(got.as_bytes()),
        });
    }
    Ok(len)
}

/// Copies exactly `len` bytes from `src` to `dst` in chunks, each write within `stall`.
pub async fn send<R, W>(
    src: &mut R,
    len: u64,
    dst: &mut W,
    chunk_bytes: usize,
    stall: Duration,
) -> Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut buf = vec![0u8; chunk_bytes.max(1)];
    let mut sent: u64 = 0;
    while sent < len {
        let want_now = usize::try_from(len - sent)
            .unwrap_or(usize::MAX)
            .min(buf.len());
        let n = src
            .read(&mut buf[..want_now])
            .await
            .map_err(|e| NetError::Local(format!("blob source: {e}")))?;
        if n == 0 {
            return Err(NetError::Local(format!(
                "blob source ended after {sent} of {len} bytes"
            )));
        }
        tokio::time::timeout(stall, dst.write_all(&buf[..n]))
            .await
            .map_err(|_| NetError::Timeout("blob receiver stopped reading".to_string()))?
            .map_err(|e| NetError::unreachable("blob receiver", format!("write failed: {e}")))?;
        sent += n as u64;
    }
    Ok(())
}
