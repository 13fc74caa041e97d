//! The settlement actor against an in-memory embedded chain: receipts, events in order from a
//! persisted cursor, typed errors for reverts, and restarts (killed between intents, crashed
//! after an intent and after a send) that neither lose nor repeat a transaction; start-up
//! staking and registration, idempotent across a crash and a restart; the embedded clock.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use pinpoint_actors::config::{NodeConfig, SupervisionConfig};
use pinpoint_actors::settlement::{
    ChainClock, ChainHandle, ChainNotice, EnrollReport, Enrollment, FaultPoint, SettlementActor,
    SettlementArgs, SettlementCounters, SettlementError, SettlementFault, SettlementMsg,
    SettlementStats,
};
use pinpoint_actors::supervisor::{ChildSpec, NodeHandle};
use pinpoint_actors::testkit;
use pinpoint_chain::deploy::DEFAULT_DEPLOYER;
use pinpoint_chain::embedded::GENESIS_TIME;
use pinpoint_chain::{
    Address, Call, ChainError, DeployConfig, Embedded, LoggedEvent, NodeKey, PIN, Receipt, Role,
    Settlement, Spender, U256, registered_nodes,
};
use ractor::rpc::CallResult;
use ractor::{Actor, ActorRef};
use tokio::sync::mpsc;

type Chain = ChainHandle<Embedded>;

fn chain() -> Chain {
    ChainHandle::new(Embedded::in_memory(&DeployConfig::default()).expect("chain deploys"))
}

fn pin(n: u128) -> U256 {
    U256::from(n * PIN)
}

const NODE: Address = Address::repeat_byte(0x42);

async fn fund(chain: &Chain, who: Address, amount: U256) {
    chain
        .lock()
        .await
        .send_sync(DEFAULT_DEPLOYER, &Call::Transfer { to: who, amount })
        .expect("funding");
}

/// Transactions on the chain (each embedded transaction is one block) and all its events.
async fn tally(chain: &Chain) -> (u64, Vec<LoggedEvent>) {
    let c = chain.lock().await;
    (c.block_number(), c.events_since(0).await.expect("events"))
}

fn args(chain: &Chain, dir: &Path, counters: &Arc<SettlementCounters>) -> SettlementArgs<Embedded> {
    SettlementArgs {
        chain: chain.clone(),
        account: NODE,
        dir: dir.to_path_buf(),
        subscribers: Vec::new(),
        from_block: 0,
        poll_interval: None,
        clock: ChainClock::Observe,
        counters: Arc::clone(counters),
        fault: None,
    }
}

async fn spawn(args: SettlementArgs<Embedded>) -> ActorRef<SettlementMsg> {
    let (actor, _) = Actor::spawn(None, SettlementActor::<Embedded>::new(), args)
        .await
        .expect("settlement actor starts");
    actor
}

/// Submits and waits; `None` when the actor died before answering.
async fn submit(
    actor: &ActorRef<SettlementMsg>,
    key: &str,
    call: Call,
) -> Option<Result<Receipt, SettlementError>> {
    let key = key.to_string();
    match actor
        .call(
            move |p| SettlementMsg::Submit {
                key,
                call,
                reply: Some(p),
            },
            None,
        )
        .await
    {
        Ok(CallResult::Success(r)) => Some(r),
        _ => None,
    }
}

async fn poll(actor: &ActorRef<SettlementMsg>) -> u64 {
    ractor::call!(actor, |p| SettlementMsg::Poll(Some(p)))
        .expect("answers")
        .expect("poll")
}

async fn stats(actor: &ActorRef<SettlementMsg>) -> SettlementStats {
    ractor::call!(actor, SettlementMsg::Stats).expect("answers")
}

async fn stop(actor: ActorRef<SettlementMsg>) {
    actor.stop_and_wait(None, None).await.expect("stops");
}

