//! The settlement actor: the only actor of a node that talks to the chain (DESIGN §3).
//!
//! It works over any [`pinpoint_chain::Settlement`] back end (the embedded chain or an EVM
//! over JSON-RPC) held as a [`ChainHandle`], which several nodes in one process may share. The
//! node acts as one EVM account ([`SettlementArgs::account`]); **this actor must be the only
//! sender for that account** (the restart argument below depends on it).
//!
//! Messages ([`SettlementMsg`]): `Submit` a [`Call`] under a caller-chosen idempotency key,
//! with an optional reply ([`Receipt`] or [`SettlementError`]); `Poll` (also sent by the
//! actor's own timer when [`SettlementArgs::poll_interval`] is set): deliver new chain events,
//! move an embedded chain's time ([`ChainClock`]), resolve a pending intent; `Enroll`: stake
//! per role and register the node ([`enroll`]); `Read` (events from a caller's own cursor
//! and the chain's time) and `Registry` (the verified node registry), for the conductor,
//! which reaches the chain only through this actor; `Stats`.
//!
//! **Events.** Each poll reads the decoded events of blocks `≥` the cursor
//! ([`pinpoint_chain::Settlement::events_since`]) and sends each, in chain order, to every
//! subscriber given at spawn ([`SettlementArgs::subscribers`], so a restarted incarnation
//! still has them) as a [`ChainNotice`]; then the cursor becomes the last block + 1 and is
//! persisted ([`journal`]). Within one incarnation every event is delivered exactly once. A
//! crash after delivering and before persisting the cursor re-delivers those blocks' events to
//! the next incarnation's subscribers: across restarts delivery is at least once, so a
//! subscriber treats a chain event it already applied as a no-op. A block's events are
//! complete once the block exists (an embedded block is one transaction; an RPC chain's logs
//! are read per mined block); chain reorganisations are not handled.
//!
//! **Transactions, and why none is lost or sent twice.** Sends are one at a time. For each
//! `Submit(key, call)`:
//! 1. a key already recorded as done is refused with [`SettlementError::AlreadyDone`] (so a
//!    caller that retries after its own restart does not send twice);
//! 2. the actor reads the account's nonce `n` ([`pinpoint_chain::Settlement::nonce`]: the
//!    transactions the chain knows of, pending ones counted on an RPC chain) and journals the
//!    **intent** (key, `n`, contract, calldata) atomically;
//! 3. it sends; on a receipt it records the key as **done** (with the receipt's block), then
//!    drops the intent. On an error it asks the nonce again: above `n` means the transaction
//!    reached the chain anyway (e.g. a receipt timeout): recorded as done without a receipt;
//!    still `n` means it did not (a revert at estimation or in the embedded EVM changes
//!    nothing): the intent is dropped and the key may be retried.
//!
//! A new incarnation that finds an intent resolves it before anything else: a key already
//! done (crash between recording and dropping) is dropped; otherwise the nonce decides —
//! above `n`, the transaction reached the chain before the crash, so it is recorded as done
//! and **not re-sent**; equal to `n`, it never reached the chain, so the journalled calldata
//! is sent again (once). Because the account has one sender and one transaction in flight,
//! nonce `n` can only have been used by this intent. Until an intent is resolved (the chain
//! cannot be asked) no other transaction is sent ([`SettlementError::Unresolved`]).
//!
//! The window, honestly: between the send and the journal of its outcome the only record is
//! the intent, and the nonce is what resolves it. On an RPC chain, a transaction that was in
//! the node's pool at the restart counts as sent; if the pool then drops it for good (the
//! signed bytes died with the old client), it is lost, and the caller learns it only from the
//! missing events. A mined transaction that reverted also consumes its nonce: it is recorded
//! as done without a receipt (its key cannot be re-used), and it changed nothing. The outcome
//! of a resumed intent goes to the log, not to the original caller (its reply port died with
//! the old incarnation); callers learn it from the events or from `AlreadyDone` on a retry.
//!
//! **Failures.** A chain error (revert, RPC) is returned to the caller and logged, never a
//! panic; the actor fails (and its supervisor restarts it) only when its journal cannot be
//! written after a send. Counters ([`SettlementStats`]): transactions sent and failed, events
//! delivered and undelivered, intents resumed.
//!
//! **Chain time.** The actor reads time only through tokio's clock. With
//! [`ChainClock::Drive`] it moves an embedded chain's time on each poll (one driver per chain:
//! see [`ChainClock`]).

