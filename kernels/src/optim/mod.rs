//! Optimizers as graph nodes: SGD with momentum and weight decay, and AdamW.
//!
//! [`OptimConfig::append`] appends the update nodes after the backward pass; the updated
//! parameters and state are graph outputs, so a step is a pure function of (state, batch).
//! AdamW's bias corrections use `β1^t`, `β2^t` carried in the optimizer state and advanced by
//! one multiplication per step (no `powf`). Exact element order: docs/numerics.md §10.

use crate::cpu::Cpu;
use crate::cpu::with_simd;
use crate::error::{KernelError, Result};
use crate::graph::{Builder, InputKind, Op, ValueRef, ValueType};
use crate::ops::broadcast::ELEMENTWISE_CHUNK;
use crate::tensor::Tensor;

/// Hyper-parameters of [`sgd_update`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SgdHyper {
    /// Learning rate.
    pub lr: f32,
    /// Momentum `μ` (0 for plain SGD).
    pub momentum: f32,
    /// L2 weight decay added to the gradient.
    pub weight_decay: f32,
}

/// Hyper-parameters of [`adamw_update`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamWHyper {
    /// Learning rate.
    pub lr: f32,
    /// `β1`.
    pub beta1: f32,
    /// `β2`.
    pub beta2: f32,
    /// `ε`.
    pub eps: f32,
    /// Decoupled weight decay.
    pub weight_decay: f32,
}

/// One SGD element: `g1 = fma(wd, p, g)`; `v' = fma(μ, v, g1)`; `p' = fma(−lr, v', p)`.
/// Returns `(p', v')`.
#[inline(always)]
pub fn sgd_element(h: &SgdHyper, p: f32, g: f32, v: f32) -> (f32, f32) {
    let g1 = h.weight_decay.mul_add(p, g);
    let v1 = h.momentum.mul_add(v, g1);
    ((-h.lr).mul_add(v1, p), v1)
}

/// Per-tensor AdamW constants, computed once per node (each operation rounded, in this
/// order): `c1 = 1 − β1`, `c2 = 1 − β2`, `bc1 = 1 − β1^t`, `bc2 = 1 − β2^t`,
/// `decay = 1 − lr·wd` (the product rounded, then the difference).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamWConsts {
    /// `1 − β1`.
    pub c1: f32,
    /// `1 − β2`.
    pub c2: f32,
    /// `1 − β1^t`.
    pub bc1: f32,
    /// `1 − β2^t`.
    pub bc2: f32,
    /// `1 − lr·wd`.
    pub decay: f32,
}

impl AdamWConsts {
    /// The constants for `β1^t = b1_pow`, `β2^t = b2_pow`.
    pub fn new(h: &AdamWHyper, b1_pow: f32, b2_pow: f32) -> Self {
        Self {
            c1: 1.0 - h.beta1,
            c2: 1.0 - h.beta2,
            bc1: 1.0 - b1_pow,
            bc2: 1.0 - b2_pow,
            decay: 1.0 - h.lr * h.weight_decay,
        }
    }
}

/// One AdamW element, each step rounded:
/// `m' = fma(β1, m, c1·g)`; `v' = fma(β2, v, c2·(g·g))`; `m̂ = m' / bc1`; `v̂ = v' / bc2`;
/// `d = sqrt(v̂) + ε`; `u = m̂ / d`; `p' = fma(−lr, u, p·decay)`. Returns `(p', m', v')`.
#[inline(always)]
pub fn adamw_element(h: &AdamWHyper, k: &AdamWConsts, p: f32, g: f32, m: f32, v: f32) -> [f32; 3] {
    let m1 = h.beta1.mul_add(m, k.c1 * g);
    let v1 = h.beta2.mul_add(v, k.c2 * (g * g));
    let mhat = m1 / k.bc1;
    let vhat = v1 / k.bc2;
    let d = vhat.sqrt() + h.eps;
    let u = mhat / d;
    [(-h.lr).mul_add(u, p * k.decay), m1, v1]
}