fn approve(n: u128) -> Call {
    Call::Approve {
        spender: Spender::Staking,
        amount: pin(n),
    }
}

fn stake(n: u128) -> Call {
    Call::Stake {
        role: Role::Trainer,
        amount: pin(n),
    }
}

fn drain(rx: &mut mpsc::UnboundedReceiver<ChainNotice>) -> Vec<LoggedEvent> {
    let mut out = Vec::new();
    while let Ok(ChainNotice::Event(e)) = rx.try_recv() {
        out.push(e);
    }
    out
}

#[tokio::test]
async fn submissions_get_receipts_and_subscribers_see_every_event_once_in_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let chain = chain();
    fund(&chain, NODE, pin(500)).await;
    let counters = Arc::default();
    let (sub, mut rx) = testkit::forward::<ChainNotice>().await.expect("subscriber");
    let mut a = args(&chain, dir.path(), &counters);
    a.subscribers = vec![sub.get_derived().into()];
    let actor = spawn(a.clone()).await;

    let r = submit(&actor, "approve", approve(300))
        .await
        .expect("answer");
    let r = r.expect("approve included");
    assert_eq!(r.block, chain.lock().await.block_number());
    let r2 = submit(&actor, "stake", stake(300)).await.expect("answer");
    assert_eq!(r2.expect("stake included").block, r.block + 1);
    let active = chain.lock().await.position(NODE, Role::Trainer).await;
    assert_eq!(active.expect("position").active, pin(300));

    let n = poll(&actor).await;
    let (_, all) = tally(&chain).await;
    assert_eq!(n, all.len() as u64);
    assert!(n > 3, "deployment, funding, approval and stake emit events");
    // Wait for the forwarder to pass on what was delivered (the call above orders us after
    // the deliveries; the forwarder is a separate actor).
    let seen = collect(&mut rx, all.len()).await;
    assert_eq!(seen, all, "every event, in chain order");
    assert_eq!(poll(&actor).await, 0, "nothing new: nothing re-delivered");

    // A new transaction: only its events are delivered.
    submit(&actor, "stake-2", stake(100))
        .await
        .expect("answer")
        .expect_err("no allowance left: refused");
    submit(&actor, "burn", Call::Burn { amount: pin(1) })
        .await
        .expect("answer")
        .expect("burn included");
    let n2 = poll(&actor).await;
    let (_, all2) = tally(&chain).await;
    assert_eq!(n2 as usize, all2.len() - all.len());
    assert_eq!(collect(&mut rx, n2 as usize).await, all2[all.len()..]);
    let s = stats(&actor).await;
    assert_eq!((s.sent, s.failed, s.resumed), (3, 1, 0));
    assert_eq!(s.events_delivered, all2.len() as u64);
    assert_eq!(s.next_block, chain.lock().await.block_number() + 1);
    stop(actor).await;

    // The cursor persisted: a new incarnation delivers nothing old.
    let actor = spawn(a).await;
    assert_eq!(poll(&actor).await, 0);
    assert!(drain(&mut rx).is_empty());
    stop(actor).await;
}

async fn collect(rx: &mut mpsc::UnboundedReceiver<ChainNotice>, n: usize) -> Vec<LoggedEvent> {
    let mut out = Vec::new();
    while out.len() < n {
        match rx.recv().await {
            Some(ChainNotice::Event(e)) => out.push(e),
            None => break,
        }
    }
    out
}

