//! Bad input gets typed errors: wrong chain id, unreachable RPC, revert reasons (string and
//! custom errors), a sender without a key.

use alloy::primitives::{Address, U256};
use anyhow::Result;
use pinpoint_chain::{Call, ChainError, Evm, Role, Settlement, Spender};

use crate::common::*;

#[tokio::test]
async fn wrong_chain_id_is_typed() -> Result<()> {
    let anvil = spawn_anvil();
    let a = pinpoint_chain::deploy_plan(Address::ZERO, 0, &test_config()).0;
    let err = Evm::connect(&anvil.endpoint(), keys(&anvil), Some(1), a, fast_retry())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ChainError::WrongChainId {
                expected: 1,
                actual: 31337
            }
        ),
        "{err}"
    );
    Ok(())
}

#[tokio::test]
async fn unreachable_rpc_is_typed_after_retries() -> Result<()> {
    // A port that was just free: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let a = pinpoint_chain::deploy_plan(Address::ZERO, 0, &test_config()).0;
    let key = alloy::signers::local::PrivateKeySigner::random();
    let err = Evm::connect(&url, vec![key], None, a, fast_retry())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ChainError::Unreachable { attempts: 3, .. }),
        "{err}"
    );
    let err = Evm::connect("not a url", vec![], None, a, fast_retry())
        .await
        .unwrap_err();
    assert!(matches!(err, ChainError::InvalidArgument(_)), "{err}");
    Ok(())
}

#[tokio::test]
async fn reverts_are_decoded_on_anvil_and_embedded() -> Result<()> {
    let anvil = spawn_anvil();
    let (mut evm, acc) = deploy_on_anvil(&anvil, &test_config()).await?;
    let mut emb = embedded()?;
    let poor = acc[5];
    // Error(string) from the token.
    let call = Call::Transfer {
        to: acc[6],
        amount: U256::from(1),
    };
    for err in [
        evm.send(poor, call.clone()).await.unwrap_err(),
        emb.send(poor, call).await.unwrap_err(),
    ] {
        assert!(
            matches!(&err, ChainError::Reverted { reason } if reason == "PIN: insufficient balance"),
            "{err}"
        );
    }
    // Custom errors: below the minimum, unknown role is prevented by the type, insufficient stake.
    let call = Call::Stake {
        role: Role::Arbiter,
        amount: pin(1),
    };
    for err in [
        evm.send(poor, call.clone()).await.unwrap_err(),
        emb.send(poor, call).await.unwrap_err(),
    ] {
        assert!(
            matches!(&err, ChainError::Reverted { reason } if reason.contains("BelowMinimum")),
            "{err}"
        );
    }
    let call = Call::RequestUnstake {
        role: Role::Trainer,
        amount: pin(1),
    };
    for err in [
        evm.send(poor, call.clone()).await.unwrap_err(),
        emb.send(poor, call).await.unwrap_err(),
    ] {
        assert!(matches!(err, ChainError::InsufficientStake { who, .. } if who == poor));
    }
    // Unknown job.
    let call = Call::Finalize { job: 99 };
    for err in [
        evm.send(poor, call.clone()).await.unwrap_err(),
        emb.send(poor, call).await.unwrap_err(),
    ] {
        assert!(
            matches!(&err, ChainError::Reverted { reason } if reason.contains("UnknownJob")),
            "{err}"
        );
    }
    // A sender the client has no key for.
    let stranger = Address::repeat_byte(0x99);
    let err = evm
        .send(
            stranger,
            Call::Approve {
                spender: Spender::Market,
                amount: U256::ZERO,
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(err, ChainError::NoSigner(a) if a == stranger));
    Ok(())
}
