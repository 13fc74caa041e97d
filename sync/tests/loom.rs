//! loom models of the primitives (run with `scripts/loom`; without `--cfg loom` this file is
//! empty).
// Dev-dependencies are shared by every test, bench and example target; each uses some.
#![allow(unused_crate_dependencies)]
#![cfg(loom)]

use loom::sync::Arc;
use loom::sync::atomic::Ordering;
use loom::thread;
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
