//! QUIC (quinn) against TLS 1.3 over TCP (tokio-rustls), same machine, same run, loopback.
//!
//! Both sides use the same identities, rustls configs (TLS 1.3, ed25519, mutual auth, ALPN
//! `pinpoint/1`), framing and blob path ([`blob::send`] / [`blob::receive`]: chunks, blake3 on
//! arrival), so the difference is the transport. TCP gets `TCP_NODELAY`, and its chunks go
//! through [`blob::Copying`] and [`blob::Buffered`] because a byte stream cannot hand over
//! `Bytes`. Every fetch and request runs as a task on the runtime's two workers, as in a node.
//! - `blob/quic`: fetch a 64 MiB blob from memory into a discarding sink, default
//!   [`NetConfig`] (on loopback: 64 KiB packets, one per send, like TCP's 64 KiB segments);
//! - `blob/quic_network_profile`: the same with `loopback_mtu_upper_bound: None`, i.e. the
//!   settings of every other path (segmented sends, packets up to 6500 bytes);
//! - `blob/tls_tcp`: the same blob over TLS/TCP;
//! - `request/{quic,tls_tcp}`: one 64-byte echo request on an established connection.
//!
//! After criterion's lines: the QUIC senders' connection statistics (losses, path MTU) and a
//! summary pass: blob MiB/s (median of interleaved runs) and request latency p50/p99 (over
//! many sequential requests), with the QUIC/TCP ratios.
//! `-- --test` runs every case once with small sizes, no timing (CI).
// Dev-dependencies are shared by every test, bench and example target; each uses some.
#![allow(unused_crate_dependencies)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use pinpoint_net::framing::{self, Reply, StreamKind};
use pinpoint_net::{Identity, Inbound, MemBlobs, NetConfig, QuicNode, Transport, blob, tls};
use pinpoint_protocol::codec::{Frame, PROTOCOL_VERSION};
use pinpoint_protocol::id::NodeId;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Runtime;
use tokio::sync::Mutex;
use tokio_rustls::{TlsAcceptor, TlsConnector};

const STALL: Duration = Duration::from_secs(30);
const LIMIT: usize = pinpoint_protocol::codec::MAX_FRAME_BYTES;

fn frame(body: Vec<u8>) -> Frame {
    Frame {
        version: PROTOCOL_VERSION,
        kind: 1,
        body,
    }
}

fn identity(n: u8) -> Identity {
    Identity::from_seed([n; 32]).expect("bench identity")
}

/// A QUIC server (echo + blobs) and a client connected to it.
#[derive(Clone)]
struct QuicPair {
    client: QuicNode,
    server_id: NodeId,
    server: QuicNode,
}

fn quic_pair(rt: &Runtime, blobs: MemBlobs, config: NetConfig) -> QuicPair {
    rt.block_on(async {
        let (server, mut inbound) =
            QuicNode::bind(identity(1), config.clone(), Arc::new(blobs)).expect("bind");
        tokio::spawn(async move {
            while let Some(item) = inbound.recv().await {
                if let Inbound::Request { frame, reply, .. } = item {
                    reply.respond(frame);
                }
            }
        });
        let (client, _rx) =
            QuicNode::bind(identity(2), config, Arc::new(pinpoint_net::NoBlobs)).expect("bind");
        let server_id = server.local_id();
        let addr = server.local_addr().expect("addr");
        client.dial(server_id, addr).await.expect("dial");
        QuicPair {
            client,
            server_id,
            server,
        }
    })
}

type TlsClient = tokio_rustls::client::TlsStream<TcpStream>;

/// A request handed to the application, with the way back for its answer.
type AppRequest = (Frame, tokio::sync::oneshot::Sender<Frame>);

/// The TCP server's application: echoes each request, reached through a queue and answering
/// through a oneshot channel, the same hops a request takes in `QuicNode` (its inbound queue
/// and `Responder`).
fn echo_app() -> tokio::sync::mpsc::Sender<AppRequest> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<AppRequest>(1024);
    tokio::spawn(async move {
        while let Some((frame, reply)) = rx.recv().await {
            let _ = reply.send(frame);
        }
    });
    tx
}

