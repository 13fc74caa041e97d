//! The node-registration statement: the message a node key signs to bind itself to an
//! account of the settlement chain (the registry in the `Staking` contract stores it; every
//! reader verifies it, since the EVM cannot check ed25519 cheaply).
//!
//! Bytes signed (no hashing before ed25519):
//! `REGISTRATION_CONTEXT ‖ chain_id (u64 BE) ‖ registry (20) ‖ account (20) ‖ roles (u8) ‖
//! len(endpoint) (u16 BE) ‖ endpoint (UTF-8)`. The chain id and registry address stop a
//! signature from being replayed on another deployment, the account binds the key to one
//! stake, and the roles and endpoint stop a third party from re-pointing a node.

use ed25519_dalek::{Signature, Verifier};

use crate::error::{ProtocolError, Result};
use crate::id::{NodeId, NodeKey};

/// Domain-separation prefix of a registration.
pub const REGISTRATION_CONTEXT: &[u8] = b"pinpoint/node-registration/v1";

/// Longest endpoint (bytes), as the contract enforces.
pub const MAX_ENDPOINT_LEN: usize = 255;

/// What a node registers: everything the signature covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    /// Chain id of the settlement chain.
    pub chain_id: u64,
    /// Address of the registry contract.
    pub registry: [u8; 20],
    /// The EVM account that holds the node's stake.
    pub account: [u8; 20],
    /// Bit set of roles (bit `r` = role `r`: trainer, solver, verifier, arbiter).
    pub roles: u8,
    /// QUIC endpoint, `host:port`.
    pub endpoint: String,
}

impl Registration {
    /// The exact bytes signed (see the module docs).
    ///
    /// Errors: [`ProtocolError::Malformed`] if the endpoint is empty or longer than
    /// [`MAX_ENDPOINT_LEN`].
    pub fn message(&self) -> Result<Vec<u8>> {
        let len = self.endpoint.len();
        if len == 0 || len > MAX_ENDPOINT_LEN {
            return Err(ProtocolError::Malformed {
                what: "registration endpoint",
                detail: format!("length {len} not in 1..={MAX_ENDPOINT_LEN}"),
            });
        }
        let mut m = Vec::with_capacity(REGISTRATION_CONTEXT.len() + 8 + 40 + 3 + len);
        m.extend_from_slice(REGISTRATION_CONTEXT);
        m.extend_from_slice(&self.chain_id.to_be_bytes());
        m.extend_from_slice(&self.registry);
        m.extend_from_slice(&self.account);
        m.push(self.roles);
        m.extend_from_slice(&(len as u16).to_be_bytes());
        m.extend_from_slice(self.endpoint.as_bytes());
        Ok(m)
    }

    /// `key`'s signature over [`Registration::message`].
    ///
    /// Errors: as [`Registration::message`].
    pub fn sign(&self, key: &NodeKey) -> Result<[u8; 64]> {
        Ok(key.sign_raw(&self.message()?).to_bytes())
    }

    /// Checks that `signature` is `node`'s over this registration.
    ///
    /// Errors: [`ProtocolError::BadSignature`] if it does not verify, or as
    /// [`Registration::message`].
    pub fn verify(&self, node: &NodeId, signature: &[u8; 64]) -> Result<()> {
        let sig = Signature::from_bytes(signature);
        node.verifying_key()
            .verify(&self.message()?, &sig)
            .map_err(|_| {
                ProtocolError::BadSignature(format!(
                    "registration of node {node} for account 0x{} does not verify",
                    self.account
                        .iter()
                        .map(|b| format!("{b:02x}"))
                        .collect::<String>()
                ))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reg() -> Registration {
        Registration {
            chain_id: 31337,
            registry: [1; 20],
            account: [2; 20],
            roles: 0b0001,
            endpoint: "10.0.0.1:4433".into(),
        }
    }

    #[test]
    fn a_signature_verifies_only_for_what_it_signed() {
        let key = NodeKey::from_seed([7; 32]);
        let sig = reg().sign(&key).expect("valid endpoint");
        reg()
            .verify(&key.node_id(), &sig)
            .expect("own signature verifies");
        let other = NodeKey::from_seed([8; 32]).node_id();
        assert!(reg().verify(&other, &sig).is_err(), "another key");
        let changes: [fn(&mut Registration); 5] = [
            |r| r.chain_id += 1,
            |r| r.registry[0] ^= 1,
            |r| r.account[19] ^= 1,
            |r| r.roles = 0b1000,
            |r| r.endpoint = "10.0.0.2:4433".into(),
        ];
        for change in changes {
            let mut r = reg();
            change(&mut r);
            assert!(
                matches!(
                    r.verify(&key.node_id(), &sig),
                    Err(ProtocolError::BadSignature(_))
                ),
                "{r:?}"
            );
        }
    }

    #[test]
    fn bad_endpoints_are_rejected() {
        let key = NodeKey::from_seed([7; 32]);
        for endpoint in [String::new(), "x".repeat(MAX_ENDPOINT_LEN + 1)] {
            let r = Registration { endpoint, ..reg() };
            assert!(matches!(r.sign(&key), Err(ProtocolError::Malformed { .. })));
        }
    }
}
