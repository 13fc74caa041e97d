//! [`Op`]: every operation a graph node can perform, with its attributes, and their canonical
//! encoding.
//!
//! Forward ops wrap the RepOps forward functions; backward ops wrap the `*_backward`
//! functions (or the GEMM variants that `matmul_backward`/`bmm_backward` consist of);
//! optimizer ops update parameters. The inputs and outputs of every op are listed on its
//! variant; multi-output ops say so.

use crate::ops::reduce_ops::Over;

/// A node operation and its attributes. Scalar constants are f32 (encoded by their bits).
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// `(a [M,K], b [K,N]) → a·b`.
    MatMul,
    /// `(a [M,K], b [N,K]) → a·bᵀ`.
    MatMulNT,
    /// `(a [K,M], b [K,N]) → aᵀ·b`.
    MatMulTN,
    /// `(a [B,M,K], b [B,K,N]) → bmm(a, b)`.
    Bmm,
    /// `(a [B,M,K], b [B,N,K]) → bmm_nt(a, b)`.
    BmmNT,
    /// `(a [B,K,M], b [B,K,N]) → bmm_tn(a, b)`.
    BmmTN,
    /// `(a, b) → a + b`, broadcasting.
    Add,
    /// `(a, b) → a − b`, broadcasting.
    Sub,
    /// `(a, b) → a · b`, broadcasting.
    Mul,
    /// `(a, b) → a / b`, broadcasting.
    Div,
    /// `(a, b, dy) → (da, db)` of [`Op::Mul`] (`mul_backward`). Two outputs.
    MulBackward,
    /// `(a, b, dy) → (da, db)` of [`Op::Div`] (`div_backward`). Two outputs.
    DivBackward,
    /// `(full) → reduce_to_shape(full, shape)`: the gradient of a broadcast operand.
    ReduceToShape {
        /// Target shape (broadcasts to the input's shape).
        shape: Vec<usize>,
    },
    /// `x → −x`.
    Neg,
    /// `x → exp(x)`.
    Exp,
    /// `x → ln(x)`.
    Ln,
    /// `x → tanh(x)`.
    Tanh,
    /// `x → sigmoid(x)`.
    Sigmoid,
    /// `x → max(x, 0)`.
    Relu,
    /// `x → gelu_tanh(x)`.
    GeluTanh,
    /// `x → gelu_erf(x)`.
    GeluErf,
    /// `x → sqrt(x)`.
    Sqrt,
    /// `x → rsqrt(x)`.
    Rsqrt,
    /// `x → x²`.
    Square,
    /// `x → x · c`.
    Scale {
        /// The factor.
        c: f32,
    },
    /// `x → x + c`.
    AddScalar {
        /// The addend.
        c: f32,
    },
    /// `(y, dy) → exp_backward(y, dy)`, `y` the forward output.
    ExpBackward,
    /// `(x, dy) → ln_backward(x, dy)`.
    LnBackward,
    /// `(y, dy) → tanh_backward(y, dy)`.
    TanhBackward,
    /// `(y, dy) → sigmoid_backward(y, dy)`.
    SigmoidBackward,
    /// `(x, dy) → relu_backward(x, dy)`.
    ReluBackward,
    /// `(x, dy) → gelu_tanh_backward(x, dy)`.
    GeluTanhBackward,
    /// `(x, dy) → gelu_erf_backward(x, dy)`.
    GeluErfBackward,
    /// `(y, dy) → sqrt_backward(y, dy)`.
    SqrtBackward,
    /// `(y, dy) → rsqrt_backward(y, dy)`.
    RsqrtBackward,
    /// `(x, dy) → square_backward(x, dy)`.
    SquareBackward,
    /// `x → x` viewed as `shape` (a copy).
    Reshape {
        /// New shape, same element count.
        shape: Vec<usize>,
    },
    /// `x → permute(x, perm)`.
    Permute {
        /// The permutation.
        perm: Vec<usize>,
    },
    /// `x → transpose(x, a, b)`.
    Transpose {
        /// First axis.
        a: usize,
        /// Second axis.
        b: usize,
    },
    /// `x → slice(x, axis, start, end)`.
    Slice {
        /// Axis.
        axis: usize,
        /// First index.
        start: usize,
        /// One past the last index.
        end: usize,
    },
    /// `dy → slice_backward(x_shape, axis, start, end, dy)`.
    SliceBackward {
        /// Shape of the sliced tensor.
        x_shape: Vec<usize>,
        /// Axis.
        axis: usize,
        /// First index.
        start: usize,
        /// One past the last index.
        end: usize,
    },
    /// `(x_0, …, x_{n−1}) → concat(xs, axis)`. Variadic.
    Concat {
        /// Axis.
        axis: usize,
    },
    /// `x → split(x, axis, sizes)`. One output per size.
    Split {
        /// Axis.
        axis: usize,
        /// Piece sizes along the axis.
        sizes: Vec<usize>,
    },
    /// `(table [V,D] f32, ids u32) → gather_rows(table, ids)`, shape `ids.shape ++ [D]`.
    Gather,
    /// `(ids u32, dy) → gather_rows_backward(vocab, ids, dy)`, shape `[vocab, D]`.
    GatherBackward {
        /// Rows of the gathered table.
        vocab: usize,
    },
    /// `x → softmax(x)` over the last axis.
    Softmax,
    /// `(y, dy) → softmax_backward(y, dy)`.
    SoftmaxBackward,
    /// `x → log_softmax(x)` over the last axis.
    LogSoftmax,
    /// `(y, dy) → log_softmax_backward(y, dy)`.
    LogSoftmaxBackward,
    /// `(x, gamma, beta) → (y, xhat, rstd)` of `layer_norm`. Three outputs.
    LayerNorm {
        /// Variance epsilon.
        eps: f32,
    },
    /// `(xhat, rstd, gamma, dy) → (dx, dgamma, dbeta)` of `layer_norm_backward`. Three
    /// outputs.
    LayerNormBackward,
    /// `(logits [..., C], targets u32) → cross_entropy` (mean over rows), shape `[]`.
    CrossEntropy,
    /// `(logits, targets u32, dloss []) → cross_entropy_backward(logits, targets, dloss)`.
    CrossEntropyBackward,
    /// `x → sum(x, over)`.
    Sum {
        /// Reduced axis or all.
        over: Over,
    },
    /// `x → mean(x, over)`.
    Mean {
        /// Reduced axis or all.
        over: Over,
    },
    /// `x → sum_squares(x, over)`.
    SumSquares {
        /// Reduced axis or all.
        over: Over,
    },
    /// `x → max(x, over)`.
    Max {
        /// Reduced axis or all.
        over: Over,
    },
    /// `dy → sum_backward(x_shape, over, dy)`.
    SumBackward {
        /// Shape of the summed tensor.
        x_shape: Vec<usize>,
        /// Reduced axis or all.
        over: Over,
    },
    /// `dy → mean_backward(x_shape, over, dy)`.
    MeanBackward {
        /// Shape of the averaged tensor.
        x_shape: Vec<usize>,
        /// Reduced axis or all.
        over: Over,
    },
    /// `(x, dy) → sum_squares_backward(x, over, dy)`.
    SumSquaresBackward {
        /// Reduced axis or all.
        over: Over,
    },
    /// `(x, dy) → max_backward(x, over, dy)`.
    MaxBackward {
        /// Reduced axis or all.
        over: Over,
    },
    /// SGD with momentum and weight decay: `(p, g, v) → (p', v')`. Two outputs.
    /// Order: docs/numerics.md §10 and [`crate::optim::sgd_element`].
    SgdStep {
        /// Learning rate.
        lr: f32,
        /// Momentum `μ`.
        momentum: f32,
        /// Weight decay (L2, added to the gradient).
        weight_decay: f32,
    },
    /// AdamW: `(p, g, m, v, β1^t [], β2^t []) → (p', m', v')`. Three outputs.
    /// Order: docs/numerics.md §10 and [`crate::optim::adamw_element`].
    AdamWStep {
        /// Learning rate.
        lr: f32,
        /// `β1`.
        beta1: f32,
        /// `β2`.
        beta2: f32,
        /// `ε`, added to `sqrt(v̂)`.
        eps: f32,
        /// Decoupled weight decay.
        weight_decay: f32,
    },
}