#[tokio::test]
async fn a_reverting_call_is_a_typed_error_and_changes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let chain = chain();
    let counters = Arc::default();
    let actor = spawn(args(&chain, dir.path(), &counters)).await;
    let before = tally(&chain).await;
    let nonce = chain.lock().await.nonce(NODE).await.expect("nonce");

    let err = submit(&actor, "stake", stake(100))
        .await
        .expect("answer")
        .expect_err("no tokens, no approval");
    assert!(
        matches!(err, SettlementError::Chain(ChainError::Reverted { .. })),
        "{err:?}"
    );
    assert_eq!(tally(&chain).await, before, "no transaction, no event");
    assert_eq!(chain.lock().await.nonce(NODE).await.expect("nonce"), nonce);
    assert!(!dir.path().join("intent").exists(), "no intent left behind");
    let s = stats(&actor).await;
    assert_eq!((s.sent, s.failed, s.pending), (0, 1, None));

    // A refused key may be retried once the chain would accept it.
    fund(&chain, NODE, pin(100)).await;
    submit(&actor, "approve", approve(100))
        .await
        .expect("answer")
        .expect("approve");
    submit(&actor, "stake", stake(100))
        .await
        .expect("answer")
        .expect("the same key, now accepted");
    let err = submit(&actor, "", Call::Burn { amount: pin(1) })
        .await
        .expect("answer")
        .expect_err("empty key");
    assert!(matches!(err, SettlementError::InvalidKey(_)), "{err:?}");
    stop(actor).await;
}

#[tokio::test]
async fn killed_between_intents_nothing_is_lost_or_repeated() {
    let dir = tempfile::tempdir().expect("tempdir");
    let chain = chain();
    fund(&chain, NODE, pin(500)).await;
    let counters = Arc::default();
    let a = args(&chain, dir.path(), &counters);
    let (blocks0, events0) = tally(&chain).await;

    let actor = spawn(a.clone()).await;
    for (key, call) in [("approve", approve(300)), ("stake-1", stake(100))] {
        submit(&actor, key, call)
            .await
            .expect("answer")
            .expect("included");
    }
    actor.kill_and_wait(None).await.expect("killed");

    let actor = spawn(a).await;
    // The caller retries everything it is not sure of: the done keys are refused.
    for key in ["approve", "stake-1"] {
        let err = submit(&actor, key, stake(100))
            .await
            .expect("answer")
            .expect_err("already done");
        assert!(
            matches!(err, SettlementError::AlreadyDone { block: Some(_), .. }),
            "{err:?}"
        );
    }
    submit(&actor, "stake-2", stake(200))
        .await
        .expect("answer")
        .expect("included");
    let (blocks1, events1) = tally(&chain).await;
    assert_eq!(blocks1, blocks0 + 3, "three transactions, each once");
    assert!(events1.len() > events0.len());
    let active = chain.lock().await.position(NODE, Role::Trainer).await;
    assert_eq!(active.expect("position").active, pin(300));
    let s = stats(&actor).await;
    assert_eq!((s.sent, s.failed, s.resumed), (3, 0, 0));
    stop(actor).await;
}

/// The actor crashes after its transaction is included and before the outcome is journalled;
/// the supervisor restarts it and the new incarnation records the transaction without sending
/// it again.
#[tokio::test]
async fn crash_after_send_is_recorded_not_resent() {
    let dir = tempfile::tempdir().expect("tempdir");
    let chain = chain();
    fund(&chain, NODE, pin(500)).await;
    let counters = Arc::default();
    let fault = SettlementFault::new(FaultPoint::AfterSend, "stake-1");
    let mut a = args(&chain, dir.path(), &counters);
    a.fault = Some(fault.clone());
    let spec_args = a.clone();
    let (spec, mut child) = ChildSpec::new("settlement", move || {
        (SettlementActor::<Embedded>::new(), spec_args.clone())
    });
    let policy = SupervisionConfig {
        max_restarts: 3,
        window_s: 3600,
    };
    let node = NodeHandle::start(policy, vec![spec]).await.expect("node");
    let first = child.started_after(None).await.expect("started");
    submit(&first, "approve", approve(300))
        .await
        .expect("answer")
        .expect("included");
    let (blocks0, _) = tally(&chain).await;

    assert!(
        submit(&first, "stake-1", stake(100)).await.is_none(),
        "the actor crashed before answering"
    );
    assert!(fault.fired());
    let (blocks1, events1) = tally(&chain).await;
    assert_eq!(
        blocks1,
        blocks0 + 1,
        "the stake was included before the crash"
    );

    let second = child
        .started_after(Some(first.get_id()))
        .await
        .expect("restarted");
    let s = stats(&second).await;
    assert_eq!((s.resumed, s.pending), (1, None));
    assert!(
        !dir.path().join("intent").exists(),
        "the intent is resolved"
    );
    let err = submit(&second, "stake-1", stake(100))
        .await
        .expect("answer")
        .expect_err("the caller's retry is refused");
    assert!(
        matches!(err, SettlementError::AlreadyDone { block: None, .. }),
        "{err:?}"
    );
    assert_eq!(
        tally(&chain).await,
        (blocks1, events1),
        "nothing sent twice"
    );
    let active = chain.lock().await.position(NODE, Role::Trainer).await;
    assert_eq!(active.expect("position").active, pin(100));
    assert_eq!(node.restarts().await, Some(1));
    node.shutdown().await.expect("clean shutdown");
}

