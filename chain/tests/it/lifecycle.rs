//! A full job lifecycle on anvil (two trainers, a dispute, a verdict) with balances, supply −
//! burned, escrow and stakes checked after each step, and the negative cases.

use alloy::primitives::{Address, B256, U256};
use anyhow::Result;
use pinpoint_chain::{
    Call, ChainError, Finding, JobParams, Role, Settlement, Spender, deploy::DEFAULT_TREASURY,
};
use pinpoint_protocol::fees;

use crate::common::*;

fn u(x: u128) -> U256 {
    U256::from(x)
}

#[tokio::test]
async fn full_lifecycle_with_dispute_on_anvil() -> Result<()> {
    let anvil = spawn_anvil();
    let cfg = test_config();
    let (mut c, acc) = deploy_on_anvil(&anvil, &cfg).await?;
    let (d, s, t1, t2, arb) = (acc[0], acc[1], acc[2], acc[3], acc[4]);
    let holders = [d, s, t1, t2, arb];
    check_conservation(&c, &holders).await?;

    // Funding.
    for who in [s, t1, t2, arb] {
        c.send(
            d,
            Call::Transfer {
                to: who,
                amount: pin(10_000),
            },
        )
        .await?;
    }
    assert_eq!(c.balance_of(t1).await?, pin(10_000));
    check_conservation(&c, &holders).await?;

    // Staking.
    for (who, role, amount) in [
        (t1, Role::Trainer, 500),
        (t2, Role::Trainer, 500),
        (arb, Role::Arbiter, 1_000),
    ] {
        c.send(
            who,
            Call::Approve {
                spender: Spender::Staking,
                amount: pin(amount),
            },
        )
        .await?;
        c.send(
            who,
            Call::Stake {
                role,
                amount: pin(amount),
            },
        )
        .await?;
    }
    let totals = c.totals().await?;
    assert_eq!(totals.staked, pin(2_000));
    assert_eq!(totals.arbiters, 1);
    assert_eq!(c.balance_of(t1).await?, pin(9_500));
    check_conservation(&c, &holders).await?;

    // Post a job.
    let now = c.now().await?;
    let payment = 1_000 * pinpoint_chain::PIN + 7; // odd amount: exercises rounding
    c.send(
        s,
        Call::Approve {
            spender: Spender::Market,
            amount: u(payment),
        },
    )
    .await?;
    let r = c
        .send(
            s,
            Call::PostJob(JobParams {
                spec_hash: B256::repeat_byte(7),
                payment: u(payment),
                replicas: 2,
                bond: pin(200),
                accept_deadline: now + 100,
                commit_deadline: now + 200,
                challenge_window: 50,
            }),
        )
        .await?;
    let job = r.posted_job().expect("JobPosted event");
    let totals = c.totals().await?;
    assert_eq!((totals.escrow, totals.open_jobs), (u(payment), 1));
    assert_eq!(c.balance_of(s).await?, pin(10_000) - u(payment));
    check_conservation(&c, &holders).await?;

    // Accept and commit.
    for t in [t1, t2] {
        c.send(t, Call::Accept { job }).await?;
        assert_eq!(c.position(t, Role::Trainer).await?.locked, pin(200));
    }
    c.send(
        t1,
        Call::Commit {
            job,
            root: B256::repeat_byte(1),
        },
    )
    .await?;
    c.send(
        t2,
        Call::Commit {
            job,
            root: B256::repeat_byte(2),
        },
    )
    .await?;
    check_conservation(&c, &holders).await?;

    // Dispute: t1 challenges t2; the committee is the one arbiter.
    let r = c.send(t1, Call::OpenDispute { job, defendant: t2 }).await?;
    let dispute = r.opened_dispute().expect("DisputeOpened event");
    let finding = Finding {
        step: 3,
        node: 17,
        challengerHash: B256::repeat_byte(0xa),
        defendantHash: B256::repeat_byte(0xb),
        refereeHash: B256::repeat_byte(0xa),
    };
    // A non-arbiter cannot post a verdict.
    let err = c
        .send(
            t1,
            Call::Vote {
                dispute,
                challenger_wins: true,
                finding: finding.clone(),
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ChainError::Reverted { reason } if reason.contains("NotArbiter")),
        "{err}"
    );
    // Finalizing during a dispute fails.
    let err = c.send(s, Call::Finalize { job }).await.unwrap_err();
    assert!(
        matches!(&err, ChainError::Reverted { reason } if reason.contains("WrongState")),
        "{err}"
    );
    let r = c
        .send(
            arb,
            Call::Vote {
                dispute,
                challenger_wins: true,
                finding: finding.clone(),
            },
        )
        .await?;
    assert!(format!("{:?}", r.events).contains("Verdict"));
    check_conservation(&c, &holders).await?;

    // Not before the window ends.
    let err = c.send(s, Call::Finalize { job }).await.unwrap_err();
    assert!(
        matches!(&err, ChainError::Reverted { reason } if reason.contains("WindowOpen")),
        "{err}"
    );
    anvil_advance(&c, 60).await?;

    let before = c.totals().await?;
    let (b_t1, b_tr) = (
        c.balance_of(t1).await?,
        c.balance_of(DEFAULT_TREASURY).await?,
    );
    c.send(s, Call::Finalize { job }).await?;
    // Expected amounts from the protocol crate's arithmetic.
    let f = fees::fee_split(payment)?;
    let sl = fees::slash_split(200 * pinpoint_chain::PIN, true, 0)?;
    let after = c.totals().await?;
    assert_eq!(after.burned - before.burned, u(f.burn + sl.burn));
    assert_eq!(c.balance_of(DEFAULT_TREASURY).await? - b_tr, u(f.treasury));
    assert_eq!(
        c.balance_of(t1).await? - b_t1,
        u(f.to_trainers + sl.to_winner)
    );
    assert_eq!((after.escrow, after.open_jobs), (U256::ZERO, 0));
    assert_eq!(after.staked, pin(2_000) - pin(200));
    let p2 = c.position(t2, Role::Trainer).await?;
    assert_eq!((p2.active, p2.locked), (pin(300), U256::ZERO));
    assert_eq!(c.position(t1, Role::Trainer).await?.locked, U256::ZERO);
    check_conservation(&c, &holders).await?;

    // Not twice.
    let err = c.send(s, Call::Finalize { job }).await.unwrap_err();
    assert!(
        matches!(&err, ChainError::Reverted { reason } if reason.contains("WrongState")),
        "{err}"
    );

    // The slashed stake cannot be withdrawn: only 300 remain.
    let err = c
        .send(
            t2,
            Call::RequestUnstake {
                role: Role::Trainer,
                amount: pin(500),
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, ChainError::InsufficientStake { who, role: 0, .. } if who == t2),
        "{err}"
    );
    c.send(
        t2,
        Call::RequestUnstake {
            role: Role::Trainer,
            amount: pin(300),
        },
    )
    .await?;
    let err = c
        .send(
            t2,
            Call::Withdraw {
                role: Role::Trainer,
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ChainError::Reverted { reason } if reason.contains("StillUnbonding")),
        "{err}"
    );
    anvil_advance(&c, 101).await?;
    let b = c.balance_of(t2).await?;
    c.send(
        t2,
        Call::Withdraw {
            role: Role::Trainer,
        },
    )
    .await?;
    assert_eq!(c.balance_of(t2).await? - b, pin(300));
    let err = c
        .send(
            t2,
            Call::Withdraw {
                role: Role::Trainer,
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ChainError::Reverted { reason } if reason.contains("NothingToWithdraw")),
        "{err}"
    );
    check_conservation(&c, &holders).await?;
    Ok(())
}

