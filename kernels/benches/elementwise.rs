//! Elementwise math ops: the vectorized slice forms (`math::lanes`, what the ops run) side by
//! side with the element-by-element scalar map they replaced, on one MLP activation of the
//! example transformer at batch 64 (64 rows × 14 positions × 256 hidden units), 1 thread.
//! Both compute the same bits (the `math::lanes` tests check it); only the speed differs.
//! The `rows` group times the row ops and broadcast adds of the same step at their shapes
//! (layer norm over width 64, attention softmax over 14 positions, a bias add), 1 thread.
//!
//! Run: `cargo bench -p pinpoint-kernels --bench elementwise` (`-- --test`: each case once).
// Dev-dependencies are shared by every test, bench and example target; each uses some.
#![allow(unused_crate_dependencies)]

/// Large allocations start on a cache line, as in the `pinpoint` binary (and libtorch).
#[global_allocator]
static ALLOC: pinpoint_kernels::alloc::CacheAligned = pinpoint_kernels::alloc::CacheAligned;

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use pinpoint_kernels::ops::elementwise::{map_same_shape, map_unary};
use pinpoint_kernels::ops::{binary, loss, norm, shape, softmax, unary};
use pinpoint_kernels::{Cpu, Tensor, math};

/// Elements of one MLP activation at batch 64 of `examples/addition.toml`.
const N: usize = 64 * 14 * 256;

fn input() -> Tensor {
    // Pre-activations spread over [−6, 6], like a trained layer's.
    let data = (0..N)
        .map(|i| ((i * 7919) % 12_000) as f32 / 1000.0 - 6.0)
        .collect();
    Tensor::new(&[64 * 14, 256], data).expect("shape matches the data length")
}

/// The op, under its name, and the scalar function it maps.
type Case = (
    &'static str,
    fn(&Cpu, &Tensor) -> pinpoint_kernels::Result<Tensor>,
    fn(f32) -> f32,
);

fn bench(c: &mut Criterion) {
    let cx = Cpu::single();
    let x = input();
    let dy = input();
    let unaries: [Case; 4] = [
        ("gelu_tanh", unary::gelu_tanh, math::gelu_tanh),
        ("sigmoid", unary::sigmoid, math::sigmoid),
        ("tanh", unary::tanh, math::tanh),
        ("exp", unary::exp, math::exp),
    ];
    for (name, lanes, scalar) in unaries {
        let mut g = c.benchmark_group(name);
        g.bench_function("lanes", |b| {
            b.iter(|| black_box(lanes(&cx, black_box(&x)).expect("op")))
        });
        g.bench_function("scalar_map", |b| {
            b.iter(|| black_box(map_unary(&cx, name, black_box(&x), scalar).expect("map")))
        });
        g.finish();
    }
    let mut g = c.benchmark_group("gelu_tanh_backward");
    g.bench_function("lanes", |b| {
        b.iter(|| black_box(unary::gelu_tanh_backward(&cx, &x, &dy).expect("op")))
    });
    g.bench_function("scalar_map", |b| {
        b.iter(|| {
            black_box(
                map_same_shape(&cx, "gelu_tanh_backward", &x, &dy, |x, g| {
                    g * unary::gelu_tanh_grad(x)
                })
                .expect("map"),
            )
        })
    });
    g.finish();
    rows(c, &cx);
}

/// `[rows, d]` values in [−3, 3).
fn matrix(rows: usize, d: usize, seed: usize) -> Tensor {
    let data = (0..rows * d)
        .map(|i| ((i * 7919 + seed * 104_729) % 6_000) as f32 / 1000.0 - 3.0)
        .collect();
    Tensor::new(&[rows, d], data).expect("shape matches the data length")
}

/// The row ops of one training step at batch 64, each at its shape in the step.
fn rows(c: &mut Criterion, cx: &Cpu) {
    let mut g = c.benchmark_group("rows");
    let x = matrix(896, 64, 1);
    let dy = matrix(896, 64, 2);
    let gamma = Tensor::full(&[64], 1.25);
    let beta = Tensor::full(&[64], 0.5);
    g.bench_function("layer_norm_896x64", |b| {
        b.iter(|| black_box(norm::layer_norm(cx, &x, &gamma, &beta, 1e-5).expect("op")))
    });
    let (_, saved) = norm::layer_norm(cx, &x, &gamma, &beta, 1e-5).expect("op");
    g.bench_function("layer_norm_backward_896x64", |b| {
        b.iter(|| black_box(norm::layer_norm_backward(cx, &saved, &gamma, &dy).expect("op")))
    });
    let att = matrix(64 * 4 * 14, 14, 3);
    let datt = matrix(64 * 4 * 14, 14, 4);
    g.bench_function("softmax_3584x14", |b| {
        b.iter(|| black_box(softmax::softmax(cx, &att).expect("op")))
    });
    let p = softmax::softmax(cx, &att).expect("op");
    g.bench_function("softmax_backward_3584x14", |b| {
        b.iter(|| black_box(softmax::softmax_backward(cx, &p, &datt).expect("op")))
    });
    let logits = matrix(896, 15, 5);
    let targets: Vec<u32> = (0..896).map(|i| (i * 7 % 15) as u32).collect();
    g.bench_function("cross_entropy_896x15", |b| {
        b.iter(|| black_box(loss::cross_entropy(cx, &logits, &targets).expect("op")))
    });
    g.bench_function("cross_entropy_backward_896x15", |b| {
        b.iter(|| black_box(loss::cross_entropy_backward(cx, &logits, &targets, 1.0).expect("op")))
    });
    let h = matrix(896, 256, 6);
    let bias = Tensor::full(&[256], 0.125);
    g.bench_function("add_bias_896x256", |b| {
        b.iter(|| black_box(binary::add(cx, &h, &bias).expect("op")))
    });
    g.bench_function("add_896x64", |b| {
        b.iter(|| black_box(binary::add(cx, &x, &dy).expect("op")))
    });
    let q = Tensor::new(&[64, 14, 4, 16], matrix(896, 64, 7).data().to_vec()).expect("shape");
    g.bench_function("permute_64x14x4x16", |b| {
        b.iter(|| black_box(shape::permute(cx, &q, &[0, 2, 1, 3]).expect("op")))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
