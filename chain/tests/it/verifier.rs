//! A verifier's challenge (issue 14 item 2) on `Embedded` and anvil: the sampling seed fixed
//! after the commits close, a true challenge (the trainer's bond pays the verifier) and a
//! false one (the verifier's bond pays the trainer), with the refusals around them.

use alloy::{primitives::U256, sol_types::SolCall};
use anyhow::Result;
use pinpoint_chain::{Call, JobParams, Role, Ruling, bindings::JobMarket, sampling_seed};
use pinpoint_protocol::fees;

use crate::both;
use crate::common::test_config;
use crate::harness::{Harness, TestChain, finding};

fn u(x: u128) -> U256 {
    U256::from(x)
}

async fn challenge<C: TestChain>(mut h: Harness<C>, truthful: bool) -> Result<()> {
    let (s, t, v) = (h.cast.submitter, h.cast.trainers[0], h.cast.verifier);
    let (payment, bond) = (1_000 * pinpoint_chain::PIN + 7, 200 * pinpoint_chain::PIN);
    h.fails(
        v,
        Call::Challenge {
            job: 99,
            trainer: t,
            bond: u(bond),
        },
        "UnknownJob",
    )
    .await?;
    h.fails(v, Call::FixSeed { job: 99 }, "UnknownJob").await?;
    // A job still open: no challenge, no seed.
    let now = h.now;
    let open = h
        .ok(
            s,
            Call::PostJob(JobParams {
                spec_hash: Default::default(),
                payment: u(1),
                replicas: 1,
                bond: u(1),
                accept_deadline: now + 100,
                commit_deadline: now + 200,
                challenge_window: 10,
            }),
        )
        .await?
        .posted_job()
        .expect("job");
    h.fails(
        v,
        Call::Challenge {
            job: open,
            trainer: t,
            bond: u(bond),
        },
        "WrongState",
    )
    .await?;
    h.fails(v, Call::FixSeed { job: open }, "SeedNotReady")
        .await?;

    let job = h.committed_job(u(payment), u(bond), &[1]).await?;
    assert_eq!(sampling_seed(&h.c, job).await?, None);
    h.ok(v, Call::FixSeed { job }).await?;
    let seed = sampling_seed(&h.c, job).await?.expect("seed fixed");
    h.fails(s, Call::FixSeed { job }, "SeedAlreadyFixed")
        .await?;
    assert_eq!(sampling_seed(&h.c, job).await?, Some(seed));

    let ch = |bond: U256| Call::Challenge {
        job,
        trainer: t,
        bond,
    };
    h.fails(s, ch(u(bond)), "NotStaked").await?;
    h.fails(t, ch(u(bond)), "a trainer cannot challenge its own job")
        .await?;
    h.fails(v, ch(U256::ZERO), "bond below").await?;
    h.fails(v, ch(u(bond - 1)), "bond below").await?;
    h.fails(v, ch(U256::MAX), "above the free verifier stake")
        .await?;
    h.fails(
        v,
        Call::Challenge {
            job,
            trainer: s,
            bond: u(bond),
        },
        "not a live committed trainer",
    )
    .await?;

    let before = h.snapshot(&[s, t, v]).await?;
    let id = h
        .ok(v, ch(u(bond)))
        .await?
        .opened_dispute()
        .expect("dispute");
    let d = h.dispute(id).await?;
    assert!(d.by_verifier && d.challenger == v && d.defendant == t && !d.resolved);
    assert_eq!(h.c.position(v, Role::Verifier).await?.locked, u(bond));
    h.fails(v, ch(u(bond)), "already challenged").await?;
    h.fails(s, Call::Finalize { job }, "WrongState").await?;
    h.fails(
        s,
        Call::Vote {
            dispute: id,
            challenger_wins: true,
            finding: finding(),
        },
        "NotArbiter",
    )
    .await?;
    // A ruling outside the three is refused (raw calldata: `Ruling` cannot express it).
    let market = h.c.addresses().market;
    let bad = JobMarket::voteCall {
        disputeId: U256::from(id),
        ruling: 3,
        finding: finding(),
    }
    .abi_encode();
    h.fails_raw(d.committee[0], market, bad, "InvalidRuling")
        .await?;
    let ruling = if truthful {
        Ruling::ChallengerWins
    } else {
        Ruling::DefendantWins
    };
    h.votes(id, 1, ruling).await?;
    assert_eq!(h.dispute(id).await?.ruling, Some(ruling));
    // Replays.
    h.fails(
        d.committee[0],
        Call::Rule {
            dispute: id,
            ruling,
            finding: finding(),
        },
        "DisputeResolved",
    )
    .await?;
    let again = if truthful {
        "already challenged"
    } else {
        "already lost"
    };
    h.fails(v, ch(u(bond)), again).await?;
    h.fails(s, Call::Finalize { job }, "WindowOpen").await?;
    let end = h.window_end(job).await?;
    h.wait_until(end).await?;
    h.fails(h.cast.trainers[1], ch(u(bond)), "WindowClosed")
        .await?;
    h.ok(s, Call::Finalize { job }).await?;
    let after = h.snapshot(&[s, t, v]).await?;

    let slash = fees::slash_split(bond, true, 0)?;
    let f = fees::fee_split(payment)?;
    // Wealth deltas of submitter, trainer, verifier, treasury, burn.
    let want: [i128; 5] = if truthful {
        [
            payment as i128,
            -(bond as i128),
            slash.to_winner as i128,
            0,
            slash.burn as i128,
        ]
    } else {
        [
            0,
            (f.to_trainers + slash.to_winner) as i128,
            -(bond as i128),
            f.treasury as i128,
            (f.burn + slash.burn) as i128,
        ]
    };
    for (i, w) in want.iter().enumerate() {
        let got = i128::try_from(after[i]).unwrap() - i128::try_from(before[i]).unwrap();
        assert_eq!(got, *w, "delta {i}");
    }
    assert_eq!(h.c.position(v, Role::Verifier).await?.locked, U256::ZERO);
    assert_eq!(h.c.position(t, Role::Trainer).await?.locked, U256::ZERO);
    assert_eq!(
        (h.c.totals().await?.escrow, h.c.totals().await?.open_jobs),
        (u(1), 1)
    );
    Ok(())
}

async fn true_challenge<C: TestChain>(h: Harness<C>) -> Result<()> {
    challenge(h, true).await
}

async fn false_challenge<C: TestChain>(h: Harness<C>) -> Result<()> {
    challenge(h, false).await
}

both!(
    a_true_challenge_pays_the_verifier,
    test_config(),
    super::true_challenge
);
both!(
    a_false_challenge_slashes_the_verifier,
    test_config(),
    super::false_challenge
);
