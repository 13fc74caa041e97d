//! Reverse-mode autodiff: appends the backward nodes of a scalar loss to the same graph, so
//! backward nodes are ordinary, bisectable nodes.
//!
//! Order of the appended nodes: the forward nodes are visited from last to first; for each
//! node whose outputs received a gradient, the gradient of each output is first completed
//! (see below), then the node's backward nodes are appended (inputs in ascending slot order
//! within one rule). Finally the gradient of every requested input is completed, in the order
//! of `wrt`.
//!
//! **Accumulation.** When a value feeds several consumers, its contributions are sorted by
//! (consumer node index ascending, input slot ascending) and summed left to right with
//! [`Op::Add`] nodes: `g = ((g1 + g2) + g3) + …`. The loss's own seed (the constant `1.0`)
//! comes first. A value with one contribution uses it as is (no node).
//!
//! Values that do not depend on any `wrt` input get no gradient, and no nodes are built for
//! them (e.g. the gradient of a constant mask or of the batch).

use std::collections::HashMap;

use super::builder::Builder;
use super::op::Op;
use super::value::{Value, ValueType};
use super::{DType, ValueRef};
use crate::error::{KernelError, Result};
use crate::tensor::Tensor;

fn not_differentiable(op: &Op, detail: &str) -> KernelError {
    KernelError::InvalidArgument {
        op: "autodiff",
        detail: format!("{}: {detail}", op.name()),
    }
}

/// Appends the backward pass of `loss` (a rank-0 f32 value) to `b` and returns the gradient of
/// each `wrt` reference, in order. An input the loss does not depend on gets a constant zero
/// tensor.
///
/// Errors: `loss` not rank-0 f32; a gradient reaching a non-differentiable op (backward and
/// optimizer ops, or the auxiliary outputs of layer norm); shape errors from the appended
/// nodes (internal).
pub fn append_backward(b: &mut Builder, loss: ValueRef, wrt: &[ValueRef]) -> Result<Vec<ValueRef>> {
    if b.ty(loss)? != ValueType::f32(&[]) {
        return Err(KernelError::InvalidArgument {
            op: "autodiff",
            detail: "the loss must be a rank-0 f32 value".into(),
        });
    }
    let n_fwd = b.graph().nodes.len();
    // needs[v]: v depends on some wrt input.
    let mut needs: HashMap<ValueRef, bool> = wrt.iter().map(|&r| (r, true)).collect();
    let need = |needs: &HashMap<ValueRef, bool>, r: &ValueRef| *needs.get(r).unwrap_or(&false);
    for i in 0..n_fwd {
        let node = &b.graph().nodes[i];
        let any = node.inputs.iter().any(|r| need(&needs, r));
        if any {
            for out in 0..node.outputs.len() {
                needs.insert(ValueRef::Node { node: i, out }, true);
            }
        }
    }
    // Contributions: value -> [(consumer, slot, grad)].
    let mut contrib: HashMap<ValueRef, Vec<(usize, usize, ValueRef)>> = HashMap::new();
    let seed = b.constant(Value::F32(Tensor::scalar(1.0)));
    contrib.entry(loss).or_default().push((0, 0, seed));
    let seed_first = |v: &mut Vec<(usize, usize, ValueRef)>| {
        // The seed sorts before every consumer (index 0 slot 0 is a forward node; the seed is
        // pushed first and the sort is stable on equal keys, so use a key that puts it first).
        v.sort_by_key(|&(node, slot, g)| (g != seed, node, slot));
    };
    for i in (0..n_fwd).rev() {
        let node = b.graph().nodes[i].clone();
        let mut out_grads = Vec::with_capacity(node.outputs.len());
        let mut any = false;
        for out in 0..node.outputs.len() {
            let r = ValueRef::Node { node: i, out };
            let g = match contrib.remove(&r) {
                Some(mut v) => {
                    seed_first(&mut v);
                    any = true;
                    Some(accumulate(b, &v)?)
                }
                None => None,
            };
            out_grads.push(g);
        }
        if !any {
            continue;
        }
        let want: Vec<bool> = node.inputs.iter().map(|r| need(&needs, r)).collect();
        let outs: Vec<ValueRef> = (0..node.outputs.len())
            .map(|out| ValueRef::Node { node: i, out })
            .collect();
        let grads = rule(b, &node.op, &node.inputs, &outs, &out_grads, &want)?;
        for (slot, g) in grads.into_iter().enumerate() {
            if let Some(g) = g
                && want[slot]
            {
                contrib
                    .entry(node.inputs[slot])
                    .or_default()
                    .push((i, slot, g));
            }
        }
    }
    let mut result = Vec::with_capacity(wrt.len());
    for &w in wrt {
        let g = match contrib.get(&w).cloned() {
            Some(mut v) => {
                seed_first(&mut v);
                accumulate(b, &v)?
            }
            None => {
                let ty = b.ty(w)?;
                if ty.dtype != DType::F32 {
                    return Err(not_differentiable(&Op::Gather, "gradient of u32 ids"));
                }
                b.constant(Value::F32(Tensor::zeros(&ty.shape)))
            }
        };
        result.push(g);
    }
    Ok(result)
}

