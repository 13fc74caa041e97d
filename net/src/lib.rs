//! # pinpoint-net: the QUIC transport of a pinpoint node
//!
//! (Being built: issue "net". QUIC endpoint with identity-bound mutual TLS, framing, limits,
//! blobs, peer book, gossip and the `Transport` trait.)
