//! Applications' messages between nodes (the HTTP API's AXL-compatible bridge): opaque bytes
//! signed by the sending node and addressed to one node ([`AppMessage`], under the one envelope
//! job id [`app_scope`]), routed by the network actor like any job's messages, into a
//! **bounded** per-node [`AppInbox`]. A full inbox refuses the message and counts it; so does a
//! message addressed to another node or one that is not an [`AppMessage`].
//!
//! Each message is a request on its own QUIC stream, answered with an empty frame once it is
//! queued, or refused with the reason (the sender sees a full inbox). [`AppSender`] sends one
//! at a time and waits for the answer, so a sender's messages arrive in order (the receiver's
//! replay guard refuses a sequence number below one it has seen) and the sequence numbers
//! start above every earlier incarnation's (the conductor's `first_seq`: wall-clock
//! milliseconds · 2¹⁶), so a restarted node is never taken for a replay.
//!
//! [`attach`] spawns the small [`AppRouter`] actor that receives the scope's authenticated
//! messages and registers it with the node's network actor (again after every restart of
//! that actor).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pinpoint_net::{NetError, QuicNode, Transport};
use pinpoint_protocol::ProtocolError;
use pinpoint_protocol::codec::{Frame, PROTOCOL_VERSION};
use pinpoint_protocol::id::{NodeId, NodeKey};
use pinpoint_protocol::wire::{AppMessage, MESSAGE_KIND, Message, app_scope};
use ractor::{Actor, ActorProcessingErr, ActorRef};

use super::{NetworkMsg, Routed};
use crate::supervisor::ChildRef;

/// Default capacity of a node's [`AppInbox`] (messages).
pub const APP_INBOX_CAPACITY: usize = 64;

/// Counters of an [`AppInbox`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AppCounters {
    /// Messages queued for the application.
    pub received: u64,
    /// Refused: the inbox was full.
    pub refused_full: u64,
    /// Refused: addressed to another node, or not an application message.
    pub refused_invalid: u64,
    /// Taken by the application.
    pub taken: u64,
}

#[derive(Debug, Default)]
struct Queue {
    messages: VecDeque<(NodeId, Vec<u8>)>,
    counters: AppCounters,
}

/// A node's bounded inbox of application messages: (sender, bytes), oldest first.
#[derive(Debug, Clone)]
pub struct AppInbox {
    queue: Arc<Mutex<Queue>>,
    capacity: usize,
}

/// Why an application message was not queued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AppRefusal {
    /// The inbox holds its capacity already.
    #[error("the application inbox is full ({0} messages)")]
    Full(usize),
    /// Not for this node, or not an application message.
    #[error("not an application message for this node")]
    Invalid,
}

