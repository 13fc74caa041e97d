//! GEMM with the canonical blocked-fma order, AVX-512, AVX2+FMA or portable, over any thread
//! count.
//!
//! `C[i,j] = Σ_k A[i,k]·B[k,j]`: K is split into blocks of [`GEMM_K_BLOCK`]; each block sum
//! starts at `+0.0` and accumulates `fma(a_ik, b_kj, acc)` for `k` ascending; `C` is the first
//! block sum plus the later block sums in ascending order (docs/numerics.md §6). This is the
//! BLIS loop structure with `KC = GEMM_K_BLOCK`, so packing, register tiling, SIMD across
//! `i`/`j` and threading over rows of C never change an element's sequence of operations.
//!
//! - [`sgemm`] on slices with [`MatRef`] views (transposes are read in place);
//! - [`matmul`], [`matmul_tn`] (`Aᵀ·B`), [`matmul_nt`] (`A·Bᵀ`) on rank-2 tensors;
//! - [`bmm`], [`bmm_tn`], [`bmm_nt`] on rank-3 tensors with a leading batch dimension;
//! - [`matmul_backward`], [`bmm_backward`].

mod c_parts;
mod driver;
mod matref;
mod micro;
mod pack;
#[cfg(test)]
mod tests;

pub use driver::sgemm;
pub use matref::MatRef;

use crate::cpu::Cpu;
use crate::error::{KernelError, Result};
use crate::tensor::Tensor;

/// Terms of K per block in every GEMM: each block is accumulated with fma in ascending `k`
/// from `+0.0`, block sums are added in ascending order (docs/numerics.md, "GEMM").
pub const GEMM_K_BLOCK: usize = 256;

/// Whether an operand is read as stored or transposed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    N,
    T,
}

/// `(rows, cols)` of the logical operand for a stored `[r, c]` matrix.
fn logical(shape: (usize, usize), op: Op) -> (usize, usize) {
    match op {
        Op::N => shape,
        Op::T => (shape.1, shape.0),
    }
}

fn view<'a>(data: &'a [f32], shape: (usize, usize), op: Op) -> Result<MatRef<'a>> {
    let v = MatRef::new(data, shape.0, shape.1)?;
    Ok(match op {
        Op::N => v,
        Op::T => v.t(),
    })
}

fn check_rank(op: &'static str, what: &str, t: &Tensor, rank: usize) -> Result<()> {
    t.require_nonempty(op)?;
    if t.rank() != rank {
        return Err(KernelError::ShapeMismatch {
            op,
            detail: format!("{what} must have rank {rank}, got shape {:?}", t.shape()),
        });
    }
    Ok(())
}

/// Shared checks and output shape of a (batched) product: returns `(batch, m, n, k)`.
fn plan(
    name: &'static str,
    a: &Tensor,
    b: &Tensor,
    ta: Op,
    tb: Op,
    batched: bool,
) -> Result<(usize, usize, usize, usize)> {
    let rank = if batched { 3 } else { 2 };
    check_rank(name, "a", a, rank)?;
    check_rank(name, "b", b, rank)?;
    let (sa, sb) = (a.shape(), b.shape());
    let batch = if batched {
        if sa[0] != sb[0] {
            return Err(KernelError::ShapeMismatch {
                op: name,
                detail: format!("batch sizes differ: a {sa:?}, b {sb:?}"),
            });
        }
        sa[0]
    } else {
        1
    };
    let (m, ka) = logical((sa[rank - 2], sa[rank - 1]), ta);
    let (kb, n) = logical((sb[rank - 2], sb[rank - 1]), tb);
    if ka != kb {
        return Err(KernelError::ShapeMismatch {
            op: name,
            detail: format!("inner dimensions differ ({ka} vs {kb}): a {sa:?}, b {sb:?}"),
        });
    }
    Ok((batch, m, n, ka))
}

/// The product of two rank-2 or rank-3 tensors with the given transposes.
fn product(
    name: &'static str,
    cx: &Cpu,
    a: &Tensor,
    b: &Tensor,
    ta: Op,
    tb: Op,
    batched: bool,
) -> Result<Tensor> {
    let (batch, m, n, k) = plan(name, a, b, ta, tb, batched)?;
    let rank = a.rank();
    let sa = (a.shape()[rank - 2], a.shape()[rank - 1]);
    let sb = (b.shape()[rank - 2], b.shape()[rank - 1]);
    let (a_len, b_len, c_len) = (m * k, k * n, m * n);
    let mut out = crate::buffers::for_overwrite(batch * c_len);
    let run = |exec: &Cpu, i: usize, c: &mut [f32]| -> Result<()> {
        let av = view(&a.data()[i * a_len..(i + 1) * a_len], sa, ta)?;
        let bv = view(&b.data()[i * b_len..(i + 1) * b_len], sb, tb)?;
        sgemm(exec, m, n, k, av, bv, c)
    };
    if batch >= cx.threads() && cx.threads() > 1 {
        // Enough matrices to keep every thread busy: one matrix per task, each serial.
        let serial = if cx.simd() == crate::SimdLevel::Scalar {
            Cpu::scalar()
        } else {
            Cpu::single()
        };
        let results = std::sync::Mutex::new(Vec::new());
        cx.for_each_chunk_mut(&mut out, c_len, |i, c| {
            if let Err(e) = run(&serial, i, c) {
                results.lock().unwrap_or_else(|p| p.into_inner()).push(e);
            }
        });
        if let Some(e) = results
            .into_inner()
            .unwrap_or_else(|p| p.into_inner())
            .pop()
        {
            return Err(e);
        }
    } else {
        for (i, c) in out.chunks_mut(c_len).enumerate() {
            run(cx, i, c)?;
        }
    }
    let shape: Vec<usize> = if batched {
        vec![batch, m, n]
    } else {
        vec![m, n]
    };
    Tensor::new(&shape, out)
}

