//! Recycled tensor buffers. The data of a dropped large tensor is kept (up to
//! [`POOL_MAX_BYTES`]) and handed to the next output of the same length whose kernel writes
//! every element ([`for_overwrite`]), so that output costs no zeroing pass. `vec![0.0; n]`
//! on memory that the allocator reuses is a `memset` of the whole buffer: ~6% of a training
//! step's time on one thread, more on two, for buffers the kernels then overwrite.
//!
//! Only where a buffer lands changes, never a value: a buffer from [`for_overwrite`] holds
//! stale values (or, in builds with debug assertions, NaN), and its caller overwrites them
//! all before anything reads them. The tests run with debug assertions, so an element a
//! kernel forgot would show up as a NaN in the golden hashes at every thread count.

use std::collections::BTreeMap;
use std::sync::Mutex;

/// Buffers shorter than this (in f32 elements, 64 KiB) are left to the allocator: zeroing
/// them is cheap next to the work that fills them.
const POOL_MIN_LEN: usize = 16 * 1024;
/// Most bytes held in the pool at once (a training step of the example transformer at batch
/// 64 has 39 MB of node outputs).
const POOL_MAX_BYTES: usize = 64 << 20;

/// Kept buffers by length.
struct Pool {
    by_len: BTreeMap<usize, Vec<Vec<f32>>>,
    bytes: usize,
}

impl Pool {
    const fn new() -> Self {
        Self {
            by_len: BTreeMap::new(),
            bytes: 0,
        }
    }

    /// A kept buffer of exactly `len` elements, if any.
    fn take(&mut self, len: usize) -> Option<Vec<f32>> {
        let kept = self.by_len.get_mut(&len)?;
        let v = kept.pop()?;
        if kept.is_empty() {
            self.by_len.remove(&len);
        }
        self.bytes -= v.capacity() * std::mem::size_of::<f32>();
        Some(v)
    }

    /// Keeps `data` if it is large enough and there is room; else drops it.
    fn keep(&mut self, data: Vec<f32>) {
        let bytes = data.capacity() * std::mem::size_of::<f32>();
        if data.len() >= POOL_MIN_LEN && self.bytes + bytes <= POOL_MAX_BYTES {
            self.bytes += bytes;
            self.by_len.entry(data.len()).or_default().push(data);
        }
    }
}

static POOL: Mutex<Pool> = Mutex::new(Pool::new());

fn pool() -> std::sync::MutexGuard<'static, Pool> {
    // A panic while holding the lock cannot leave the pool inconsistent in a way that
    // matters: at worst a buffer is missing from the byte count.
    POOL.lock().unwrap_or_else(|e| e.into_inner())
}

/// A buffer of `len` elements for an output whose kernel writes every element before any is
/// read. Its contents are unspecified: a kept buffer's stale values (NaN where debug
/// assertions are on), or zeros when none is kept.
pub(crate) fn for_overwrite(len: usize) -> Vec<f32> {
    if len < POOL_MIN_LEN {
        return vec![0.0; len];
    }
    let kept = pool().take(len);
    match kept {
        Some(mut v) => {
            debug_assert_eq!(v.len(), len, "invariant: kept under its length");
            if cfg!(debug_assertions) {
                v.fill(f32::NAN);
            }
            v
        }
        None => vec![0.0; len],
    }
}

/// Keeps `data` (a dropped tensor's buffer) for a later [`for_overwrite`] of its length, if
/// it is large enough and the pool has room; else frees it.
pub(crate) fn recycle(data: Vec<f32>) {
    if data.len() >= POOL_MIN_LEN {
        pool().keep(data);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_buffers_are_handed_out_by_length_and_small_ones_are_not_kept() {
        let mut pool = Pool::new();
        let v = vec![1.5f32; POOL_MIN_LEN + 3];
        let ptr = v.as_ptr();
        pool.keep(v);
        assert!(
            pool.take(POOL_MIN_LEN + 4).is_none(),
            "lengths match exactly"
        );
        let w = pool.take(POOL_MIN_LEN + 3).expect("kept");
        assert_eq!(w.as_ptr(), ptr, "the same allocation");
        assert_eq!(pool.bytes, 0);
        pool.keep(vec![2.0f32; 8]);
        assert!(pool.by_len.is_empty());
    }

    #[test]
    fn the_pool_stays_bounded() {
        let mut pool = Pool::new();
        let len = POOL_MAX_BYTES / std::mem::size_of::<f32>() / 2 + 7;
        for _ in 0..3 {
            pool.keep(vec![0.0f32; len]);
        }
        assert_eq!(pool.by_len[&len].len(), 1);
        assert!(pool.bytes <= POOL_MAX_BYTES);
    }

    #[test]
    fn for_overwrite_gives_the_length_asked_for() {
        for len in [0, 5, POOL_MIN_LEN, POOL_MIN_LEN + 1] {
            recycle(vec![3.0; len]);
            let v = for_overwrite(len);
            assert_eq!(v.len(), len);
            if cfg!(debug_assertions) && len >= POOL_MIN_LEN {
                assert!(
                    v.iter().all(|x| *x == 0.0 || x.is_nan()),
                    "zeros or poisoned"
                );
            }
        }
    }
}
