//! Moving a blob as a sequence of [`Bytes`] chunks, hashed with blake3 as it arrives.
//!
//! Chunks are reference-counted slices, so a blob held in memory reaches QUIC's send buffer
//! without a copy ([`quinn::SendStream::write_chunk`]), and arriving pieces are taken straight
//! from QUIC's receive buffer, many per call ([`QuicPieces`]). Pieces smaller than 64 KiB
//! (one packet's data each) are gathered into 64 KiB batches before blake3 and the caller's
//! sink see them. Byte streams (TLS over TCP, files, pipes) plug in through [`Copying`] and
//! [`Buffered`].

use std::future::Future;
use std::io;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::error::{NetError, Result};
use crate::transport::{BlobBody, BlobReader, Progress};

/// Lower-case hex of a 32-byte hash.
pub fn hex(bytes: &[u8; 32]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Something chunks can be read from.
pub trait ChunkSource: Send {
    /// The next chunk of at most `max` bytes (`max` ≥ 1), or `None` at the end.
    fn next_chunk(&mut self, max: usize) -> impl Future<Output = io::Result<Option<Bytes>>> + Send;
}

/// Something chunks can be written to.
pub trait ChunkSink: Send {
    /// Writes all of `chunk`.
    fn put_chunk(&mut self, chunk: Bytes) -> impl Future<Output = io::Result<()>> + Send;
}

/// One piece per call; [`QuicPieces`] takes many per call and is what fetches use.
impl ChunkSource for quinn::RecvStream {
    async fn next_chunk(&mut self, max: usize) -> io::Result<Option<Bytes>> {
        Ok(self.read_chunk(max, true).await?.map(|c| c.bytes))
    }
}

/// Pieces taken from a QUIC stream at most this many at a time (one lock of the connection).
const PIECES_PER_READ: usize = 32;

/// A QUIC receive stream read many pieces at a time ([`quinn::RecvStream::read_chunks`]), so
/// the connection's lock is taken once per batch rather than once per packet's worth of data.
pub struct QuicPieces<'a> {
    recv: &'a mut quinn::RecvStream,
    queue: std::collections::VecDeque<Bytes>,
}

impl<'a> QuicPieces<'a> {
    /// Reads from `recv`.
    pub fn new(recv: &'a mut quinn::RecvStream) -> Self {
        Self {
            recv,
            queue: std::collections::VecDeque::with_capacity(PIECES_PER_READ),
        }
    }
}

impl ChunkSource for QuicPieces<'_> {
    async fn next_chunk(&mut self, max: usize) -> io::Result<Option<Bytes>> {
        while self.queue.is_empty() {
            let mut bufs: [Bytes; PIECES_PER_READ] = std::array::from_fn(|_| Bytes::new());
            match self.recv.read_chunks(&mut bufs).await? {
                None => return Ok(None),
                Some(n) => self
                    .queue
                    .extend(bufs.into_iter().take(n).filter(|b| !b.is_empty())),
            }
        }
        let Some(mut piece) = self.queue.pop_front() else {
            return Ok(None);
        };
        if piece.len() > max {
            let rest = piece.split_off(max);
            self.queue.push_front(rest);
        }
        Ok(Some(piece))
    }
}

impl ChunkSink for quinn::SendStream {
    async fn put_chunk(&mut self, chunk: Bytes) -> io::Result<()> {
        Ok(self.write_chunk(chunk).await?)
    }
}

/// A byte stream read as chunks, through one reusable buffer of the largest chunk asked for.
pub struct Buffered<R> {
    reader: R,
    buf: BytesMut,
}

impl<R> Buffered<R> {
    /// Wraps `reader`.
    pub fn new(reader: R) -> Self {
        Self {
            reader,
            buf: BytesMut::new(),
        }
    }
}

impl<R: AsyncRead + Unpin + Send> ChunkSource for Buffered<R> {
    async fn next_chunk(&mut self, max: usize) -> io::Result<Option<Bytes>> {
        // Once the previous chunk is dropped, `reserve` takes its memory back.
        self.buf.reserve(max);
        let n = self
            .reader
            .read_buf(&mut (&mut self.buf).limit(max))
            .await?;
        Ok((n > 0).then(|| self.buf.split().freeze()))
    }
}