/// `A·B` for `a: [M, K]`, `b: [K, N]` → `[M, N]`.
pub fn matmul(cx: &Cpu, a: &Tensor, b: &Tensor) -> Result<Tensor> {
    product("matmul", cx, a, b, Op::N, Op::N, false)
}

/// `Aᵀ·B` for `a: [K, M]`, `b: [K, N]` → `[M, N]`, without materializing `Aᵀ`.
pub fn matmul_tn(cx: &Cpu, a: &Tensor, b: &Tensor) -> Result<Tensor> {
    product("matmul_tn", cx, a, b, Op::T, Op::N, false)
}

/// `A·Bᵀ` for `a: [M, K]`, `b: [N, K]` → `[M, N]`, without materializing `Bᵀ`.
pub fn matmul_nt(cx: &Cpu, a: &Tensor, b: &Tensor) -> Result<Tensor> {
    product("matmul_nt", cx, a, b, Op::N, Op::T, false)
}

/// Batched `A·B`: `a: [B, M, K]`, `b: [B, K, N]` → `[B, M, N]`, one [`matmul`] per batch entry.
pub fn bmm(cx: &Cpu, a: &Tensor, b: &Tensor) -> Result<Tensor> {
    product("bmm", cx, a, b, Op::N, Op::N, true)
}

/// Batched `Aᵀ·B`: `a: [B, K, M]`, `b: [B, K, N]` → `[B, M, N]`.
pub fn bmm_tn(cx: &Cpu, a: &Tensor, b: &Tensor) -> Result<Tensor> {
    product("bmm_tn", cx, a, b, Op::T, Op::N, true)
}

/// Batched `A·Bᵀ`: `a: [B, M, K]`, `b: [B, N, K]` → `[B, M, N]`.
pub fn bmm_nt(cx: &Cpu, a: &Tensor, b: &Tensor) -> Result<Tensor> {
    product("bmm_nt", cx, a, b, Op::N, Op::T, true)
}

/// Gradients of `C = A·B` (`a: [M, K]`, `b: [K, N]`, `dc: [M, N]`): returns `(dA, dB)` with
/// `dA = dC·Bᵀ` (= [`matmul_nt`]`(dc, b)`, summing over N) and `dB = Aᵀ·dC`
/// (= [`matmul_tn`]`(a, dc)`, summing over M), both in the canonical GEMM order. With a thread
/// pool the two products run side by side ([`Cpu::join`]): the same bits, and at this
/// workload's sizes better use of two cores than splitting each product's rows.
pub fn matmul_backward(cx: &Cpu, a: &Tensor, b: &Tensor, dc: &Tensor) -> Result<(Tensor, Tensor)> {
    let (_, m, n, _) = plan("matmul_backward", a, b, Op::N, Op::N, false)?;
    check_rank("matmul_backward", "dc", dc, 2)?;
    if dc.shape() != [m, n] {
        return Err(KernelError::ShapeMismatch {
            op: "matmul_backward",
            detail: format!("dc has shape {:?}, the product has [{m}, {n}]", dc.shape()),
        });
    }
    let (da, db) = cx.join(|| matmul_nt(cx, dc, b), || matmul_tn(cx, a, dc));
    Ok((da?, db?))
}

/// Gradients of `C = bmm(A, B)` (`a: [B, M, K]`, `b: [B, K, N]`, `dc: [B, M, N]`): returns
/// `(dA, dB)` with `dA = bmm_nt(dc, b)` and `dB = bmm_tn(a, dc)`.
pub fn bmm_backward(cx: &Cpu, a: &Tensor, b: &Tensor, dc: &Tensor) -> Result<(Tensor, Tensor)> {
    let (batch, m, n, _) = plan("bmm_backward", a, b, Op::N, Op::N, true)?;
    check_rank("bmm_backward", "dc", dc, 3)?;
    if dc.shape() != [batch, m, n] {
        return Err(KernelError::ShapeMismatch {
            op: "bmm_backward",
            detail: format!(
                "dc has shape {:?}, the product has [{batch}, {m}, {n}]",
                dc.shape()
            ),
        });
    }
    let (da, db) = cx.join(|| bmm_nt(cx, dc, b), || bmm_tn(cx, a, dc));
    Ok((da?, db?))
}