fn same_shapes(op: &'static str, ts: &[&Tensor]) -> Result<()> {
    let s = ts[0].shape();
    if let Some(t) = ts.iter().find(|t| t.shape() != s) {
        return Err(KernelError::ShapeMismatch {
            op,
            detail: format!("{:?} vs {:?}", t.shape(), s),
        });
    }
    ts[0].require_nonempty(op)
}

/// SGD update of one parameter tensor: returns `(p', v')` ([`sgd_element`] per element,
/// parallel over chunks of [`ELEMENTWISE_CHUNK`]).
pub fn sgd_update(
    cx: &Cpu,
    h: &SgdHyper,
    p: &Tensor,
    g: &Tensor,
    v: &Tensor,
) -> Result<(Tensor, Tensor)> {
    same_shapes("sgd_step", &[p, g, v])?;
    let n = p.numel();
    let mut out = crate::buffers::for_overwrite(2 * n);
    let (ps, gs, vs) = (p.data(), g.data(), v.data());
    {
        let (po, vo) = out.split_at_mut(n);
        let mut pairs: Vec<(&mut [f32], &mut [f32])> = po
            .chunks_mut(ELEMENTWISE_CHUNK)
            .zip(vo.chunks_mut(ELEMENTWISE_CHUNK))
            .collect();
        let simd = cx.simd();
        cx.for_each_chunk_mut(&mut pairs, 1, |ci, pc| {
            let (pp, vv) = &mut pc[0];
            let base = ci * ELEMENTWISE_CHUNK;
            with_simd(simd, || {
                for j in 0..pp.len() {
                    let i = base + j;
                    (pp[j], vv[j]) = sgd_element(h, ps[i], gs[i], vs[i]);
                }
            });
        });
    }
    let v_new = out.split_off(n);
    Ok((Tensor::new(p.shape(), out)?, Tensor::new(p.shape(), v_new)?))
}

/// AdamW update of one parameter tensor from `[p, g, m, v]` and the rank-0 powers
/// `β1^t`, `β2^t` (already advanced to this step): returns `(p', m', v')`
/// ([`adamw_element`] per element).
pub fn adamw_update(
    cx: &Cpu,
    h: &AdamWHyper,
    [p, g, m, v]: [&Tensor; 4],
    b1_pow: &Tensor,
    b2_pow: &Tensor,
) -> Result<(Tensor, Tensor, Tensor)> {
    same_shapes("adamw_step", &[p, g, m, v])?;
    for t in [b1_pow, b2_pow] {
        if t.rank() != 0 {
            return Err(KernelError::ShapeMismatch {
                op: "adamw_step",
                detail: format!("β^t must be rank 0, got {:?}", t.shape()),
            });
        }
    }
    let k = AdamWConsts::new(h, b1_pow.data()[0], b2_pow.data()[0]);
    let n = p.numel();
    let (ps, gs, ms, vs) = (p.data(), g.data(), m.data(), v.data());
    let mut po = crate::buffers::for_overwrite(n);
    let mut mo = crate::buffers::for_overwrite(n);
    let mut vo = crate::buffers::for_overwrite(n);
    {
        let mut triples: Vec<(&mut [f32], &mut [f32], &mut [f32])> = po
            .chunks_mut(ELEMENTWISE_CHUNK)
            .zip(mo.chunks_mut(ELEMENTWISE_CHUNK))
            .zip(vo.chunks_mut(ELEMENTWISE_CHUNK))
            .map(|((a, b), c)| (a, b, c))
            .collect();
        let simd = cx.simd();
        cx.for_each_chunk_mut(&mut triples, 1, |ci, tc| {
            let (pp, mm, vv) = &mut tc[0];
            let r = ci * ELEMENTWISE_CHUNK..ci * ELEMENTWISE_CHUNK + pp.len();
            let src = [&ps[r.clone()], &gs[r.clone()], &ms[r.clone()], &vs[r]];
            adamw_chunk(simd, h, &k, src, [pp, mm, vv]);
        });
    }
    Ok((
        Tensor::new(p.shape(), po)?,
        Tensor::new(p.shape(), mo)?,
        Tensor::new(p.shape(), vo)?,
    ))
}

