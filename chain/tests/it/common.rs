//! Shared helpers: finding and starting anvil, accounts, time control, conservation checks.

use std::path::PathBuf;

use alloy::{
    node_bindings::{Anvil, AnvilInstance},
    primitives::{Address, U256},
    providers::Provider,
    signers::local::PrivateKeySigner,
};
use anyhow::{Context, Result, bail};
use pinpoint_chain::{
    DeployConfig, Embedded, Evm, PIN, RetryPolicy, Settlement, deploy::DEFAULT_TREASURY,
};

/// The anvil binary: `$PINPOINT_ANVIL`, else `.cache/eth/...` under the workspace root.
/// Missing anvil is a test FAILURE with instructions, never a silent pass.
pub(crate) fn anvil_bin() -> PathBuf {
    let p = match std::env::var_os("PINPOINT_ANVIL") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../.cache/eth/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil"),
    };
    assert!(
        p.exists(),
        "anvil not found at {} (PINPOINT_ANVIL or the default path): run `scripts/eth-tools` \
         (installs the pinned anvil from npm) and re-run the tests",
        p.display()
    );
    p
}

/// A fresh anvil on an OS-assigned port.
pub(crate) fn spawn_anvil() -> AnvilInstance {
    Anvil::at(anvil_bin())
        .host("127.0.0.1")
        .port(0u16)
        .try_spawn()
        .expect("anvil starts")
}

/// The dev keys of an anvil instance.
pub(crate) fn keys(anvil: &AnvilInstance) -> Vec<PrivateKeySigner> {
    anvil
        .keys()
        .iter()
        .map(|k| PrivateKeySigner::from(k.clone()))
        .collect()
}

/// Fast polling for tests against a local anvil (which mines on submission).
pub(crate) fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        attempts: 3,
        initial_backoff: std::time::Duration::from_millis(20),
        poll_interval: std::time::Duration::from_millis(20),
        receipt_timeout: std::time::Duration::from_secs(20),
    }
}

/// The contracts' config used by the tests: small minimums, a 100 s unbonding delay, a 200 s
/// dispute timeout, no arbiter share.
pub(crate) fn test_config() -> DeployConfig {
    DeployConfig {
        min_stake: [pin(100), pin(100), pin(100), pin(1_000)],
        unbonding_delay: 100,
        committee_size: 1,
        treasury: DEFAULT_TREASURY,
        dispute_timeout: 200,
        // No arbiter share, so that the scenarios' payouts read as `fees::slash_split(…, 0)`;
        // the default share is checked in `fees.rs` and `arbiter_pay.rs`.
        arbiter_share_bps: 0,
    }
}

pub(crate) fn pin(n: u128) -> U256 {
    U256::from(n * PIN)
}

/// Deploys the contracts on a fresh anvil from dev account 0; returns the client (with all
/// ten dev keys) and the accounts.
pub(crate) async fn deploy_on_anvil(
    anvil: &AnvilInstance,
    config: &DeployConfig,
) -> Result<(Evm, Vec<Address>)> {
    let keys = keys(anvil);
    let accounts: Vec<Address> = keys.iter().map(|k| k.address()).collect();
    let deployed = Evm::deploy(
        &anvil.endpoint(),
        keys[0].clone(),
        config,
        Some(31337),
        fast_retry(),
    )
    .await?;
    let evm = Evm::connect(
        &anvil.endpoint(),
        keys,
        Some(31337),
        deployed.addresses(),
        fast_retry(),
    )
    .await?;
    Ok((evm, accounts))
}

/// Moves anvil's clock forward by `secs` and mines a block.
pub(crate) async fn anvil_advance(evm: &Evm, secs: u64) -> Result<()> {
    let p = evm.provider();
    let _: serde_json::Value = p.raw_request("evm_increaseTime".into(), (secs,)).await?;
    let _: serde_json::Value = p.raw_request("evm_mine".into(), ()).await?;
    Ok(())
}

/// Sets the timestamp of anvil's next block.
pub(crate) async fn anvil_next_timestamp(evm: &Evm, t: u64) -> Result<()> {
    let p = evm.provider();
    let _: serde_json::Value = p
        .raw_request("evm_setNextBlockTimestamp".into(), (t,))
        .await?;
    Ok(())
}

/// Checks supply − burned = Σ balances of `holders` (which must include every holder: the
/// accounts, the treasury, Staking and JobMarket), and that Staking holds exactly the stakes
/// and JobMarket exactly the escrow.
pub(crate) async fn check_conservation<S: Settlement>(
    chain: &S,
    holders: &[Address],
) -> Result<()> {
    let t = chain.totals().await?;
    let a = chain.addresses();
    let mut sum = U256::ZERO;
    for h in holders
        .iter()
        .chain([&a.staking, &a.market, &DEFAULT_TREASURY])
    {
        sum += chain.balance_of(*h).await?;
    }
    if t.initial_supply - t.burned != sum || t.total_supply != sum {
        bail!(
            "conservation broken: initial {} − burned {} ≠ Σ balances {sum}",
            t.initial_supply,
            t.burned
        );
    }
    let staking_bal = chain.balance_of(a.staking).await?;
    let market_bal = chain.balance_of(a.market).await?;
    if staking_bal != t.staked || market_bal != t.escrow {
        bail!(
            "holdings: staking {staking_bal} vs staked {}, market {market_bal} vs escrow {}",
            t.staked,
            t.escrow
        );
    }
    Ok(())
}

/// An embedded chain with the test config.
pub(crate) fn embedded() -> Result<Embedded> {
    Embedded::in_memory(&test_config()).context("embedded chain")
}
