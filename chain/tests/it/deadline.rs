//! Dispute deadlines (issue 14 item 4) on `Embedded` and anvil: a committee without a majority
//! by its deadline is re-drawn by anyone, its silent members lose 10% of their arbiter stake;
//! after the last re-draw the job is cancelled and refunded.

use alloy::primitives::U256;
use anyhow::Result;
use pinpoint_chain::{
    Call, ChainEvent, DeployConfig, PIN, Role, Ruling,
    bindings::JobMarket::JobMarketEvents,
    dispute::{MAX_REDRAWS, MISSED_VOTE_BPS},
};
use pinpoint_protocol::fees;

use crate::both;
use crate::common::test_config;
use crate::harness::{Harness, TestChain, finding};

fn u(x: u128) -> U256 {
    U256::from(x)
}

fn committee_of_three() -> DeployConfig {
    DeployConfig {
        committee_size: 3,
        ..test_config()
    }
}

async fn redraw<C: TestChain>(mut h: Harness<C>) -> Result<()> {
    let s = h.cast.submitter;
    let (t0, t1) = (h.cast.trainers[0], h.cast.trainers[1]);
    let (payment, bond) = (600 * PIN, 120 * PIN);
    let job = h.committed_job(u(payment), u(bond), &[1, 2]).await?;
    let id = h
        .ok(s, Call::DisputeNext { job })
        .await?
        .opened_dispute()
        .expect("dispute");
    let d0 = h.dispute(id).await?;
    assert_eq!((d0.round, d0.committee.len()), (0, 3));
    h.fails(s, Call::Redraw { dispute: 99 }, "UnknownDispute")
        .await?;
    h.fails(s, Call::Redraw { dispute: id }, "DeadlineNotReached")
        .await?;
    h.votes(id, 1, Ruling::ChallengerWins).await?;
    let vote = |ruling| Call::Rule {
        dispute: id,
        ruling,
        finding: finding(),
    };
    h.fails(d0.committee[0], vote(Ruling::DefendantWins), "AlreadyVoted")
        .await?;
    let before = h.snapshot(&d0.committee).await?;
    h.wait_until(d0.deadline).await?;
    let r = h.ok(t1, Call::Redraw { dispute: id }).await?;
    assert!(
        r.events
            .iter()
            .any(|e| matches!(e, ChainEvent::Market(JobMarketEvents::CommitteeRedrawn(_))))
    );
    let d1 = h.dispute(id).await?;
    assert_eq!((d1.round, d1.tally, d1.resolved), (1, [0, 0, 0], false));
    assert!(d1.deadline > d0.deadline);
    let after = h.snapshot(&d0.committee).await?;
    // The voter keeps its stake; each silent member loses 10% of its 2 000 PIN.
    let penalty = u(crate::harness::ARBITER_STAKE * PIN * u128::from(MISSED_VOTE_BPS) / 10_000);
    assert_eq!(after[0], before[0]);
    for i in 1..3 {
        assert_eq!(before[i] - after[i], penalty, "silent member {i}");
    }
    assert_eq!(after[4] - before[4], penalty * u(2), "penalties are burned");
    // Members of the old committee that are not in the new one cannot vote any more.
    for m in &d0.committee {
        if !d1.committee.contains(m) {
            h.fails(*m, vote(Ruling::ChallengerWins), "NotArbiter")
                .await?;
        }
    }
    let payout = h.snapshot(&[t0, t1]).await?;
    h.votes(id, 2, Ruling::ChallengerWins).await?;
    let end = h.window_end(job).await?;
    h.wait_until(end).await?;
    h.ok(s, Call::Finalize { job }).await?;
    let paid = h.snapshot(&[t0, t1]).await?;
    let f = fees::fee_split(payment)?;
    let sl = fees::slash_split(bond, true, 0)?;
    assert_eq!(paid[0] - payout[0], u(f.to_trainers + sl.to_winner));
    assert_eq!(payout[1] - paid[1], u(bond));
    Ok(())
}

