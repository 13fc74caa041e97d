//! Integration tests of pinpoint-net: real QUIC on loopback (OS-assigned ports) and the
//! in-memory transport.
// Dev-dependencies are shared by every test, bench and example target; each uses some.
#![allow(unused_crate_dependencies)]

mod common;
mod mem;
mod quic_blob;
mod quic_limits;
mod quic_messaging;
mod quic_socket;
mod quic_tls;
