//! Shape and dtype inference for every [`Op`], run when a node is added to a graph.
//!
//! Inference rejects what the op would reject at run time (shape mismatches, bad axes, wrong
//! dtypes, wrong input counts) with the same kind of typed [`KernelError`]. Data-dependent
//! checks (id ranges) are left to execution.

use super::op::Op;
use super::value::{DType, ValueType};
use crate::error::{KernelError, Result};
use crate::ops::broadcast::{broadcast_shapes, broadcast_strides};
use crate::ops::reduce_ops::Over;
use crate::tensor::numel;

fn mismatch(op: &'static str, detail: String) -> KernelError {
    KernelError::ShapeMismatch { op, detail }
}

fn want_f32(op: &'static str, t: &ValueType) -> Result<Vec<usize>> {
    if t.dtype != DType::F32 {
        return Err(KernelError::InvalidArgument {
            op,
            detail: format!("expected an f32 input, got u32 ids of shape {:?}", t.shape),
        });
    }
    Ok(t.shape.clone())
}

fn want_u32(op: &'static str, t: &ValueType) -> Result<Vec<usize>> {
    if t.dtype != DType::U32 {
        return Err(KernelError::InvalidArgument {
            op,
            detail: format!("expected u32 ids, got an f32 tensor of shape {:?}", t.shape),
        });
    }
    Ok(t.shape.clone())
}

fn same(op: &'static str, a: &[usize], b: &[usize]) -> Result<()> {
    if a != b {
        return Err(mismatch(op, format!("shapes {a:?} and {b:?} differ")));
    }
    Ok(())
}

fn at_least_rank1(op: &'static str, s: &[usize]) -> Result<usize> {
    s.last()
        .copied()
        .ok_or_else(|| KernelError::InvalidArgument {
            op,
            detail: "rank-0 input; the op works over the last axis".into(),
        })
}

/// `[.., M, N]` of a (batched) product with the given transposes.
fn product(
    op: &'static str,
    a: &[usize],
    b: &[usize],
    ta: bool,
    tb: bool,
    batched: bool,
) -> Result<Vec<usize>> {
    let rank = if batched { 3 } else { 2 };
    if a.len() != rank || b.len() != rank {
        return Err(mismatch(
            op,
            format!("operands must have rank {rank}, got {a:?} and {b:?}"),
        ));
    }
    let (ar, ac) = (a[rank - 2], a[rank - 1]);
    let (br, bc) = (b[rank - 2], b[rank - 1]);
    let (m, ka) = if ta { (ac, ar) } else { (ar, ac) };
    let (kb, n) = if tb { (bc, br) } else { (br, bc) };
    if ka != kb || (batched && a[0] != b[0]) {
        return Err(mismatch(
            op,
            format!("incompatible operands {a:?} and {b:?}"),
        ));
    }
    Ok(if batched {
        vec![a[0], m, n]
    } else {
        vec![m, n]
    })
}

fn reduced(op: &'static str, s: &[usize], o: Over) -> Result<Vec<usize>> {
    match o {
        Over::All => Ok(Vec::new()),
        Over::Axis(a) if a < s.len() => {
            let mut r = s.to_vec();
            r.remove(a);
            Ok(r)
        }
        Over::Axis(a) => Err(KernelError::BadAxis {
            op,
            axis: a,
            rank: s.len(),
        }),
    }
}

fn check_axis(op: &'static str, axis: usize, rank: usize) -> Result<()> {
    if axis >= rank {
        return Err(KernelError::BadAxis { op, axis, rank });
    }
    Ok(())
}

fn check_slice(op: &'static str, s: &[usize], axis: usize, start: usize, end: usize) -> Result<()> {
    check_axis(op, axis, s.len())?;
    if start >= end || end > s[axis] {
        return Err(KernelError::InvalidArgument {
            op,
            detail: format!("bad range {start}..{end} for axis {axis} of {s:?}"),
        });
    }
    Ok(())
}

