//! Token conservation on `Embedded` over thousands of random operation sequences, each run on
//! a snapshot of one funded deployment: after every operation, supply − burned = Σ balances
//! (accounts, treasury, escrow held by the market, stakes held by staking).

use std::sync::OnceLock;

use alloy::primitives::Address;
use pinpoint_chain::{Embedded, Settlement, deploy::DEFAULT_DEPLOYER};
use proptest::prelude::*;

use crate::{common::*, ops::OpGen};

fn actors() -> Vec<Address> {
    (1..=6u8).map(|i| Address::repeat_byte(0x10 + i)).collect()
}

/// The funded base state (setup and the scripted dispute already applied) and the generator
/// state after it.
fn base() -> &'static (Embedded, u64) {
    static BASE: OnceLock<(Embedded, u64)> = OnceLock::new();
    BASE.get_or_init(|| {
        let mut chain = embedded().expect("embedded chain");
        let g = OpGen::new(0, actors(), chain.time());
        let mut script: Vec<_> = g
            .setup(DEFAULT_DEPLOYER)
            .into_iter()
            .map(|(f, c)| (1, f, c))
            .collect();
        script.extend(g.scripted_dispute());
        let mut t = chain.time();
        for (dt, from, call) in script {
            t += dt;
            chain.set_time(t).expect("time moves forward");
            chain.send_sync(from, &call).expect("setup op succeeds");
        }
        (chain, t)
    })
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2_000, failure_persistence: None, ..ProptestConfig::default() })]
    #[test]
    fn supply_minus_burned_equals_all_holdings(seed in any::<u64>(), len in 1usize..25) {
        let (base, t0) = base();
        let mut chain = base.snapshot();
        let mut g = OpGen::new(seed, actors(), *t0);
        g.jobs = 1;
        g.disputes = 1;
        let mut holders = actors();
        holders.push(DEFAULT_DEPLOYER);
        for _ in 0..len {
            let (_, from, call) = g.next();
            chain.set_time(g.now).expect("forward");
            let out = chain.send_sync(from, &call);
            g.observe(&out);
            runtime().block_on(check_conservation(&chain, &holders)).map_err(|e| TestCaseError::fail(format!("{e:#} after {call:?}")))?;
        }
        let totals = runtime().block_on(chain.totals()).expect("totals");
        prop_assert!(totals.escrow <= totals.initial_supply);
    }
}
