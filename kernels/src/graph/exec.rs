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
use crate::ops::shape;
use crate::tensor::{Tensor, TensorHash};

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
/// With a thread pool and [`Mode::Normal`], node `i`'s outputs are hashed on one worker while
/// node `i + 1` computes, and what died at node `i` is freed once that hash is done; otherwise
/// nodes run one after the other as in [`run_observed`]. Both give the same outputs and hashes.
///
/// Errors: inputs that do not match the declared types, any kernel error (with the failing
/// node's op), or an output whose type differs from the inferred one (an internal error).
pub fn run(cx: &Cpu, graph: &Graph, inputs: &[Value], mode: &Mode) -> Result<RunOutput> {
    match (cx.pool(), mode) {
        (Some(pool), Mode::Normal) => run_overlapped(cx, pool, graph, inputs),
        _ => run_observed(cx, graph, inputs, mode, &mut |_| {}),
    }
}

/// [`run`] in [`Mode::Normal`] on a pool: the hash of node `p`'s outputs runs on one worker
/// (`rayon::join`) while node `p + 1`'s kernel runs on the others, and the values that die at
/// `p` are freed once that hash is done. The hash function, the kernels and the node order are
/// those of [`run_observed`], so every output and hash is the same; only the wall time of
/// hashing is hidden behind compute. A [`Op::Reshape`] that takes over its input's buffer
/// first finishes the pending hash (the buffer may be the one being hashed).
fn run_overlapped(
    cx: &Cpu,
    pool: &rayon::ThreadPool,
    graph: &Graph,
    inputs: &[Value],
) -> Result<RunOutput> {
    check_inputs(graph, inputs)?;
    let last = last_uses(graph);
    let frees = free_lists(&last);
    let mut slots: Vec<Option<Vec<Value>>> = vec![None; graph.nodes.len()];
    let mut hashes = Vec::with_capacity(graph.nodes.len());
    // The node whose outputs are stored but not yet hashed; what dies at it is freed after.
    let mut pending: Option<usize> = None;
    let finish = |p: usize, slots: &mut [Option<Vec<Value>>], hashes: &mut Vec<TensorHash>| {
        let outs = slots[p].as_deref().ok_or_else(|| missing(p))?;
        hashes.push(node_hash_on(cx, outs));
        for &n in &frees[p] {
            slots[n] = None;
        }
        Ok::<(), KernelError>(())
    };
    for (i, node) in graph.nodes.iter().enumerate() {
        let outs = if reshape_source(node, i, &last).is_some() {
            if let Some(p) = pending.take() {
                finish(p, &mut slots, &mut hashes)?;
            }
            match take_reshape_input(node, i, &last, &mut slots) {
                Some((t, shape)) => vec![Value::F32(shape::reshape_owned(t, shape)?)],
                None => compute(cx, graph, inputs, &slots, node)?,
            }
        } else {
            match pending.take() {
                Some(p) => {
                    let outs = {
                        let pend = slots[p].as_deref().ok_or_else(|| missing(p))?;
                        let (outs, hash) = pool.join(
                            || compute(cx, graph, inputs, &slots, node),
                            || node_hash_on(cx, pend),
                        );
                        hashes.push(hash);
                        outs
                    };
                    for &n in &frees[p] {
                        slots[n] = None;
                    }
                    outs?
                }
                None => compute(cx, graph, inputs, &slots, node)?,
            }
        };
        check_outputs(node, i, &outs)?;
        slots[i] = Some(outs);
        pending = Some(i);
    }
    if let Some(p) = pending.take() {
        finish(p, &mut slots, &mut hashes)?;
    }
    Ok(RunOutput {
        outputs: take_outputs(graph, inputs, &mut slots)?,
        node_hashes: hashes,
        traces: Vec::new(),
    })
}

/// Fetches `node`'s inputs and runs its kernel.
fn compute(
    cx: &Cpu,
    graph: &Graph,
    inputs: &[Value],
    slots: &[Option<Vec<Value>>],
    node: &super::Node,
) -> Result<Vec<Value>> {
    let args = node
        .inputs
        .iter()
        .map(|r| fetch(graph, inputs, slots, *r))
        .collect::<Result<Vec<&Value>>>()?;
    execute_node(cx, &node.op, &args)
}

fn missing(node: usize) -> KernelError {
    KernelError::InvalidArgument {
        op: "graph run",
        detail: format!("outputs of node {node} are not available"),
    }
}

