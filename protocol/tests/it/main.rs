//! Integration tests of pinpoint-protocol.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod dispute;
mod wire;
