//! [`CacheAligned`]: a global allocator that starts every large allocation on a cache line.
//!
//! The kernels read and write tensors in 64-byte vectors. The system allocator aligns to 16
//! bytes only, and large blocks it maps from the OS start 16 bytes past a page boundary, so
//! every such vector of a tensor's data straddles two cache lines: each load touches two
//! lines and each store dirties two. A GEMM of n = 1024 ran 2–4% slower with its output
//! 16 bytes off a line (docs/benchmarks.md). libtorch's allocator aligns its tensors to 64
//! bytes; the `pinpoint` binary and the benches install this one to do the same:
//!
//! ```ignore
//! #[global_allocator]
//! static ALLOC: pinpoint_kernels::alloc::CacheAligned = pinpoint_kernels::alloc::CacheAligned;
//! ```
//!
//! Allocations of [`ALIGNED_MIN_BYTES`] or more (whose layout asks less than a cache line)
//! take [`CACHE_LINE`] more bytes from [`System`] and start at the first line boundary past
//! an 8-byte header that records the distance back to the block's start under a tag (a
//! pointer freed without it aborts the process). Everything else goes to [`System`]
//! unchanged. Blocks come from the system's plain `malloc`, `calloc` and `realloc`, so zeroed
//! allocations still get the OS's zero pages and a growing buffer can still be moved without
//! a copy. Alignment changes where data lands, never a value.

use std::alloc::{GlobalAlloc, Layout, System};

/// Bytes of a cache line (x86-64, and the vector width of AVX-512).
pub const CACHE_LINE: usize = 64;

/// Allocations of at least this many bytes start on a cache line (smaller ones are few
/// vectors long, and padding each with a line would waste more than it saves).
pub const ALIGNED_MIN_BYTES: usize = 4096;

/// Size of the header in front of an aligned allocation (a tag and the offset back to its
/// block).
const HEADER: usize = std::mem::size_of::<usize>();

/// The global allocator of the `pinpoint` binary and benches: [`System`], with allocations
/// of [`ALIGNED_MIN_BYTES`] or more starting on a [`CACHE_LINE`] boundary (module docs).
#[derive(Debug, Clone, Copy, Default)]
pub struct CacheAligned;

/// Whether an allocation of `layout` is placed on a cache line by this allocator.
fn lined(layout: Layout) -> bool {
    layout.size() >= ALIGNED_MIN_BYTES && layout.align() < CACHE_LINE
}

/// The layout asked of [`System`] for a lined allocation of `size` bytes: room for the
/// header, the padding up to the line and the data. `None` when that overflows.
fn block(size: usize) -> Option<Layout> {
    Layout::from_size_align(size.checked_add(CACHE_LINE)?, HEADER).ok()
}

/// Places a lined allocation in the block at `base` (from [`System`], `block(size)`
/// bytes): returns the first line boundary at least [`HEADER`] bytes in, with the offset back
/// to `base` written just before it.
///
/// # Safety
/// `base` must be non-null, `HEADER`-aligned and valid for writes of `block(size)` bytes.
unsafe fn place(base: *mut u8) -> *mut u8 {
    // `base` is HEADER-aligned, so the offset is a multiple of HEADER in HEADER..=CACHE_LINE:
    // the header fits in front, and `size` bytes from the result stay in the block.
    let off = CACHE_LINE - (base as usize) % CACHE_LINE;
    debug_assert!(
        (HEADER..=CACHE_LINE).contains(&off),
        "invariant: room for the header"
    );
    // SAFETY: `off ≤ CACHE_LINE` lies within the block (the caller's contract), and the
    // header's `HEADER` bytes before it lie at or after `base`, aligned for a `usize`.
    unsafe {
        let ptr = base.add(off);
        ptr.sub(HEADER).cast::<usize>().write(HEADER_TAG | off);
        ptr
    }
}

