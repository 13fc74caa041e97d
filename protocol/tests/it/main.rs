//! Integration tests of pinpoint-protocol.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// Dev-dependencies are shared by every test, bench and example target; each uses some.
#![allow(unused_crate_dependencies)]

pub(crate) mod dispute;
mod role;
mod wire;
