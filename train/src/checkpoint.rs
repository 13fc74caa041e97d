//! The checkpoint file format (bytes only; [`crate::fs::store`] does the I/O).
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 8 | magic `b"PINPTCKP"` |
//! | 8 | 4 | format version, u32 LE ([`VERSION`]) |
//! | 12 | 32 | spec hash ([`crate::JobSpec::hash`]) |
//! | 44 | 32 | state hash `h(S)` ([`TrainState::hash`]) |
//! | 76 | 8 | payload length `n`, u64 LE |
//! | 84 | n | the state's canonical encoding ([`TrainState::encode`]) |
//! | 84 + n | 32 | checksum: `blake3_derive_key("pinpoint 2026 checkpoint file v1", bytes[0 .. 84 + n])` |
//!
//! Reading checks, in order: length ≥ header, magic, version, announced length (truncated or
//! trailing bytes), checksum (any flipped bit), spec hash (a checkpoint of another job), the
//! state decodes, and its recomputed hash equals the stored one.

use crate::digest::Digest;
use crate::error::{StateError, StoreProblem};
use crate::state::TrainState;

/// File magic.
pub const MAGIC: [u8; 8] = *b"PINPTCKP";
/// Format version written and read.
pub const VERSION: u32 = 1;
/// Bytes before the payload.
pub const HEADER_LEN: usize = 84;
/// Bytes of the trailing checksum.
pub const CHECKSUM_LEN: usize = 32;
/// Domain tag of the checksum.
pub const CHECKSUM_CONTEXT: &str = "pinpoint 2026 checkpoint file v1";

/// A decoded, verified checkpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct Checkpoint {
    /// Spec hash of the job.
    pub spec_hash: Digest,
    /// `h(S)`, verified.
    pub state_hash: Digest,
    /// The state.
    pub state: TrainState,
}

/// The file bytes of a checkpoint of `state` for the job `spec_hash`, and `h(state)`.
pub fn encode(spec_hash: Digest, state: &TrainState) -> Result<(Vec<u8>, Digest), StateError> {
    let state_hash = state.hash()?;
    let payload = state.encode()?;
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len() + CHECKSUM_LEN);
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&spec_hash.0);
    out.extend_from_slice(&state_hash.0);
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(&payload);
    let sum = Digest::derive(CHECKSUM_CONTEXT, &out);
    out.extend_from_slice(&sum.0);
    Ok((out, state_hash))
}

fn digest_at(bytes: &[u8], at: usize) -> Digest {
    Digest(bytes[at..at + 32].try_into().expect("invariant: 32 bytes"))
}

/// Verifies and decodes checkpoint bytes. With `expected_spec`, a checkpoint of another job is
/// [`StoreProblem::WrongSpec`].
pub fn decode(bytes: &[u8], expected_spec: Option<Digest>) -> Result<Checkpoint, StoreProblem> {
    let len = bytes.len() as u64;
    let min = (HEADER_LEN + CHECKSUM_LEN) as u64;
    if bytes.len() < MAGIC.len() || bytes[..MAGIC.len()] != MAGIC {
        if bytes.len() < MAGIC.len() && MAGIC.starts_with(bytes) {
            return Err(StoreProblem::Truncated { len, needed: min });
        }
        return Err(StoreProblem::BadMagic);
    }
    if bytes.len() < HEADER_LEN {
        return Err(StoreProblem::Truncated { len, needed: min });
    }
    let version = u32::from_le_bytes(bytes[8..12].try_into().expect("invariant: 4 bytes"));
    if version != VERSION {
        return Err(StoreProblem::UnsupportedVersion {
            found: version,
            supported: VERSION,
        });
    }
    let n = u64::from_le_bytes(bytes[76..84].try_into().expect("invariant: 8 bytes"));
    let needed = n.saturating_add(min);
    if len < needed {
        return Err(StoreProblem::Truncated { len, needed });
    }
    if len > needed {
        return Err(StoreProblem::TrailingBytes {
            extra: len - needed,
        });
    }
    let end = HEADER_LEN + n as usize;
    let stored = digest_at(bytes, end);
    let computed = Digest::derive(CHECKSUM_CONTEXT, &bytes[..end]);
    if stored != computed {
        return Err(StoreProblem::Corrupted {
            what: "file checksum",
            stored,
            computed,
        });
    }
    let spec_hash = digest_at(bytes, 12);
    if let Some(expected) = expected_spec
        && expected != spec_hash
    {
        return Err(StoreProblem::WrongSpec {
            expected,
            found: spec_hash,
        });
    }
    let state = TrainState::decode(&bytes[HEADER_LEN..end]).map_err(StoreProblem::State)?;
    let stored = digest_at(bytes, 44);
    let computed = state.hash().map_err(StoreProblem::State)?;
    if stored != computed {
        return Err(StoreProblem::Corrupted {
            what: "state hash",
            stored,
            computed,
        });
    }
    Ok(Checkpoint {
        spec_hash,
        state_hash: computed,
        state,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::tests::sample_state;

    fn spec() -> Digest {
        Digest::derive("test", b"spec")
    }

    #[test]
    fn round_trip() {
        let s = sample_state(5);
        let (bytes, h) = encode(spec(), &s).unwrap();
        let c = decode(&bytes, Some(spec())).unwrap();
        assert_eq!(c.state, s);
        assert_eq!(c.state_hash, h);
        assert_eq!(c.spec_hash, spec());
        assert_eq!(decode(&bytes, None).unwrap().state, s);
    }

    #[test]
    fn every_defect_is_named() {
        let (bytes, _) = encode(spec(), &sample_state(5)).unwrap();
        for cut in [0, 3, 50, HEADER_LEN, bytes.len() - 1] {
            assert!(
                matches!(
                    decode(&bytes[..cut], None),
                    Err(StoreProblem::Truncated { .. })
                ),
                "cut {cut}: {:?}",
                decode(&bytes[..cut], None)
            );
        }
        let mut long = bytes.clone();
        long.push(1);
        assert_eq!(
            decode(&long, None),
            Err(StoreProblem::TrailingBytes { extra: 1 })
        );
        let mut magic = bytes.clone();
        magic[0] = b'X';
        assert_eq!(decode(&magic, None), Err(StoreProblem::BadMagic));
        let mut version = bytes.clone();
        version[8] = 2;
        assert!(matches!(
            decode(&version, None),
            Err(StoreProblem::UnsupportedVersion { found: 2, .. })
        ));
        // A flipped bit anywhere after the version is caught by the checksum.
        for at in [12, 50, 90, bytes.len() - 40, bytes.len() - 1] {
            let mut bad = bytes.clone();
            bad[at] ^= 0x10;
            assert!(
                matches!(decode(&bad, None), Err(StoreProblem::Corrupted { .. })),
                "byte {at}"
            );
        }
        let other = Digest::derive("test", b"other spec");
        assert!(matches!(
            decode(&bytes, Some(other)),
            Err(StoreProblem::WrongSpec { .. })
        ));
        // A payload whose stored state hash is wrong, with a recomputed checksum.
        let mut forged = bytes[..bytes.len() - CHECKSUM_LEN].to_vec();
        forged[44] ^= 1;
        let sum = Digest::derive(CHECKSUM_CONTEXT, &forged);
        forged.extend_from_slice(&sum.0);
        assert!(matches!(
            decode(&forged, None),
            Err(StoreProblem::Corrupted {
                what: "state hash",
                ..
            })
        ));
    }
}
