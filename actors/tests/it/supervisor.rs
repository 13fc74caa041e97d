//! The restart policy with an actor that panics: one-for-one restarts (a sibling keeps
//! running), then the node stops once the intensity is spent, naming the actor.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use pinpoint_actors::config::SupervisionConfig;
use pinpoint_actors::supervisor::{ChildRef, ChildSpec, NodeError, NodeHandle};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};

/// Panics on `Explode`; `Ping` answers which incarnation it is.
struct Bomb;

enum BombMsg {
    Explode,
    Ping(RpcReplyPort<u32>),
}

impl Actor for Bomb {
    type Msg = BombMsg;
    type State = u32;
    type Arguments = Arc<AtomicU32>;

    async fn pre_start(
        &self,
        _me: ActorRef<BombMsg>,
        starts: Arc<AtomicU32>,
    ) -> Result<u32, ActorProcessingErr> {
        Ok(starts.fetch_add(1, Ordering::SeqCst) + 1)
    }

    async fn handle(
        &self,
        _me: ActorRef<BombMsg>,
        msg: BombMsg,
        incarnation: &mut u32,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            BombMsg::Explode => panic!("boom in incarnation {incarnation}"),
            BombMsg::Ping(reply) => {
                let _ = reply.send(*incarnation);
            }
        }
        Ok(())
    }
}

fn child(name: &str) -> (ChildSpec, ChildRef<BombMsg>, Arc<AtomicU32>) {
    let starts = Arc::new(AtomicU32::new(0));
    let s = Arc::clone(&starts);
    let (spec, r) = ChildSpec::new(name, move || (Bomb, Arc::clone(&s)));
    (spec, r, starts)
}

async fn ping(r: &ChildRef<BombMsg>) -> u32 {
    let a = r.get().expect("running");
    ractor::call!(a, BombMsg::Ping).expect("answers")
}

/// Explodes the child and waits for its next incarnation.
async fn explode(r: &mut ChildRef<BombMsg>) -> Option<ActorRef<BombMsg>> {
    let old = r.get().expect("running");
    old.send_message(BombMsg::Explode).expect("sent");
    r.started_after(Some(old.get_id())).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_for_one_restarts_then_the_limit_stops_the_node() {
    let policy = SupervisionConfig {
        max_restarts: 2,
        window_s: 3600,
    };
    let (bomb_spec, mut bomb, _) = child("bomb");
    let (steady_spec, steady, steady_starts) = child("steady");
    let node = NodeHandle::start(policy, vec![steady_spec, bomb_spec])
        .await
        .expect("starts");
    let steady_id = steady.get().expect("running").get_id();
    assert_eq!(ping(&bomb).await, 1);
    for incarnation in 2..=3 {
        explode(&mut bomb).await.expect("restarted");
        assert_eq!(ping(&bomb).await, incarnation);
        assert_eq!(node.restarts().await, Some(u64::from(incarnation - 1)));
    }
    // The sibling was never restarted.
    assert_eq!(steady.get().expect("running").get_id(), steady_id);
    assert_eq!(ping(&steady).await, 1);
    assert_eq!(steady_starts.load(Ordering::SeqCst), 1);
    // The third failure within the window stops the node.
    bomb.get()
        .expect("running")
        .send_message(BombMsg::Explode)
        .expect("sent");
    let err = node.wait().await.expect_err("the node stops");
    let NodeError::RestartIntensity {
        actor,
        last_failure,
        max_restarts,
        window_s,
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!(
        (actor.as_str(), *max_restarts, *window_s),
        ("bomb", 2, 3600)
    );
    assert!(
        last_failure.contains("boom in incarnation 3"),
        "{last_failure}"
    );
    assert!(err.to_string().contains("`bomb`"), "{err}");
    // Every child was stopped with the node.
    let steady_ref = steady.get().expect("last incarnation");
    steady_ref.wait(None).await.expect("stopped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_stops_children_in_order_and_reports_ok() {
    let (spec, bomb, _) = child("bomb");
    let node = NodeHandle::start(SupervisionConfig::default(), vec![spec])
        .await
        .expect("starts");
    let b = bomb.get().expect("running");
    node.shutdown().await.expect("clean");
    b.wait(None).await.expect("stopped");
}

/// The window is tokio's clock: under a paused runtime, advancing past W lets the next
/// failure restart again, and a second failure within W stops the node.
#[tokio::test(start_paused = true)]
async fn the_restart_window_runs_on_tokio_time() {
    let policy = SupervisionConfig {
        max_restarts: 1,
        window_s: 60,
    };
    let (spec, mut bomb, _) = child("bomb");
    let node = NodeHandle::start(policy, vec![spec]).await.expect("starts");
    explode(&mut bomb).await.expect("restarted");
    tokio::time::advance(std::time::Duration::from_secs(61)).await;
    explode(&mut bomb)
        .await
        .expect("restarted: the first restart left the window");
    assert_eq!(ping(&bomb).await, 3);
    bomb.get()
        .expect("running")
        .send_message(BombMsg::Explode)
        .expect("sent");
    let err = node.wait().await.expect_err("two failures within 60 s");
    assert!(matches!(err, NodeError::RestartIntensity { .. }), "{err}");
}
