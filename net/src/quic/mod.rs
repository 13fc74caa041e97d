//! The QUIC node: one UDP endpoint that both dials and accepts, with identity-bound mutual TLS.
//!
//! - [`QuicNode::bind`] starts the endpoint and its accept loop and returns the inbound queue.
//! - Outgoing: [`Transport`] methods reuse a live connection to the peer or dial one at the
//!   peer book's addresses, verifying that the server is the expected `NodeId`.
//! - Incoming: connections are counted against the total and per-IP limits (excess refused),
//!   must finish the handshake within the timeout, and their `NodeId` comes from the client
//!   certificate. Streams are served by `serve.rs`; problems caused by a peer are reported as
//!   [`Fault`]s ([`QuicNode::faults`]) and never stop the node.

mod limits;
mod serve;

use std::net::SocketAddr;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use dashmap::DashMap;
use pinpoint_protocol::codec::Frame;
use pinpoint_protocol::id::NodeId;
use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use rustls::pki_types::CertificateDer;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::{broadcast, mpsc};

use crate::blob;
use crate::config::{MAX_MTU_UPPER_BOUND, MAX_UDP_PAYLOAD, NetConfig};
use crate::error::{NetError, Result};
use crate::framing::{self, Reply, StreamKind};
use crate::identity::{CERT_NAME, Identity};
use crate::peers::PeerBook;
use crate::tls;
use crate::transport::{BlobStore, Inbound, Progress, Transport};
use limits::{ConnCounts, ConnSlot};

/// The smallest `max_udp_payload_size` this node advertises (quinn's default, 1472 bytes);
/// a larger [`NetConfig::mtu_upper_bound`] raises it so path-MTU discovery can use it.
const MIN_MAX_UDP_PAYLOAD: u16 = 1472;

/// Capacity of the fault broadcast channel (older faults are dropped for slow subscribers).
pub const FAULT_CHANNEL_CAPACITY: usize = 256;

/// A problem caused by a peer (or by the network) that the node survived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// The peer, when known (after its handshake).
    pub peer: Option<NodeId>,
    /// The remote address.
    pub addr: SocketAddr,
    /// What went wrong.
    pub error: NetError,
}

/// A QUIC transport endpoint. Cheap to clone; the endpoint closes when the last clone drops
/// (or on [`QuicNode::close`]).
#[derive(Clone)]
pub struct QuicNode {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for QuicNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "QuicNode({})", self.inner.identity.node_id())
    }
}

pub(crate) struct Inner {
    identity: Identity,
    config: NetConfig,
    endpoint: quinn::Endpoint,
    /// Transport settings of connections over the network.
    transport: Arc<quinn::TransportConfig>,
    /// Transport settings of connections to and from loopback addresses.
    loopback_transport: Arc<quinn::TransportConfig>,
    /// Server settings for connections from loopback addresses.
    loopback_server: Arc<quinn::ServerConfig>,
    conns: DashMap<NodeId, quinn::Connection>,
    dialing: DashMap<NodeId, Arc<tokio::sync::Mutex<()>>>,
    book: PeerBook,
    inbound: mpsc::Sender<Inbound>,
    blobs: Arc<dyn BlobStore>,
    faults: broadcast::Sender<Fault>,
    counts: Arc<ConnCounts>,
    epoch: Instant,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.endpoint.close(0u32.into(), b"node shut down");
    }
}

impl Inner {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn fault(&self, peer: Option<NodeId>, addr: SocketAddr, error: NetError) {
        tracing::debug!(?peer, %addr, %error, "peer fault");
        // No subscriber is fine: faults are informational.
        let _ = self.faults.send(Fault { peer, addr, error });
    }
}

/// Which kind of path a connection takes: its transport settings differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PathKind {
    /// Any network path: segmented sends (GSO), packets up to `mtu_upper_bound`.
    Network,
    /// A loopback address: one packet per send, packets up to `loopback_mtu_upper_bound`.
    Loopback,
}

impl PathKind {
    fn of(addr: SocketAddr, config: &NetConfig) -> Self {
        if addr.ip().to_canonical().is_loopback() && config.loopback_mtu_upper_bound.is_some() {
            Self::Loopback
        } else {
            Self::Network
        }
    }
}

