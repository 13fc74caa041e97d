//! # pinpoint-chain: settlement on an EVM
//!
//! (Being built: issue "chain". Solidity contracts, artifacts, an embedded revm default and an
//! alloy JSON-RPC client behind one `Settlement` trait.)
