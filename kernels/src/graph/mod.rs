//! The graph IR of a verifiable training step: nodes in canonical order, their canonical
//! encoding, execution with per-node output hashes, and reverse-mode autodiff.
//!
//! A [`Graph`] is a list of [`Node`]s in canonical topological order (= construction order).
//! Each node has an [`Op`] (with attributes), input references ([`ValueRef`]: a graph input —
//! parameter, optimizer state or batch —, a constant, or an output of an earlier node) and
//! output types inferred at build time. Values are f32 tensors or u32 id tensors ([`Value`]).
//!
//! The output hash of node `i`, `h(out(v_i))`, is [`node_hash`] of its outputs (the value's
//! own hash for a single output). [`exec::run`] returns these hashes in node order;
//! [`execute_node`] re-runs one node alone from its input values and gives the same hash.
//! [`Graph::encode`] / [`Graph::structure_hash`] give the canonical encoding of the structure.

pub mod autodiff;
pub mod builder;
pub mod exec;
mod infer;
pub mod kernel;
pub mod op;
pub mod value;

#[cfg(test)]
mod tests;

pub use builder::Builder;
pub use exec::{Mode, NodeEvent, NodePhase, NodeTrace, RunOutput, run, run_observed};
pub use kernel::execute_node;
pub use op::{Attr, Op};
pub use value::{DType, Ids, Value, ValueType, node_hash, node_hash_on};

use crate::tensor::TensorHash;
use op::put_str;

/// Domain tag of [`Graph::structure_hash`].
pub const GRAPH_HASH_CONTEXT: &str = "pinpoint 2026 graph structure v1";

/// Where a node input comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ValueRef {
    /// Graph input `i` (see [`Graph::inputs`]).
    Input(usize),
    /// Constant `i` (see [`Graph::consts`]).
    Const(usize),
    /// Output `out` of node `node` (an earlier node).
    Node {
        /// Node index.
        node: usize,
        /// Output index of that node.
        out: usize,
    },
}

impl ValueRef {
    /// Output 0 of node `node`.
    pub fn node(node: usize) -> Self {
        ValueRef::Node { node, out: 0 }
    }

    fn encode(&self, buf: &mut Vec<u8>) {
        let (tag, a, b) = match *self {
            ValueRef::Input(i) => (0u8, i, 0),
            ValueRef::Const(i) => (1, i, 0),
            ValueRef::Node { node, out } => (2, node, out),
        };
        buf.push(tag);
        buf.extend_from_slice(&(a as u64).to_le_bytes());
        buf.extend_from_slice(&(b as u64).to_le_bytes());
    }
}

impl std::fmt::Display for ValueRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ValueRef::Input(i) => write!(f, "in{i}"),
            ValueRef::Const(i) => write!(f, "const{i}"),
            ValueRef::Node { node, out: 0 } => write!(f, "%{node}"),
            ValueRef::Node { node, out } => write!(f, "%{node}.{out}"),
        }
    }
}

/// What a graph input is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InputKind {
    /// A model parameter.
    Param,
    /// An optimizer state tensor.
    Optim,
    /// Batch data (inputs, targets, positions).
    Batch,
}

/// A declared graph input.
#[derive(Debug, Clone, PartialEq)]
pub struct InputSpec {
    /// Name (unique in the graph).
    pub name: String,
    /// Kind.
    pub kind: InputKind,
    /// Type.
    pub ty: ValueType,
}

/// One node of a graph.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// The operation.
    pub op: Op,
    /// Inputs, in the op's order.
    pub inputs: Vec<ValueRef>,
    /// Output types (inferred at build time).
    pub outputs: Vec<ValueType>,
}

fn encode_type(buf: &mut Vec<u8>, t: &ValueType) {
    buf.push(t.dtype.tag());
    buf.extend_from_slice(&(t.shape.len() as u64).to_le_bytes());
    for &d in &t.shape {
        buf.extend_from_slice(&(d as u64).to_le_bytes());
    }
}

