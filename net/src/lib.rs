//! # pinpoint-net: the QUIC transport of a pinpoint node
//!
//! Nodes talk over QUIC (quinn) with TLS 1.3 (rustls, ring) and **mutual** authentication
//! bound to their identities: a node's certificate is self-signed by its ed25519 key and its
//! [`NodeId`](pinpoint_protocol::id::NodeId) *is* that key. Dialing checks that the server is
//! the expected `NodeId`; accepting derives the client's `NodeId` from its certificate. There
//! is no certificate authority.
//!
//! Main types:
//! - [`Transport`]: the interface actors use (requests with deadlines, one-way messages, blob
//!   fetches), implemented by [`QuicNode`] and by [`MemTransport`] (tests; the simulator
//!   implements it too). Incoming traffic arrives as [`Inbound`] on a bounded queue.
//! - [`Identity`] (key + certificate), [`tls`] (the verifiers and rustls configs),
//!   [`NetConfig`] (every limit and timeout), [`framing`] (bytes on a stream),
//!   [`PeerBook`] (addresses, liveness, backoff), [`Gossip`] (bounded fan-out, de-duplication).
//! - [`NetError`]: unreachable, timeout, refused, too large, bad frame, hash mismatch.
//!
//! Call order: [`QuicNode::bind`] (inside a tokio runtime) → drain the returned inbound
//! queue and answer requests → [`QuicNode::bootstrap`] / [`Transport`] calls →
//! [`QuicNode::maintain`] periodically to reconnect peers by their backoff.
//!
//! The transport as built: `docs/net.md`.
// The unit-test build sees the dev-dependencies too; the plain build is checked strictly.
#![cfg_attr(test, allow(unused_crate_dependencies))]

pub mod blob;
pub mod config;
pub mod error;
pub mod framing;
pub mod gossip;
pub mod identity;
pub mod mem;
pub mod peers;
pub mod quic;
pub mod tls;
pub mod transport;

pub use config::NetConfig;
pub use error::{NetError, Result};
pub use gossip::{Gossip, GossipEnvelope};
pub use identity::Identity;
pub use mem::{MemNetwork, MemTransport};
pub use peers::PeerBook;
pub use quic::{Fault, QuicNode};
pub use transport::{
    BlobBody, BlobReader, BlobStore, Inbound, MemBlobs, NoBlobs, Progress, Responder, Transport,
};
