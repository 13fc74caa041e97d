//! The network actor over real QUIC on loopback: a signed message from the connection's own
//! key reaches the job's handler; requests signed by another key or for an unknown job are
//! refused (the requester sees the reason) and counted.

use std::time::Duration;

use pinpoint_actors::network::{self, NetCounters, Network, NetworkArgs, NetworkMsg, Routed};
use pinpoint_net::{Identity, NetConfig, NetError, NoBlobs, QuicNode, Transport};
use pinpoint_protocol::codec::{Frame, Limits};
use pinpoint_protocol::id::{JobId, NodeKey};
use pinpoint_protocol::wire::{Message, StepQuery};
use ractor::Actor;
use std::sync::Arc;

const JOB: JobId = [4; 32];
/// Deadline of the test's request: a bound on a failure, not a delay.
const DEADLINE: Duration = Duration::from_secs(30);

fn seed(n: u8) -> [u8; 32] {
    let mut s = [n; 32];
    s[0] = 0x5A;
    s
}

fn signed(key: &NodeKey, job: JobId, seq: u64) -> Frame {
    let m = Message::StepQuery(StepQuery { round: 0, step: 1 })
        .sign(key, job, 0, seq)
        .expect("sign");
    Frame::seal(&m).expect("seal")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quic_frames_are_authenticated_once_and_routed() {
    let a_id = Identity::from_seed(seed(1)).expect("identity");
    let a_key = a_id.node_key().clone();
    let b_id = Identity::from_seed(seed(2)).expect("identity");
    let (a, _a_in) = QuicNode::bind(a_id, NetConfig::default(), Arc::new(NoBlobs)).expect("a");
    let (b, b_in) = QuicNode::bind(b_id, NetConfig::default(), Arc::new(NoBlobs)).expect("b");
    let (inbox, rx) = network::inbox(8);
    let _feeder = network::feed(b_in, inbox.clone());
    let args = NetworkArgs {
        inbox: rx,
        inbox_tx: inbox,
        limits: Limits::default(),
        replay_capacity: 64,
    };
    let (net, _) = Network::spawn(None, Network, args).await.expect("network");
    let (handler, mut delivered) = pinpoint_actors::testkit::forward::<Routed>()
        .await
        .expect("handler");
    net.send_message(NetworkMsg::Register(JOB, handler.get_derived()))
        .expect("register");
    let b_node = b.local_id();
    for (id, r) in a
        .bootstrap(&[(b_node, b.local_addr().expect("addr"))])
        .await
    {
        r.unwrap_or_else(|e| panic!("dial {id}: {e}"));
    }
    // Signed by a third key but sent over a's connection: refused. (Requests, so that each
    // is handled before the next is sent.)
    let other = NodeKey::from_seed([9; 32]);
    let refused = a
        .request(b_node, signed(&other, JOB, 1), DEADLINE)
        .await
        .expect_err("refused");
    assert!(
        matches!(&refused, NetError::Refused(r) if r.contains("signed by")),
        "{refused}"
    );
    // A request for a job b does not route: refused, and a hears why.
    let refused = a
        .request(b_node, signed(&a_key, [8; 32], 1), DEADLINE)
        .await
        .expect_err("refused");
    assert!(
        matches!(&refused, NetError::Refused(r) if r.contains("unknown job")),
        "{refused}"
    );
    // a's own message for the job: delivered, once.
    a.send(b_node, signed(&a_key, JOB, 1)).await.expect("sent");
    let got = delivered.recv().await.expect("delivered");
    assert_eq!((got.from, got.message.seq), (a.local_id(), 1));
    let c = ractor::call!(net, NetworkMsg::Counters).expect("counters");
    assert_eq!(
        c,
        NetCounters {
            delivered: 1,
            signer_mismatch: 1,
            unknown_job: 1,
            ..NetCounters::default()
        }
    );
}
