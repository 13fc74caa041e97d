//! The network actor: the node's inbound edge. Frames from the transport enter a bounded
//! [`Inbox`] (a full inbox refuses with [`Refusal::QueueFull`] and a counter, never grows),
//! are authenticated once ([`auth`]: size, decoding, signer = the connection's `NodeId`,
//! signature, replay) and are forwarded to the handler registered for their job as a
//! [`Routed`] message. Every refusal is counted in [`NetCounters`], logged, and changes
//! nothing else; a refused request is answered with the reason.
//!
//! The actor pulls from the inbox one frame at a time and waits until it is handled, so at
//! most `capacity + 1` frames are held. The inbox's receiver sits behind a lock in
//! [`NetworkArgs`], so a restarted incarnation takes it over.
//!
//! Not built yet: sends with deadlines, gossip of job announcements, peer discovery from the
//! chain's registry (they belong with the role actors).

pub mod app;
pub mod auth;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use pinpoint_net::{Inbound, Responder};
use pinpoint_protocol::codec::Limits;
use pinpoint_protocol::id::{JobId, NodeId, ReplayGuard};
use pinpoint_protocol::wire::SignedMessage;
use ractor::{Actor, ActorProcessingErr, ActorRef, DerivedActorRef, RpcReplyPort};
use tokio::sync::{Mutex, mpsc};

pub use auth::Refusal;

/// An authenticated message for a job's handler.
#[derive(Debug)]
pub struct Routed {
    /// The connection's peer, which signed it.
    pub from: NodeId,
    /// The verified message.
    pub message: SignedMessage,
    /// For a request: where the answer goes (dropping it refuses the request).
    pub reply: Option<Responder>,
}

/// Refusals and deliveries so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NetCounters {
    /// Frames delivered to a handler.
    pub delivered: u64,
    /// Refused: the inbox was full.
    pub queue_full: u64,
    /// Refused: undecodable or too large.
    pub undecodable: u64,
    /// Refused: unknown job.
    pub unknown_job: u64,
    /// Refused: signer is not the connection's peer.
    pub signer_mismatch: u64,
    /// Refused: bad signature.
    pub bad_signature: u64,
    /// Refused: replayed sequence number.
    pub replayed: u64,
    /// Refused: other protocol errors, or the handler is gone.
    pub other: u64,
    /// One-way messages for a job not routed yet, parked for [`PARK_MS`] (a peer that reads
    /// a dispute from the chain a moment before this node); counted again as delivered or,
    /// once expired, as `unknown_job`.
    pub parked: u64,
}

/// How long a one-way message for a job this node does not route yet waits for its handler.
pub const PARK_MS: u64 = 2_000;
/// Most messages parked at once (the oldest is refused when full).
pub const PARK_CAPACITY: usize = 64;

/// A parked one-way message.
#[derive(Debug)]
struct Parked {
    at: tokio::time::Instant,
    job: JobId,
    from: NodeId,
    frame: pinpoint_protocol::codec::Frame,
}

/// The sending side of the bounded inbox (the transport's feeder holds it).
#[derive(Debug, Clone)]
pub struct Inbox {
    tx: mpsc::Sender<Inbound>,
    refused: Arc<AtomicU64>,
}

/// The receiving side, shared by the network actor's incarnations.
pub type InboxReceiver = Arc<Mutex<mpsc::Receiver<Inbound>>>;

/// A bounded inbox of `capacity` frames (`limits.inbound_queue`).
pub fn inbox(capacity: usize) -> (Inbox, InboxReceiver) {
    let (tx, rx) = mpsc::channel(capacity.max(1));
    (
        Inbox {
            tx,
            refused: Arc::new(AtomicU64::new(0)),
        },
        Arc::new(Mutex::new(rx)),
    )
}

