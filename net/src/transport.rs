//! The interface actors use: the [`Transport`] trait, what arrives ([`Inbound`]), and where
//! blobs come from ([`BlobStore`]).
//!
//! Call-order contract: a transport is created together with the receiving end of its inbound
//! queue (`mpsc::Receiver<Inbound>`); the owner drains that queue and answers each
//! [`Inbound::Request`] through its [`Responder`] (dropping it refuses the request).

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use pinpoint_protocol::codec::Frame;
use pinpoint_protocol::id::NodeId;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::oneshot;

use crate::error::Result;

/// Progress of a blob transfer, passed to the caller's callback after every chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Bytes received and hashed so far.
    pub received_bytes: u64,
    /// Total length announced by the sender.
    pub total_bytes: u64,
}

/// What a transport hands to its owner.
#[derive(Debug)]
pub enum Inbound {
    /// A request awaiting an answer through `reply`.
    Request {
        /// The authenticated sender.
        from: NodeId,
        /// The request frame (canonically decoded).
        frame: Frame,
        /// Where the answer goes.
        reply: Responder,
    },
    /// A one-way message (including gossip envelopes; see [`crate::gossip`]).
    Message {
        /// The authenticated sender.
        from: NodeId,
        /// The message frame (canonically decoded).
        frame: Frame,
    },
}

/// The answer slot of one [`Inbound::Request`].
#[derive(Debug)]
pub struct Responder(pub(crate) oneshot::Sender<std::result::Result<Frame, String>>);

impl Responder {
    /// Answers the request with `frame`.
    pub fn respond(self, frame: Frame) {
        // The requester may have given up (deadline); nothing to do then.
        let _ = self.0.send(Ok(frame));
    }

    /// Refuses the request; the requester gets [`crate::NetError::Refused`] with `reason`.
    pub fn refuse(self, reason: impl Into<String>) {
        let _ = self.0.send(Err(reason.into()));
    }
}

/// A responder and the receiving end the transport waits on.
pub(crate) fn responder() -> (
    Responder,
    oneshot::Receiver<std::result::Result<Frame, String>>,
) {
    let (tx, rx) = oneshot::channel();
    (Responder(tx), rx)
}

/// A blob's content.
pub enum BlobBody {
    /// Held in memory: sent as slices of this buffer, without copying it.
    Bytes(Bytes),
    /// Streamed from a reader (a file, generated content), read chunk by chunk.
    Reader(Box<dyn AsyncRead + Send + Unpin>),
}

/// A readable blob: its length and its content, exactly that many bytes.
pub struct BlobReader {
    /// Length in bytes.
    pub len: u64,
    /// The content.
    pub body: BlobBody,
}

impl BlobReader {
    /// A blob held in memory.
    pub fn from_bytes(data: impl Into<Bytes>) -> Self {
        let data = data.into();
        Self {
            len: data.len() as u64,
            body: BlobBody::Bytes(data),
        }
    }

    /// A blob of `len` bytes read from `reader`.
    pub fn from_reader(len: u64, reader: impl AsyncRead + Send + Unpin + 'static) -> Self {
        Self {
            len,
            body: BlobBody::Reader(Box::new(reader)),
        }
    }
}

impl std::fmt::Debug for BlobReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.body {
            BlobBody::Bytes(_) => "in memory",
            BlobBody::Reader(_) => "streamed",
        };
        write!(f, "BlobReader({} bytes, {kind})", self.len)
    }
}

/// Where a node's blobs (checkpoints, tensors) come from, by blake3 hash.
pub trait BlobStore: Send + Sync + 'static {
    /// Opens the blob whose blake3 hash is `hash`, or `None` if this node does not have it.
    fn open(&self, hash: &[u8; 32]) -> Option<BlobReader>;
}

/// A [`BlobStore`] with no blobs.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoBlobs;

impl BlobStore for NoBlobs {
    fn open(&self, _hash: &[u8; 32]) -> Option<BlobReader> {
        None
    }
}

/// Blobs by blake3 hash.
type BlobMap = BTreeMap<[u8; 32], Bytes>;

/// An in-memory [`BlobStore`] (tests, small nodes). Blobs are served without copying.
#[derive(Debug, Default, Clone)]
pub struct MemBlobs {
    blobs: Arc<Mutex<BlobMap>>,
}

impl MemBlobs {
    /// Stores `data` and returns its blake3 hash.
    pub fn insert(&self, data: impl Into<Bytes>) -> [u8; 32] {
        let data = data.into();
        let hash = *blake3::hash(&data).as_bytes();
        self.lock().insert(hash, data);
        hash
    }

    /// Stores `data` under a hash that is **not** its own (tests of the receiver's check).
    pub fn insert_under(&self, hash: [u8; 32], data: impl Into<Bytes>) {
        self.lock().insert(hash, data.into());
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BlobMap> {
        // A poisoned lock only means another thread panicked mid-insert of a whole value.
        self.blobs.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl BlobStore for MemBlobs {
    fn open(&self, hash: &[u8; 32]) -> Option<BlobReader> {
        let data = self.lock().get(hash).cloned()?;
        Some(BlobReader::from_bytes(data))
    }
}

/// The network interface of a node, implemented over QUIC ([`crate::QuicNode`]), in memory
/// ([`crate::MemTransport`]) and by the simulator.
///
/// Frames are the protocol's canonical [`Frame`]s; use
/// [`pinpoint_protocol::codec::Frame::seal`] / [`Frame::open`] for typed messages.
pub trait Transport: Clone + Send + Sync + 'static {
    /// This node's id.
    fn local_id(&self) -> NodeId;

    /// Peers this transport can currently address (sorted, without this node).
    fn peers(&self) -> Vec<NodeId>;

    /// Sends a request and waits for the answer, at most `deadline`.
    ///
    /// Errors: [`crate::NetError::Unreachable`], [`crate::NetError::Timeout`],
    /// [`crate::NetError::Refused`], [`crate::NetError::TooLarge`], [`crate::NetError::BadFrame`].
    fn request(
        &self,
        peer: NodeId,
        frame: Frame,
        deadline: Duration,
    ) -> impl Future<Output = Result<Frame>> + Send;

    /// Sends a one-way message (delivered as [`Inbound::Message`]); returns once it is handed
    /// to the network, not when it is processed.
    fn send(&self, peer: NodeId, frame: Frame) -> impl Future<Output = Result<()>> + Send;

    /// Fetches the blob with blake3 hash `hash` from `peer` into `sink`, calling `progress`
    /// after every chunk, and checks the hash on arrival. Returns the length.
    ///
    /// On [`crate::NetError::HashMismatch`] the bytes already written to `sink` must be
    /// discarded by the caller.
    fn fetch_blob<W, P>(
        &self,
        peer: NodeId,
        hash: [u8; 32],
        sink: &mut W,
        progress: P,
    ) -> impl Future<Output = Result<u64>> + Send
    where
        W: AsyncWrite + Unpin + Send,
        P: FnMut(Progress) + Send;
}
