//! Running a [`Graph`]: every node in canonical order, each output hashed (unless asked not
//! to), values freed after their last use.
//!
//! [`Mode::Normal`] keeps only what later nodes (and the graph outputs) still need, plus every
//! node's output hash. [`Mode::Trace`] additionally keeps the input and output values of the
//! chosen nodes — what a party serves in a dispute. [`Mode::Unhashed`] computes the same
//! values and hashes no node: for runs whose commitment is their result alone.
//!
//! [`run_observed`] is [`run`] with a callback told when each node starts, when its kernel has
//! returned and when its output is hashed and stored ([`NodeEvent`]), so a caller can time
//! nodes (the benchmark does) without this crate reading a clock. The observer sees only
//! indices and ops; it cannot change anything, and the results are those of [`run`].

use std::borrow::Borrow;
use std::collections::BTreeSet;
use std::sync::{Arc, OnceLock};

use super::kernel::execute_node;
use super::op::Op;
use super::value::{Value, node_hash_on};
use super::{Graph, ValueRef};
use crate::cpu::Cpu;
use crate::error::{KernelError, Result};
use crate::ops::shape;
use crate::tensor::{Tensor, TensorHash, hash_as_on};

/// Execution mode. Every mode runs the same kernels in the same order, so the outputs are the
/// same bits in all three; they differ in what else a run keeps.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Mode {
    /// Keep only hashes and what is still needed.
    #[default]
    Normal,
    /// Also keep the inputs and outputs of these nodes.
    Trace(BTreeSet<usize>),
    /// Keep only what is still needed; hash no node ([`RunOutput::node_hashes`] is empty).
    /// For a run whose commitment is its result: a trainer's step outside a dispute commits
    /// `h(S_t)` only, and a dispute over a step re-runs that one step in [`Mode::Trace`] to get
    /// its node hashes (DESIGN §4); evaluation and replays up to a disputed step need none.
    Unhashed,
}

impl Mode {
    /// Whether a run in this mode hashes every node's outputs.
    pub fn hashes_nodes(&self) -> bool {
        !matches!(self, Mode::Unhashed)
    }
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
    /// `h(out(v_i))` for every node, in node order ([`super::node_hash`]); empty in
    /// [`Mode::Unhashed`].
    pub node_hashes: Vec<TensorHash>,
    /// Traced nodes, ascending index (empty unless [`Mode::Trace`]).
    pub traces: Vec<NodeTrace>,
}

/// Where a node is in its execution, as told to the observer of [`run_observed`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodePhase {
    /// About to fetch the inputs and run the kernel.
    Start,
    /// The kernel returned (its outputs are not yet checked or hashed).
    Computed,
    /// The outputs are checked, hashed (not in [`Mode::Unhashed`]), traced if asked, stored,
    /// and dead values freed.
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
/// With a thread pool and [`Mode::Normal`], node outputs are hashed on the pool's workers while
/// later nodes compute (`run_overlapped`); [`Mode::Unhashed`] on a pool runs the same loop
/// without the hashes; otherwise nodes run one after the other as in [`run_observed`]. All
/// give the same outputs and (where computed) the same hashes.
///
/// Errors: inputs that do not match the declared types, any kernel error (with the failing
/// node's op), or an output whose type differs from the inferred one (an internal error).
pub fn run(cx: &Cpu, graph: &Graph, inputs: &[Value], mode: &Mode) -> Result<RunOutput> {
    match (cx.pool(), mode) {
        (Some(pool), Mode::Normal) => run_overlapped(cx, pool, graph, inputs, true),
        (Some(pool), Mode::Unhashed) => run_overlapped(cx, pool, graph, inputs, false),
        _ => run_observed(cx, graph, inputs, mode, &mut |_| {}),
    }
}

