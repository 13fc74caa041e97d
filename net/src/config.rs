//! Limits and timeouts of a node's transport, all in one struct with named defaults.

use std::net::SocketAddr;
use std::time::Duration;

use crate::peers::{Backoff, DEFAULT_MAX_PEERS};

/// Default largest frame: the protocol's [`pinpoint_protocol::codec::MAX_FRAME_BYTES`] (16 MiB).
pub const DEFAULT_MAX_FRAME_BYTES: usize = pinpoint_protocol::codec::MAX_FRAME_BYTES;
/// Default largest blob accepted by a fetch: 4 GiB.
pub const DEFAULT_MAX_BLOB_BYTES: u64 = 4 << 30;
/// Default streams a peer may have open at once on one connection, per direction kind.
pub const DEFAULT_MAX_STREAMS_PER_CONNECTION: u32 = 256;
/// Default connections in total.
pub const DEFAULT_MAX_CONNECTIONS: usize = 512;
/// Default connections from one IP address.
pub const DEFAULT_MAX_CONNECTIONS_PER_IP: usize = 16;
/// Default handshake timeout.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Default idle timeout of a connection.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Default keep-alive interval (well under the idle timeout).
pub const DEFAULT_KEEP_ALIVE: Duration = Duration::from_secs(10);
/// Default time a stream may go without progress before it is abandoned.
pub const DEFAULT_STREAM_TIMEOUT: Duration = Duration::from_secs(10);
/// Default capacity of the inbound queue handed to the application.
pub const DEFAULT_INBOUND_QUEUE: usize = 1024;
/// Default per-stream and per-connection flow-control windows (bytes), sized for bulk
/// transfers on fast links.
pub const DEFAULT_STREAM_WINDOW_BYTES: u32 = 16 << 20;
/// Default connection-wide receive window (bytes).
pub const DEFAULT_CONNECTION_WINDOW_BYTES: u32 = 64 << 20;
/// Default initial QUIC packet size (bytes): quinn's default, safe on any IPv4/IPv6 path.
pub const DEFAULT_INITIAL_MTU: u16 = 1200;
/// Largest QUIC packet (UDP payload, bytes) this transport will use: quinn hands the kernel up
/// to 10 packets as one segmented UDP datagram (GSO), and a UDP datagram over IPv4 carries at
/// most 65,507 bytes. Above this, batches fail to send and throughput collapses (measured:
/// 5 MiB/s at 6,600 on loopback).
pub const MAX_MTU_UPPER_BOUND: u16 = 6550;
/// Default upper bound of QUIC path-MTU discovery (bytes). Discovery probes per path and keeps
/// what gets through: internet paths settle near 1,452 (Ethernet), loopback and jumbo-frame
/// LANs go up to this bound. Lost probes cost nothing but time (quinn's black-hole detection
/// backs off). Larger packets mean fewer per-packet costs: with these settings on loopback,
/// a QUIC-only fetch loop moved 860 MiB/s against 600 MiB/s at 1,452 (docs/benchmarks.md).
pub const DEFAULT_MTU_UPPER_BOUND: u16 = 6500;
/// Default upper bound of path-MTU discovery towards loopback addresses (bytes): the
/// loopback interface carries 64 KiB packets and TCP uses 64 KiB segments there, so QUIC does
/// too, sending one packet per system call instead of segmented batches (GSO), which cannot
/// exceed 64 KiB in total. Nodes sharing a host (a devnet, tests) gain; other paths are
/// unaffected.
pub const DEFAULT_LOOPBACK_MTU_UPPER_BOUND: u16 = 65000;
/// Largest UDP payload quinn handles (bytes).
pub const MAX_UDP_PAYLOAD: u16 = 65527;
/// Default socket send and receive buffer size requested from the kernel (bytes). The
/// kernel's default (about 208 KiB on Linux) overflows at fast rates and the drops read as
/// congestion; the kernel caps the request at `net.core.rmem_max` / `wmem_max`.
pub const DEFAULT_SOCKET_BUFFER_BYTES: usize = 4 << 20;
/// Default chunk size for blob transfers (bytes).
pub const DEFAULT_BLOB_CHUNK_BYTES: usize = 1 << 20;