pub mod calldata;
pub mod enroll;
pub mod fault;
mod handle;
pub mod journal;

use std::marker::PhantomData;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use pinpoint_chain::alloy::primitives::{Address, U256};
use pinpoint_chain::{
    Addresses, Call, ChainError, LoggedEvent, Receipt, RegisteredNode, Role, Settlement,
};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use tokio::task::JoinHandle;
use tokio::time::Instant;

pub use enroll::{EnrollReport, Enrollment};
pub use fault::{FaultPoint, SettlementFault};
pub use handle::{ChainClock, ChainHandle, SetTime};
use journal::{Intent, Journal};

use crate::supervisor::Sink;

/// Default interval of the actor's own poll timer.
pub const DEFAULT_POLL_INTERVAL_MS: u64 = 500;

/// The journal's directory in a node's data directory: `<node.data_dir>/settlement`.
pub fn journal_dir(config: &crate::config::NodeConfig) -> PathBuf {
    config.node.data_dir.join("settlement")
}

/// A settlement error: returned to the caller of a message (and logged).
#[derive(Debug, thiserror::Error)]
pub enum SettlementError {
    /// The chain refused or failed (a revert, an RPC error).
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// A journal file could not be read or written.
    #[error("the settlement journal: {0}")]
    Journal(#[from] pinpoint_train::StoreError),
    /// A journal file does not decode.
    #[error(
        "the settlement journal file {path} is corrupt ({why}); move it aside only once you know \
         whether its transaction reached the chain"
    )]
    Corrupt {
        /// The file.
        path: String,
        /// What is wrong.
        why: String,
    },
    /// The key's transaction already reached the chain (this or an earlier incarnation sent
    /// it): nothing was sent.
    #[error("intent {key:?} is already done (block {})", block.map_or("unknown".to_string(), |b| b.to_string()))]
    AlreadyDone {
        /// The key.
        key: String,
        /// The receipt's block, if the receipt was seen.
        block: Option<u64>,
    },
    /// An earlier transaction's fate is not known yet (the chain could not be asked): no
    /// other transaction is sent until it is (the next poll tries again).
    #[error(
        "the transaction of intent {key:?} is not resolved yet; nothing else is sent until it is"
    )]
    Unresolved {
        /// The pending key.
        key: String,
    },
    /// The key is empty or too long.
    #[error("invalid intent key: {0}")]
    InvalidKey(String),
    /// A test-only fault hook fired ([`fault`]); never in a release build.
    #[error("fault hook: {0}")]
    FaultHook(String),
    /// The account cannot pay for the stake an enrollment needs.
    #[error("staking as {role:?} needs {needed} base units, but account {account} holds {balance}")]
    Underfunded {
        /// The node's account.
        account: Address,
        /// The role.
        role: Role,
        /// Stake missing.
        needed: U256,
        /// The account's token balance.
        balance: U256,
    },
}

/// Result of an operation that may also require the actor to fail: the outer error is fatal
/// (the journal cannot record a sent transaction), the inner one goes to the caller.
type Outcome<T> = Result<Result<T, SettlementError>, SettlementError>;

/// A chain event, delivered to the subscribers in chain order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainNotice {
    /// A decoded contract event with its block.
    Event(LoggedEvent),
}