impl AppInbox {
    /// An empty inbox of `capacity` messages (at least 1).
    pub fn new(capacity: usize) -> Self {
        Self {
            queue: Arc::default(),
            capacity: capacity.max(1),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        // A panic while holding this lock leaves a queue that is still consistent (each
        // operation is one push, pop or counter increment).
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues `payload` from `from`, or refuses it (counted) when the inbox is full.
    pub fn offer(&self, from: NodeId, payload: Vec<u8>) -> Result<(), AppRefusal> {
        let mut q = self.lock();
        if q.messages.len() >= self.capacity {
            q.counters.refused_full += 1;
            return Err(AppRefusal::Full(self.capacity));
        }
        q.messages.push_back((from, payload));
        q.counters.received += 1;
        Ok(())
    }

    fn refuse_invalid(&self) {
        self.lock().counters.refused_invalid += 1;
    }

    /// The oldest message, if any.
    pub fn take(&self) -> Option<(NodeId, Vec<u8>)> {
        let mut q = self.lock();
        let m = q.messages.pop_front();
        if m.is_some() {
            q.counters.taken += 1;
        }
        m
    }

    /// Messages waiting.
    pub fn len(&self) -> usize {
        self.lock().messages.len()
    }

    /// Whether no message waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The capacity.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The counters.
    pub fn counters(&self) -> AppCounters {
        self.lock().counters
    }
}

/// The actor the network routes [`app_scope`] messages to: it checks each is an
/// [`AppMessage`] for this node and queues it.
#[derive(Debug, Clone, Copy, Default)]
pub struct AppRouter;

/// Spawn input and state of [`AppRouter`].
#[derive(Debug, Clone)]
pub struct AppRouterArgs {
    /// This node.
    pub node: NodeId,
    /// Where messages go.
    pub inbox: AppInbox,
}

impl Actor for AppRouter {
    type Msg = Routed;
    type State = AppRouterArgs;
    type Arguments = AppRouterArgs;

    async fn pre_start(
        &self,
        _: ActorRef<Routed>,
        args: AppRouterArgs,
    ) -> Result<AppRouterArgs, ActorProcessingErr> {
        Ok(args)
    }

    async fn handle(
        &self,
        _: ActorRef<Routed>,
        routed: Routed,
        state: &mut AppRouterArgs,
    ) -> Result<(), ActorProcessingErr> {
        let from = routed.from;
        let reply = routed.reply;
        let result = match routed.message.statement {
            Message::App(m) if m.to == state.node => {
                state.inbox.offer(from, m.payload.into_inner())
            }
            _ => {
                state.inbox.refuse_invalid();
                Err(AppRefusal::Invalid)
            }
        };
        match (result, reply) {
            (Ok(()), Some(reply)) => reply.respond(ack()),
            (Ok(()), None) => {}
            (Err(e), reply) => {
                tracing::warn!(peer = %from, "application message refused: {e}");
                if let Some(reply) = reply {
                    reply.refuse(e.to_string());
                }
            }
        }
        Ok(())
    }
}

/// Spawns an [`AppRouter`] for `node` over `inbox` and registers it with the node's network
/// actor for [`app_scope`], now and after every restart of that actor (a task follows
/// `network`'s incarnations until the supervisor is gone).
///
/// Errors: the router cannot be spawned.
pub async fn attach(
    node: NodeId,
    inbox: AppInbox,
    mut network: ChildRef<NetworkMsg>,
) -> Result<(ActorRef<Routed>, tokio::task::JoinHandle<()>), ractor::SpawnErr> {
    let (router, _) = Actor::spawn(None, AppRouter, AppRouterArgs { node, inbox }).await?;
    let handler = router.get_derived();
    let follow = tokio::spawn(async move {
        let mut previous = None;
        while let Some(net) = network.started_after(previous).await {
            previous = Some(net.get_id());
            if net
                .send_message(NetworkMsg::Register(app_scope(), handler.clone()))
                .is_err()
            {
                continue;
            }
        }
    });
    Ok((router, follow))
}

/// Why an application message was not sent.
#[derive(Debug, thiserror::Error)]
pub enum AppSendError {
    /// The payload is too large, or the message does not sign or encode.
    #[error("{0}")]
    Message(#[from] ProtocolError),
    /// The transport could not deliver it.
    #[error("{0}")]
    Net(#[from] NetError),
}

/// How long a sender waits for the receiver's answer.
pub const APP_SEND_DEADLINE: Duration = Duration::from_secs(10);

/// The answer to a queued message: an empty frame.
fn ack() -> Frame {
    Frame {
        version: PROTOCOL_VERSION,
        kind: MESSAGE_KIND,
        body: Vec::new(),
    }
}

/// Signs and sends application messages as this node, one at a time.
#[derive(Debug)]
pub struct AppSender {
    key: NodeKey,
    transport: QuicNode,
    /// The last sequence number used; held across a send, so sends go one at a time.
    seq: tokio::sync::Mutex<u64>,
}

impl AppSender {
    /// A sender signing with `key` over `transport`.
    pub fn new(key: NodeKey, transport: QuicNode) -> Self {
        Self {
            key,
            transport,
            seq: tokio::sync::Mutex::new(crate::conduct::first_seq()),
        }
    }

    /// This node.
    pub fn node(&self) -> NodeId {
        self.key.node_id()
    }

    /// Sends `payload` to `to`, signed, and waits until `to` has queued it (at most
    /// [`APP_SEND_DEADLINE`]); returns the frame's size in bytes.
    ///
    /// Errors: [`AppSendError::Message`] (over [`pinpoint_protocol::wire::MAX_APP_BYTES`]),
    /// [`AppSendError::Net`]: an unknown or unreachable peer, or its refusal (e.g. a full
    /// inbox, as `NetError::Refused` with the reason).
    pub async fn send(&self, to: NodeId, payload: Vec<u8>) -> Result<usize, AppSendError> {
        let message = Message::App(AppMessage::new(to, payload)?);
        let mut seq = self.seq.lock().await;
        *seq += 1;
        let signed = message.sign(&self.key, app_scope(), 0, *seq)?;
        let frame = Frame::seal(&signed)?;
        let bytes = frame.body.len();
        self.transport.request(to, frame, APP_SEND_DEADLINE).await?;
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(b: u8) -> NodeId {
        NodeKey::from_seed([b; 32]).node_id()
    }

    #[test]
    fn a_full_inbox_refuses_and_counts() {
        let inbox = AppInbox::new(2);
        assert!(inbox.offer(node(1), b"a".to_vec()).is_ok());
        assert!(inbox.offer(node(2), b"b".to_vec()).is_ok());
        assert_eq!(
            inbox.offer(node(3), b"c".to_vec()),
            Err(AppRefusal::Full(2))
        );
        assert_eq!(inbox.len(), 2);
        assert_eq!(inbox.take(), Some((node(1), b"a".to_vec())));
        assert!(inbox.offer(node(3), b"c".to_vec()).is_ok());
        assert_eq!(inbox.take(), Some((node(2), b"b".to_vec())));
        assert_eq!(inbox.take(), Some((node(3), b"c".to_vec())));
        assert_eq!(inbox.take(), None);
        assert_eq!(
            inbox.counters(),
            AppCounters {
                received: 3,
                refused_full: 1,
                refused_invalid: 0,
                taken: 3,
            }
        );
    }
}