/// `((g1 + g2) + g3) + …` in the given order.
fn accumulate(b: &mut Builder, v: &[(usize, usize, ValueRef)]) -> Result<ValueRef> {
    let mut acc = v[0].2;
    for &(_, _, g) in &v[1..] {
        acc = b.op(Op::Add, &[acc, g])?;
    }
    Ok(acc)
}

/// Gradient of a broadcast operand of shape `shape` from `dy`: `dy` itself when the shapes
/// agree, else a [`Op::ReduceToShape`] node.
fn unbroadcast(b: &mut Builder, dy: ValueRef, shape: Vec<usize>) -> Result<ValueRef> {
    if b.shape(dy)? == shape {
        Ok(dy)
    } else {
        b.op(Op::ReduceToShape { shape }, &[dy])
    }
}

/// The backward rule of one op: gradients of its inputs (`None` where not wanted or not
/// defined).
fn rule(
    b: &mut Builder,
    op: &Op,
    x: &[ValueRef],
    y: &[ValueRef],
    dys: &[Option<ValueRef>],
    want: &[bool],
) -> Result<Vec<Option<ValueRef>>> {
    // Only the first output of a forward op carries a gradient, except for Split.
    if !matches!(op, Op::Split { .. }) && dys.iter().skip(1).any(Option::is_some) {
        return Err(not_differentiable(op, "gradient of an auxiliary output"));
    }
    let Some(dy) = dys[0].or_else(|| dys.iter().flatten().next().copied()) else {
        return Ok(vec![None; x.len()]);
    };
    let w = |i: usize| want.get(i).copied().unwrap_or(false);
    let one = |g: ValueRef| Ok(vec![Some(g)]);
    let unary = |b: &mut Builder, bop: Op, saved: ValueRef| -> Result<Vec<Option<ValueRef>>> {
        Ok(vec![Some(b.op(bop, &[saved, dy])?)])
    };
    match op {
        Op::MatMul | Op::MatMulNT | Op::MatMulTN | Op::Bmm | Op::BmmNT | Op::BmmTN => {
            let batched = matches!(op, Op::Bmm | Op::BmmNT | Op::BmmTN);
            let (nn, nt, tn) = if batched {
                (Op::Bmm, Op::BmmNT, Op::BmmTN)
            } else {
                (Op::MatMul, Op::MatMulNT, Op::MatMulTN)
            };
            // (op for dA, its inputs), (op for dB, its inputs)
            let (ra, rb) = match op {
                Op::MatMul | Op::Bmm => ((nt, [dy, x[1]]), (tn, [x[0], dy])),
                Op::MatMulNT | Op::BmmNT => ((nn.clone(), [dy, x[1]]), (tn, [dy, x[0]])),
                _ => ((nt, [x[1], dy]), (nn, [x[0], dy])),
            };
            let da = if w(0) { Some(b.op(ra.0, &ra.1)?) } else { None };
            let db = if w(1) { Some(b.op(rb.0, &rb.1)?) } else { None };
            Ok(vec![da, db])
        }
        Op::Add | Op::Sub => {
            let da = if w(0) {
                Some(unbroadcast(b, dy, b.shape(x[0])?)?)
            } else {
                None
            };
            let db = if w(1) {
                let g = if matches!(op, Op::Sub) {
                    b.op(Op::Neg, &[dy])?
                } else {
                    dy
                };
                Some(unbroadcast(b, g, b.shape(x[1])?)?)
            } else {
                None
            };
            Ok(vec![da, db])
        }
        Op::Mul | Op::Div => {
            let bop = if matches!(op, Op::Mul) {
                Op::MulBackward
            } else {
                Op::DivBackward
            };
            let g = b.node(bop, &[x[0], x[1], dy])?;
            Ok(vec![Some(g[0]), Some(g[1])])
        }
        Op::Neg => one(b.op(Op::Neg, &[dy])?),
        Op::Exp => unary(b, Op::ExpBackward, y[0]),
        Op::Ln => unary(b, Op::LnBackward, x[0]),
        Op::Tanh => unary(b, Op::TanhBackward, y[0]),
        Op::Sigmoid => unary(b, Op::SigmoidBackward, y[0]),
        Op::Relu => unary(b, Op::ReluBackward, x[0]),
        Op::GeluTanh => unary(b, Op::GeluTanhBackward, x[0]),
        Op::GeluErf => unary(b, Op::GeluErfBackward, x[0]),
        Op::Sqrt => unary(b, Op::SqrtBackward, y[0]),
        Op::Rsqrt => unary(b, Op::RsqrtBackward, y[0]),
        Op::Square => unary(b, Op::SquareBackward, x[0]),
        Op::Scale { c } => one(b.op(Op::Scale { c: *c }, &[dy])?),
        Op::AddScalar { .. } => one(dy),
        Op::Reshape { .. } => one(b.op(
            Op::Reshape {
                shape: b.shape(x[0])?,
            },
            &[dy],
        )?),
        Op::Permute { perm } => {
            let inv = crate::ops::shape::inverse_permutation(perm)?;
            one(b.op(Op::Permute { perm: inv }, &[dy])?)
        }
        Op::Transpose { a, b: c } => one(b.op(Op::Transpose { a: *a, b: *c }, &[dy])?),
        Op::Slice { axis, start, end } => one(b.op(
            Op::SliceBackward {
                x_shape: b.shape(x[0])?,
                axis: *axis,
                start: *start,
                end: *end,
            },
            &[dy],
        )?),
        Op::Concat { axis } => {
            let sizes = x
                .iter()
                .map(|&r| Ok(b.shape(r)?[*axis]))
                .collect::<Result<Vec<_>>>()?;
            let parts = b.node(Op::Split { axis: *axis, sizes }, &[dy])?;
            Ok(parts.into_iter().map(Some).collect())
        }
        Op::Split { axis, .. } => {
            let mut parts = Vec::with_capacity(y.len());
            for (k, g) in dys.iter().enumerate() {
                parts.push(match g {
                    Some(g) => *g,
                    None => {
                        let s = b.shape(y[k])?;
                        b.constant(Value::F32(Tensor::zeros(&s)))
                    }
                });
            }
            one(b.op(Op::Concat { axis: *axis }, &parts)?)
        }
        Op::Gather => {
            let vocab = b.shape(x[0])?[0];
            Ok(vec![
                Some(b.op(Op::GatherBackward { vocab }, &[x[1], dy])?),
                None,
            ])
        }
        Op::Softmax => unary(b, Op::SoftmaxBackward, y[0]),
        Op::LogSoftmax => unary(b, Op::LogSoftmaxBackward, y[0]),
        Op::LayerNorm { .. } => {
            let g = b.node(Op::LayerNormBackward, &[y[1], y[2], x[1], dy])?;
            Ok(g.into_iter().map(Some).collect())
        }
        Op::CrossEntropy => Ok(vec![
            Some(b.op(Op::CrossEntropyBackward, &[x[0], x[1], dy])?),
            None,
        ]),
        Op::Sum { over } => one(b.op(
            Op::SumBackward {
                x_shape: b.shape(x[0])?,
                over: *over,
            },
            &[dy],
        )?),
        Op::Mean { over } => one(b.op(
            Op::MeanBackward {
                x_shape: b.shape(x[0])?,
                over: *over,
            },
            &[dy],
        )?),
        Op::SumSquares { over } => unary(b, Op::SumSquaresBackward { over: *over }, x[0]),
        Op::Max { over } => unary(b, Op::MaxBackward { over: *over }, x[0]),
        _ => Err(not_differentiable(op, "no gradient rule")),
    }
}
