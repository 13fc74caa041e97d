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
