//! The list of golden cases. Append new cases at the end of a group; never reorder or rename
//! existing ones without re-blessing on purpose.

use super::{Case, Inputs, Outputs};
use crate::cpu::Cpu;
use crate::error::Result;
use crate::gemm;
use crate::math;
use crate::ops;
use crate::tensor::Tensor;

/// Awkward lengths: 1, around the block size, and a large odd one.
const LENGTHS: [usize; 5] = [1, 7, 255, 257, 1023];

/// Special inputs every elementwise function sees, followed by sampled ones.
fn special_values() -> Vec<f32> {
    vec![
        0.0,
        -0.0,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NAN,
        f32::from_bits(1),
        f32::from_bits(0x007f_ffff),
        f32::MIN_POSITIVE,
        -f32::from_bits(1),
        f32::MAX,
        f32::MIN,
        1.0,
        -1.0,
        0.5,
        88.72,
        88.73,
        -87.33,
        -103.97,
        -104.0,
        std::f32::consts::FRAC_PI_2,
        std::f32::consts::PI,
        1.0e4,
        1.0e20,
        -3.0e38,
    ]
}

fn math_input(inp: &Inputs, stream: u64, lo: f32, hi: f32) -> Result<Tensor> {
    let mut v = special_values();
    v.extend(inp.uniform(stream, &[1023], lo, hi).into_data());
    Tensor::new(&[v.len()], v)
}

fn map(t: &Tensor, f: fn(f32) -> f32) -> Result<Tensor> {
    Tensor::new(t.shape(), t.data().iter().map(|&x| f(x)).collect())
}

fn math_case(inp: &Inputs, stream: u64, lo: f32, hi: f32, f: fn(f32) -> f32) -> Result<Outputs> {
    Ok(vec![("", map(&math_input(inp, stream, lo, hi)?, f)?)])
}

macro_rules! math_cases {
    ($( $name:literal => $f:path, $stream:literal, $lo:literal, $hi:literal; )*) => {
        vec![$(
            Case {
                name: $name,
                run: |_cx: &Cpu, inp: &Inputs| math_case(inp, $stream, $lo, $hi, $f),
            },
        )*]
    };
}

fn math_group() -> Vec<Case> {
    math_cases! {
        "math.exp" => math::exp, 100, -104.0, 89.0;
        "math.ln" => math::ln, 101, 0.0, 1.0e6;
        "math.tanh" => math::tanh, 102, -10.0, 10.0;
        "math.sigmoid" => math::sigmoid, 103, -20.0, 20.0;
        "math.erf" => math::erf, 104, -5.0, 5.0;
        "math.gelu_tanh" => math::gelu_tanh, 105, -8.0, 8.0;
        "math.gelu_erf" => math::gelu_erf, 106, -8.0, 8.0;
        "math.sin" => math::sin, 107, -1.0e3, 1.0e3;
        "math.cos" => math::cos, 108, -1.0e3, 1.0e3;
        "math.sqrt" => math::sqrt, 109, 0.0, 1.0e6;
        "math.rsqrt" => math::rsqrt, 110, 0.0, 1.0e6;
    }
}

fn rng_group() -> Vec<Case> {
    vec![
        Case {
            name: "rng.uniform",
            run: |_cx, inp| Ok(vec![("", inp.uniform(1, &[1023], -1.0, 1.0))]),
        },
        Case {
            name: "rng.normal",
            run: |_cx, inp| Ok(vec![("", inp.normal(2, &[1023], 1.0))]),
        },
    ]
}

fn reduce_group() -> Vec<Case> {
    vec![Case {
        name: "reduce.canonical_sum",
        run: |_cx, inp| {
            let mut sums = Vec::new();
            for (i, &n) in LENGTHS.iter().enumerate() {
                let x = inp.uniform(200 + i as u64, &[n], -1.0e3, 1.0e3);
                sums.push(crate::reduce::canonical_sum_slice(x.data()));
                let y = inp.uniform(300 + i as u64, &[n], -1.0, 1.0);
                sums.push(crate::reduce::canonical_dot(
                    n,
                    |j| x.data()[j],
                    |j| y.data()[j],
                ));
            }
            Ok(vec![("", Tensor::new(&[sums.len()], sums)?)])
        },
    }]
}

