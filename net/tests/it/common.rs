//! Shared helpers: test nodes with a serving loop, raw quinn clients, pattern blobs.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use anyhow::Context as _;
use pinpoint_net::framing::{self, Reply};
use pinpoint_net::{
    BlobReader, BlobStore, Gossip, Identity, Inbound, NetConfig, QuicNode, Transport, tls,
};
use pinpoint_protocol::codec::{Frame, PROTOCOL_VERSION};
use pinpoint_protocol::id::NodeId;
use tokio::io::{AsyncRead, ReadBuf};
use tokio::sync::mpsc;

/// Frame kind the test servers echo: the answer is the requester's id followed by the body.
pub(crate) const ECHO: u16 = 1;
/// Frame kind the test servers never answer (the responder is kept alive).
pub(crate) const SILENT: u16 = 2;
/// Frame kind the test servers refuse.
pub(crate) const REFUSE: u16 = 3;
/// Generous guard for awaiting an event that must happen (a failure bound, not a delay).
pub(crate) const GUARD: Duration = Duration::from_secs(30);

pub(crate) fn frame(kind: u16, body: Vec<u8>) -> Frame {
    Frame {
        version: PROTOCOL_VERSION,
        kind,
        body,
    }
}

pub(crate) fn seed(n: u8) -> [u8; 32] {
    let mut s = [n; 32];
    s[0] = 0xA5;
    s
}

/// A QUIC node with a serving loop: echoes, refuses or ignores requests by kind; passes
/// gossip through [`Gossip`] and other one-way messages to `messages`.
pub(crate) struct TestNode {
    pub node: QuicNode,
    pub id: NodeId,
    pub addr: SocketAddr,
    pub gossip: Arc<Gossip<QuicNode>>,
    pub messages: mpsc::UnboundedReceiver<(NodeId, Frame)>,
    pub gossiped: mpsc::UnboundedReceiver<(NodeId, Frame)>,
}

pub(crate) fn node(
    n: u8,
    config: NetConfig,
    blobs: Arc<dyn BlobStore>,
) -> anyhow::Result<TestNode> {
    node_with_fanout(n, config, blobs, 2)
}

pub(crate) fn node_with_fanout(
    n: u8,
    config: NetConfig,
    blobs: Arc<dyn BlobStore>,
    fanout: usize,
) -> anyhow::Result<TestNode> {
    let identity = Identity::from_seed(seed(n))?;
    let id = identity.node_id();
    let (node, mut inbound) = QuicNode::bind(identity, config, blobs)?;
    let addr = node.local_addr()?;
    let gossip = Arc::new(Gossip::new(node.clone(), fanout, 4, 1024));
    let (msg_tx, messages) = mpsc::unbounded_channel();
    let (gossip_tx, gossiped) = mpsc::unbounded_channel();
    let g = Arc::clone(&gossip);
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Some(item) = inbound.recv().await {
            match item {
                Inbound::Request { from, frame, reply } => match frame.kind {
                    ECHO => {
                        let mut body = from.as_bytes().to_vec();
                        body.extend_from_slice(&frame.body);
                        reply.respond(self::frame(ECHO, body));
                    }
                    SILENT => held.push(reply),
                    _ => reply.refuse("kind not served"),
                },
                Inbound::Message { from, frame } => match g.handle(from, &frame).await {
                    Ok(Some(payload)) => {
                        let _ = gossip_tx.send((from, payload));
                    }
                    Ok(None) if frame.kind == pinpoint_net::gossip::GOSSIP_KIND => {}
                    Ok(None) => {
                        let _ = msg_tx.send((from, frame));
                    }
                    Err(_) => {}
                },
            }
        }
    });
    Ok(TestNode {
        node,
        id,
        addr,
        gossip,
        messages,
        gossiped,
    })
}

/// Connects every node to every other one.
pub(crate) async fn mesh(nodes: &[TestNode]) -> anyhow::Result<()> {
    for a in nodes {
        let others: Vec<(NodeId, SocketAddr)> = nodes
            .iter()
            .filter(|b| b.id != a.id)
            .map(|b| (b.id, b.addr))
            .collect();
        for (id, r) in a.node.bootstrap(&others).await {
            r.with_context(|| format!("bootstrap to {id}"))?;
        }
    }
    Ok(())
}

