//! A node's network identity: its ed25519 key, and the self-signed certificate made from it.
//!
//! The certificate's public key *is* the [`NodeId`]: a peer is identified by the key it proves
//! possession of in the TLS 1.3 handshake, never by a name or a certificate authority.

use pinpoint_protocol::id::{NodeId, NodeKey};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::error::{NetError, Result};

/// DER prefix of an ed25519 PKCS#8 v1 private key (RFC 8410 §7) before the 32 seed bytes.
const PKCS8_ED25519_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

/// DER of an ed25519 SubjectPublicKeyInfo (RFC 8410 §4) before the 32 public-key bytes.
const SPKI_ED25519_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

/// Subject alternative name written into every certificate (informational only: verifiers
/// check the key, never the name).
pub const CERT_NAME: &str = "pinpoint";

/// A node's key with its certificate and the PKCS#8 form rustls signs with.
pub struct Identity {
    key: NodeKey,
    cert: CertificateDer<'static>,
    pkcs8: Vec<u8>,
}

impl Identity {
    /// Builds the identity whose ed25519 secret key (RFC 8032 seed) is `seed`, and a fresh
    /// self-signed certificate for it.
    ///
    /// Errors: [`NetError::Local`] if rcgen cannot build the certificate.
    pub fn from_seed(seed: [u8; 32]) -> Result<Self> {
        let key = NodeKey::from_seed(seed);
        let mut pkcs8 = Vec::with_capacity(48);
        pkcs8.extend_from_slice(&PKCS8_ED25519_PREFIX);
        pkcs8.extend_from_slice(&seed);
        let der = PrivatePkcs8KeyDer::from(pkcs8.clone());
        let pair = rcgen::KeyPair::from_pkcs8_der_and_sign_algo(&der, &rcgen::PKCS_ED25519)
            .map_err(|e| NetError::Local(format!("ed25519 key for the certificate: {e}")))?;
        let params = rcgen::CertificateParams::new(vec![CERT_NAME.to_string()])
            .map_err(|e| NetError::Local(format!("certificate parameters: {e}")))?;
        let cert = params
            .self_signed(&pair)
            .map_err(|e| NetError::Local(format!("self-signing the certificate: {e}")))?;
        let identity = Self {
            key,
            cert: cert.der().clone(),
            pkcs8,
        };
        debug_assert_eq!(
            node_id_from_cert(&identity.cert).ok(),
            Some(identity.node_id())
        );
        Ok(identity)
    }

    /// This node's id (its ed25519 public key).
    pub fn node_id(&self) -> NodeId {
        self.key.node_id()
    }

    /// The protocol signing key (for signed statements).
    pub fn node_key(&self) -> &NodeKey {
        &self.key
    }

    /// The self-signed certificate (DER).
    pub fn cert(&self) -> &CertificateDer<'static> {
        &self.cert
    }

    /// The private key in the form rustls loads (PKCS#8 v1).
    pub fn private_key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.pkcs8.clone()))
    }
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Identity({})", self.node_id())
    }
}

/// The [`NodeId`] a certificate speaks for: its subject public key, which must be ed25519.
///
/// The certificate is parsed as X.509 (webpki); its SubjectPublicKeyInfo must be exactly an
/// ed25519 key, and that key must be a valid, non-weak point.
///
/// Errors: [`NetError::Refused`] for anything else.
pub fn node_id_from_cert(cert: &CertificateDer<'_>) -> Result<NodeId> {
    let parsed = webpki::EndEntityCert::try_from(cert)
        .map_err(|e| NetError::Refused(format!("certificate does not parse: {e}")))?;
    let spki = parsed.subject_public_key_info();
    let spki = spki.as_ref();
    let key = spki
        .strip_prefix(&SPKI_ED25519_PREFIX[..])
        .filter(|k| k.len() == 32)
        .ok_or_else(|| NetError::Refused("certificate key is not ed25519".to_string()))?;
    let mut bytes = [0u8; 32];
    bytes.copy_from_slice(key);
    NodeId::from_bytes(bytes).map_err(|e| NetError::Refused(format!("certificate key: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cert_speaks_for_its_key() {
        let id = Identity::from_seed([3; 32]).expect("identity");
        assert_eq!(node_id_from_cert(id.cert()), Ok(id.node_id()));
        let other = Identity::from_seed([4; 32]).expect("identity");
        assert_ne!(node_id_from_cert(other.cert()), Ok(id.node_id()));
    }

    #[test]
    fn garbage_cert_is_refused() {
        let bad = CertificateDer::from(vec![0x30, 0x03, 0x01, 0x01, 0xff]);
        assert!(matches!(node_id_from_cert(&bad), Err(NetError::Refused(_))));
    }
}
