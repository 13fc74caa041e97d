//! loom models of the primitives and of the peer book (run with `scripts/loom`; without
//! `--cfg loom` this file is empty).
// Dev-dependencies are shared by every test, bench and example target; each uses some.
#![allow(unused_crate_dependencies)]
#![cfg(loom)]

use std::net::SocketAddr;

use loom::sync::Arc;
use loom::sync::atomic::Ordering;
use loom::thread;
use pinpoint_sync::peers::{Backoff, PeerBook};
use pinpoint_sync::{JobSlot, Outcome, Published};

/// Submitter cancels while the executor takes and completes: exactly one outcome, and a
/// cancelled job's result is never handed off after the cancel.
#[test]
fn job_slot_cancel_races_completion() {
    loom::model(|| {
        let slot: Arc<JobSlot<u32, u32>> = Arc::new(JobSlot::new());
        let t = slot.submit(7).expect("submit");
        let exec = {
            let slot = Arc::clone(&slot);
            thread::spawn(move || {
                if let Some(taken) = slot.take().expect("lock") {
                    if !taken.cancelled.load(Ordering::SeqCst) {
                        return slot.complete(taken.ticket, taken.job * 2).expect("lock");
                    }
                }
                false
            })
        };
        let out = slot.cancel(t).expect("current ticket");
        let handed = exec.join().expect("executor");
        match out {
            Outcome::Done(r) => {
                assert_eq!(r, 14);
                assert!(handed);
            }
            Outcome::Cancelled => assert!(!handed),
        }
        // The slot is free either way.
        assert!(slot.submit(1).is_ok());
    });
}

/// Submitter waits while the executor completes: the waiter gets the result exactly once.
#[test]
fn job_slot_result_handoff() {
    loom::model(|| {
        let slot: Arc<JobSlot<u32, u32>> = Arc::new(JobSlot::new());
        let t = slot.submit(3).expect("submit");
        let exec = {
            let slot = Arc::clone(&slot);
            thread::spawn(move || {
                let taken = slot.take().expect("lock").expect("queued");
                assert!(slot.complete(taken.ticket, taken.job + 1).expect("lock"));
            })
        };
        assert_eq!(slot.wait(t), Ok(Outcome::Done(4)));
        exec.join().expect("executor");
        assert!(slot.wait(t).is_err());
    });
}

/// Two writers publish versions 1 and 2 while a reader reads twice: the reader never sees a
/// version go backwards and the final version is 2 with its own value.
#[test]
fn published_versions_never_go_backwards() {
    loom::model(|| {
        let p: Arc<Published<u64>> = Arc::new(Published::new());
        let writers: Vec<_> = [1u64, 2]
            .into_iter()
            .map(|v| {
                let p = Arc::clone(&p);
                thread::spawn(move || {
                    p.publish(v, v * 100);
                })
            })
            .collect();
        let first = p.latest();
        let second = p.latest();
        if let (Some((a, va)), Some((b, vb))) = (&first, &second) {
            assert!(a <= b);
            assert_eq!((**va, **vb), (a * 100, b * 100));
        }
        if first.is_some() {
            assert!(second.is_some());
        }
        for w in writers {
            w.join().expect("writer");
        }
        assert_eq!(p.latest().map(|(v, x)| (v, *x)), Some((2, 200)));
    });
}

// ---- the peer book (pinpoint_net::peers::PeerBook is PeerBook<NodeId>) -----------------

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

const BACKOFF: Backoff = Backoff {
    base_ms: 100,
    max_ms: 1000,
};

/// Two tasks learn two addresses of the same new peer at once: both addresses are kept
/// (neither insert is lost to the other's creation of the entry).
#[test]
fn concurrent_inserts_of_a_new_peer_keep_both_addresses() {
    let peer: u8 = 1;
    loom::model(move || {
        let book = Arc::new(PeerBook::<u8>::new(8, BACKOFF));
        let other = {
            let book = Arc::clone(&book);
            thread::spawn(move || book.insert(peer, addr(2)))
        };
        assert!(book.insert(peer, addr(1)));
        assert!(other.join().expect("inserter"));
        let mut addrs = book.addrs(&peer);
        addrs.sort();
        assert_eq!(addrs, vec![addr(1), addr(2)]);
        assert_eq!(book.len(), 1);
    });
}

/// A book with room for one peer, two new peers inserted at once: exactly one gets in.
#[test]
fn the_bound_holds_under_concurrent_inserts() {
    let (a, b): (u8, u8) = (1, 2);
    loom::model(move || {
        let book = Arc::new(PeerBook::<u8>::new(1, BACKOFF));
        let other = {
            let book = Arc::clone(&book);
            thread::spawn(move || book.insert(b, addr(2)))
        };
        let mine = book.insert(a, addr(1));
        let theirs = other.join().expect("inserter");
        assert!(mine ^ theirs, "exactly one insert succeeds");
        assert_eq!(book.len(), 1);
        let winner = if mine { a } else { b };
        assert_eq!(book.ids(), vec![winner]);
    });
}

/// A failure and a success reported at once: the entry is one of the two serial outcomes,
/// never a mix (e.g. failures cleared but the backoff kept).
#[test]
fn failure_and_seen_race_to_a_serial_outcome() {
    let peer: u8 = 1;
    loom::model(move || {
        let book = Arc::new(PeerBook::<u8>::new(8, BACKOFF));
        assert!(book.insert(peer, addr(1)));
        let failer = {
            let book = Arc::clone(&book);
            thread::spawn(move || book.mark_failure(&peer, 1_000))
        };
        book.mark_seen(&peer, 2_000);
        assert_eq!(failer.join().expect("failer"), Some(100));
        let e = book.get(&peer).expect("entry");
        assert_eq!(e.last_seen_ms, Some(2_000));
        match e.failures {
            // failure, then seen
            0 => assert_eq!(e.next_attempt_ms, 2_000),
            // seen, then failure
            1 => assert_eq!(e.next_attempt_ms, 1_100),
            n => panic!("{n} failures after one"),
        }
        let due = book.due(2_000);
        assert_eq!(due.is_empty(), e.next_attempt_ms > 2_000);
    });
}

/// A removal races a backoff update and a read: the update applies only while the entry
/// exists, a read sees a whole entry or none, and the peer ends up gone.
#[test]
fn remove_races_backoff_and_get() {
    let peer: u8 = 1;
    loom::model(move || {
        let book = Arc::new(PeerBook::<u8>::new(8, BACKOFF));
        assert!(book.insert(peer, addr(1)));
        let worker = {
            let book = Arc::clone(&book);
            thread::spawn(move || {
                let delay = book.mark_failure(&peer, 500);
                (delay, book.get(&peer))
            })
        };
        let removed = book.remove(&peer).expect("present until removed");
        let (delay, seen) = worker.join().expect("worker");
        match delay {
            // The failure landed before the removal: the removed entry carries it.
            Some(d) => {
                assert_eq!(d, 100);
                assert_eq!((removed.failures, removed.next_attempt_ms), (1, 600));
            }
            None => assert_eq!(removed.failures, 0),
        }
        if let Some(e) = seen {
            assert_eq!(e, removed, "a read before the removal sees the whole entry");
        }
        assert!(book.get(&peer).is_none());
        assert!(book.is_empty());
    });
}
