//! Pairwise disputes among replicas (issue 14 item 3) on `Embedded` and anvil: a "both lose"
//! ruling, and three replicas with two sequential disputes (the second opened after the
//! window: a job whose live roots disagree cannot be finalized).

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

fn deltas(before: &[U256], after: &[U256]) -> Vec<i128> {
    before
        .iter()
        .zip(after)
        .map(|(b, a)| i128::try_from(*a).unwrap() - i128::try_from(*b).unwrap())
        .collect()
}

async fn both_lose<C: TestChain>(mut h: Harness<C>) -> Result<()> {
    let (s, v) = (h.cast.submitter, h.cast.verifier);
    let (t0, t1) = (h.cast.trainers[0], h.cast.trainers[1]);
    let (payment, bond) = (500 * PIN + 1, 150 * PIN + 3);
    let job = h.committed_job(u(payment), u(bond), &[1, 2]).await?;
    h.fails(s, Call::DisputeNext { job: 99 }, "UnknownJob")
        .await?;
    h.fails(
        v,
        Call::OpenDispute { job, defendant: t0 },
        "challenger is not a live",
    )
    .await?;
    let before = h.snapshot(&[s, t0, t1]).await?;
    // Anyone opens the protocol's next pair: the lower address challenges.
    let id = h
        .ok(s, Call::DisputeNext { job })
        .await?
        .opened_dispute()
        .expect("dispute");
    let d = h.dispute(id).await?;
    assert_eq!((d.challenger, d.defendant, d.by_verifier), (t0, t1, false));
    h.fails(s, Call::DisputeNext { job }, "WrongState").await?;
    h.votes(id, 1, Ruling::BothLose).await?;
    assert_eq!(h.dispute(id).await?.ruling, Some(Ruling::BothLose));
    h.fails(s, Call::DisputeNext { job }, "all live roots are equal")
        .await?;
    h.fails(t0, Call::OpenDispute { job, defendant: t1 }, "not a live")
        .await?;
    h.fails(s, Call::Finalize { job }, "WindowOpen").await?;
    let end = h.window_end(job).await?;
    h.wait_until(end).await?;
    h.ok(s, Call::Finalize { job }).await?;
    let after = h.snapshot(&[s, t0, t1]).await?;
    // No honest trainer: refund without fee; both bonds burned (no winner).
    let sl = fees::slash_split(bond, false, 0)?;
    assert_eq!(sl.burn, bond);
    assert_eq!(
        deltas(&before, &after),
        vec![
            payment as i128,
            -(bond as i128),
            -(bond as i128),
            0,
            2 * bond as i128
        ]
    );
    for t in [t0, t1] {
        assert_eq!(h.c.position(t, Role::Trainer).await?.locked, U256::ZERO);
    }
    Ok(())
}

async fn three_replicas<C: TestChain>(mut h: Harness<C>) -> Result<()> {
    let s = h.cast.submitter;
    let t = h.cast.trainers.clone();
    let (payment, bond) = (900 * PIN + 2, 100 * PIN + 1);
    // t[0] is honest, t[1] and t[2] each commit another root.
    let job = h.committed_job(u(payment), u(bond), &[1, 2, 3]).await?;
    let before = h.snapshot(&t).await?;
    let first = h
        .ok(s, Call::DisputeNext { job })
        .await?
        .opened_dispute()
        .expect("dispute");
    let d = h.dispute(first).await?;
    assert_eq!((d.challenger, d.defendant), (t[0], t[1]));
    let w0 = h.window_end(job).await?;
    h.votes(first, 1, Ruling::ChallengerWins).await?;
    assert!(
        h.window_end(job).await? >= w0,
        "a verdict never shortens the window"
    );
    // After the (extended) window, t[0] and t[2] still disagree: no payout.
    let end = h.window_end(job).await?;
    h.wait_until(end).await?;
    h.fails(s, Call::Finalize { job }, "RootsDisagree").await?;
    h.fails(
        t[1],
        Call::OpenDispute {
            job,
            defendant: t[0],
        },
        "challenger is not a live",
    )
    .await?;
    // The second pairwise dispute, opened by t[2] after the window.
    let second = h
        .ok(
            t[2],
            Call::OpenDispute {
                job,
                defendant: t[0],
            },
        )
        .await?
        .opened_dispute()
        .expect("dispute");
    assert_eq!(second, first + 1);
    h.votes(second, 1, Ruling::DefendantWins).await?;
    h.fails(s, Call::DisputeNext { job }, "all live roots are equal")
        .await?;
    let end = h.window_end(job).await?;
    h.wait_until(end).await?;
    h.ok(s, Call::Finalize { job }).await?;
    h.fails(s, Call::Finalize { job }, "WrongState").await?;
    let after = h.snapshot(&t).await?;
    let f = fees::fee_split(payment)?;
    let sl = fees::slash_split(bond, true, 0)?;
    assert_eq!(
        deltas(&before, &after),
        vec![
            (f.to_trainers + 2 * sl.to_winner) as i128,
            -(bond as i128),
            -(bond as i128),
            f.treasury as i128,
            (f.burn + 2 * sl.burn) as i128
        ]
    );
    Ok(())
}

both!(both_lose_burns_both_bonds, test_config(), super::both_lose);
both!(
    three_replicas_two_sequential_disputes,
    test_config(),
    super::three_replicas
);
