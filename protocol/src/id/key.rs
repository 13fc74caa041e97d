//! `NodeId` (an ed25519 public key) and `NodeKey` (the matching signing key).

use std::fmt;
use std::io;

use borsh::{BorshDeserialize, BorshSerialize};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};

use crate::error::{ProtocolError, Result};

/// A node's identity: the 32 bytes of its ed25519 public key (compressed Edwards point).
///
/// Every `NodeId` value that exists has been validated: the bytes decompress to a curve point
/// and that point is not of small order ("weak" keys, which could sign almost any message, are
/// refused). Borsh decoding validates too, so a decoded message never carries a bad key.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, BorshSerialize)]
pub struct NodeId([u8; 32]);

impl NodeId {
    /// Validates 32 public-key bytes.
    ///
    /// Errors: [`ProtocolError::BadSignature`] if the bytes are not a valid ed25519 point or
    /// the point has small order.
    pub fn from_bytes(bytes: [u8; 32]) -> Result<Self> {
        Self::verifying_key_of(&bytes)?;
        Ok(Self(bytes))
    }

    /// The 32 public-key bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The 32 public-key bytes, by value.
    pub fn to_bytes(self) -> [u8; 32] {
        self.0
    }

    /// Lower-case hex, 64 characters (the same as `Display`).
    pub fn to_hex(&self) -> String {
        hex32(&self.0)
    }

    /// Parses 64 hex characters (either case) and validates the key.
    ///
    /// Errors: [`ProtocolError::Malformed`] for bad hex, [`ProtocolError::BadSignature`] for
    /// bytes that are not a valid key.
    pub fn from_hex(s: &str) -> Result<Self> {
        let bytes = parse_hex32(s).ok_or_else(|| ProtocolError::Malformed {
            what: "node id",
            detail: format!("expected 64 hex characters, got {:?}", truncate(s)),
        })?;
        Self::from_bytes(bytes)
    }

    /// The ed25519 verifying key (decompressed point).
    pub fn verifying_key(&self) -> VerifyingKey {
        Self::verifying_key_of(&self.0).expect("invariant: NodeId bytes were validated")
    }

    fn verifying_key_of(bytes: &[u8; 32]) -> Result<VerifyingKey> {
        let key = VerifyingKey::from_bytes(bytes).map_err(|_| {
            ProtocolError::BadSignature(format!(
                "node id {} is not a valid ed25519 point",
                hex32(bytes)
            ))
        })?;
        if key.is_weak() {
            return Err(ProtocolError::BadSignature(format!(
                "node id {} is a small-order (weak) ed25519 key",
                hex32(bytes)
            )));
        }
        Ok(key)
    }
}

impl BorshDeserialize for NodeId {
    fn deserialize_reader<R: io::Read>(reader: &mut R) -> io::Result<Self> {
        let bytes = <[u8; 32]>::deserialize_reader(reader)?;
        NodeId::from_bytes(bytes).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeId({})", self.to_hex())
    }
}

/// A node's signing key. Built only from caller-supplied seed bytes: this crate has no RNG.
///
/// `Debug` prints the public [`NodeId`] only; the secret is zeroized on drop.
#[derive(Clone)]
pub struct NodeKey {
    signing: SigningKey,
    id: NodeId,
}

impl NodeKey {
    /// The key whose ed25519 secret key (RFC 8032 seed) is `seed`.
    ///
    /// The caller is responsible for the seed's entropy (a node generates it once with the
    /// OS RNG, outside this crate; tests use fixed seeds).
    pub fn from_seed(seed: [u8; 32]) -> Self {
        let signing = SigningKey::from_bytes(&seed);
        let id = NodeId(signing.verifying_key().to_bytes());
        // A key derived by RFC 8032 clamping is a multiple of the base point's prime order
        // subgroup generator, hence never of small order.
        debug_assert!(NodeId::from_bytes(id.0).is_ok());
        Self { signing, id }
    }

    /// This key's public identity.
    pub fn node_id(&self) -> NodeId {
        self.id
    }

    /// Raw ed25519 signature over `message` (used by [`crate::id::Signed`]; callers should
    /// prefer signed envelopes, which add domain separation and replay fields).
    pub(crate) fn sign_raw(&self, message: &[u8]) -> Signature {
        self.signing.sign(message)
    }
}

impl fmt::Debug for NodeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeKey({})", self.id.to_hex())
    }
}

/// Lower-case hex of 32 bytes.
pub(crate) fn hex32(bytes: &[u8; 32]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(64);
    for b in bytes {
        write!(s, "{b:02x}").expect("invariant: writing to a String cannot fail");
    }
    s
}

fn parse_hex32(s: &str) -> Option<[u8; 32]> {
    let s = s.as_bytes();
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        let hi = hex_digit(s[2 * i])?;
        let lo = hex_digit(s[2 * i + 1])?;
        *byte = (hi << 4) | lo;
    }
    Some(out)
}

fn hex_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(80).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip_and_display() {
        let id = NodeKey::from_seed([7; 32]).node_id();
        let hex = id.to_string();
        assert_eq!(hex.len(), 64);
        assert_eq!(NodeId::from_hex(&hex), Ok(id));
        assert_eq!(NodeId::from_hex(&hex.to_uppercase()), Ok(id));
        assert!(format!("{id:?}").contains(&hex));
    }

    #[test]
    fn bad_hex_is_malformed() {
        for s in ["", "00", &"g".repeat(64), &"0".repeat(63), &"0".repeat(65)] {
            assert!(matches!(
                NodeId::from_hex(s),
                Err(ProtocolError::Malformed { .. })
            ));
        }
    }

    #[test]
    fn invalid_points_are_rejected() {
        // The identity point (y = 1) has small order.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert!(matches!(
            NodeId::from_bytes(identity),
            Err(ProtocolError::BadSignature(_))
        ));
        // y = 2 is not on the curve (no x with x^2 = (y^2-1)/(d y^2+1)).
        let mut off_curve = [0u8; 32];
        off_curve[0] = 2;
        assert!(matches!(
            NodeId::from_bytes(off_curve),
            Err(ProtocolError::BadSignature(_))
        ));
        // All-zero bytes: y = 0 is a small-order point (order 4).
        assert!(NodeId::from_bytes([0; 32]).is_err());
    }

    #[test]
    fn borsh_decoding_validates() {
        let id = NodeKey::from_seed([1; 32]).node_id();
        let bytes = borsh::to_vec(&id).expect("encode");
        assert_eq!(bytes, id.as_bytes().to_vec());
        assert_eq!(borsh::from_slice::<NodeId>(&bytes).expect("decode"), id);
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert!(borsh::from_slice::<NodeId>(&identity).is_err());
    }

    #[test]
    fn debug_of_key_hides_secret() {
        let key = NodeKey::from_seed([9; 32]);
        let dbg = format!("{key:?}");
        assert_eq!(dbg, format!("NodeKey({})", key.node_id()));
    }
}
