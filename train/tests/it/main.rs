//! Integration tests of pinpoint-train: run directories end to end, resume, and the golden
//! first-step hashes of the examples.
// Dev-dependencies are shared by every test, bench and example target; each uses some.
#![allow(unused_crate_dependencies)]
#![allow(clippy::unwrap_used, clippy::expect_used)]
mod train;