/// quinn's transport settings from the config, for one kind of path.
fn transport_config(config: &NetConfig, path: PathKind) -> Result<quinn::TransportConfig> {
    let mut t = quinn::TransportConfig::default();
    let streams = quinn::VarInt::from_u32(config.max_streams_per_connection);
    t.max_concurrent_bidi_streams(streams)
        .max_concurrent_uni_streams(streams)
        .stream_receive_window(quinn::VarInt::from_u32(config.stream_window_bytes))
        .receive_window(quinn::VarInt::from_u32(config.connection_window_bytes))
        .send_window(u64::from(config.connection_window_bytes))
        .keep_alive_interval(config.keep_alive);
    let idle = quinn::IdleTimeout::try_from(config.idle_timeout)
        .map_err(|e| NetError::Local(format!("idle timeout: {e}")))?;
    t.max_idle_timeout(Some(idle));
    if config.mtu_upper_bound > MAX_MTU_UPPER_BOUND || config.initial_mtu > MAX_MTU_UPPER_BOUND {
        return Err(NetError::Local(format!(
            "mtu_upper_bound {} / initial_mtu {}: at most {MAX_MTU_UPPER_BOUND} bytes, so that \
             a batch of 10 packets fits in one UDP datagram",
            config.mtu_upper_bound, config.initial_mtu
        )));
    }
    let upper = match (path, config.loopback_mtu_upper_bound) {
        (PathKind::Loopback, Some(bound)) => {
            if !(MIN_MAX_UDP_PAYLOAD..=MAX_UDP_PAYLOAD).contains(&bound) {
                return Err(NetError::Local(format!(
                    "loopback_mtu_upper_bound {bound}: must be between \
                     {MIN_MAX_UDP_PAYLOAD} and {MAX_UDP_PAYLOAD} bytes"
                )));
            }
            t.enable_segmentation_offload(false);
            bound
        }
        _ => config.mtu_upper_bound,
    };
    let mut mtu = quinn::MtuDiscoveryConfig::default();
    mtu.upper_bound(upper.max(config.initial_mtu));
    t.initial_mtu(config.initial_mtu)
        .mtu_discovery_config(Some(mtu));
    Ok(t)
}

/// Asks the kernel for `bytes` of send and receive buffer on `socket` (`0`: leave the
/// defaults). A smaller grant (the kernel caps requests at `net.core.rmem_max` and
/// `wmem_max`) is logged: the node works, but fast transfers lose packets to overflow.
fn size_socket_buffers(socket: &std::net::UdpSocket, bytes: usize) {
    if bytes == 0 {
        return;
    }
    let sock = socket2::SockRef::from(socket);
    let recv = sock
        .set_recv_buffer_size(bytes)
        .and_then(|()| sock.recv_buffer_size());
    let send = sock
        .set_send_buffer_size(bytes)
        .and_then(|()| sock.send_buffer_size());
    for (what, sysctl, got) in [
        ("receive", "net.core.rmem_max", recv),
        ("send", "net.core.wmem_max", send),
    ] {
        match got {
            // Linux reports twice the granted size (it counts its own bookkeeping).
            Ok(n) if n >= bytes => {}
            Ok(n) => tracing::warn!(
                "UDP {what} buffer is {n} bytes, asked for {bytes}: raise {sysctl} for fast \
                 transfers"
            ),
            Err(e) => tracing::warn!("UDP {what} buffer size could not be set: {e}"),
        }
    }
}

/// Maps a quinn connection error to the crate's error.
fn conn_error(peer: &str, e: quinn::ConnectionError) -> NetError {
    use quinn::ConnectionError as E;
    match e {
        E::TransportError(t) => NetError::Refused(format!("handshake with {peer} failed: {t}")),
        E::ConnectionClosed(c) => NetError::Refused(format!("{peer} closed the connection: {c}")),
        E::ApplicationClosed(c) => NetError::Refused(format!("{peer} closed the connection: {c}")),
        E::TimedOut => NetError::Timeout(format!("connection to {peer} timed out")),
        other => NetError::unreachable(peer, other),
    }
}