impl Node {
    /// Canonical bytes: [`Op::encode`] ‖ input count (u64 LE) ‖ each input reference
    /// (tag u8: 0 input, 1 constant, 2 node; then index u64 LE, output u64 LE) ‖ output count
    /// (u64 LE) ‖ each output type (dtype tag u8, rank u64 LE, dims u64 LE).
    pub fn encode(&self, buf: &mut Vec<u8>) {
        self.op.encode(buf);
        buf.extend_from_slice(&(self.inputs.len() as u64).to_le_bytes());
        for r in &self.inputs {
            r.encode(buf);
        }
        buf.extend_from_slice(&(self.outputs.len() as u64).to_le_bytes());
        for t in &self.outputs {
            encode_type(buf, t);
        }
    }

    /// One line: `op(attrs) (inputs) -> [shapes]`.
    pub fn describe(&self) -> String {
        let ins: Vec<String> = self.inputs.iter().map(|r| r.to_string()).collect();
        let outs: Vec<String> = self
            .outputs
            .iter()
            .map(|t| match t.dtype {
                DType::F32 => format!("f32{:?}", t.shape),
                DType::U32 => format!("u32{:?}", t.shape),
            })
            .collect();
        format!(
            "{} ({}) -> {}",
            self.op.describe(),
            ins.join(", "),
            outs.join(", ")
        )
    }
}

/// A computation: inputs, constants, nodes in canonical order, named outputs.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Graph {
    /// Declared inputs; [`exec::run`] takes their values in this order.
    pub inputs: Vec<InputSpec>,
    /// Constants embedded in the graph (masks, the loss seed `1.0`).
    pub consts: Vec<Value>,
    /// Nodes in canonical topological order.
    pub nodes: Vec<Node>,
    /// Named outputs (new parameters, new optimizer state, loss, logits).
    pub outputs: Vec<(String, ValueRef)>,
}

impl Graph {
    /// The type of a value reference.
    pub fn ty(&self, r: ValueRef) -> Option<ValueType> {
        match r {
            ValueRef::Input(i) => self.inputs.get(i).map(|s| s.ty.clone()),
            ValueRef::Const(i) => self.consts.get(i).map(Value::ty),
            ValueRef::Node { node, out } => self.nodes.get(node)?.outputs.get(out).cloned(),
        }
    }

    /// Index of the named output.
    pub fn output_index(&self, name: &str) -> Option<usize> {
        self.outputs.iter().position(|(n, _)| n == name)
    }

    /// Canonical encoding of the whole structure: input count (u64 LE) ‖ each input (name,
    /// kind u8: 0 param / 1 optim / 2 batch, type) ‖ constant count ‖ each constant's hash
    /// (32 bytes) ‖ node count ‖ each [`Node::encode`] ‖ output count ‖ each output (name,
    /// reference). Strings are `len (u64 LE) ‖ UTF-8`.
    pub fn encode(&self) -> Vec<u8> {
        let mut buf = Vec::new();
        buf.extend_from_slice(&(self.inputs.len() as u64).to_le_bytes());
        for s in &self.inputs {
            put_str(&mut buf, &s.name);
            buf.push(match s.kind {
                InputKind::Param => 0,
                InputKind::Optim => 1,
                InputKind::Batch => 2,
            });
            encode_type(&mut buf, &s.ty);
        }
        buf.extend_from_slice(&(self.consts.len() as u64).to_le_bytes());
        for c in &self.consts {
            buf.extend_from_slice(&c.hash().0);
        }
        buf.extend_from_slice(&(self.nodes.len() as u64).to_le_bytes());
        for n in &self.nodes {
            n.encode(&mut buf);
        }
        buf.extend_from_slice(&(self.outputs.len() as u64).to_le_bytes());
        for (name, r) in &self.outputs {
            put_str(&mut buf, name);
            r.encode(&mut buf);
        }
        buf
    }

    /// blake3 `derive_key` with [`GRAPH_HASH_CONTEXT`] over [`Graph::encode`].
    pub fn structure_hash(&self) -> TensorHash {
        let mut h = blake3::Hasher::new_derive_key(GRAPH_HASH_CONTEXT);
        h.update(&self.encode());
        TensorHash(*h.finalize().as_bytes())
    }

    /// One line per node: `index: description`.
    pub fn describe(&self) -> String {
        let mut s = String::new();
        for (i, n) in self.nodes.iter().enumerate() {
            s.push_str(&format!("{i}: {}\n", n.describe()));
        }
        s
    }
}