/// One attribute value in a node's canonical encoding.
#[derive(Debug, Clone, PartialEq)]
pub enum Attr {
    /// An unsigned integer (axes, sizes).
    U(u64),
    /// An f32 constant (encoded by its bits).
    F(f32),
    /// A list of unsigned integers (shapes, permutations).
    List(Vec<u64>),
    /// A reduction domain: `Some(axis)` or `None` for all elements.
    Over(Option<u64>),
}

fn list(v: &[usize]) -> Attr {
    Attr::List(v.iter().map(|&x| x as u64).collect())
}

fn over(o: Over) -> Attr {
    match o {
        Over::Axis(a) => Attr::Over(Some(a as u64)),
        Over::All => Attr::Over(None),
    }
}

impl Op {
    /// Stable snake_case name, part of the canonical encoding.
    pub fn name(&self) -> &'static str {
        match self {
            Op::MatMul => "matmul",
            Op::MatMulNT => "matmul_nt",
            Op::MatMulTN => "matmul_tn",
            Op::Bmm => "bmm",
            Op::BmmNT => "bmm_nt",
            Op::BmmTN => "bmm_tn",
            Op::Add => "add",
            Op::Sub => "sub",
            Op::Mul => "mul",
            Op::Div => "div",
            Op::MulBackward => "mul_backward",
            Op::DivBackward => "div_backward",
            Op::ReduceToShape { .. } => "reduce_to_shape",
            Op::Neg => "neg",
            Op::Exp => "exp",
            Op::Ln => "ln",
            Op::Tanh => "tanh",
            Op::Sigmoid => "sigmoid",
            Op::Relu => "relu",
            Op::GeluTanh => "gelu_tanh",
            Op::GeluErf => "gelu_erf",
            Op::Sqrt => "sqrt",
            Op::Rsqrt => "rsqrt",
            Op::Square => "square",
            Op::Scale { .. } => "scale",
            Op::AddScalar { .. } => "add_scalar",
            Op::ExpBackward => "exp_backward",
            Op::LnBackward => "ln_backward",
            Op::TanhBackward => "tanh_backward",
            Op::SigmoidBackward => "sigmoid_backward",
            Op::ReluBackward => "relu_backward",
            Op::GeluTanhBackward => "gelu_tanh_backward",
            Op::GeluErfBackward => "gelu_erf_backward",
            Op::SqrtBackward => "sqrt_backward",
            Op::RsqrtBackward => "rsqrt_backward",
            Op::SquareBackward => "square_backward",
            Op::Reshape { .. } => "reshape",
            Op::Permute { .. } => "permute",
            Op::Transpose { .. } => "transpose",
            Op::Slice { .. } => "slice",
            Op::SliceBackward { .. } => "slice_backward",
            Op::Concat { .. } => "concat",
            Op::Split { .. } => "split",
            Op::Gather => "gather_rows",
            Op::GatherBackward { .. } => "gather_rows_backward",
            Op::Softmax => "softmax",
            Op::SoftmaxBackward => "softmax_backward",
            Op::LogSoftmax => "log_softmax",
            Op::LogSoftmaxBackward => "log_softmax_backward",
            Op::LayerNorm { .. } => "layer_norm",
            Op::LayerNormBackward => "layer_norm_backward",
            Op::CrossEntropy => "cross_entropy",
            Op::CrossEntropyBackward => "cross_entropy_backward",
            Op::Sum { .. } => "sum",
            Op::Mean { .. } => "mean",
            Op::SumSquares { .. } => "sum_squares",
            Op::Max { .. } => "max",
            Op::SumBackward { .. } => "sum_backward",
            Op::MeanBackward { .. } => "mean_backward",
            Op::SumSquaresBackward { .. } => "sum_squares_backward",
            Op::MaxBackward { .. } => "max_backward",
            Op::SgdStep { .. } => "sgd_step",
            Op::AdamWStep { .. } => "adamw_step",
        }
    }

    /// The attributes, in a fixed order, with their names.
    pub fn attrs(&self) -> Vec<(&'static str, Attr)> {
        match self {
            Op::ReduceToShape { shape } | Op::Reshape { shape } => vec![("shape", list(shape))],
            Op::Scale { c } | Op::AddScalar { c } => vec![("c", Attr::F(*c))],
            Op::Permute { perm } => vec![("perm", list(perm))],
            Op::Transpose { a, b } => vec![("a", Attr::U(*a as u64)), ("b", Attr::U(*b as u64))],
            Op::Slice { axis, start, end } => vec![
                ("axis", Attr::U(*axis as u64)),
                ("start", Attr::U(*start as u64)),
                ("end", Attr::U(*end as u64)),
            ],
            Op::SliceBackward {
                x_shape,
                axis,
                start,
                end,
            } => vec![
                ("x_shape", list(x_shape)),
                ("axis", Attr::U(*axis as u64)),
                ("start", Attr::U(*start as u64)),
                ("end", Attr::U(*end as u64)),
            ],
            Op::Concat { axis } => vec![("axis", Attr::U(*axis as u64))],
            Op::Split { axis, sizes } => {
                vec![("axis", Attr::U(*axis as u64)), ("sizes", list(sizes))]
            }
            Op::GatherBackward { vocab } => vec![("vocab", Attr::U(*vocab as u64))],
            Op::LayerNorm { eps } => vec![("eps", Attr::F(*eps))],
            Op::Sum { over: o }
            | Op::Mean { over: o }
            | Op::SumSquares { over: o }
            | Op::Max { over: o }
            | Op::SumSquaresBackward { over: o }
            | Op::MaxBackward { over: o } => vec![("over", over(*o))],
            Op::SumBackward { x_shape, over: o } | Op::MeanBackward { x_shape, over: o } => {
                vec![("x_shape", list(x_shape)), ("over", over(*o))]
            }
            Op::SgdStep {
                lr,
                momentum,
                weight_decay,
            } => vec![
                ("lr", Attr::F(*lr)),
                ("momentum", Attr::F(*momentum)),
                ("weight_decay", Attr::F(*weight_decay)),
            ],
            Op::AdamWStep {
                lr,
                beta1,
                beta2,
                eps,
                weight_decay,
            } => vec![
                ("lr", Attr::F(*lr)),
                ("beta1", Attr::F(*beta1)),
                ("beta2", Attr::F(*beta2)),
                ("eps", Attr::F(*eps)),
                ("weight_decay", Attr::F(*weight_decay)),
            ],
            _ => Vec::new(),
        }
    }

    /// Number of inputs, or `None` for the variadic [`Op::Concat`].
    pub fn arity(&self) -> Option<usize> {
        Some(match self {
            Op::Concat { .. } => return None,
            Op::MatMul
            | Op::MatMulNT
            | Op::MatMulTN
            | Op::Bmm
            | Op::BmmNT
            | Op::BmmTN
            | Op::Add
            | Op::Sub
            | Op::Mul
            | Op::Div
            | Op::ExpBackward
            | Op::LnBackward
            | Op::TanhBackward
            | Op::SigmoidBackward
            | Op::ReluBackward
            | Op::GeluTanhBackward
            | Op::GeluErfBackward
            | Op::SqrtBackward
            | Op::RsqrtBackward
            | Op::SquareBackward
            | Op::Gather
            | Op::GatherBackward { .. }
            | Op::SoftmaxBackward
            | Op::LogSoftmaxBackward
            | Op::CrossEntropy
            | Op::SumSquaresBackward { .. }
            | Op::MaxBackward { .. } => 2,
            Op::MulBackward
            | Op::DivBackward
            | Op::LayerNorm { .. }
            | Op::CrossEntropyBackward
            | Op::SgdStep { .. } => 3,
            Op::LayerNormBackward => 4,
            Op::AdamWStep { .. } => 6,
            _ => 1,
        })
    }

    /// Canonical bytes of the op: `name length (u64 LE) ‖ name (UTF-8) ‖ attribute count
    /// (u64 LE) ‖ each attribute`. An attribute is `name length ‖ name ‖ tag (u8) ‖ payload`:
    /// tag 1 = u64 LE; 2 = f32 bits (u32 LE); 3 = count (u64 LE) then u64 LE each;
    /// 4 = reduction domain, `0xFF` for all elements or `0x00 ‖ axis (u64 LE)`.
    pub fn encode(&self, buf: &mut Vec<u8>) {
        put_str(buf, self.name());
        let attrs = self.attrs();
        buf.extend_from_slice(&(attrs.len() as u64).to_le_bytes());
        for (name, a) in attrs {
            put_str(buf, name);
            match a {
                Attr::U(v) => {
                    buf.push(1);
                    buf.extend_from_slice(&v.to_le_bytes());
                }
                Attr::F(f) => {
                    buf.push(2);
                    buf.extend_from_slice(&f.to_bits().to_le_bytes());
                }
                Attr::List(vs) => {
                    buf.push(3);
                    buf.extend_from_slice(&(vs.len() as u64).to_le_bytes());
                    for v in vs {
                        buf.extend_from_slice(&v.to_le_bytes());
                    }
                }
                Attr::Over(o) => {
                    buf.push(4);
                    match o {
                        None => buf.push(0xFF),
                        Some(a) => {
                            buf.push(0);
                            buf.extend_from_slice(&a.to_le_bytes());
                        }
                    }
                }
            }
        }
    }

    /// Human-readable form, e.g. `scale(c=0.5)`, `permute(perm=[0, 2, 1, 3])`.
    pub fn describe(&self) -> String {
        let attrs = self.attrs();
        if attrs.is_empty() {
            return self.name().to_string();
        }
        let parts: Vec<String> = attrs
            .into_iter()
            .map(|(n, a)| match a {
                Attr::U(v) => format!("{n}={v}"),
                Attr::F(f) => format!("{n}={f:e}"),
                Attr::List(vs) => format!("{n}={vs:?}"),
                Attr::Over(None) => format!("{n}=all"),
                Attr::Over(Some(a)) => format!("{n}=axis{a}"),
            })
            .collect();
        format!("{}({})", self.name(), parts.join(", "))
    }
}

/// Appends `len (u64 LE) ‖ bytes` of a string.
pub(crate) fn put_str(buf: &mut Vec<u8>, s: &str) {
    buf.extend_from_slice(&(s.len() as u64).to_le_bytes());
    buf.extend_from_slice(s.as_bytes());
}
