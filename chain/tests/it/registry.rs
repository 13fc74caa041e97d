//! The node registry on anvil: a valid registration, a forged one (ignored by
//! `registered_nodes`), two accounts claiming one `NodeId`, an update, a deregistration that
//! starts unbonding; conservation after every step. Then its negatives on both back ends.

use alloy::primitives::{Address, B256, Bytes, U256};
use anyhow::Result;
use pinpoint_chain::{
    Call, ChainError, Evm, Role, Settlement, Spender, registered_nodes, sign_registration,
};
use pinpoint_protocol::id::NodeKey;

use crate::common::*;

async fn fund_and_stake<S: Settlement>(
    c: &mut S,
    deployer: Address,
    who: Address,
    roles: &[(Role, u128)],
) -> Result<()> {
    c.send(
        deployer,
        Call::Transfer {
            to: who,
            amount: pin(5_000),
        },
    )
    .await?;
    c.send(
        who,
        Call::Approve {
            spender: Spender::Staking,
            amount: U256::MAX,
        },
    )
    .await?;
    for &(role, amount) in roles {
        c.send(
            who,
            Call::Stake {
                role,
                amount: pin(amount),
            },
        )
        .await?;
    }
    Ok(())
}

async fn chain_id(c: &Evm) -> Result<u64> {
    use alloy::providers::Provider;
    Ok(c.provider().get_chain_id().await?)
}

#[tokio::test]
async fn registration_forgery_duplicates_update_and_deregister_on_anvil() -> Result<()> {
    let anvil = spawn_anvil();
    let (mut c, acc) = deploy_on_anvil(&anvil, &test_config()).await?;
    let (d, a, b, m) = (acc[0], acc[1], acc[2], acc[3]);
    let holders = [d, a, b, m];
    let registry = c.addresses().staking;
    let id = chain_id(&c).await?;
    fund_and_stake(&mut c, d, a, &[(Role::Trainer, 200), (Role::Verifier, 100)]).await?;
    fund_and_stake(&mut c, d, b, &[(Role::Trainer, 200)]).await?;
    fund_and_stake(&mut c, d, m, &[(Role::Trainer, 200)]).await?;
    check_conservation(&c, &holders).await?;

    // A valid registration.
    let ka = NodeKey::from_seed([1; 32]);
    let reg_a = sign_registration(
        &ka,
        id,
        registry,
        a,
        &[Role::Trainer, Role::Verifier],
        "10.0.0.1:4433",
    )?;
    c.send(a, reg_a.clone()).await?;
    check_conservation(&c, &holders).await?;
    let nodes = registered_nodes(&c).await?;
    assert_eq!(nodes.len(), 1);
    assert_eq!(nodes[0].account, a);
    assert_eq!(nodes[0].node_id, ka.node_id());
    assert_eq!(nodes[0].roles, vec![Role::Trainer, Role::Verifier]);
    assert_eq!(nodes[0].endpoint, "10.0.0.1:4433");

    // A forgery: m claims a's NodeId, replaying a's signature (which names a's account), and
    // b registers a key whose signature is over another endpoint. Both are stored, both ignored.
    let Call::RegisterNode { signature, .. } = reg_a.clone() else {
        unreachable!()
    };
    c.send(
        m,
        Call::RegisterNode {
            node_id: B256::from(ka.node_id().to_bytes()),
            roles: Role::Trainer.bit(),
            endpoint: "6.6.6.6:1".into(),
            signature,
        },
    )
    .await?;
    let kb = NodeKey::from_seed([2; 32]);
    let Call::RegisterNode {
        signature: sig_b, ..
    } = sign_registration(&kb, id, registry, b, &[Role::Trainer], "10.0.0.2:4433")?
    else {
        unreachable!()
    };
    c.send(
        b,
        Call::RegisterNode {
            node_id: B256::from(kb.node_id().to_bytes()),
            roles: Role::Trainer.bit(),
            endpoint: "10.0.0.9:4433".into(),
            signature: sig_b,
        },
    )
    .await?;
    check_conservation(&c, &holders).await?;
    let t = c.view(
        registry,
        pinpoint_chain::bindings::Staking::registrantCountCall {},
    );
    assert_eq!(t.await?, U256::from(3), "the contract stores all three");
    let nodes = registered_nodes(&c).await?;
    assert_eq!(nodes.len(), 1, "{nodes:?}");
    assert_eq!(
        nodes[0].account, a,
        "the forged claim on a's NodeId is ignored"
    );

    // A duplicate claim with a valid signature (the node key signed for a second account):
    // the earliest registration keeps the NodeId.
    anvil_advance(&c, 5).await?;
    let dup = sign_registration(&ka, id, registry, b, &[Role::Trainer], "10.0.0.1:4433")?;
    c.send(b, dup).await?;
    check_conservation(&c, &holders).await?;
    let nodes = registered_nodes(&c).await?;
    assert_eq!(nodes.len(), 1, "{nodes:?}");
    assert_eq!(nodes[0].account, a);

    // Update: b re-registers its own key; a changes its endpoint and drops a role.
    let upd_b = sign_registration(&kb, id, registry, b, &[Role::Trainer], "10.0.0.2:4433")?;
    let rc = c.send(b, upd_b).await?;
    assert!(
        format!("{:?}", rc.events).contains("NodeUpdated"),
        "{:?}",
        rc.events
    );
    let upd_a = sign_registration(&ka, id, registry, a, &[Role::Trainer], "10.0.0.1:5000")?;
    c.send(a, upd_a).await?;
    check_conservation(&c, &holders).await?;
    let nodes = registered_nodes(&c).await?;
    assert_eq!(nodes.len(), 2, "{nodes:?}");
    let na = nodes.iter().find(|n| n.account == a).expect("a registered");
    assert_eq!(
        (na.endpoint.as_str(), na.roles.clone()),
        ("10.0.0.1:5000", vec![Role::Trainer])
    );
    let nb = nodes.iter().find(|n| n.account == b).expect("b registered");
    assert_eq!(nb.node_id, kb.node_id());

    // Deregister: the registration goes and all of a's free stake starts unbonding.
    c.send(a, Call::DeregisterNode).await?;
    check_conservation(&c, &holders).await?;
    let nodes = registered_nodes(&c).await?;
    assert_eq!(nodes.iter().map(|n| n.account).collect::<Vec<_>>(), vec![b]);
    for (role, amount) in [(Role::Trainer, 200), (Role::Verifier, 100)] {
        let p = c.position(a, role).await?;
        assert_eq!(
            (p.active, p.unbonding),
            (U256::ZERO, pin(amount)),
            "{role:?}"
        );
    }
    anvil_advance(&c, 101).await?;
    c.send(
        a,
        Call::Withdraw {
            role: Role::Trainer,
        },
    )
    .await?;
    check_conservation(&c, &holders).await?;
    Ok(())
}

