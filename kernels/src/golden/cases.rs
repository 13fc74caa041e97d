//! The list of golden cases. Append new cases at the end of a group; never reorder or rename
//! existing ones without re-blessing on purpose.

use super::{Case, Inputs, Outputs};
use crate::cpu::Cpu;
use crate::error::Result;
use crate::math;
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

/// All cases in order.
pub fn all() -> Vec<Case> {
    let mut v = Vec::new();
    v.extend(math_group());
    v.extend(rng_group());
    v.extend(reduce_group());
    v
}
