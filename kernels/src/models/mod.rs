//! Models built from the graph IR, and the programs that run them.
//!
//! - [`mlp::MlpConfig`]: an MLP classifier; [`transformer::TransformerConfig`]: a decoder-only
//!   transformer.
//! - [`TrainStep`]: the step graph (forward, loss, backward, optimizer) built once for a model,
//!   optimizer and batch shape; [`TrainStep::step`] runs it and updates the state in place.
//! - [`Inference`]: a forward-only graph giving logits (evaluation, greedy decoding).
//!
//! Parameters are named tensors in the model's documented order ([`ModelConfig::param_specs`]);
//! the optimizer state follows [`OptimConfig::state_layout`]. Both map onto a training state
//! `Vec<(String, Tensor)>` as is. Initialization ([`init_params`]): parameter number `i` (in
//! that order) draws from Philox stream `i` keyed by the job seed.

pub mod mlp;
pub mod transformer;

use crate::cpu::Cpu;
use crate::error::{KernelError, Result};
use crate::graph::autodiff::append_backward;
use crate::graph::{
    Builder, Graph, InputKind, Mode, NodeEvent, NodeTrace, Value, ValueRef, ValueType, run,
    run_observed,
};
use crate::optim::OptimConfig;
use crate::rng::Philox;
use crate::tensor::{Tensor, TensorHash};

/// How a parameter is initialized.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Init {
    /// `fma(z, std, 0)` with `z` the standard normals of [`Philox::normal_tensor`].
    Normal {
        /// Standard deviation.
        std: f32,
    },
    /// All `+0.0` (biases, layer-norm shifts).
    Zeros,
    /// All `1.0` (layer-norm gains).
    Ones,
}

/// A parameter: name, shape, initialization.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamSpec {
    /// Unique name, e.g. `"h0.attn.wq"`.
    pub name: String,
    /// Shape.
    pub shape: Vec<usize>,
    /// Initialization.
    pub init: Init,
}

impl ParamSpec {
    pub(crate) fn new(name: impl Into<String>, shape: &[usize], init: Init) -> Self {
        Self {
            name: name.into(),
            shape: shape.to_vec(),
            init,
        }
    }
}

/// The batch dimensions a graph is built for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchShape {
    /// Examples per batch.
    pub batch: usize,
    /// Sequence length `T ≤ context` (transformer only; ignored by the MLP).
    pub seq: usize,
    /// Number of loss positions `P` per batch (transformer only).
    pub loss_positions: usize,
}

/// A model architecture.
#[derive(Debug, Clone, PartialEq)]
pub enum ModelConfig {
    /// MLP classifier.
    Mlp(mlp::MlpConfig),
    /// Decoder-only transformer.
    Transformer(transformer::TransformerConfig),
}

impl ModelConfig {
    /// Parameters in their fixed order (see each model's docs).
    pub fn param_specs(&self) -> Vec<ParamSpec> {
        match self {
            ModelConfig::Mlp(c) => c.param_specs(),
            ModelConfig::Transformer(c) => c.param_specs(),
        }
    }

    /// Batch inputs of the training graph, in order (see each model's docs).
    pub fn batch_inputs(&self, shape: &BatchShape) -> Result<Vec<(String, ValueType)>> {
        match self {
            ModelConfig::Mlp(c) => Ok(c.batch_inputs(shape, true)),
            ModelConfig::Transformer(c) => c.batch_inputs(shape, true),
        }
    }

    /// Batch inputs of the inference graph, in order.
    pub fn inference_inputs(&self, shape: &BatchShape) -> Result<Vec<(String, ValueType)>> {
        match self {
            ModelConfig::Mlp(c) => Ok(c.batch_inputs(shape, false)),
            ModelConfig::Transformer(c) => c.batch_inputs(shape, false),
        }
    }

    /// Appends the forward pass; returns the logits.
    fn logits(&self, b: &mut Builder, p: &[ValueRef], batch: &[ValueRef]) -> Result<ValueRef> {
        match self {
            ModelConfig::Mlp(c) => c.logits(b, p, batch[0]),
            ModelConfig::Transformer(c) => c.logits(b, p, batch[0]),
        }
    }

