//! The OpenBLAS baseline (feature `openblas`): `cblas_sgemm` of the `scipy-openblas32` wheel
//! from PyPI (OpenBLAS built with `DYNAMIC_ARCH`, its symbols prefixed `scipy_`), the library
//! the GEMM target of issue 17 was first measured against (its AVX-512 SkylakeX kernel on the
//! project's machine).
//!
//! `scripts/bench-torch` installs the pinned wheel beside PyTorch and sets
//! `PINPOINT_OPENBLAS_LIB` to its library directory; `build.rs` links it from there with an
//! rpath. OpenBLAS is not reproducible across thread counts or CPUs: a speed reference, never a
//! source of hashes.

use std::ffi::{CStr, c_char, c_float, c_int};

/// `CblasRowMajor` of `cblas.h`.
const ROW_MAJOR: c_int = 101;
/// `CblasNoTrans` of `cblas.h`.
const NO_TRANS: c_int = 111;

#[link(name = "scipy_openblas")]
unsafe extern "C" {
    #[link_name = "scipy_cblas_sgemm"]
    fn cblas_sgemm(
        order: c_int,
        trans_a: c_int,
        trans_b: c_int,
        m: c_int,
        n: c_int,
        k: c_int,
        alpha: c_float,
        a: *const c_float,
        lda: c_int,
        b: *const c_float,
        ldb: c_int,
        beta: c_float,
        c: *mut c_float,
        ldc: c_int,
    );
    #[link_name = "scipy_openblas_set_num_threads"]
    fn openblas_set_num_threads(threads: c_int);
    #[link_name = "scipy_openblas_get_config"]
    fn openblas_get_config() -> *const c_char;
    #[link_name = "scipy_openblas_get_corename"]
    fn openblas_get_corename() -> *const c_char;
}

/// Sets OpenBLAS's thread count (its own pthreads pool).
pub(crate) fn set_threads(threads: usize) {
    // SAFETY: OpenBLAS clamps the count to its pool's maximum; no other call is in flight
    // (the benchmark runs one implementation at a time on this thread).
    unsafe { openblas_set_num_threads(c_int::try_from(threads).unwrap_or(c_int::MAX)) }
}

/// OpenBLAS's build configuration and the kernel set it chose for this CPU, e.g.
/// `OpenBLAS 0.3.34 DYNAMIC_ARCH NO_AFFINITY SkylakeX MAX_THREADS=64 (core SkylakeX)`.
pub(crate) fn describe() -> String {
    // SAFETY: both return pointers to static NUL-terminated strings inside the library.
    let text = |p: *const c_char| {
        if p.is_null() {
            "?".to_string()
        } else {
            unsafe { CStr::from_ptr(p) }
                .to_string_lossy()
                .trim()
                .to_string()
        }
    };
    // SAFETY: no arguments; see above for the results.
    let (config, core) = unsafe { (openblas_get_config(), openblas_get_corename()) };
    format!("{} (core {})", text(config), text(core))
}

/// One `C = A·B` case (row-major, no transposes, β = 0) with its own copies of the operands.
pub(crate) struct BlasGemm {
    a: Vec<f32>,
    b: Vec<f32>,
    c: Vec<f32>,
    dims: [c_int; 3],
}

impl BlasGemm {
    /// Copies `a` (`m×k`) and `b` (`k×n`).
    ///
    /// # Panics
    /// If a dimension does not fit OpenBLAS's 32-bit integers or the slices are too short.
    pub(crate) fn new(a: &[f32], b: &[f32], m: usize, k: usize, n: usize) -> Self {
        assert!(
            a.len() >= m * k && b.len() >= k * n,
            "operands shorter than their shapes"
        );
        let dim = |d: usize| c_int::try_from(d).expect("dimension fits a 32-bit BLAS");
        Self {
            a: a[..m * k].to_vec(),
            b: b[..k * n].to_vec(),
            c: vec![0.0; m * n],
            dims: [dim(m), dim(k), dim(n)],
        }
    }

    /// `C = A·B` into the preallocated output.
    pub(crate) fn run(&mut self) {
        let [m, k, n] = self.dims;
        // SAFETY: row-major A (m×k, lda = k), B (k×n, ldb = n) and C (m×n, ldc = n) are
        // owned buffers of exactly those sizes (checked in `new`); β = 0, so C's old contents
        // are not read.
        unsafe {
            cblas_sgemm(
                ROW_MAJOR,
                NO_TRANS,
                NO_TRANS,
                m,
                n,
                k,
                1.0,
                self.a.as_ptr(),
                k,
                self.b.as_ptr(),
                n,
                0.0,
                self.c.as_mut_ptr(),
                n,
            );
        }
        std::hint::black_box(&mut self.c);
    }

    /// The last product.
    pub(crate) fn output(&self) -> &[f32] {
        &self.c
    }
}