/// Everything configurable about a node's transport. `Default` gives the named constants above
/// and listens on `127.0.0.1:0` (a port chosen by the OS).
#[derive(Debug, Clone)]
pub struct NetConfig {
    /// Address to bind the UDP socket to.
    pub listen: SocketAddr,
    /// Largest frame (request, response or one-way message) accepted or sent.
    pub max_frame_bytes: usize,
    /// Largest blob this node fetches.
    pub max_blob_bytes: u64,
    /// Streams a peer may open concurrently on one connection (bidirectional and
    /// unidirectional each); more wait for QUIC flow control, so a busy peer is throttled.
    pub max_streams_per_connection: u32,
    /// Connections in total (inbound and outbound); further inbound ones are refused.
    pub max_connections: usize,
    /// Inbound connections from one IP address; further ones are refused.
    pub max_connections_per_ip: usize,
    /// Deadline for a TLS handshake, both directions.
    pub handshake_timeout: Duration,
    /// A connection with no traffic for this long is closed.
    pub idle_timeout: Duration,
    /// Interval of keep-alive packets on idle connections (`None`: none).
    pub keep_alive: Option<Duration>,
    /// A stream that makes no progress for this long is reset with [`crate::NetError::Timeout`].
    pub stream_timeout: Duration,
    /// Capacity of the inbound queue; a full queue throttles requests and drops one-way
    /// messages.
    pub inbound_queue: usize,
    /// Flow-control window of one stream (bytes).
    pub stream_window_bytes: u32,
    /// Flow-control window of one connection (bytes).
    pub connection_window_bytes: u32,
    /// Chunk size used when sending and receiving blobs (bytes).
    pub blob_chunk_bytes: usize,
    /// Initial QUIC packet size (bytes). Raise only where every path is known to carry it
    /// (loopback, a LAN with jumbo frames).
    pub initial_mtu: u16,
    /// Largest packet size path-MTU discovery probes for (bytes), at most
    /// [`MAX_MTU_UPPER_BOUND`].
    pub mtu_upper_bound: u16,
    /// Upper bound of path-MTU discovery for connections to loopback addresses (bytes, at most
    /// [`MAX_UDP_PAYLOAD`]); these send unsegmented. `None`: loopback is treated like any path.
    pub loopback_mtu_upper_bound: Option<u16>,
    /// UDP socket send and receive buffer size to ask the kernel for (bytes); `0` keeps the
    /// system default. A smaller grant is logged as a warning, not an error.
    pub socket_buffer_bytes: usize,
    /// Peers the peer book holds.
    pub max_peers: usize,
    /// Reconnection backoff of the peer book.
    pub backoff: Backoff,
    /// Seed of the QUIC endpoint's random choices (connection ids, reset tokens; quinn's
    /// `EndpointConfig::rng_seed`). `None`: from the OS. A simulation fixes it, so that a run
    /// over a simulated socket and clock replays.
    pub rng_seed: Option<[u8; 32]>,
}

impl Default for NetConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            max_frame_bytes: DEFAULT_MAX_FRAME_BYTES,
            max_blob_bytes: DEFAULT_MAX_BLOB_BYTES,
            max_streams_per_connection: DEFAULT_MAX_STREAMS_PER_CONNECTION,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_connections_per_ip: DEFAULT_MAX_CONNECTIONS_PER_IP,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            keep_alive: Some(DEFAULT_KEEP_ALIVE),
            stream_timeout: DEFAULT_STREAM_TIMEOUT,
            inbound_queue: DEFAULT_INBOUND_QUEUE,
            stream_window_bytes: DEFAULT_STREAM_WINDOW_BYTES,
            connection_window_bytes: DEFAULT_CONNECTION_WINDOW_BYTES,
            blob_chunk_bytes: DEFAULT_BLOB_CHUNK_BYTES,
            initial_mtu: DEFAULT_INITIAL_MTU,
            mtu_upper_bound: DEFAULT_MTU_UPPER_BOUND,
            loopback_mtu_upper_bound: Some(DEFAULT_LOOPBACK_MTU_UPPER_BOUND),
            socket_buffer_bytes: DEFAULT_SOCKET_BUFFER_BYTES,
            max_peers: DEFAULT_MAX_PEERS,
            backoff: Backoff::default(),
            rng_seed: None,
        }
    }
}
