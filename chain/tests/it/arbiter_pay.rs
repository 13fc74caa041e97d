//! Arbiter pay (issue 14 item 5) on `Embedded` and anvil, with the default deployment's
//! share (`pinpoint_protocol::fees::ARBITER_SHARE_BPS`, 10%): the arbiters who voted with the
//! majority share that part of the loser's slashed bond (taken from the burned half), as
//! `fees::slash_split` computes it; a minority voter gets nothing (see also `fees.rs`).

use alloy::primitives::U256;
use anyhow::Result;
use pinpoint_chain::{Call, DeployConfig, PIN, Ruling};
use pinpoint_protocol::fees;

use crate::both;
use crate::common::test_config;
use crate::harness::{Harness, TestChain, finding};

fn paying_config() -> DeployConfig {
    DeployConfig {
        committee_size: 3,
        arbiter_share_bps: DeployConfig::default().arbiter_share_bps,
        ..test_config()
    }
}

async fn majority_is_paid<C: TestChain>(mut h: Harness<C>) -> Result<()> {
    let s = h.cast.submitter;
    let (t0, t1) = (h.cast.trainers[0], h.cast.trainers[1]);
    let (payment, bond) = (400 * PIN + 5, 100 * PIN + 7);
    let job = h
        .committed_job(U256::from(payment), U256::from(bond), &[1, 2])
        .await?;
    let id = h
        .ok(s, Call::DisputeNext { job })
        .await?
        .opened_dispute()
        .expect("dispute");
    let m = h.dispute(id).await?.committee;
    let rule = |ruling| Call::Rule {
        dispute: id,
        ruling,
        finding: finding(),
    };
    h.ok(m[0], rule(Ruling::DefendantWins)).await?;
    h.ok(m[1], rule(Ruling::ChallengerWins)).await?;
    h.ok(m[2], rule(Ruling::ChallengerWins)).await?;
    h.fails(m[0], rule(Ruling::ChallengerWins), "DisputeResolved")
        .await?;
    let watched = [t0, t1, m[0], m[1], m[2]];
    let before = h.snapshot(&watched).await?;
    let end = h.window_end(job).await?;
    h.wait_until(end).await?;
    h.ok(s, Call::Finalize { job }).await?;
    let after = h.snapshot(&watched).await?;
    let f = fees::fee_split(payment)?;
    // Two of the three voted the ruling before it was reached: they are the majority paid.
    let sl = fees::slash_split(bond, true, 2)?;
    let each = sl.to_each_arbiter;
    assert_eq!(each, bond * fees::ARBITER_SHARE_BPS / 10_000 / 2);
    assert!(each > 0);
    let d = |i: usize| i128::try_from(after[i]).unwrap() - i128::try_from(before[i]).unwrap();
    assert_eq!(d(0), (f.to_trainers + sl.to_winner) as i128, "winner");
    assert_eq!(d(1), -(bond as i128), "loser");
    assert_eq!(d(2), 0, "minority voter");
    assert_eq!(
        (d(3), d(4)),
        (each as i128, each as i128),
        "majority voters"
    );
    assert_eq!(d(5), f.treasury as i128, "treasury");
    assert_eq!(d(6), (f.burn + sl.burn) as i128, "burned");
    Ok(())
}

both!(
    majority_arbiters_share_the_slash,
    paying_config(),
    super::majority_is_paid
);