impl QuicNode {
    /// Binds the UDP socket at `config.listen`, starts accepting, and returns the node with
    /// its inbound queue. `blobs` serves blob fetches from peers.
    ///
    /// Errors: [`NetError::Local`] for a bad config or a socket that cannot be bound.
    pub fn bind(
        identity: Identity,
        config: NetConfig,
        blobs: Arc<dyn BlobStore>,
    ) -> Result<(Self, mpsc::Receiver<Inbound>)> {
        let socket = std::net::UdpSocket::bind(config.listen)
            .map_err(|e| NetError::Local(format!("binding {}: {e}", config.listen)))?;
        size_socket_buffers(&socket, config.socket_buffer_bytes);
        let runtime = quinn::default_runtime()
            .ok_or_else(|| NetError::Local("QuicNode::bind needs a tokio runtime".to_string()))?;
        let socket = runtime
            .wrap_udp_socket(socket)
            .map_err(|e| NetError::Local(format!("the UDP socket on {}: {e}", config.listen)))?;
        Self::bind_socket(identity, config, blobs, socket, runtime)
    }

    /// Like [`QuicNode::bind`], over any datagram socket (quinn's `AsyncUdpSocket`) and async
    /// runtime: a simulated network and clock (e.g. under turmoil) give one here, with
    /// [`NetConfig::rng_seed`] fixed, to replay a run. `config.listen` is only read to
    /// decide whether loopback peers can reach the socket.
    ///
    /// Errors: [`NetError::Local`] for a bad config or a socket quinn cannot use.
    pub fn bind_socket(
        identity: Identity,
        config: NetConfig,
        blobs: Arc<dyn BlobStore>,
        socket: Arc<dyn quinn::AsyncUdpSocket>,
        runtime: Arc<dyn quinn::Runtime>,
    ) -> Result<(Self, mpsc::Receiver<Inbound>)> {
        let transport = Arc::new(transport_config(&config, PathKind::Network)?);
        let loopback_transport = Arc::new(transport_config(&config, PathKind::Loopback)?);
        let tls = tls::server_config(&identity)?;
        let quic_tls = QuicServerConfig::try_from(tls)
            .map_err(|e| NetError::Local(format!("QUIC TLS server config: {e}")))?;
        let mut server = quinn::ServerConfig::with_crypto(Arc::new(quic_tls));
        server
            .transport_config(Arc::clone(&transport))
            .max_incoming(config.max_connections.max(1));
        let mut loopback_server = server.clone();
        loopback_server.transport_config(Arc::clone(&loopback_transport));
        // The largest datagram this endpoint takes (and tells peers it takes). Loopback
        // packets count only where loopback peers can reach the socket.
        let listen_ip = config.listen.ip().to_canonical();
        let loopback_bound = config
            .loopback_mtu_upper_bound
            .filter(|_| listen_ip.is_loopback() || listen_ip.is_unspecified())
            .unwrap_or(0);
        let mut endpoint_config = quinn::EndpointConfig::default();
        endpoint_config
            .max_udp_payload_size(
                config
                    .mtu_upper_bound
                    .max(loopback_bound)
                    .max(MIN_MAX_UDP_PAYLOAD),
            )
            .map_err(|e| NetError::Local(format!("mtu_upper_bound: {e}")))?;
        endpoint_config.rng_seed(config.rng_seed);
        let endpoint = quinn::Endpoint::new_with_abstract_socket(
            endpoint_config,
            Some(server),
            socket,
            runtime,
        )
        .map_err(|e| NetError::Local(format!("QUIC endpoint on {}: {e}", config.listen)))?;
        let (tx, rx) = mpsc::channel(config.inbound_queue.max(1));
        let (faults, _) = broadcast::channel(FAULT_CHANNEL_CAPACITY);
        let book = PeerBook::new(config.max_peers, config.backoff);
        let inner = Arc::new(Inner {
            identity,
            config,
            endpoint: endpoint.clone(),
            transport,
            loopback_transport,
            loopback_server: Arc::new(loopback_server),
            conns: DashMap::new(),
            dialing: DashMap::new(),
            book,
            inbound: tx,
            blobs,
            faults,
            counts: Arc::new(ConnCounts::default()),
            epoch: Instant::now(),
        });
        tokio::spawn(accept_loop(endpoint, Arc::downgrade(&inner)));
        Ok((Self { inner }, rx))
    }

    /// The bound socket address (with the port the OS chose).
    ///
    /// Errors: [`NetError::Local`] if the socket is gone.
    pub fn local_addr(&self) -> Result<SocketAddr> {
        self.inner
            .endpoint
            .local_addr()
            .map_err(|e| NetError::Local(format!("local address: {e}")))
    }

