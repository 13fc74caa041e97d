//! The referee's checks of agreed data (pure functions): the inputs of the disputed node and
//! the state assembled from the step graph's outputs, each proven by an [`AgreedProof`], and
//! the search for a differing leaf when two step commitments end in the same state.

use pinpoint_kernels::graph::{Graph, InputKind, Value, ValueRef};

use crate::merkle::MerkleProof;
use crate::wire::{AgreedProof, ValueBlob, state_hash_of};

/// Why a proof of agreed data was refused (the sender loses with `Fault::BadInput`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refused(pub String);

fn refuse<T>(why: impl Into<String>) -> Result<T, Refused> {
    Err(Refused(why.into()))
}

/// Checks `proof` for chain position `node` (`1 ≤ node ≤ N + 1`) of the step `lo → lo + 1`:
/// the manifest hashes to `lo_hash` and is at step `lo`, and the segment walks to `prev`
/// (`c_{node-1}`) with each node's output count as in `graph`.
pub(crate) fn check_proof(
    graph: &Graph,
    lo: u64,
    lo_hash: &[u8; 32],
    prev: &[u8; 32],
    node: u64,
    proof: &AgreedProof,
) -> Result<(), Refused> {
    proof
        .check(lo_hash, prev, node - 1)
        .map_err(|e| Refused(e.to_string()))?;
    if proof.state.step != lo {
        return refuse(format!(
            "the manifest is of step {}, not {lo}",
            proof.state.step
        ));
    }
    for (k, outs) in proof.chain.outputs.iter().enumerate() {
        let pos = proof.chain.first + k as u64;
        let want = usize::try_from(pos - 1)
            .ok()
            .and_then(|i| graph.nodes.get(i))
            .map(|n| n.outputs.len());
        if want != Some(outs.len()) {
            return refuse(format!("chain segment: wrong output count at node {pos}"));
        }
    }
    Ok(())
}

/// The proven hash of a value reference: a parameter or optimizer tensor from the manifest, a
/// constant from the graph, a node output from the segment, a batch value from `batch`.
fn proven_hash(
    graph: &Graph,
    proof: &AgreedProof,
    batch: &[Value],
    r: ValueRef,
) -> Result<[u8; 32], Refused> {
    match r {
        ValueRef::Input(k) => {
            let Some(spec) = graph.inputs.get(k) else {
                return refuse(format!("graph input {k} does not exist"));
            };
            let found = match spec.kind {
                InputKind::Param => proof.state.tensor(false, &spec.name),
                InputKind::Optim => proof.state.tensor(true, &spec.name),
                InputKind::Batch => {
                    let pos = graph.inputs[..k]
                        .iter()
                        .filter(|s| s.kind == InputKind::Batch)
                        .count();
                    batch.get(pos).map(|v| v.hash().0)
                }
            };
            found.ok_or_else(|| Refused(format!("no agreed value for input {:?}", spec.name)))
        }
        ValueRef::Const(k) => graph
            .consts
            .get(k)
            .map(|c| c.hash().0)
            .ok_or_else(|| Refused(format!("constant {k} does not exist"))),
        ValueRef::Node { node, out } => proof
            .chain
            .node(node as u64 + 1)
            .and_then(|outs| outs.get(out).copied())
            .ok_or_else(|| Refused(format!("node {} is not in the chain segment", node + 1))),
    }
}

/// The inputs of node `node` (1-based) rebuilt from `blobs`, each checked against its proven
/// hash. `batch` is the referee's own batch for the manifest's data cursor.
pub(crate) fn check_inputs(
    graph: &Graph,
    node: u64,
    blobs: &[ValueBlob],
    proof: &AgreedProof,
    batch: &[Value],
) -> Result<Vec<Value>, Refused> {
    let Some(n) = usize::try_from(node - 1)
        .ok()
        .and_then(|i| graph.nodes.get(i))
    else {
        return refuse(format!("node {node} does not exist"));
    };
    if n.inputs.len() != blobs.len() {
        return refuse(format!(
            "{} inputs sent, node {node} has {}",
            blobs.len(),
            n.inputs.len()
        ));
    }
    let mut values = Vec::with_capacity(blobs.len());
    for (r, blob) in n.inputs.iter().zip(blobs) {
        let v = blob.to_value().map_err(|e| Refused(e.to_string()))?;
        let want = proven_hash(graph, proof, batch, *r)?;
        if v.hash().0 != want {
            return refuse(format!("input {r} does not match its agreed hash"));
        }
        values.push(v);
    }
    Ok(values)
}

/// `h(S_{lo+1})` assembled from proven hashes: step and data cursor one above the manifest's,
/// parameters and optimizer state from the step graph's `param:` and `optim:` outputs (sorted
/// by name, as `TrainState` keeps them).
pub(crate) fn assemble_state(
    graph: &Graph,
    proof: &AgreedProof,
    batch: &[Value],
) -> Result<[u8; 32], Refused> {
    let mut params: Vec<(Vec<u8>, [u8; 32])> = Vec::new();
    let mut optim: Vec<(Vec<u8>, [u8; 32])> = Vec::new();
    for (name, r) in &graph.outputs {
        let (list, rest) = if let Some(n) = name.strip_prefix("param:") {
            (&mut params, n)
        } else if let Some(n) = name.strip_prefix("optim:") {
            (&mut optim, n)
        } else {
            continue;
        };
        list.push((
            rest.as_bytes().to_vec(),
            proven_hash(graph, proof, batch, *r)?,
        ));
    }
    params.sort();
    optim.sort();
    let m = &proof.state;
    let (Some(step), Some(cursor)) = (m.step.checked_add(1), m.data_cursor.checked_add(1)) else {
        return refuse("step or data cursor overflows");
    };
    Ok(state_hash_of(
        step,
        cursor,
        params.iter().map(|(n, h)| (&n[..], h)),
        optim.iter().map(|(n, h)| (&n[..], h)),
    ))
}

/// For two valid proofs of the same leaf (equal leaf value) under different roots: the lowest
/// level `l` and index `k` of a tree node whose hashes differ between the two trees (a sibling
/// on the path). Leaves `k·2^l … min((k+1)·2^l, n) − 1` lie below it.
pub(crate) fn differing_subtree(a: &MerkleProof, b: &MerkleProof) -> Option<(u32, u64)> {
    if a.index != b.index || a.n_leaves != b.n_leaves || a.siblings.len() != b.siblings.len() {
        return None;
    }
    let (mut idx, mut count, mut level, mut k) = (a.index, a.n_leaves, 0u32, 0usize);
    while count > 1 {
        let sib = idx ^ 1;
        if sib < count {
            if a.siblings.get(k)? != b.siblings.get(k)? {
                return Some((level, sib));
            }
            k += 1;
        }
        idx >>= 1;
        count = count.div_ceil(2);
        level += 1;
    }
    None
}
