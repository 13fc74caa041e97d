//! Tests of the graph IR: shape errors, execution modes, single-node re-execution, and every
//! op's gradient through the graph against finite differences.

use std::collections::BTreeSet;

use proptest::prelude::*;

use super::autodiff::append_backward;
use super::*;
use crate::ops::reduce_ops::Over;
use crate::rng::Philox;
use crate::tensor::Tensor;
use crate::{Cpu, KernelError, SimdPolicy};

fn modes() -> Vec<Cpu> {
    vec![
        Cpu::scalar(),
        Cpu::single(),
        Cpu::new(2, SimdPolicy::Auto).unwrap(),
    ]
}

#[test]
fn shape_errors_are_typed() {
    let mut b = Builder::new();
    let a = b
        .input("a", InputKind::Param, ValueType::f32(&[2, 3]))
        .unwrap();
    let c = b
        .input("c", InputKind::Param, ValueType::f32(&[4, 5]))
        .unwrap();
    let ids = b
        .input("ids", InputKind::Batch, ValueType::u32(&[3]))
        .unwrap();
    assert!(matches!(
        b.op(Op::MatMul, &[a, c]),
        Err(KernelError::ShapeMismatch { .. })
    ));
    assert!(matches!(
        b.op(Op::Add, &[a, c]),
        Err(KernelError::ShapeMismatch { .. })
    ));
    assert!(matches!(
        b.op(Op::Gather, &[a, a]),
        Err(KernelError::InvalidArgument { .. })
    ));
    assert!(matches!(
        b.op(
            Op::Sum {
                over: Over::Axis(2)
            },
            &[a]
        ),
        Err(KernelError::BadAxis { .. })
    ));
    assert!(matches!(
        b.op(Op::Exp, &[a, a]),
        Err(KernelError::InvalidArgument { .. })
    ));
    assert!(matches!(
        b.op(Op::CrossEntropy, &[c, ids]),
        Err(KernelError::ShapeMismatch { .. })
    ));
    assert!(matches!(
        b.op(Op::Reshape { shape: vec![5] }, &[a]),
        Err(KernelError::ShapeMismatch { .. })
    ));
    assert!(
        b.input("a", InputKind::Param, ValueType::f32(&[1]))
            .is_err()
    );
    assert!(matches!(
        b.input("z", InputKind::Param, ValueType::f32(&[0, 2])),
        Err(KernelError::Empty { .. })
    ));
    // The failed calls added nothing.
    assert!(b.graph().nodes.is_empty());
    // Run-time errors: an out-of-range id, a wrong input type.
    let t = b
        .input("t", InputKind::Param, ValueType::f32(&[2, 4]))
        .unwrap();
    let g = b.op(Op::Gather, &[t, ids]).unwrap();
    b.output("g", g);
    let graph = b.finish();
    let vals = |bad: u32| {
        vec![
            Value::F32(Tensor::zeros(&[2, 3])),
            Value::F32(Tensor::zeros(&[4, 5])),
            Value::U32(Ids::new(&[3], vec![0, 1, bad]).unwrap()),
            Value::F32(Tensor::zeros(&[2, 4])),
        ]
    };
    assert!(run(&Cpu::single(), &graph, &vals(1), &Mode::Normal).is_ok());
    assert!(matches!(
        run(&Cpu::single(), &graph, &vals(2), &Mode::Normal),
        Err(KernelError::IndexOutOfRange { .. })
    ));
    let mut wrong = vals(0);
    wrong[0] = Value::F32(Tensor::zeros(&[3, 2]));
    assert!(run(&Cpu::single(), &graph, &wrong, &Mode::Normal).is_err());
}