/// The actor crashes after journalling its intent and before sending: the next incarnation
/// sends it, once.
#[tokio::test]
async fn crash_after_intent_is_sent_once_by_the_next_incarnation() {
    let dir = tempfile::tempdir().expect("tempdir");
    let chain = chain();
    fund(&chain, NODE, pin(500)).await;
    let counters = Arc::default();
    let fault = SettlementFault::new(FaultPoint::AfterIntent, "stake-1");
    let mut a = args(&chain, dir.path(), &counters);
    a.fault = Some(fault);
    let (actor, join) = Actor::spawn(None, SettlementActor::<Embedded>::new(), a.clone())
        .await
        .expect("starts");
    submit(&actor, "approve", approve(300))
        .await
        .expect("answer")
        .expect("included");
    let (blocks0, _) = tally(&chain).await;
    assert!(
        submit(&actor, "stake-1", stake(100)).await.is_none(),
        "crashed"
    );
    join.await.expect("the actor ended");
    assert_eq!(tally(&chain).await.0, blocks0, "nothing was sent");

    let actor = spawn(a).await;
    assert_eq!(
        tally(&chain).await.0,
        blocks0 + 1,
        "sent by the new incarnation"
    );
    let err = submit(&actor, "stake-1", stake(100))
        .await
        .expect("answer")
        .expect_err("already done");
    assert!(
        matches!(err, SettlementError::AlreadyDone { .. }),
        "{err:?}"
    );
    assert_eq!(tally(&chain).await.0, blocks0 + 1, "and only once");
    let active = chain.lock().await.position(NODE, Role::Trainer).await;
    assert_eq!(active.expect("position").active, pin(100));
    let s = stats(&actor).await;
    assert_eq!((s.resumed, s.sent), (1, 2));
    stop(actor).await;
}

fn roles_config(dir: &Path) -> NodeConfig {
    let text = "[node]\ndata_dir = \"data\"\n[roles.trainer]\nstake_pin = 100\n\
                [roles.arbiter]\nstake_pin = 1000\n";
    NodeConfig::from_toml_str(text, dir, "test").expect("config")
}

async fn enroll(
    actor: &ActorRef<SettlementMsg>,
    e: &Enrollment,
) -> Option<Result<EnrollReport, SettlementError>> {
    let e = e.clone();
    match actor.call(move |p| SettlementMsg::Enroll(e, p), None).await {
        Ok(CallResult::Success(r)) => Some(r),
        _ => None,
    }
}

