//! A decoder-only transformer (GPT-style, pre-LN).
//!
//! Parameters, in order (`W` width, `V` vocab, `C` context, `R = mlp_ratio·W`,
//! `s = init_std`, `s_out = s / sqrt(2·layers)` computed in f32 as `s / sqrt((2·layers) as f32)`):
//! 1. `"tok_emb"` `[V, W]` Normal(s); `"pos_emb"` `[C, W]` Normal(s);
//! 2. per block `l`: `"h{l}.ln1.g"` `[W]` ones, `"h{l}.ln1.b"` `[W]` zeros,
//!    `"h{l}.attn.wq"`, `"h{l}.attn.wk"`, `"h{l}.attn.wv"` `[W, W]` Normal(s),
//!    `"h{l}.attn.wo"` `[W, W]` Normal(s_out), `"h{l}.ln2.g"` ones, `"h{l}.ln2.b"` zeros,
//!    `"h{l}.mlp.w1"` `[W, R]` Normal(s), `"h{l}.mlp.b1"` `[R]` zeros,
//!    `"h{l}.mlp.w2"` `[R, W]` Normal(s_out), `"h{l}.mlp.b2"` `[W]` zeros;
//! 3. `"lnf.g"` ones, `"lnf.b"` zeros, `"head.w"` `[W, V]` Normal(s).
//!
//! Forward for tokens `[B, T]` (`T ≤ C`, `H` heads of `D = W/H`):
//! `x = gather(tok_emb, tokens) + pos` with `pos = pos_emb` (or `slice(pos_emb, 0, 0..T)` when
//! `T < C`), viewed as `[B·T, W]`. Per block: `h = LN1(x)`; `q, k, v = h·wq, h·wk, h·wv`, each
//! reshaped `[B, T, H, D]`, permuted `[B, H, T, D]`, reshaped `[B·H, T, D]`;
//! `s = bmm_nt(q, k) · c` with `c = 1 / sqrt(D as f32)` (f32 sqrt, one division);
//! `s = s + mask` with the constant `mask[i, j] = 0` for `j ≤ i` and `−1e9`
//! ([`CAUSAL_MASK_VALUE`], a finite value) for `j > i`, broadcast over `B·H`;
//! `a = bmm(softmax(s), v)` back to `[B·T, W]` (reshape, permute `[0, 2, 1, 3]`, reshape);
//! `x = x + a·wo`; `h = LN2(x)`; `x = x + (gelu_tanh(h·w1 + b1)·w2 + b2)`. Finally
//! `logits = LNf(x)·head.w`, `[B·T, V]`. Layer norms use `eps = ln_eps`.
//!
//! Loss: the logits rows at the `P` flat positions `b·T + t` given by the batch input
//! `"positions"` are gathered (`gather_rows` on `[B·T, V]`) and their mean cross-entropy
//! against `"targets"` is the loss. Batch inputs: `"tokens"` u32 `[B, T]`, `"positions"` u32
//! `[P]`, `"targets"` u32 `[P]` (the last two for training only).

use super::{BatchShape, Init, ParamSpec};
use crate::error::{KernelError, Result};
use crate::graph::{Builder, Op, Value, ValueRef, ValueType};
use crate::tensor::Tensor;

/// The additive causal-mask value above the diagonal: `−1e9` (f32 bits `0xCE6E6B28`).
pub const CAUSAL_MASK_VALUE: f32 = -1e9;

/// Parameters per block.
const PER_BLOCK: usize = 12;

/// Transformer configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct TransformerConfig {
    /// Vocabulary size `V`.
    pub vocab: usize,
    /// Maximum sequence length `C` (rows of the position embedding).
    pub context: usize,
    /// Number of blocks.
    pub layers: usize,
    /// Model width `W`.
    pub width: usize,
    /// Attention heads `H` (must divide `W`).
    pub heads: usize,
    /// MLP hidden width as a multiple of `W`.
    pub mlp_ratio: usize,
    /// Standard deviation of the normal initializations (e.g. 0.02).
    pub init_std: f32,
    /// Layer-norm epsilon (e.g. 1e-5).
    pub ln_eps: f32,
}

impl TransformerConfig {
    /// Parameters in order (module docs).
    pub fn param_specs(&self) -> Vec<ParamSpec> {
        let (w, v, r) = (self.width, self.vocab, self.mlp_ratio * self.width);
        let s = self.init_std;
        let s_out = s / ((2 * self.layers.max(1)) as f32).sqrt();
        let n = |std| Init::Normal { std };
        let mut p = vec![
            ParamSpec::new("tok_emb", &[v, w], n(s)),
            ParamSpec::new("pos_emb", &[self.context, w], n(s)),
        ];
        for l in 0..self.layers {
            let h = |x: &str| format!("h{l}.{x}");
            p.extend([
                ParamSpec::new(h("ln1.g"), &[w], Init::Ones),
                ParamSpec::new(h("ln1.b"), &[w], Init::Zeros),
                ParamSpec::new(h("attn.wq"), &[w, w], n(s)),
                ParamSpec::new(h("attn.wk"), &[w, w], n(s)),
                ParamSpec::new(h("attn.wv"), &[w, w], n(s)),
                ParamSpec::new(h("attn.wo"), &[w, w], n(s_out)),
                ParamSpec::new(h("ln2.g"), &[w], Init::Ones),
                ParamSpec::new(h("ln2.b"), &[w], Init::Zeros),
                ParamSpec::new(h("mlp.w1"), &[w, r], n(s)),
                ParamSpec::new(h("mlp.b1"), &[r], Init::Zeros),
                ParamSpec::new(h("mlp.w2"), &[r, w], n(s_out)),
                ParamSpec::new(h("mlp.b2"), &[w], Init::Zeros),
            ]);
        }
        p.extend([
            ParamSpec::new("lnf.g", &[w], Init::Ones),
            ParamSpec::new("lnf.b", &[w], Init::Zeros),
            ParamSpec::new("head.w", &[w, v], n(s)),
        ]);
        p
    }

