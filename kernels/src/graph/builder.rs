//! [`Builder`]: constructs a [`Graph`] node by node, inferring output types as it goes.

use super::op::Op;
use super::value::{Value, ValueType};
use super::{Graph, InputKind, InputSpec, Node, ValueRef};
use crate::error::{KernelError, Result};
use crate::ops::reduce_ops::Over;

/// Builds a graph. Node order is the order of the calls: the canonical order.
#[derive(Debug, Clone, Default)]
pub struct Builder {
    graph: Graph,
}

impl Builder {
    /// An empty graph.
    pub fn new() -> Self {
        Self::default()
    }

    /// Continues building on an existing graph (e.g. to append backward nodes).
    pub fn from_graph(graph: Graph) -> Self {
        Self { graph }
    }

    /// The graph so far.
    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    /// Declares an input. Errors: a duplicate name or an empty shape
    /// ([`KernelError::InvalidArgument`], [`KernelError::Empty`]).
    pub fn input(&mut self, name: &str, kind: InputKind, ty: ValueType) -> Result<ValueRef> {
        if self.graph.inputs.iter().any(|s| s.name == name) {
            return Err(KernelError::InvalidArgument {
                op: "graph input",
                detail: format!("duplicate input name {name:?}"),
            });
        }
        if ty.numel() == 0 {
            return Err(KernelError::Empty {
                op: "graph input",
                shape: ty.shape,
            });
        }
        self.graph.inputs.push(InputSpec {
            name: name.to_string(),
            kind,
            ty,
        });
        Ok(ValueRef::Input(self.graph.inputs.len() - 1))
    }

    /// Adds a constant.
    pub fn constant(&mut self, v: Value) -> ValueRef {
        self.graph.consts.push(v);
        ValueRef::Const(self.graph.consts.len() - 1)
    }

    /// The type of a reference. Errors: a reference to nothing
    /// ([`KernelError::InvalidArgument`]).
    pub fn ty(&self, r: ValueRef) -> Result<ValueType> {
        self.graph
            .ty(r)
            .ok_or_else(|| KernelError::InvalidArgument {
                op: "graph",
                detail: format!("reference {r} does not exist"),
            })
    }

    /// The shape of a reference.
    pub fn shape(&self, r: ValueRef) -> Result<Vec<usize>> {
        Ok(self.ty(r)?.shape)
    }

    /// Appends a node; returns references to all its outputs. Errors: from [`Op::infer`], or a
    /// dangling reference.
    pub fn node(&mut self, op: Op, inputs: &[ValueRef]) -> Result<Vec<ValueRef>> {
        let types = inputs
            .iter()
            .map(|&r| self.ty(r))
            .collect::<Result<Vec<_>>>()?;
        let refs: Vec<&ValueType> = types.iter().collect();
        let outputs = op.infer(&refs)?;
        let idx = self.graph.nodes.len();
        let n = outputs.len();
        self.graph.nodes.push(Node {
            op,
            inputs: inputs.to_vec(),
            outputs,
        });
        Ok((0..n)
            .map(|out| ValueRef::Node { node: idx, out })
            .collect())
    }

    /// Appends a node and returns its first output.
    pub fn op(&mut self, op: Op, inputs: &[ValueRef]) -> Result<ValueRef> {
        Ok(self.node(op, inputs)?[0])
    }

    /// Names `r` as a graph output.
    pub fn output(&mut self, name: &str, r: ValueRef) {
        self.graph.outputs.push((name.to_string(), r));
    }

    /// The finished graph.
    pub fn finish(self) -> Graph {
        self.graph
    }

    /// `a·b` (rank 2).
    pub fn matmul(&mut self, a: ValueRef, b: ValueRef) -> Result<ValueRef> {
        self.op(Op::MatMul, &[a, b])
    }

    /// `a + b` with broadcasting.
    pub fn add(&mut self, a: ValueRef, b: ValueRef) -> Result<ValueRef> {
        self.op(Op::Add, &[a, b])
    }

    /// `x` viewed as `shape`.
    pub fn reshape(&mut self, x: ValueRef, shape: &[usize]) -> Result<ValueRef> {
        self.op(
            Op::Reshape {
                shape: shape.to_vec(),
            },
            &[x],
        )
    }

    /// Axis permutation.
    pub fn permute(&mut self, x: ValueRef, perm: &[usize]) -> Result<ValueRef> {
        self.op(
            Op::Permute {
                perm: perm.to_vec(),
            },
            &[x],
        )
    }

    /// Layer norm over the last axis; returns `y` (the node also outputs `x̂` and `rstd` for
    /// the backward).
    pub fn layer_norm(
        &mut self,
        x: ValueRef,
        gamma: ValueRef,
        beta: ValueRef,
        eps: f32,
    ) -> Result<ValueRef> {
        self.op(Op::LayerNorm { eps }, &[x, gamma, beta])
    }

    /// Sum over `over`.
    pub fn sum(&mut self, x: ValueRef, over: Over) -> Result<ValueRef> {
        self.op(Op::Sum { over }, &[x])
    }
}