/// Counters, shared by every incarnation (the node keeps them for the metrics endpoint).
#[derive(Debug, Default)]
pub struct SettlementCounters {
    sent: AtomicU64,
    failed: AtomicU64,
    delivered: AtomicU64,
    undelivered: AtomicU64,
    resumed: AtomicU64,
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

/// A snapshot of the counters and the actor's position.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SettlementStats {
    /// Transactions that reached the chain.
    pub sent: u64,
    /// Transactions refused by the chain or not sent (nothing changed).
    pub failed: u64,
    /// Events handed to subscribers (one per event and subscriber).
    pub events_delivered: u64,
    /// Events a subscriber could not take (it was gone).
    pub events_undelivered: u64,
    /// Intents of a previous incarnation resolved at start (recorded or re-sent).
    pub resumed: u64,
    /// The next block whose events will be delivered.
    pub next_block: u64,
    /// The key of an unresolved intent, if any.
    pub pending: Option<String>,
}

impl SettlementCounters {
    fn snapshot(&self, next_block: u64, pending: Option<String>) -> SettlementStats {
        SettlementStats {
            sent: self.sent.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            events_delivered: self.delivered.load(Ordering::Relaxed),
            events_undelivered: self.undelivered.load(Ordering::Relaxed),
            resumed: self.resumed.load(Ordering::Relaxed),
            next_block,
            pending,
        }
    }
}

/// What the settlement actor is spawned with (again on every restart).
pub struct SettlementArgs<S> {
    /// The chain.
    pub chain: ChainHandle<S>,
    /// The node's account (its only sender is this actor).
    pub account: Address,
    /// The journal's directory, normally `<node.data_dir>/settlement`.
    pub dir: PathBuf,
    /// Receive every chain event.
    pub subscribers: Vec<Sink<ChainNotice>>,
    /// The first block to deliver when no cursor is persisted yet.
    pub from_block: u64,
    /// The actor's own poll timer (`None`: polls only when sent `Poll`).
    pub poll_interval: Option<Duration>,
    /// Who moves the chain's time.
    pub clock: ChainClock<S>,
    /// Counters (shared across incarnations).
    pub counters: Arc<SettlementCounters>,
    /// Test-only fault injection (a type without values unless `fault-hooks`).
    pub fault: Option<SettlementFault>,
}

impl<S> Clone for SettlementArgs<S> {
    fn clone(&self) -> Self {
        Self {
            chain: self.chain.clone(),
            account: self.account,
            dir: self.dir.clone(),
            subscribers: self.subscribers.clone(),
            from_block: self.from_block,
            poll_interval: self.poll_interval,
            clock: self.clock,
            counters: Arc::clone(&self.counters),
            fault: self.fault.clone(),
        }
    }
}

impl<S> std::fmt::Debug for SettlementArgs<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SettlementArgs")
            .field("account", &self.account)
            .field("dir", &self.dir)
            .field("subscribers", &self.subscribers.len())
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}

/// Reply of a submission.
pub type SubmitReply = RpcReplyPort<Result<Receipt, SettlementError>>;

/// Messages of the settlement actor.
#[derive(Debug)]
pub enum SettlementMsg {
    /// Send `call` as the node's account, once per `key` (module docs); the reply, if asked,
    /// is the receipt or the error.
    Submit {
        /// Idempotency key, chosen by the caller (e.g. `job/7/commit`), 1..=256 bytes.
        key: String,
        /// The call.
        call: Call,
        /// Where the outcome goes.
        reply: Option<SubmitReply>,
    },
    /// Deliver new events (and drive the clock, resolve a pending intent); replies with the
    /// number of events read.
    Poll(Option<RpcReplyPort<Result<u64, SettlementError>>>),
    /// Stake per role and register the node, sending only what the chain lacks.
    Enroll(
        Enrollment,
        RpcReplyPort<Result<EnrollReport, SettlementError>>,
    ),
    /// The events of blocks `≥ from` and the chain's time, for a caller that keeps its own
    /// cursor (the conductor: a restarted incarnation reads again from block 0).
    Read {
        /// The first block to read.
        from: u64,
        /// The events and the time.
        reply: RpcReplyPort<Result<ChainRead, SettlementError>>,
    },
    /// The node registry's verified entries.
    Registry(RpcReplyPort<Result<Vec<RegisteredNode>, SettlementError>>),
    /// The counters.
    Stats(RpcReplyPort<SettlementStats>),
}

