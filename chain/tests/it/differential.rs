//! The same random sequence of ≥ 200 operations on `Embedded` and on anvil: the same outcome
//! (events or decoded error) for every operation, and the same balances, totals and event
//! history at the end.

use alloy::providers::Provider;
use anyhow::Result;
use pinpoint_chain::{Call, Embedded, Settlement};

use crate::{common::*, ops::OpGen};

#[tokio::test]
async fn embedded_and_anvil_agree_on_a_random_sequence() -> Result<()> {
    let anvil = spawn_anvil();
    let cfg = test_config();
    let (mut evm, acc) = deploy_on_anvil(&anvil, &cfg).await?;
    let mut emb = Embedded::in_memory(&cfg)?;
    assert_eq!(
        emb.addresses(),
        evm.addresses(),
        "same deployer and nonces give the same addresses"
    );
    let deployer = acc[0];
    let actors = acc[1..8].to_vec();
    let mut t = evm.now().await? + 10;
    // The generator learns job and dispute ids from the embedded outcomes.
    let mut gen_ = OpGen::new(0x5eed_d1ff, actors.clone(), t);
    let mut script = gen_
        .setup(deployer)
        .into_iter()
        .map(|(f, c)| (1, f, c))
        .collect::<Vec<_>>();
    script.extend(gen_.scripted_dispute());
    let scripted = script.len();
    let mut n_ok = 0;
    // Random (not scripted) operations on the dispute path, and how many of them succeeded.
    let (mut n_random, mut n_dispute, mut n_dispute_ok, mut n_registry_ok) = (0, 0, 0, 0);
    let mut i = 0;
    while i < script.len() || i < 250 {
        if i >= script.len() {
            script.push(gen_.next());
        }
        let (dt, from, call) = script[i].clone();
        t += dt.max(1);
        emb.set_time(t)?;
        anvil_next_timestamp(&evm, t).await?;
        let _: serde_json::Value = evm.provider().raw_request("evm_mine".into(), ()).await?;
        anvil_next_timestamp(&evm, t).await?;
        let a = emb.send(from, call.clone()).await;
        let b = evm.send(from, call.clone()).await;
        match (&a, &b) {
            (Ok(x), Ok(y)) => {
                assert_eq!(x.events, y.events, "op {i} {call:?}: events differ");
                n_ok += 1;
            }
            (Err(x), Err(y)) => assert_eq!(
                x.to_string(),
                y.to_string(),
                "op {i} {call:?}: errors differ"
            ),
            _ => panic!("op {i} {call:?}: embedded {a:?} vs anvil {b:?}"),
        }
        if std::env::var_os("DIFF_DEBUG").is_some() {
            eprintln!(
                "{i} {:?} -> {:?}",
                call,
                a.as_ref()
                    .map(|r| r.events.len())
                    .map_err(|e| e.to_string())
            );
        }
        gen_.observe(&a);
        if i >= scripted {
            n_random += 1;
            if matches!(call, Call::OpenDispute { .. } | Call::Vote { .. }) {
                n_dispute += 1;
                n_dispute_ok += usize::from(a.is_ok());
            }
            if matches!(call, Call::RegisterNode { .. } | Call::DeregisterNode) {
                n_registry_ok += usize::from(a.is_ok());
            }
        }
        i += 1;
    }
    assert!(
        n_ok >= 60,
        "too few successful operations ({n_ok}) to be a meaningful comparison"
    );
    assert!(
        gen_.jobs >= 5,
        "the sequence posted only {} jobs",
        gen_.jobs
    );
    assert!(gen_.disputes >= 1, "the sequence opened no dispute");
    // Not asserted (yet): the random generator rarely gets a job through accept and commit
    // to a successful unscripted dispute; the count is printed so that it can be tuned.
    assert!(n_registry_ok >= 1, "no random registry operation succeeded");
    for &who in acc
        .iter()
        .chain([&pinpoint_chain::deploy::DEFAULT_TREASURY])
    {
        assert_eq!(
            emb.balance_of(who).await?,
            evm.balance_of(who).await?,
            "balance of {who}"
        );
    }
    assert_eq!(emb.totals().await?, evm.totals().await?);
    let ev_a: Vec<_> = emb
        .events_since(0)
        .await?
        .into_iter()
        .map(|e| e.event)
        .collect();
    let ev_b: Vec<_> = evm
        .events_since(0)
        .await?
        .into_iter()
        .map(|e| e.event)
        .collect();
    assert_eq!(ev_a.len(), ev_b.len());
    assert_eq!(ev_a, ev_b);
    check_conservation(&emb, &acc).await?;
    println!(
        "differential: {i} operations, {n_ok} succeeded, {} jobs, {} disputes, {} events",
        gen_.jobs,
        gen_.disputes,
        ev_a.len()
    );
    println!(
        "differential: {n_random} random operations, {n_dispute} on the dispute path \
         ({:.1}%), {n_dispute_ok} of them succeeded; {n_registry_ok} registry operations succeeded",
        100.0 * n_dispute as f64 / n_random.max(1) as f64
    );
    Ok(())
}
