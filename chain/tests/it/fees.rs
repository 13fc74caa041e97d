//! The contracts' payouts equal `pinpoint_protocol::fees` for the same inputs: random
//! payments, bonds, numbers of trainers, with and without a dispute, finalized on `Embedded`.

use alloy::primitives::{Address, B256, U256};
use pinpoint_chain::{
    Call, Embedded, Finding, JobParams, PIN, Role, Settlement, Spender,
    deploy::{DEFAULT_DEPLOYER, DEFAULT_TREASURY},
};
use pinpoint_protocol::fees;
use proptest::prelude::*;

use crate::common::*;

fn trainers() -> Vec<Address> {
    (1..=3u8).map(|i| Address::repeat_byte(0x30 + i)).collect()
}
const ARBITER: Address = Address::repeat_byte(0x3f);

fn base() -> &'static Embedded {
    static BASE: std::sync::OnceLock<Embedded> = std::sync::OnceLock::new();
    BASE.get_or_init(|| {
        let mut c = embedded().expect("embedded");
        let d = DEFAULT_DEPLOYER;
        let mut run = |from, call| c.send_sync(from, &call).expect("setup");
        for t in trainers() {
            run(
                d,
                Call::Transfer {
                    to: t,
                    amount: pin(10_000),
                },
            );
            run(
                t,
                Call::Approve {
                    spender: Spender::Staking,
                    amount: U256::MAX,
                },
            );
            run(
                t,
                Call::Stake {
                    role: Role::Trainer,
                    amount: pin(5_000),
                },
            );
        }
        run(
            d,
            Call::Transfer {
                to: ARBITER,
                amount: pin(1_000),
            },
        );
        run(
            ARBITER,
            Call::Approve {
                spender: Spender::Staking,
                amount: U256::MAX,
            },
        );
        run(
            ARBITER,
            Call::Stake {
                role: Role::Arbiter,
                amount: pin(1_000),
            },
        );
        run(
            d,
            Call::Approve {
                spender: Spender::Market,
                amount: U256::MAX,
            },
        );
        c
    })
}

fn u(x: u128) -> U256 {
    U256::from(x)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, failure_persistence: None, ..ProptestConfig::default() })]
    #[test]
    fn payouts_equal_protocol_fees(
        payment in prop_oneof![1u128..100_000, 1u128..=10u128.pow(27)],
        bond in prop_oneof![0u128..1_000, 0u128..=5_000 * PIN],
        k in 1usize..=3,
        dispute in any::<bool>(),
        challenger_wins in any::<bool>(),
    ) {
        let mut c = base().snapshot();
        let rt = tokio::runtime::Builder::new_current_thread().build().expect("rt");
        let t = trainers();
        let now = c.time();
        let r = c.send_sync(DEFAULT_DEPLOYER, &Call::PostJob(JobParams {
            spec_hash: B256::ZERO, payment: u(payment), replicas: k as u8, bond: u(bond),
            accept_deadline: now + 10, commit_deadline: now + 20, challenge_window: 30,
        })).expect("post");
        let job = r.posted_job().expect("job id");
        for tr in t.iter().take(k) {
            c.send_sync(*tr, &Call::Accept { job }).expect("accept");
        }
        for (i, tr) in t.iter().take(k).enumerate() {
            c.send_sync(*tr, &Call::Commit { job, root: B256::repeat_byte(i as u8 + 1) }).expect("commit");
        }
        let mut loser = None;
        if dispute && k >= 2 {
            let r = c.send_sync(t[0], &Call::OpenDispute { job, defendant: t[1] }).expect("dispute");
            let id = r.opened_dispute().expect("dispute id");
            let finding = Finding { step: 1, node: 2, challengerHash: B256::ZERO, defendantHash: B256::ZERO, refereeHash: B256::ZERO };
            c.send_sync(ARBITER, &Call::Vote { dispute: id, challenger_wins, finding }).expect("vote");
            loser = Some(if challenger_wins { (t[1], t[0]) } else { (t[0], t[1]) });
        }
        let bal = |c: &Embedded, a: Address| rt.block_on(c.balance_of(a)).expect("balance");
        let before: Vec<U256> = t.iter().map(|a| bal(&c, *a)).collect();
        let (tr0, burned0) = (bal(&c, DEFAULT_TREASURY), rt.block_on(c.totals()).expect("totals").burned);
        c.set_time(now + 100).expect("time");
        c.send_sync(DEFAULT_DEPLOYER, &Call::Finalize { job }).expect("finalize");

        // Expected, from the protocol crate.
        let mut honest: Vec<Address> = t.iter().take(k).copied().filter(|a| Some(*a) != loser.map(|l| l.0)).collect();
        honest.sort();
        let f = fees::fee_split(payment).expect("fee");
        let (share, rem) = fees::equal_shares(f.to_trainers, honest.len()).expect("shares");
        let slash = fees::slash_split(bond, true).expect("slash");
        let mut expect_gain = [0u128; 3];
        for (i, h) in honest.iter().enumerate() {
            let idx = t.iter().position(|x| x == h).expect("trainer");
            expect_gain[idx] += if i == 0 { share + rem } else { share };
        }
        let mut expect_burn = f.burn;
        if let Some((_, winner)) = loser {
            expect_gain[t.iter().position(|x| *x == winner).expect("winner")] += slash.to_winner;
            expect_burn += slash.burn;
        }
        for i in 0..3 {
            prop_assert_eq!(bal(&c, t[i]) - before[i], u(expect_gain[i]), "trainer {}", i);
        }
        prop_assert_eq!(bal(&c, DEFAULT_TREASURY) - tr0, u(f.treasury));
        prop_assert_eq!(rt.block_on(c.totals()).expect("totals").burned - burned0, u(expect_burn));
    }
}