impl Inbox {
    /// Queues a frame, or refuses it when the inbox is full (a request is answered with the
    /// refusal) or closed.
    pub fn offer(&self, inbound: Inbound) -> Result<(), Refusal> {
        match self.tx.try_send(inbound) {
            Ok(()) => Ok(()),
            Err(
                mpsc::error::TrySendError::Full(inbound)
                | mpsc::error::TrySendError::Closed(inbound),
            ) => {
                self.refused.fetch_add(1, Ordering::Relaxed);
                if let Inbound::Request { reply, .. } = inbound {
                    reply.refuse(Refusal::QueueFull.to_string());
                }
                Err(Refusal::QueueFull)
            }
        }
    }

    /// Frames refused because the inbox was full.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }
}

/// Moves frames from a transport's queue (e.g. `QuicNode::bind`'s) into `inbox` as they
/// arrive; when the inbox is full they are refused there (and counted). Ends when the
/// transport drops its queue.
pub fn feed(mut from: mpsc::Receiver<Inbound>, inbox: Inbox) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while let Some(inbound) = from.recv().await {
            let _ = inbox.offer(inbound);
        }
    })
}

/// The network actor.
#[derive(Debug, Clone, Copy, Default)]
pub struct Network;

/// Spawn input of [`Network`].
#[derive(Debug, Clone)]
pub struct NetworkArgs {
    /// The inbox to drain.
    pub inbox: InboxReceiver,
    /// Its sending side (for the queue-full counter).
    pub inbox_tx: Inbox,
    /// Frame size limit.
    pub limits: Limits,
    /// Replay guard capacity (keys).
    pub replay_capacity: usize,
}

/// Messages of the network actor.
#[derive(Debug)]
pub enum NetworkMsg {
    /// Route the job's messages to `handler` (replacing any earlier one).
    Register(JobId, DerivedActorRef<Routed>),
    /// Stop routing the job (and forget its replay state).
    Unregister(JobId),
    /// From the pump: one inbound frame; the reply paces the pump.
    Deliver(Inbound, RpcReplyPort<()>),
    /// The counters.
    Counters(RpcReplyPort<NetCounters>),
    /// Refuse parked messages older than [`PARK_MS`] (sent by the actor's own timer).
    Expire,
}

/// The network actor's state.
#[derive(Debug)]
pub struct NetworkState {
    handlers: BTreeMap<JobId, DerivedActorRef<Routed>>,
    guard: ReplayGuard,
    limits: Limits,
    counters: NetCounters,
    inbox_tx: Inbox,
    pump: tokio::task::JoinHandle<()>,
    parked: std::collections::VecDeque<Parked>,
}

impl Drop for NetworkState {
    fn drop(&mut self) {
        self.pump.abort();
    }
}

impl NetworkState {
    fn count(&mut self, r: &Refusal) {
        let c = &mut self.counters;
        match r {
            Refusal::Undecodable(_) => c.undecodable += 1,
            Refusal::UnknownJob(_) => c.unknown_job += 1,
            Refusal::SignerMismatch { .. } => c.signer_mismatch += 1,
            Refusal::BadSignature(_) => c.bad_signature += 1,
            Refusal::Replayed(_) => c.replayed += 1,
            Refusal::QueueFull => c.queue_full += 1,
            Refusal::Invalid(_) | Refusal::HandlerGone(_) => c.other += 1,
        }
    }

