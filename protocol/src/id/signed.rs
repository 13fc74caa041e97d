//! `Signed<T>`: a statement bound to its signer, job, round and sequence number.

use borsh::{BorshDeserialize, BorshSerialize};
use ed25519_dalek::Signature;

use super::key::{NodeId, NodeKey};
use crate::error::{ProtocolError, Result};

/// A job's id: 32 bytes (the hash of its `JobSpec`, fixed elsewhere).
pub type JobId = [u8; 32];

/// blake3 `derive_key` context of the digest that a [`Signed`] envelope's signature covers.
pub const SIGNED_STATEMENT_CONTEXT: &str = "pinpoint 2026 signed statement v1";

/// A signed statement.
///
/// The signature is pure Ed25519 (RFC 8032, verified with the strict rules: canonical `S`,
/// no small-order `R` or key) over the 32-byte digest
///
/// ```text
/// d = blake3::derive_key("pinpoint 2026 signed statement v1",
///                        borsh(signer) ‖ job ‖ round u32 LE ‖ seq u64 LE ‖ borsh(statement))
/// ```
///
/// which is exactly the borsh encoding of this envelope without its final `signature` field.
/// The `derive_key` context separates these signatures from every other use of the key.
///
/// Fields are public for reading; a value that came from a peer is untrusted until
/// [`Signed::verify`] (or [`crate::id::ReplayGuard::accept`]) succeeded.
///
/// Borsh layout: `signer [32] ‖ job [32] ‖ round u32 LE ‖ seq u64 LE ‖ statement ‖
/// signature [64]`.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Signed<T> {
    /// Who signed (validated ed25519 key).
    pub signer: NodeId,
    /// The job this statement belongs to.
    pub job: JobId,
    /// The protocol round (e.g. a dispute's bisection round) within the job.
    pub round: u32,
    /// The signer's sequence number within `(job, round)`; strictly increasing.
    pub seq: u64,
    /// The statement itself.
    pub statement: T,
    /// Ed25519 signature `R ‖ S` over [`Signed::signing_digest`].
    pub signature: [u8; 64],
}

impl<T: BorshSerialize> Signed<T> {
    /// Signs `statement` with `key` for `(job, round, seq)`.
    ///
    /// Errors: [`ProtocolError::Malformed`] if the statement's borsh serialization fails
    /// (only possible for a hand-written `BorshSerialize` that errors).
    pub fn sign(key: &NodeKey, job: JobId, round: u32, seq: u64, statement: T) -> Result<Self> {
        let signer = key.node_id();
        let digest = Self::digest_of(&signer, &job, round, seq, &statement)?;
        let signature = key.sign_raw(&digest).to_bytes();
        Ok(Self {
            signer,
            job,
            round,
            seq,
            statement,
            signature,
        })
    }

    /// The 32-byte digest the signature covers (see the type's documentation).
    pub fn signing_digest(&self) -> Result<[u8; 32]> {
        Self::digest_of(
            &self.signer,
            &self.job,
            self.round,
            self.seq,
            &self.statement,
        )
    }

    /// Checks the signature against `signer` and the envelope's contents.
    ///
    /// Errors: [`ProtocolError::BadSignature`] if it does not verify;
    /// [`ProtocolError::Malformed`] if the statement cannot be serialized.
    pub fn verify(&self) -> Result<()> {
        let digest = self.signing_digest()?;
        let signature = Signature::from_bytes(&self.signature);
        self.signer
            .verifying_key()
            .verify_strict(&digest, &signature)
            .map_err(|_| {
                ProtocolError::BadSignature(format!(
                    "statement of job {} round {} seq {} does not verify for signer {}",
                    super::key::hex32(&self.job),
                    self.round,
                    self.seq,
                    self.signer
                ))
            })
    }

