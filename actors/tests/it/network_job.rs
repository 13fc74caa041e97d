//! A network in one process ([`pinpoint_actors::devnet`]): a submitter, three trainers (the
//! second cheating by its arguments), two verifiers and three arbiters, each a separate node
//! assembly on its own QUIC endpoint on loopback, on one shared embedded chain. A job is
//! posted; the trainers fetch its spec from the submitter over QUIC, accept, train (the honest
//! ones through their executors), commit; the disagreeing roots are disputed on chain, each
//! arbiter of the committee referees over QUIC with signed messages and votes, and the job is
//! finalized: the cheater is slashed, the honest trainers paid, and the token conserved.

use std::time::Duration;

use pinpoint_actors::conduct::job_key;
use pinpoint_actors::conduct::{Cheat, JobState, Observed, Probe, Settled};
use pinpoint_actors::devnet::{Devnet, LocalNode, Plan, Terms};
use pinpoint_actors::network::NetworkMsg;
use pinpoint_chain::bindings::JobMarket::JobMarketEvents;
use pinpoint_chain::{ChainEvent, Role, Ruling, Settlement, U256};
use pinpoint_net::{Identity, NetConfig, NoBlobs, QuicNode, Transport};
use pinpoint_protocol::codec::Frame;
use pinpoint_protocol::fees;
use pinpoint_protocol::role::arbiter::dispute_scope;
use pinpoint_protocol::wire::{Message, StepQuery};
use std::sync::Arc;

use crate::common;

const STEPS: u64 = 6;

async fn report(net: &Devnet) -> String {
    let mut out = String::new();
    for n in &net.nodes {
        out.push_str(&format!("{} {:?}\n", n.name, n.status().await));
    }
    out
}

