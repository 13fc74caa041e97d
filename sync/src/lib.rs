//! # pinpoint-sync: the project's own shared-state primitives, loom-checked
//!
//! The actors share a little state across threads; each such piece lives here, written
//! against [`shim`] so that `RUSTFLAGS="--cfg loom"` swaps `std::sync` for `loom::sync` and
//! the loom tests (`tests/loom.rs`, run by `scripts/loom`) explore every interleaving.
//!
//! - [`JobSlot`]: the executor's slot: one job in flight, cancellation, and a result handed
//!   off exactly once (a cancelled job's result is discarded).
//! - [`Published`]: a checkpoint store's commit publication: readers see the newest committed
//!   version, whole, and versions never go backwards, whatever the writers' interleaving.
//! - [`peers::PeerBook`]: the network's peer book (addresses, liveness, failure backoff),
//!   generic over the peer id; each operation atomic under one lock.

pub mod peers;
mod publish;
pub mod shim;
mod slot;

pub use publish::Published;
pub use slot::{JobSlot, Outcome, SlotError, Taken, Ticket};