    fn digest_of(
        signer: &NodeId,
        job: &JobId,
        round: u32,
        seq: u64,
        statement: &T,
    ) -> Result<[u8; 32]> {
        let mut hasher = blake3::Hasher::new_derive_key(SIGNED_STATEMENT_CONTEXT);
        (signer, job, round, seq, statement)
            .serialize(&mut hasher)
            .map_err(|e| ProtocolError::Malformed {
                what: "signed statement",
                detail: format!("statement does not serialize: {e}"),
            })?;
        Ok(*hasher.finalize().as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
    struct Claim {
        step: u64,
        root: [u8; 32],
    }

    fn claim() -> Claim {
        Claim {
            step: 12,
            root: [0xab; 32],
        }
    }

    fn signed() -> Signed<Claim> {
        Signed::sign(&NodeKey::from_seed([3; 32]), [5; 32], 2, 7, claim()).expect("sign")
    }

    #[test]
    fn round_trip_verifies() {
        let s = signed();
        s.verify().expect("verifies");
        let bytes = borsh::to_vec(&s).expect("encode");
        assert_eq!(bytes.len(), 32 + 32 + 4 + 8 + (8 + 32) + 64);
        let back: Signed<Claim> = borsh::from_slice(&bytes).expect("decode");
        assert_eq!(back, s);
        back.verify().expect("decoded verifies");
    }

    #[test]
    fn digest_is_borsh_without_signature() {
        let s = signed();
        let bytes = borsh::to_vec(&s).expect("encode");
        let body = &bytes[..bytes.len() - 64];
        assert_eq!(
            s.signing_digest().expect("digest"),
            blake3::derive_key(SIGNED_STATEMENT_CONTEXT, body)
        );
    }

    #[test]
    fn signing_is_deterministic() {
        assert_eq!(signed(), signed());
    }

    fn assert_bad(s: &Signed<Claim>) {
        assert!(
            matches!(s.verify(), Err(ProtocolError::BadSignature(_))),
            "{s:?} should not verify"
        );
    }

    #[test]
    fn every_flipped_bit_of_the_encoding_is_rejected() {
        // Flip each bit of the borsh encoding; whatever still decodes must not verify.
        let bytes = borsh::to_vec(&signed()).expect("encode");
        let mut decoded = 0;
        for i in 0..bytes.len() * 8 {
            let mut b = bytes.clone();
            b[i / 8] ^= 1 << (i % 8);
            if let Ok(s) = borsh::from_slice::<Signed<Claim>>(&b) {
                decoded += 1;
                assert_bad(&s);
            }
        }
        // Only flips of the signer bytes may fail to decode (invalid points).
        assert!(decoded >= (bytes.len() - 32) * 8);
    }

    #[test]
    fn flipped_fields_are_rejected() {
        let s = signed();
        let mut t = s.clone();
        t.statement.step ^= 1;
        assert_bad(&t);
        let mut t = s.clone();
        t.statement.root[31] ^= 0x80;
        assert_bad(&t);
        let mut t = s.clone();
        t.job[0] ^= 1;
        assert_bad(&t);
        let mut t = s.clone();
        t.round ^= 1 << 31;
        assert_bad(&t);
        let mut t = s.clone();
        t.seq ^= 1;
        assert_bad(&t);
        for byte in [0, 31, 32, 63] {
            let mut t = s.clone();
            t.signature[byte] ^= 1;
            assert_bad(&t);
        }
        let mut t = s.clone();
        t.signer = NodeKey::from_seed([4; 32]).node_id();
        assert_bad(&t);
    }

    #[test]
    fn forged_signer_is_rejected() {
        // Mallory signs, then claims Alice's identity.
        let alice = NodeKey::from_seed([1; 32]).node_id();
        let mut forged =
            Signed::sign(&NodeKey::from_seed([2; 32]), [5; 32], 2, 7, claim()).expect("sign");
        forged.verify().expect("valid for mallory");
        forged.signer = alice;
        assert_bad(&forged);
    }

    #[test]
    fn different_statements_sign_differently() {
        let s = Signed::sign(&NodeKey::from_seed([3; 32]), [0; 32], 0, 0, 5u64).expect("sign");
        let t = Signed::sign(&NodeKey::from_seed([3; 32]), [0; 32], 0, 0, 6u64).expect("sign");
        assert_ne!(s.signature, t.signature);
    }
}
