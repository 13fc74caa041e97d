//! Integration tests of pinpoint-chain: the contracts on a real anvil (started per test on an
//! OS-assigned port) and on the embedded revm.
#![allow(clippy::unwrap_used, missing_docs)]
// Dev-dependencies are shared by every test, bench and example target; each uses some.
#![allow(unused_crate_dependencies)]

mod arbiter_pay;
mod bounds;
mod committee;
mod common;
mod deadline;
mod differential;
mod durable;
mod errors;
mod fees;
mod harness;
mod invariant;
mod lifecycle;
mod ops;
mod pairwise;
mod queue;
mod registry;
mod resubmit;
mod verifier;