/// What [`SettlementMsg::Read`] answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainRead {
    /// Decoded events of the blocks asked for, in chain order.
    pub events: Vec<LoggedEvent>,
    /// The chain's time (seconds), read after the events.
    pub now: u64,
}

/// The settlement actor over back end `S`.
pub struct SettlementActor<S>(PhantomData<fn() -> S>);

impl<S> SettlementActor<S> {
    /// The actor (its configuration is in [`SettlementArgs`]).
    pub fn new() -> Self {
        Self(PhantomData)
    }
}

impl<S> Default for SettlementActor<S> {
    fn default() -> Self {
        Self::new()
    }
}

impl<S> std::fmt::Debug for SettlementActor<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SettlementActor")
    }
}

/// The actor's state: its configuration, journal and cursor.
pub struct Core<S> {
    cfg: SettlementArgs<S>,
    addresses: Addresses,
    journal: Journal,
    next_block: u64,
    pending: Option<Intent>,
    clock_base: Option<(u64, Instant)>,
    timer: Option<JoinHandle<()>>,
}

impl<S> std::fmt::Debug for Core<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Core")
            .field("next_block", &self.next_block)
            .field("pending", &self.pending.as_ref().map(|i| &i.key))
            .finish_non_exhaustive()
    }
}

impl<S> Drop for Core<S> {
    fn drop(&mut self) {
        if let Some(t) = self.timer.take() {
            t.abort();
        }
    }
}