fn reason(e: &ChainError) -> String {
    e.to_string()
}

/// Access control and input bounds of `registerNode` / `deregisterNode`, on both back ends.
#[tokio::test]
async fn registry_negatives_on_anvil_and_embedded() -> Result<()> {
    let anvil = spawn_anvil();
    let (mut evm, acc) = deploy_on_anvil(&anvil, &test_config()).await?;
    let mut emb = embedded()?;
    let (d, a) = (acc[0], acc[1]);
    fund_and_stake(&mut evm, d, a, &[(Role::Trainer, 200)]).await?;
    fund_and_stake(&mut emb, d, a, &[(Role::Trainer, 200)]).await?;
    let key = NodeKey::from_seed([3; 32]);
    let good = |roles: u8, endpoint: &str, sig_len: usize, node: B256| Call::RegisterNode {
        node_id: node,
        roles,
        endpoint: endpoint.into(),
        signature: Bytes::from(vec![7u8; sig_len]),
    };
    let id = B256::from(key.node_id().to_bytes());
    let cases = [
        (a, good(1, "h:1", 64, B256::ZERO), "zero node id"),
        (a, good(0, "h:1", 64, id), "roles not"),
        (a, good(16, "h:1", 64, id), "roles not"),
        (a, good(1, "", 64, id), "endpoint length"),
        (a, good(1, &"x".repeat(256), 64, id), "endpoint length"),
        (a, good(1, "h:1", 63, id), "signature is not 64"),
        // Staked as trainer only: naming the arbiter role is refused.
        (a, good(Role::Arbiter.bit() | 1, "h:1", 64, id), "no stake"),
        // No stake at all.
        (acc[5], good(1, "h:1", 64, id), "no stake"),
        (a, Call::DeregisterNode, "NotRegistered"),
    ];
    for (from, call, want) in cases {
        for err in [
            evm.send(from, call.clone()).await.unwrap_err(),
            emb.send(from, call.clone()).await.unwrap_err(),
        ] {
            assert!(reason(&err).contains(want), "{call:?}: {err}");
        }
    }
    Ok(())
}