/// A bare quinn client endpoint on an OS-assigned port.
pub(crate) fn raw_endpoint() -> anyhow::Result<quinn::Endpoint> {
    Ok(quinn::Endpoint::client(SocketAddr::from((
        [127, 0, 0, 1],
        0,
    )))?)
}

/// A raw, correctly authenticated connection from identity `n` to `target`.
pub(crate) async fn raw_connection(n: u8, target: &TestNode) -> anyhow::Result<quinn::Connection> {
    let identity = Identity::from_seed(seed(n))?;
    let tls = tls::client_config(&identity, target.id)?;
    let cfg = quinn::ClientConfig::new(Arc::new(
        quinn::crypto::rustls::QuicClientConfig::try_from(tls)?,
    ));
    let ep = raw_endpoint()?;
    let conn = ep.connect_with(cfg, target.addr, "pinpoint")?.await?;
    Ok(conn)
}

/// Writes `bytes` on a fresh bidirectional stream (optionally finishing it) and reads the
/// server's reply.
pub(crate) async fn raw_request(
    conn: &quinn::Connection,
    bytes: &[u8],
    finish: bool,
) -> anyhow::Result<Reply> {
    let (mut send, mut recv) = conn.open_bi().await?;
    send.write_all(bytes).await?;
    if finish {
        send.finish()?;
    }
    let reply = framing::read_reply(&mut recv, 1 << 20, GUARD).await?;
    Ok(reply)
}

/// Checks that `node` still answers a normal request from `from`.
pub(crate) async fn assert_healthy(from: &TestNode, node: &TestNode) -> anyhow::Result<()> {
    let got = from
        .node
        .request(node.id, frame(ECHO, b"still there?".to_vec()), GUARD)
        .await?;
    anyhow::ensure!(got.body.ends_with(b"still there?"), "bad echo {got:?}");
    Ok(())
}

/// A deterministic pseudo-random blob of `len` bytes (splitmix64 of the word index).
#[derive(Debug, Clone, Copy)]
pub(crate) struct PatternBlob {
    pub len: u64,
}

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl PatternBlob {
    pub(crate) fn reader(&self) -> PatternReader {
        PatternReader {
            pos: 0,
            len: self.len,
        }
    }

    pub(crate) fn hash(&self) -> [u8; 32] {
        let mut h = blake3::Hasher::new();
        let mut r = self.reader();
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = r.fill(&mut buf);
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
        }
        *h.finalize().as_bytes()
    }
}

pub(crate) struct PatternReader {
    pos: u64,
    len: u64,
}

impl PatternReader {
    fn fill(&mut self, buf: &mut [u8]) -> usize {
        let n = usize::try_from(self.len - self.pos)
            .unwrap_or(usize::MAX)
            .min(buf.len());
        // Positions are always multiples of 8 except possibly at the very end.
        let mut i = 0;
        while i < n {
            let word = splitmix(self.pos / 8).to_le_bytes();
            let off = (self.pos % 8) as usize;
            let take = (8 - off).min(n - i);
            buf[i..i + take].copy_from_slice(&word[off..off + take]);
            i += take;
            self.pos += take as u64;
        }
        n
    }
}

impl AsyncRead for PatternReader {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let n = self.fill(buf.initialize_unfilled());
        buf.advance(n);
        Poll::Ready(Ok(()))
    }
}

/// Serves one [`PatternBlob`] under its hash.
pub(crate) struct PatternStore {
    pub blob: PatternBlob,
    pub hash: [u8; 32],
}

impl BlobStore for PatternStore {
    fn open(&self, hash: &[u8; 32]) -> Option<BlobReader> {
        (*hash == self.hash).then(|| BlobReader::from_reader(self.blob.len, self.blob.reader()))
    }
}

/// A sink that hashes what it gets and counts it.
#[derive(Default)]
pub(crate) struct HashSink {
    pub hasher: blake3::Hasher,
    pub bytes: u64,
}

impl tokio::io::AsyncWrite for HashSink {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.hasher.update(buf);
        self.bytes += buf.len() as u64;
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