impl<S: Settlement + 'static> Core<S> {
    fn fault(&self, point: FaultPoint, key: &str) -> Result<(), SettlementError> {
        if self.cfg.fault.as_ref().is_some_and(|f| f.fire(point, key)) {
            return Err(SettlementError::FaultHook(format!(
                "injected crash at {point:?} of {key:?}"
            )));
        }
        Ok(())
    }

    /// Sends `call` under `key` (module docs). Resolves a pending intent first.
    pub(crate) async fn submit(&mut self, key: String, call: Call) -> Outcome<Receipt> {
        if let Err(e) = journal::check_key(&key) {
            return Ok(Err(e));
        }
        if let Err(e) = self.resolve_pending().await? {
            return Ok(Err(e));
        }
        if let Some(block) = self.journal.done(&key) {
            return Ok(Err(SettlementError::AlreadyDone { key, block }));
        }
        self.send_journalled(key, call).await
    }

    async fn nonce(&self) -> Result<u64, ChainError> {
        self.cfg.chain.lock().await.nonce(self.cfg.account).await
    }

    async fn send_journalled(&mut self, key: String, call: Call) -> Outcome<Receipt> {
        let nonce = match self.nonce().await {
            Ok(n) => n,
            Err(e) => {
                bump(&self.cfg.counters.failed);
                return Ok(Err(e.into()));
            }
        };
        let (to, data) = call.encode(&self.addresses);
        let intent = Intent {
            key,
            nonce,
            to,
            data,
        };
        if let Err(e) = self.journal.write_intent(&intent) {
            bump(&self.cfg.counters.failed);
            return Ok(Err(e));
        }
        self.fault(FaultPoint::AfterIntent, &intent.key)?;
        let sent = {
            let mut chain = self.cfg.chain.lock().await;
            chain.send(self.cfg.account, call).await
        };
        self.fault(FaultPoint::AfterSend, &intent.key)?;
        match sent {
            Ok(receipt) => {
                self.journal.finish(&intent.key, Some(receipt.block))?;
                bump(&self.cfg.counters.sent);
                tracing::debug!(key = %intent.key, block = receipt.block, "transaction included");
                Ok(Ok(receipt))
            }
            Err(err) => {
                match self.nonce().await {
                    Ok(n) if n > nonce => {
                        self.journal.finish(&intent.key, None)?;
                        bump(&self.cfg.counters.sent);
                        tracing::warn!(key = %intent.key, "transaction reached the chain but failed or was not confirmed: {err}");
                    }
                    Ok(_) => {
                        self.journal.clear_intent()?;
                        bump(&self.cfg.counters.failed);
                        tracing::warn!(key = %intent.key, "transaction refused: {err}");
                    }
                    Err(e) => {
                        bump(&self.cfg.counters.failed);
                        tracing::warn!(key = %intent.key, "transaction failed ({err}) and the chain cannot be asked whether it landed ({e}); resolving later");
                        self.pending = Some(intent);
                    }
                }
                Ok(Err(err.into()))
            }
        }
    }

    /// Resolves an intent of an earlier send or incarnation (module docs). `Ok(Err(Unresolved))`
    /// while the chain cannot be asked.
    async fn resolve_pending(&mut self) -> Outcome<()> {
        let Some(intent) = self.pending.take() else {
            return Ok(Ok(()));
        };
        if self.journal.done(&intent.key).is_some() {
            self.journal.clear_intent()?;
            return Ok(Ok(()));
        }
        let n = match self.nonce().await {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(key = %intent.key, "cannot resolve the pending intent yet: {e}");
                let key = intent.key.clone();
                self.pending = Some(intent);
                return Ok(Err(SettlementError::Unresolved { key }));
            }
        };
        bump(&self.cfg.counters.resumed);
        if n > intent.nonce {
            tracing::info!(key = %intent.key, "the interrupted transaction reached the chain: recorded, not re-sent");
            self.journal.finish(&intent.key, None)?;
            bump(&self.cfg.counters.sent);
            return Ok(Ok(()));
        }
        let call = match calldata::decode_call(&self.addresses, intent.to, &intent.data) {
            Ok(c) => c,
            Err(why) => {
                return Err(SettlementError::Corrupt {
                    path: self.cfg.dir.join("intent").display().to_string(),
                    why,
                });
            }
        };
        tracing::info!(key = %intent.key, "the interrupted transaction never reached the chain: sending it now");
        match self.send_journalled(intent.key.clone(), call).await? {
            Ok(r) => {
                tracing::info!(key = %intent.key, block = r.block, "resumed transaction included")
            }
            Err(e) => tracing::warn!(key = %intent.key, "resumed transaction: {e}"),
        }
        Ok(Ok(()))
    }

    /// Moves an embedded chain's time (with [`ChainClock::Drive`]).
    async fn drive_clock(&mut self) -> Result<(), ChainError> {
        let (ChainClock::Drive(set), Some((t0, start))) = (self.cfg.clock, self.clock_base) else {
            return Ok(());
        };
        let target = t0.saturating_add(start.elapsed().as_secs());
        let mut chain = self.cfg.chain.lock().await;
        if target > chain.now().await? {
            set(&mut *chain, target)?;
        }
        Ok(())
    }

    /// Events from block `from` on, and the time after them.
    async fn read(&self, from: u64) -> Result<ChainRead, SettlementError> {
        let chain = self.cfg.chain.lock().await;
        let events = chain.events_since(from).await?;
        let now = chain.now().await?;
        Ok(ChainRead { events, now })
    }

    /// One poll (module docs): the number of events read.
    async fn poll(&mut self) -> Outcome<u64> {
        if let Err(e) = self.resolve_pending().await? {
            tracing::debug!("poll: {e}");
        }
        if let Err(e) = self.drive_clock().await {
            tracing::warn!("moving the chain's time: {e}");
            return Ok(Err(e.into()));
        }
        let events = {
            let chain = self.cfg.chain.lock().await;
            chain.events_since(self.next_block).await
        };
        let events = match events {
            Ok(ev) => ev,
            Err(e) => {
                tracing::warn!("reading chain events: {e}");
                return Ok(Err(e.into()));
            }
        };
        let Some(last) = events.last().map(|e| e.block) else {
            return Ok(Ok(0));
        };
        let n = events.len() as u64;
        for e in events {
            for sub in &self.cfg.subscribers {
                if sub.send(ChainNotice::Event(e.clone())) {
                    bump(&self.cfg.counters.delivered);
                } else {
                    bump(&self.cfg.counters.undelivered);
                    tracing::warn!(block = e.block, "a chain-event subscriber is gone");
                }
            }
        }
        self.next_block = last.saturating_add(1).max(self.next_block);
        if let Err(e) = self.journal.write_cursor(self.next_block) {
            tracing::warn!("persisting the event cursor: {e}");
            return Ok(Err(e));
        }
        Ok(Ok(n))
    }
}

