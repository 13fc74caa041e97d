//! The peer book: known peers with their addresses, liveness and failure backoff.
//!
//! Time is passed in (`now_ms`, milliseconds on any monotonic clock the caller chooses), so the
//! book behaves the same under a real or a simulated clock. Methods that list peers return them
//! sorted by id, never in the map's internal order.

use std::net::SocketAddr;

use dashmap::DashMap;
use pinpoint_protocol::id::NodeId;

/// Default number of peers a book holds.
pub const DEFAULT_MAX_PEERS: usize = 4096;
/// Addresses remembered per peer (the newest first).
pub const MAX_ADDRS_PER_PEER: usize = 4;
/// Default first retry delay after a failure.
pub const DEFAULT_BACKOFF_BASE_MS: u64 = 500;
/// Default longest retry delay.
pub const DEFAULT_BACKOFF_MAX_MS: u64 = 5 * 60 * 1000;

/// What the book knows about one peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerEntry {
    /// Known addresses, newest first, at most [`MAX_ADDRS_PER_PEER`].
    pub addrs: Vec<SocketAddr>,
    /// When the peer was last seen alive (a connection or a message), if ever.
    pub last_seen_ms: Option<u64>,
    /// Consecutive failed attempts since it was last seen.
    pub failures: u32,
    /// Earliest time of the next connection attempt.
    pub next_attempt_ms: u64,
}

/// Exponential backoff: `base_ms · 2^(failures−1)`, capped at `max_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Delay after the first failure.
    pub base_ms: u64,
    /// Largest delay.
    pub max_ms: u64,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            base_ms: DEFAULT_BACKOFF_BASE_MS,
            max_ms: DEFAULT_BACKOFF_MAX_MS,
        }
    }
}

impl Backoff {
    /// The delay after `failures` consecutive failures (0 for none).
    pub fn delay_ms(&self, failures: u32) -> u64 {
        if failures == 0 {
            return 0;
        }
        let shift = (failures - 1).min(63);
        self.base_ms.saturating_mul(1u64 << shift).min(self.max_ms)
    }
}

/// Known peers (a concurrent map; safe to share between tasks).
#[derive(Debug)]
pub struct PeerBook {
    peers: DashMap<NodeId, PeerEntry>,
    max_peers: usize,
    backoff: Backoff,
}

impl Default for PeerBook {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_PEERS, Backoff::default())
    }
}

impl PeerBook {
    /// An empty book holding at most `max_peers` peers.
    pub fn new(max_peers: usize, backoff: Backoff) -> Self {
        Self {
            peers: DashMap::new(),
            max_peers,
            backoff,
        }
    }

    /// Adds `addr` for `id` (creating the entry, due immediately). Returns `false` and changes
    /// nothing when the book is full and `id` is new.
    pub fn insert(&self, id: NodeId, addr: SocketAddr) -> bool {
        if let Some(mut e) = self.peers.get_mut(&id) {
            e.addrs.retain(|a| *a != addr);
            e.addrs.insert(0, addr);
            e.addrs.truncate(MAX_ADDRS_PER_PEER);
            return true;
        }
        if self.peers.len() >= self.max_peers {
            return false;
        }
        self.peers.entry(id).or_insert_with(|| PeerEntry {
            addrs: vec![addr],
            last_seen_ms: None,
            failures: 0,
            next_attempt_ms: 0,
        });
        true
    }

    /// Forgets `id`.
    pub fn remove(&self, id: &NodeId) -> Option<PeerEntry> {
        self.peers.remove(id).map(|(_, e)| e)
    }

    /// A copy of the entry of `id`.
    pub fn get(&self, id: &NodeId) -> Option<PeerEntry> {
        self.peers.get(id).map(|e| e.clone())
    }

    /// Known addresses of `id`, newest first (empty if unknown).
    pub fn addrs(&self, id: &NodeId) -> Vec<SocketAddr> {
        self.peers
            .get(id)
            .map(|e| e.addrs.clone())
            .unwrap_or_default()
    }

    /// Records that `id` is alive at `now_ms`: clears its failures.
    pub fn mark_seen(&self, id: &NodeId, now_ms: u64) {
        if let Some(mut e) = self.peers.get_mut(id) {
            e.last_seen_ms = Some(now_ms);
            e.failures = 0;
            e.next_attempt_ms = now_ms;
        }
    }

    /// Records a failed attempt at `now_ms`; returns the delay until the next attempt.
    pub fn mark_failure(&self, id: &NodeId, now_ms: u64) -> Option<u64> {
        let mut e = self.peers.get_mut(id)?;
        e.failures = e.failures.saturating_add(1);
        let delay = self.backoff.delay_ms(e.failures);
        e.next_attempt_ms = now_ms.saturating_add(delay);
        Some(delay)
    }

    /// Peers whose next attempt is due at `now_ms`, sorted by id.
    pub fn due(&self, now_ms: u64) -> Vec<NodeId> {
        let mut out: Vec<NodeId> = self
            .peers
            .iter()
            .filter(|e| e.next_attempt_ms <= now_ms)
            .map(|e| *e.key())
            .collect();
        out.sort();
        out
    }

    /// Every known peer, sorted by id.
    pub fn ids(&self) -> Vec<NodeId> {
        let mut out: Vec<NodeId> = self.peers.iter().map(|e| *e.key()).collect();
        out.sort();
        out
    }

    /// Number of known peers.
    pub fn len(&self) -> usize {
        self.peers.len()
    }

    /// Whether the book is empty.
    pub fn is_empty(&self) -> bool {
        self.peers.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pinpoint_protocol::id::NodeKey;

    fn id(n: u8) -> NodeId {
        NodeKey::from_seed([n; 32]).node_id()
    }

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let b = Backoff {
            base_ms: 100,
            max_ms: 1000,
        };
        let delays: Vec<u64> = (0..7).map(|f| b.delay_ms(f)).collect();
        assert_eq!(delays, [0, 100, 200, 400, 800, 1000, 1000]);
        assert_eq!(b.delay_ms(u32::MAX), 1000);
    }

    #[test]
    fn failures_delay_and_seen_resets() {
        let book = PeerBook::new(
            8,
            Backoff {
                base_ms: 100,
                max_ms: 1000,
            },
        );
        assert!(book.insert(id(1), addr(1)));
        assert_eq!(book.due(0), vec![id(1)]);
        assert_eq!(book.mark_failure(&id(1), 1000), Some(100));
        assert!(book.due(1099).is_empty());
        assert_eq!(book.due(1100), vec![id(1)]);
        assert_eq!(book.mark_failure(&id(1), 1100), Some(200));
        assert!(book.due(1299).is_empty());
        book.mark_seen(&id(1), 1200);
        let e = book.get(&id(1)).expect("entry");
        assert_eq!((e.failures, e.last_seen_ms), (0, Some(1200)));
        assert_eq!(book.due(1200), vec![id(1)]);
        assert_eq!(book.mark_failure(&id(9), 0), None);
    }

    #[test]
    fn bounded_and_sorted() {
        let book = PeerBook::new(3, Backoff::default());
        for n in [5, 3, 4] {
            assert!(book.insert(id(n), addr(u16::from(n))));
        }
        assert!(!book.insert(id(6), addr(6)));
        assert_eq!(book.len(), 3);
        let mut want = vec![id(3), id(4), id(5)];
        want.sort();
        assert_eq!(book.ids(), want);
        for port in 10..20 {
            assert!(book.insert(id(3), addr(port)));
        }
        assert_eq!(
            book.addrs(&id(3)),
            vec![addr(19), addr(18), addr(17), addr(16)]
        );
    }
}
