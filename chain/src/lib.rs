//! # pinpoint-chain: settlement on an EVM
//!
//! Payment, stake and slashing for pinpoint (DESIGN §7), as Solidity contracts
//! (`chain/contracts/`: `PinToken`, `Staking`, `JobMarket`) compiled by a pinned solc-js into
//! the checked-in `chain/artifacts/`, and two back ends behind one trait:
//!
//! - [`Settlement`]: [`Settlement::send`] a [`Call`] as an account and get a [`Receipt`] with
//!   the decoded [`ChainEvent`]s, or a typed [`ChainError`] (reverts decoded:
//!   [`ChainError::InsufficientStake`], [`ChainError::Reverted`] with the reason);
//!   [`Settlement::events_since`] polls events; views ([`Settlement::totals`],
//!   [`Settlement::balance_of`], [`Settlement::position`], [`Settlement::view`]).
//! - [`Embedded`] (the default): the same bytecode on revm in-process, deployed at start by
//!   [`deploy::DEFAULT_DEPLOYER`]; durable through an append-only transaction log replayed on
//!   [`Embedded::open`] (a torn last record is dropped with a warning), or in memory
//!   ([`Embedded::in_memory`], [`Embedded::snapshot`]). Its time moves only by
//!   [`Embedded::set_time`], so a simulator drives it.
//! - [`Evm`]: alloy over HTTP JSON-RPC (anvil, an L2): local signer, nonce cache, gas
//!   estimation, retries with backoff ([`RetryPolicy`]), receipts awaited, dropped
//!   transactions resubmitted; [`Evm::deploy`] deploys the contracts.
//!
//! Nodes register their ed25519 `NodeId`, roles and endpoint with the stake's account
//! ([`Call::RegisterNode`], signed by [`sign_registration`]); [`registered_nodes`] returns the
//! registrations whose signatures verify (the contract cannot check ed25519).
//!
//! Call order: deploy (or open) → fund accounts with `Transfer` from the deployer → `Approve`
//! the Staking/JobMarket contracts → `Stake` → `PostJob` → `Accept` ×replicas → `Commit` (or
//! `CloseCommits` after the deadline) → `FixSeed` (the verifiers' sampling seed) → disputes,
//! one at a time: `OpenDispute`/`DisputeNext` between trainers or a verifier's `Challenge`,
//! decided by `Vote`/`Rule` (both lose is a ruling), `Redraw` after a committee's deadline
//! ([`dispute`]) → `Finalize` after the window, once the live roots agree. Payouts equal
//! `pinpoint_protocol::fees` (0.5% fee, 70% of it burned; a slashed bond pays 50% to the
//! winner, [`DeployConfig::arbiter_share_bps`] = the protocol's 10% to the arbiters who voted
//! with the majority, and burns the rest). Details: `docs/chain.md`.
// The unit-test build sees the dev-dependencies too; the plain build is checked strictly.
#![cfg_attr(test, allow(unused_crate_dependencies))]

pub mod bindings;
pub mod call;
pub mod deploy;
pub mod dispute;
pub mod embedded;
pub mod error;
pub mod event;
pub mod registry;
pub mod revert;
pub mod rpc;
pub mod settlement;

pub use alloy;
pub use alloy::primitives::{Address, B256, U256};
pub use alloy::signers::local::PrivateKeySigner;
pub use call::{
    Addresses, Call, Finding, JobParams, MAX_COMMITTEE, MAX_REPLICAS, PIN, Role, Spender,
};
pub use deploy::{DeployConfig, deploy_plan};
pub use dispute::{DisputeInfo, Ruling, dispute_info, sampling_seed};
pub use embedded::Embedded;
pub use error::{ChainError, Result};
pub use event::{ChainEvent, LoggedEvent};
pub use pinpoint_protocol::id::{NodeId, NodeKey};
pub use registry::{RegisteredNode, chain_id, registered_nodes, sign_registration};
pub use rpc::{Evm, RetryPolicy, read_key_file};
pub use settlement::{Position, Receipt, Settlement, Totals};
