//! Integration tests of pinpoint-train: run directories end to end, resume, and the golden
//! first-step hashes of the examples.

#![allow(clippy::unwrap_used, clippy::expect_used)]
mod train;
