//! Canonical reductions: one summation order, fixed by [`REDUCE_BLOCK`], on every machine.
//!
//! The order (docs/numerics.md, "Reductions"): split the `n` terms into blocks of
//! [`REDUCE_BLOCK`]; each block sum starts at `+0.0` and adds its terms in ascending index
//! order; the total starts at the first block's sum and adds the others in ascending order.
//! The empty sum is `+0.0`. Parallel code splits over *outputs*, never inside one sum.

/// Terms per block in every canonical reduction (sum, mean, sum of squares, dot products in
/// norms and losses). GEMM's K-block is [`crate::gemm::GEMM_K_BLOCK`].
pub const REDUCE_BLOCK: usize = 256;

/// Canonical sum of `term(0) … term(n-1)`.
#[inline(always)]
pub fn canonical_sum(n: usize, term: impl Fn(usize) -> f32) -> f32 {
    let mut total = 0.0f32;
    let mut start = 0usize;
    while start < n {
        let end = (start + REDUCE_BLOCK).min(n);
        let mut block = 0.0f32;
        for i in start..end {
            block += term(i);
        }
        total = if start == 0 { block } else { total + block };
        start = end;
    }
    total
}

/// Canonical sum of a slice.
#[inline]
pub fn canonical_sum_slice(xs: &[f32]) -> f32 {
    canonical_sum(xs.len(), |i| xs[i])
}

/// Canonical sum of products `a(i)·b(i)`, each block accumulated with explicit fma:
/// `block = fma(a(i), b(i), block)`, blocks combined as in [`canonical_sum`].
#[inline(always)]
pub fn canonical_dot(n: usize, a: impl Fn(usize) -> f32, b: impl Fn(usize) -> f32) -> f32 {
    let mut total = 0.0f32;
    let mut start = 0usize;
    while start < n {
        let end = (start + REDUCE_BLOCK).min(n);
        let mut block = 0.0f32;
        for i in start..end {
            block = a(i).mul_add(b(i), block);
        }
        total = if start == 0 { block } else { total + block };
        start = end;
    }
    total
}

/// Rows interleaved by the row ops (layer norm, softmax): [`canonical_sums`] and
/// [`canonical_dots`] of this many rows at once keep as many independent accumulators busy.
pub(crate) const INTERLEAVE: usize = 8;

/// `R` canonical sums at once: element `r` is exactly [`canonical_sum`]`(n, |i| term(r, i))`.
///
/// Each sum has its own accumulator and the same sequence of additions; interleaving them
/// only removes the wait on one long dependency chain (a canonical sum of a short row is
/// latency-bound: every `+` waits for the previous one).
#[inline(always)]
pub(crate) fn canonical_sums<const R: usize>(
    n: usize,
    term: impl Fn(usize, usize) -> f32,
) -> [f32; R] {
    canonical_blocks(n, |r, i, acc| acc + term(r, i))
}

/// `R` canonical dot products at once: element `r` is exactly
/// [`canonical_dot`]`(n, |i| a(r, i), |i| b(r, i))` (see [`canonical_sums`]).
#[inline(always)]
pub(crate) fn canonical_dots<const R: usize>(
    n: usize,
    a: impl Fn(usize, usize) -> f32,
    b: impl Fn(usize, usize) -> f32,
) -> [f32; R] {
    canonical_blocks(n, |r, i, acc| a(r, i).mul_add(b(r, i), acc))
}

/// The blocked order shared by [`canonical_sums`] and [`canonical_dots`]: for each of `R`
/// accumulators, blocks of [`REDUCE_BLOCK`] terms folded with `step(r, i, acc)` from `+0.0`,
/// the block results added in ascending order.
#[inline(always)]
fn canonical_blocks<const R: usize>(n: usize, step: impl Fn(usize, usize, f32) -> f32) -> [f32; R] {
    let mut total = [0.0f32; R];
    let mut start = 0usize;
    while start < n {
        let end = (start + REDUCE_BLOCK).min(n);
        let mut block = [0.0f32; R];
        for i in start..end {
            for (r, b) in block.iter_mut().enumerate() {
                *b = step(r, i, *b);
            }
        }
        if start == 0 {
            total = block;
        } else {
            for (t, b) in total.iter_mut().zip(block) {
                *t += b;
            }
        }
        start = end;
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_is_blocked() {
        // 1e8 followed by many ones: a naive sequential sum loses the ones, the blocked sum
        // keeps the ones of later blocks together.
        let n = 3 * REDUCE_BLOCK;
        let xs: Vec<f32> = (0..n).map(|i| if i == 0 { 1e8 } else { 1.0 }).collect();
        let naive: f32 = xs.iter().fold(0.0, |a, &b| a + b);
        let canon = canonical_sum_slice(&xs);
        // block 0 rounds back to 1e8 (ulp 8); blocks 1 and 2 are exact.
        let expect = (1e8f32 + REDUCE_BLOCK as f32) + REDUCE_BLOCK as f32;
        assert_eq!(naive, 1e8);
        assert_eq!(canon, expect);
    }

    #[test]
    fn empty_sum_is_positive_zero() {
        assert_eq!(canonical_sum_slice(&[]).to_bits(), 0);
    }

    #[test]
    fn interleaved_sums_and_dots_are_the_single_ones() {
        for n in [1usize, 7, 64, 255, 256, 257, 1023] {
            let t = |r: usize, i: usize| {
                let v = ((r * 7919 + i * 104_729) % 10_007) as f32 / 977.0 - 5.0;
                if i == 0 && r.is_multiple_of(2) {
                    -0.0
                } else {
                    v * (1.0 + r as f32 * 1e-3)
                }
            };
            let u = |r: usize, i: usize| t(r + 3, i + 1);
            let sums = canonical_sums::<INTERLEAVE>(n, t);
            let dots = canonical_dots::<INTERLEAVE>(n, t, u);
            for r in 0..INTERLEAVE {
                assert_eq!(sums[r].to_bits(), canonical_sum(n, |i| t(r, i)).to_bits());
                let d = canonical_dot(n, |i| t(r, i), |i| u(r, i));
                assert_eq!(dots[r].to_bits(), d.to_bits());
            }
        }
    }
}