/// A byte stream written chunk by chunk (each chunk is copied into the stream).
pub struct Copying<W>(pub W);

impl<W: AsyncWrite + Unpin + Send> ChunkSink for Copying<W> {
    async fn put_chunk(&mut self, chunk: Bytes) -> io::Result<()> {
        self.0.write_all(&chunk).await
    }
}

/// A blob's content as chunks: slices of the buffer of an in-memory blob, or reads of its
/// reader. Yields exactly the blob's length, then `None`.
pub struct BlobChunks {
    body: ChunksOf,
    left: u64,
}

enum ChunksOf {
    Bytes(Bytes),
    Reader(Buffered<Box<dyn AsyncRead + Send + Unpin>>),
}

impl From<BlobReader> for BlobChunks {
    fn from(b: BlobReader) -> Self {
        let body = match b.body {
            BlobBody::Bytes(bytes) => ChunksOf::Bytes(bytes),
            BlobBody::Reader(r) => ChunksOf::Reader(Buffered::new(r)),
        };
        Self { body, left: b.len }
    }
}

impl ChunkSource for BlobChunks {
    async fn next_chunk(&mut self, max: usize) -> io::Result<Option<Bytes>> {
        let max = usize::try_from(self.left).unwrap_or(usize::MAX).min(max);
        if max == 0 {
            return Ok(None);
        }
        let chunk = match &mut self.body {
            ChunksOf::Bytes(bytes) => {
                let n = max.min(bytes.len());
                (n > 0).then(|| bytes.split_to(n))
            }
            ChunksOf::Reader(r) => r.next_chunk(max).await?,
        };
        if let Some(c) = &chunk {
            self.left -= c.len() as u64;
        }
        Ok(chunk)
    }
}

/// Pieces smaller than this are gathered before they are hashed and written: a QUIC stream
/// hands over one packet's data (a few KiB) at a time, blake3's SIMD needs 16 KiB or more to
/// pay off, and a file sink wants large writes.
const BATCH_BYTES: usize = 64 << 10;

/// Hashes what arrives and writes it to the sink, in batches of at least [`BATCH_BYTES`].
struct Batcher<'w, W> {
    hasher: blake3::Hasher,
    pending: Vec<u8>,
    sink: &'w mut W,
}

impl<'w, W: AsyncWrite + Unpin> Batcher<'w, W> {
    fn new(sink: &'w mut W) -> Self {
        Self {
            hasher: blake3::Hasher::new(),
            pending: Vec::with_capacity(BATCH_BYTES),
            sink,
        }
    }

    async fn put(&mut self, piece: &[u8]) -> Result<()> {
        if piece.len() >= BATCH_BYTES {
            self.flush_pending().await?;
            return self.consume(piece).await;
        }
        self.pending.extend_from_slice(piece);
        if self.pending.len() >= BATCH_BYTES {
            self.flush_pending().await?;
        }
        Ok(())
    }

    async fn flush_pending(&mut self) -> Result<()> {
        let pending = std::mem::take(&mut self.pending);
        let out = self.consume(&pending).await;
        self.pending = pending;
        self.pending.clear();
        out
    }

    async fn consume(&mut self, bytes: &[u8]) -> Result<()> {
        if bytes.is_empty() {
            return Ok(());
        }
        self.hasher.update(bytes);
        self.sink
            .write_all(bytes)
            .await
            .map_err(|e| NetError::Local(format!("blob sink: {e}")))
    }

    /// Writes what is left, flushes the sink and returns the hash of everything.
    async fn finish(mut self) -> Result<blake3::Hash> {
        self.flush_pending().await?;
        self.sink
            .flush()
            .await
            .map_err(|e| NetError::Local(format!("blob sink: {e}")))?;
        Ok(self.hasher.finalize())
    }
}

