//! The libtorch baseline (feature `tch`): the example transformer of
//! `pinpoint_kernels::models::transformer` written again with libtorch ops, with the same
//! parameter names, shapes and layout (`x · W` with `W` stored `[in, out]`), the same forward
//! (pre-LN blocks, tanh GELU, the additive causal mask of `CAUSAL_MASK_VALUE`), the same loss
//! (mean cross-entropy of the logit rows at the loss positions) and libtorch's AdamW with the
//! spec's hyper-parameters.
//!
//! Shared by `benches/train_step.rs`, `benches/gemm.rs` (through `#[path]`) and
//! `tests/libtorch.rs`. libtorch is not reproducible: this is the speed and numerics
//! reference, never a source of hashes.
// Each including target uses a different part of this module.
#![allow(dead_code)]

use pinpoint_kernels::Tensor;
use pinpoint_kernels::graph::Value;
use pinpoint_kernels::models::transformer::TransformerConfig;
use pinpoint_kernels::optim::AdamWHyper;
use tch::nn::OptimizerConfig;
use tch::{Device, Kind, nn};

/// Parameters per transformer block (as in `pinpoint_kernels::models::transformer`).
const PER_BLOCK: usize = 12;

/// Sets libtorch's intra-op thread count (`at::set_num_threads`; OpenMP and MKL follow it).
pub(crate) fn set_threads(threads: usize) {
    tch::set_num_threads(i32::try_from(threads).unwrap_or(i32::MAX));
}

/// libtorch's intra-op thread count.
pub(crate) fn threads() -> usize {
    usize::try_from(tch::get_num_threads()).unwrap_or(0)
}

/// A pinpoint tensor as a libtorch f32 tensor of the same shape (copied).
pub(crate) fn to_torch(t: &Tensor) -> tch::Tensor {
    let shape: Vec<i64> = t.shape().iter().map(|&d| d as i64).collect();
    tch::Tensor::from_slice(t.data()).reshape(shape.as_slice())
}

/// A libtorch f32 tensor as a pinpoint tensor of the same shape (copied).
pub(crate) fn from_torch(t: &tch::Tensor) -> Result<Tensor, String> {
    let shape: Vec<usize> = t.size().iter().map(|&d| d as usize).collect();
    let flat = t.to_kind(Kind::Float).contiguous().view([-1]);
    let data = Vec::<f32>::try_from(&flat).map_err(|e| e.to_string())?;
    Tensor::new(&shape, data).map_err(|e| e.to_string())
}

/// A u32 id value as a libtorch i64 tensor of the same shape.
pub(crate) fn ids_to_torch(v: &Value) -> Result<tch::Tensor, String> {
    let ids = v.as_ids("libtorch baseline").map_err(|e| e.to_string())?;
    let shape: Vec<i64> = ids.shape().iter().map(|&d| d as i64).collect();
    let data: Vec<i64> = ids.data().iter().map(|&x| i64::from(x)).collect();
    Ok(tch::Tensor::from_slice(&data).reshape(shape.as_slice()))
}

/// The logits `[B·T, V]` of the transformer for tokens `[B, T]` (i64), parameters in
/// `TransformerConfig::param_specs` order.
pub(crate) fn logits(
    c: &TransformerConfig,
    p: &[tch::Tensor],
    tokens: &tch::Tensor,
) -> tch::Tensor {
    let size = tokens.size();
    let (b, t) = (size[0], size[1]);
    let (w, h) = (c.width as i64, c.heads as i64);
    let d = w / h;
    let eps = f64::from(c.ln_eps);
    let tok = p[0]
        .index_select(0, &tokens.reshape([-1]))
        .reshape([b, t, w]);
    let pos = p[1].narrow(0, 0, t);
    let mut x = (tok + pos).reshape([b * t, w]);
    let mask = to_torch(&TransformerConfig::causal_mask(t as usize));
    let scale = f64::from(1.0 / (d as f32).sqrt());
    let heads = |y: tch::Tensor| {
        y.reshape([b, t, h, d])
            .permute([0, 2, 1, 3])
            .reshape([b * h, t, d])
    };
    // `x = x + …`, not `x += …`: tch's `+=` is libtorch's in-place `add_`, which autograd
    // rejects on a tensor its graph still needs (the residual stream is read by the next norm).
    #[allow(clippy::assign_op_pattern)]
    for l in 0..c.layers {
        let q = &p[2 + l * PER_BLOCK..2 + (l + 1) * PER_BLOCK];
        let hn = x.layer_norm([w], Some(&q[0]), Some(&q[1]), eps, false);
        let qh = heads(hn.matmul(&q[2]));
        let kh = heads(hn.matmul(&q[3]));
        let vh = heads(hn.matmul(&q[4]));
        let s = qh.bmm(&kh.transpose(1, 2)) * scale + &mask;
        let pr = s.softmax(-1, Kind::Float);
        let a = pr
            .bmm(&vh)
            .reshape([b, h, t, d])
            .permute([0, 2, 1, 3])
            .reshape([b * t, w]);
        x = x + a.matmul(&q[5]);
        let hn = x.layer_norm([w], Some(&q[6]), Some(&q[7]), eps, false);
        let f = (hn.matmul(&q[8]) + &q[9]).gelu("tanh").matmul(&q[10]) + &q[11];
        x = x + f;
    }
    let k = 2 + c.layers * PER_BLOCK;
    x.layer_norm([w], Some(&p[k]), Some(&p[k + 1]), eps, false)
        .matmul(&p[k + 2])
}

