//! Queued challenges (issue 14 item 7: the contracts take challenges as
//! `pinpoint_protocol::job` does) on `Embedded` and anvil: a verifier challenges two trainers
//! while a replica dispute is open, after the original window; its bonds lock at once; after
//! the verdict the challenge of the beaten trainer is skipped, `finalize` refuses while the
//! other waits (`ChallengeQueued`), `disputeNext` opens it, and the verifier, beaten there,
//! loses both bonds, as the protocol settles it.

use alloy::primitives::U256;
use anyhow::Result;
use pinpoint_chain::{Call, PIN, Role, Ruling};
use pinpoint_protocol::fees;

use crate::both;
use crate::common::test_config;
use crate::harness::{Harness, TestChain};

fn u(x: u128) -> U256 {
    U256::from(x)
}

async fn queued<C: TestChain>(mut h: Harness<C>) -> Result<()> {
    let (s, v) = (h.cast.submitter, h.cast.verifier);
    let (t0, t1) = (h.cast.trainers[0], h.cast.trainers[1]);
    let (payment, bond) = (700 * PIN + 3, 120 * PIN + 1);
    let vbond = bond + 7;
    // t0 honest, t1 another root.
    let job = h.committed_job(u(payment), u(bond), &[1, 2]).await?;
    let before = h.snapshot(&[s, t0, t1, v]).await?;
    let first = h
        .ok(s, Call::DisputeNext { job })
        .await?
        .opened_dispute()
        .expect("dispute");
    // While a dispute is open the window stays open: challenges queue, even after its end.
    let w0 = h.window_end(job).await?;
    h.wait_until(w0).await?;
    let ch = |trainer| Call::Challenge {
        job,
        trainer,
        bond: u(vbond),
    };
    let r = h.ok(v, ch(t1)).await?;
    assert_eq!(r.opened_dispute(), None, "queued behind the open dispute");
    assert_eq!(h.c.position(v, Role::Verifier).await?.locked, u(vbond));
    h.fails(v, ch(t1), "already challenged").await?;
    // A false challenge of the honest trainer, queued too.
    assert_eq!(h.ok(v, ch(t0)).await?.opened_dispute(), None);
    assert_eq!(h.c.position(v, Role::Verifier).await?.locked, u(2 * vbond));
    h.fails(s, Call::DisputeNext { job }, "WrongState").await?;
    h.fails(s, Call::Finalize { job }, "WrongState").await?;
    h.votes(first, 1, Ruling::ChallengerWins).await?;
    // t1 lost: its queued challenge is void; the one of t0 waits, so no payout yet.
    let end = h.window_end(job).await?;
    h.wait_until(end).await?;
    h.fails(s, Call::Finalize { job }, "ChallengeQueued")
        .await?;
    let second = h
        .ok(s, Call::DisputeNext { job })
        .await?
        .opened_dispute()
        .expect("dispute");
    let d = h.dispute(second).await?;
    assert_eq!((d.challenger, d.defendant, d.by_verifier), (v, t0, true));
    h.votes(second, 1, Ruling::DefendantWins).await?;
    h.fails(s, Call::DisputeNext { job }, "no challenge is queued")
        .await?;
    h.fails(v, ch(t0), "already lost").await?;
    let end = h.window_end(job).await?;
    h.wait_until(end).await?;
    h.ok(s, Call::Finalize { job }).await?;
    let after = h.snapshot(&[s, t0, t1, v]).await?;
    // As `fees::settle`: t0 paid and the winner of both disputes; t1 and the verifier (all
    // of its bonds in the job) slashed.
    let f = fees::fee_split(payment)?;
    let (sl_t, sl_v) = (
        fees::slash_split(bond, true, 0)?,
        fees::slash_split(2 * vbond, true, 0)?,
    );
    let got: Vec<i128> = before
        .iter()
        .zip(&after)
        .map(|(b, a)| i128::try_from(*a).unwrap() - i128::try_from(*b).unwrap())
        .collect();
    assert_eq!(
        got,
        vec![
            0,
            (f.to_trainers + sl_t.to_winner + sl_v.to_winner) as i128,
            -(bond as i128),
            -(2 * vbond as i128),
            f.treasury as i128,
            (f.burn + sl_t.burn + sl_v.burn) as i128,
        ]
    );
    assert_eq!(h.c.position(v, Role::Verifier).await?.locked, U256::ZERO);
    Ok(())
}

both!(
    challenges_queue_behind_an_open_dispute,
    test_config(),
    super::queued
);