    /// The peer book (addresses, liveness, backoff).
    pub fn book(&self) -> &PeerBook {
        &self.inner.book
    }

    /// The node's configuration.
    pub fn config(&self) -> &NetConfig {
        &self.inner.config
    }

    /// Subscribes to faults: peer misbehaviour and network problems the node survived.
    pub fn faults(&self) -> broadcast::Receiver<Fault> {
        self.inner.faults.subscribe()
    }

    /// Statistics of the open connection to `peer` (packets, losses, congestion window,
    /// round-trip time, path MTU), or `None` without one.
    pub fn connection_stats(&self, peer: &NodeId) -> Option<quinn::ConnectionStats> {
        self.inner.conns.get(peer).map(|c| c.value().stats())
    }

    /// Connections now open (both directions).
    pub fn connection_count(&self) -> usize {
        self.inner.counts.total()
    }

    /// Milliseconds since this node started (the clock its peer book uses).
    pub fn now_ms(&self) -> u64 {
        self.inner.now_ms()
    }

    /// Closes every connection and the endpoint; later calls fail with
    /// [`NetError::Unreachable`].
    pub fn close(&self) {
        self.inner.endpoint.close(0u32.into(), b"node shut down");
    }

    /// Adds `peers` to the book and dials each; returns the result per peer, in order.
    pub async fn bootstrap(&self, peers: &[(NodeId, SocketAddr)]) -> Vec<(NodeId, Result<()>)> {
        let mut out = Vec::with_capacity(peers.len());
        for &(id, addr) in peers {
            if !self.inner.book.insert(id, addr) {
                out.push((id, Err(NetError::Refused("peer book is full".to_string()))));
                continue;
            }
            out.push((id, self.connection(id).await.map(|_| ())));
        }
        out
    }

    /// Reconnects: dials every peer in the book that is due (by its backoff) and has no live
    /// connection. Returns how many connections were (re)established. Call it periodically.
    pub async fn maintain(&self) -> usize {
        let now = self.inner.now_ms();
        let mut made = 0;
        for id in self.inner.book.due(now) {
            if self.live(&id).is_some() {
                continue;
            }
            if self.connection(id).await.is_ok() {
                made += 1;
            }
        }
        made
    }

    /// Whether a live connection to `peer` exists.
    pub fn is_connected(&self, peer: &NodeId) -> bool {
        self.live(peer).is_some()
    }

    fn live(&self, peer: &NodeId) -> Option<quinn::Connection> {
        let conn = self.inner.conns.get(peer)?.clone();
        conn.close_reason().is_none().then_some(conn)
    }

    /// A live connection to `peer`, dialing the book's addresses if needed (one dial at a
    /// time per peer). Failures count in the peer book's backoff.
    async fn connection(&self, peer: NodeId) -> Result<quinn::Connection> {
        if let Some(c) = self.live(&peer) {
            return Ok(c);
        }
        let lock = Arc::clone(self.inner.dialing.entry(peer).or_default().value());
        let _held = lock.lock().await;
        if let Some(c) = self.live(&peer) {
            return Ok(c);
        }
        let addrs = self.inner.book.addrs(&peer);
        if addrs.is_empty() {
            return Err(NetError::unreachable(peer, "no known address"));
        }
        let mut last = NetError::unreachable(peer, "no address tried");
        for addr in addrs {
            match self.dial(peer, addr).await {
                Ok(c) => return Ok(c),
                Err(e) => last = e,
            }
        }
        self.inner.book.mark_failure(&peer, self.inner.now_ms());
        Err(last)
    }