    fn deliver(&mut self, inbound: Inbound) {
        let (from, frame, reply) = match inbound {
            Inbound::Request { from, frame, reply } => (from, frame, Some(reply)),
            Inbound::Message { from, frame } => (from, frame, None),
        };
        let handlers = &self.handlers;
        let result = auth::authenticate(
            from,
            &frame,
            &self.limits,
            |job| handlers.contains_key(job),
            &mut self.guard,
        );
        let refusal = match result {
            Ok(message) => {
                let job = message.job;
                let routed = Routed {
                    from,
                    message,
                    reply,
                };
                let sent = match self.handlers.get(&job) {
                    Some(h) => h.send_message(routed).is_ok(),
                    None => false,
                };
                if sent {
                    self.counters.delivered += 1;
                    return;
                }
                self.handlers.remove(&job);
                // The reply went with the message; the requester sees a refusal when it is
                // dropped.
                let r = Refusal::HandlerGone(job);
                tracing::warn!(peer = %from, "inbound refused: {r}");
                self.count(&r);
                return;
            }
            Err(Refusal::UnknownJob(job)) if reply.is_none() => {
                // Perhaps a peer that read a dispute from the chain before this node did:
                // wait a moment for the job's handler.
                if self.parked.len() == PARK_CAPACITY
                    && let Some(old) = self.parked.pop_front()
                {
                    self.refuse_parked(old);
                }
                self.counters.parked += 1;
                self.parked.push_back(Parked {
                    at: tokio::time::Instant::now(),
                    job,
                    from,
                    frame,
                });
                return;
            }
            Err(r) => r,
        };
        tracing::warn!(peer = %from, "inbound refused: {refusal}");
        self.count(&refusal);
        if let Some(reply) = reply {
            reply.refuse(refusal.to_string());
        }
    }
}

impl NetworkState {
    fn refuse_parked(&mut self, p: Parked) {
        let r = Refusal::UnknownJob(p.job);
        tracing::warn!(peer = %p.from, "inbound refused after waiting: {r}");
        self.count(&r);
    }

    /// Delivers the parked messages of `job` (its handler just registered).
    fn unpark(&mut self, job: &JobId) {
        let (ready, rest): (Vec<Parked>, Vec<Parked>) =
            self.parked.drain(..).partition(|p| &p.job == job);
        self.parked = rest.into();
        for p in ready {
            self.deliver(Inbound::Message {
                from: p.from,
                frame: p.frame,
            });
        }
    }

    /// Refuses parked messages older than [`PARK_MS`].
    fn expire(&mut self) {
        let now = tokio::time::Instant::now();
        while let Some(p) = self.parked.front() {
            if now.duration_since(p.at) < std::time::Duration::from_millis(PARK_MS) {
                break;
            }
            if let Some(p) = self.parked.pop_front() {
                self.refuse_parked(p);
            }
        }
    }
}

impl Actor for Network {
    type Msg = NetworkMsg;
    type State = NetworkState;
    type Arguments = NetworkArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<NetworkMsg>,
        args: NetworkArgs,
    ) -> Result<NetworkState, ActorProcessingErr> {
        let inbox = Arc::clone(&args.inbox);
        myself.send_interval(std::time::Duration::from_millis(PARK_MS / 4), || {
            NetworkMsg::Expire
        });
        let pump = tokio::spawn(async move {
            let mut rx = inbox.lock().await;
            while let Some(inbound) = rx.recv().await {
                if ractor::call!(myself, NetworkMsg::Deliver, inbound).is_err() {
                    break;
                }
            }
        });
        Ok(NetworkState {
            handlers: BTreeMap::new(),
            guard: ReplayGuard::new(args.replay_capacity),
            limits: args.limits,
            counters: NetCounters::default(),
            inbox_tx: args.inbox_tx,
            pump,
            parked: std::collections::VecDeque::new(),
        })
    }

    async fn handle(
        &self,
        _myself: ActorRef<NetworkMsg>,
        msg: NetworkMsg,
        state: &mut NetworkState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            NetworkMsg::Register(job, handler) => {
                state.handlers.insert(job, handler);
                state.unpark(&job);
            }
            NetworkMsg::Expire => state.expire(),
            NetworkMsg::Unregister(job) => {
                state.handlers.remove(&job);
                state.guard.forget_job(&job);
            }
            NetworkMsg::Deliver(inbound, done) => {
                state.deliver(inbound);
                let _ = done.send(());
            }
            NetworkMsg::Counters(reply) => {
                let mut c = state.counters;
                c.queue_full += state.inbox_tx.refused();
                let _ = reply.send(c);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
