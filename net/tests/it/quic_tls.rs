//! Identity-bound mutual TLS: wrong key, no certificate, and a forged handshake signature are
//! all refused.

use std::sync::Arc;

use pinpoint_net::tls::{ALPN, PeerVerifier};
use pinpoint_net::{Identity, NetConfig, NetError, NoBlobs, Transport};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use crate::common::{ECHO, GUARD, assert_healthy, frame, node, raw_endpoint, seed};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peer_with_other_key_than_expected_is_refused() -> anyhow::Result<()> {
    let a = node(41, NetConfig::default(), Arc::new(NoBlobs))?;
    let b = node(42, NetConfig::default(), Arc::new(NoBlobs))?;
    let c = Identity::from_seed(seed(43))?.node_id();
    // A believes c lives at b's address; b proves to be b, so the handshake fails.
    let got = a.node.dial(c, b.addr).await;
    assert!(matches!(got, Err(NetError::Refused(_))), "{got:?}");
    a.node.book().insert(c, b.addr);
    let got = a.node.request(c, frame(ECHO, vec![]), GUARD).await;
    assert!(matches!(got, Err(NetError::Refused(_))), "{got:?}");
    assert!(!a.node.is_connected(&c));
    assert_eq!(a.node.book().get(&c).map(|e| e.failures), Some(1));
    // Dialing the right id at that address works.
    a.node.book().insert(b.id, b.addr);
    assert_healthy(&a, &b).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_without_certificate_is_refused() -> anyhow::Result<()> {
    let server = node(44, NetConfig::default(), Arc::new(NoBlobs))?;
    let mut faults = server.node.faults();
    let mut tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(&[&rustls::version::TLS13])?
    .dangerous()
    .with_custom_certificate_verifier(Arc::new(PeerVerifier::expecting(server.id)))
    .with_no_client_auth();
    tls.alpn_protocols = vec![ALPN.to_vec()];
    let cfg = quinn::ClientConfig::new(Arc::new(
        quinn::crypto::rustls::QuicClientConfig::try_from(tls)?,
    ));
    let ep = raw_endpoint()?;
    let attempt = async {
        let conn = ep.connect_with(cfg, server.addr, "pinpoint")?.await?;
        let (mut send, mut recv) = conn.open_bi().await?;
        send.write_all(&[0, 1, 0, 0, 0, 0]).await?;
        send.finish()?;
        let bytes = recv.read_to_end(1024).await?;
        Ok::<Vec<u8>, anyhow::Error>(bytes)
    };
    let got = tokio::time::timeout(GUARD, attempt).await?;
    assert!(
        got.is_err(),
        "a client without a certificate got an answer: {got:?}"
    );
    let fault = tokio::time::timeout(GUARD, faults.recv()).await??;
    assert!(matches!(fault.error, NetError::Refused(_)), "{fault:?}");
    assert_eq!(fault.peer, None);
    // The server still serves authenticated peers.
    let client = node(45, NetConfig::default(), Arc::new(NoBlobs))?;
    client.node.book().insert(server.id, server.addr);
    assert_healthy(&client, &server).await
}

/// Presents `cert`'s certificate but signs the handshake with another key.
#[derive(Debug)]
struct ForgedResolver(Arc<CertifiedKey>);

impl ResolvesServerCert for ForgedResolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(&self.0))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshake_signed_by_another_key_is_refused() -> anyhow::Result<()> {
    let claimed = Identity::from_seed(seed(46))?;
    let actual = Identity::from_seed(seed(47))?;
    let signer = rustls::crypto::ring::sign::any_supported_type(&actual.private_key())?;
    let forged = CertifiedKey::new(vec![claimed.cert().clone()], signer);
    let mut tls = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(&[&rustls::version::TLS13])?
    .with_client_cert_verifier(Arc::new(PeerVerifier::any()))
    .with_cert_resolver(Arc::new(ForgedResolver(Arc::new(forged))));
    tls.alpn_protocols = vec![ALPN.to_vec()];
    let server_cfg = quinn::ServerConfig::with_crypto(Arc::new(
        quinn::crypto::rustls::QuicServerConfig::try_from(tls)?,
    ));
    let ep = quinn::Endpoint::server(server_cfg, ([127, 0, 0, 1], 0).into())?;
    let addr = ep.local_addr()?;
    let accept = tokio::spawn(async move {
        if let Some(incoming) = ep.accept().await
            && let Ok(connecting) = incoming.accept()
        {
            let _ = connecting.await;
        }
    });
    let client = node(48, NetConfig::default(), Arc::new(NoBlobs))?;
    let got = client.node.dial(claimed.node_id(), addr).await;
    assert!(matches!(got, Err(NetError::Refused(_))), "{got:?}");
    accept.abort();
    Ok(())
}