    /// Dials `addr`, accepting the server only if it proves to be `peer`; on success the
    /// address goes into the peer book and the connection is served and reused.
    ///
    /// Errors: [`NetError::Refused`] (wrong identity, limits, TLS failure),
    /// [`NetError::Timeout`] (handshake), [`NetError::Unreachable`].
    pub async fn dial(&self, peer: NodeId, addr: SocketAddr) -> Result<quinn::Connection> {
        let inner = &self.inner;
        let slot = inner.counts.acquire(
            None,
            inner.config.max_connections,
            inner.config.max_connections_per_ip,
        )?;
        let tls = tls::client_config(&inner.identity, peer)?;
        let quic_tls = QuicClientConfig::try_from(tls)
            .map_err(|e| NetError::Local(format!("QUIC TLS client config: {e}")))?;
        let mut cfg = quinn::ClientConfig::new(Arc::new(quic_tls));
        cfg.transport_config(match PathKind::of(addr, &inner.config) {
            PathKind::Network => Arc::clone(&inner.transport),
            PathKind::Loopback => Arc::clone(&inner.loopback_transport),
        });
        let connecting = inner
            .endpoint
            .connect_with(cfg, addr, CERT_NAME)
            .map_err(|e| NetError::unreachable(peer, e))?;
        let conn = tokio::time::timeout(inner.config.handshake_timeout, connecting)
            .await
            .map_err(|_| NetError::Timeout(format!("handshake with {peer} at {addr}")))?
            .map_err(|e| conn_error(&peer.to_string(), e))?;
        inner.book.insert(peer, addr);
        inner.book.mark_seen(&peer, inner.now_ms());
        inner.conns.insert(peer, conn.clone());
        tokio::spawn(serve::connection(
            Arc::downgrade(&self.inner),
            conn.clone(),
            peer,
            slot,
        ));
        Ok(conn)
    }

    async fn open_bi(&self, peer: NodeId) -> Result<(quinn::SendStream, quinn::RecvStream)> {
        let conn = self.connection(peer).await?;
        match conn.open_bi().await {
            Ok(s) => Ok(s),
            Err(e) => {
                self.inner
                    .conns
                    .remove_if(&peer, |_, c| c.stable_id() == conn.stable_id());
                Err(conn_error(&peer.to_string(), e))
            }
        }
    }

    async fn request_inner(&self, peer: NodeId, bytes: Vec<u8>, stall: Duration) -> Result<Frame> {
        let (mut send, mut recv) = self.open_bi(peer).await?;
        let wrote = async {
            framing::write_within(&mut send, &[StreamKind::Request as u8], stall).await?;
            framing::write_within(&mut send, &bytes, stall).await?;
            send.finish()
                .map_err(|e| NetError::unreachable(peer, format!("finish: {e}")))
        }
        .await;
        // Read the reply even after a failed write: the peer may have stopped our stream
        // because the request broke its limits, and says why in the reply.
        let reply = framing::read_reply(&mut recv, self.inner.config.max_frame_bytes, stall).await;
        match (reply, wrote) {
            (Ok(reply), _) => match reply.into_error()? {
                Reply::Ok(frame) => Ok(frame),
                other => Err(NetError::BadFrame(format!("unexpected reply {other:?}"))),
            },
            (Err(_), Err(w)) => Err(w),
            (Err(r), Ok(())) => Err(r),
        }
    }
}

async fn accept_loop(endpoint: quinn::Endpoint, node: Weak<Inner>) {
    while let Some(incoming) = endpoint.accept().await {
        let Some(inner) = node.upgrade() else { break };
        let addr = incoming.remote_address();
        match inner.counts.acquire(
            Some(addr.ip()),
            inner.config.max_connections,
            inner.config.max_connections_per_ip,
        ) {
            Ok(slot) => {
                tokio::spawn(handshake(Arc::downgrade(&inner), incoming, slot));
            }
            Err(e) => {
                incoming.refuse();
                inner.fault(None, addr, e);
            }
        }
    }
}

