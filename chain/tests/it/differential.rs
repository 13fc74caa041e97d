//! The same random sequence of 400 operations on `Embedded` and on anvil: the same outcome
//! (events or decoded error) for every operation, and the same balances, totals and event
//! history at the end.

use alloy::providers::Provider;
use anyhow::Result;
use pinpoint_chain::{
    Call, ChainEvent, Embedded, Settlement, bindings::JobMarket::JobMarketEvents,
};

use crate::{common::*, ops::OpGen};

/// The one field that legitimately differs: a sampling seed comes from a block hash (anvil's
/// real headers, the embedded chain's `keccak256(number)`) and names its block (anvil mines a
/// block per clock move). Both are blanked; everything else must be equal.
fn normalized(events: &[ChainEvent]) -> Vec<ChainEvent> {
    events
        .iter()
        .map(|e| match e {
            ChainEvent::Market(JobMarketEvents::SeedFixed(s)) => {
                let mut s = s.clone();
                s.seed = Default::default();
                s.fromBlock = 0;
                ChainEvent::Market(JobMarketEvents::SeedFixed(s))
            }
            other => other.clone(),
        })
        .collect()
}

fn is_dispute_path(call: &Call) -> bool {
    matches!(
        call,
        Call::OpenDispute { .. }
            | Call::Vote { .. }
            | Call::Rule { .. }
            | Call::Challenge { .. }
            | Call::DisputeNext { .. }
            | Call::Redraw { .. }
            | Call::FixSeed { .. }
    )
}

fn count(events: &[ChainEvent], pred: impl Fn(&JobMarketEvents) -> bool) -> usize {
    events
        .iter()
        .filter(|e| matches!(e, ChainEvent::Market(m) if pred(m)))
        .count()
}

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
    // Among the random operations: disputes opened (by a trainer, `disputeNext`, a verifier's
    // challenge), decided (of which "both lose"), committees re-drawn, disputes expired.
    let (mut opened, mut challenges, mut verdicts, mut both_lose, mut redrawn, mut expired) =
        (0, 0, 0, 0, 0, 0);
    let mut i = 0;
    while i < script.len() || i < 400 {
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
                assert_eq!(
                    normalized(&x.events),
                    normalized(&y.events),
                    "op {i} {call:?}: events differ"
                );
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
            if is_dispute_path(&call) {
                n_dispute += 1;
                n_dispute_ok += usize::from(a.is_ok());
            }
            if let Ok(r) = &a {
                let ev = &r.events;
                opened += count(ev, |m| matches!(m, JobMarketEvents::DisputeOpened(_)));
                challenges += count(ev, |m| matches!(m, JobMarketEvents::Challenged(_)));
                verdicts += count(ev, |m| matches!(m, JobMarketEvents::Verdict(_)));
                both_lose += count(
                    ev,
                    |m| matches!(m, JobMarketEvents::Verdict(v) if v.ruling == 2),
                );
                redrawn += count(ev, |m| matches!(m, JobMarketEvents::CommitteeRedrawn(_)));
                expired += count(ev, |m| matches!(m, JobMarketEvents::DisputeExpired(_)));
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
    // The random (unscripted) operations reach the dispute paths and succeed on them.
    assert!(opened >= 2, "random operations opened {opened} disputes");
    assert!(challenges >= 1, "no random verifier challenge succeeded");
    assert!(verdicts >= 1, "no random dispute was decided");
    assert!(both_lose >= 1, "no random \"both lose\" ruling");
    assert!(redrawn >= 1, "no random committee was re-drawn");
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
    assert_eq!(normalized(&ev_a), normalized(&ev_b));
    // A follower that is up to date polls from past the newest block: nothing, not an error.
    assert!(emb.events_since(1 << 40).await?.is_empty());
    assert!(evm.events_since(1 << 40).await?.is_empty());
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
    println!(
        "differential: random disputes: {opened} opened ({challenges} by a verifier's \
         challenge), {verdicts} decided ({both_lose} both lose), {redrawn} committees re-drawn, \
         {expired} expired"
    );
    Ok(())
}
