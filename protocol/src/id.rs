//! Identities, signed statements and replay protection.
//!
//! - [`NodeId`]: a node's identity, the 32 bytes of its ed25519 public key, validated to be a
//!   point of the curve that is not of small order.
//! - [`NodeKey`]: a node's signing key, built from 32 caller-supplied seed bytes (this crate
//!   draws no randomness of its own).
//! - [`Signed`]: a statement with its signer, job id, round and sequence number, signed over
//!   domain-separated canonical bytes (see [`Signed::signing_digest`]).
//! - [`Registration`]: the statement a node key signs to bind itself to a settlement account
//!   (chain id, registry, account, roles, endpoint), stored by the chain's node registry.
//! - [`ReplayGuard`]: accepts a verified statement only if its sequence number was not accepted
//!   before for the same `(signer, job, round)` and is above, or within [`REPLAY_WINDOW`] of,
//!   the highest one accepted (statements on separate streams may arrive reordered).
//!
//! Exact byte layouts: `docs/protocol.md`, "Identities and signed statements".

mod key;
mod registration;
mod replay;
mod signed;

pub use key::{NodeId, NodeKey};
pub use registration::{MAX_ENDPOINT_LEN, REGISTRATION_CONTEXT, Registration};
pub use replay::{DEFAULT_REPLAY_CAPACITY, REPLAY_WINDOW, ReplayGuard};
pub use signed::{JobId, SIGNED_STATEMENT_CONTEXT, Signed};
