//! The peer book: known peers with their addresses, liveness and failure backoff, keyed by
//! [`NodeId`]: [`pinpoint_sync::peers::PeerBook`] (one lock over a sorted map, loom-checked in
//! `sync/tests/loom.rs`), re-exported here with its constants.
//!
//! Time is passed in (`now_ms`, milliseconds on any monotonic clock the caller chooses), so the
//! book behaves the same under a real or a simulated clock. Methods that list peers return them
//! sorted by id.

use pinpoint_protocol::id::NodeId;
pub use pinpoint_sync::peers::{
    Backoff, DEFAULT_BACKOFF_BASE_MS, DEFAULT_BACKOFF_MAX_MS, DEFAULT_MAX_PEERS,
    MAX_ADDRS_PER_PEER, PeerEntry,
};

/// Known peers by [`NodeId`] (safe to share between tasks).
pub type PeerBook = pinpoint_sync::peers::PeerBook<NodeId>;

#[cfg(test)]
mod tests {
    use super::*;
    use pinpoint_protocol::id::NodeKey;
    use std::net::SocketAddr;

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
