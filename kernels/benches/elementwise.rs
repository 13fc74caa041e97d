//! Elementwise math ops: the vectorized slice forms (`math::lanes`, what the ops run) side by
//! side with the element-by-element scalar map they replaced, on one MLP activation of the
//! example transformer at batch 64 (64 rows × 14 positions × 256 hidden units), 1 thread.
//! Both compute the same bits (the `math::lanes` tests check it); only the speed differs.
//!
//! Run: `cargo bench -p pinpoint-kernels --bench elementwise` (`-- --test`: each case once).
// Dev-dependencies are shared by every test, bench and example target; each uses some.
#![allow(unused_crate_dependencies)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use pinpoint_kernels::ops::elementwise::{map_same_shape, map_unary};
use pinpoint_kernels::ops::unary;
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
}

criterion_group!(benches, bench);
criterion_main!(benches);