/// Receives exactly `len` bytes from `src`, hashing them and writing them to `sink` (pieces
/// under 64 KiB are gathered into writes of at least 64 KiB). Pieces are asked for `chunk_bytes` at a time;
/// `progress` is called each time the count passes a multiple of `chunk_bytes`, and at the
/// end. A piece that does not arrive within `stall` is a [`NetError::Timeout`]. At the end
/// the blake3 hash must equal `want`.
pub async fn receive<S, W, P>(
    src: &mut S,
    len: u64,
    want: &[u8; 32],
    sink: &mut W,
    mut progress: P,
    chunk_bytes: usize,
    stall: Duration,
) -> Result<u64>
where
    S: ChunkSource,
    W: AsyncWrite + Unpin,
    P: FnMut(Progress),
{
    let chunk_bytes = chunk_bytes.max(1);
    let step = chunk_bytes as u64;
    let mut batcher = Batcher::new(sink);
    let mut received: u64 = 0;
    while received < len {
        let want_now = usize::try_from(len - received)
            .unwrap_or(usize::MAX)
            .min(chunk_bytes);
        let piece = tokio::time::timeout(stall, src.next_chunk(want_now))
            .await
            .map_err(|_| {
                NetError::Timeout(format!("blob stalled after {received} of {len} bytes"))
            })?
            .map_err(|e| NetError::unreachable("blob sender", format!("stream failed: {e}")))?;
        let Some(piece) = piece.filter(|p| !p.is_empty()) else {
            return Err(NetError::BadFrame(format!(
                "blob ended after {received} of {len} bytes"
            )));
        };
        if piece.len() > want_now {
            return Err(NetError::Local(format!(
                "blob source gave {} bytes where at most {want_now} were asked for",
                piece.len()
            )));
        }
        batcher.put(&piece).await?;
        let before = received;
        received += piece.len() as u64;
        if received / step > before / step || (received == len && before < len) {
            progress(Progress {
                received_bytes: received,
                total_bytes: len,
            });
        }
    }
    let got = batcher.finish().await?;
    if got.as_bytes() != want {
        return Err(NetError::HashMismatch {
            wanted: hex(want),
            got: hex(got.as_bytes()),
        });
    }
    Ok(len)
}