crate::cpu::simd_fn! {
    /// [`adamw_element`] over a chunk: `[p, g, m, v]` in, `[p', m', v']` out. Compiled with
    /// AVX2+FMA where available: `mul_add` is the FMA instruction and the loop vectorizes
    /// (the same correctly rounded operations, so the same bits).
    fn adamw_chunk(
        h: &AdamWHyper,
        k: &AdamWConsts,
        src: [&[f32]; 4],
        out: [&mut [f32]; 3],
    ) => adamw_chunk_body
}

#[inline(always)]
fn adamw_chunk_body(h: &AdamWHyper, k: &AdamWConsts, src: [&[f32]; 4], out: [&mut [f32]; 3]) {
    let [ps, gs, ms, vs] = src;
    let [po, mo, vo] = out;
    let n = po.len();
    let (ps, gs, ms, vs) = (&ps[..n], &gs[..n], &ms[..n], &vs[..n]);
    let (mo, vo) = (&mut mo[..n], &mut vo[..n]);
    for i in 0..n {
        [po[i], mo[i], vo[i]] = adamw_element(h, k, ps[i], gs[i], ms[i], vs[i]);
    }
}

/// An optimizer and its hyper-parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum OptimConfig {
    /// SGD with momentum and (coupled, L2) weight decay.
    Sgd(SgdHyper),
    /// AdamW with decoupled weight decay and bias correction.
    AdamW(AdamWHyper),
}

/// Names of AdamW's carried powers in the optimizer state.
pub const ADAMW_BETA1_POW: &str = "adamw.beta1_pow";
/// See [`ADAMW_BETA1_POW`].
pub const ADAMW_BETA2_POW: &str = "adamw.beta2_pow";

impl OptimConfig {
    /// The optimizer state layout for parameters `(name, shape)` in order:
    /// - SGD: `"{param}.momentum"` per parameter, in parameter order;
    /// - AdamW: `"adamw.beta1_pow"`, `"adamw.beta2_pow"` (rank 0), then per parameter in order
    ///   `"{param}.adam_m"`, `"{param}.adam_v"`.
    pub fn state_layout(&self, params: &[(String, Vec<usize>)]) -> Vec<(String, Vec<usize>)> {
        match self {
            OptimConfig::Sgd(_) => params
                .iter()
                .map(|(n, s)| (format!("{n}.momentum"), s.clone()))
                .collect(),
            OptimConfig::AdamW(_) => {
                let mut v = vec![
                    (ADAMW_BETA1_POW.to_string(), Vec::new()),
                    (ADAMW_BETA2_POW.to_string(), Vec::new()),
                ];
                for (n, s) in params {
                    v.push((format!("{n}.adam_m"), s.clone()));
                    v.push((format!("{n}.adam_v"), s.clone()));
                }
                v
            }
        }
    }

    /// The initial state `S_0`: zeros for momenta and moments, `1.0` for `β^0`.
    pub fn init_state(&self, params: &[(String, Vec<usize>)]) -> Vec<(String, Tensor)> {
        self.state_layout(params)
            .into_iter()
            .map(|(n, s)| {
                let t = if s.is_empty() {
                    Tensor::scalar(1.0)
                } else {
                    Tensor::zeros(&s)
                };
                (n, t)
            })
            .collect()
    }

    /// Declares the state inputs in [`OptimConfig::state_layout`] order.
    pub fn declare_state(
        &self,
        b: &mut Builder,
        params: &[(String, Vec<usize>)],
    ) -> Result<Vec<ValueRef>> {
        self.state_layout(params)
            .into_iter()
            .map(|(n, s)| b.input(&n, InputKind::Optim, ValueType::f32(&s)))
            .collect()
    }