fn fatal(e: SettlementError) -> ActorProcessingErr {
    tracing::error!("settlement actor fails: {e}");
    Box::new(e)
}

impl<S: Settlement + 'static> Actor for SettlementActor<S> {
    type Msg = SettlementMsg;
    type State = Core<S>;
    type Arguments = SettlementArgs<S>;

    async fn pre_start(
        &self,
        myself: ActorRef<SettlementMsg>,
        cfg: SettlementArgs<S>,
    ) -> Result<Core<S>, ActorProcessingErr> {
        let rec = journal::Journal::open(&cfg.dir).map_err(fatal)?;
        let (addresses, t0) = {
            let chain = cfg.chain.lock().await;
            let t0 = match cfg.clock {
                ChainClock::Observe => None,
                ChainClock::Drive(_) => Some(chain.now().await.map_err(|e| fatal(e.into()))?),
            };
            (chain.addresses(), t0)
        };
        let timer = cfg.poll_interval.map(|every| {
            let me = myself.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(every);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tick.tick().await;
                    if me.cast(SettlementMsg::Poll(None)).is_err() {
                        break;
                    }
                }
            })
        });
        let mut core = Core {
            next_block: rec.cursor.unwrap_or(cfg.from_block),
            cfg,
            addresses,
            journal: rec.journal,
            pending: rec.intent,
            clock_base: t0.map(|t| (t, Instant::now())),
            timer,
        };
        if let Err(e) = core.resolve_pending().await.map_err(fatal)? {
            tracing::warn!("{e}");
        }
        Ok(core)
    }

    async fn handle(
        &self,
        _myself: ActorRef<SettlementMsg>,
        msg: SettlementMsg,
        state: &mut Core<S>,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            SettlementMsg::Submit { key, call, reply } => {
                let out = state.submit(key.clone(), call).await.map_err(fatal)?;
                if let Err(e) = &out {
                    tracing::warn!(key = %key, "submission: {e}");
                }
                if let Some(reply) = reply {
                    let _ = reply.send(out);
                }
            }
            SettlementMsg::Poll(reply) => {
                let out = state.poll().await.map_err(fatal)?;
                if let Some(reply) = reply {
                    let _ = reply.send(out);
                }
            }
            SettlementMsg::Enroll(e, reply) => {
                let out = state.enroll(&e).await.map_err(fatal)?;
                if let Err(e) = &out {
                    tracing::warn!("enrollment: {e}");
                }
                let _ = reply.send(out);
            }
            SettlementMsg::Read { from, reply } => {
                let _ = reply.send(state.read(from).await);
            }
            SettlementMsg::Registry(reply) => {
                let nodes = {
                    let chain = state.cfg.chain.lock().await;
                    pinpoint_chain::registered_nodes(&*chain).await
                };
                let _ = reply.send(nodes.map_err(SettlementError::from));
            }
            SettlementMsg::Stats(reply) => {
                let pending = state.pending.as_ref().map(|i| i.key.clone());
                let _ = reply.send(state.cfg.counters.snapshot(state.next_block, pending));
            }
        }
        Ok(())
    }
}