/// Serves one TLS/TCP connection: sequential requests and blob fetches, same framing.
async fn serve_tcp(
    mut s: tokio_rustls::server::TlsStream<TcpStream>,
    blobs: MemBlobs,
    app: tokio::sync::mpsc::Sender<AppRequest>,
) -> pinpoint_net::Result<()> {
    use pinpoint_net::BlobStore;
    let gone = || pinpoint_net::NetError::Local("echo app gone".to_string());
    loop {
        let Ok(kind) = framing::read_kind(&mut s, Duration::from_secs(3600)).await else {
            return Ok(());
        };
        match kind {
            StreamKind::Request => {
                let f = framing::read_frame(&mut s, LIMIT, STALL).await?;
                let (tx, rx) = tokio::sync::oneshot::channel();
                app.send((f, tx)).await.map_err(|_| gone())?;
                let f = rx.await.map_err(|_| gone())?;
                let out = framing::encode_reply(&Reply::Ok(f), LIMIT)?;
                framing::write_within(&mut s, &out, STALL).await?;
                s.flush()
                    .await
                    .map_err(|e| pinpoint_net::NetError::Local(e.to_string()))?;
            }
            StreamKind::Blob => {
                let mut hash = [0u8; 32];
                framing::read_exact_within(&mut s, &mut hash, STALL).await?;
                let b = blobs
                    .open(&hash)
                    .ok_or_else(|| pinpoint_net::NetError::Refused("no blob".into()))?;
                let out = framing::encode_reply(&Reply::Blob { len: b.len }, LIMIT)?;
                framing::write_within(&mut s, &out, STALL).await?;
                blob::send(b, &mut blob::Copying(&mut s), 1 << 20, STALL).await?;
                s.flush()
                    .await
                    .map_err(|e| pinpoint_net::NetError::Local(e.to_string()))?;
            }
            StreamKind::Message => return Ok(()),
        }
    }
}

/// A TLS 1.3 over TCP connection to a server like the QUIC one.
fn tcp_pair(rt: &Runtime, blobs: MemBlobs) -> Arc<Mutex<TlsClient>> {
    rt.block_on(async {
        let server_id = identity(1);
        let acceptor = TlsAcceptor::from(Arc::new(tls::server_config(&server_id).expect("tls")));
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let app = echo_app();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let _ = tcp.set_nodelay(true);
                let acceptor = acceptor.clone();
                let blobs = blobs.clone();
                let app = app.clone();
                tokio::spawn(async move {
                    if let Ok(s) = acceptor.accept(tcp).await {
                        let _ = serve_tcp(s, blobs, app).await;
                    }
                });
            }
        });
        let client_cfg = tls::client_config(&identity(2), server_id.node_id()).expect("client tls");
        let connector = TlsConnector::from(Arc::new(client_cfg));
        let tcp = TcpStream::connect(addr).await.expect("connect");
        tcp.set_nodelay(true).expect("nodelay");
        let name = rustls::pki_types::ServerName::try_from("pinpoint").expect("name");
        let s = connector.connect(name, tcp).await.expect("tls connect");
        Arc::new(Mutex::new(s))
    })
}

async fn tcp_request(c: &Mutex<TlsClient>, f: &Frame) -> Frame {
    let mut s = c.lock().await;
    let mut out = vec![StreamKind::Request as u8];
    out.extend_from_slice(&framing::encode_frame(f, LIMIT).expect("encode"));
    s.write_all(&out).await.expect("write");
    s.flush().await.expect("flush");
    match framing::read_reply(&mut *s, LIMIT, STALL)
        .await
        .expect("reply")
    {
        Reply::Ok(f) => f,
        other => panic!("unexpected reply {other:?}"),
    }
}

async fn tcp_blob(c: &Mutex<TlsClient>, hash: [u8; 32]) -> u64 {
    let mut s = c.lock().await;
    let mut out = vec![StreamKind::Blob as u8];
    out.extend_from_slice(&hash);
    s.write_all(&out).await.expect("write");
    s.flush().await.expect("flush");
    let len = match framing::read_reply(&mut *s, LIMIT, STALL)
        .await
        .expect("reply")
    {
        Reply::Blob { len } => len,
        other => panic!("unexpected reply {other:?}"),
    };
    let mut sink = tokio::io::sink();
    let mut limited = blob::Buffered::new((&mut *s).take(len));
    blob::receive(&mut limited, len, &hash, &mut sink, |_| {}, 1 << 20, STALL)
        .await
        .expect("blob")
}

async fn quic_blob(p: &QuicPair, hash: [u8; 32]) -> u64 {
    let mut sink = tokio::io::sink();
    p.client
        .fetch_blob(p.server_id, hash, &mut sink, |_| {})
        .await
        .expect("blob")
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Runs `f` as a task on the runtime's workers, as a node's actor would, and waits for it
/// (the main thread only waits, so both transports get the same two worker threads).
fn on_worker<F>(rt: &Runtime, f: F) -> F::Output
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    rt.block_on(async move { tokio::spawn(f).await.expect("bench task") })
}

fn fetch_quic(rt: &Runtime, p: &QuicPair, hash: [u8; 32]) -> u64 {
    let p = p.clone();
    on_worker(rt, async move { quic_blob(&p, hash).await })
}

fn fetch_tcp(rt: &Runtime, c: &Arc<Mutex<TlsClient>>, hash: [u8; 32]) -> u64 {
    let c = Arc::clone(c);
    on_worker(rt, async move { tcp_blob(&c, hash).await })
}

fn ask_quic(rt: &Runtime, p: &QuicPair, f: &Frame) -> Frame {
    let (p, f) = (p.clone(), f.clone());
    on_worker(rt, async move {
        p.client
            .request(p.server_id, f, STALL)
            .await
            .expect("request")
    })
}

