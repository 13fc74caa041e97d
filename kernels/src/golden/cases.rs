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

/// All cases in order.
pub fn all() -> Vec<Case> {
    let mut v = Vec::new();
    v.extend(math_group());
    v.extend(rng_group());
    v.extend(reduce_group());
    v.extend(nn_group());
    v.extend(gemm_group());
    v
}
