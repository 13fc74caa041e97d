//! Integration tests of pinpoint-actors: the supervised executor (crash, resume, restart
//! intensity, cancel) through a node assembly; the restart policy with a panicking actor; the
//! settlement actor (receipts, events, restarts without lost or repeated transactions).
// Dev-dependencies are shared by every test, bench and example target; each uses some.
#![allow(unused_crate_dependencies)]

mod api;
mod common;
mod executor;
mod network;
mod network_job;
mod settlement;
mod supervisor;
