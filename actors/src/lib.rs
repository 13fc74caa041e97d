//! # pinpoint-actors: the node, as ractor actors
//!
//! A pinpoint node is a tree of actors under one [`supervisor::NodeSupervisor`]
//! (DESIGN §3). This crate holds the parts that do not depend on the protocol's role
//! machines; the role shells, network routing and settlement join as those land.
//!
//! - [`config`]: `node.toml` ([`config::NodeConfig`]): roles and stakes, network, chain,
//!   store, executor, queue bounds, restart intensity, accepted-job policy; unknown keys
//!   rejected, every error names its field, [`config::NodeConfig::render`] prints the
//!   resolved config.
//! - [`keys`]: the node's ed25519 key and EVM key files (0600, never overwritten).
//! - [`store`]: the data directory, content-addressed by blake3, atomic writes, corrupt files
//!   skipped, retention within a disk budget.
//! - [`supervisor`]: our restart policy (one-for-one, at most R restarts in W seconds, then
//!   the node stops with an error naming the actor and its failure) and [`supervisor::NodeHandle`].
//! - [`executor`]: the executor actor: one compute request at a time (a
//!   [`pinpoint_sync::JobSlot`]) on its own OS thread, progress events, cancellation,
//!   checkpoints and a journal in the store, so a restarted executor resumes with identical
//!   hashes.
//! - [`network`]: the inbound edge: a bounded inbox, each frame authenticated once
//!   (signer = connection, signature, replay, size), routed to its job's handler; every
//!   refusal counted.
//! - [`node`]: assembly of the store, executor and supervisor from a config.
//! - [`conduct`]: the conductor, one per node: the chain book (chain events → role inputs
//!   and chain duties), the role shells, signed sends over QUIC, compute off the event loop.
//! - [`devnet`]: a whole network in one process on one embedded chain (tests, `pinpoint
//!   devnet`).
//! - [`settlement`]: the only actor that talks to the chain: journalled, nonce-safe
//!   submissions under idempotency keys, chain events to subscribers from a persisted cursor,
//!   start-up staking and registration, an embedded chain's clock.
//! - [`run`]: running one node from its config until shut down (`pinpoint node`).
//! - [`api`]: the node's local HTTP API (status, jobs, peers, disputes with their bisection,
//!   events, Prometheus metrics, OpenAPI) and its live dashboard, on actix-web.
//! - [`role`]: [`role::RoleShell`], the one generic actor around any protocol role machine
//!   (inputs in, actions out to the node's effects actor, one timer on tokio's clock).
//!
//! Rules (DESIGN §3): no process-global actor names (every `ActorRef` is passed explicitly,
//! so many nodes share a process); every queue has a named bound; actor code reads time only
//! through tokio's clock. Features: `fault-hooks` (test-only fault injection in the executor).
//! Reference: `docs/node.md`.
// The unit-test build sees the dev-dependencies too; the plain build is checked strictly.
#![cfg_attr(test, allow(unused_crate_dependencies))]

pub mod api;
pub mod conduct;
pub mod config;
pub mod devnet;
pub mod executor;
pub mod keys;
pub mod network;
pub mod node;
pub mod role;
pub mod run;
pub mod settlement;
pub mod store;
pub mod supervisor;
#[cfg(any(test, feature = "fault-hooks"))]
pub mod testkit;
