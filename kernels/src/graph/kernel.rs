//! [`execute_node`]: runs one op on its input values. This is the only place where graph
//! execution touches the RepOps kernels, so running a whole graph and re-running one node alone
//! (as a referee does) go through exactly the same code.

use super::op::Op;
use super::value::{Ids, Value};
use crate::cpu::Cpu;
use crate::error::{KernelError, Result};
use crate::gemm;
use crate::ops::{binary, broadcast, gather, loss, norm, reduce_ops, shape, softmax, unary};
use crate::optim;
use crate::tensor::Tensor;

/// Runs `op` on `inputs` (in the op's input order) and returns its outputs.
///
/// Errors: a wrong input count or dtype ([`KernelError::InvalidArgument`]) and every error of
/// the underlying kernel. Output shapes equal [`Op::infer`] of the input types.
pub fn execute_node(cx: &Cpu, op: &Op, inputs: &[&Value]) -> Result<Vec<Value>> {
    let name = op.name();
    if let Some(n) = op.arity()
        && n != inputs.len()
    {
        return Err(KernelError::InvalidArgument {
            op: name,
            detail: format!("expected {n} inputs, got {}", inputs.len()),
        });
    }
    let f = |i: usize| -> Result<&Tensor> {
        inputs
            .get(i)
            .ok_or_else(|| KernelError::InvalidArgument {
                op: name,
                detail: "missing input".into(),
            })?
            .as_f32(name)
    };
    let ids = |i: usize| -> Result<&Ids> { inputs[i].as_ids(name) };
    let one = |t: Tensor| Ok(vec![Value::F32(t)]);
    let two = |(a, b): (Tensor, Tensor)| Ok(vec![Value::F32(a), Value::F32(b)]);
    match op {
        Op::MatMul => one(gemm::matmul(cx, f(0)?, f(1)?)?),
        Op::MatMulNT => one(gemm::matmul_nt(cx, f(0)?, f(1)?)?),
        Op::MatMulTN => one(gemm::matmul_tn(cx, f(0)?, f(1)?)?),
        Op::Bmm => one(gemm::bmm(cx, f(0)?, f(1)?)?),
        Op::BmmNT => one(gemm::bmm_nt(cx, f(0)?, f(1)?)?),
        Op::BmmTN => one(gemm::bmm_tn(cx, f(0)?, f(1)?)?),
        Op::Add => one(binary::add(cx, f(0)?, f(1)?)?),
        Op::Sub => one(binary::sub(cx, f(0)?, f(1)?)?),
        Op::Mul => one(binary::mul(cx, f(0)?, f(1)?)?),
        Op::Div => one(binary::div(cx, f(0)?, f(1)?)?),
        Op::MulBackward => two(binary::mul_backward(cx, f(0)?, f(1)?, f(2)?)?),
        Op::DivBackward => two(binary::div_backward(cx, f(0)?, f(1)?, f(2)?)?),
        Op::ReduceToShape { shape } => one(broadcast::reduce_to_shape(cx, f(0)?, shape)?),
        Op::Neg => one(unary::neg(cx, f(0)?)?),
        Op::Exp => one(unary::exp(cx, f(0)?)?),
        Op::Ln => one(unary::ln(cx, f(0)?)?),
        Op::Tanh => one(unary::tanh(cx, f(0)?)?),
        Op::Sigmoid => one(unary::sigmoid(cx, f(0)?)?),
        Op::Relu => one(unary::relu(cx, f(0)?)?),
        Op::GeluTanh => one(unary::gelu_tanh(cx, f(0)?)?),
        Op::GeluErf => one(unary::gelu_erf(cx, f(0)?)?),
        Op::Sqrt => one(unary::sqrt(cx, f(0)?)?),
        Op::Rsqrt => one(unary::rsqrt(cx, f(0)?)?),
        Op::Square => one(unary::square(cx, f(0)?)?),
        Op::Scale { c } => one(unary::scale(cx, f(0)?, *c)?),
        Op::AddScalar { c } => one(unary::add_scalar(cx, f(0)?, *c)?),
        Op::ExpBackward => one(unary::exp_backward(cx, f(0)?, f(1)?)?),
        Op::LnBackward => one(unary::ln_backward(cx, f(0)?, f(1)?)?),
        Op::TanhBackward => one(unary::tanh_backward(cx, f(0)?, f(1)?)?),
        Op::SigmoidBackward => one(unary::sigmoid_backward(cx, f(0)?, f(1)?)?),
        Op::ReluBackward => one(unary::relu_backward(cx, f(0)?, f(1)?)?),
        Op::GeluTanhBackward => one(unary::gelu_tanh_backward(cx, f(0)?, f(1)?)?),
        Op::GeluErfBackward => one(unary::gelu_erf_backward(cx, f(0)?, f(1)?)?),
        Op::SqrtBackward => one(unary::sqrt_backward(cx, f(0)?, f(1)?)?),
        Op::RsqrtBackward => one(unary::rsqrt_backward(cx, f(0)?, f(1)?)?),
        Op::SquareBackward => one(unary::square_backward(cx, f(0)?, f(1)?)?),
        Op::Reshape { shape } => one(shape::reshape(f(0)?, shape)?),
        Op::Permute { perm } => one(shape::permute(cx, f(0)?, perm)?),
        Op::Transpose { a, b } => one(shape::transpose(cx, f(0)?, *a, *b)?),
        Op::Slice { axis, start, end } => one(shape::slice(cx, f(0)?, *axis, *start, *end)?),
        Op::SliceBackward {
            x_shape,
            axis,
            start,
            end,
        } => one(shape::slice_backward(
            cx,
            x_shape,
            *axis,
            *start,
            *end,
            f(0)?,
        )?),
        Op::Concat { axis } => {
            let xs = (0..inputs.len()).map(f).collect::<Result<Vec<_>>>()?;
            one(shape::concat(cx, &xs, *axis)?)
        }
        Op::Split { axis, sizes } => Ok(shape::split(cx, f(0)?, *axis, sizes)?
            .into_iter()
            .map(Value::F32)
            .collect()),
        Op::Gather => {
            let i = ids(1)?;
            one(gather::gather_rows(cx, f(0)?, i.data(), i.shape())?)
        }
        Op::GatherBackward { vocab } => one(gather::gather_rows_backward(
            cx,
            *vocab,
            ids(0)?.data(),
            f(1)?,
        )?),
        Op::Softmax => one(softmax::softmax(cx, f(0)?)?),
        Op::SoftmaxBackward => one(softmax::softmax_backward(cx, f(0)?, f(1)?)?),
        Op::LogSoftmax => one(softmax::log_softmax(cx, f(0)?)?),
        Op::LogSoftmaxBackward => one(softmax::log_softmax_backward(cx, f(0)?, f(1)?)?),
        Op::LayerNorm { eps } => {
            let (y, saved) = norm::layer_norm(cx, f(0)?, f(1)?, f(2)?, *eps)?;
            Ok(vec![
                Value::F32(y),
                Value::F32(saved.xhat),
                Value::F32(saved.rstd),
            ])
        }
        Op::LayerNormBackward => {
            let (dx, dg, db) = norm::layer_norm_backward_parts(cx, f(0)?, f(1)?, f(2)?, f(3)?)?;
            Ok(vec![Value::F32(dx), Value::F32(dg), Value::F32(db)])
        }
        Op::CrossEntropy => one(loss::cross_entropy(cx, f(0)?, ids(1)?.data())?),
        Op::CrossEntropyBackward => {
            let d = f(2)?;
            if d.rank() != 0 {
                return Err(KernelError::ShapeMismatch {
                    op: name,
                    detail: format!("dloss must be rank 0, got {:?}", d.shape()),
                });
            }
            one(loss::cross_entropy_backward(
                cx,
                f(0)?,
                ids(1)?.data(),
                d.data()[0],
            )?)
        }
        Op::Sum { over } => one(reduce_ops::sum(cx, f(0)?, *over)?),
        Op::Mean { over } => one(reduce_ops::mean(cx, f(0)?, *over)?),
        Op::SumSquares { over } => one(reduce_ops::sum_squares(cx, f(0)?, *over)?),
        Op::Max { over } => one(reduce_ops::max(cx, f(0)?, *over)?),
        Op::SumBackward { x_shape, over } => {
            one(reduce_ops::sum_backward(cx, x_shape, *over, f(0)?)?)
        }
        Op::MeanBackward { x_shape, over } => {
            one(reduce_ops::mean_backward(cx, x_shape, *over, f(0)?)?)
        }
        Op::SumSquaresBackward { over } => {
            one(reduce_ops::sum_squares_backward(cx, f(0)?, *over, f(1)?)?)
        }
        Op::MaxBackward { over } => one(reduce_ops::max_backward(cx, f(0)?, *over, f(1)?)?),
        Op::SgdStep {
            lr,
            momentum,
            weight_decay,
        } => two(optim::sgd_update(
            cx,
            &optim::SgdHyper {
                lr: *lr,
                momentum: *momentum,
                weight_decay: *weight_decay,
            },
            f(0)?,
            f(1)?,
            f(2)?,
        )?),
        Op::AdamWStep {
            lr,
            beta1,
            beta2,
            eps,
            weight_decay,
        } => {
            let (p, m, v) = optim::adamw_update(
                cx,
                &optim::AdamWHyper {
                    lr: *lr,
                    beta1: *beta1,
                    beta2: *beta2,
                    eps: *eps,
                    weight_decay: *weight_decay,
                },
                [f(0)?, f(1)?, f(2)?, f(3)?],
                f(4)?,
                f(5)?,
            )?;
            Ok(vec![Value::F32(p), Value::F32(m), Value::F32(v)])
        }
    }
}