    fn validate(&self, s: &BatchShape, train: bool) -> Result<()> {
        let bad = |detail: String| {
            Err(KernelError::InvalidArgument {
                op: "transformer",
                detail,
            })
        };
        if self.vocab == 0
            || self.context == 0
            || self.width == 0
            || self.heads == 0
            || self.mlp_ratio == 0
        {
            return bad(format!("zero-sized configuration {self:?}"));
        }
        if !self.width.is_multiple_of(self.heads) {
            return bad(format!(
                "width {} not divisible by heads {}",
                self.width, self.heads
            ));
        }
        if s.batch == 0 || s.seq == 0 || s.seq > self.context {
            return bad(format!(
                "batch {} and seq {} must be ≥ 1, seq ≤ context {}",
                s.batch, s.seq, self.context
            ));
        }
        if train && s.loss_positions == 0 {
            return bad("at least one loss position is needed".into());
        }
        Ok(())
    }

    pub(crate) fn batch_inputs(
        &self,
        s: &BatchShape,
        train: bool,
    ) -> Result<Vec<(String, ValueType)>> {
        self.validate(s, train)?;
        let mut v = vec![("tokens".into(), ValueType::u32(&[s.batch, s.seq]))];
        if train {
            v.push(("positions".into(), ValueType::u32(&[s.loss_positions])));
            v.push(("targets".into(), ValueType::u32(&[s.loss_positions])));
        }
        Ok(v)
    }

    /// The causal mask `[T, T]`.
    pub fn causal_mask(t: usize) -> Tensor {
        let mut m = Tensor::zeros(&[t, t]);
        for i in 0..t {
            for j in i + 1..t {
                m.data_mut()[i * t + j] = CAUSAL_MASK_VALUE;
            }
        }
        m
    }

    pub(crate) fn logits(
        &self,
        b: &mut Builder,
        p: &[ValueRef],
        tokens: ValueRef,
    ) -> Result<ValueRef> {
        let ts = b.shape(tokens)?;
        let (bs, t) = (ts[0], ts[1]);
        let (w, h) = (self.width, self.heads);
        let d = w / h;
        let eps = self.ln_eps;
        let tok = b.op(Op::Gather, &[p[0], tokens])?;
        let pos = if t < self.context {
            b.op(
                Op::Slice {
                    axis: 0,
                    start: 0,
                    end: t,
                },
                &[p[1]],
            )?
        } else {
            p[1]
        };
        let x = b.add(tok, pos)?;
        let mut x = b.reshape(x, &[bs * t, w])?;
        let mask = b.constant(Value::F32(Self::causal_mask(t)));
        let scale = 1.0 / (d as f32).sqrt();
        let heads = |b: &mut Builder, y: ValueRef| -> Result<ValueRef> {
            let y = b.reshape(y, &[bs, t, h, d])?;
            let y = b.permute(y, &[0, 2, 1, 3])?;
            b.reshape(y, &[bs * h, t, d])
        };
        for l in 0..self.layers {
            let q = &p[2 + l * PER_BLOCK..2 + (l + 1) * PER_BLOCK];
            let hn = b.layer_norm(x, q[0], q[1], eps)?;
            let qh = b.matmul(hn, q[2])?;
            let qh = heads(b, qh)?;
            let kh = b.matmul(hn, q[3])?;
            let kh = heads(b, kh)?;
            let vh = b.matmul(hn, q[4])?;
            let vh = heads(b, vh)?;
            let s = b.op(Op::BmmNT, &[qh, kh])?;
            let s = b.op(Op::Scale { c: scale }, &[s])?;
            let s = b.add(s, mask)?;
            let pr = b.op(Op::Softmax, &[s])?;
            let a = b.op(Op::Bmm, &[pr, vh])?;
            let a = b.reshape(a, &[bs, h, t, d])?;
            let a = b.permute(a, &[0, 2, 1, 3])?;
            let a = b.reshape(a, &[bs * t, w])?;
            let a = b.matmul(a, q[5])?;
            x = b.add(x, a)?;
            let hn = b.layer_norm(x, q[6], q[7], eps)?;
            let f = b.matmul(hn, q[8])?;
            let f = b.add(f, q[9])?;
            let f = b.op(Op::GeluTanh, &[f])?;
            let f = b.matmul(f, q[10])?;
            let f = b.add(f, q[11])?;
            x = b.add(x, f)?;
        }
        let k = 2 + self.layers * PER_BLOCK;
        let hf = b.layer_norm(x, p[k], p[k + 1], eps)?;
        b.matmul(hf, p[k + 2])
    }
}

/// Mean cross-entropy of the logit rows at `positions` against `targets`.
pub(crate) fn masked_loss(
    b: &mut Builder,
    logits: ValueRef,
    positions: ValueRef,
    targets: ValueRef,
) -> Result<ValueRef> {
    let sel = b.op(Op::Gather, &[logits, positions])?;
    b.op(Op::CrossEntropy, &[sel, targets])
}