impl Op {
    /// The output types for inputs of types `ins`. Errors: a wrong input count
    /// ([`KernelError::InvalidArgument`]), wrong dtypes, and every shape error the op would
    /// report.
    pub fn infer(&self, ins: &[&ValueType]) -> Result<Vec<ValueType>> {
        let op = self.name();
        match self.arity() {
            Some(n) if n != ins.len() => {
                return Err(KernelError::InvalidArgument {
                    op,
                    detail: format!("expected {n} inputs, got {}", ins.len()),
                });
            }
            None if ins.is_empty() => {
                return Err(KernelError::InvalidArgument {
                    op,
                    detail: "needs at least one input".into(),
                });
            }
            _ => {}
        }
        for t in ins {
            if t.numel() == 0 {
                return Err(KernelError::Empty {
                    op,
                    shape: t.shape.clone(),
                });
            }
        }
        let f = |i: usize| want_f32(op, ins[i]);
        let one = |s: Vec<usize>| Ok(vec![ValueType::f32(&s)]);
        match self {
            Op::MatMul => one(product(op, &f(0)?, &f(1)?, false, false, false)?),
            Op::MatMulNT => one(product(op, &f(0)?, &f(1)?, false, true, false)?),
            Op::MatMulTN => one(product(op, &f(0)?, &f(1)?, true, false, false)?),
            Op::Bmm => one(product(op, &f(0)?, &f(1)?, false, false, true)?),
            Op::BmmNT => one(product(op, &f(0)?, &f(1)?, false, true, true)?),
            Op::BmmTN => one(product(op, &f(0)?, &f(1)?, true, false, true)?),
            Op::Add | Op::Sub | Op::Mul | Op::Div => one(broadcast_shapes(op, &f(0)?, &f(1)?)?),
            Op::MulBackward | Op::DivBackward => {
                let (a, b) = (f(0)?, f(1)?);
                same(op, &broadcast_shapes(op, &a, &b)?, &f(2)?)?;
                Ok(vec![ValueType::f32(&a), ValueType::f32(&b)])
            }
            Op::ReduceToShape { shape } => {
                broadcast_strides(op, shape, &f(0)?)?;
                if numel(shape) == 0 {
                    return Err(KernelError::Empty {
                        op,
                        shape: shape.clone(),
                    });
                }
                one(shape.clone())
            }
            Op::Neg
            | Op::Exp
            | Op::Ln
            | Op::Tanh
            | Op::Sigmoid
            | Op::Relu
            | Op::GeluTanh
            | Op::GeluErf
            | Op::Sqrt
            | Op::Rsqrt
            | Op::Square
            | Op::Scale { .. }
            | Op::AddScalar { .. } => one(f(0)?),
            Op::ExpBackward
            | Op::LnBackward
            | Op::TanhBackward
            | Op::SigmoidBackward
            | Op::ReluBackward
            | Op::GeluTanhBackward
            | Op::GeluErfBackward
            | Op::SqrtBackward
            | Op::RsqrtBackward
            | Op::SquareBackward => {
                let s = f(0)?;
                same(op, &s, &f(1)?)?;
                one(s)
            }
            Op::Reshape { shape } => {
                let s = f(0)?;
                if numel(shape) != numel(&s) {
                    return Err(mismatch(op, format!("cannot view {s:?} as {shape:?}")));
                }
                one(shape.clone())
            }
            Op::Permute { perm } => {
                let s = f(0)?;
                let mut seen = vec![false; s.len()];
                for &p in perm {
                    if p >= s.len() || std::mem::replace(&mut seen[p], true) {
                        return Err(KernelError::InvalidArgument {
                            op,
                            detail: format!("{perm:?} is not a permutation of 0..{}", s.len()),
                        });
                    }
                }
                if perm.len() != s.len() {
                    return Err(KernelError::InvalidArgument {
                        op,
                        detail: format!("{perm:?} is not a permutation of 0..{}", s.len()),
                    });
                }
                one(perm.iter().map(|&p| s[p]).collect())
            }
            Op::Transpose { a, b } => {
                let mut s = f(0)?;
                check_axis(op, *a, s.len())?;
                check_axis(op, *b, s.len())?;
                s.swap(*a, *b);
                one(s)
            }
            Op::Slice { axis, start, end } => {
                let mut s = f(0)?;
                check_slice(op, &s, *axis, *start, *end)?;
                s[*axis] = end - start;
                one(s)
            }
            Op::SliceBackward {
                x_shape,
                axis,
                start,
                end,
            } => {
                check_slice(op, x_shape, *axis, *start, *end)?;
                let mut want = x_shape.clone();
                want[*axis] = end - start;
                same(op, &want, &f(0)?)?;
                one(x_shape.clone())
            }
            Op::Concat { axis } => {
                let first = f(0)?;
                check_axis(op, *axis, first.len())?;
                let mut total = 0usize;
                for i in 0..ins.len() {
                    let s = f(i)?;
                    let ok = s.len() == first.len()
                        && s.iter()
                            .zip(&first)
                            .enumerate()
                            .all(|(k, (x, y))| k == *axis || x == y);
                    if !ok {
                        return Err(mismatch(op, format!("{s:?} does not match {first:?}")));
                    }
                    total += s[*axis];
                }
                let mut out = first;
                out[*axis] = total;
                one(out)
            }
            Op::Split { axis, sizes } => {
                let s = f(0)?;
                check_axis(op, *axis, s.len())?;
                if sizes.is_empty() || sizes.contains(&0) || sizes.iter().sum::<usize>() != s[*axis]
                {
                    return Err(mismatch(op, format!("sizes {sizes:?} do not split {s:?}")));
                }
                Ok(sizes
                    .iter()
                    .map(|&n| {
                        let mut p = s.clone();
                        p[*axis] = n;
                        ValueType::f32(&p)
                    })
                    .collect())
            }
            Op::Gather => {
                let t = f(0)?;
                let ids = want_u32(op, ins[1])?;
                let &[_, d] = t.as_slice() else {
                    return Err(mismatch(op, format!("table must be [V, D], got {t:?}")));
                };
                let mut s = ids;
                s.push(d);
                one(s)
            }
            Op::GatherBackward { vocab } => {
                let ids = want_u32(op, ins[0])?;
                let dy = f(1)?;
                let Some((&d, lead)) = dy.split_last() else {
                    return Err(mismatch(op, "dy must have a last axis".into()));
                };
                if numel(lead) != numel(&ids) || *vocab == 0 {
                    return Err(mismatch(
                        op,
                        format!("dy {dy:?} for ids {ids:?}, vocab {vocab}"),
                    ));
                }
                one(vec![*vocab, d])
            }
            Op::Softmax | Op::LogSoftmax => {
                let s = f(0)?;
                at_least_rank1(op, &s)?;
                one(s)
            }
            Op::SoftmaxBackward | Op::LogSoftmaxBackward => {
                let s = f(0)?;
                at_least_rank1(op, &s)?;
                same(op, &s, &f(1)?)?;
                one(s)
            }
            Op::LayerNorm { eps } => {
                let s = f(0)?;
                let d = at_least_rank1(op, &s)?;
                same(op, &f(1)?, &[d])?;
                same(op, &f(2)?, &[d])?;
                if !(*eps >= 0.0 && eps.is_finite()) {
                    return Err(KernelError::InvalidArgument {
                        op,
                        detail: format!("eps must be finite and >= 0, got {eps}"),
                    });
                }
                let rows = s[..s.len() - 1].to_vec();
                Ok(vec![
                    ValueType::f32(&s),
                    ValueType::f32(&s),
                    ValueType::f32(&rows),
                ])
            }
            Op::LayerNormBackward => {
                let s = f(0)?;
                let d = at_least_rank1(op, &s)?;
                if numel(&f(1)?) * d != numel(&s) {
                    return Err(mismatch(op, "rstd must hold one value per row".into()));
                }
                same(op, &f(2)?, &[d])?;
                same(op, &s, &f(3)?)?;
                Ok(vec![
                    ValueType::f32(&s),
                    ValueType::f32(&[d]),
                    ValueType::f32(&[d]),
                ])
            }
            Op::CrossEntropy | Op::CrossEntropyBackward => {
                let s = f(0)?;
                let c = at_least_rank1(op, &s)?;
                let t = want_u32(op, ins[1])?;
                if numel(&t) * c != numel(&s) {
                    return Err(mismatch(
                        op,
                        format!("{} targets for logits {s:?}", numel(&t)),
                    ));
                }
                if matches!(self, Op::CrossEntropy) {
                    one(Vec::new())
                } else {
                    same(op, &f(2)?, &[])?;
                    one(s)
                }
            }
            Op::Sum { over } | Op::Mean { over } | Op::SumSquares { over } | Op::Max { over } => {
                one(reduced(op, &f(0)?, *over)?)
            }
            Op::SumBackward { x_shape, over } | Op::MeanBackward { x_shape, over } => {
                same(op, &reduced(op, x_shape, *over)?, &f(0)?)?;
                one(x_shape.clone())
            }
            Op::SumSquaresBackward { over } | Op::MaxBackward { over } => {
                let s = f(0)?;
                same(op, &reduced(op, &s, *over)?, &f(1)?)?;
                one(s)
            }
            Op::SgdStep { .. } => {
                let p = f(0)?;
                same(op, &p, &f(1)?)?;
                same(op, &p, &f(2)?)?;
                Ok(vec![ValueType::f32(&p), ValueType::f32(&p)])
            }
            Op::AdamWStep { .. } => {
                let p = f(0)?;
                for i in 1..4 {
                    same(op, &p, &f(i)?)?;
                }
                same(op, &f(4)?, &[])?;
                same(op, &f(5)?, &[])?;
                Ok(vec![ValueType::f32(&p); 3])
            }
        }
    }
}
