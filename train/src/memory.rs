//! The process's allocator settings for training: freed tensor memory is kept for reuse.
//!
//! A training step allocates and frees the same large tensors every step (tens of MB at batch
//! 64). With glibc's defaults, buffers above the mmap threshold are fresh `mmap`s and the top
//! of the heap is trimmed on free, so every step faults its pages in again and the kernel
//! zeroes them (page faults, page clearing and cgroup accounting on the main thread).
//! [`retain_freed_memory`] keeps those pages in the process instead. Binaries call it first
//! thing in `main` (the `pinpoint` CLI and the benches); it changes no result, only where
//! memory comes from. Measured with `cargo bench --bench train_step`: a two-thread step at
//! batch 64 took 9.6–9.9 ms with these settings against 11.0–12.1 ms without (one thread:
//! about 2% faster).

/// Largest allocation served from the heap instead of its own `mmap` (glibc's ceiling for
/// this setting on 64-bit).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: usize = 32 << 20;
/// Free memory at the top of the heap kept instead of returned to the system.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const TRIM_THRESHOLD: usize = 512 << 20;

/// Tells the C allocator to keep freed memory (up to 512 MiB at the top of the heap) and to
/// serve allocations up to 32 MiB from the heap. Returns whether the settings took effect
/// (`false` on other allocators and platforms, where nothing changes). Call it before other
/// threads start.
pub fn retain_freed_memory() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let to_int = |v: usize| libc::c_int::try_from(v).unwrap_or(libc::c_int::MAX);
        // SAFETY: `mallopt` only changes glibc's allocator parameters; it is called with
        // documented parameters and in-range values.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, to_int(MMAP_THRESHOLD)) == 1
                && libc::mallopt(libc::M_TRIM_THRESHOLD, to_int(TRIM_THRESHOLD)) == 1
        }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_effect_on_glibc() {
        let applied = retain_freed_memory();
        assert_eq!(applied, cfg!(all(target_os = "linux", target_env = "gnu")));
        // Allocation still works after the change.
        let v = vec![1.0f32; 1 << 20];
        assert_eq!(v.iter().sum::<f32>(), (1 << 20) as f32);
    }
}