/// [`run`] in [`Mode::Normal`] on a pool, as one job on the pool: the main loop runs the
/// kernels in node order on one worker, and each node's output hash is a task spawned on the
/// pool as soon as the node is done, taken by whichever worker is free (the others, or this
/// one while it waits inside a parallel kernel). Hashes are written to their node's index,
/// so the order they finish in does not matter; a node's outputs stay alive (`Arc`) until
/// both its hash and its last reader are done. The kernels, the node order and the hash
/// function are those of [`run_observed`], so every output and hash is the same. Without
/// `hash` ([`Mode::Unhashed`]) no hash task is spawned and no node hash is returned.
///
/// Two consecutive independent products are computed side by side ([`pair_with_next`]). The
/// other workers stay awake for the whole run ([`WarmWorkers`]).
///
/// A [`Op::Reshape`] that takes over the buffer of the node just before it (whose hash task
/// is not yet spawned: spawning waits one node for this check) does so, and one task hashes
/// that buffer under both shapes; any other reshape copies.
fn run_overlapped(
    cx: &Cpu,
    pool: &rayon::ThreadPool,
    graph: &Graph,
    inputs: &[Value],
    hash: bool,
) -> Result<RunOutput> {
    check_inputs(graph, inputs)?;
    let last = last_uses(graph);
    let frees = free_lists(&last);
    // One slot per node, or none when nothing is hashed (then no task is spawned).
    let slots_for_hashes = if hash { graph.nodes.len() } else { 0 };
    let hashes: Vec<OnceLock<TensorHash>> =
        (0..slots_for_hashes).map(|_| OnceLock::new()).collect();
    let mut shared: Vec<Option<Arc<Vec<Value>>>> = vec![None; graph.nodes.len()];
    // Counted until after the scope, so its spinning workers have stopped by the time
    // another run may start its own.
    let this_run = cx.enter_run();
    pool.install(|| {
        rayon::scope(|scope| {
            let spinners = if this_run.sole() { cx.threads() - 1 } else { 0 };
            let warm = WarmWorkers::start(scope, spinners);
            let spawn = |job: HashJob| {
                if hash {
                    let hashes = &hashes;
                    scope.spawn(move |_| job.run(cx, hashes));
                }
            };
            let mut pending: Option<(usize, Arc<Vec<Value>>)> = None;
            // The outputs of node `i + 1` when it was computed beside node `i`.
            let mut paired: Option<Result<Vec<Value>>> = None;
            for (i, node) in graph.nodes.iter().enumerate() {
                // A reshape may take over the pending node's buffer; else that node's hash
                // starts now.
                let taken = match pending.take() {
                    Some((p, outs)) => {
                        match take_pending_for_reshape(node, i, &last, p, outs, &mut shared)? {
                            Take::Reshaped(src_shape, reshaped) => Some((p, src_shape, reshaped)),
                            Take::Untouched(p, outs) => {
                                spawn(HashJob::Node { index: p, outs });
                                None
                            }
                        }
                    }
                    None => None,
                };
                let (outs, source) = match taken {
                    Some((p, src_shape, reshaped)) => (reshaped, Some((p, src_shape))),
                    None => match paired.take() {
                        Some(outs) => (outs?, None),
                        None => match pair_with_next(graph, i) {
                            Some(next) => {
                                let (a, b) = cx.join(
                                    || compute_shared(cx, graph, inputs, &shared, node),
                                    || compute_shared(cx, graph, inputs, &shared, next),
                                );
                                paired = Some(b);
                                (a?, None)
                            }
                            None => (compute_shared(cx, graph, inputs, &shared, node)?, None),
                        },
                    },
                };
                check_outputs(node, i, &outs)?;
                let outs = Arc::new(outs);
                shared[i] = Some(Arc::clone(&outs));
                for &n in &frees[i] {
                    shared[n] = None;
                }
                match source {
                    Some((src, src_shape)) => spawn(HashJob::Reshaped {
                        src,
                        src_shape,
                        dst: i,
                        outs,
                    }),
                    None => pending = Some((i, outs)),
                }
            }
            if let Some((p, outs)) = pending.take() {
                spawn(HashJob::Node { index: p, outs });
            }
            drop(warm);
            Ok::<(), KernelError>(())
        })
    })?;
    drop(this_run);
    // Every hash task has finished (the scope waited for them) and dropped its `Arc`s.
    let mut slots: Vec<Option<Vec<Value>>> = shared
        .into_iter()
        .map(|s| s.map(|a| Arc::try_unwrap(a).unwrap_or_else(|a| (*a).clone())))
        .collect();
    let node_hashes = hashes
        .into_iter()
        .enumerate()
        .map(|(i, h)| h.into_inner().ok_or_else(|| missing(i)))
        .collect::<Result<Vec<_>>>()?;
    Ok(RunOutput {
        outputs: take_outputs(graph, inputs, &mut slots)?,
        node_hashes,
        traces: Vec::new(),
    })
}

