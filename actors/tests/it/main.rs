//! Integration tests of pinpoint-actors: the supervised executor (crash, resume, restart
//! intensity, cancel) through a node assembly; the restart policy with a panicking actor.

mod common;
mod executor;
mod network;
mod supervisor;
