//! Integration tests of pinpoint-net: real QUIC on loopback (OS-assigned ports) and the
//! in-memory transport.

mod common;
mod mem;
mod quic_blob;
mod quic_limits;
mod quic_messaging;
mod quic_tls;
