//! RepOps against libtorch (feature `tch`; `scripts/bench-torch --test` runs these):
//! 1. what RepOps is for: libtorch's full-tensor `sum` of 10⁶ f32 changes its bits with the
//!    thread count, RepOps' `sum` does not;
//! 2. weights move both ways: safetensors written by pinpoint load in libtorch bit for bit, and
//!    a libtorch model's weights (written by libtorch as safetensors) run on RepOps with logits
//!    within [`LOGIT_TOLERANCE`] of libtorch's.
//!
//! Without the feature this file compiles to an empty test binary.
// Dev-dependencies are shared by every test, bench and example target; each uses some.
// (Before the `cfg`, so that it also covers the empty crate built without the feature.)
#![allow(unused_crate_dependencies)]
#![cfg(feature = "tch")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../benches/support/libtorch.rs"]
mod libtorch;

use pinpoint_kernels::graph::Value;
use pinpoint_kernels::models::transformer::TransformerConfig;
use pinpoint_kernels::models::{BatchShape, Inference, ModelConfig, init_params};
use pinpoint_kernels::ops::reduce_ops::{Over, sum};
use pinpoint_kernels::rng::Philox;
use pinpoint_kernels::{Cpu, SimdPolicy, Tensor};
use pinpoint_train::safetensors;
use tch::{Device, Kind};

/// Thread counts compared.
const THREADS: [usize; 5] = [1, 2, 3, 4, 8];

/// Stated tolerance of RepOps' logits against libtorch's for the same weights and tokens:
/// `|repops − torch| ≤ LOGIT_TOLERANCE · (1 + |torch|)` element-wise. The two differ only by
/// rounding (summation order, fused multiply-adds, the math library's exp/tanh/rsqrt): through
/// the two blocks of the example transformer with logits up to about 3, the measured worst
/// case was 1.4e-6 (PyTorch 2.13.0, MKL, AVX-512 machine); the bound leaves a 7× margin for
/// other machines' libtorch kernels.
const LOGIT_TOLERANCE: f32 = 1e-5;

/// 10⁶ values of mixed magnitudes (so that the sum's rounding depends on the order).
fn million() -> Tensor {
    let rng = Philox::from_seed(17);
    let mut t = rng.normal_tensor(0, &[1_000_000], 0.0, 1.0);
    for (i, v) in t.data_mut().iter_mut().enumerate() {
        *v *= [1.0, 1e3, 1e-3, 37.5][i % 4];
    }
    t
}

#[test]
fn libtorch_sum_bits_change_with_threads_repops_sum_does_not() {
    let x = million();
    let tx = libtorch::to_torch(&x);
    let before = libtorch::threads();
    let torch_bits: Vec<u32> = THREADS
        .iter()
        .map(|&t| {
            libtorch::set_threads(t);
            (tx.sum(Kind::Float).double_value(&[]) as f32).to_bits()
        })
        .collect();
    libtorch::set_threads(before);
    let repops_bits: Vec<u32> = THREADS
        .iter()
        .map(|&t| {
            let cx = Cpu::new(t, SimdPolicy::Auto).unwrap();
            sum(&cx, &x, Over::All).unwrap().data()[0].to_bits()
        })
        .collect();
    println!("threads {THREADS:?}");
    println!("libtorch sum bits {torch_bits:08x?}");
    println!("RepOps   sum bits {repops_bits:08x?}");
    assert!(
        torch_bits.iter().any(|&b| b != torch_bits[0]),
        "libtorch gave the same bits at every thread count: {torch_bits:08x?}"
    );
    assert!(
        repops_bits.iter().all(|&b| b == repops_bits[0]),
        "RepOps' sum changed with the thread count: {repops_bits:08x?}"
    );
    let scalar = sum(&Cpu::scalar(), &x, Over::All).unwrap().data()[0].to_bits();
    assert_eq!(scalar, repops_bits[0], "scalar and SIMD RepOps differ");
}

/// The example transformer of `examples/addition.toml`.
fn example_config() -> TransformerConfig {
    TransformerConfig {
        vocab: 15,
        context: 16,
        layers: 2,
        width: 64,
        heads: 4,
        mlp_ratio: 4,
        init_std: 0.02,
        ln_eps: 1e-5,
    }
}