fn ask_tcp(rt: &Runtime, c: &Arc<Mutex<TlsClient>>, f: &Frame) -> Frame {
    let (c, f) = (Arc::clone(c), f.clone());
    on_worker(rt, async move { tcp_request(&c, &f).await })
}

fn mib_per_s(bytes: usize, took: Duration) -> f64 {
    bytes as f64 / took.as_secs_f64() / (1 << 20) as f64
}

fn print_sender_stats(name: &str, p: &QuicPair) {
    let client_id = identity(2).node_id();
    if let Some(stats) = p.server.connection_stats(&client_id) {
        println!(
            "QUIC {name}, sender side: {} packets sent, {} lost, {} congestion events, \
             path MTU {}",
            stats.path.sent_packets,
            stats.path.lost_packets,
            stats.path.congestion_events,
            stats.path.current_mtu,
        );
    }
}

fn main() {
    let test_mode = std::env::args().any(|a| a == "--test");
    let blob_len: usize = if test_mode { 1 << 20 } else { 64 << 20 };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let blobs = MemBlobs::default();
    let data: Vec<u8> = (0..blob_len)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    let hash = blobs.insert(data);
    // Defaults: on loopback, QUIC takes the loopback path settings (64 KiB packets).
    let quic = quic_pair(&rt, blobs.clone(), NetConfig::default());
    // The settings every other path gets (segmented sends, packets up to 6500 bytes).
    let network_profile = NetConfig {
        loopback_mtu_upper_bound: None,
        ..NetConfig::default()
    };
    let quic_net = quic_pair(&rt, blobs.clone(), network_profile);
    let tcp = tcp_pair(&rt, blobs);
    let small = frame(vec![7; 64]);

    let mut c = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
        .configure_from_args();
    {
        let mut g = c.benchmark_group("blob");
        g.throughput(Throughput::Bytes(blob_len as u64));
        g.bench_function("quic", |b| b.iter(|| fetch_quic(&rt, &quic, hash)));
        g.bench_function("quic_network_profile", |b| {
            b.iter(|| fetch_quic(&rt, &quic_net, hash))
        });
        g.bench_function("tls_tcp", |b| b.iter(|| fetch_tcp(&rt, &tcp, hash)));
        g.finish();
    }
    {
        let mut g = c.benchmark_group("request");
        g.sample_size(50);
        g.bench_function("quic", |b| b.iter(|| ask_quic(&rt, &quic, &small)));
        g.bench_function("tls_tcp", |b| b.iter(|| ask_tcp(&rt, &tcp, &small)));
        g.finish();
    }
    c.final_summary();
    if test_mode {
        return;
    }

    // Summary pass: interleaved runs so all see the same machine load.
    let runs = 11;
    let (mut q_rates, mut n_rates, mut t_rates) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        let t = Instant::now();
        fetch_quic(&rt, &quic, hash);
        q_rates.push(mib_per_s(blob_len, t.elapsed()));
        let t = Instant::now();
        fetch_quic(&rt, &quic_net, hash);
        n_rates.push(mib_per_s(blob_len, t.elapsed()));
        let t = Instant::now();
        fetch_tcp(&rt, &tcp, hash);
        t_rates.push(mib_per_s(blob_len, t.elapsed()));
    }
    for r in [&mut q_rates, &mut n_rates, &mut t_rates] {
        r.sort_by(f64::total_cmp);
    }
    let (qm, nm, tm) = (q_rates[runs / 2], n_rates[runs / 2], t_rates[runs / 2]);
    let n = 5000;
    let (mut ql, mut tl) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for _ in 0..n {
        let t = Instant::now();
        ask_quic(&rt, &quic, &small);
        ql.push(t.elapsed());
        let t = Instant::now();
        ask_tcp(&rt, &tcp, &small);
        tl.push(t.elapsed());
    }
    ql.sort();
    tl.sort();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    println!();
    print_sender_stats("defaults", &quic);
    print_sender_stats("network profile", &quic_net);
    println!(
        "\nsummary (loopback, {} MiB blob, {runs} interleaved runs; {n} sequential 64-byte \
         requests)",
        blob_len >> 20
    );
    println!("| metric | QUIC | TLS/TCP | QUIC/TCP |");
    println!("|---|---:|---:|---:|");
    println!(
        "| blob MiB/s (median) | {qm:.0} | {tm:.0} | {:.2} |",
        qm / tm
    );
    println!(
        "| blob MiB/s (median), QUIC with network-path settings | {nm:.0} | {tm:.0} | {:.2} |",
        nm / tm
    );
    for (name, p) in [("p50", 0.5), ("p99", 0.99)] {
        let (q, t) = (percentile(&ql, p), percentile(&tl, p));
        println!(
            "| request {name} µs | {:.0} | {:.0} | {:.2} |",
            us(q),
            us(t),
            us(q) / us(t)
        );
    }
}