/// Keeps the pool's other workers looking for work for as long as it lives, instead of going
/// to sleep between the main loop's parallel kernels: a step at batch 64 has a few hundred
/// parallel regions of tens of microseconds each, and waking a sleeping worker (a futex call
/// by the main loop, a reschedule on the other core) cost more than its share of the work
/// (two threads, unhashed step at batch 64: 6.47 against 7.15 ms, docs/benchmarks.md). Each
/// other worker runs one task that executes whatever pool work appears (`rayon::yield_now`)
/// and spins in between, until the guard is dropped; the guard is dropped on every path out of
/// the main loop, errors included, so the scope never waits on a spinning task. The workers
/// are busy for the whole run: the pool is the run's. Only a run that began alone on its pool
/// starts them ([`Cpu::enter_run`]): a spinner waits for one main loop and may sit on top of
/// anything its thread had suspended, so two runs' spinners could each wait for the other.
struct WarmWorkers {
    done: Arc<std::sync::atomic::AtomicBool>,
}

impl WarmWorkers {
    /// Starts `spinners` tasks on `scope` (the pool's thread count less one, or none).
    fn start<'s>(scope: &rayon::Scope<'s>, spinners: usize) -> Self {
        use std::sync::atomic::{AtomicBool, Ordering};
        let done = Arc::new(AtomicBool::new(false));
        let main = rayon::current_thread_index();
        for _ in 0..spinners {
            let done = Arc::clone(&done);
            scope.spawn(move |_| {
                // The main loop's own thread may pop this task while it waits inside a join:
                // it must go back to its wait, never spin under its own loop.
                if rayon::current_thread_index() == main {
                    return;
                }
                while !done.load(Ordering::Acquire) {
                    if !matches!(rayon::yield_now(), Some(rayon::Yield::Executed)) {
                        std::hint::spin_loop();
                    }
                }
            });
        }
        Self { done }
    }
}

impl Drop for WarmWorkers {
    fn drop(&mut self) {
        self.done.store(true, std::sync::atomic::Ordering::Release);
    }
}

/// Node `i + 1` when it is a product (matmul or bmm, any transpose) that does not read node
/// `i`'s outputs while node `i` is a product too: [`run_overlapped`] then computes the two
/// side by side (`Cpu::join`). The two gradient products of a matmul's backward are such a
/// pair; each then runs whole on one core instead of both being split over the cores.
fn pair_with_next(graph: &Graph, i: usize) -> Option<&super::Node> {
    let is_product = |op: &Op| {
        matches!(
            op,
            Op::MatMul | Op::MatMulNT | Op::MatMulTN | Op::Bmm | Op::BmmNT | Op::BmmTN
        )
    };
    let (node, next) = (graph.nodes.get(i)?, graph.nodes.get(i + 1)?);
    let reads_node = next
        .inputs
        .iter()
        .any(|r| matches!(*r, ValueRef::Node { node, .. } if node == i));
    (is_product(&node.op) && is_product(&next.op) && !reads_node).then_some(next)
}

/// One hash task of [`run_overlapped`].
enum HashJob {
    /// `h(out(v_index))` of these outputs.
    Node { index: usize, outs: Arc<Vec<Value>> },
    /// Node `dst` is a reshape that took over the single output of node `src`, which had
    /// shape `src_shape`: both hashes read the one buffer.
    Reshaped {
        src: usize,
        src_shape: Vec<usize>,
        dst: usize,
        outs: Arc<Vec<Value>>,
    },
}