#[test]
fn safetensors_written_by_pinpoint_load_in_libtorch_bit_for_bit() {
    let model = ModelConfig::Transformer(example_config());
    let params = init_params(&model, 20260101);
    let bytes = safetensors::to_bytes(&params, &[("format".into(), "pt".into())]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("params.safetensors");
    std::fs::write(&path, bytes).unwrap();
    let loaded = tch::Tensor::read_safetensors(&path).unwrap();
    assert_eq!(loaded.len(), params.len());
    for (name, t) in &params {
        let (_, tt) = loaded
            .iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("{name} missing in libtorch"));
        assert_eq!(tt.kind(), Kind::Float, "{name}");
        let back = libtorch::from_torch(tt).unwrap();
        assert_eq!(back.shape(), t.shape(), "{name}");
        let same = back
            .data()
            .iter()
            .zip(t.data())
            .all(|(a, b)| a.to_bits() == b.to_bits());
        assert!(same, "{name}: libtorch read other bits");
    }
}

#[test]
fn libtorch_weights_run_on_repops_with_logits_within_tolerance() {
    let config = example_config();
    let model = ModelConfig::Transformer(config.clone());
    tch::manual_seed(7);
    // libtorch's own initialization, perturbed away from ones/zeros so that every parameter
    // matters: N(0, 0.1) matrices, gains 1 + N(0, 0.1), biases N(0, 0.1).
    let torch_params: Vec<(String, tch::Tensor)> = model
        .param_specs()
        .into_iter()
        .map(|p| {
            let shape: Vec<i64> = p.shape.iter().map(|&d| d as i64).collect();
            let r = tch::Tensor::randn(shape.as_slice(), (Kind::Float, Device::Cpu)) * 0.1;
            let t = if p.name.ends_with(".g") { r + 1.0 } else { r };
            (p.name, t)
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("torch.safetensors");
    tch::Tensor::write_safetensors(&torch_params, &path).unwrap();
    let (read, _) = safetensors::from_bytes(&std::fs::read(&path).unwrap()).unwrap();
    let params: Vec<(String, Tensor)> = model
        .param_specs()
        .iter()
        .map(|p| {
            let (_, t) = read.iter().find(|(n, _)| *n == p.name).unwrap();
            (p.name.clone(), t.clone())
        })
        .collect();

    let (batch, seq) = (8usize, 14usize);
    let tokens: Vec<u32> = (0..batch * seq)
        .map(|i| ((i * 7 + 3) % 15) as u32)
        .collect();
    let ids = pinpoint_kernels::graph::Ids::new(&[batch, seq], tokens).unwrap();
    let shape = BatchShape {
        batch,
        seq,
        loss_positions: 0,
    };
    let inference = Inference::new(&model, &shape).unwrap();
    let value = Value::U32(ids);
    let repops = inference
        .logits(
            &Cpu::new(2, SimdPolicy::Auto).unwrap(),
            &params,
            std::slice::from_ref(&value),
        )
        .unwrap();

    let torch_logits = tch::no_grad(|| {
        let p: Vec<tch::Tensor> = torch_params
            .iter()
            .map(|(_, t)| t.shallow_clone())
            .collect();
        libtorch::logits(&config, &p, &libtorch::ids_to_torch(&value).unwrap())
    });
    let torch_logits = libtorch::from_torch(&torch_logits).unwrap();
    assert_eq!(torch_logits.numel(), repops.numel());
    let mut worst = 0.0f32;
    for (&a, &b) in repops.data().iter().zip(torch_logits.data()) {
        let err = (a - b).abs() / (1.0 + b.abs());
        worst = worst.max(err);
    }
    let scale = torch_logits
        .data()
        .iter()
        .fold(0.0f32, |m, v| m.max(v.abs()));
    println!("max |logit| {scale}, max |repops - torch| / (1 + |torch|) = {worst:e}");
    assert!(scale > 0.5, "logits too small to test anything: {scale}");
    assert!(
        worst <= LOGIT_TOLERANCE,
        "RepOps' logits differ from libtorch's by {worst:e} > {LOGIT_TOLERANCE:e}"
    );
}