fn softmax_case(cx: &Cpu, inp: &Inputs, rows: usize, cols: usize, log: bool) -> Result<Outputs> {
    let x = inp.uniform(400, &[rows, cols], -8.0, 8.0);
    let dy = inp.uniform(401, &[rows, cols], -1.0, 1.0);
    let (y, dx) = if log {
        let y = ops::softmax::log_softmax(cx, &x)?;
        let dx = ops::softmax::log_softmax_backward(cx, &y, &dy)?;
        (y, dx)
    } else {
        let y = ops::softmax::softmax(cx, &x)?;
        let dx = ops::softmax::softmax_backward(cx, &y, &dy)?;
        (y, dx)
    };
    Ok(vec![("y", y), ("dx", dx)])
}

fn cross_entropy_case(cx: &Cpu, inp: &Inputs, rows: usize, classes: usize) -> Result<Outputs> {
    let logits = inp.uniform(410, &[rows, classes], -6.0, 6.0);
    let targets = inp.ids(411, rows, classes as u32);
    Ok(vec![
        ("loss", ops::loss::cross_entropy(cx, &logits, &targets)?),
        (
            "rows",
            ops::loss::cross_entropy_rows(cx, &logits, &targets)?,
        ),
        (
            "dlogits",
            ops::loss::cross_entropy_backward(cx, &logits, &targets, 1.0)?,
        ),
    ])
}

fn layer_norm_case(cx: &Cpu, inp: &Inputs, rows: usize, d: usize) -> Result<Outputs> {
    let x = inp.uniform(420, &[rows, d], -3.0, 5.0);
    let gamma = inp.uniform(421, &[d], 0.5, 1.5);
    let beta = inp.uniform(422, &[d], -0.5, 0.5);
    let dy = inp.uniform(423, &[rows, d], -1.0, 1.0);
    let (y, saved) = ops::norm::layer_norm(cx, &x, &gamma, &beta, 1e-5)?;
    let (dx, dgamma, dbeta) = ops::norm::layer_norm_backward(cx, &saved, &gamma, &dy)?;
    Ok(vec![
        ("y", y),
        ("xhat", saved.xhat),
        ("rstd", saved.rstd),
        ("dx", dx),
        ("dgamma", dgamma),
        ("dbeta", dbeta),
    ])
}

fn nn_group() -> Vec<Case> {
    vec![
        Case {
            name: "softmax.7x257",
            run: |cx, inp| softmax_case(cx, inp, 7, 257, false),
        },
        Case {
            name: "softmax.255x7",
            run: |cx, inp| softmax_case(cx, inp, 255, 7, false),
        },
        Case {
            name: "log_softmax.3x1023",
            run: |cx, inp| softmax_case(cx, inp, 3, 1023, true),
        },
        Case {
            name: "log_softmax.257x1",
            run: |cx, inp| softmax_case(cx, inp, 257, 1, true),
        },
        Case {
            name: "cross_entropy.255x7",
            run: |cx, inp| cross_entropy_case(cx, inp, 255, 7),
        },
        Case {
            name: "cross_entropy.5x1023",
            run: |cx, inp| cross_entropy_case(cx, inp, 5, 1023),
        },
        Case {
            name: "layer_norm.7x255",
            run: |cx, inp| layer_norm_case(cx, inp, 7, 255),
        },
        Case {
            name: "layer_norm.300x257",
            run: |cx, inp| layer_norm_case(cx, inp, 300, 257),
        },
    ]
}