async fn expiry<C: TestChain>(mut h: Harness<C>) -> Result<()> {
    let s = h.cast.submitter;
    let (t0, t1) = (h.cast.trainers[0], h.cast.trainers[1]);
    let (payment, bond) = (700 * PIN + 9, 80 * PIN);
    let job = h.committed_job(u(payment), u(bond), &[1, 2]).await?;
    let id = h
        .ok(t1, Call::OpenDispute { job, defendant: t0 })
        .await?
        .opened_dispute()
        .expect("dispute");
    let arbiters = h.cast.arbiters.clone();
    let mut watched = vec![s, t0, t1];
    watched.extend(&arbiters);
    let before = h.snapshot(&watched).await?;
    let mut last = None;
    for round in 0..=MAX_REDRAWS {
        let d = h.dispute(id).await?;
        assert_eq!(d.round, round);
        h.wait_until(d.deadline).await?;
        last = Some(h.ok(s, Call::Redraw { dispute: id }).await?);
    }
    let events = last.expect("redraws").events;
    for want in ["DisputeExpired", "JobCancelled", "JobRefunded"] {
        assert!(format!("{events:?}").contains(want), "{want}");
    }
    let d = h.dispute(id).await?;
    assert!(d.resolved && d.ruling.is_none());
    let after = h.snapshot(&watched).await?;
    // The payment comes back in full, no fee; both bonds unlocked, nothing slashed.
    assert_eq!(after[0] - before[0], u(payment));
    assert_eq!((after[1], after[2]), (before[1], before[2]));
    for t in [t0, t1] {
        assert_eq!(h.c.position(t, Role::Trainer).await?.locked, U256::ZERO);
    }
    // Only the silent arbiters' penalties were burned; the treasury got nothing.
    let lost: U256 = (3..3 + arbiters.len())
        .map(|i| before[i] - after[i])
        .fold(U256::ZERO, |a, b| a + b);
    assert!(lost > U256::ZERO);
    let n = watched.len();
    assert_eq!(after[n], before[n], "treasury");
    assert_eq!(after[n + 1] - before[n + 1], lost, "burned = penalties");
    // Nothing more can happen to the dispute or the job.
    h.fails(
        d.committee[0],
        Call::Rule {
            dispute: id,
            ruling: Ruling::BothLose,
            finding: finding(),
        },
        "DisputeResolved",
    )
    .await?;
    h.fails(s, Call::Redraw { dispute: id }, "DisputeResolved")
        .await?;
    h.fails(s, Call::Finalize { job }, "WrongState").await?;
    h.fails(t0, Call::OpenDispute { job, defendant: t1 }, "WrongState")
        .await?;
    assert_eq!(h.c.totals().await?.escrow, U256::ZERO);
    Ok(())
}

async fn no_committee_left<C: TestChain>(mut h: Harness<C>) -> Result<()> {
    let s = h.cast.submitter;
    let (payment, bond) = (300 * PIN, 50 * PIN);
    let job = h.committed_job(u(payment), u(bond), &[1, 2]).await?;
    let id = h
        .ok(s, Call::DisputeNext { job })
        .await?
        .opened_dispute()
        .expect("dispute");
    h.fails(
        s,
        Call::Vote {
            dispute: id + 1,
            challenger_wins: true,
            finding: finding(),
        },
        "UnknownDispute",
    )
    .await?;
    // Two of the four arbiters leave: a committee of three can no longer be drawn.
    for a in h.cast.arbiters.clone().into_iter().take(2) {
        h.ok(
            a,
            Call::RequestUnstake {
                role: Role::Arbiter,
                amount: u(crate::harness::ARBITER_STAKE * PIN),
            },
        )
        .await?;
    }
    let d = h.dispute(id).await?;
    h.wait_until(d.deadline).await?;
    let before = h.snapshot(&[s]).await?;
    let r = h.ok(s, Call::Redraw { dispute: id }).await?;
    assert!(format!("{:?}", r.events).contains("DisputeExpired"));
    assert_eq!(h.dispute(id).await?.round, 0, "no fresh committee");
    let after = h.snapshot(&[s]).await?;
    assert_eq!(after[0] - before[0], u(payment), "refunded in full");
    Ok(())
}

both!(
    a_silent_committee_is_redrawn,
    committee_of_three(),
    super::redraw
);
both!(
    without_enough_arbiters_the_redraw_cancels_the_job,
    committee_of_three(),
    super::no_committee_left
);
both!(
    the_last_missed_deadline_cancels_the_job,
    test_config(),
    super::expiry
);
