//! # pinpoint-kernels: RepOps, reproducible operators
//!
//! Every function in this crate returns the same bits for the same inputs on every machine,
//! whatever the thread count or instruction set. That property is what lets a pinpoint referee
//! settle a dispute by re-running a single operator. The exact evaluation order of every op
//! is written down in `docs/numerics.md`; the golden suite ([`golden`]) pins it by hash.
//!
//! Main types and modules:
//! - [`Tensor`]: f32, row-major, shaped; [`Tensor::hash`] is the canonical blake3 hash.
//! - [`Cpu`]: the execution context (thread count, SIMD policy). Pass it to ops that compute.
//! - [`math`]: exp, ln, tanh, sigmoid, erf, gelu, sin, cos, sqrt, rsqrt from `+ - * /`,
//!   `sqrt` and `fma` only; no platform libm.
//! - [`reduce`]: canonical blocked reductions ([`reduce::REDUCE_BLOCK`]).
//! - [`gemm`]: matrix products in the canonical blocked-fma order, AVX2+FMA or portable.
//! - [`ops`]: elementwise with broadcasting, shape ops, gather, softmax, layer norm,
//!   cross-entropy — each with its backward.
//! - [`rng`]: Philox4x32-10 and the uniform/normal samplers defined from it.
//! - [`graph`]: the graph IR of a training step — nodes in canonical order, execution with
//!   per-node output hashes, single-node re-execution, reverse-mode autodiff.
//! - [`optim`]: SGD with momentum and AdamW as graph nodes.
//! - [`models`]: an MLP classifier and a decoder-only transformer built from the IR, and the
//!   [`models::TrainStep`] / [`models::Inference`] programs.
//! - [`alloc`]: [`alloc::CacheAligned`], the global allocator of the `pinpoint` binary and
//!   the benches: large allocations start on a cache line, as libtorch's do.
//! - [`golden`]: the fixed list of op invocations whose output hashes are committed.
//!
//! Bad input (mismatched shapes, empty tensors, out-of-range indices) is a [`KernelError`],
//! never a panic. The crate has no clock, no OS randomness and no I/O; the training programs
//! built on it (datasets, specs, checkpoints, run directories) live in `pinpoint-train`.
// The unit-test build sees the dev-dependencies too; the plain build is checked strictly.
#![cfg_attr(test, allow(unused_crate_dependencies))]

pub mod alloc;
mod buffers;
pub mod cpu;
pub mod error;
pub mod gemm;
pub mod golden;
pub mod graph;
pub mod math;
pub mod models;
pub mod ops;
pub mod optim;
pub mod reduce;
pub mod rng;
pub mod tensor;

pub use cpu::{Cpu, SimdLevel, SimdPolicy};
pub use error::{KernelError, Result};
pub use tensor::{Tensor, TensorHash};
