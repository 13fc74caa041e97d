//! Integration tests of pinpoint-kernels: the golden suite in every execution mode, and bad
//! input through the public API.
// Dev-dependencies are shared by every test, bench and example target; each uses some.
#![allow(unused_crate_dependencies)]
#![allow(clippy::unwrap_used, clippy::expect_used)]
mod errors;
mod golden;