fn gemm_case(cx: &Cpu, inp: &Inputs, m: usize, k: usize, n: usize) -> Result<Outputs> {
    let a = inp.uniform(500, &[m, k], -1.0, 1.0);
    let b = inp.uniform(501, &[k, n], -1.0, 1.0);
    let at = inp.uniform(502, &[k, m], -1.0, 1.0);
    let bt = inp.uniform(503, &[n, k], -1.0, 1.0);
    let dc = inp.uniform(504, &[m, n], -1.0, 1.0);
    let (da, db) = gemm::matmul_backward(cx, &a, &b, &dc)?;
    Ok(vec![
        ("nn", gemm::matmul(cx, &a, &b)?),
        ("tn", gemm::matmul_tn(cx, &at, &b)?),
        ("nt", gemm::matmul_nt(cx, &a, &bt)?),
        ("da", da),
        ("db", db),
    ])
}

fn bmm_case(cx: &Cpu, inp: &Inputs, batch: usize, m: usize, k: usize, n: usize) -> Result<Outputs> {
    let a = inp.uniform(510, &[batch, m, k], -2.0, 2.0);
    let b = inp.uniform(511, &[batch, k, n], -2.0, 2.0);
    let at = inp.uniform(512, &[batch, k, m], -2.0, 2.0);
    let bt = inp.uniform(513, &[batch, n, k], -2.0, 2.0);
    let dc = inp.uniform(514, &[batch, m, n], -1.0, 1.0);
    let (da, db) = gemm::bmm_backward(cx, &a, &b, &dc)?;
    Ok(vec![
        ("nn", gemm::bmm(cx, &a, &b)?),
        ("tn", gemm::bmm_tn(cx, &at, &b)?),
        ("nt", gemm::bmm_nt(cx, &a, &bt)?),
        ("da", da),
        ("db", db),
    ])
}

fn gemm_group() -> Vec<Case> {
    vec![
        Case {
            name: "gemm.1x1x1",
            run: |cx, inp| gemm_case(cx, inp, 1, 1, 1),
        },
        Case {
            name: "gemm.7x257x255",
            run: |cx, inp| gemm_case(cx, inp, 7, 257, 255),
        },
        Case {
            name: "gemm.255x1023x7",
            run: |cx, inp| gemm_case(cx, inp, 255, 1023, 7),
        },
        Case {
            name: "gemm.257x255x1023",
            run: |cx, inp| gemm_case(cx, inp, 257, 255, 1023),
        },
        Case {
            name: "gemm.1023x7x257",
            run: |cx, inp| gemm_case(cx, inp, 1023, 7, 257),
        },
        Case {
            name: "gemm.64x600x96",
            run: |cx, inp| gemm_case(cx, inp, 64, 600, 96),
        },
        Case {
            name: "bmm.3x7x257x33",
            run: |cx, inp| bmm_case(cx, inp, 3, 7, 257, 33),
        },
        Case {
            name: "bmm.5x64x16x64",
            run: |cx, inp| bmm_case(cx, inp, 5, 64, 16, 64),
        },
    ]
}

type BinaryOp = fn(&Cpu, &Tensor, &Tensor) -> Result<Tensor>;
type BinaryBackward = fn(&Cpu, &Tensor, &Tensor, &Tensor) -> Result<(Tensor, Tensor)>;

/// A binary op with broadcasting `[7,1,255] ∘ [257,1]` → `[7,257,255]`, and its backward.
fn binary_case(cx: &Cpu, inp: &Inputs, f: BinaryOp, df: BinaryBackward) -> Result<Outputs> {
    let a = inp.uniform(600, &[7, 1, 255], -3.0, 3.0);
    let b = inp.uniform(601, &[257, 1], 0.5, 2.0);
    let dy = inp.uniform(602, &[7, 257, 255], -1.0, 1.0);
    let y = f(cx, &a, &b)?;
    let (da, db) = df(cx, &a, &b, &dy)?;
    Ok(vec![("y", y), ("da", da), ("db", db)])
}

