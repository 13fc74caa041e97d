//! A network in one process: a submitter, three trainers (one cheating by its arguments), two
//! verifiers and three arbiters, each a separate node assembly (store, executor, network
//! actor, conductor and role shells) on its own QUIC endpoint on loopback, all on one shared
//! embedded chain whose clock a test task moves forward. A job is posted; the trainers fetch
//! its spec from the submitter over QUIC, accept, train (the honest ones through their
//! executors), commit; the disagreeing roots are disputed on chain, each arbiter of the
//! committee referees the dispute over QUIC with signed messages, votes, and the job is
//! finalized: the cheater is slashed, the honest trainers paid, and the token is conserved.

use std::sync::Arc;
use std::time::Duration;

use pinpoint_actors::conduct::{
    Cheat, ConductArgs, ConductMsg, ConductStatus, Conductor, JobState, Me, SharedChain, job_key,
};
use pinpoint_actors::node::{Node, NodeDeps};
use pinpoint_actors::store::RefKey;
use pinpoint_chain::bindings::JobMarket::JobMarketEvents;
use pinpoint_chain::bindings::Staking;
use pinpoint_chain::{
    Address, B256, Call, ChainEvent, DeployConfig, Embedded, JobParams, PIN, Role, Ruling,
    Settlement, Spender, U256, sign_registration,
};
use pinpoint_net::{Identity, NetConfig, QuicNode};
use pinpoint_protocol::dispute::Deadlines;
use pinpoint_protocol::id::NodeId;
use ractor::{Actor, ActorRef};
use tokio::sync::Mutex;

use crate::common;

const STEPS: u64 = 6;
const PAYMENT: u128 = 1_000 * PIN;
const BOND: u128 = 50 * PIN;

fn pin(n: u128) -> U256 {
    U256::from(n * PIN)
}

struct Peer {
    account: Address,
    addr: std::net::SocketAddr,
    node: NodeId,
    conductor: ActorRef<ConductMsg>,
    _node: Node,
    _dir: tempfile::TempDir,
}

async fn send(chain: &SharedChain<Embedded>, from: Address, call: Call) {
    let what = format!("{call:?}");
    chain
        .lock()
        .await
        .send(from, call)
        .await
        .unwrap_or_else(|e| panic!("{what}: {e}"));
}

