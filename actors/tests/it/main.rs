//! Integration tests of pinpoint-actors: the supervised executor (crash, resume, restart
//! intensity, cancel) through a node assembly.

mod common;
mod executor;