/// The offset from a lined allocation back to its block's start. A header without
/// [`HEADER_TAG`] or with an impossible offset means the pointer was not placed here, or is
/// freed under another size than it was allocated with (undefined behaviour in the caller):
/// the process aborts rather than hand `System` a pointer it never returned.
///
/// # Safety
/// `ptr` must have been returned by [`place`] (its header intact: it lies outside the data).
unsafe fn offset_of(ptr: *mut u8) -> usize {
    // SAFETY: `place` wrote a `usize` just before `ptr`.
    let header = unsafe { ptr.sub(HEADER).cast::<usize>().read() };
    match decode_header(header) {
        Some(off) => off,
        // No panic: unwinding may allocate, and this allocator's state is not to be trusted.
        None => std::process::abort(),
    }
}

/// The offset a header written by [`place`] holds, or `None` for anything else.
fn decode_header(header: usize) -> Option<usize> {
    let off = header & 0xffff;
    (header & !0xffff == HEADER_TAG && (HEADER..=CACHE_LINE).contains(&off)).then_some(off)
}

/// The bits above the offset (the low 16) of every header: a check that a pointer freed as
/// lined was allocated as lined.
const HEADER_TAG: usize = 0x7069 << 16;

/// An allocation of `layout` from `get` (`System`'s `alloc` or `alloc_zeroed`): unchanged
/// when it is not lined, else a `block` placed on a line.
///
/// # Safety
/// `layout` must have a non-zero size; `get` must return null or a block valid for the
/// layout it is given, aligned to it.
unsafe fn take(layout: Layout, get: impl FnOnce(Layout) -> *mut u8) -> *mut u8 {
    if !lined(layout) {
        return get(layout);
    }
    let Some(outer) = block(layout.size()) else {
        return std::ptr::null_mut();
    };
    let base = get(outer);
    if base.is_null() {
        base
    } else {
        // SAFETY: a non-null block of `block(size)` bytes, aligned to `HEADER`.
        unsafe { place(base) }
    }
}

