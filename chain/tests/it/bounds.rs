//! Issue 16 defect 4 and its class: zero addresses, zero amounts and out-of-range values are
//! refused at every entry point, on anvil and on `Embedded`, and the shared limits agree with
//! the protocol crate.

use alloy::{
    primitives::{Address, B256, U256},
    sol_types::SolConstructor,
};
use anyhow::Result;
use pinpoint_chain::{
    Call, DeployConfig, Embedded, JobParams, Role, Settlement, Spender,
    bindings::{JobMarket, Staking},
    deploy::DEFAULT_DEPLOYER,
};

use crate::common::*;

fn job(now: u64, bond: U256) -> JobParams {
    JobParams {
        spec_hash: B256::repeat_byte(1),
        payment: pin(100),
        replicas: 1,
        bond,
        accept_deadline: now + 100,
        commit_deadline: now + 200,
        challenge_window: 10,
    }
}

#[test]
fn a_zero_treasury_is_refused_by_the_config_and_the_contract() -> Result<()> {
    let cfg = DeployConfig {
        treasury: Address::ZERO,
        ..test_config()
    };
    let err = Embedded::in_memory(&cfg).unwrap_err();
    assert!(err.to_string().contains("treasury"), "{err}");
    // The contract itself, bypassing the config check.
    let mut chain = embedded()?;
    let a = chain.addresses();
    for (token, staking, treasury, want) in [
        (a.token, a.staking, Address::ZERO, "zero treasury"),
        (Address::ZERO, a.staking, a.token, "zero token"),
        (a.token, Address::ZERO, a.token, "zero staking"),
    ] {
        let mut code = JobMarket::BYTECODE.to_vec();
        code.extend(
            JobMarket::constructorCall {
                token_: token,
                staking_: staking,
                treasury_: treasury,
                committeeSize_: U256::from(1),
                disputeTimeout_: 100,
                arbiterShareBps_: U256::ZERO,
            }
            .abi_encode(),
        );
        let err = chain
            .execute(DEFAULT_DEPLOYER, None, code.into())
            .unwrap_err();
        assert!(err.to_string().contains(want), "{err}");
    }
    let mut code = Staking::BYTECODE.to_vec();
    code.extend(
        Staking::constructorCall {
            token_: a.token,
            minStake_: [U256::ZERO; 4],
            unbondingDelay_: U256::from(366u64 * 24 * 3600),
        }
        .abi_encode(),
    );
    let err = chain
        .execute(DEFAULT_DEPLOYER, None, code.into())
        .unwrap_err();
    assert!(err.to_string().contains("unbonding delay"), "{err}");
    Ok(())
}

#[test]
fn the_replica_limit_is_the_protocols() -> Result<()> {
    let chain = embedded()?;
    let rt = tokio::runtime::Builder::new_current_thread().build()?;
    let max = rt.block_on(chain.view(chain.addresses().market, JobMarket::MAX_REPLICASCall {}))?;
    assert_eq!(max, pinpoint_protocol::limits::MAX_REPLICAS);
    assert_eq!(
        pinpoint_protocol::wire::MAX_TRAINERS,
        u32::from(pinpoint_protocol::limits::MAX_REPLICAS)
    );
    Ok(())
}

/// Bond 0, a trainer with no stake, out-of-range durations and replicas, a zero stake.
#[tokio::test]
async fn zero_amounts_unstaked_trainers_and_bounds_on_anvil_and_embedded() -> Result<()> {
    let anvil = spawn_anvil();
    let (mut evm, acc) = deploy_on_anvil(&anvil, &test_config()).await?;
    let mut emb = embedded()?;
    let (d, s, poor) = (acc[0], acc[1], acc[2]);
    let t = evm.now().await?.max(emb.time()) + 10;
    emb.set_time(t)?;
    anvil_next_timestamp(&evm, t).await?;
    let setup = [
        (
            d,
            Call::Transfer {
                to: s,
                amount: pin(10_000),
            },
        ),
        (
            s,
            Call::Approve {
                spender: Spender::Market,
                amount: U256::MAX,
            },
        ),
        (s, Call::PostJob(job(t, pin(50)))),
    ];
    for (from, call) in setup {
        evm.send(from, call.clone()).await?;
        emb.send(from, call).await?;
    }
    let huge = 366 * 24 * 3600;
    let cases: Vec<(Address, Call, &str)> = vec![
        (s, Call::PostJob(job(t, U256::ZERO)), "zero bond"),
        (
            s,
            Call::PostJob(JobParams {
                replicas: pinpoint_protocol::limits::MAX_REPLICAS + 1,
                ..job(t, pin(1))
            }),
            "replicas not in",
        ),
        (
            s,
            Call::PostJob(JobParams {
                challenge_window: huge,
                ..job(t, pin(1))
            }),
            "challenge window too long",
        ),
        (
            s,
            Call::PostJob(JobParams {
                commit_deadline: t + huge,
                ..job(t, pin(1))
            }),
            "commit deadline too far",
        ),
        (
            s,
            Call::PostJob(JobParams {
                challenge_window: u64::MAX,
                ..job(t, pin(1))
            }),
            "challenge window too long",
        ),
        // A trainer with no stake cannot take a slot (before the fix: accepted with bond 0).
        (poor, Call::Accept { job: 1 }, "NotStaked"),
        (
            poor,
            Call::Stake {
                role: Role::Trainer,
                amount: U256::ZERO,
            },
            "ZeroAmount",
        ),
    ];
    for (from, call, want) in cases {
        for err in [
            evm.send(from, call.clone()).await.unwrap_err(),
            emb.send(from, call.clone()).await.unwrap_err(),
        ] {
            assert!(err.to_string().contains(want), "{call:?}: {err}");
        }
    }
    check_conservation(&evm, &acc).await?;
    check_conservation(&emb, &acc).await?;
    Ok(())
}

