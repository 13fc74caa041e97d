//! A tiny frame that claims a huge vector must not make the decoder allocate much.
//!
//! A counting global allocator records the largest single allocation made by the current thread.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// Dev-dependencies are shared by every test, bench and example target; each uses some.
#![allow(unused_crate_dependencies)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::BTreeMap;

use pinpoint_protocol::ProtocolError;
use pinpoint_protocol::codec::{BoundedVec, Limits, decode};

struct Counting;

thread_local! {
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

fn note(size: usize) {
    let _ = LARGEST.try_with(|c| c.set(c.get().max(size)));
}

// SAFETY: every call forwards to `System` with the same arguments; the bookkeeping only touches a
// const-initialized thread-local `Cell`, which never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: same contract as ours.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Largest single allocation made by `f` on this thread.
fn largest_allocation(f: impl FnOnce()) -> usize {
    LARGEST.with(|c| c.set(0));
    f();
    LARGEST.with(|c| c.get())
}

const CLAIM: [u8; 4] = [0xff, 0xff, 0xff, 0xff];

fn rejected<T: std::fmt::Debug>(r: Result<T, ProtocolError>) {
    assert!(matches!(r, Err(ProtocolError::Malformed { .. })), "{r:?}");
}

#[test]
fn vec_of_structs_claiming_4g_elements_allocates_at_most_4_kib() {
    let limits = Limits::default();
    let n = largest_allocation(|| rejected(decode::<Vec<[u64; 4]>>(&CLAIM, &limits)));
    assert!(n <= 4096, "{n}");
    let n = largest_allocation(|| rejected(decode::<Vec<u64>>(&CLAIM, &limits)));
    assert!(n <= 4096, "{n}");
    let n = largest_allocation(|| rejected(decode::<BTreeMap<u64, u64>>(&CLAIM, &limits)));
    assert!(n <= 4096, "{n}");
}

#[test]
fn byte_vec_claiming_4g_allocates_at_most_1_mib() {
    // borsh reads `Vec<u8>` in chunks, starting with a 1 MiB buffer.
    let limits = Limits::default();
    let n = largest_allocation(|| rejected(decode::<Vec<u8>>(&CLAIM, &limits)));
    assert!(n <= 1 << 20, "{n}");
    let n = largest_allocation(|| rejected(decode::<String>(&CLAIM, &limits)));
    assert!(n <= 1 << 20, "{n}");
}

#[test]
fn bounded_vec_refuses_before_allocating() {
    let limits = Limits::default();
    let n = largest_allocation(|| rejected(decode::<BoundedVec<u8, 64>>(&CLAIM, &limits)));
    // Only the error message is allocated.
    assert!(n < 256, "{n}");
}
