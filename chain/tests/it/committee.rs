//! A committee of three arbiters: drawn deterministically among the staked arbiters other than
//! the parties, a majority decides, non-members and double votes are refused.

use alloy::primitives::{Address, B256, U256};
use anyhow::Result;
use pinpoint_chain::{
    Call, ChainError, ChainEvent, Embedded, Finding, JobParams, Role, Spender,
    bindings::JobMarket::JobMarketEvents, deploy::DEFAULT_DEPLOYER,
};

use crate::common::*;

fn setup(committee_size: u64) -> Result<(Embedded, Vec<Address>, Vec<Address>)> {
    let mut cfg = test_config();
    cfg.committee_size = committee_size;
    let mut c = Embedded::in_memory(&cfg)?;
    let trainers: Vec<Address> = (1..=2u8).map(Address::repeat_byte).collect();
    let arbiters: Vec<Address> = (0x10..0x15u8).map(Address::repeat_byte).collect();
    for &a in trainers.iter().chain(&arbiters) {
        c.send_sync(
            DEFAULT_DEPLOYER,
            &Call::Transfer {
                to: a,
                amount: pin(5_000),
            },
        )?;
        c.send_sync(
            a,
            &Call::Approve {
                spender: Spender::Staking,
                amount: U256::MAX,
            },
        )?;
    }
    for &t in &trainers {
        c.send_sync(
            t,
            &Call::Stake {
                role: Role::Trainer,
                amount: pin(500),
            },
        )?;
    }
    for &a in &arbiters {
        c.send_sync(
            a,
            &Call::Stake {
                role: Role::Arbiter,
                amount: pin(1_000),
            },
        )?;
    }
    Ok((c, trainers, arbiters))
}

fn dispute(c: &mut Embedded, t: &[Address]) -> Result<(u64, u64, Vec<Address>)> {
    c.send_sync(
        DEFAULT_DEPLOYER,
        &Call::Approve {
            spender: Spender::Market,
            amount: U256::MAX,
        },
    )?;
    let now = c.time();
    let r = c.send_sync(
        DEFAULT_DEPLOYER,
        &Call::PostJob(JobParams {
            spec_hash: B256::ZERO,
            payment: pin(100),
            replicas: 2,
            bond: pin(100),
            accept_deadline: now + 10,
            commit_deadline: now + 20,
            challenge_window: 30,
        }),
    )?;
    let job = r.posted_job().expect("job");
    for &tr in t {
        c.send_sync(tr, &Call::Accept { job })?;
    }
    c.send_sync(
        t[0],
        &Call::Commit {
            job,
            root: B256::repeat_byte(1),
        },
    )?;
    c.send_sync(
        t[1],
        &Call::Commit {
            job,
            root: B256::repeat_byte(2),
        },
    )?;
    let r = c.send_sync(
        t[0],
        &Call::OpenDispute {
            job,
            defendant: t[1],
        },
    )?;
    let committee = r
        .events
        .iter()
        .find_map(|e| match e {
            ChainEvent::Market(JobMarketEvents::DisputeOpened(d)) => Some(d.committee.clone()),
            _ => None,
        })
        .expect("DisputeOpened");
    Ok((job, r.opened_dispute().expect("id"), committee))
}

#[test]
fn three_arbiters_majority_decides() -> Result<()> {
    let (mut c, t, arbiters) = setup(3)?;
    let (job, id, committee) = dispute(&mut c, &t)?;
    assert_eq!(committee.len(), 3);
    assert!(committee.iter().all(|m| arbiters.contains(m)));
    let mut sorted = committee.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), 3, "distinct members");
    // Deterministic: the same history draws the same committee.
    let (mut c2, t2, _) = setup(3)?;
    assert_eq!(dispute(&mut c2, &t2)?.2, committee);

    let outsider = *arbiters
        .iter()
        .find(|a| !committee.contains(a))
        .expect("5 arbiters, 3 drawn");
    let f = Finding {
        step: 1,
        node: 2,
        challengerHash: B256::ZERO,
        defendantHash: B256::ZERO,
        refereeHash: B256::ZERO,
    };
    let vote = |w: bool| Call::Vote {
        dispute: id,
        challenger_wins: w,
        finding: f.clone(),
    };
    let err = c.send_sync(outsider, &vote(true)).unwrap_err();
    assert!(
        matches!(&err, ChainError::Reverted { reason } if reason.contains("NotArbiter")),
        "{err}"
    );
    let r = c.send_sync(committee[0], &vote(false))?;
    assert_eq!(r.events.len(), 1, "one vote: no verdict yet");
    let err = c.send_sync(committee[0], &vote(false)).unwrap_err();
    assert!(
        matches!(&err, ChainError::Reverted { reason } if reason.contains("AlreadyVoted")),
        "{err}"
    );
    c.send_sync(committee[1], &vote(true))?;
    let r = c.send_sync(committee[2], &vote(true))?;
    let verdict = r
        .events
        .iter()
        .find_map(|e| match e {
            ChainEvent::Market(JobMarketEvents::Verdict(v)) => Some(v.clone()),
            _ => None,
        })
        .expect("2 of 3 decide");
    assert_eq!(
        (verdict.challenger, verdict.defendant, verdict.ruling),
        (t[0], t[1], 1)
    );
    let err = c.send_sync(committee[2], &vote(true)).unwrap_err();
    assert!(
        matches!(&err, ChainError::Reverted { reason } if reason.contains("DisputeResolved")),
        "{err}"
    );
    c.set_time(c.time() + 31)?;
    c.send_sync(DEFAULT_DEPLOYER, &Call::Finalize { job })?;
    Ok(())
}

#[test]
fn too_few_arbiters_blocks_the_dispute() -> Result<()> {
    let (mut c, t, arbiters) = setup(3)?;
    // Three arbiters leave: two remain, fewer than the committee.
    for &a in &arbiters[..3] {
        c.send_sync(
            a,
            &Call::RequestUnstake {
                role: Role::Arbiter,
                amount: pin(1_000),
            },
        )?;
    }
    let err = dispute(&mut c, &t).unwrap_err();
    assert!(format!("{err}").contains("NotEnoughArbiters"), "{err}");
    Ok(())
}