async fn wait_final(net: &Devnet, job: u64) -> bool {
    for _ in 0..1_200 {
        let st = net.submitter().status().await.expect("status");
        if st
            .jobs
            .iter()
            .any(|(j, s)| *j == job && *s == JobState::Finalized)
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

/// The standard devnet with trainer 2 cheating at step 3, node 2. The replicas' own dispute
/// is the path under test: the verifiers do not sample (the sampling path has its own test).
async fn cheater_devnet(dir: &std::path::Path) -> Devnet {
    let mut plan = Plan::standard(dir, Some(Cheat { step: 3, node: 2 }));
    plan.samples = 0;
    Devnet::start(&plan).await.expect("devnet starts")
}

/// The chain's totals and the cheater's (trainer 2's) active stake, before the job.
async fn totals_and_cheater_stake(net: &Devnet) -> (pinpoint_chain::Totals, U256) {
    let cheater = net.with_role(Role::Trainer).nth(1).expect("trainer 2");
    let c = net.chain.lock().await;
    let p = c
        .position(cheater.account, Role::Trainer)
        .await
        .expect("position");
    (c.totals().await.expect("totals"), p.active)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cheating_trainer_is_disputed_over_quic_slashed_and_the_honest_are_paid() {
    let dir = tempfile::tempdir().expect("tempdir");
    let net = cheater_devnet(dir.path()).await;
    let trainers: Vec<&LocalNode> = net.with_role(Role::Trainer).collect();
    let terms = Terms::standard(3);
    let (before, stake_before) = totals_and_cheater_stake(&net).await;
    let mut events = net.subscribe();
    let job = net
        .post_job(&common::spec(STEPS), terms)
        .await
        .expect("posted");
    let finalized = wait_final(&net, job).await;
    let report = report(&net).await;
    assert!(finalized, "job not finalized:\n{report}");
    let market = net.chain.lock().await.addresses().market;
    assert_settled_per_fees(&net, before, stake_before, terms, &report).await;
    // The bisection was observable: step queries, the node phase at step 2, node queries.
    let mut seen = Vec::new();
    while let Ok((_, e)) = events.try_recv() {
        seen.push(e);
    }
    let probes: Vec<Probe> = seen
        .iter()
        .filter_map(|e| match e {
            Observed::Query { probe, .. } => Some(*probe),
            _ => None,
        })
        .collect();
    assert!(
        probes.iter().any(|p| matches!(p, Probe::Step(_))),
        "{probes:?}"
    );
    assert!(
        probes
            .iter()
            .any(|p| matches!(p, Probe::NodePhase { lo: 2, .. })),
        "{probes:?}"
    );
    assert!(
        probes.iter().any(|p| matches!(p, Probe::Node(_))),
        "{probes:?}"
    );
    assert!(seen.iter().any(|e| matches!(
        e,
        Observed::Verdict {
            ruling: 1,
            step: 2,
            node: 2,
            settled: Settled::Recomputed,
            ..
        }
    )));
    assert!(
        seen.iter()
            .any(|e| matches!(e, Observed::Step { step: STEPS, .. }))
    );
    for t in &trainers {
        assert_eq!(t.status().await.expect("status").trained, 1);
    }

    // Bad input from a rogue peer, sent to an arbiter after the verdict: a forged signature,
    // a message for a job the arbiter has no part in, an oversized frame, and a replay of a
    // message under the dispute's scope. Each is refused (or placed nowhere) and counted,
    // and nothing on chain changes.
    let arbiter = net.with_role(Role::Arbiter).next().expect("arbiter");
    let txs_before = c_totals_and_status(&net).await;
    let net_actor = arbiter.assembly.network.get().expect("network actor");
    // (A party's duplicate answer to a re-asked query may already count as replayed: the
    // rogue's refusals are counted from here.)
    let base = ractor::call!(net_actor, NetworkMsg::Counters).expect("counters");
    let unplaced_before = arbiter.status().await.expect("status").unplaced;
    let rogue_id = Identity::from_seed([0xEE; 32]).expect("identity");
    let rogue_key = rogue_id.node_key().clone();
    let (rogue, _rogue_in) =
        QuicNode::bind(rogue_id, NetConfig::default(), Arc::new(NoBlobs)).expect("rogue");
    rogue.book().insert(arbiter.node, arbiter.addr);
    let scope = dispute_scope(&job_key(net.chain_id, market, job), 1);
    let msg = || Message::StepQuery(StepQuery { round: 0, step: 1 });
    let mut forged = msg().sign(&rogue_key, scope, 0, 1).expect("sign");
    forged.signature[0] ^= 1;
    let frames = [
        Frame::seal(&forged).expect("seal"),
        Frame::seal(&msg().sign(&rogue_key, [0x77; 32], 0, 2).expect("sign")).expect("seal"),
        Frame::seal(&msg().sign(&rogue_key, scope, 0, 3).expect("sign")).expect("seal"),
        Frame::seal(&msg().sign(&rogue_key, scope, 0, 3).expect("sign")).expect("seal"),
    ];
    for f in frames {
        rogue.send(arbiter.node, f).await.expect("sent");
    }
    let huge = Frame {
        version: pinpoint_protocol::codec::PROTOCOL_VERSION,
        kind: 0,
        body: vec![0; pinpoint_protocol::codec::MAX_FRAME_BYTES + 1],
    };
    assert!(
        rogue.send(arbiter.node, huge).await.is_err(),
        "an oversized frame is not sent"
    );
    let refused = |c: &pinpoint_actors::network::NetCounters| {
        (
            c.bad_signature - base.bad_signature,
            c.unknown_job - base.unknown_job,
            c.replayed - base.replayed,
        )
    };
    let mut counters = ractor::call!(net_actor, NetworkMsg::Counters).expect("counters");
    // (The message for an unknown job is parked for `PARK_MS` before it is refused.)
    for _ in 0..400 {
        if refused(&counters) == (1, 1, 1) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        counters = ractor::call!(net_actor, NetworkMsg::Counters).expect("counters");
    }
    assert_eq!(refused(&counters), (1, 1, 1), "{counters:?}");
    // The one well-formed message reached the conductor, which has no place for it (the
    // rogue is no party of the dispute).
    let st = arbiter.status().await.expect("status");
    assert_eq!(st.unplaced, unplaced_before + 1, "{st:?}");
    assert_eq!(
        c_totals_and_status(&net).await,
        txs_before,
        "nothing changed on chain"
    );
}

/// The dispute between the lowest honest trainer and the cheater (trainer 2, its wrong
/// operator at step 2, node 2) was won by the challenger, and the chain paid exactly as
/// `pinpoint_protocol::fees` says: the cheater's bond slashed, the honest trainers paid,
/// the majority arbiters' share, the treasury, the burn; no escrow left, the token conserved.
async fn assert_settled_per_fees(
    net: &Devnet,
    before: pinpoint_chain::Totals,
    stake_before: U256,
    terms: Terms,
    report: &str,
) {
    let trainers: Vec<&LocalNode> = net.with_role(Role::Trainer).collect();
    let c = net.chain.lock().await;
    let after = c.totals().await.expect("totals");
    let mut verdict = None;
    for e in c.events_since(0).await.expect("events") {
        if let ChainEvent::Market(JobMarketEvents::Verdict(v)) = &e.event {
            verdict = Some(v.clone());
        }
    }
    // One dispute: the honest challenger (the lowest address) beat the cheater by re-running
    // the one operator the cheater corrupted (step 3 is step 2 → 3 of the graph; node 2).
    assert_eq!(after.disputes, 1, "{report}");
    let v = verdict.expect("a verdict");
    assert_eq!(v.ruling, Ruling::ChallengerWins as u8, "{report}");
    assert_eq!(
        (v.challenger, v.defendant),
        (trainers[0].account, trainers[1].account)
    );
    assert_eq!((v.finding.step, v.finding.node), (2, 2), "{report}");
    assert_eq!(v.finding.refereeHash, v.finding.challengerHash);
    assert_ne!(v.finding.refereeHash, v.finding.defendantHash);
    // A majority of the committee voted, each arbiter once.
    let mut voters = Vec::new();
    for e in c.events_since(0).await.expect("events") {
        if let ChainEvent::Market(JobMarketEvents::VoteCast(v)) = &e.event {
            assert!(!voters.contains(&v.arbiter), "{} voted twice", v.arbiter);
            voters.push(v.arbiter);
        }
    }
    assert!(
        voters.len() >= 2,
        "a majority of the committee ruled: {voters:?}\n{report}"
    );
    // The cheater lost its bond; the honest trainers kept their stakes and were paid.
    let cheater = c
        .position(trainers[1].account, Role::Trainer)
        .await
        .expect("position");
    assert_eq!(cheater.active, stake_before - terms.bond);
    assert_eq!(cheater.locked, U256::ZERO);
    // Payouts exactly as `pinpoint_protocol::fees`: the payment less the fee, split equally
    // between the two honest trainers (the remainder to the lowest address, trainer 1), and
    // the winner's part of the cheater's bond to the challenger (trainer 1).
    let payment = u128::try_from(terms.payment).expect("small");
    let bond = u128::try_from(terms.bond).expect("small");
    let split = fees::fee_split(payment).expect("fee");
    let (share, rest) = fees::equal_shares(split.to_trainers, 2).expect("shares");
    // Two of the three arbiters make the majority (the third vote comes after the verdict).
    let slash = fees::slash_split(bond, true, 2).expect("slash");
    let funded = 9_800 * pinpoint_chain::PIN; // 10 000 funded, 200 staked
    let expected = [funded + share + rest + slash.to_winner, funded + share];
    for (honest, want) in [trainers[0], trainers[2]].into_iter().zip(expected) {
        let pos = c
            .position(honest.account, Role::Trainer)
            .await
            .expect("position");
        assert_eq!(pos.active, stake_before, "honest stake intact");
        assert_eq!(pos.locked, U256::ZERO);
        let bal = c.balance_of(honest.account).await.expect("balance");
        assert_eq!(
            bal,
            U256::from(want),
            "{} paid per protocol::fees",
            honest.name
        );
    }
    let treasury = c
        .balance_of(pinpoint_chain::deploy::DEFAULT_TREASURY)
        .await
        .expect("treasury");
    assert_eq!(treasury, U256::from(split.treasury));
    assert_eq!(
        after.burned - before.burned,
        U256::from(split.burn + slash.burn)
    );
    // The majority arbiters shared the arbiters' part of the slash.
    let mut arbiters_gain = U256::ZERO;
    for a in net.with_role(Role::Arbiter) {
        let bal = c.balance_of(a.account).await.expect("balance");
        arbiters_gain += bal - U256::from(9_000 * pinpoint_chain::PIN); // 10 000 − 1 000 staked
    }
    assert_eq!(arbiters_gain, U256::from(slash.to_arbiters));
    // Conservation: no escrow left, the fee's burn accounted.
    assert_eq!(after.escrow, before.escrow);
    assert_eq!(after.total_supply, after.initial_supply - after.burned);
    assert!(after.burned > before.burned);
}

/// Actors killed mid-job are restarted by their nodes' supervisors and the job settles
/// exactly as without them, each transaction on chain once: an honest trainer's settlement
/// actor while it trains (it commits through the new incarnation), that trainer's conductor
/// once the dispute it opened is running (the new one replays the chain, re-runs the job from
/// its checkpoints and answers the referees), and one arbiter's conductor while it referees.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actors_killed_mid_job_are_restarted_and_the_job_settles_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let net = cheater_devnet(dir.path()).await;
    let trainers: Vec<&LocalNode> = net.with_role(Role::Trainer).collect();
    let arbiter = net.with_role(Role::Arbiter).next().expect("arbiter");
    let terms = Terms::standard(3);
    let (before, stake_before) = totals_and_cheater_stake(&net).await;
    let mut events = net.subscribe();
    let job = net
        .post_job(&common::spec(STEPS), terms)
        .await
        .expect("posted");
    let challenger = 0; // trainer-1, the lowest address, disputes the cheater
    let kill = |what: Option<ractor::ActorCell>, name: &str| {
        let cell = what.unwrap_or_else(|| panic!("{name} is running"));
        cell.kill();
    };
    let (mut settlement_killed, mut party_killed, mut referee_killed) = (false, false, false);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(300);
    while !(settlement_killed && party_killed && referee_killed) {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let Ok(Ok((who, e))) = tokio::time::timeout(left, events.recv()).await else {
            panic!(
                "the kills did not all happen: settlement {settlement_killed}, party \
                 {party_killed}, referee {referee_killed}\n{}",
                report(&net).await
            );
        };
        let who = &net.nodes[who];
        match e {
            Observed::Step { step: 2, .. }
                if who.node == trainers[challenger].node && !settlement_killed =>
            {
                let s = trainers[challenger].settlement.get().map(|a| a.get_cell());
                kill(s, "trainer-1's settlement actor");
                settlement_killed = true;
            }
            Observed::Refereeing { .. } if who.node == arbiter.node && !referee_killed => {
                kill(
                    arbiter.conductor.get().map(|a| a.get_cell()),
                    "arbiter-1's conductor",
                );
                referee_killed = true;
            }
            Observed::Query { .. } if referee_killed && !party_killed => {
                let c = trainers[challenger].conductor.get().map(|a| a.get_cell());
                kill(c, "trainer-1's conductor");
                party_killed = true;
            }
            _ => {}
        }
    }
    let finalized = wait_final(&net, job).await;
    let report = report(&net).await;
    assert!(finalized, "job not finalized:\n{report}");
    assert_settled_per_fees(&net, before, stake_before, terms, &report).await;
    // Each trainer accepted and committed once, and the job was finalized once.
    let c = net.chain.lock().await;
    let (mut accepted, mut committed, mut finalized) = (Vec::new(), Vec::new(), 0);
    for e in c.events_since(0).await.expect("events") {
        match &e.event {
            ChainEvent::Market(JobMarketEvents::JobAccepted(a)) => accepted.push(a.trainer),
            ChainEvent::Market(JobMarketEvents::RootCommitted(r)) => committed.push(r.trainer),
            ChainEvent::Market(JobMarketEvents::JobFinalized(_)) => finalized += 1,
            _ => {}
        }
    }
    for t in &trainers {
        assert_eq!(accepted.iter().filter(|a| **a == t.account).count(), 1);
        assert_eq!(committed.iter().filter(|a| **a == t.account).count(), 1);
    }
    assert_eq!(finalized, 1);
    drop(c);
    // The supervisors restarted what was killed.
    for (node, n) in [(trainers[challenger], 2), (arbiter, 1)] {
        let restarts = node.assembly.handle.restarts().await.expect("supervisor");
        assert!(restarts >= n, "{}: {restarts} restarts", node.name);
    }
}

/// The chain's totals and transaction count (to show that bad input changed nothing).
async fn c_totals_and_status(net: &Devnet) -> (pinpoint_chain::Totals, u64) {
    let c = net.chain.lock().await;
    (c.totals().await.expect("totals"), c.block_number())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_cheating_trainer_is_caught_by_a_verifiers_sample_and_slashed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut plan = Plan::standard(dir.path(), Some(Cheat { step: 1, node: 2 }));
    plan.trainers = 1;
    plan.cheater = 1;
    plan.samples = 2;
    let net = Devnet::start(&plan).await.expect("devnet starts");
    let trainer = net.with_role(Role::Trainer).next().expect("a trainer");
    let mut terms = Terms::standard(1);
    // Time for the verifiers to sample, re-run, run the job themselves and challenge.
    terms.window_secs = 1_200;
    let (before, stake_before, sub_before) = {
        let c = net.chain.lock().await;
        let totals = c.totals().await.expect("totals");
        let p = c
            .position(trainer.account, Role::Trainer)
            .await
            .expect("position");
        let b = c
            .balance_of(net.submitter().account)
            .await
            .expect("balance");
        (totals, p, b)
    };
    let job = net
        .post_job(&common::spec(STEPS), terms)
        .await
        .expect("posted");
    let finalized = wait_final(&net, job).await;
    let report = report(&net).await;
    assert!(finalized, "job not finalized:\n{report}");
    let c = net.chain.lock().await;
    let after = c.totals().await.expect("totals");
    let mut verdict = None;
    for e in c.events_since(0).await.expect("events") {
        if let ChainEvent::Market(JobMarketEvents::Verdict(v)) = &e.event {
            verdict = Some(v.clone());
        }
    }
    let v = verdict.expect("a verdict");
    let verifiers: Vec<&LocalNode> = net.with_role(Role::Verifier).collect();
    assert!(
        verifiers.iter().any(|x| x.account == v.challenger),
        "a verifier challenged: {v:?}\n{report}"
    );
    assert_eq!(v.defendant, trainer.account);
    assert_eq!(v.ruling, Ruling::ChallengerWins as u8, "{report}");
    // Step 1's graph is step 0 → 1; the cheater corrupted its operator 2.
    assert_eq!((v.finding.step, v.finding.node), (0, 2), "{report}");
    // The cheater lost its bond; nobody honest trained, so the submitter is refunded in full.
    let pos = c
        .position(trainer.account, Role::Trainer)
        .await
        .expect("position");
    assert_eq!(pos.active, stake_before.active - terms.bond);
    assert_eq!(pos.locked, U256::ZERO);
    let sub_after = c
        .balance_of(net.submitter().account)
        .await
        .expect("balance");
    assert_eq!(sub_after, sub_before, "the payment came back");
    // The winning verifier's bond is free again and it was paid from the slash.
    let winner = c
        .position(v.challenger, Role::Verifier)
        .await
        .expect("position");
    assert_eq!(winner.locked, U256::ZERO);
    assert_eq!(after.escrow, before.escrow);
    assert_eq!(after.total_supply, after.initial_supply - after.burned);
}

/// Two jobs posted back to back: every trainer's executor is busy with the first when the
/// second is assigned; the second waits for the executor instead of being dropped, and both
/// are finalized.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_assigned_while_the_executor_is_busy_waits_and_finishes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut plan = Plan::standard(dir.path(), None);
    plan.samples = 0;
    let net = Devnet::start(&plan).await.expect("devnet starts");
    let first = net
        .post_job(&common::spec(STEPS * 50), Terms::standard(3))
        .await
        .expect("posted");
    let second = net
        .post_job(&common::spec(STEPS), Terms::standard(3))
        .await
        .expect("posted");
    for job in [first, second] {
        let finalized = wait_final(&net, job).await;
        assert!(
            finalized,
            "job {job} not finalized:\n{}",
            report(&net).await
        );
    }
    for t in net.with_role(Role::Trainer) {
        assert_eq!(t.status().await.expect("status").trained, 2, "{}", t.name);
    }
}