/// A small step-like graph from a seed: a 2-layer net with several op kinds, a loss, its
/// backward. Returns the graph and input values.
fn random_graph(seed: u64) -> (Graph, Vec<Value>) {
    let rng = Philox::from_seed(seed);
    let (n, d, h, c) = (
        3 + (seed % 4) as usize,
        4 + (seed % 3) as usize,
        5 + (seed % 5) as usize,
        3,
    );
    let mut b = Builder::new();
    let x = b
        .input("x", InputKind::Batch, ValueType::f32(&[n, d]))
        .unwrap();
    let y = b
        .input("y", InputKind::Batch, ValueType::u32(&[n]))
        .unwrap();
    let w1 = b
        .input("w1", InputKind::Param, ValueType::f32(&[d, h]))
        .unwrap();
    let b1 = b
        .input("b1", InputKind::Param, ValueType::f32(&[h]))
        .unwrap();
    let g = b
        .input("g", InputKind::Param, ValueType::f32(&[h]))
        .unwrap();
    let be = b
        .input("be", InputKind::Param, ValueType::f32(&[h]))
        .unwrap();
    let w2 = b
        .input("w2", InputKind::Param, ValueType::f32(&[h, c]))
        .unwrap();
    let z = b.matmul(x, w1).unwrap();
    let z = b.add(z, b1).unwrap();
    let z = b.layer_norm(z, g, be, 1e-5).unwrap();
    let a = match seed % 3 {
        0 => b.op(Op::Relu, &[z]).unwrap(),
        1 => b.op(Op::GeluTanh, &[z]).unwrap(),
        _ => b.op(Op::Tanh, &[z]).unwrap(),
    };
    let s = b.op(Op::Softmax, &[a]).unwrap();
    let a = b.op(Op::Mul, &[a, s]).unwrap();
    let a = b.add(a, z).unwrap();
    let logits = b.matmul(a, w2).unwrap();
    let loss = b.op(Op::CrossEntropy, &[logits, y]).unwrap();
    let sq = b.op(Op::SumSquares { over: Over::All }, &[w2]).unwrap();
    let sq = b.op(Op::Scale { c: 1e-3 }, &[sq]).unwrap();
    let loss = b.add(loss, sq).unwrap();
    let params = [w1, b1, g, be, w2];
    let grads = append_backward(&mut b, loss, &params).unwrap();
    b.output("loss", loss);
    for (i, g) in grads.into_iter().enumerate() {
        b.output(&format!("grad{i}"), g);
    }
    let graph = b.finish();
    let vals = graph
        .inputs
        .iter()
        .enumerate()
        .map(|(i, s)| match s.ty.dtype {
            DType::F32 => Value::F32(rng.normal_tensor(i as u64, &s.ty.shape, 0.0, 0.7)),
            DType::U32 => {
                let ids = (0..s.ty.numel())
                    .map(|k| rng.block_at(99, k as u64)[0] % c as u32)
                    .collect();
                Value::U32(Ids::new(&s.ty.shape, ids).unwrap())
            }
        })
        .collect();
    (graph, vals)
}

#[test]
fn execution_is_identical_in_every_cpu_mode() {
    for seed in 0..4 {
        let (graph, vals) = random_graph(seed);
        let runs: Vec<RunOutput> = modes()
            .iter()
            .map(|cx| run(cx, &graph, &vals, &Mode::Normal).unwrap())
            .collect();
        assert_eq!(runs[0].node_hashes.len(), graph.nodes.len());
        for r in &runs[1..] {
            assert_eq!(r.node_hashes, runs[0].node_hashes);
            assert_eq!(r.outputs, runs[0].outputs);
        }
    }
}