type UnaryOp = fn(&Cpu, &Tensor) -> Result<Tensor>;
type UnaryBackward = fn(&Cpu, &Tensor, &Tensor) -> Result<Tensor>;

/// A unary op on `[3, 1023]` and its backward; `from_output` says whether the backward takes
/// the output `y` (else the input `x`).
fn unary_case(
    cx: &Cpu,
    inp: &Inputs,
    (lo, hi): (f32, f32),
    f: UnaryOp,
    df: UnaryBackward,
    from_output: bool,
) -> Result<Outputs> {
    let x = inp.uniform(610, &[3, 1023], lo, hi);
    let dy = inp.uniform(611, &[3, 1023], -1.0, 1.0);
    let y = f(cx, &x)?;
    let dx = df(cx, if from_output { &y } else { &x }, &dy)?;
    Ok(vec![("y", y), ("dx", dx)])
}

fn elementwise_group() -> Vec<Case> {
    use ops::binary as b;
    use ops::unary as u;
    vec![
        Case {
            name: "add.bcast",
            run: |cx, inp| binary_case(cx, inp, b::add, b::add_backward),
        },
        Case {
            name: "sub.bcast",
            run: |cx, inp| binary_case(cx, inp, b::sub, b::sub_backward),
        },
        Case {
            name: "mul.bcast",
            run: |cx, inp| binary_case(cx, inp, b::mul, b::mul_backward),
        },
        Case {
            name: "div.bcast",
            run: |cx, inp| binary_case(cx, inp, b::div, b::div_backward),
        },
        Case {
            name: "maximum.bcast",
            run: |cx, inp| binary_case(cx, inp, b::maximum, b::maximum_backward),
        },
        Case {
            name: "minimum.bcast",
            run: |cx, inp| binary_case(cx, inp, b::minimum, b::minimum_backward),
        },
        Case {
            name: "exp.3x1023",
            run: |cx, inp| unary_case(cx, inp, (-20.0, 20.0), u::exp, u::exp_backward, true),
        },
        Case {
            name: "ln.3x1023",
            run: |cx, inp| unary_case(cx, inp, (1e-3, 1e3), u::ln, u::ln_backward, false),
        },
        Case {
            name: "tanh.3x1023",
            run: |cx, inp| unary_case(cx, inp, (-6.0, 6.0), u::tanh, u::tanh_backward, true),
        },
        Case {
            name: "sigmoid.3x1023",
            run: |cx, inp| {
                unary_case(
                    cx,
                    inp,
                    (-12.0, 12.0),
                    u::sigmoid,
                    u::sigmoid_backward,
                    true,
                )
            },
        },
        Case {
            name: "relu.3x1023",
            run: |cx, inp| unary_case(cx, inp, (-1.0, 1.0), u::relu, u::relu_backward, false),
        },
        Case {
            name: "gelu_tanh.3x1023",
            run: |cx, inp| {
                unary_case(
                    cx,
                    inp,
                    (-6.0, 6.0),
                    u::gelu_tanh,
                    u::gelu_tanh_backward,
                    false,
                )
            },
        },
        Case {
            name: "gelu_erf.3x1023",
            run: |cx, inp| {
                unary_case(
                    cx,
                    inp,
                    (-6.0, 6.0),
                    u::gelu_erf,
                    u::gelu_erf_backward,
                    false,
                )
            },
        },
        Case {
            name: "sqrt.3x1023",
            run: |cx, inp| unary_case(cx, inp, (0.0, 1e4), u::sqrt, u::sqrt_backward, true),
        },
        Case {
            name: "rsqrt.3x1023",
            run: |cx, inp| unary_case(cx, inp, (1e-4, 1e4), u::rsqrt, u::rsqrt_backward, true),
        },
        Case {
            name: "square.3x1023",
            run: |cx, inp| unary_case(cx, inp, (-1e3, 1e3), u::square, u::square_backward, false),
        },
    ]
}