/// Funds, stakes and registers `account` for `roles`; starts its node.
#[allow(clippy::too_many_arguments)]
async fn start(
    chain: &SharedChain<Embedded>,
    chain_id: u64,
    seed: u8,
    roles: &[Role],
    cheat: Option<Cheat>,
    bootstrap: Vec<(NodeId, std::net::SocketAddr)>,
    spec: Option<&[u8]>,
) -> Peer {
    let account = Address::with_last_byte(0x40 + seed);
    let deployer = pinpoint_chain::deploy::DEFAULT_DEPLOYER;
    send(
        chain,
        deployer,
        Call::Transfer {
            to: account,
            amount: pin(10_000),
        },
    )
    .await;
    for spender in [Spender::Staking, Spender::Market] {
        send(
            chain,
            account,
            Call::Approve {
                spender,
                amount: U256::MAX,
            },
        )
        .await;
    }
    for &role in roles {
        let amount = if role == Role::Arbiter {
            pin(1_000)
        } else {
            pin(200)
        };
        send(chain, account, Call::Stake { role, amount }).await;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let config = common::config(dir.path(), 3);
    let store = Node::open_store(&config).expect("store");
    if let Some(bytes) = spec {
        let d = store
            .lock()
            .expect("store")
            .put(RefKey::spec([seed; 32]), bytes)
            .expect("put spec");
        assert_eq!(
            d.0,
            *blake3::hash(bytes).as_bytes(),
            "blobs are content-addressed"
        );
    }
    let identity = Identity::from_seed([seed; 32]).expect("identity");
    let key = identity.node_key().clone();
    let node = key.node_id();
    let (quic, inbound) =
        QuicNode::bind(identity, NetConfig::default(), Arc::new(store.clone())).expect("bind");
    let addr = quic.local_addr().expect("addr");
    if !roles.is_empty() {
        let endpoint = addr.to_string();
        let registry = chain.lock().await.addresses().staking;
        let reg = sign_registration(&key, chain_id, registry, account, roles, &endpoint)
            .expect("registration");
        send(chain, account, reg).await;
    }
    let me = Me {
        account,
        trainer: roles.contains(&Role::Trainer),
        verifier: roles.contains(&Role::Verifier),
        arbiter: roles.contains(&Role::Arbiter),
        max_steps: 1_000,
        min_payment: U256::from(1),
    };
    let args = ConductArgs {
        key,
        chain: Arc::clone(chain),
        chain_id,
        transport: quic,
        bootstrap,
        me,
        cheat,
        deadlines: Deadlines {
            answer_ms: 5_000,
            max_retries: 2,
        },
        tick: Duration::from_millis(50),
    };
    let (conductor, _) = Actor::spawn(None, Conductor::<Embedded>::default(), args)
        .await
        .expect("conductor");
    let deps = NodeDeps {
        executor_events: conductor.get_derived(),
        fault: None,
        inbound: Some(inbound),
        store: Some(store),
    };
    let n = Node::spawn(&config, deps).await.expect("node");
    conductor
        .send_message(ConductMsg::Attach {
            executor: n.executor.clone(),
            network: n.network.clone(),
        })
        .expect("attach");
    Peer {
        account,
        addr,
        node,
        conductor,
        _node: n,
        _dir: dir,
    }
}

async fn status(p: &Peer) -> ConductStatus {
    ractor::call!(p.conductor, ConductMsg::Status).expect("status")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cheating_trainer_is_disputed_over_quic_slashed_and_the_honest_are_paid() {
    let config = DeployConfig {
        committee_size: 3,
        dispute_timeout: 3_600,
        ..DeployConfig::default()
    };
    let chain: SharedChain<Embedded> =
        Arc::new(Mutex::new(Embedded::in_memory(&config).expect("chain")));
    let chain_id = {
        let c = chain.lock().await;
        let staking = c.addresses().staking;
        let id = c
            .view(staking, Staking::chainIdCall {})
            .await
            .expect("chain id");
        u64::try_from(id).expect("small chain id")
    };
    let spec = common::spec(STEPS);
    let encoded = spec.encode().expect("spec encodes");

    let submitter = start(&chain, chain_id, 1, &[], None, vec![], Some(&encoded)).await;
    // The submitter has no role, so it is not in the registry: the others know it from their
    // bootstrap list, and fetch the job's spec from it.
    let boot = vec![(submitter.node, submitter.addr)];
    let cheat = Cheat { step: 3, node: 2 };
    let mut trainers = Vec::new();
    for (seed, cheat) in [(2, None), (3, Some(cheat)), (4, None)] {
        trainers.push(
            start(
                &chain,
                chain_id,
                seed,
                &[Role::Trainer],
                cheat,
                boot.clone(),
                None,
            )
            .await,
        );
    }
    let mut others = Vec::new();
    for seed in [5, 6] {
        others.push(
            start(
                &chain,
                chain_id,
                seed,
                &[Role::Verifier],
                None,
                boot.clone(),
                None,
            )
            .await,
        );
    }
    for seed in [7, 8, 9] {
        others.push(
            start(
                &chain,
                chain_id,
                seed,
                &[Role::Arbiter],
                None,
                boot.clone(),
                None,
            )
            .await,
        );
    }

    // The chain's clock: one second every 20 ms of the test.
    let clock = {
        let chain = Arc::clone(&chain);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(20)).await;
                let mut c = chain.lock().await;
                let t = c.time() + 1;
                if c.set_time(t).is_err() {
                    break;
                }
            }
        })
    };
    let (before, cheater_stake_before) = {
        let c = chain.lock().await;
        let now = c.time();
        let totals = c.totals().await.expect("totals");
        let stake = c
            .position(trainers[1].account, Role::Trainer)
            .await
            .expect("pos");
        drop(c);
        let params = JobParams {
            spec_hash: B256::from(*blake3::hash(&encoded).as_bytes()),
            payment: U256::from(PAYMENT),
            replicas: 3,
            bond: U256::from(BOND),
            accept_deadline: now + 120,
            commit_deadline: now + 2_000,
            challenge_window: 60,
        };
        send(&chain, submitter.account, Call::PostJob(params)).await;
        (totals, stake)
    };
    let job = 1;
    let key = job_key(chain_id, chain.lock().await.addresses().market, job);
    assert_ne!(key, [0; 32]);

    // Wait for the job to be finalized (every node's book follows the chain).
    let mut last = ConductStatus::default();
    for _ in 0..1_200 {
        last = status(&submitter).await;
        if last
            .jobs
            .iter()
            .any(|(j, s)| *j == job && *s == JobState::Finalized)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    clock.abort();
    let mut report = String::new();
    for p in trainers.iter().chain(others.iter()) {
        report.push_str(&format!("{:?}\n", status(p).await));
    }
    assert!(
        last.jobs
            .iter()
            .any(|(j, s)| *j == job && *s == JobState::Finalized),
        "job not finalized: submitter {last:?}\n{report}"
    );

    let c = chain.lock().await;
    let after = c.totals().await.expect("totals");
    let mut verdict = None;
    for e in c.events_since(0).await.expect("events") {
        if let ChainEvent::Market(JobMarketEvents::Verdict(v)) = &e.event {
            verdict = Some(v.clone());
        }
        let t = format!("{:?}", e.event);
        if t.contains("Verdict") || t.contains("DisputeOpened") || t.contains("Slashed") {
            report.push_str(&format!("{t}\n"));
        }
    }
    // The honest challenger (the lowest address) beat the cheater by re-running the one
    // operator the cheater corrupted: step 3's graph is step 2 → 3, its node 2.
    let v = verdict.expect("a verdict");
    assert_eq!(v.ruling, Ruling::ChallengerWins as u8, "{report}");
    assert_eq!(
        (v.challenger, v.defendant),
        (trainers[0].account, trainers[1].account)
    );
    assert_eq!((v.finding.step, v.finding.node), (2, 2), "{report}");
    assert_ne!(v.finding.refereeHash, v.finding.defendantHash);
    assert_eq!(v.finding.refereeHash, v.finding.challengerHash);
    // One dispute, refereed by the three arbiters, ruled against the cheater.
    assert_eq!(after.disputes, 1, "{report}");
    let verdicts: u64 = {
        let mut n = 0;
        for p in &others {
            n += status(p).await.verdicts;
        }
        n
    };
    assert!(
        verdicts >= 2,
        "a majority of the committee voted: {verdicts}\n{report}"
    );
    // The cheater lost its bond; the honest trainers kept their stakes and were paid.
    let cheater = c
        .position(trainers[1].account, Role::Trainer)
        .await
        .expect("pos");
    assert_eq!(
        cheater.active,
        cheater_stake_before.active - U256::from(BOND)
    );
    assert_eq!(cheater.locked, U256::ZERO);
    let fee = PAYMENT * 50 / 10_000;
    for honest in [&trainers[0], &trainers[2]] {
        let pos = c
            .position(honest.account, Role::Trainer)
            .await
            .expect("pos");
        assert_eq!(pos.active, pin(200), "honest stake intact");
        assert_eq!(pos.locked, U256::ZERO);
        let bal = c.balance_of(honest.account).await.expect("balance");
        // 10 000 funded − 200 staked + its share of the payment (+ the winner's part of the
        // cheater's slash, if it was the challenger or defendant).
        let share = (PAYMENT - fee) / 2;
        assert!(
            bal >= pin(9_800) + U256::from(share),
            "honest trainer paid: {bal}"
        );
    }
    // Conservation: nothing created, the fee's burn accounted, no escrow left.
    assert_eq!(after.escrow, before.escrow);
    assert_eq!(after.total_supply, after.initial_supply - after.burned);
    assert!(after.burned > before.burned);
    // Every trainer trained; the honest ones through their executors.
    for t in &trainers {
        assert_eq!(status(t).await.trained, 1);
    }
}
