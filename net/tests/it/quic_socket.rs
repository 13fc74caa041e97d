//! A node over an abstract datagram socket (`QuicNode::bind_socket`), as a simulated network
//! will give one: here a wrapper around a real UDP socket that counts what passes through it.

use std::fmt;
use std::io::{self, IoSliceMut};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use pinpoint_net::{Identity, NetConfig, NoBlobs, QuicNode, Transport};
use quinn::udp::{RecvMeta, Transmit};
use quinn::{AsyncUdpSocket, UdpPoller};

use crate::common::{ECHO, GUARD, frame, node, seed};

/// Every datagram in and out counted, then handed to the real socket.
struct Counting {
    inner: Arc<dyn AsyncUdpSocket>,
    sent: AtomicU64,
    received: AtomicU64,
}

impl fmt::Debug for Counting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Counting").finish_non_exhaustive()
    }
}

impl AsyncUdpSocket for Counting {
    fn create_io_poller(self: Arc<Self>) -> Pin<Box<dyn UdpPoller>> {
        Arc::clone(&self.inner).create_io_poller()
    }

    fn try_send(&self, transmit: &Transmit<'_>) -> io::Result<()> {
        self.inner.try_send(transmit)?;
        self.sent.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn poll_recv(
        &self,
        cx: &mut Context<'_>,
        bufs: &mut [IoSliceMut<'_>],
        meta: &mut [RecvMeta],
    ) -> Poll<io::Result<usize>> {
        let got = self.inner.poll_recv(cx, bufs, meta);
        if let Poll::Ready(Ok(n)) = &got {
            self.received.fetch_add(*n as u64, Ordering::Relaxed);
        }
        got
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    fn max_transmit_segments(&self) -> usize {
        self.inner.max_transmit_segments()
    }

    fn max_receive_segments(&self) -> usize {
        self.inner.max_receive_segments()
    }

    fn may_fragment(&self) -> bool {
        self.inner.may_fragment()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_runs_over_an_abstract_socket_with_a_fixed_rng_seed() -> anyhow::Result<()> {
    let server = node(41, NetConfig::default(), Arc::new(NoBlobs))?;
    let runtime = quinn::default_runtime().expect("tokio");
    let udp = std::net::UdpSocket::bind("127.0.0.1:0")?;
    let socket = Arc::new(Counting {
        inner: runtime.wrap_udp_socket(udp)?,
        sent: AtomicU64::new(0),
        received: AtomicU64::new(0),
    });
    let config = NetConfig {
        rng_seed: Some([7; 32]),
        ..NetConfig::default()
    };
    let identity = Identity::from_seed(seed(42))?;
    let dyn_socket: Arc<dyn AsyncUdpSocket> = socket.clone();
    let (client, _inbound) =
        QuicNode::bind_socket(identity, config, Arc::new(NoBlobs), dyn_socket, runtime)?;
    client.book().insert(server.id, server.addr);
    let got = client
        .request(server.id, frame(ECHO, b"over the wrapper".to_vec()), GUARD)
        .await?;
    assert_eq!(&got.body[..32], client.local_id().as_bytes());
    assert_eq!(&got.body[32..], b"over the wrapper");
    // The handshake and the request went through the abstract socket, both ways.
    assert!(socket.sent.load(Ordering::Relaxed) >= 2);
    assert!(socket.received.load(Ordering::Relaxed) >= 2);
    Ok(())
}