#[test]
fn dispute_timeout_and_arbiter_share_are_bounded() -> Result<()> {
    // The config check, before anything is sent.
    for (timeout, share, want) in [
        (0, 0, "dispute timeout"),
        (365 * 24 * 3600 + 1, 0, "dispute timeout"),
        (60, 5_001, "arbiter share"),
    ] {
        let cfg = DeployConfig {
            dispute_timeout: timeout,
            arbiter_share_bps: share,
            ..test_config()
        };
        let err = Embedded::in_memory(&cfg).unwrap_err();
        assert!(err.to_string().contains(want), "{err}");
    }
    // The constructor itself, bypassing the config check.
    let mut chain = embedded()?;
    let a = chain.addresses();
    for (timeout, share, want) in [
        (0u64, 0u64, "dispute timeout"),
        (365 * 24 * 3600 + 1, 0, "dispute timeout"),
        (60, 5_001, "arbiter share"),
    ] {
        let mut code = JobMarket::BYTECODE.to_vec();
        code.extend(
            JobMarket::constructorCall {
                token_: a.token,
                staking_: a.staking,
                treasury_: a.token,
                committeeSize_: U256::from(1),
                disputeTimeout_: timeout,
                arbiterShareBps_: U256::from(share),
            }
            .abi_encode(),
        );
        let err = chain
            .execute(DEFAULT_DEPLOYER, None, code.into())
            .unwrap_err();
        assert!(err.to_string().contains(want), "{err}");
    }
    // The largest share is accepted.
    let cfg = DeployConfig {
        arbiter_share_bps: pinpoint_chain::deploy::MAX_ARBITER_SHARE_BPS,
        ..test_config()
    };
    Embedded::in_memory(&cfg)?;
    Ok(())
}

#[test]
fn the_default_arbiter_share_is_the_protocols() {
    let share = pinpoint_chain::deploy::DEFAULT_ARBITER_SHARE_BPS;
    assert_eq!(
        u128::from(share),
        pinpoint_protocol::fees::ARBITER_SHARE_BPS
    );
    assert_eq!(DeployConfig::default().arbiter_share_bps, share);
    assert!(share > 0 && share <= pinpoint_chain::deploy::MAX_ARBITER_SHARE_BPS);
    // A config.json written before the field existed was deployed with no share.
    let mut v = serde_json::to_value(DeployConfig::default()).unwrap();
    v.as_object_mut().unwrap().remove("arbiter_share_bps");
    let old: DeployConfig = serde_json::from_value(v).unwrap();
    assert_eq!(old.arbiter_share_bps, 0);
}

#[test]
fn deployed_sizes_stay_under_eip_170() -> Result<()> {
    use pinpoint_chain::bindings::PinToken;
    const EIP_170: usize = 24_576;
    for (name, code) in [
        ("PinToken", &PinToken::DEPLOYED_BYTECODE),
        ("Staking", &Staking::DEPLOYED_BYTECODE),
        ("JobMarket", &JobMarket::DEPLOYED_BYTECODE),
    ] {
        // The bindings hold the checked-in artifact (not a stale build of it).
        let path = format!("{}/artifacts/{name}.json", env!("CARGO_MANIFEST_DIR"));
        let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path)?)?;
        let hex = json["deployedBytecode"]["object"]
            .as_str()
            .unwrap_or_default();
        assert_eq!(
            code.len(),
            (hex.len() - 2) / 2,
            "{name}: bindings vs artifact"
        );
        println!("{name}: {} bytes deployed (limit {EIP_170})", code.len());
        assert!(code.len() <= EIP_170, "{name} is {} bytes", code.len());
    }
    Ok(())
}