    /// Appends the loss from the logits and the batch's target inputs.
    fn loss(&self, b: &mut Builder, logits: ValueRef, batch: &[ValueRef]) -> Result<ValueRef> {
        match self {
            ModelConfig::Mlp(_) => b.op(crate::graph::Op::CrossEntropy, &[logits, batch[1]]),
            ModelConfig::Transformer(_) => transformer::masked_loss(b, logits, batch[1], batch[2]),
        }
    }
}

/// Initial parameters for `seed`: parameter `i` of [`ModelConfig::param_specs`] uses Philox
/// keyed by `seed`, stream `i` ([`Philox::normal_tensor`] with mean 0); zeros and ones use no
/// randomness.
pub fn init_params(model: &ModelConfig, seed: u64) -> Vec<(String, Tensor)> {
    let rng = Philox::from_seed(seed);
    model
        .param_specs()
        .into_iter()
        .enumerate()
        .map(|(i, p)| {
            let t = match p.init {
                Init::Normal { std } => rng.normal_tensor(i as u64, &p.shape, 0.0, std),
                Init::Zeros => Tensor::zeros(&p.shape),
                Init::Ones => Tensor::full(&p.shape, 1.0),
            };
            (p.name, t)
        })
        .collect()
}

fn shapes(specs: &[ParamSpec]) -> Vec<(String, Vec<usize>)> {
    specs
        .iter()
        .map(|p| (p.name.clone(), p.shape.clone()))
        .collect()
}

/// Initial optimizer state for a model ([`OptimConfig::init_state`]).
pub fn init_optim(model: &ModelConfig, optim: &OptimConfig) -> Vec<(String, Tensor)> {
    optim.init_state(&shapes(&model.param_specs()))
}

/// What one training step returns.
#[derive(Debug, Clone, PartialEq)]
pub struct StepOutput {
    /// The loss of the batch before the update.
    pub loss: f32,
    /// `h(out(v_i))` for every node of the step graph, in node order (empty in
    /// [`Mode::Unhashed`]).
    pub node_hashes: Vec<TensorHash>,
    /// Traced nodes (trace mode only).
    pub traces: Vec<NodeTrace>,
}

/// Output name of the loss in the step graph.
pub const LOSS_OUTPUT: &str = "loss";

/// The training-step program: one graph (forward, loss, backward, optimizer update).
///
/// Graph inputs, in order: the parameters ([`ModelConfig::param_specs`] order), the optimizer
/// state ([`OptimConfig::state_layout`] order), the batch ([`ModelConfig::batch_inputs`]).
/// Graph outputs: `"loss"`, then `"param:{name}"` for every new parameter, then
/// `"optim:{name}"` for every new state tensor, in the same orders.
#[derive(Debug, Clone)]
pub struct TrainStep {
    graph: Graph,
    params: Vec<ParamSpec>,
    optim_layout: Vec<(String, Vec<usize>)>,
}

impl TrainStep {
    /// Builds the step graph. Errors: invalid configurations and shape errors.
    pub fn new(model: &ModelConfig, optim: &OptimConfig, shape: &BatchShape) -> Result<Self> {
        let specs = model.param_specs();
        let mut b = Builder::new();
        let p = declare_params(&mut b, &specs)?;
        let layout = optim.state_layout(&shapes(&specs));
        let st = optim.declare_state(&mut b, &shapes(&specs))?;
        let batch = declare_batch(&mut b, model.batch_inputs(shape)?)?;
        let logits = model.logits(&mut b, &p, &batch)?;
        let loss = model.loss(&mut b, logits, &batch)?;
        let grads = append_backward(&mut b, loss, &p)?;
        let (new_p, new_s) = optim.append(&mut b, &p, &grads, &st)?;
        b.output(LOSS_OUTPUT, loss);
        for (s, r) in specs.iter().zip(new_p) {
            b.output(&format!("param:{}", s.name), r);
        }
        for ((n, _), r) in layout.iter().zip(new_s) {
            b.output(&format!("optim:{n}"), r);
        }
        Ok(Self {
            graph: b.finish(),
            params: specs,
            optim_layout: layout,
        })
    }

