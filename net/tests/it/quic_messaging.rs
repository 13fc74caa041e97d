//! Requests, one-way messages and gossip between QUIC nodes on loopback.

use std::sync::Arc;
use std::time::Duration;

use pinpoint_net::{NetConfig, NetError, NoBlobs, Transport};
use tokio::task::JoinSet;
use tokio::time::timeout;

use crate::common::{ECHO, GUARD, REFUSE, SILENT, frame, mesh, node, node_with_fanout};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_exchange_requests_and_one_way_messages() -> anyhow::Result<()> {
    let mut nodes = Vec::new();
    for n in 1..=3 {
        nodes.push(node(n, NetConfig::default(), Arc::new(NoBlobs))?);
    }
    mesh(&nodes).await?;
    // Every ordered pair: the answer carries the requester's id as the server authenticated it.
    for a in &nodes {
        for b in &nodes {
            if a.id == b.id {
                continue;
            }
            let body = format!("{} to {}", a.id, b.id).into_bytes();
            let got = a
                .node
                .request(b.id, frame(ECHO, body.clone()), GUARD)
                .await?;
            assert_eq!(&got.body[..32], a.id.as_bytes());
            assert_eq!(&got.body[32..], &body[..]);
            a.node.send(b.id, frame(9, body)).await?;
        }
    }
    for b in &mut nodes {
        let mut senders = Vec::new();
        for _ in 0..2 {
            let (from, msg) = timeout(GUARD, b.messages.recv()).await?.expect("open");
            assert_eq!(msg.kind, 9);
            assert!(msg.body.ends_with(b.id.to_string().as_bytes()));
            senders.push(from);
        }
        senders.sort();
        let mut want: Vec<_> = b.node.peers();
        want.sort();
        assert_eq!(senders, want);
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_and_deadlines_are_typed() -> anyhow::Result<()> {
    let a = node(11, NetConfig::default(), Arc::new(NoBlobs))?;
    let b = node(12, NetConfig::default(), Arc::new(NoBlobs))?;
    a.node.book().insert(b.id, b.addr);
    let refused = a.node.request(b.id, frame(REFUSE, vec![]), GUARD).await;
    assert!(matches!(refused, Err(NetError::Refused(_))), "{refused:?}");
    let silent = a
        .node
        .request(b.id, frame(SILENT, vec![]), Duration::from_millis(300))
        .await;
    assert!(matches!(silent, Err(NetError::Timeout(_))), "{silent:?}");
    // An id nobody knows an address for.
    let stranger = crate::common::node(13, NetConfig::default(), Arc::new(NoBlobs))?;
    let unknown = a
        .node
        .request(stranger.id, frame(ECHO, vec![]), GUARD)
        .await;
    assert!(
        matches!(unknown, Err(NetError::Unreachable { .. })),
        "{unknown:?}"
    );
    crate::common::assert_healthy(&a, &b).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_requests_complete() -> anyhow::Result<()> {
    // The server allows only 16 concurrent streams per connection: the rest wait (throttled),
    // none fails.
    let server_cfg = NetConfig {
        max_streams_per_connection: 16,
        ..NetConfig::default()
    };
    let server = node(21, server_cfg, Arc::new(NoBlobs))?;
    let client = node(22, NetConfig::default(), Arc::new(NoBlobs))?;
    client.node.book().insert(server.id, server.addr);
    let mut set = JoinSet::new();
    for i in 0u32..200 {
        let n = client.node.clone();
        let id = server.id;
        set.spawn(async move {
            let got = n
                .request(id, frame(ECHO, i.to_le_bytes().to_vec()), GUARD)
                .await?;
            anyhow::ensure!(got.body[32..] == i.to_le_bytes(), "wrong answer for {i}");
            Ok::<u32, anyhow::Error>(i)
        });
    }
    let mut done = Vec::new();
    while let Some(r) = set.join_next().await {
        done.push(r??);
    }
    done.sort();
    assert_eq!(done, (0..200).collect::<Vec<_>>());
    // One connection was enough (concurrent first requests share one dial).
    assert_eq!(client.node.connection_count(), 1);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gossip_reaches_every_node_once() -> anyhow::Result<()> {
    let mut nodes = Vec::new();
    for n in 31..=34 {
        nodes.push(node_with_fanout(
            n,
            NetConfig::default(),
            Arc::new(NoBlobs),
            2,
        )?);
    }
    mesh(&nodes).await?;
    let (_, sent) = nodes[0]
        .gossip
        .publish(frame(77, b"job announced".to_vec()))
        .await?;
    assert_eq!(sent, 2, "fan-out bounds the first hop");
    for n in nodes.iter_mut().skip(1) {
        let (_, payload) = timeout(GUARD, n.gossiped.recv()).await?.expect("open");
        assert_eq!(payload, frame(77, b"job announced".to_vec()));
    }
    // A second, distinct publication also arrives everywhere, and no node ever delivers the
    // first one twice: the next delivery each node makes is the second message.
    nodes[0]
        .gossip
        .publish(frame(77, b"second".to_vec()))
        .await?;
    for n in nodes.iter_mut().skip(1) {
        let (_, payload) = timeout(GUARD, n.gossiped.recv()).await?.expect("open");
        assert_eq!(payload.body, b"second");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peer_book_backs_off_and_maintain_reconnects() -> anyhow::Result<()> {
    use pinpoint_net::peers::Backoff;
    let quick = NetConfig {
        handshake_timeout: Duration::from_millis(500),
        backoff: Backoff {
            base_ms: 0,
            max_ms: 0,
        },
        ..NetConfig::default()
    };
    let slow = NetConfig {
        handshake_timeout: Duration::from_millis(500),
        backoff: Backoff {
            base_ms: 3_600_000,
            max_ms: 3_600_000,
        },
        ..NetConfig::default()
    };
    let a = node(81, quick, Arc::new(NoBlobs))?;
    let patient = node(82, slow, Arc::new(NoBlobs))?;
    let b = node(83, NetConfig::default(), Arc::new(NoBlobs))?;
    let b_id = b.id;
    for n in [&a, &patient] {
        for (_, r) in n.node.bootstrap(&[(b_id, b.addr)]).await {
            r?;
        }
    }
    // b goes away; both notice the closed connection.
    b.node.close();
    drop(b);
    timeout(GUARD, async {
        while a.node.is_connected(&b_id) || patient.node.is_connected(&b_id) {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .await?;
    for n in [&a, &patient] {
        let got = n.node.request(b_id, frame(ECHO, vec![]), GUARD).await;
        assert!(got.is_err(), "{got:?}");
        assert_eq!(n.node.book().get(&b_id).map(|e| e.failures), Some(1));
    }
    // b comes back (same key, new port) and its new address becomes known.
    let b2 = node(83, NetConfig::default(), Arc::new(NoBlobs))?;
    a.node.book().insert(b_id, b2.addr);
    patient.node.book().insert(b_id, b2.addr);
    // The patient node's backoff (an hour) is not over: maintain does not dial.
    assert_eq!(patient.node.maintain().await, 0);
    assert!(!patient.node.is_connected(&b_id));
    // The other one's is: maintain reconnects and clears the failures.
    assert_eq!(a.node.maintain().await, 1);
    assert!(a.node.is_connected(&b_id));
    assert_eq!(a.node.book().get(&b_id).map(|e| e.failures), Some(0));
    crate::common::assert_healthy(&a, &b2).await
}
