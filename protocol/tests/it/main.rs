//! Integration tests of pinpoint-protocol.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub(crate) mod dispute;
mod role;
mod wire;