    /// The step graph.
    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    /// Sets the learning-rate attribute `lr` of every optimizer node ([`Op::SgdStep`],
    /// [`Op::AdamWStep`]); nothing else changes. A learning-rate schedule calls this before
    /// each step, so the graph of step `t` carries that step's rate as an attribute.
    ///
    /// [`Op::SgdStep`]: crate::graph::Op::SgdStep
    /// [`Op::AdamWStep`]: crate::graph::Op::AdamWStep
    pub fn set_lr(&mut self, new_lr: f32) {
        use crate::graph::Op;
        for n in &mut self.graph.nodes {
            match &mut n.op {
                Op::SgdStep { lr, .. } | Op::AdamWStep { lr, .. } => *lr = new_lr,
                _ => {}
            }
        }
    }

    /// The learning rate of the optimizer nodes (that of the first one; `None` without one).
    pub fn lr(&self) -> Option<f32> {
        use crate::graph::Op;
        self.graph.nodes.iter().find_map(|n| match n.op {
            Op::SgdStep { lr, .. } | Op::AdamWStep { lr, .. } => Some(lr),
            _ => None,
        })
    }

    /// Runs one step on `batch` (values of the batch inputs, in order) and replaces `params`
    /// and `optim` by their updated values. On error they are left unchanged.
    ///
    /// The step number does not enter the graph: AdamW carries `β^t` in its state.
    /// Errors: names/shapes of `params`/`optim` not matching the layout, batch type errors,
    /// kernel errors, and [`KernelError::NonFinite`] if the new state holds a NaN or infinity.
    pub fn step(
        &self,
        cx: &Cpu,
        params: &mut Vec<(String, Tensor)>,
        optim: &mut Vec<(String, Tensor)>,
        batch: &[Value],
        mode: &Mode,
    ) -> Result<StepOutput> {
        self.step_with(cx, params, optim, batch, mode, None)
    }