#[tokio::test]
async fn enrollment_stakes_and_registers_once_across_a_crash_and_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let chain = chain();
    fund(&chain, NODE, pin(5_000)).await;
    let config = roles_config(dir.path());
    let key = NodeKey::from_seed([7; 32]);
    let e = Enrollment::from_roles(&config.roles, key.clone(), "127.0.0.1:7070");
    assert_eq!(
        e.stakes,
        vec![(Role::Trainer, pin(100)), (Role::Arbiter, pin(1_000))]
    );
    let counters = Arc::default();
    let mut a = args(&chain, dir.path(), &counters);
    // Crash right after the arbiter stake is included.
    let stake_key = format!("enroll/stake/arbiter/0/{}", pin(1_000));
    a.fault = Some(SettlementFault::new(FaultPoint::AfterSend, stake_key));

    let actor = spawn(a.clone()).await;
    assert!(enroll(&actor, &e).await.is_none(), "crashed mid-enrollment");
    let blocks0 = tally(&chain).await.0;

    let actor = spawn(a.clone()).await;
    let report = enroll(&actor, &e).await.expect("answer").expect("enrolled");
    assert_eq!(
        report,
        EnrollReport {
            approvals: 0,
            staked: vec![],
            registered: true
        },
        "the stakes were in before the crash; only the registration is sent"
    );
    assert_eq!(tally(&chain).await.0, blocks0 + 1);
    stop(actor).await;

    // A restart: nothing to send.
    let actor = spawn(a).await;
    let report = enroll(&actor, &e).await.expect("answer").expect("enrolled");
    assert_eq!(report, EnrollReport::default());
    assert_eq!(tally(&chain).await.0, blocks0 + 1);

    let c = chain.lock().await;
    assert_eq!(
        c.position(NODE, Role::Trainer).await.expect("pos").active,
        pin(100)
    );
    assert_eq!(
        c.position(NODE, Role::Arbiter).await.expect("pos").active,
        pin(1_000)
    );
    let nodes = registered_nodes(&*c).await.expect("registry");
    assert_eq!(nodes.len(), 1);
    assert_eq!(nodes[0].account, NODE);
    assert_eq!(nodes[0].node_id, key.node_id());
    assert_eq!(nodes[0].roles, vec![Role::Trainer, Role::Arbiter]);
    assert_eq!(nodes[0].endpoint, "127.0.0.1:7070");
    drop(c);
    stop(actor).await;
}

#[tokio::test]
async fn enrollment_without_funds_is_refused_before_sending() {
    let dir = tempfile::tempdir().expect("tempdir");
    let chain = chain();
    fund(&chain, NODE, pin(50)).await;
    let e = Enrollment::from_roles(
        &roles_config(dir.path()).roles,
        NodeKey::from_seed([8; 32]),
        "127.0.0.1:7071",
    );
    let actor = spawn(args(&chain, dir.path(), &Arc::default())).await;
    let before = tally(&chain).await;
    let err = enroll(&actor, &e)
        .await
        .expect("answer")
        .expect_err("underfunded");
    assert!(
        matches!(
            err,
            SettlementError::Underfunded {
                role: Role::Trainer,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(tally(&chain).await, before);
    stop(actor).await;
}

/// With `Drive`, the actor moves the embedded chain's time with tokio's clock (paused here),
/// and its own timer polls.
#[tokio::test(start_paused = true)]
async fn the_actor_drives_an_embedded_clock_and_polls_on_its_own() {
    let dir = tempfile::tempdir().expect("tempdir");
    let chain = chain();
    let (sub, mut rx) = testkit::forward::<ChainNotice>().await.expect("subscriber");
    let mut a = args(&chain, dir.path(), &Arc::default());
    a.clock = ChainClock::Drive(Embedded::set_time);
    a.poll_interval = Some(Duration::from_secs(1));
    a.subscribers = vec![sub.get_derived().into()];
    let actor = spawn(a).await;
    let (_, events) = tally(&chain).await;
    assert_eq!(
        collect(&mut rx, events.len()).await,
        events,
        "the timer's polls deliver the events"
    );
    tokio::time::sleep(Duration::from_secs(30)).await;
    poll(&actor).await;
    assert_eq!(chain.lock().await.time(), GENESIS_TIME + 30);
    stop(actor).await;
}
