//! The trainer and the referee share one definition of step `t`: for every step of small
//! jobs, the referee's re-execution of every node ([`JobReexec`]: graph, learning rate and batch
//! from the spec alone) reproduces the node hashes of the trainer's step.

use pinpoint_kernels::Cpu;
use pinpoint_kernels::TensorHash;
use pinpoint_kernels::graph::{Graph, Mode, Value, ValueRef, node_hash};
use pinpoint_protocol::dispute::{JobReexec, Reexec};
use pinpoint_protocol::{ErrorClass, ProtocolError};
use pinpoint_train::Trainer;

use super::fixtures::spec;

/// Runs `graph` node by node through the referee's [`Reexec::execute`], from the graph inputs
/// `inputs`, and returns every node's output hash.
fn reexecute(re: &mut JobReexec, graph: &Graph, inputs: &[Value]) -> Vec<TensorHash> {
    let mut outs: Vec<Vec<Value>> = Vec::with_capacity(graph.nodes.len());
    for (i, node) in graph.nodes.iter().enumerate() {
        let args: Vec<&Value> = node
            .inputs
            .iter()
            .map(|r| match *r {
                ValueRef::Input(k) => &inputs[k],
                ValueRef::Const(k) => &graph.consts[k],
                ValueRef::Node { node, out } => &outs[node][out],
            })
            .collect();
        let out = re
            .execute(&node.op, &args)
            .unwrap_or_else(|e| panic!("node {i}: {e}"));
        outs.push(out);
    }
    outs.iter().map(|o| node_hash(o)).collect()
}

/// Every node of every step of job `j`: the referee's hashes are the trainer's.
fn pinned(j: usize) {
    let spec = spec(j);
    let mut tr = Trainer::new(&spec, None, Cpu::single()).unwrap();
    let mut re = JobReexec::new(&spec, None).unwrap();
    assert_eq!(re.initial_state_hash().unwrap(), tr.state_hash().0);
    while !tr.done() {
        let lo = tr.step();
        let graph = re.graph(lo).unwrap();
        let mut inputs = tr.state_inputs();
        inputs.extend(re.batch(tr.state().data_cursor).unwrap());
        let report = tr.step_once(&Mode::Normal).unwrap();
        assert_eq!(
            &graph,
            tr.step_program().graph(),
            "job {j}: graph of step {}",
            lo + 1
        );
        let hashes = reexecute(&mut re, &graph, &inputs);
        assert_eq!(hashes.len(), report.node_hashes.len());
        for (i, (r, t)) in hashes.iter().zip(&report.node_hashes).enumerate() {
            assert_eq!(r, t, "job {j}, step {}: node {i} differs", lo + 1);
        }
    }
}

#[test]
fn referee_reproduces_every_node_of_every_step_of_an_mlp_job() {
    // 12 steps, warm-up over 4: the learning rate changes from step to step.
    pinned(0);
}

#[test]
fn referee_reproduces_every_node_of_every_step_of_a_transformer_job() {
    pinned(3);
}

/// A node that does not run on a party's inputs is the party's fault; a state that does not fit
/// the job is this node's own problem, a step out of range a caller's bug. Both are typed, not strings.
#[test]
fn reexec_errors_are_typed_and_classified() {
    let mut re = JobReexec::new(&spec(0), None).unwrap();
    let graph = re.graph(0).unwrap();
    let node = &graph.nodes[0];
    let wrong = Value::F32(pinpoint_kernels::Tensor::new(&[3], vec![1.0; 3]).unwrap());
    let args: Vec<&Value> = node.inputs.iter().map(|_| &wrong).collect();
    let e = re.execute(&node.op, &args).unwrap_err();
    assert!(matches!(e, ProtocolError::Reexec(_)), "{e:?}");
    assert_eq!(e.class(), ErrorClass::Peer);

    // Asking for a step the job does not have is the caller's bug.
    let e = re.graph(spec(0).steps).unwrap_err();
    assert!(matches!(e, ProtocolError::Train(_)), "{e:?}");
    assert_eq!(e.class(), ErrorClass::Bug);
    // A state of another model is this node's own problem (e.g. a wrong checkpoint).
    let other = Trainer::new(&spec(3), None, Cpu::single()).unwrap();
    let e = ProtocolError::from(
        Trainer::from_state(&spec(0), None, Cpu::single(), other.state().clone()).unwrap_err(),
    );
    assert_eq!(e.class(), ErrorClass::Local);
}
