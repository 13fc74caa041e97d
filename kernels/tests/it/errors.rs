//! Bad input through the public API is a typed error, never a panic.

use pinpoint_kernels::ops::{binary, gather, loss, norm, reduce_ops, shape, softmax, unary};
use pinpoint_kernels::{Cpu, KernelError, SimdPolicy, Tensor, gemm};

fn t(shape: &[usize]) -> Tensor {
    Tensor::full(shape, 0.5)
}

fn empty() -> Tensor {
    Tensor::new(&[0, 3], vec![]).unwrap()
}

fn is_shape(e: KernelError) -> bool {
    matches!(e, KernelError::ShapeMismatch { .. })
}

fn is_empty(e: KernelError) -> bool {
    matches!(e, KernelError::Empty { .. })
}

fn is_index(e: KernelError) -> bool {
    matches!(e, KernelError::IndexOutOfRange { .. })
}

#[test]
fn shape_mismatches() {
    let cx = Cpu::single();
    assert!(is_shape(
        gemm::matmul(&cx, &t(&[2, 3]), &t(&[4, 5])).unwrap_err()
    ));
    assert!(is_shape(
        gemm::matmul_tn(&cx, &t(&[2, 3]), &t(&[4, 5])).unwrap_err()
    ));
    assert!(is_shape(
        gemm::matmul_nt(&cx, &t(&[2, 3]), &t(&[4, 5])).unwrap_err()
    ));
    assert!(is_shape(
        gemm::bmm(&cx, &t(&[2, 2, 3]), &t(&[3, 3, 5])).unwrap_err()
    ));
    assert!(is_shape(
        binary::add(&cx, &t(&[2, 3]), &t(&[4])).unwrap_err()
    ));
    assert!(is_shape(
        softmax::softmax_backward(&cx, &t(&[2, 3]), &t(&[3, 2])).unwrap_err()
    ));
    assert!(is_shape(
        norm::layer_norm(&cx, &t(&[2, 3]), &t(&[4]), &t(&[3]), 1e-5).unwrap_err()
    ));
    assert!(is_shape(
        shape::concat(&cx, &[&t(&[2, 3]), &t(&[2, 4])], 0).unwrap_err()
    ));
    assert!(is_shape(t(&[2, 3]).reshape(&[7]).unwrap_err()));
    assert!(matches!(
        Tensor::new(&[2, 2], vec![1.0; 3]),
        Err(KernelError::DataLength { .. })
    ));
}

#[test]
fn empty_tensors() {
    let cx = Cpu::new(2, SimdPolicy::Auto).unwrap();
    let e = empty();
    assert!(is_empty(gemm::matmul(&cx, &e, &t(&[3, 2])).unwrap_err()));
    assert!(is_empty(unary::exp(&cx, &e).unwrap_err()));
    assert!(is_empty(softmax::softmax(&cx, &e).unwrap_err()));
    assert!(is_empty(
        reduce_ops::sum(&cx, &e, reduce_ops::Over::All).unwrap_err()
    ));
    assert!(is_empty(loss::cross_entropy(&cx, &e, &[]).unwrap_err()));
}

#[test]
fn out_of_range_indices_and_axes() {
    let cx = Cpu::single();
    let table = t(&[4, 3]);
    assert!(is_index(
        gather::gather_rows(&cx, &table, &[0, 4], &[2]).unwrap_err()
    ));
    assert!(is_index(
        loss::cross_entropy(&cx, &t(&[2, 5]), &[1, 5]).unwrap_err()
    ));
    assert!(is_index(
        shape::slice(&cx, &t(&[4, 3]), 0, 1, 9).unwrap_err()
    ));
    assert!(matches!(
        reduce_ops::sum(&cx, &t(&[4, 3]), reduce_ops::Over::Axis(2)).unwrap_err(),
        KernelError::BadAxis { .. }
    ));
    assert!(shape::permute(&cx, &t(&[4, 3]), &[0, 0]).is_err());
    assert!(matches!(
        loss::cross_entropy(&cx, &t(&[2, 5]), &[1]).unwrap_err(),
        KernelError::ShapeMismatch { .. } | KernelError::InvalidArgument { .. }
    ));
}

#[test]
fn errors_explain_themselves() {
    let cx = Cpu::single();
    let msg = gemm::matmul(&cx, &t(&[2, 3]), &t(&[4, 5]))
        .unwrap_err()
        .to_string();
    assert!(msg.contains("matmul"), "{msg}");
    let msg = gather::gather_rows(&cx, &t(&[4, 3]), &[7], &[1])
        .unwrap_err()
        .to_string();
    assert!(msg.contains('7') && msg.contains('4'), "{msg}");
}
