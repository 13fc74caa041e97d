//! An MLP classifier.
//!
//! Layers `l = 0 … L` map `input_dim → hidden[0] → … → classes`. Parameters, in order, for
//! each layer `l`: `"l{l}.w"` `[in, out]` with `Normal { std: 1/sqrt(in) }` (the f32
//! `sqrt` of `in as f32`, then one division), and `"l{l}.b"` `[out]`, zeros.
//! Forward: `h = x`; per layer `h = add(matmul(h, w), b)`, followed by the activation on every
//! layer but the last. Loss: mean cross-entropy of the logits against the targets.
//! Batch inputs: `"x"` f32 `[B, input_dim]`, `"y"` u32 `[B]` (training only).

use super::{BatchShape, Init, ParamSpec};
use crate::error::Result;
use crate::graph::{Builder, Op, ValueRef, ValueType};

/// Hidden-layer activation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// `max(x, 0)`.
    Relu,
    /// GELU, tanh approximation.
    Gelu,
    /// `tanh` (RepOps `tanh`).
    Tanh,
}

/// MLP configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct MlpConfig {
    /// Input features.
    pub input_dim: usize,
    /// Hidden layer widths.
    pub hidden: Vec<usize>,
    /// Output classes.
    pub classes: usize,
    /// Hidden activation.
    pub activation: Activation,
}

impl MlpConfig {
    fn dims(&self) -> Vec<usize> {
        let mut d = vec![self.input_dim];
        d.extend_from_slice(&self.hidden);
        d.push(self.classes);
        d
    }

    /// Parameters in order (module docs).
    pub fn param_specs(&self) -> Vec<ParamSpec> {
        let d = self.dims();
        let mut v = Vec::new();
        for l in 0..d.len() - 1 {
            let std = 1.0 / (d[l] as f32).sqrt();
            v.push(ParamSpec::new(
                format!("l{l}.w"),
                &[d[l], d[l + 1]],
                Init::Normal { std },
            ));
            v.push(ParamSpec::new(format!("l{l}.b"), &[d[l + 1]], Init::Zeros));
        }
        v
    }

    pub(crate) fn batch_inputs(&self, s: &BatchShape, train: bool) -> Vec<(String, ValueType)> {
        let mut v = vec![("x".into(), ValueType::f32(&[s.batch, self.input_dim]))];
        if train {
            v.push(("y".into(), ValueType::u32(&[s.batch])));
        }
        v
    }

    pub(crate) fn logits(&self, b: &mut Builder, p: &[ValueRef], x: ValueRef) -> Result<ValueRef> {
        let layers = p.len() / 2;
        let mut h = x;
        for l in 0..layers {
            h = b.matmul(h, p[2 * l])?;
            h = b.add(h, p[2 * l + 1])?;
            if l + 1 < layers {
                let op = match self.activation {
                    Activation::Relu => Op::Relu,
                    Activation::Gelu => Op::GeluTanh,
                    Activation::Tanh => Op::Tanh,
                };
                h = b.op(op, &[h])?;
            }
        }
        Ok(h)
    }
}