fn shape_group() -> Vec<Case> {
    use ops::shape as sh;
    vec![
        Case {
            name: "permute.7x255x3",
            run: |cx, inp| {
                let x = inp.uniform(700, &[7, 255, 3], -1.0, 1.0);
                let dy = inp.uniform(701, &[3, 7, 255], -1.0, 1.0);
                Ok(vec![
                    ("y", sh::permute(cx, &x, &[2, 0, 1])?),
                    ("dx", sh::permute_backward(cx, &[2, 0, 1], &dy)?),
                    ("t", sh::transpose(cx, &x, 1, 2)?),
                ])
            },
        },
        Case {
            name: "slice_concat.257x7",
            run: |cx, inp| {
                let x = inp.uniform(710, &[257, 7], -1.0, 1.0);
                let z = inp.uniform(711, &[1, 7], -1.0, 1.0);
                let dy = inp.uniform(712, &[255, 7], -1.0, 1.0);
                let dc = inp.uniform(713, &[258, 7], -1.0, 1.0);
                let parts = sh::concat_backward(cx, 0, &[257, 1], &dc)?;
                let mut out = vec![
                    ("slice", sh::slice(cx, &x, 0, 1, 256)?),
                    (
                        "slice_dx",
                        sh::slice_backward(cx, &[257, 7], 0, 1, 256, &dy)?,
                    ),
                    ("concat", sh::concat(cx, &[&x, &z], 0)?),
                ];
                for (name, t) in ["concat_d0", "concat_d1"].into_iter().zip(parts) {
                    out.push((name, t));
                }
                Ok(out)
            },
        },
        Case {
            name: "gather.1023x7",
            run: |cx, inp| {
                let table = inp.uniform(720, &[257, 7], -1.0, 1.0);
                let ids = inp.ids(721, 1023, 257);
                let dy = inp.uniform(722, &[3, 341, 7], -1.0, 1.0);
                Ok(vec![
                    ("y", ops::gather::gather_rows(cx, &table, &ids, &[3, 341])?),
                    (
                        "dtable",
                        ops::gather::gather_rows_backward(cx, 257, &ids, &dy)?,
                    ),
                ])
            },
        },
    ]
}

fn reduction_group() -> Vec<Case> {
    use ops::reduce_ops::{self as r, Over};
    vec![Case {
        name: "reduce_ops.257x1023",
        run: |cx, inp| {
            let x = inp.uniform(800, &[257, 1023], -10.0, 10.0);
            let dy1 = inp.uniform(801, &[257], -1.0, 1.0);
            let dy0 = inp.uniform(802, &[1023], -1.0, 1.0);
            let s = [257, 1023];
            Ok(vec![
                ("sum0", r::sum(cx, &x, Over::Axis(0))?),
                ("sum1", r::sum(cx, &x, Over::Axis(1))?),
                ("sum_all", r::sum(cx, &x, Over::All)?),
                ("mean1", r::mean(cx, &x, Over::Axis(1))?),
                ("max0", r::max(cx, &x, Over::Axis(0))?),
                ("sumsq1", r::sum_squares(cx, &x, Over::Axis(1))?),
                ("dsum1", r::sum_backward(cx, &s, Over::Axis(1), &dy1)?),
                ("dmean0", r::mean_backward(cx, &s, Over::Axis(0), &dy0)?),
                ("dmax0", r::max_backward(cx, &x, Over::Axis(0), &dy0)?),
                (
                    "dsumsq1",
                    r::sum_squares_backward(cx, &x, Over::Axis(1), &dy1)?,
                ),
            ])
        },
    }]
}

/// All cases in order.
pub(super) fn all() -> Vec<Case> {
    let mut v = Vec::new();
    v.extend(math_group());
    v.extend(rng_group());
    v.extend(reduce_group());
    v.extend(nn_group());
    v.extend(gemm_group());
    v.extend(elementwise_group());
    v.extend(shape_group());
    v.extend(reduction_group());
    v
}
