//! The contracts' payouts equal `pinpoint_protocol::fees::settle` for the same inputs: random
//! payments, bonds, numbers of trainers, with and without a replica dispute and a verifier's
//! challenge, every ruling (both lose included), finalized on `Embedded` with the default
//! arbiter share (`fees::ARBITER_SHARE_BPS`, paid to the one-member committee's arbiter).

use alloy::primitives::{Address, B256, U256};
use pinpoint_chain::{
    Call, DeployConfig, Embedded, Finding, JobParams, PIN, Role, Settlement, Spender,
    deploy::{DEFAULT_DEPLOYER, DEFAULT_TREASURY},
};
use pinpoint_chain::{NodeId, NodeKey, Ruling};
use pinpoint_protocol::fees::{self, Account, StakeFate, StakeOutcome};
use proptest::prelude::*;

use crate::common::*;

fn trainers() -> Vec<Address> {
    (1..=3u8).map(|i| Address::repeat_byte(0x30 + i)).collect()
}
const ARBITER: Address = Address::repeat_byte(0x3f);
const VERIFIER: Address = Address::repeat_byte(0x3e);

fn base() -> &'static Embedded {
    static BASE: std::sync::OnceLock<Embedded> = std::sync::OnceLock::new();
    BASE.get_or_init(|| {
        let config = DeployConfig {
            arbiter_share_bps: DeployConfig::default().arbiter_share_bps,
            ..test_config()
        };
        let mut c = Embedded::in_memory(&config).expect("embedded");
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
            Call::Transfer {
                to: VERIFIER,
                amount: pin(5_000),
            },
        );
        run(
            VERIFIER,
            Call::Approve {
                spender: Spender::Staking,
                amount: U256::MAX,
            },
        );
        run(
            VERIFIER,
            Call::Stake {
                role: Role::Verifier,
                amount: pin(5_000),
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

/// Maps the test's addresses onto `NodeId`s in the same order, so that the protocol's
/// "first `NodeId`" is the contract's lowest address.
fn node_ids(addrs: &[Address]) -> Vec<(Address, NodeId)> {
    let mut ids: Vec<NodeId> = (0..addrs.len())
        .map(|i| NodeKey::from_seed([i as u8 + 1; 32]).node_id())
        .collect();
    ids.sort();
    let mut sorted = addrs.to_vec();
    sorted.sort();
    sorted.into_iter().zip(ids).collect()
}

/// What `ruling` does to the parties `(challenger, defendant)`: each loser with its winner.
fn losers(ruling: Ruling, c: Address, d: Address) -> Vec<(Address, Option<Address>)> {
    match ruling {
        Ruling::ChallengerWins => vec![(d, Some(c))],
        Ruling::DefendantWins => vec![(c, Some(d))],
        Ruling::BothLose => vec![(c, None), (d, None)],
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, failure_persistence: None, ..ProptestConfig::default() })]
    /// Every settlement the contracts can reach (a replica dispute with any ruling, then a
    /// verifier's challenge with any ruling) moves exactly the tokens `fees::settle` moves.
    #[test]
    fn payouts_equal_protocol_fees(
        payment in prop_oneof![1u128..100_000, 1u128..=10u128.pow(27)],
        bond in prop_oneof![1u128..1_000, 1u128..=2_000 * PIN],
        extra in 0u128..=1_000 * PIN,
        k in 1usize..=3,
        dispute in any::<bool>(),
        replica_ruling in 0u8..3,
        challenge in any::<bool>(),
        verifier_ruling in 0u8..3,
    ) {
        let mut c = base().snapshot();
        let rt = tokio::runtime::Builder::new_current_thread().build().expect("rt");
        let t: Vec<Address> = trainers().into_iter().take(k).collect();
        let now = c.time();
        let r = c.send_sync(DEFAULT_DEPLOYER, &Call::PostJob(JobParams {
            spec_hash: B256::ZERO, payment: u(payment), replicas: k as u8, bond: u(bond),
            accept_deadline: now + 10, commit_deadline: now + 20, challenge_window: 30,
        })).expect("post");
        let job = r.posted_job().expect("job id");
        for tr in &t {
            c.send_sync(*tr, &Call::Accept { job }).expect("accept");
        }
        // Roots differ only where a dispute will settle them (else finalize would refuse the
        // disagreement): t[1] against t[0], and t[2] with the replica dispute's winner.
        let replica = dispute && k >= 2;
        let root = |i: usize| -> u8 {
            match (replica, i) {
                (true, 1) => 2,
                (true, 2) if replica_ruling == 0 => 2,
                _ => 1,
            }
        };
        for (i, tr) in t.iter().enumerate() {
            c.send_sync(*tr, &Call::Commit { job, root: B256::repeat_byte(root(i)) }).expect("commit");
        }
        let finding = Finding { step: 1, node: 2, challengerHash: B256::ZERO, defendantHash: B256::ZERO, refereeHash: B256::ZERO };
        // Loser → winner of the dispute it lost.
        let mut lost: Vec<(Address, Option<Address>)> = Vec::new();
        let rule = |c: &mut Embedded, id: u64, ruling: Ruling| {
            c.send_sync(ARBITER, &Call::Rule { dispute: id, ruling, finding: finding.clone() }).expect("vote");
        };
        if replica {
            let ruling = Ruling::from_u8(replica_ruling).expect("ruling");
            let r = c.send_sync(t[0], &Call::OpenDispute { job, defendant: t[1] }).expect("dispute");
            rule(&mut c, r.opened_dispute().expect("id"), ruling);
            lost.extend(losers(ruling, t[0], t[1]));
        }
        let vbond = bond + extra;
        let live: Vec<Address> = t.iter().copied().filter(|a| !lost.iter().any(|(l, _)| l == a)).collect();
        let challenged = challenge && !live.is_empty();
        if challenged {
            let ruling = Ruling::from_u8(verifier_ruling).expect("ruling");
            let r = c.send_sync(VERIFIER, &Call::Challenge { job, trainer: live[0], bond: u(vbond) }).expect("challenge");
            rule(&mut c, r.opened_dispute().expect("id"), ruling);
            lost.extend(losers(ruling, VERIFIER, live[0]));
        }
        let mut parties = t.clone();
        parties.push(VERIFIER);
        parties.push(ARBITER);
        let wealth = |c: &Embedded, a: Address| -> U256 {
            let mut w = rt.block_on(c.balance_of(a)).expect("balance");
            for role in Role::ALL {
                let p = rt.block_on(c.position(a, role)).expect("position");
                w += p.active + p.unbonding;
            }
            w
        };
        let before: Vec<U256> = parties.iter().map(|a| wealth(&c, *a)).collect();
        let (tr0, burned0) = (rt.block_on(c.balance_of(DEFAULT_TREASURY)).expect("treasury"), rt.block_on(c.totals()).expect("totals").burned);
        let sub0 = rt.block_on(c.balance_of(DEFAULT_DEPLOYER)).expect("submitter");
        c.set_time(now + 1_000).expect("time");
        c.send_sync(ARBITER, &Call::Finalize { job }).expect("finalize");

        // Expected, from the protocol crate.
        let ids = node_ids(&parties);
        let id_of = |a: Address| ids.iter().find(|(x, _)| *x == a).expect("party").1;
        let honest: Vec<NodeId> = t.iter().filter(|a| !lost.iter().any(|(l, _)| l == *a)).map(|a| id_of(*a)).collect();
        let fate = |a: Address| match lost.iter().find(|(l, _)| *l == a) {
            // Every loser here lost a dispute: the committee's one member decided it.
            Some((_, w)) => StakeFate::Slashed { winner: w.map(id_of), arbiters: vec![id_of(ARBITER)] },
            None => StakeFate::Returned,
        };
        let mut stakes: Vec<StakeOutcome> = t.iter().map(|a| StakeOutcome { node: id_of(*a), amount: bond, fate: fate(*a) }).collect();
        if challenged {
            stakes.push(StakeOutcome { node: id_of(VERIFIER), amount: vbond, fate: fate(VERIFIER) });
        }
        let s = fees::settle(payment, &honest, &stakes).expect("settle");
        for (i, a) in parties.iter().enumerate() {
            let n = id_of(*a);
            let want = i128::try_from(s.total_to(Account::Node(n))).unwrap()
                - i128::try_from(s.total_from(Account::Stake(n))).unwrap();
            let got = i128::try_from(wealth(&c, *a)).unwrap() - i128::try_from(before[i]).unwrap();
            prop_assert_eq!(got, want, "party {}", i);
        }
        prop_assert_eq!(rt.block_on(c.balance_of(DEFAULT_TREASURY)).expect("treasury") - tr0, u(s.total_to(Account::Treasury)));
        prop_assert_eq!(rt.block_on(c.totals()).expect("totals").burned - burned0, u(s.burned()));
        prop_assert_eq!(rt.block_on(c.balance_of(DEFAULT_DEPLOYER)).expect("submitter") - sub0, u(s.total_to(Account::Submitter)));
    }
}