// SAFETY: every block comes from `System` and goes back to it with the layout it was taken
// with: `lined` is a function of the caller's layout, which `GlobalAlloc`'s contract makes
// the same at allocation and deallocation, and `block` of its size is the layout taken.
// Lined allocations are at least `size` bytes, aligned to `CACHE_LINE` (a multiple of any
// alignment below it), and disjoint as their blocks are.
unsafe impl GlobalAlloc for CacheAligned {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's layout has a non-zero size; `System.alloc` returns null or a
        // block valid for the layout it is given.
        unsafe { take(layout, |l| System.alloc(l)) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as in `alloc`; the header lies before the data, which stays zero.
        unsafe { take(layout, |l| System.alloc_zeroed(l)) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if !lined(layout) {
            // SAFETY: allocated by `System` with this layout (see `alloc`).
            return unsafe { System.dealloc(ptr, layout) };
        }
        // SAFETY: a lined allocation of this size (the caller's contract): its block starts
        // `offset_of(ptr)` bytes before it and was taken with `block(size)`, which was `Some`.
        // (`block` cannot fail here: the allocation would have failed.)
        unsafe {
            let outer = block(layout.size()).unwrap_or(layout);
            System.dealloc(ptr.sub(offset_of(ptr)), outer);
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `new_size` with the old alignment is a valid layout (the caller's contract).
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        match (lined(layout), lined(new_layout)) {
            // SAFETY: an unlined allocation of `System`, which stays unlined.
            (false, false) => unsafe { System.realloc(ptr, layout, new_size) },
            (true, true) => {
                let (Some(old_block), Some(_)) = (block(layout.size()), block(new_size)) else {
                    return std::ptr::null_mut();
                };
                // SAFETY: the block of a lined allocation (see `dealloc`), resized by
                // `System` (on failure the old one is left as it was); the data moved with
                // it to the old offset, and is moved (overlapping copy) to the new one.
                unsafe {
                    let off = offset_of(ptr);
                    let base = System.realloc(ptr.sub(off), old_block, new_size + CACHE_LINE);
                    if base.is_null() {
                        return base;
                    }
                    let new_off = CACHE_LINE - (base as usize) % CACHE_LINE;
                    if new_off != off {
                        let keep = layout.size().min(new_size);
                        std::ptr::copy(base.add(off), base.add(new_off), keep);
                    }
                    place(base)
                }
            }
            // Crossing the threshold: a fresh allocation of the other kind, then a copy.
            _ => {
                // SAFETY: `new_layout` has a non-zero size (the caller's contract); both
                // allocations are valid for the bytes copied and do not overlap; the old one
                // is freed with its own layout.
                unsafe {
                    let new = self.alloc(new_layout);
                    if !new.is_null() {
                        std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                        self.dealloc(ptr, layout);
                    }
                    new
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Allocates `size` bytes (zeroed or not) with `CacheAligned`, checks placement.
    fn allocate(size: usize, zeroed: bool) -> (*mut u8, Layout) {
        let layout = Layout::from_size_align(size, 4).expect("layout");
        // SAFETY: non-zero size.
        let ptr = unsafe {
            if zeroed {
                CacheAligned.alloc_zeroed(layout)
            } else {
                CacheAligned.alloc(layout)
            }
        };
        assert!(!ptr.is_null());
        if size >= ALIGNED_MIN_BYTES {
            assert_eq!(ptr as usize % CACHE_LINE, 0, "{size} bytes start on a line");
        }
        (ptr, layout)
    }

    fn fill(ptr: *mut u8, size: usize, seed: u8) {
        for i in 0..size {
            // SAFETY: `ptr` is valid for `size` bytes.
            unsafe {
                ptr.add(i)
                    .write((i as u8).wrapping_mul(31).wrapping_add(seed))
            };
        }
    }

    fn holds(ptr: *const u8, size: usize, seed: u8) -> bool {
        // SAFETY: `ptr` is valid for `size` initialized bytes.
        (0..size).all(|i| unsafe { *ptr.add(i) } == (i as u8).wrapping_mul(31).wrapping_add(seed))
    }

    #[test]
    fn large_allocations_start_on_a_line_and_small_ones_pass_through() {
        let mut live = Vec::new();
        for (k, size) in [8, 100, 4095, 4096, 4100, 65_536 + 12, 1 << 20, 3 << 20]
            .into_iter()
            .enumerate()
        {
            let (ptr, layout) = allocate(size, false);
            fill(ptr, size, k as u8);
            live.push((ptr, layout, k as u8));
        }
        // Every block keeps its bytes while the others are live (no overlap, no header
        // written into another's data).
        for &(ptr, layout, seed) in &live {
            assert!(holds(ptr, layout.size(), seed));
        }
        for (ptr, layout, _) in live {
            // SAFETY: allocated above with this layout.
            unsafe { CacheAligned.dealloc(ptr, layout) };
        }
    }

    #[test]
    fn zeroed_allocations_are_zero() {
        for size in [64, 4096, 1 << 20] {
            let (ptr, layout) = allocate(size, true);
            // SAFETY: `size` zeroed bytes.
            assert!((0..size).all(|i| unsafe { *ptr.add(i) } == 0));
            // SAFETY: allocated above with this layout.
            unsafe { CacheAligned.dealloc(ptr, layout) };
        }
    }

    #[test]
    fn realloc_keeps_the_data_and_the_line_across_sizes() {
        // Growing and shrinking within each kind and across the threshold, both ways.
        let sizes = [
            100,
            5000,
            1 << 20,
            (1 << 20) + 4,
            3000,
            8192,
            200,
            4096,
            4095,
            6 << 20,
            64,
        ];
        let (mut ptr, mut layout) = allocate(sizes[0], false);
        fill(ptr, sizes[0], 7);
        for w in sizes.windows(2) {
            let (old, new) = (w[0], w[1]);
            // SAFETY: `ptr` was allocated with `layout`; `new` is non-zero.
            ptr = unsafe { CacheAligned.realloc(ptr, layout, new) };
            assert!(!ptr.is_null());
            layout = Layout::from_size_align(new, 4).expect("layout");
            if new >= ALIGNED_MIN_BYTES {
                assert_eq!(ptr as usize % CACHE_LINE, 0, "{old} → {new} bytes");
            }
            assert!(
                holds(ptr, old.min(new), 7),
                "{old} → {new} bytes kept the data"
            );
            fill(ptr, new, 7);
        }
        // SAFETY: allocated with `layout`.
        unsafe { CacheAligned.dealloc(ptr, layout) };
    }

    #[test]
    fn random_allocations_keep_their_bytes_on_several_threads() {
        // Allocations, zeroed allocations, reallocations (growing and shrinking, within and
        // across the threshold) and frees in a seeded random order, each block filled with
        // its own pattern and checked before every change: a misplaced header or a wrong
        // block freed would show up as another block's bytes.
        let run = |seed: u64| {
            let mut x = seed;
            let mut next = move |n: u64| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x % n
            };
            let mut live: Vec<(*mut u8, Layout, u8)> = Vec::new();
            for step in 0..3000u64 {
                let size = match next(4) {
                    0 => 1 + next(4095) as usize,
                    1 => ALIGNED_MIN_BYTES - 64 + next(128) as usize,
                    2 => ALIGNED_MIN_BYTES + next(60_000) as usize,
                    _ => 1 + next(300_000) as usize,
                };
                let seed = step as u8;
                match next(3) {
                    0 if !live.is_empty() => {
                        let (ptr, layout, s) = live.swap_remove(next(live.len() as u64) as usize);
                        assert!(holds(ptr, layout.size(), s));
                        // SAFETY: allocated with `layout`, not freed before.
                        let new = unsafe { CacheAligned.realloc(ptr, layout, size) };
                        assert!(!new.is_null());
                        assert!(holds(new, layout.size().min(size), s));
                        if size >= ALIGNED_MIN_BYTES {
                            assert_eq!(new as usize % CACHE_LINE, 0);
                        }
                        fill(new, size, seed);
                        live.push((new, Layout::from_size_align(size, 4).expect("layout"), seed));
                    }
                    1 if !live.is_empty() => {
                        let (ptr, layout, s) = live.swap_remove(next(live.len() as u64) as usize);
                        assert!(holds(ptr, layout.size(), s));
                        // SAFETY: allocated with `layout`, not freed before.
                        unsafe { CacheAligned.dealloc(ptr, layout) };
                    }
                    _ => {
                        let (ptr, layout) = allocate(size, next(2) == 0);
                        fill(ptr, size, seed);
                        live.push((ptr, layout, seed));
                    }
                }
            }
            for (ptr, layout, s) in live {
                assert!(holds(ptr, layout.size(), s));
                // SAFETY: allocated with `layout`, not freed before.
                unsafe { CacheAligned.dealloc(ptr, layout) };
            }
        };
        std::thread::scope(|scope| {
            for seed in 1..=4u64 {
                scope.spawn(move || run(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15)));
            }
        });
    }

    #[test]
    fn only_headers_written_here_decode() {
        for off in [8, 16, 32, 48, 64] {
            assert_eq!(decode_header(HEADER_TAG | off), Some(off));
        }
        // What lies before a pointer `malloc` returned (its chunk size with flag bits), an
        // offset past the line, no offset, and a tag with a flipped bit.
        for header in [
            0x1011,
            4096 + 64 + 17,
            HEADER_TAG | 65,
            HEADER_TAG,
            HEADER_TAG ^ (1 << 20) | 16,
        ] {
            assert_eq!(decode_header(header), None, "{header:#x}");
        }
    }

    #[test]
    fn alignments_of_a_line_or_more_are_the_systems() {
        let layout = Layout::from_size_align(1 << 16, 4096).expect("layout");
        assert!(!lined(layout));
        // SAFETY: non-zero size.
        let ptr = unsafe { CacheAligned.alloc(layout) };
        assert_eq!(ptr as usize % 4096, 0);
        // SAFETY: allocated above with this layout.
        unsafe { CacheAligned.dealloc(ptr, layout) };
    }

    #[test]
    fn impossible_sizes_fail_instead_of_wrapping() {
        assert!(block(usize::MAX - 10).is_none());
        let layout = Layout::from_size_align(isize::MAX as usize - 8, 4).expect("layout");
        // SAFETY: a valid layout; the allocation fails cleanly.
        assert!(unsafe { CacheAligned.alloc(layout) }.is_null());
    }
}