/// One training step of the transformer in libtorch: forward, loss, backward, AdamW.
pub(crate) struct TorchStep {
    config: TransformerConfig,
    /// Keeps the variables alive; the optimizer reads them from here.
    _store: nn::VarStore,
    optimizer: nn::Optimizer,
    params: Vec<tch::Tensor>,
    tokens: tch::Tensor,
    positions: tch::Tensor,
    targets: tch::Tensor,
}

impl TorchStep {
    /// The step for `params` (names and values in `param_specs` order; copied into a
    /// `VarStore`) on the batch values `[tokens, positions, targets]` of a pinpoint step.
    pub(crate) fn new(
        config: &TransformerConfig,
        hyper: &AdamWHyper,
        params: &[(String, Tensor)],
        batch: &[Value],
    ) -> Result<Self, String> {
        let store = nn::VarStore::new(Device::Cpu);
        let root = store.root();
        // VarStore names may not contain '.'.
        let vars: Vec<tch::Tensor> = params
            .iter()
            .map(|(name, t)| root.var_copy(&name.replace('.', "_"), &to_torch(t)))
            .collect();
        let optimizer = nn::AdamW {
            beta1: f64::from(hyper.beta1),
            beta2: f64::from(hyper.beta2),
            wd: f64::from(hyper.weight_decay),
            eps: f64::from(hyper.eps),
            amsgrad: false,
        }
        .build(&store, f64::from(hyper.lr))
        .map_err(|e| e.to_string())?;
        let [tokens, positions, targets] = batch else {
            return Err(format!(
                "expected 3 batch values (tokens, positions, targets), got {}",
                batch.len()
            ));
        };
        Ok(Self {
            config: config.clone(),
            _store: store,
            optimizer,
            params: vars,
            tokens: ids_to_torch(tokens)?,
            positions: ids_to_torch(positions)?.reshape([-1]),
            targets: ids_to_torch(targets)?.reshape([-1]),
        })
    }

    /// One step; returns the loss before the update.
    pub(crate) fn step(&mut self) -> f64 {
        let logits = logits(&self.config, &self.params, &self.tokens);
        let loss = logits
            .index_select(0, &self.positions)
            .cross_entropy_for_logits(&self.targets);
        self.optimizer.backward_step(&loss);
        loss.double_value(&[])
    }
}

/// libtorch's single-precision GEMM `C = A·B` (row-major `m×k` and `k×n`), through
/// `at::matmul` (MKL on the PyPI build).
pub(crate) struct TorchGemm {
    a: tch::Tensor,
    b: tch::Tensor,
    c: tch::Tensor,
}

impl TorchGemm {
    /// Copies `a` (`m×k`) and `b` (`k×n`) into libtorch tensors.
    pub(crate) fn new(a: &[f32], b: &[f32], m: usize, k: usize, n: usize) -> Self {
        let (m, k, n) = (m as i64, k as i64, n as i64);
        Self {
            a: tch::Tensor::from_slice(a).reshape([m, k]),
            b: tch::Tensor::from_slice(b).reshape([k, n]),
            c: tch::Tensor::zeros([m, n], (Kind::Float, Device::Cpu)),
        }
    }

    /// `C = A·B` into the preallocated output.
    pub(crate) fn run(&mut self) {
        let _ = self.a.matmul_out(&self.c, &self.b);
    }
}
