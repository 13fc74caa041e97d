//! The peer book: known peers with their addresses, liveness and failure backoff, generic over
//! the peer id (the network uses `pinpoint_net::peers::PeerBook`, keyed by `NodeId`).
//!
//! Time is passed in (`now_ms`, milliseconds on any monotonic clock the caller chooses), so the
//! book behaves the same under a real or a simulated clock. Methods that list peers return them
//! sorted by id.
//!
//! Concurrency: one lock ([`crate::shim::Mutex`]) over a `BTreeMap`, held for one
//! whole operation, so each method is atomic (an insert's "full?" check and its insertion, two
//! inserts of one new peer, a failure racing a success or a removal). Under
//! `RUSTFLAGS="--cfg loom"` the lock is loom's and `sync/tests/loom.rs` (run by `scripts/loom`)
//! checks those races in every interleaving. A panic while the lock is held cannot leave an
//! entry half-written (no operation panics between its writes), so a poisoned lock is used
//! as is.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::PoisonError;

use crate::shim::{Mutex, MutexGuard};

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

/// Known peers, by id `I` (safe to share between tasks and threads; module docs).
#[derive(Debug)]
pub struct PeerBook<I> {
    peers: Mutex<BTreeMap<I, PeerEntry>>,
    max_peers: usize,
    backoff: Backoff,
}

impl<I: Ord + Copy> Default for PeerBook<I> {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_PEERS, Backoff::default())
    }
}

impl<I: Ord + Copy> PeerBook<I> {
    /// An empty book holding at most `max_peers` peers.
    pub fn new(max_peers: usize, backoff: Backoff) -> Self {
        Self {
            peers: Mutex::new(BTreeMap::new()),
            max_peers,
            backoff,
        }
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<I, PeerEntry>> {
        self.peers.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds `addr` for `id` (creating the entry, due immediately). Returns `false` and changes
    /// nothing when the book is full and `id` is new.
    pub fn insert(&self, id: I, addr: SocketAddr) -> bool {
        let mut peers = self.lock();
        if let Some(e) = peers.get_mut(&id) {
            e.addrs.retain(|a| *a != addr);
            e.addrs.insert(0, addr);
            e.addrs.truncate(MAX_ADDRS_PER_PEER);
            return true;
        }
        if peers.len() >= self.max_peers {
            return false;
        }
        peers.insert(
            id,
            PeerEntry {
                addrs: vec![addr],
                last_seen_ms: None,
                failures: 0,
                next_attempt_ms: 0,
            },
        );
        true
    }

    /// Forgets `id`.
    pub fn remove(&self, id: &I) -> Option<PeerEntry> {
        self.lock().remove(id)
    }

    /// A copy of the entry of `id`.
    pub fn get(&self, id: &I) -> Option<PeerEntry> {
        self.lock().get(id).cloned()
    }

    /// Known addresses of `id`, newest first (empty if unknown).
    pub fn addrs(&self, id: &I) -> Vec<SocketAddr> {
        self.lock()
            .get(id)
            .map(|e| e.addrs.clone())
            .unwrap_or_default()
    }

    /// Records that `id` is alive at `now_ms`: clears its failures.
    pub fn mark_seen(&self, id: &I, now_ms: u64) {
        if let Some(e) = self.lock().get_mut(id) {
            e.last_seen_ms = Some(now_ms);
            e.failures = 0;
            e.next_attempt_ms = now_ms;
        }
    }

    /// Records a failed attempt at `now_ms`; returns the delay until the next attempt.
    pub fn mark_failure(&self, id: &I, now_ms: u64) -> Option<u64> {
        let mut peers = self.lock();
        let e = peers.get_mut(id)?;
        e.failures = e.failures.saturating_add(1);
        let delay = self.backoff.delay_ms(e.failures);
        e.next_attempt_ms = now_ms.saturating_add(delay);
        Some(delay)
    }

    /// Peers whose next attempt is due at `now_ms`, sorted by id.
    pub fn due(&self, now_ms: u64) -> Vec<I> {
        self.lock()
            .iter()
            .filter(|(_, e)| e.next_attempt_ms <= now_ms)
            .map(|(id, _)| *id)
            .collect()
    }

    /// Every known peer, sorted by id.
    pub fn ids(&self) -> Vec<I> {
        self.lock().keys().copied().collect()
    }

    /// Number of known peers.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether the book is empty.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }
}
