//! Gossip: broadcast over any [`Transport`] with a bounded fan-out and de-duplication.
//!
//! A published payload travels in a [`GossipEnvelope`] (its own frame kind,
//! [`GOSSIP_KIND`]) as a one-way message. Every node that receives an envelope it has not seen
//! delivers the payload once and forwards it to at most `fanout` peers (not the sender or the
//! origin) while `hops_left > 0`. Seen ids are kept in a bounded FIFO cache.
//!
//! Peer choice is deterministic: peers are ranked by `blake3(id ‖ self ‖ peer)` so that a
//! message spreads along different edges at every node without an RNG.

use std::collections::{BTreeSet, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use borsh::{BorshDeserialize, BorshSerialize};
use pinpoint_protocol::codec::{Frame, Limits, WireMessage};
use pinpoint_protocol::id::NodeId;

use crate::error::{NetError, Result};
use crate::transport::Transport;

/// Frame kind of a [`GossipEnvelope`].
pub const GOSSIP_KIND: u16 = 0x0200;
/// Default fan-out: peers each node forwards a new message to.
pub const DEFAULT_FANOUT: usize = 6;
/// Default hop limit of a published message.
pub const DEFAULT_HOPS: u8 = 8;
/// Default number of message ids remembered for de-duplication.
pub const DEFAULT_SEEN_CAPACITY: usize = 65_536;
/// Domain tag of gossip message ids.
const ID_DOMAIN: &[u8] = b"pinpoint/gossip/id/v1";

/// A gossiped payload with its id, origin and remaining hops.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct GossipEnvelope {
    /// `blake3(domain ‖ origin ‖ seq ‖ payload bytes)`.
    pub id: [u8; 32],
    /// The node that published it.
    pub origin: NodeId,
    /// Further forwards allowed.
    pub hops_left: u8,
    /// The message itself.
    pub payload: Frame,
}

impl WireMessage for GossipEnvelope {
    const KIND: u16 = GOSSIP_KIND;
}

/// A bounded set of recently seen ids (FIFO eviction).
#[derive(Debug)]
pub struct SeenCache {
    order: VecDeque<[u8; 32]>,
    set: BTreeSet<[u8; 32]>,
    capacity: usize,
}

impl SeenCache {
    /// An empty cache remembering at most `capacity` ids (at least one).
    pub fn new(capacity: usize) -> Self {
        Self {
            order: VecDeque::new(),
            set: BTreeSet::new(),
            capacity: capacity.max(1),
        }
    }

    /// Records `id`; returns `true` if it was new.
    pub fn insert(&mut self, id: [u8; 32]) -> bool {
        if !self.set.insert(id) {
            return false;
        }
        self.order.push_back(id);
        while self.order.len() > self.capacity {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
        true
    }

    /// Ids remembered now.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}

/// Gossip over transport `T`.
#[derive(Debug)]
pub struct Gossip<T: Transport> {
    transport: T,
    fanout: usize,
    hops: u8,
    seen: Mutex<SeenCache>,
    seq: AtomicU64,
    limits: Limits,
}

impl<T: Transport> Gossip<T> {
    /// Gossip with the given fan-out, hop limit and seen-cache capacity.
    pub fn new(transport: T, fanout: usize, hops: u8, seen_capacity: usize) -> Self {
        Self {
            transport,
            fanout,
            hops,
            seen: Mutex::new(SeenCache::new(seen_capacity)),
            seq: AtomicU64::new(0),
            limits: Limits::default(),
        }
    }

    /// The transport underneath.
    pub fn transport(&self) -> &T {
        &self.transport
    }

    fn mark_seen(&self, id: [u8; 32]) -> bool {
        // The cache holds plain data; a poisoned lock cannot leave it half-updated in a way
        // that matters for de-duplication.
        self.seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id)
    }

    /// Publishes `payload`; returns its id and the number of peers it was sent to.
    ///
    /// Errors: [`NetError::TooLarge`] if the envelope does not fit a frame. Peers that cannot
    /// be reached are skipped.
    pub async fn publish(&self, payload: Frame) -> Result<([u8; 32], usize)> {
        let origin = self.transport.local_id();
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        let body = pinpoint_protocol::codec::encode_with(&payload, &self.limits)?;
        let mut h = blake3::Hasher::new();
        h.update(ID_DOMAIN);
        h.update(origin.as_bytes());
        h.update(&seq.to_le_bytes());
        h.update(&body);
        let id = *h.finalize().as_bytes();
        self.mark_seen(id);
        let env = GossipEnvelope {
            id,
            origin,
            hops_left: self.hops,
            payload,
        };
        let sent = self.forward(&env, None).await?;
        Ok((id, sent))
    }

    /// Handles a one-way frame from `from`: returns `Ok(None)` if it is not gossip (kind other
    /// than [`GOSSIP_KIND`]) — the caller handles it — or was seen before, and
    /// `Ok(Some(payload))` the first time an envelope arrives, after forwarding it.
    ///
    /// Errors: [`NetError::BadFrame`] for an envelope that does not decode.
    pub async fn handle(&self, from: NodeId, frame: &Frame) -> Result<Option<Frame>> {
        if frame.kind != GOSSIP_KIND {
            return Ok(None);
        }
        let mut env: GossipEnvelope = frame.open(&self.limits)?;
        if !self.mark_seen(env.id) {
            return Ok(None);
        }
        if env.hops_left > 0 {
            env.hops_left -= 1;
            self.forward(&env, Some(from)).await?;
        }
        Ok(Some(env.payload))
    }

    /// Sends `env` to up to `fanout` peers other than `from` and its origin.
    async fn forward(&self, env: &GossipEnvelope, from: Option<NodeId>) -> Result<usize> {
        let me = self.transport.local_id();
        let mut ranked: Vec<([u8; 32], NodeId)> = self
            .transport
            .peers()
            .into_iter()
            .filter(|p| Some(*p) != from && *p != env.origin && *p != me)
            .map(|p| {
                let mut h = blake3::Hasher::new();
                h.update(&env.id);
                h.update(me.as_bytes());
                h.update(p.as_bytes());
                (*h.finalize().as_bytes(), p)
            })
            .collect();
        ranked.sort();
        let frame = Frame::seal(env).map_err(NetError::from)?;
        let mut sent = 0;
        for (_, peer) in ranked.into_iter().take(self.fanout) {
            match self.transport.send(peer, frame.clone()).await {
                Ok(()) => sent += 1,
                Err(e) => tracing::debug!(%peer, %e, "gossip forward failed"),
            }
        }
        Ok(sent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seen_cache_is_bounded_fifo() {
        let mut c = SeenCache::new(3);
        for i in 0..3u8 {
            assert!(c.insert([i; 32]));
        }
        assert!(!c.insert([1; 32]));
        assert!(c.insert([3; 32]));
        assert_eq!(c.len(), 3);
        // [0] was evicted, so it counts as new again; [2] is still remembered.
        assert!(c.insert([0; 32]));
        assert!(!c.insert([3; 32]));
    }
}