    /// Appends the update nodes. `params`, `grads` are in parameter order, `state` in layout
    /// order. Returns `(new params, new state)` in the same orders.
    ///
    /// Node order: SGD — one [`Op::SgdStep`] per parameter, in order. AdamW — first
    /// `β1^t = Scale{β1}(β1^{t−1})`, then `β2^t = Scale{β2}(β2^{t−1})`, then one
    /// [`Op::AdamWStep`] per parameter, in order.
    pub fn append(
        &self,
        b: &mut Builder,
        params: &[ValueRef],
        grads: &[ValueRef],
        state: &[ValueRef],
    ) -> Result<(Vec<ValueRef>, Vec<ValueRef>)> {
        let bad = || KernelError::InvalidArgument {
            op: "optimizer",
            detail: "parameter, gradient and state counts do not match".into(),
        };
        if params.len() != grads.len() {
            return Err(bad());
        }
        let mut new_p = Vec::with_capacity(params.len());
        let mut new_s = Vec::with_capacity(state.len());
        match self {
            OptimConfig::Sgd(h) => {
                if state.len() != params.len() {
                    return Err(bad());
                }
                for i in 0..params.len() {
                    let op = Op::SgdStep {
                        lr: h.lr,
                        momentum: h.momentum,
                        weight_decay: h.weight_decay,
                    };
                    let o = b.node(op, &[params[i], grads[i], state[i]])?;
                    new_p.push(o[0]);
                    new_s.push(o[1]);
                }
            }
            OptimConfig::AdamW(h) => {
                if state.len() != 2 + 2 * params.len() {
                    return Err(bad());
                }
                let b1 = b.op(Op::Scale { c: h.beta1 }, &[state[0]])?;
                let b2 = b.op(Op::Scale { c: h.beta2 }, &[state[1]])?;
                new_s.push(b1);
                new_s.push(b2);
                for i in 0..params.len() {
                    let op = Op::AdamWStep {
                        lr: h.lr,
                        beta1: h.beta1,
                        beta2: h.beta2,
                        eps: h.eps,
                        weight_decay: h.weight_decay,
                    };
                    let (m, v) = (state[2 + 2 * i], state[3 + 2 * i]);
                    let o = b.node(op, &[params[i], grads[i], m, v, b1, b2])?;
                    new_p.push(o[0]);
                    new_s.push(o[1]);
                    new_s.push(o[2]);
                }
            }
        }
        Ok((new_p, new_s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adamw_first_step_moves_by_lr() {
        // With t = 1 the bias-corrected update is g/|g| (up to ε): p moves by ≈ lr.
        let h = AdamWHyper {
            lr: 0.1,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
        };
        let k = AdamWConsts::new(&h, 0.9, 0.999);
        let [p, m, v] = adamw_element(&h, &k, 1.0, 0.5, 0.0, 0.0);
        assert!((p - 0.9).abs() < 1e-6, "{p}");
        assert_eq!(m, (1.0f32 - 0.9) * 0.5);
        assert!(v > 0.0);
    }

    #[test]
    fn sgd_momentum_accumulates() {
        let h = SgdHyper {
            lr: 0.5,
            momentum: 0.9,
            weight_decay: 0.0,
        };
        let (p, v) = sgd_element(&h, 1.0, 1.0, 0.0);
        assert_eq!((p, v), (0.5, 1.0));
        let (p, v) = sgd_element(&h, p, 1.0, v);
        assert_eq!(v, 1.9);
        assert_eq!(p, (-0.5f32).mul_add(1.9, 0.5));
    }

    #[test]
    fn update_is_thread_independent() {
        let cx2 = Cpu::new(2, crate::SimdPolicy::Auto).unwrap();
        let n = 3 * ELEMENTWISE_CHUNK + 5;
        let mk = |s: u64| crate::rng::Philox::from_seed(7).normal_tensor(s, &[n], 0.0, 1.0);
        let (p, g, m) = (mk(0), mk(1), mk(2));
        let v = crate::ops::unary::square(&Cpu::single(), &mk(3)).unwrap();
        let h = AdamWHyper {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.99,
            eps: 1e-8,
            weight_decay: 0.1,
        };
        let (b1, b2) = (Tensor::scalar(0.81), Tensor::scalar(0.98));
        let a = adamw_update(&Cpu::scalar(), &h, [&p, &g, &m, &v], &b1, &b2).unwrap();
        let b = adamw_update(&cx2, &h, [&p, &g, &m, &v], &b1, &b2).unwrap();
        assert_eq!(a, b);
        let s = SgdHyper {
            lr: 0.1,
            momentum: 0.9,
            weight_decay: 0.01,
        };
        assert_eq!(
            sgd_update(&Cpu::scalar(), &s, &p, &g, &m).unwrap(),
            sgd_update(&cx2, &s, &p, &g, &m).unwrap()
        );
    }
}
