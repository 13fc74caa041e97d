//! Running a [`Graph`]: every node in canonical order, each output hashed, values freed after
//! their last use.
//!
//! [`Mode::Normal`] keeps only what later nodes (and the graph outputs) still need, plus every
//! node's output hash. [`Mode::Trace`] additionally keeps the input and output values of the
//! chosen nodes — what a party serves in a dispute.
//!
//! [`run_observed`] is [`run`] with a callback told when each node starts, when its kernel has
//! returned and when its output is hashed and stored ([`NodeEvent`]), so a caller can time
//! nodes (the benchmark does) without this crate reading a clock. The observer sees only
//! indices and ops; it cannot change anything, and the results are those of [`run`].

use std::collections::BTreeSet;

use super::kernel::execute_node;
use super::op::Op;
use super::value::{Value, node_hash_on};
use super::{Graph, ValueRef};
use crate::cpu::Cpu;
use crate::error::{KernelError, Result};
use crate::tensor::TensorHash;

/// Execution mode.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Mode {
    /// Keep only hashes and what is still needed.
    #[default]
    Normal,
    /// Also keep the inputs and outputs of these nodes.
    Trace(BTreeSet<usize>),
}

/// The inputs and outputs of one traced node.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeTrace {
    /// Node index.
    pub node: usize,
    /// Input values, in the node's input order.
    pub inputs: Vec<Value>,
    /// Output values.
    pub outputs: Vec<Value>,
}

/// What a run returns.
#[derive(Debug, Clone, PartialEq)]
pub struct RunOutput {
    /// The graph outputs, in [`Graph::outputs`] order.
    pub outputs: Vec<Value>,
    /// `h(out(v_i))` for every node, in node order ([`super::node_hash`]).
    pub node_hashes: Vec<TensorHash>,
    /// Traced nodes, ascending index (empty in [`Mode::Normal`]).
    pub traces: Vec<NodeTrace>,
}

/// Where a node is in its execution, as told to the observer of [`run_observed`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodePhase {
    /// About to fetch the inputs and run the kernel.
    Start,
    /// The kernel returned (its outputs are not yet checked or hashed).
    Computed,
    /// The outputs are checked, hashed, traced if asked, stored, and dead values freed.
    Done,
}

/// One observation of [`run_observed`]: node `index` (with op `op`) reached `phase`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NodeEvent<'a> {
    /// Node index in the graph.
    pub index: usize,
    /// The node's op.
    pub op: &'a Op,
    /// What just happened.
    pub phase: NodePhase,
}

/// Checks input values against the graph's declared inputs.
fn check_inputs(graph: &Graph, inputs: &[Value]) -> Result<()> {
    if inputs.len() != graph.inputs.len() {
        return Err(KernelError::InvalidArgument {
            op: "graph run",
            detail: format!(
                "graph has {} inputs, {} given",
                graph.inputs.len(),
                inputs.len()
            ),
        });
    }
    for (spec, v) in graph.inputs.iter().zip(inputs) {
        if v.ty() != spec.ty {
            return Err(KernelError::ShapeMismatch {
                op: "graph run",
                detail: format!(
                    "input {:?} should be {:?}, got {:?}",
                    spec.name,
                    spec.ty,
                    v.ty()
                ),
            });
        }
    }
    Ok(())
}

/// For every node, the index of the last node reading any of its outputs (`usize::MAX` for
/// nodes feeding a graph output; the node itself when nothing reads it).
pub fn last_uses(graph: &Graph) -> Vec<usize> {
    let mut last: Vec<usize> = (0..graph.nodes.len()).collect();
    for (i, n) in graph.nodes.iter().enumerate() {
        for r in &n.inputs {
            if let ValueRef::Node { node, .. } = *r {
                last[node] = last[node].max(i);
            }
        }
    }
    for (_, r) in &graph.outputs {
        if let ValueRef::Node { node, .. } = *r {
            last[node] = usize::MAX;
        }
    }
    last
}

/// Runs `graph` on `inputs` (values of [`Graph::inputs`], in order).
///
/// Errors: inputs that do not match the declared types, any kernel error (with the failing
/// node's op), or an output whose type differs from the inferred one (an internal error).
pub fn run(cx: &Cpu, graph: &Graph, inputs: &[Value], mode: &Mode) -> Result<RunOutput> {
    run_observed(cx, graph, inputs, mode, &mut |_| {})
}

/// [`run`], calling `observer` for every node in order with [`NodePhase::Start`], then
/// [`NodePhase::Computed`], then [`NodePhase::Done`] (a node whose kernel fails gets only
/// `Start`). Same results and errors as [`run`].
pub fn run_observed(
    cx: &Cpu,
    graph: &Graph,
    inputs: &[Value],
    mode: &Mode,
    observer: &mut dyn FnMut(NodeEvent<'_>),
) -> Result<RunOutput> {
    check_inputs(graph, inputs)?;
    let last = last_uses(graph);
    let mut slots: Vec<Option<Vec<Value>>> = vec![None; graph.nodes.len()];
    let mut hashes = Vec::with_capacity(graph.nodes.len());
    let mut traces = Vec::new();
    // Nodes whose outputs die after node i: frees[i].
    let mut frees: Vec<Vec<usize>> = vec![Vec::new(); graph.nodes.len()];
    for (n, &l) in last.iter().enumerate() {
        if l != usize::MAX {
            frees[l].push(n);
        }
    }
    for (i, node) in graph.nodes.iter().enumerate() {
        let event = |phase| NodeEvent {
            index: i,
            op: &node.op,
            phase,
        };
        observer(event(NodePhase::Start));
        let args = node
            .inputs
            .iter()
            .map(|r| fetch(graph, inputs, &slots, *r))
            .collect::<Result<Vec<&Value>>>()?;
        let outs = execute_node(cx, &node.op, &args)?;
        observer(event(NodePhase::Computed));
        if outs.len() != node.outputs.len()
            || outs.iter().zip(&node.outputs).any(|(v, t)| v.ty() != *t)
        {
            return Err(KernelError::InvalidArgument {
                op: node.op.name(),
                detail: format!("node {i}: outputs differ from the inferred types"),
            });
        }
        hashes.push(node_hash_on(cx, &outs));
        if let Mode::Trace(set) = mode
            && set.contains(&i)
        {
            traces.push(NodeTrace {
                node: i,
                inputs: args.iter().map(|v| (*v).clone()).collect(),
                outputs: outs.clone(),
            });
        }
        slots[i] = Some(outs);
        for &n in &frees[i] {
            slots[n] = None;
        }
        observer(event(NodePhase::Done));
    }
    let outputs = graph
        .outputs
        .iter()
        .map(|(_, r)| fetch(graph, inputs, &slots, *r).cloned())
        .collect::<Result<Vec<_>>>()?;
    Ok(RunOutput {
        outputs,
        node_hashes: hashes,
        traces,
    })
}

fn fetch<'a>(
    graph: &'a Graph,
    inputs: &'a [Value],
    slots: &'a [Option<Vec<Value>>],
    r: ValueRef,
) -> Result<&'a Value> {
    let v = match r {
        ValueRef::Input(i) => inputs.get(i),
        ValueRef::Const(i) => graph.consts.get(i),
        ValueRef::Node { node, out } => slots
            .get(node)
            .and_then(|s| s.as_ref())
            .and_then(|s| s.get(out)),
    };
    v.ok_or_else(|| KernelError::InvalidArgument {
        op: "graph run",
        detail: format!("value {r} is not available (not yet computed or already freed)"),
    })
}
