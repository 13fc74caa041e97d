//! Blobs over QUIC: streamed in chunks, hashed on arrival, with progress.

use std::sync::Arc;
use std::time::Instant;

use pinpoint_net::{MemBlobs, NetConfig, NetError, NoBlobs, Progress, Transport};

use crate::common::{HashSink, PatternBlob, PatternStore, mesh, node};

async fn fetch_pattern_blob(len: u64) -> anyhow::Result<()> {
    let blob = PatternBlob { len };
    let t = Instant::now();
    let hash = blob.hash();
    let hashed = t.elapsed();
    let store = Arc::new(PatternStore { blob, hash });
    let nodes = vec![
        node(71, NetConfig::default(), store.clone())?,
        node(72, NetConfig::default(), store)?,
        node(73, NetConfig::default(), Arc::new(NoBlobs))?,
    ];
    mesh(&nodes).await?;
    let mut calls = 0u64;
    let mut last = Progress {
        received_bytes: 0,
        total_bytes: 0,
    };
    let mut sink = HashSink::default();
    let t = Instant::now();
    let got = nodes[2]
        .node
        .fetch_blob(nodes[0].id, hash, &mut sink, |p| {
            assert!(p.received_bytes > last.received_bytes);
            calls += 1;
            last = p;
        })
        .await?;
    let took = t.elapsed();
    eprintln!(
        "blob of {len} bytes: hashed locally in {hashed:?}, fetched over QUIC in {took:?} ({:.0} MiB/s)",
        len as f64 / took.as_secs_f64() / (1 << 20) as f64
    );
    assert_eq!(got, len);
    assert_eq!(sink.bytes, len);
    assert_eq!(*sink.hasher.finalize().as_bytes(), hash);
    assert_eq!(
        last,
        Progress {
            received_bytes: len,
            total_bytes: len
        }
    );
    assert!(
        calls >= len / (1 << 20),
        "progress reported per chunk ({calls} calls)"
    );
    // A node without the blob refuses.
    let missing = nodes[0]
        .node
        .fetch_blob(nodes[2].id, hash, &mut HashSink::default(), |_| {})
        .await;
    assert!(matches!(missing, Err(NetError::Refused(_))), "{missing:?}");
    Ok(())
}

/// About 5 s in the debug profile (deps at opt-level 2): fast enough for the default suite.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blob_of_1_gib_is_checked_by_hash() -> anyhow::Result<()> {
    fetch_pattern_blob(1 << 30).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blob_with_wrong_content_is_a_hash_mismatch() -> anyhow::Result<()> {
    let blobs = MemBlobs::default();
    let claimed = [9u8; 32];
    blobs.insert_under(claimed, vec![1u8; 3 << 20]);
    let real = blobs.insert(vec![2u8; 1000]);
    let server = node(74, NetConfig::default(), Arc::new(blobs))?;
    let client = node(75, NetConfig::default(), Arc::new(NoBlobs))?;
    client.node.book().insert(server.id, server.addr);
    let bad = client
        .node
        .fetch_blob(server.id, claimed, &mut HashSink::default(), |_| {})
        .await;
    assert!(matches!(bad, Err(NetError::HashMismatch { .. })), "{bad:?}");
    // A blob over the fetcher's limit is refused before it is read.
    let small = node(
        76,
        NetConfig {
            max_blob_bytes: 100,
            ..NetConfig::default()
        },
        Arc::new(NoBlobs),
    )?;
    small.node.book().insert(server.id, server.addr);
    let big = small
        .node
        .fetch_blob(server.id, real, &mut HashSink::default(), |_| {})
        .await;
    assert!(
        matches!(
            big,
            Err(NetError::TooLarge {
                len: 1000,
                limit: 100,
                ..
            })
        ),
        "{big:?}"
    );
    // The good blob still comes through.
    let mut sink = HashSink::default();
    client
        .node
        .fetch_blob(server.id, real, &mut sink, |_| {})
        .await?;
    assert_eq!(*sink.hasher.finalize().as_bytes(), real);
    Ok(())
}

/// Fetches a 4 MiB blob from `server` to `client` and returns the largest packet size the
/// server's side of the connection reached.
async fn path_mtu_after_a_fetch(
    server_cfg: NetConfig,
    client_cfg: NetConfig,
) -> anyhow::Result<u16> {
    let blobs = MemBlobs::default();
    let data: Vec<u8> = (0..4u32 << 20).map(|i| (i % 253) as u8).collect();
    let hash = blobs.insert(data);
    let server = node(81, server_cfg, Arc::new(blobs))?;
    let client = node(82, client_cfg, Arc::new(NoBlobs))?;
    client.node.dial(server.id, server.addr).await?;
    // Discovery runs in the background; a few fetches give it traffic and time.
    let mut mtu = 0;
    for _ in 0..50 {
        client
            .node
            .fetch_blob(server.id, hash, &mut HashSink::default(), |_| {})
            .await?;
        let stats = server
            .node
            .connection_stats(&client.id)
            .ok_or_else(|| anyhow::anyhow!("server has no connection to the client"))?;
        mtu = stats.path.current_mtu;
        if mtu > pinpoint_net::config::MAX_MTU_UPPER_BOUND {
            break;
        }
    }
    Ok(mtu)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loopback_connections_use_large_packets_unless_turned_off() -> anyhow::Result<()> {
    use pinpoint_net::config::{DEFAULT_MTU_UPPER_BOUND, MAX_MTU_UPPER_BOUND};
    let mtu = path_mtu_after_a_fetch(NetConfig::default(), NetConfig::default()).await?;
    assert!(
        mtu > MAX_MTU_UPPER_BOUND,
        "loopback path MTU stayed at {mtu} bytes"
    );
    let network = NetConfig {
        loopback_mtu_upper_bound: None,
        ..NetConfig::default()
    };
    let mtu = path_mtu_after_a_fetch(network.clone(), network).await?;
    assert!(
        (1200..=DEFAULT_MTU_UPPER_BOUND).contains(&mtu),
        "network settings reached {mtu} bytes"
    );
    Ok(())
}
