//! Bad input from peers: each refusal is counted and changes nothing; good frames reach the
//! job's handler once.

use pinpoint_protocol::codec::Frame;
use pinpoint_protocol::id::NodeKey;
use pinpoint_protocol::wire::{Message, StepQuery};
use ractor::Actor;

use super::*;

const JOB: JobId = [3; 32];

fn key(n: u8) -> NodeKey {
    NodeKey::from_seed([n; 32])
}

fn frame(key: &NodeKey, job: JobId, seq: u64) -> Frame {
    let m = Message::StepQuery(StepQuery { round: 0, step: 7 })
        .sign(key, job, 0, seq)
        .expect("sign");
    Frame::seal(&m).expect("seal")
}

fn message(from: &NodeKey, frame: Frame) -> Inbound {
    Inbound::Message {
        from: from.node_id(),
        frame,
    }
}

/// A network actor with an inbox of 16 frames.
async fn network() -> (ActorRef<NetworkMsg>, Inbox) {
    let (inbox_tx, inbox_rx) = inbox(16);
    let args = NetworkArgs {
        inbox: inbox_rx,
        inbox_tx: inbox_tx.clone(),
        limits: Limits::default(),
        replay_capacity: 1024,
    };
    let (net, _) = Network::spawn(None, Network, args).await.expect("spawn");
    (net, inbox_tx)
}

#[tokio::test]
async fn bad_frames_are_refused_and_counted_good_ones_routed() {
    let (net, inbox_tx) = network().await;
    let (handler, mut delivered) = crate::testkit::forward::<Routed>().await.expect("handler");
    net.send_message(NetworkMsg::Register(JOB, handler.get_derived()))
        .expect("register");
    let (a, b) = (key(1), key(2));
    let good = frame(&a, JOB, 1);
    // Forged: a valid envelope with its signature bytes changed.
    let mut forged: SignedMessage = good.open(&Limits::default()).expect("open");
    forged.seq = 2;
    let forged = Frame::seal(&forged).expect("seal");
    let oversized = Frame {
        body: vec![0; Limits::default().max_frame_bytes + 1],
        ..good.clone()
    };
    let garbage = Frame {
        body: vec![1, 2, 3],
        ..good.clone()
    };
    for inbound in [
        message(&a, good.clone()),          // delivered
        message(&a, good.clone()),          // replayed
        message(&a, forged),                // bad signature
        message(&b, frame(&a, JOB, 5)),     // signed by a, sent by b
        message(&a, frame(&a, [9; 32], 1)), // unknown job: parked, then refused
        message(&a, oversized),             // too large
        message(&a, garbage),               // undecodable
        message(&b, frame(&b, JOB, 1)),     // delivered
    ] {
        inbox_tx.offer(inbound).expect("room");
    }
    let first = delivered.recv().await.expect("first");
    let second = delivered.recv().await.expect("second");
    assert_eq!((first.from, first.message.seq), (a.node_id(), 1));
    assert_eq!((second.from, second.message.seq), (b.node_id(), 1));
    let c = ractor::call!(net, NetworkMsg::Counters).expect("counters");
    assert_eq!(
        c,
        NetCounters {
            delivered: 2,
            replayed: 1,
            bad_signature: 1,
            signer_mismatch: 1,
            parked: 1,
            undecodable: 2,
            ..NetCounters::default()
        }
    );
    // The message for the unknown job is refused once its wait is over.
    tokio::time::sleep(std::time::Duration::from_millis(PARK_MS + PARK_MS / 2)).await;
    let c = ractor::call!(net, NetworkMsg::Counters).expect("counters");
    assert_eq!((c.parked, c.unknown_job), (1, 1));
    assert!(delivered.try_recv().is_err(), "nothing else delivered");
}

#[tokio::test]
async fn a_message_for_a_job_registered_a_moment_later_is_delivered() {
    let (net, inbox_tx) = network().await;
    let a = key(1);
    // A peer read the dispute from the chain first: its message arrives before this node
    // routes the job.
    inbox_tx
        .offer(message(&a, frame(&a, JOB, 1)))
        .expect("room");
    let mut c = ractor::call!(net, NetworkMsg::Counters).expect("counters");
    for _ in 0..100 {
        if c.parked == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        c = ractor::call!(net, NetworkMsg::Counters).expect("counters");
    }
    assert_eq!((c.parked, c.delivered, c.unknown_job), (1, 0, 0));
    let (handler, mut delivered) = crate::testkit::forward::<Routed>().await.expect("handler");
    net.send_message(NetworkMsg::Register(JOB, handler.get_derived()))
        .expect("register");
    let got = delivered
        .recv()
        .await
        .expect("delivered after the registration");
    assert_eq!((got.from, got.message.seq), (a.node_id(), 1));
    let c = ractor::call!(net, NetworkMsg::Counters).expect("counters");
    assert_eq!((c.parked, c.delivered, c.unknown_job), (1, 1, 0));
}

#[tokio::test]
async fn a_full_inbox_refuses_with_a_typed_error_and_a_count() {
    let (inbox_tx, _rx) = inbox(2);
    let a = key(1);
    for seq in 1..=2 {
        inbox_tx
            .offer(message(&a, frame(&a, JOB, seq)))
            .expect("room");
    }
    assert_eq!(
        inbox_tx.offer(message(&a, frame(&a, JOB, 3))),
        Err(Refusal::QueueFull)
    );
    assert_eq!(inbox_tx.refused(), 1);
}