/// Nodes whose outputs die after node `i`: `frees[i]`.
fn free_lists(last: &[usize]) -> Vec<Vec<usize>> {
    let mut frees: Vec<Vec<usize>> = vec![Vec::new(); last.len()];
    for (n, &l) in last.iter().enumerate() {
        if l != usize::MAX {
            frees[l].push(n);
        }
    }
    frees
}

/// Errors unless `outs` match the inferred output types of node `i`.
fn check_outputs(node: &super::Node, i: usize, outs: &[Value]) -> Result<()> {
    if outs.len() != node.outputs.len() || outs.iter().zip(&node.outputs).any(|(v, t)| v.ty() != *t)
    {
        return Err(KernelError::InvalidArgument {
            op: node.op.name(),
            detail: format!("node {i}: outputs differ from the inferred types"),
        });
    }
    Ok(())
}

/// The graph outputs at the end of a run. Node values are moved out of their slots (the run
/// is over), except where the same value is a later output too; inputs and constants are
/// copied.
fn take_outputs(
    graph: &Graph,
    inputs: &[Value],
    slots: &mut [Option<Vec<Value>>],
) -> Result<Vec<Value>> {
    let mut outputs = Vec::with_capacity(graph.outputs.len());
    for (k, (_, r)) in graph.outputs.iter().enumerate() {
        let again = graph.outputs[k + 1..].iter().any(|(_, later)| later == r);
        let taken = match *r {
            ValueRef::Node { node, out } if !again => slots
                .get_mut(node)
                .and_then(|s| s.as_mut())
                .and_then(|s| s.get_mut(out))
                .map(|v| std::mem::replace(v, Value::F32(Tensor::zeros(&[0])))),
            _ => None,
        };
        outputs.push(match taken {
            Some(v) => v,
            None => fetch(graph, inputs, slots, *r)?.clone(),
        });
    }
    Ok(outputs)
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
    let frees = free_lists(&last);
    for (i, node) in graph.nodes.iter().enumerate() {
        let event = |phase| NodeEvent {
            index: i,
            op: &node.op,
            phase,
        };
        observer(event(NodePhase::Start));
        let traced = matches!(mode, Mode::Trace(set) if set.contains(&i));
        let moved = if traced {
            None
        } else {
            take_reshape_input(node, i, &last, &mut slots)
        };
        let (outs, args) = match moved {
            Some((t, shape)) => (
                vec![Value::F32(shape::reshape_owned(t, shape)?)],
                Vec::new(),
            ),
            None => {
                let args = node
                    .inputs
                    .iter()
                    .map(|r| fetch(graph, inputs, &slots, *r))
                    .collect::<Result<Vec<&Value>>>()?;
                (execute_node(cx, &node.op, &args)?, args)
            }
        };
        observer(event(NodePhase::Computed));
        check_outputs(node, i, &outs)?;
        hashes.push(node_hash_on(cx, &outs));
        if traced {
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
    Ok(RunOutput {
        outputs: take_outputs(graph, inputs, &mut slots)?,
        node_hashes: hashes,
        traces,
    })
}

/// For a [`Op::Reshape`] node `i` whose input is a node output that nothing after `i` reads
/// (`last[input node] == i`, so never a graph output), takes that tensor out of its slot,
/// so the reshape reuses its buffer instead of copying it ([`shape::reshape_owned`]: the
/// same result as the kernel). The slot is freed after node `i` anyway. `None` otherwise.
fn take_reshape_input<'g>(
    node: &'g super::Node,
    i: usize,
    last: &[usize],
    slots: &mut [Option<Vec<Value>>],
) -> Option<(Tensor, &'g [usize])> {
    let (shape, n, out) = reshape_source(node, i, last)?;
    let v = slots.get_mut(n)?.as_mut()?.get_mut(out)?;
    if !matches!(v, Value::F32(_)) {
        return None;
    }
    match std::mem::replace(v, Value::F32(Tensor::zeros(&[0]))) {
        Value::F32(t) => Some((t, shape)),
        Value::U32(_) => None,
    }
}

/// For a [`Op::Reshape`] node `i` whose input is output `out` of a node `n` that nothing after
/// `i` reads: `(shape, n, out)` ([`take_reshape_input`] may take that buffer).
fn reshape_source<'g>(
    node: &'g super::Node,
    i: usize,
    last: &[usize],
) -> Option<(&'g [usize], usize, usize)> {
    let Op::Reshape { shape } = &node.op else {
        return None;
    };
    let [ValueRef::Node { node: n, out }] = node.inputs[..] else {
        return None;
    };
    (last.get(n) == Some(&i)).then_some((shape.as_slice(), n, out))
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
