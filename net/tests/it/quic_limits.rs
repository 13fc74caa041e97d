//! Limits: oversized, malformed and stalled streams get typed errors and the node stays healthy;
//! connection limits refuse excess connections.

use std::sync::Arc;
use std::time::Duration;

use pinpoint_net::framing::{Reply, StreamKind};
use pinpoint_net::{NetConfig, NetError, NoBlobs, Transport};

use crate::common::{ECHO, GUARD, assert_healthy, frame, node, raw_connection, raw_request};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_frame_is_refused_and_node_stays_healthy() -> anyhow::Result<()> {
    let server_cfg = NetConfig {
        max_frame_bytes: 64 * 1024,
        ..NetConfig::default()
    };
    let server = node(51, server_cfg, Arc::new(NoBlobs))?;
    let mut faults = server.node.faults();
    let client = node(52, NetConfig::default(), Arc::new(NoBlobs))?;
    client.node.book().insert(server.id, server.addr);
    // The client's own limit is 16 MiB, so this goes out; the server refuses it by its prefix.
    let got = client
        .node
        .request(server.id, frame(ECHO, vec![7; 100 * 1024]), GUARD)
        .await;
    assert!(
        matches!(got, Err(NetError::TooLarge { limit: 65536, .. })),
        "{got:?}"
    );
    let fault = tokio::time::timeout(GUARD, faults.recv()).await??;
    assert!(
        matches!(fault.error, NetError::TooLarge { .. }),
        "{fault:?}"
    );
    assert_eq!(fault.peer, Some(client.id));
    // A frame over the sender's own limit never leaves it.
    let local = server
        .node
        .request(client.id, frame(ECHO, vec![7; 100 * 1024]), GUARD)
        .await;
    assert!(matches!(local, Err(NetError::TooLarge { .. })), "{local:?}");
    assert_healthy(&client, &server).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_frames_are_refused_and_node_stays_healthy() -> anyhow::Result<()> {
    let server = node(53, NetConfig::default(), Arc::new(NoBlobs))?;
    let mut faults = server.node.faults();
    let conn = raw_connection(54, &server).await?;
    // Garbage body.
    let mut bytes = vec![StreamKind::Request as u8];
    bytes.extend_from_slice(&10u32.to_le_bytes());
    bytes.extend_from_slice(&[0xff; 10]);
    let reply = raw_request(&conn, &bytes, true).await?;
    assert!(matches!(reply, Reply::BadFrame(_)), "{reply:?}");
    // Stream ends before the announced length.
    let mut short = vec![StreamKind::Request as u8];
    short.extend_from_slice(&100u32.to_le_bytes());
    short.extend_from_slice(&[1; 10]);
    let reply = raw_request(&conn, &short, true).await?;
    assert!(matches!(reply, Reply::BadFrame(_)), "{reply:?}");
    // A valid frame of a wrong protocol version.
    let mut body = borsh::to_vec(&frame(ECHO, vec![]))?;
    body[0] = 99;
    let mut wrong_version = vec![StreamKind::Request as u8];
    wrong_version.extend_from_slice(&(body.len() as u32).to_le_bytes());
    wrong_version.extend_from_slice(&body);
    let reply = raw_request(&conn, &wrong_version, true).await?;
    assert!(matches!(reply, Reply::BadFrame(_)), "{reply:?}");
    // Unknown stream kind.
    let reply = raw_request(&conn, &[0xEE], true).await;
    assert!(reply.is_err(), "{reply:?}");
    for _ in 0..3 {
        let fault = tokio::time::timeout(GUARD, faults.recv()).await??;
        assert!(matches!(fault.error, NetError::BadFrame(_)), "{fault:?}");
    }
    // A correct request on the same raw connection still works.
    let good = pinpoint_net::framing::encode_frame(&frame(ECHO, b"ok".to_vec()), 1 << 20)?;
    let mut ok = vec![StreamKind::Request as u8];
    ok.extend_from_slice(&good);
    let reply = raw_request(&conn, &ok, true).await?;
    assert!(matches!(reply, Reply::Ok(f) if f.body.ends_with(b"ok")));
    let client = node(55, NetConfig::default(), Arc::new(NoBlobs))?;
    client.node.book().insert(server.id, server.addr);
    assert_healthy(&client, &server).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_stream_times_out_and_node_stays_healthy() -> anyhow::Result<()> {
    let server_cfg = NetConfig {
        stream_timeout: Duration::from_millis(300),
        ..NetConfig::default()
    };
    let server = node(56, server_cfg, Arc::new(NoBlobs))?;
    let mut faults = server.node.faults();
    let conn = raw_connection(57, &server).await?;
    // Announces 100 bytes, sends 10, and then nothing (the stream stays open).
    let mut bytes = vec![StreamKind::Request as u8];
    bytes.extend_from_slice(&100u32.to_le_bytes());
    bytes.extend_from_slice(&[1; 10]);
    let reply = raw_request(&conn, &bytes, false).await?;
    assert_eq!(reply, Reply::Timeout);
    let fault = tokio::time::timeout(GUARD, faults.recv()).await??;
    assert!(matches!(fault.error, NetError::Timeout(_)), "{fault:?}");
    // The connection and the node are fine.
    let good = pinpoint_net::framing::encode_frame(&frame(ECHO, b"ok".to_vec()), 1 << 20)?;
    let mut ok = vec![StreamKind::Request as u8];
    ok.extend_from_slice(&good);
    assert!(matches!(raw_request(&conn, &ok, true).await?, Reply::Ok(_)));
    let client = node(58, NetConfig::default(), Arc::new(NoBlobs))?;
    client.node.book().insert(server.id, server.addr);
    assert_healthy(&client, &server).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_per_ip_limit_are_refused() -> anyhow::Result<()> {
    let server_cfg = NetConfig {
        max_connections_per_ip: 2,
        ..NetConfig::default()
    };
    let server = node(59, server_cfg, Arc::new(NoBlobs))?;
    let mut faults = server.node.faults();
    let c1 = raw_connection(60, &server).await?;
    let c2 = raw_connection(61, &server).await?;
    // Both are served.
    let good = pinpoint_net::framing::encode_frame(&frame(ECHO, b"ok".to_vec()), 1 << 20)?;
    let mut ok = vec![StreamKind::Request as u8];
    ok.extend_from_slice(&good);
    assert!(matches!(raw_request(&c1, &ok, true).await?, Reply::Ok(_)));
    assert!(matches!(raw_request(&c2, &ok, true).await?, Reply::Ok(_)));
    // The third from the same IP is refused before any handshake work.
    let third = raw_connection(62, &server).await;
    assert!(third.is_err(), "third connection accepted");
    let fault = tokio::time::timeout(GUARD, faults.recv()).await??;
    assert!(matches!(fault.error, NetError::Refused(_)), "{fault:?}");
    // Closing one frees its slot.
    c1.close(0u32.into(), b"done");
    c1.closed().await;
    // The server notices the close asynchronously: wait (bounded) until it has.
    tokio::time::timeout(GUARD, async {
        while server.node.connection_count() > 1 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .await?;
    let fourth = raw_connection(63, &server).await?;
    assert!(matches!(
        raw_request(&fourth, &ok, true).await?,
        Reply::Ok(_)
    ));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_packet_size_too_large_for_segmented_sends_is_a_config_error() -> anyhow::Result<()> {
    use pinpoint_net::config::MAX_MTU_UPPER_BOUND;
    for (initial_mtu, mtu_upper_bound) in [(1200, MAX_MTU_UPPER_BOUND + 1), (8952, 8952)] {
        let config = NetConfig {
            initial_mtu,
            mtu_upper_bound,
            ..NetConfig::default()
        };
        let Err(e) = node(75, config, Arc::new(NoBlobs)) else {
            anyhow::bail!("mtu_upper_bound {mtu_upper_bound} was accepted");
        };
        let text = e.to_string();
        assert!(
            text.contains("mtu_upper_bound") && text.contains(&MAX_MTU_UPPER_BOUND.to_string()),
            "{text}"
        );
    }
    for bound in [1000, 65535] {
        let config = NetConfig {
            loopback_mtu_upper_bound: Some(bound),
            ..NetConfig::default()
        };
        let Err(e) = node(75, config, Arc::new(NoBlobs)) else {
            anyhow::bail!("loopback_mtu_upper_bound {bound} was accepted");
        };
        assert!(e.to_string().contains("loopback_mtu_upper_bound"), "{e}");
    }
    // The largest allowed size works, and so does keeping the system's socket buffers.
    let config = NetConfig {
        mtu_upper_bound: MAX_MTU_UPPER_BOUND,
        socket_buffer_bytes: 0,
        ..NetConfig::default()
    };
    let a = node(76, config.clone(), Arc::new(NoBlobs))?;
    let b = node(77, config, Arc::new(NoBlobs))?;
    a.node.dial(b.id, b.addr).await?;
    let stats = a
        .node
        .connection_stats(&b.id)
        .ok_or_else(|| anyhow::anyhow!("no stats for an open connection"))?;
    assert!(stats.path.current_mtu >= 1200, "{stats:?}");
    Ok(())
}
