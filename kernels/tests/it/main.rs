//! Integration tests of pinpoint-kernels: the golden suite in every execution mode, and bad
//! input through the public API.

#![allow(clippy::unwrap_used, clippy::expect_used)]
mod errors;
mod golden;