/// Sends all of `blob` to `dst` in chunks of at most `chunk_bytes`, each within `stall`.
pub async fn send<D: ChunkSink>(
    blob: BlobReader,
    dst: &mut D,
    chunk_bytes: usize,
    stall: Duration,
) -> Result<()> {
    let len = blob.len;
    let mut chunks = BlobChunks::from(blob);
    let mut sent: u64 = 0;
    while sent < len {
        let chunk = chunks
            .next_chunk(chunk_bytes.max(1))
            .await
            .map_err(|e| NetError::Local(format!("blob source: {e}")))?;
        let Some(chunk) = chunk.filter(|c| !c.is_empty()) else {
            return Err(NetError::Local(format!(
                "blob source ended after {sent} of {len} bytes"
            )));
        };
        let n = chunk.len() as u64;
        tokio::time::timeout(stall, dst.put_chunk(chunk))
            .await
            .map_err(|_| NetError::Timeout("blob receiver stopped reading".to_string()))?
            .map_err(|e| NetError::unreachable("blob receiver", format!("write failed: {e}")))?;
        sent += n;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block_on<F: Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map(|rt| rt.block_on(f))
            .expect("runtime")
    }

    fn data(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 31 % 251) as u8).collect()
    }

    #[test]
    fn in_memory_and_streamed_blobs_give_the_same_chunks() {
        block_on(async {
            let d = data(10_000);
            for blob in [
                BlobReader::from_bytes(d.clone()),
                BlobReader::from_reader(d.len() as u64, std::io::Cursor::new(d.clone())),
            ] {
                let mut chunks = BlobChunks::from(blob);
                let mut got = Vec::new();
                while let Some(c) = chunks.next_chunk(3000).await.expect("chunk") {
                    assert!(c.len() <= 3000);
                    got.extend_from_slice(&c);
                }
                assert_eq!(got, d);
            }
        });
    }

    #[test]
    fn a_reader_longer_than_its_length_is_cut_at_the_length() {
        block_on(async {
            let d = data(5000);
            let mut chunks = BlobChunks::from(BlobReader::from_reader(
                1234,
                std::io::Cursor::new(d.clone()),
            ));
            let mut got = Vec::new();
            while let Some(c) = chunks.next_chunk(1000).await.expect("chunk") {
                got.extend_from_slice(&c);
            }
            assert_eq!(got, &d[..1234]);
        });
    }

    #[test]
    fn send_then_receive_round_trips_and_checks_the_hash() {
        block_on(async {
            let d = data(100_000);
            let hash = *blake3::hash(&d).as_bytes();
            let (a, b) = tokio::io::duplex(4096);
            let sender = tokio::spawn(async move {
                let mut dst = Copying(a);
                send(
                    BlobReader::from_bytes(d),
                    &mut dst,
                    7000,
                    Duration::from_secs(5),
                )
                .await
            });
            let mut sink = Vec::new();
            let mut calls = 0;
            let n = receive(
                &mut Buffered::new(b),
                100_000,
                &hash,
                &mut sink,
                |_| calls += 1,
                5000,
                Duration::from_secs(5),
            )
            .await
            .expect("receive");
            assert_eq!(n, 100_000);
            assert!(calls >= 20, "progress after every 5000 bytes");
            sender.await.expect("join").expect("send");
        });
    }

    /// Hands out given pieces, in order.
    struct Pieces(std::collections::VecDeque<Bytes>);

    impl ChunkSource for Pieces {
        async fn next_chunk(&mut self, _max: usize) -> io::Result<Option<Bytes>> {
            Ok(self.0.pop_front())
        }
    }

    /// Keeps what it is given, and the size of each write.
    #[derive(Default)]
    struct Recording {
        bytes: Vec<u8>,
        writes: Vec<usize>,
    }

    impl AsyncWrite for Recording {
        fn poll_write(
            mut self: std::pin::Pin<&mut Self>,
            _cx: &mut std::task::Context<'_>,
            buf: &[u8],
        ) -> std::task::Poll<io::Result<usize>> {
            self.bytes.extend_from_slice(buf);
            self.writes.push(buf.len());
            std::task::Poll::Ready(Ok(buf.len()))
        }

        fn poll_flush(
            self: std::pin::Pin<&mut Self>,
            _cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<io::Result<()>> {
            std::task::Poll::Ready(Ok(()))
        }

        fn poll_shutdown(
            self: std::pin::Pin<&mut Self>,
            _cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<io::Result<()>> {
            std::task::Poll::Ready(Ok(()))
        }
    }

    #[test]
    fn small_and_large_pieces_arrive_in_order_and_small_ones_are_batched() {
        block_on(async {
            let sizes = [100, 70_000, 5000, 5000, 3, 65_536, 20_000, 50_000, 7];
            let d = data(sizes.iter().sum());
            let mut pieces = std::collections::VecDeque::new();
            let mut at = 0;
            for n in sizes {
                pieces.push_back(Bytes::copy_from_slice(&d[at..at + n]));
                at += n;
            }
            let hash = *blake3::hash(&d).as_bytes();
            let mut sink = Recording::default();
            let n = receive(
                &mut Pieces(pieces),
                d.len() as u64,
                &hash,
                &mut sink,
                |_| {},
                1 << 20,
                Duration::from_secs(5),
            )
            .await
            .expect("receive");
            assert_eq!(n, d.len() as u64);
            assert_eq!(sink.bytes, d);
            // Large pieces are written as they come, after what was gathered before them;
            // small ones are gathered until 64 KiB (20,000 + 50,000) or the end.
            assert_eq!(sink.writes, [100, 70_000, 10_003, 65_536, 70_000, 7]);
        });
    }

    /// Receives `bytes` as a 1000-byte blob whose hash is that of `want`.
    async fn receive_1000(bytes: Vec<u8>, want: &[u8]) -> Result<u64> {
        let hash = *blake3::hash(want).as_bytes();
        let mut src = Buffered::new(std::io::Cursor::new(bytes));
        let stall = Duration::from_secs(5);
        receive(
            &mut src,
            1000,
            &hash,
            &mut tokio::io::sink(),
            |_| {},
            256,
            stall,
        )
        .await
    }

    #[test]
    fn a_short_source_is_a_bad_frame_and_a_wrong_hash_a_mismatch() {
        block_on(async {
            let d = data(1000);
            let short = receive_1000(d[..600].to_vec(), &d).await;
            assert!(matches!(short, Err(NetError::BadFrame(_))), "{short:?}");
            let mut other = d.clone();
            other[999] ^= 1;
            let wrong = receive_1000(other, &d).await;
            assert!(
                matches!(wrong, Err(NetError::HashMismatch { .. })),
                "{wrong:?}"
            );
            assert_eq!(receive_1000(d.clone(), &d).await.ok(), Some(1000));
        });
    }
}
