//! A transaction dropped from the node's pool is resubmitted: anvil runs without automining,
//! the test drops the pending transaction, waits for it to come back, then mines.

use alloy::{
    node_bindings::Anvil,
    primitives::U256,
    providers::{Provider, ProviderBuilder},
};
use anyhow::Result;
use pinpoint_chain::{Call, Evm, Settlement, Spender};

use crate::common::*;

#[tokio::test]
async fn dropped_transaction_is_resubmitted() -> Result<()> {
    let anvil = Anvil::at(anvil_bin())
        .host("127.0.0.1")
        .port(0u16)
        .arg("--no-mining")
        .try_spawn()?;
    let keys = keys(&anvil);
    let sender = keys[1].address();
    let addresses = pinpoint_chain::deploy_plan(keys[0].address(), 0, &test_config()).0;
    let mut evm = Evm::connect(
        &anvil.endpoint(),
        keys,
        Some(31337),
        addresses,
        fast_retry(),
    )
    .await?;
    let driver = ProviderBuilder::new().connect_http(anvil.endpoint().parse()?);
    // Any call works for this: an approval on an address without code succeeds as a plain
    // transfer-less call, so no deployment is needed.
    let send = evm.send(
        sender,
        Call::Approve {
            spender: Spender::Market,
            amount: U256::from(5),
        },
    );
    let drive = async {
        let pending = || async { driver.get_transaction_count(sender).pending().await };
        // 1. Wait until it is in the pool, then drop it.
        while pending().await? == 0 {
            tokio::task::yield_now().await;
        }
        let _: serde_json::Value = driver
            .raw_request("anvil_dropAllTransactions".into(), ())
            .await?;
        // 2. Wait for the client to resubmit it (it polls every 20 ms; without resubmission
        //    the pool stays empty and this fails after many polls), then mine.
        let mut polls = 0u64;
        while pending().await? == 0 {
            polls += 1;
            anyhow::ensure!(
                polls < 20_000,
                "the dropped transaction was never resubmitted"
            );
            tokio::task::yield_now().await;
        }
        let _: serde_json::Value = driver.raw_request("evm_mine".into(), ()).await?;
        anyhow::Ok(polls)
    };
    let (receipt, polls) = tokio::join!(send, drive);
    let receipt = receipt?;
    polls?;
    assert!(receipt.block >= 1);
    assert_eq!(driver.get_transaction_count(sender).await?, 1, "mined once");
    Ok(())
}
