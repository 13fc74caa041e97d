//! TLS 1.3 configuration with identity-bound mutual authentication, for QUIC and for TCP.
//!
//! - Only TLS 1.3, only the ring provider, only ed25519 handshake signatures, ALPN [`ALPN`].
//! - Both sides present their self-signed certificate ([`crate::identity`]); there is no CA.
//! - The dialer accepts the server only if its certificate key is the expected [`NodeId`]
//!   ([`PeerVerifier::expecting`]); the listener accepts any client key and derives the client's
//!   `NodeId` from its certificate ([`PeerVerifier::any`]); a client without a certificate is
//!   refused.
//! - The CertificateVerify signature of the handshake is checked with ed25519 against the
//!   certificate's key (ed25519-dalek, strict verification), so a peer must hold the private
//!   key of the identity it presents.

use std::sync::Arc;

use ed25519_dalek::Signature;
use pinpoint_protocol::id::NodeId;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};

use crate::error::{NetError, Result};
use crate::identity::{Identity, node_id_from_cert};

/// The ALPN protocol id both sides must negotiate.
pub const ALPN: &[u8] = b"pinpoint/1";

/// Certificate and signature verifier bound to node identities (both directions).
#[derive(Debug, Clone)]
pub struct PeerVerifier {
    expected: Option<NodeId>,
}

impl PeerVerifier {
    /// A verifier that accepts only a peer whose certificate key is `id` (used when dialing).
    pub fn expecting(id: NodeId) -> Self {
        Self { expected: Some(id) }
    }

    /// A verifier that accepts any valid ed25519 identity (used when accepting).
    pub fn any() -> Self {
        Self { expected: None }
    }

    fn check_cert(
        &self,
        cert: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
    ) -> std::result::Result<(), rustls::Error> {
        if !intermediates.is_empty() {
            return Err(rustls::Error::General(
                "a pinpoint peer presents exactly one certificate".to_string(),
            ));
        }
        let id = node_id_from_cert(cert).map_err(|e| rustls::Error::General(e.to_string()))?;
        match self.expected {
            Some(want) if want != id => Err(rustls::Error::General(format!(
                "peer identity mismatch: expected {want}, got {id}"
            ))),
            _ => Ok(()),
        }
    }
}

/// Verifies a TLS 1.3 CertificateVerify signature: scheme ed25519, key from `cert`.
fn verify_ed25519(
    message: &[u8],
    cert: &CertificateDer<'_>,
    dss: &DigitallySignedStruct,
) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
    if dss.scheme != SignatureScheme::ED25519 {
        return Err(rustls::Error::PeerMisbehaved(
            rustls::PeerMisbehaved::SignedHandshakeWithUnadvertisedSigScheme,
        ));
    }
    let id = node_id_from_cert(cert).map_err(|e| rustls::Error::General(e.to_string()))?;
    let sig = Signature::from_slice(dss.signature())
        .map_err(|_| rustls::Error::InvalidCertificate(rustls::CertificateError::BadSignature))?;
    id.verifying_key()
        .verify_strict(message, &sig)
        .map_err(|_| rustls::Error::InvalidCertificate(rustls::CertificateError::BadSignature))?;
    Ok(HandshakeSignatureValid::assertion())
}

fn no_tls12() -> rustls::Error {
    rustls::Error::PeerIncompatible(rustls::PeerIncompatible::Tls13RequiredForQuic)
}

impl ServerCertVerifier for PeerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        self.check_cert(end_entity, intermediates)?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        Err(no_tls12())
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_ed25519(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        vec![SignatureScheme::ED25519]
    }
}

impl ClientCertVerifier for PeerVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        true
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> std::result::Result<ClientCertVerified, rustls::Error> {
        self.check_cert(end_entity, intermediates)?;
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        Err(no_tls12())
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_ed25519(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        vec![SignatureScheme::ED25519]
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The rustls server config of a node: TLS 1.3, ALPN [`ALPN`], mandatory client certificates
/// checked by [`PeerVerifier::any`].
///
/// Errors: [`NetError::Local`] if rustls refuses the configuration or the key.
pub fn server_config(identity: &Identity) -> Result<rustls::ServerConfig> {
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| NetError::Local(format!("TLS server config: {e}")))?
        .with_client_cert_verifier(Arc::new(PeerVerifier::any()))
        .with_single_cert(vec![identity.cert().clone()], identity.private_key())
        .map_err(|e| NetError::Local(format!("TLS server certificate: {e}")))?;
    cfg.alpn_protocols = vec![ALPN.to_vec()];
    Ok(cfg)
}

/// The rustls client config for dialing `expected`: TLS 1.3, ALPN [`ALPN`], this node's
/// certificate as client certificate, the server checked by [`PeerVerifier::expecting`].
///
/// Errors: [`NetError::Local`] if rustls refuses the configuration or the key.
pub fn client_config(identity: &Identity, expected: NodeId) -> Result<rustls::ClientConfig> {
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| NetError::Local(format!("TLS client config: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(PeerVerifier::expecting(expected)))
        .with_client_auth_cert(vec![identity.cert().clone()], identity.private_key())
        .map_err(|e| NetError::Local(format!("TLS client certificate: {e}")))?;
    cfg.alpn_protocols = vec![ALPN.to_vec()];
    Ok(cfg)
}

/// The [`NodeId`] of the peer of an established rustls/quinn session, from its certificates.
///
/// Errors: [`NetError::Refused`] when there is no single valid ed25519 certificate.
pub fn peer_node_id(certs: Option<&[CertificateDer<'_>]>) -> Result<NodeId> {
    match certs {
        Some([cert]) => node_id_from_cert(cert),
        _ => Err(NetError::Refused(
            "peer did not present exactly one certificate".to_string(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifier_checks_identity() {
        let a = Identity::from_seed([1; 32]).expect("identity");
        let b = Identity::from_seed([2; 32]).expect("identity");
        let v = PeerVerifier::expecting(a.node_id());
        assert!(v.check_cert(a.cert(), &[]).is_ok());
        assert!(v.check_cert(b.cert(), &[]).is_err());
        assert!(PeerVerifier::any().check_cert(b.cert(), &[]).is_ok());
        assert!(v.check_cert(a.cert(), &[b.cert().clone()]).is_err());
    }
}
