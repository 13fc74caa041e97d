//! An in-memory [`Transport`] for tests: nodes in one process joined to a [`MemNetwork`].
//!
//! It keeps the QUIC transport's observable contract: frames are checked against the size
//! limit and round-trip through the canonical encoding, requests have deadlines, blobs are
//! hashed on arrival, an unknown peer is [`NetError::Unreachable`].

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pinpoint_protocol::codec::{self, Frame, Limits};
use pinpoint_protocol::id::NodeId;
use tokio::io::AsyncWrite;
use tokio::sync::mpsc;

use crate::blob;
use crate::config::{DEFAULT_BLOB_CHUNK_BYTES, DEFAULT_INBOUND_QUEUE, DEFAULT_MAX_FRAME_BYTES};
use crate::error::{NetError, Result};
use crate::transport::{BlobStore, Inbound, Progress, Transport, responder};

struct MemPeer {
    inbound: mpsc::Sender<Inbound>,
    blobs: Arc<dyn BlobStore>,
}

/// A set of in-memory nodes that can reach each other.
#[derive(Clone)]
pub struct MemNetwork {
    nodes: Arc<Mutex<BTreeMap<NodeId, MemPeer>>>,
    max_frame_bytes: usize,
}

impl std::fmt::Debug for MemNetwork {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MemNetwork({} nodes)", self.lock().len())
    }
}

impl Default for MemNetwork {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_FRAME_BYTES)
    }
}

impl MemNetwork {
    /// An empty network whose frames are limited to `max_frame_bytes`.
    pub fn new(max_frame_bytes: usize) -> Self {
        Self {
            nodes: Arc::default(),
            max_frame_bytes,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<NodeId, MemPeer>> {
        // Entries are inserted and removed whole, so a poisoned map is still consistent.
        self.nodes.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds node `id` serving `blobs`; returns its transport and inbound queue. Joining again
    /// with the same id replaces the earlier node.
    pub fn join(
        &self,
        id: NodeId,
        blobs: Arc<dyn BlobStore>,
    ) -> (MemTransport, mpsc::Receiver<Inbound>) {
        let (tx, rx) = mpsc::channel(DEFAULT_INBOUND_QUEUE);
        self.lock().insert(id, MemPeer { inbound: tx, blobs });
        (
            MemTransport {
                id,
                net: self.clone(),
            },
            rx,
        )
    }

    /// Removes node `id`; others then get [`NetError::Unreachable`] for it.
    pub fn leave(&self, id: &NodeId) {
        self.lock().remove(id);
    }

    fn inbound_of(&self, id: &NodeId) -> Result<mpsc::Sender<Inbound>> {
        self.lock()
            .get(id)
            .map(|p| p.inbound.clone())
            .ok_or_else(|| NetError::unreachable(id, "not in the network"))
    }

    /// Checks the frame as the wire would: size limit and canonical round trip.
    fn carry(&self, frame: &Frame) -> Result<Frame> {
        let limits = Limits {
            max_frame_bytes: self.max_frame_bytes,
        };
        let bytes = codec::encode_with(frame, &limits)?;
        Ok(codec::decode_frame(&bytes, &limits)?)
    }
}

/// One node's handle on a [`MemNetwork`].
#[derive(Clone, Debug)]
pub struct MemTransport {
    id: NodeId,
    net: MemNetwork,
}

impl Transport for MemTransport {
    fn local_id(&self) -> NodeId {
        self.id
    }

    fn peers(&self) -> Vec<NodeId> {
        self.net
            .lock()
            .keys()
            .filter(|k| **k != self.id)
            .copied()
            .collect()
    }

    async fn request(&self, peer: NodeId, frame: Frame, deadline: Duration) -> Result<Frame> {
        let frame = self.net.carry(&frame)?;
        let inbound = self.net.inbound_of(&peer)?;
        let (reply, rx) = responder();
        let from = self.id;
        let exchange = async move {
            inbound
                .send(Inbound::Request { from, frame, reply })
                .await
                .map_err(|_| NetError::unreachable(peer, "inbound queue closed"))?;
            match rx.await {
                Ok(Ok(frame)) => self.net.carry(&frame),
                Ok(Err(why)) => Err(NetError::Refused(format!("by peer: {why}"))),
                Err(_) => Err(NetError::Refused(
                    "by peer: request dropped without an answer".to_string(),
                )),
            }
        };
        tokio::time::timeout(deadline, exchange)
            .await
            .map_err(|_| NetError::Timeout(format!("request to {peer} after {deadline:?}")))?
    }

    async fn send(&self, peer: NodeId, frame: Frame) -> Result<()> {
        let frame = self.net.carry(&frame)?;
        self.net
            .inbound_of(&peer)?
            .try_send(Inbound::Message {
                from: self.id,
                frame,
            })
            .map_err(|_| NetError::Refused(format!("{peer}'s inbound queue is full or closed")))
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
        let store = self
            .net
            .lock()
            .get(&peer)
            .map(|p| Arc::clone(&p.blobs))
            .ok_or_else(|| NetError::unreachable(peer, "not in the network"))?;
        let b = store
            .open(&hash)
            .ok_or_else(|| NetError::Refused(format!("by peer: no blob {}", blob::hex(&hash))))?;
        let len = b.len;
        blob::receive(
            &mut blob::BlobChunks::from(b),
            len,
            &hash,
            sink,
            progress,
            DEFAULT_BLOB_CHUNK_BYTES,
            Duration::from_secs(60),
        )
        .await
    }
}
