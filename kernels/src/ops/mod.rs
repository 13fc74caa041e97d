//! Tensor operators with their backward functions.
//!
//! Each forward function checks its input and returns a typed error for bad shapes, empty
//! tensors and out-of-range indices. Each `*_backward` takes what the forward saw (inputs
//! and/or output) and the gradient of the output, and returns the gradients of the inputs.
//! Evaluation orders are specified in docs/numerics.md.

pub mod binary;
pub mod broadcast;
pub mod elementwise;
pub mod gather;
pub mod loss;
pub mod norm;
pub mod reduce_ops;
pub mod shape;
pub mod softmax;
pub mod unary;
