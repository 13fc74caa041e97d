//! Integration tests of the simulator: shipped scenarios, determinism, replay, checkers.
// Dev-dependencies are shared by every test, bench and example target; each uses some.
#![allow(unused_crate_dependencies)]

mod checkers;
mod determinism;
mod onchain;
mod scenarios;

use std::path::PathBuf;

use pinpoint_sim::Scenario;

/// A shipped scenario by file stem.
pub fn shipped(name: &str) -> Scenario {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(format!("{name}.toml"));
    Scenario::load(&p).unwrap_or_else(|e| panic!("{e}"))
}