impl HashJob {
    fn run(self, cx: &Cpu, hashes: &[OnceLock<TensorHash>]) {
        // Each index is set by exactly one job, so `set` never finds a value already there.
        match self {
            HashJob::Node { index, outs } => {
                let _ = hashes[index].set(node_hash_on(cx, &outs));
            }
            HashJob::Reshaped {
                src,
                src_shape,
                dst,
                outs,
            } => {
                if let [Value::F32(t)] = outs.as_slice() {
                    let _ = hashes[src].set(hash_as_on(&src_shape, t.data(), cx));
                }
                let _ = hashes[dst].set(node_hash_on(cx, &outs));
            }
        }
    }
}

/// What [`take_pending_for_reshape`] did with the pending node's outputs.
enum Take {
    /// The reshape took the buffer: the source's output shape and the reshape's outputs.
    Reshaped(Vec<usize>, Vec<Value>),
    /// Not such a reshape: the pending node and its outputs, untouched.
    Untouched(usize, Arc<Vec<Value>>),
}

/// For a [`Op::Reshape`] node `i` whose input is the single f32 output of node `p` (the node
/// just before, whose hash task is not yet spawned) and which nothing after `i` reads: takes
/// that buffer (dropping `p`'s slot, which dies at `i`) and returns `p`'s output shape and the
/// reshaped output. Otherwise gives `(p, outs)` back untouched. Errors as the reshape kernel.
fn take_pending_for_reshape(
    node: &super::Node,
    i: usize,
    last: &[usize],
    p: usize,
    outs: Arc<Vec<Value>>,
    shared: &mut [Option<Arc<Vec<Value>>>],
) -> Result<Take> {
    let Some((shape, src, 0)) = reshape_source(node, i, last) else {
        return Ok(Take::Untouched(p, outs));
    };
    if src != p || !matches!(outs.as_slice(), [Value::F32(_)]) {
        return Ok(Take::Untouched(p, outs));
    }
    // `p`'s slot is the only other owner; it is dead after this node (`last[p] == i`).
    shared[p] = None;
    match Arc::try_unwrap(outs) {
        Ok(mut outs) => {
            let t = outs.pop().ok_or_else(|| missing(p))?.into_f32("reshape")?;
            let src_shape = t.shape().to_vec();
            let reshaped = shape::reshape_owned(t, shape)?;
            Ok(Take::Reshaped(src_shape, vec![Value::F32(reshaped)]))
        }
        Err(outs) => {
            shared[p] = Some(Arc::clone(&outs));
            Ok(Take::Untouched(p, outs))
        }
    }
}

/// Fetches `node`'s inputs from the shared slots of [`run_overlapped`] and runs its kernel.
fn compute_shared(
    cx: &Cpu,
    graph: &Graph,
    inputs: &[Value],
    slots: &[Option<Arc<Vec<Value>>>],
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
    let hash = mode.hashes_nodes();
    let mut hashes = Vec::with_capacity(if hash { graph.nodes.len() } else { 0 });
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
        if hash {
            hashes.push(node_hash_on(cx, &outs));
        }
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

/// The value `r` refers to; node outputs come from `slots` (owned, or shared by
/// [`run_overlapped`]).
fn fetch<'a, S: Borrow<Vec<Value>>>(
    graph: &'a Graph,
    inputs: &'a [Value],
    slots: &'a [Option<S>],
    r: ValueRef,
) -> Result<&'a Value> {
    let v = match r {
        ValueRef::Input(i) => inputs.get(i),
        ValueRef::Const(i) => graph.consts.get(i),
        ValueRef::Node { node, out } => slots
            .get(node)
            .and_then(|s| s.as_ref())
            .and_then(|s| s.borrow().get(out)),
    };
    v.ok_or_else(|| KernelError::InvalidArgument {
        op: "graph run",
        detail: format!("value {r} is not available (not yet computed or already freed)"),
    })
}