    /// [`TrainStep::step`], telling `observer` about every node as
    /// [`run_observed`] does (for timing; same results). Nodes run strictly one after the
    /// other, so each node's time is its own (a plain [`TrainStep::step`] on a pool hashes
    /// node outputs on the workers while later nodes compute, see [`run`]).
    pub fn step_observed(
        &self,
        cx: &Cpu,
        params: &mut Vec<(String, Tensor)>,
        optim: &mut Vec<(String, Tensor)>,
        batch: &[Value],
        mode: &Mode,
        observer: &mut dyn FnMut(NodeEvent<'_>),
    ) -> Result<StepOutput> {
        self.step_with(cx, params, optim, batch, mode, Some(observer))
    }

    /// [`TrainStep::step`] through [`run`] without an observer, [`run_observed`] with one.
    fn step_with(
        &self,
        cx: &Cpu,
        params: &mut Vec<(String, Tensor)>,
        optim: &mut Vec<(String, Tensor)>,
        batch: &[Value],
        mode: &Mode,
        observer: Option<&mut dyn FnMut(NodeEvent<'_>)>,
    ) -> Result<StepOutput> {
        check_named("params", params, self.params.iter().map(|p| &p.name))?;
        check_named("optim", optim, self.optim_layout.iter().map(|(n, _)| n))?;
        let mut inputs: Vec<Value> = Vec::with_capacity(self.graph.inputs.len());
        // Move the state in; it is moved back on error.
        inputs.extend(params.drain(..).map(|(_, t)| Value::F32(t)));
        inputs.extend(optim.drain(..).map(|(_, t)| Value::F32(t)));
        inputs.extend(batch.iter().cloned());
        let ran = match observer {
            Some(observer) => run_observed(cx, &self.graph, &inputs, mode, observer),
            None => run(cx, &self.graph, &inputs, mode),
        };
        let result = ran.and_then(|out| {
            let mut it = out.outputs.into_iter();
            let loss = it
                .next()
                .ok_or_else(|| internal("missing loss"))?
                .into_f32("step")?
                .data()[0];
            let mut new = Vec::with_capacity(self.graph.outputs.len() - 1);
            for ((name, _), v) in self.graph.outputs[1..].iter().zip(it) {
                let t = v.into_f32("step")?;
                t.check_finite(name)?;
                new.push(t);
            }
            Ok((loss, new, out.node_hashes, out.traces))
        });
        let mut old = inputs.into_iter();
        match result {
            Ok((loss, new, node_hashes, traces)) => {
                let mut new = new.into_iter();
                params.extend(self.params.iter().map(|p| p.name.clone()).zip(&mut new));
                optim.extend(self.optim_layout.iter().map(|(n, _)| n.clone()).zip(new));
                Ok(StepOutput {
                    loss,
                    node_hashes,
                    traces,
                })
            }
            Err(e) => {
                for p in &self.params {
                    if let Some(Value::F32(t)) = old.next() {
                        params.push((p.name.clone(), t));
                    }
                }
                for (n, _) in &self.optim_layout {
                    if let Some(Value::F32(t)) = old.next() {
                        optim.push((n.clone(), t));
                    }
                }
                Err(e)
            }
        }
    }
}

fn internal(detail: &str) -> KernelError {
    KernelError::InvalidArgument {
        op: "train step",
        detail: detail.into(),
    }
}

fn check_named<'a>(
    what: &str,
    got: &[(String, Tensor)],
    want: impl ExactSizeIterator<Item = &'a String>,
) -> Result<()> {
    if got.len() != want.len() {
        return Err(internal(&format!(
            "{what}: {} tensors given, {} expected",
            got.len(),
            want.len()
        )));
    }
    for ((n, _), w) in got.iter().zip(want) {
        if n != w {
            return Err(internal(&format!(
                "{what}: found {n:?} where {w:?} belongs"
            )));
        }
    }
    Ok(())
}

/// Declares the parameters as graph inputs, in order.
fn declare_params(b: &mut Builder, specs: &[ParamSpec]) -> Result<Vec<ValueRef>> {
    specs
        .iter()
        .map(|s| b.input(&s.name, InputKind::Param, ValueType::f32(&s.shape)))
        .collect()
}

/// Declares the batch inputs `(name, type)` as graph inputs, in order.
fn declare_batch(b: &mut Builder, inputs: Vec<(String, ValueType)>) -> Result<Vec<ValueRef>> {
    inputs
        .into_iter()
        .map(|(n, t)| b.input(&n, InputKind::Batch, t))
        .collect()
}

/// A graph computing the loss and the gradient of every parameter (no optimizer): inputs are
/// the parameters then the batch; outputs `"loss"` then `"grad:{name}"` in parameter order.
/// For gradient checks and analysis.
pub fn loss_and_grads_graph(model: &ModelConfig, shape: &BatchShape) -> Result<Graph> {
    let specs = model.param_specs();
    let mut b = Builder::new();
    let p = declare_params(&mut b, &specs)?;
    let batch = declare_batch(&mut b, model.batch_inputs(shape)?)?;
    let logits = model.logits(&mut b, &p, &batch)?;
    let loss = model.loss(&mut b, logits, &batch)?;
    let grads = append_backward(&mut b, loss, &p)?;
    b.output(LOSS_OUTPUT, loss);
    for (s, g) in specs.iter().zip(grads) {
        b.output(&format!("grad:{}", s.name), g);
    }
    Ok(b.finish())
}

/// The forward-only program: logits for a batch.
///
/// Graph inputs: the parameters, then [`ModelConfig::inference_inputs`]. One output,
/// `"logits"`: `[B, classes]` for the MLP, `[B, T, vocab]` for the transformer.
#[derive(Debug, Clone)]
pub struct Inference {
    graph: Graph,
}

impl Inference {
    /// Builds the inference graph.
    pub fn new(model: &ModelConfig, shape: &BatchShape) -> Result<Self> {
        let specs = model.param_specs();
        let mut b = Builder::new();
        let p = declare_params(&mut b, &specs)?;
        let batch = declare_batch(&mut b, model.inference_inputs(shape)?)?;
        let mut logits = model.logits(&mut b, &p, &batch)?;
        if let ModelConfig::Transformer(c) = model {
            logits = b.reshape(logits, &[shape.batch, shape.seq, c.vocab])?;
        }
        b.output("logits", logits);
        Ok(Self { graph: b.finish() })
    }

    /// The graph.
    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    /// Logits for `batch` with the given parameters.
    pub fn logits(&self, cx: &Cpu, params: &[(String, Tensor)], batch: &[Value]) -> Result<Tensor> {
        let mut inputs: Vec<Value> = params.iter().map(|(_, t)| Value::F32(t.clone())).collect();
        inputs.extend(batch.iter().cloned());
        // Logits are the result; no node hash is asked for.
        let out = run(cx, &self.graph, &inputs, &Mode::Unhashed)?;
        out.outputs
            .into_iter()
            .next()
            .ok_or_else(|| internal("missing logits"))?
            .into_f32("inference")
    }
}

#[cfg(test)]
mod tests;