/// A reshape whose input dies there reuses the input's buffer (the executor moves it); one
/// whose input is read later, is a graph output, or is traced copies. Every case gives the
/// values and hashes of the kernel run alone.
#[test]
fn reshape_of_a_dying_value_is_the_kernel_result() {
    let mut b = Builder::new();
    let x = b
        .input("x", InputKind::Batch, ValueType::f32(&[2, 3]))
        .unwrap();
    let e = b.op(Op::Exp, &[x]).unwrap(); // node 0: dies at node 1
    let r = b.op(Op::Reshape { shape: vec![3, 2] }, &[e]).unwrap(); // node 1: moves
    let t = b.op(Op::Tanh, &[r]).unwrap(); // node 2: read by 3 and 4
    let r2 = b.op(Op::Reshape { shape: vec![6] }, &[t]).unwrap(); // node 3: copies
    let s = b.op(Op::Scale { c: 2.0 }, &[t]).unwrap(); // node 4
    let r3 = b.op(Op::Reshape { shape: vec![2, 3] }, &[s]).unwrap(); // node 5: output too
    b.output("r2", r2);
    b.output("r3", r3);
    b.output("s", s);
    b.output("s again", s); // a value output twice is moved out only once
    let graph = b.finish();
    let xv = Value::F32(Tensor::new(&[2, 3], vec![0.5, -1.0, 2.0, 0.0, -0.25, 3.0]).unwrap());
    let vals = vec![xv];
    // Reference: every node through `execute_node` on cloned inputs.
    let mut outs: Vec<Value> = Vec::new();
    for node in &graph.nodes {
        let args: Vec<&Value> = node
            .inputs
            .iter()
            .map(|r| match *r {
                ValueRef::Input(i) => &vals[i],
                ValueRef::Node { node, .. } => &outs[node],
                ValueRef::Const(_) => unreachable!("no consts here"),
            })
            .collect();
        let mut o = kernel::execute_node(&Cpu::single(), &node.op, &args).unwrap();
        outs.push(o.remove(0));
    }
    let want_hashes: Vec<_> = outs.iter().map(Value::hash).collect();
    for cx in modes() {
        let got = run(&cx, &graph, &vals, &Mode::Normal).unwrap();
        assert_eq!(got.node_hashes, want_hashes);
        let want = [3, 5, 4, 4].map(|n| outs[n].clone()).to_vec();
        assert_eq!(got.outputs, want);
        let all: BTreeSet<usize> = (0..graph.nodes.len()).collect();
        let traced = run(&cx, &graph, &vals, &Mode::Trace(all)).unwrap();
        assert_eq!(traced.node_hashes, want_hashes);
        assert_eq!(traced.traces[1].inputs, vec![outs[0].clone()]);
    }
}

#[test]
fn trace_mode_keeps_chosen_nodes_and_same_hashes() {
    let (graph, vals) = random_graph(5);
    let normal = run(&Cpu::single(), &graph, &vals, &Mode::Normal).unwrap();
    let chosen: BTreeSet<usize> = [0, 3, graph.nodes.len() - 1].into_iter().collect();
    let traced = run(&Cpu::single(), &graph, &vals, &Mode::Trace(chosen.clone())).unwrap();
    assert_eq!(normal.node_hashes, traced.node_hashes);
    assert!(normal.traces.is_empty());
    let got: Vec<usize> = traced.traces.iter().map(|t| t.node).collect();
    assert_eq!(got, chosen.into_iter().collect::<Vec<_>>());
    for t in &traced.traces {
        assert_eq!(node_hash(&t.outputs), normal.node_hashes[t.node]);
    }
}

#[test]
fn observed_run_is_identical_and_sees_every_node_in_order() {
    let (graph, vals) = random_graph(7);
    for cx in modes() {
        let plain = run(&cx, &graph, &vals, &Mode::Normal).unwrap();
        let mut events = Vec::new();
        let observed = run_observed(&cx, &graph, &vals, &Mode::Normal, &mut |e| {
            assert_eq!(e.op, &graph.nodes[e.index].op);
            events.push((e.index, e.phase));
        })
        .unwrap();
        assert_eq!(observed, plain);
        let want: Vec<(usize, NodePhase)> = (0..graph.nodes.len())
            .flat_map(|i| [NodePhase::Start, NodePhase::Computed, NodePhase::Done].map(|p| (i, p)))
            .collect();
        assert_eq!(events, want);
    }
}

