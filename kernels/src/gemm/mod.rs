//! GEMM with the canonical blocked-fma order (placeholder module: being written).

/// Terms of K per block in every GEMM: each block is accumulated with fma in ascending `k`
/// from `+0.0`, block sums are added in ascending order (docs/numerics.md, "GEMM").
pub const GEMM_K_BLOCK: usize = 256;
