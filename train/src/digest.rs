//! [`Digest`]: a 32-byte blake3 hash (of a spec, a state, a file), printed as lower-case hex.

use std::fmt;

use pinpoint_kernels::tensor::TensorHash;

/// A 32-byte blake3 digest: spec hashes, state hashes `h(S_t)`, content hashes.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Digest(pub [u8; 32]);

impl Digest {
    /// blake3 in `derive_key` mode with domain tag `context`, over `bytes`.
    pub fn derive(context: &str, bytes: &[u8]) -> Self {
        let mut h = blake3::Hasher::new_derive_key(context);
        h.update(bytes);
        Self(*h.finalize().as_bytes())
    }

    /// Plain (unkeyed) blake3 of `bytes`: the content hash of a user's file, as `b3sum` prints.
    pub fn content(bytes: &[u8]) -> Self {
        Self(*blake3::hash(bytes).as_bytes())
    }

    /// Lower-case hex, 64 characters.
    pub fn to_hex(&self) -> String {
        TensorHash(self.0).to_hex()
    }

    /// Parses exactly 64 hex characters (either case; surrounding whitespace is trimmed).
    pub fn from_hex(s: &str) -> Option<Self> {
        TensorHash::from_hex(s).map(|h| Self(h.0))
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({})", self.to_hex())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip_and_domains() {
        let a = Digest::derive("a", b"x");
        let b = Digest::derive("b", b"x");
        assert_ne!(a, b);
        assert_eq!(Digest::from_hex(&a.to_hex()), Some(a));
        assert_eq!(Digest::from_hex("00"), None);
        assert_eq!(
            Digest::content(b"").to_hex(),
            "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"
        );
    }
}