/// A malicious token re-entering Staking and JobMarket from inside its transfers: the guards
/// revert the whole transaction; an armed call to a harmless view goes through (so the
/// re-entry path does run).
#[tokio::test]
async fn reentrancy_attempts_revert() -> Result<()> {
    use alloy::sol_types::{SolCall, SolConstructor};
    use pinpoint_chain::bindings::{JobMarket, ReentrantToken, Staking};

    let anvil = spawn_anvil();
    let keys = keys(&anvil);
    let d = keys[0].address();
    let placeholder = pinpoint_chain::Addresses {
        token: Address::ZERO,
        staking: Address::ZERO,
        market: Address::ZERO,
    };
    let mut raw = pinpoint_chain::Evm::connect(
        &anvil.endpoint(),
        keys,
        Some(31337),
        placeholder,
        fast_retry(),
    )
    .await?;
    let code = |c: &alloy::primitives::Bytes, args: Vec<u8>| -> alloy::primitives::Bytes {
        [c.to_vec(), args].concat().into()
    };
    let (token, staking, market) = (d.create(0), d.create(1), d.create(2));
    raw.execute(
        d,
        None,
        code(
            &ReentrantToken::BYTECODE,
            ReentrantToken::constructorCall {
                supply: pin(1_000_000),
            }
            .abi_encode(),
        ),
    )
    .await
    .map_err(|e| anyhow::anyhow!("deploy 1: {e}"))?;
    raw.execute(
        d,
        None,
        code(
            &Staking::BYTECODE,
            Staking::constructorCall {
                token_: token,
                minStake_: [U256::ZERO; 4],
                unbondingDelay_: U256::ZERO,
            }
            .abi_encode(),
        ),
    )
    .await
    .map_err(|e| anyhow::anyhow!("deploy 2: {e}"))?;
    raw.execute(
        d,
        None,
        code(
            &JobMarket::BYTECODE,
            JobMarket::constructorCall {
                token_: token,
                staking_: staking,
                treasury_: DEFAULT_TREASURY,
                committeeSize_: U256::from(1),
                disputeTimeout_: 100,
                arbiterShareBps_: U256::ZERO,
            }
            .abi_encode(),
        ),
    )
    .await
    .map_err(|e| anyhow::anyhow!("deploy 3: {e}"))?;
    raw.execute(
        d,
        Some(staking),
        Staking::setMarketCall { market_: market }
            .abi_encode()
            .into(),
    )
    .await
    .map_err(|e| anyhow::anyhow!("deploy 4: {e}"))?;
    let keys2 = crate::common::keys(&anvil);
    let mut c = pinpoint_chain::Evm::connect(
        &anvil.endpoint(),
        keys2,
        Some(31337),
        pinpoint_chain::Addresses {
            token,
            staking,
            market,
        },
        fast_retry(),
    )
    .await?;
    let arm = |target: Address, payload: Vec<u8>| {
        ReentrantToken::armCall {
            target_: target,
            payload_: payload.into(),
        }
        .abi_encode()
        .into()
    };

    c.send(
        d,
        Call::Approve {
            spender: Spender::Staking,
            amount: pin(1_000),
        },
    )
    .await
    .map_err(|e| anyhow::anyhow!("approve: {e}"))?;
    c.send(
        d,
        Call::Approve {
            spender: Spender::Market,
            amount: pin(1_000),
        },
    )
    .await?;
    c.send(
        d,
        Call::Stake {
            role: Role::Solver,
            amount: pin(10),
        },
    )
    .await
    .map_err(|e| anyhow::anyhow!("stake: {e}"))?;
    c.send(
        d,
        Call::RequestUnstake {
            role: Role::Solver,
            amount: pin(10),
        },
    )
    .await?;

    // withdraw → token.transfer → Staking.withdraw again.
    c.execute(
        d,
        Some(token),
        arm(staking, Staking::withdrawCall { role: 1 }.abi_encode()),
    )
    .await?;
    let err = c
        .send(d, Call::Withdraw { role: Role::Solver })
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ChainError::Reverted { reason } if reason.contains("Reentrancy")),
        "{err}"
    );
    assert_eq!(
        c.position(d, Role::Solver).await?.unbonding,
        pin(10),
        "nothing was paid out"
    );

    // postJob → token.transferFrom → JobMarket.postJob again.
    let now = c.now().await?;
    let params = JobParams {
        spec_hash: B256::ZERO,
        payment: pin(5),
        replicas: 1,
        bond: pin(1),
        accept_deadline: now + 100,
        commit_deadline: now + 200,
        challenge_window: 10,
    };
    let Call::PostJob(p) = Call::PostJob(params) else {
        unreachable!()
    };
    let (_, post_data) = Call::PostJob(p).encode(&c.addresses());
    c.execute(d, Some(token), arm(market, post_data.to_vec()))
        .await?;
    let err = c.send(d, Call::PostJob(params)).await.unwrap_err();
    assert!(
        matches!(&err, ChainError::Reverted { reason } if reason.contains("Reentrancy")),
        "{err}"
    );
    assert_eq!(
        c.view(market, JobMarket::jobCountCall {}).await?,
        U256::ZERO
    );

    // The same for every dispute entry point (issue 14): re-entered from inside a transfer,
    // each is refused by the guard, whatever its own checks would say.
    let finding = Finding {
        step: 0,
        node: 0,
        challengerHash: B256::ZERO,
        defendantHash: B256::ZERO,
        refereeHash: B256::ZERO,
    };
    let one = U256::from(1u8);
    let payloads: Vec<(&str, Vec<u8>)> = vec![
        (
            "challenge",
            JobMarket::challengeCall {
                jobId: one,
                trainer: d,
                bond: one,
            }
            .abi_encode(),
        ),
        (
            "openDispute",
            JobMarket::openDisputeCall {
                jobId: one,
                defendant: d,
            }
            .abi_encode(),
        ),
        (
            "disputeNext",
            JobMarket::disputeNextCall { jobId: one }.abi_encode(),
        ),
        (
            "vote",
            JobMarket::voteCall {
                disputeId: one,
                ruling: 2,
                finding: finding.clone(),
            }
            .abi_encode(),
        ),
        (
            "redraw",
            JobMarket::redrawCall { disputeId: one }.abi_encode(),
        ),
        (
            "fixSeed",
            JobMarket::fixSeedCall { jobId: one }.abi_encode(),
        ),
    ];
    for (name, payload) in payloads {
        c.execute(d, Some(token), arm(market, payload)).await?;
        let err = c.send(d, Call::PostJob(params)).await.unwrap_err();
        assert!(
            matches!(&err, ChainError::Reverted { reason } if reason.contains("Reentrancy")),
            "{name}: {err}"
        );
    }
    // Slashing and penalties are the market's alone.
    for (name, data) in [
        (
            "slash",
            Staking::slashCall {
                who: d,
                role: 1,
                amount: one,
                winner: d,
                payees: vec![d],
                payeeBps: U256::ZERO,
            }
            .abi_encode(),
        ),
        (
            "penalize",
            Staking::penalizeCall {
                who: d,
                role: 3,
                bps: U256::from(1_000u16),
            }
            .abi_encode(),
        ),
    ] {
        let err = c.execute(d, Some(staking), data.into()).await.unwrap_err();
        assert!(
            matches!(&err, ChainError::Reverted { reason } if reason.contains("OnlyMarket")),
            "{name}: {err}"
        );
    }

    // Control: the same path calling a view succeeds, and withdraw then works.
    c.execute(
        d,
        Some(token),
        arm(market, JobMarket::jobCountCall {}.abi_encode()),
    )
    .await?;
    c.send(d, Call::Withdraw { role: Role::Solver }).await?;
    assert_eq!(c.position(d, Role::Solver).await?.unbonding, U256::ZERO);
    Ok(())
}