async fn handshake(node: Weak<Inner>, incoming: quinn::Incoming, slot: ConnSlot) {
    let Some(inner) = node.upgrade() else { return };
    let addr = incoming.remote_address();
    let result = async {
        let accepted = match PathKind::of(addr, &inner.config) {
            PathKind::Network => incoming.accept(),
            PathKind::Loopback => incoming.accept_with(Arc::clone(&inner.loopback_server)),
        };
        let connecting = accepted.map_err(|e| conn_error(&addr.to_string(), e))?;
        let conn = tokio::time::timeout(inner.config.handshake_timeout, connecting)
            .await
            .map_err(|_| NetError::Timeout(format!("handshake from {addr}")))?
            .map_err(|e| conn_error(&addr.to_string(), e))?;
        let alpn = conn
            .handshake_data()
            .and_then(|d| d.downcast::<quinn::crypto::rustls::HandshakeData>().ok())
            .and_then(|d| d.protocol);
        if alpn.as_deref() != Some(tls::ALPN) {
            conn.close(1u32.into(), b"ALPN pinpoint/1 required");
            return Err(NetError::Refused(format!("{addr} did not negotiate ALPN")));
        }
        let certs = conn
            .peer_identity()
            .and_then(|i| i.downcast::<Vec<CertificateDer<'static>>>().ok());
        let peer = match tls::peer_node_id(certs.as_deref().map(|c| c.as_slice())) {
            Ok(p) => p,
            Err(e) => {
                conn.close(1u32.into(), b"client certificate required");
                return Err(e);
            }
        };
        Ok((conn, peer))
    }
    .await;
    match result {
        Ok((conn, peer)) => {
            inner.book.insert(peer, addr);
            inner.book.mark_seen(&peer, inner.now_ms());
            inner.conns.insert(peer, conn.clone());
            drop(inner);
            serve::connection(node, conn, peer, slot).await;
        }
        Err(e) => inner.fault(None, addr, e),
    }
}

impl Transport for QuicNode {
    fn local_id(&self) -> NodeId {
        self.inner.identity.node_id()
    }

    /// Peers with a live connection (sorted). Peers only in the book are not listed: dial
    /// them with [`QuicNode::bootstrap`] or [`QuicNode::maintain`].
    fn peers(&self) -> Vec<NodeId> {
        let mut out: Vec<NodeId> = self
            .inner
            .conns
            .iter()
            .filter(|c| c.value().close_reason().is_none())
            .map(|c| *c.key())
            .collect();
        out.sort();
        out
    }

    async fn request(&self, peer: NodeId, frame: Frame, deadline: Duration) -> Result<Frame> {
        let bytes = framing::encode_frame(&frame, self.inner.config.max_frame_bytes)?;
        tokio::time::timeout(deadline, self.request_inner(peer, bytes, deadline))
            .await
            .map_err(|_| NetError::Timeout(format!("request to {peer} after {deadline:?}")))?
    }

    async fn send(&self, peer: NodeId, frame: Frame) -> Result<()> {
        let cfg = &self.inner.config;
        let bytes = framing::encode_frame(&frame, cfg.max_frame_bytes)?;
        let conn = self.connection(peer).await?;
        let mut send = conn
            .open_uni()
            .await
            .map_err(|e| conn_error(&peer.to_string(), e))?;
        framing::write_within(&mut send, &[StreamKind::Message as u8], cfg.stream_timeout).await?;
        framing::write_within(&mut send, &bytes, cfg.stream_timeout).await?;
        send.finish()
            .map_err(|e| NetError::unreachable(peer, format!("finish: {e}")))
    }

    async fn fetch_blob<W, P>(
        &self,
        peer: NodeId,
        hash: [u8; 32],
        sink: &mut W,
        progress: P,
    ) -> Result<u64>
    where
        W: AsyncWrite + Unpin + Send,
        P: FnMut(Progress) + Send,
    {
        let cfg = &self.inner.config;
        let (mut send, mut recv) = self.open_bi(peer).await?;
        framing::write_within(&mut send, &[StreamKind::Blob as u8], cfg.stream_timeout).await?;
        framing::write_within(&mut send, &hash, cfg.stream_timeout).await?;
        send.finish()
            .map_err(|e| NetError::unreachable(peer, format!("finish: {e}")))?;
        let reply = framing::read_reply(&mut recv, cfg.max_frame_bytes, cfg.stream_timeout).await?;
        let len = match reply.into_error()? {
            Reply::Blob { len } => len,
            other => return Err(NetError::BadFrame(format!("unexpected reply {other:?}"))),
        };
        if len > cfg.max_blob_bytes {
            let _ = recv.stop(0u32.into());
            return Err(NetError::TooLarge {
                what: "blob",
                len,
                limit: cfg.max_blob_bytes,
            });
        }
        let got = blob::receive(
            &mut blob::QuicPieces::new(&mut recv),
            len,
            &hash,
            sink,
            progress,
            cfg.blob_chunk_bytes,
            cfg.stream_timeout,
        )
        .await;
        if got.is_err() {
            let _ = recv.stop(0u32.into());
        }
        sink.flush()
            .await
            .map_err(|e| NetError::Local(format!("blob sink: {e}")))?;
        got
    }
}