#[test]
fn structure_encoding_is_stable_and_sensitive() {
    let (g1, _) = random_graph(1);
    let (g1b, _) = random_graph(1);
    let (g2, _) = random_graph(2);
    assert_eq!(g1.structure_hash(), g1b.structure_hash());
    assert_ne!(g1.structure_hash(), g2.structure_hash());
    let mut g3 = g1.clone();
    if let Some(n) = g3
        .nodes
        .iter_mut()
        .find(|n| matches!(n.op, Op::Scale { .. }))
    {
        n.op = Op::Scale { c: 2e-3 };
    }
    assert_ne!(g1.structure_hash(), g3.structure_hash());
    assert!(g1.describe().contains("layer_norm(eps="));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]
    /// Random nodes of random steps, re-executed alone from their traced inputs, reproduce
    /// their output hashes (in every CPU mode).
    #[test]
    fn nodes_reexecute_alone(seed in 0u64..1000, picks in proptest::collection::vec(0usize..10_000, 4)) {
        let (graph, vals) = random_graph(seed);
        let chosen: BTreeSet<usize> = picks.iter().map(|p| p % graph.nodes.len()).collect();
        let out = run(&Cpu::single(), &graph, &vals, &Mode::Trace(chosen)).unwrap();
        for t in &out.traces {
            let args: Vec<&Value> = t.inputs.iter().collect();
            for cx in modes() {
                let again = execute_node(&cx, &graph.nodes[t.node].op, &args).unwrap();
                prop_assert_eq!(node_hash(&again), out.node_hashes[t.node]);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Gradients against finite differences.

/// Builds `y = f(inputs)`, `loss = sum(y · R)` with a fixed random `R`, and compares the
/// autodiff gradient of every f32 input with central differences `(L(x+h) − L(x−h)) / 2h`
/// computed in f64 from the graph's f32 loss.
fn check_grad(
    name: &str,
    shapes: &[(&[usize], bool)],
    f: impl Fn(&mut Builder, &[ValueRef]) -> ValueRef,
) {
    let rng = Philox::from_seed(0x5eed);
    let mut b = Builder::new();
    let xs: Vec<ValueRef> = shapes
        .iter()
        .enumerate()
        .map(|(i, (s, _))| {
            b.input(&format!("x{i}"), InputKind::Param, ValueType::f32(s))
                .unwrap()
        })
        .collect();
    let y = f(&mut b, &xs);
    let ys = b.shape(y).unwrap();
    let r = b.constant(Value::F32(rng.normal_tensor(1000, &ys, 0.0, 1.0)));
    let yr = b.op(Op::Mul, &[y, r]).unwrap();
    let loss = b.op(Op::Sum { over: Over::All }, &[yr]).unwrap();
    let n_fwd = b.graph().nodes.len();
    let grads = append_backward(&mut b, loss, &xs).unwrap();
    assert!(b.graph().nodes.len() > n_fwd, "{name}: no backward nodes");
    b.output("loss", loss);
    for g in &grads {
        b.output("grad", *g);
    }
    let graph = b.finish();
    let vals: Vec<Value> = shapes
        .iter()
        .enumerate()
        .map(|(i, (s, positive))| {
            let t = rng.normal_tensor(i as u64, s, 0.0, 1.0);
            if *positive {
                let d = t.data().iter().map(|v| v.abs() + 0.5).collect();
                Value::F32(Tensor::new(s, d).unwrap())
            } else {
                Value::F32(t)
            }
        })
        .collect();
    let cx = Cpu::single();
    let base = run(&cx, &graph, &vals, &Mode::Normal).unwrap();
    let loss_of = |vals: &[Value]| -> f64 {
        let o = run(&cx, &graph, vals, &Mode::Normal).unwrap();
        f64::from(o.outputs[0].as_f32("t").unwrap().data()[0])
    };
    let h = 1e-2f32;
    for (i, _) in shapes.iter().enumerate() {
        let ad = base.outputs[1 + i].as_f32("t").unwrap().clone();
        let x0 = vals[i].as_f32("t").unwrap().clone();
        for k in 0..x0.numel() {
            let at = |delta: f32| {
                let mut v = vals.clone();
                let mut t = x0.clone();
                t.data_mut()[k] += delta;
                v[i] = Value::F32(t);
                loss_of(&v)
            };
            let fd = (at(h) - at(-h)) / (2.0 * f64::from(h));
            let a = f64::from(ad.data()[k]);
            let tol = 2e-2 * (1.0 + fd.abs());
            assert!(
                (a - fd).abs() <= tol,
                "{name}: input {i} element {k}: autodiff {a}, finite difference {fd}"
            );
        }
    }
}

fn un(op: Op) -> impl Fn(&mut Builder, &[ValueRef]) -> ValueRef {
    move |b, x| b.op(op.clone(), &[x[0]]).unwrap()
}

fn bin(op: Op) -> impl Fn(&mut Builder, &[ValueRef]) -> ValueRef {
    move |b, x| b.op(op.clone(), &[x[0], x[1]]).unwrap()
}

#[test]
fn gradients_of_products() {
    check_grad(
        "matmul",
        &[(&[3, 4], false), (&[4, 2], false)],
        bin(Op::MatMul),
    );
    check_grad(
        "matmul_nt",
        &[(&[3, 4], false), (&[2, 4], false)],
        bin(Op::MatMulNT),
    );
    check_grad(
        "matmul_tn",
        &[(&[4, 3], false), (&[4, 2], false)],
        bin(Op::MatMulTN),
    );
    check_grad(
        "bmm",
        &[(&[2, 3, 4], false), (&[2, 4, 2], false)],
        bin(Op::Bmm),
    );
    check_grad(
        "bmm_nt",
        &[(&[2, 3, 4], false), (&[2, 2, 4], false)],
        bin(Op::BmmNT),
    );
    check_grad(
        "bmm_tn",
        &[(&[2, 4, 3], false), (&[2, 4, 2], false)],
        bin(Op::BmmTN),
    );
}

#[test]
fn gradients_of_binary_ops_with_broadcasting() {
    let sh: &[(&[usize], bool)] = &[(&[2, 3], false), (&[3], false)];
    check_grad("add", sh, bin(Op::Add));
    check_grad("sub", sh, bin(Op::Sub));
    check_grad("mul", sh, bin(Op::Mul));
    check_grad("div", &[(&[2, 3], false), (&[2, 1], true)], bin(Op::Div));
    check_grad(
        "sub_same",
        &[(&[2, 3], false), (&[2, 3], false)],
        bin(Op::Sub),
    );
}

#[test]
fn gradients_of_unary_ops() {
    let s: &[usize] = &[2, 3];
    for op in [
        Op::Neg,
        Op::Exp,
        Op::Tanh,
        Op::Sigmoid,
        Op::GeluTanh,
        Op::GeluErf,
        Op::Square,
        Op::Scale { c: -1.5 },
        Op::AddScalar { c: 0.25 },
    ] {
        check_grad(op.name(), &[(s, false)], un(op.clone()));
    }
    for op in [Op::Ln, Op::Sqrt, Op::Rsqrt, Op::Relu] {
        // Positive inputs (away from the kink of relu and the poles).
        check_grad(op.name(), &[(s, true)], un(op.clone()));
    }
}

#[test]
fn gradients_of_shape_ops() {
    check_grad(
        "reshape",
        &[(&[2, 3], false)],
        un(Op::Reshape { shape: vec![3, 2] }),
    );
    check_grad(
        "permute",
        &[(&[2, 3, 2], false)],
        un(Op::Permute {
            perm: vec![2, 0, 1],
        }),
    );
    check_grad(
        "transpose",
        &[(&[2, 3], false)],
        un(Op::Transpose { a: 0, b: 1 }),
    );
    check_grad(
        "slice",
        &[(&[2, 5], false)],
        un(Op::Slice {
            axis: 1,
            start: 1,
            end: 4,
        }),
    );
    check_grad(
        "concat",
        &[(&[2, 3], false), (&[2, 2], false)],
        bin(Op::Concat { axis: 1 }),
    );
    check_grad("split", &[(&[4, 3], false)], |b, x| {
        let parts = b
            .node(
                Op::Split {
                    axis: 0,
                    sizes: vec![1, 3],
                },
                &[x[0]],
            )
            .unwrap();
        // Only the second piece is used: the first gets a zero gradient.
        b.op(Op::Exp, &[parts[1]]).unwrap()
    });
    check_grad("gather", &[(&[4, 3], false)], |b, x| {
        let ids = b.constant(Value::U32(
            Ids::new(&[2, 3], vec![0, 2, 2, 3, 0, 0]).unwrap(),
        ));
        b.op(Op::Gather, &[x[0], ids]).unwrap()
    });
}

#[test]
fn gradients_of_reductions() {
    for over in [Over::Axis(0), Over::Axis(1), Over::All] {
        check_grad("sum", &[(&[3, 4], false)], un(Op::Sum { over }));
        check_grad("mean", &[(&[3, 4], false)], un(Op::Mean { over }));
        check_grad(
            "sum_squares",
            &[(&[3, 4], false)],
            un(Op::SumSquares { over }),
        );
        check_grad("max", &[(&[3, 4], false)], un(Op::Max { over }));
    }
}

#[test]
fn gradients_of_nn_ops() {
    check_grad("softmax", &[(&[2, 4], false)], un(Op::Softmax));
    check_grad("log_softmax", &[(&[2, 4], false)], un(Op::LogSoftmax));
    check_grad(
        "layer_norm",
        &[(&[3, 4], false), (&[4], false), (&[4], false)],
        |b, x| b.layer_norm(x[0], x[1], x[2], 1e-5).unwrap(),
    );
    check_grad("cross_entropy", &[(&[3, 4], false)], |b, x| {
        let t = b.constant(Value::U32(Ids::new(&[3], vec![1, 0, 3]).unwrap()));
        b.op(Op::CrossEntropy, &[x[0], t]).unwrap()
    });
    // A value with several consumers: x feeds three nodes.
    check_grad("fan_out", &[(&[2, 3], false)], |b, x| {
        let e = b.op(Op::Tanh, &[x[0]]).unwrap();
        let m = b.op(Op::Mul, &[e, x[0]]).unwrap();
        b.add(m, x[0]).unwrap()
    });
}

#[test]
fn accumulation_order_is_ascending_consumers() {
    // x feeds nodes 0, 1 and 2; its gradient is ((g0 + g1) + g2) with gi from consumer i.
    let mut b = Builder::new();
    let x = b
        .input("x", InputKind::Param, ValueType::f32(&[3]))
        .unwrap();
    let a = b.op(Op::Scale { c: 2.0 }, &[x]).unwrap();
    let c = b.op(Op::Scale { c: 3.0 }, &[x]).unwrap();
    let d = b.op(Op::Exp, &[x]).unwrap();
    let s = b.add(a, c).unwrap();
    let s = b.add(s, d).unwrap();
    let l = b.sum(s, Over::All).unwrap();
    let g = append_backward(&mut b, l, &[x]).unwrap()[0];
    let graph = b.graph();
    let ValueRef::Node { node, .. } = g else {
        panic!("gradient should be a node")
    };
    // g = Add(Add(from node 0, from node 1), from node 2)
    let outer = &graph.nodes[node];
    assert_eq!(outer.op, Op::Add);
    let ValueRef::Node { node: inner, .. } = outer.inputs[0] else {
        panic!()
    };
    assert_eq!(graph.nodes[inner].op, Op::Add);
    let producer = |r: ValueRef| match r {
        ValueRef::Node { node, .. } => graph.nodes[node].op.clone(),
        _ => panic!(),
    };
    assert_eq!(producer(graph.nodes[inner].inputs[0]), Op::Scale { c: 2.0 });
    assert_eq!(producer(graph.nodes[inner].inputs[1]), Op::Scale { c: 3.0 });
    assert_eq!(producer(outer.inputs[1]), Op::ExpBackward);
}

/// The pool's executor hashes on other workers, lets a reshape take over the buffer of the
/// node just before it, and computes independent consecutive products side by side. Every
/// such case — a chain of reshapes, a reshape of one output of a two-output node, a reshape
/// of a value read again later, products that do and do not read each other — gives the
/// hashes and outputs of the serial run, at every thread count.
#[test]
fn pool_executor_cases_match_the_serial_run() {
    let mut b = Builder::new();
    let x = b
        .input("x", InputKind::Batch, ValueType::f32(&[4, 6]))
        .unwrap();
    let w = b
        .input("w", InputKind::Param, ValueType::f32(&[6, 6]))
        .unwrap();
    let e = b.op(Op::Exp, &[x]).unwrap();
    let r1 = b.op(Op::Reshape { shape: vec![6, 4] }, &[e]).unwrap(); // takes e
    let r2 = b.op(Op::Reshape { shape: vec![24] }, &[r1]).unwrap(); // chain
    let r3 = b.op(Op::Reshape { shape: vec![4, 6] }, &[r2]).unwrap();
    let m1 = b.matmul(r3, w).unwrap(); // product
    let m2 = b.op(Op::MatMulNT, &[x, w]).unwrap(); // independent product: paired
    let m3 = b.op(Op::MatMulTN, &[m1, m2]).unwrap(); // reads both: not paired
    let two = b.node(Op::MulBackward, &[m1, m2, m1]).unwrap(); // two outputs
    let r4 = b.op(Op::Reshape { shape: vec![24] }, &[two[1]]).unwrap(); // copies
    let t = b.op(Op::Tanh, &[m3]).unwrap();
    let r5 = b.op(Op::Reshape { shape: vec![36] }, &[t]).unwrap(); // t read again below
    let s = b.op(Op::Scale { c: 0.5 }, &[t]).unwrap();
    b.output("r4", r4);
    b.output("r5", r5);
    b.output("s", s);
    b.output("two0", two[0]);
    let graph = b.finish();
    let rng = Philox::from_seed(11);
    let vals = vec![
        Value::F32(rng.normal_tensor(0, &[4, 6], 0.0, 0.5)),
        Value::F32(rng.normal_tensor(1, &[6, 6], 0.0, 0.5)),
    ];
    let serial = run(&Cpu::single(), &graph, &vals, &Mode::Normal).unwrap();
    let observed = run_observed(&Cpu::single(), &graph, &vals, &Mode::Normal, &mut |_| {}).unwrap();
    assert_eq!(serial, observed);
    for threads in [2, 3, 4] {
        for simd in [SimdPolicy::Auto, SimdPolicy::Scalar] {
            let cx = Cpu::new(threads, simd).unwrap();
            for _ in 0..20 {
                let got = run(&cx, &graph, &vals, &Mode::Normal).unwrap();
                assert_eq!(got, serial, "{threads} threads, {simd:?}");
                // The same loop without hash tasks: the same outputs, no hashes.
                let got = run(&cx, &graph, &vals, &Mode::Unhashed).unwrap();
                assert_eq!(got.outputs, serial.outputs, "{threads} threads, {simd:?}");
                assert!(got.node_hashes.is_empty() && got.traces.is_empty());
            }
        }
    }
}

/// [`Mode::Unhashed`] runs the same kernels: the outputs of [`Mode::Normal`] bit for bit, on
/// one thread, on pools and observed (every phase still reported), with no node hash and no
/// trace; a kernel error is the same error.
#[test]
fn unhashed_mode_gives_the_same_outputs_and_no_hashes() {
    assert!(Mode::Normal.hashes_nodes() && Mode::Trace(BTreeSet::new()).hashes_nodes());
    assert!(!Mode::Unhashed.hashes_nodes());
    for seed in 0..6 {
        let (graph, vals) = random_graph(seed);
        let want = run(&Cpu::scalar(), &graph, &vals, &Mode::Normal).unwrap();
        let mut cxs = modes();
        cxs.push(Cpu::new(3, SimdPolicy::Scalar).unwrap());
        for cx in &cxs {
            let got = run(cx, &graph, &vals, &Mode::Unhashed).unwrap();
            assert_eq!(got.outputs, want.outputs, "seed {seed}");
            assert!(got.node_hashes.is_empty() && got.traces.is_empty());
            let mut done = 0;
            let observed = run_observed(cx, &graph, &vals, &Mode::Unhashed, &mut |e| {
                done += usize::from(e.phase == NodePhase::Done);
            })
            .unwrap();
            assert_eq!(observed, got);
            assert_eq!(done, graph.nodes.len());
        }
    }
}

/// A kernel that fails at run time (a class id out of range) on a pool gives the serial
/// run's error, after the hash tasks already spawned have finished and the spinning workers
/// have stopped (no hang, no panic), every time.
#[test]
fn pool_executor_reports_a_failing_kernel_like_the_serial_run() {
    let mut b = Builder::new();
    let x = b
        .input("x", InputKind::Batch, ValueType::f32(&[3, 4]))
        .unwrap();
    let y = b
        .input("y", InputKind::Batch, ValueType::u32(&[3]))
        .unwrap();
    let w = b
        .input("w", InputKind::Param, ValueType::f32(&[4, 5]))
        .unwrap();
    let z = b.matmul(x, w).unwrap();
    let z2 = b.op(Op::MatMulNT, &[x, x]).unwrap();
    let loss = b.op(Op::CrossEntropy, &[z, y]).unwrap();
    b.output("loss", loss);
    b.output("z2", z2);
    let graph = b.finish();
    let rng = Philox::from_seed(3);
    let vals = vec![
        Value::F32(rng.normal_tensor(0, &[3, 4], 0.0, 1.0)),
        Value::U32(Ids::new(&[3], vec![0, 7, 1]).unwrap()),
        Value::F32(rng.normal_tensor(1, &[4, 5], 0.0, 1.0)),
    ];
    let want = run(&Cpu::single(), &graph, &vals, &Mode::Normal).unwrap_err();
    for threads in [2, 3, 4] {
        let cx = Cpu::new(threads, SimdPolicy::Auto).unwrap();
        for _ in 0..20 {
            for mode in [Mode::Normal, Mode::Unhashed] {
                let got = run(&cx, &graph, &vals, &mode).unwrap_err();
                assert_eq!(got.to_string(), want.to_string());
            }
        }
    }
}

/// Two runs on one shared pool at the same time (clones of one `Cpu`, as two node tasks could
/// hold) both finish with the serial results: the spinning workers of one run never sit on top
/// of the other run's main loop waiting for each other. A watchdog turns a hang into a failure.
#[test]
fn concurrent_runs_on_one_pool_finish() {
    let mut b = Builder::new();
    let x = b
        .input("x", InputKind::Batch, ValueType::f32(&[256, 256]))
        .unwrap();
    let w = b
        .input("w", InputKind::Param, ValueType::f32(&[256, 256]))
        .unwrap();
    let mut h = x;
    for _ in 0..4 {
        let m = b.matmul(h, w).unwrap(); // parallel rows
        let m2 = b.op(Op::MatMulNT, &[h, w]).unwrap(); // paired with the product above
        let s = b.op(Op::Add, &[m, m2]).unwrap(); // parallel chunks
        h = b.op(Op::Tanh, &[s]).unwrap();
    }
    b.output("h", h);
    let graph = b.finish();
    let rng = Philox::from_seed(21);
    let vals = vec![
        Value::F32(rng.normal_tensor(0, &[256, 256], 0.0, 0.05)),
        Value::F32(rng.normal_tensor(1, &[256, 256], 0.0, 0.05)),
    ];
    let want = run(&Cpu::single(), &graph, &vals, &Mode::Normal).unwrap();
    for threads in [2, 3] {
        let cx = Cpu::new(threads, SimdPolicy::Auto).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        for t in 0..3 {
            let (cx, graph, vals, tx) = (cx.clone(), graph.clone(), vals.clone(), tx.clone());
            std::thread::spawn(move || {
                for i in 0..30 {
                    let mode = if (i + t) % 2 == 0 {
                        Mode::Normal
                    } else {
                        Mode::Unhashed
                    };
                    let got = run(&cx, &graph, &vals, &mode).map(|o| o.outputs);
                    let _ = tx.send(got);
                }
            });
        }
        for _ in 0..90 {
            let got = rx
                .recv_timeout(std::time::Duration::from_secs(60))
                .expect("concurrent runs on one pool finish (no deadlock)");
            assert_eq!(got.unwrap(), want.outputs, "{threads} threads");
        }
    }
}
