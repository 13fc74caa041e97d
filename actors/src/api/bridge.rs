//! The AXL-compatible bridge: agents written for Gensyn's AXL node API talk through a pinpoint
//! node.
//!
//! - `POST /send`: the body (at most [`MAX_APP_BYTES`]) goes to the node named by the header
//!   `X-Destination-Peer-Id` (its `NodeId`, 64 hex digits) as a signed [`AppMessage`] over
//!   QUIC, answered once the peer has queued it; 200 with `X-Sent-Bytes` and
//!   `{"sent_bytes": n}`. A missing or malformed header, or this node's own id, is 400; an
//!   oversized body 413; a peer the transport cannot reach, or that refuses the message (its
//!   inbox is full, it serves no bridge), 502 with the reason.
//! - `GET /recv`: the oldest message of the node's bounded inbox: 200 with the bytes
//!   (`application/octet-stream`) and `X-From-Peer-Id`; 204 when the inbox is empty.
//! - `GET /topology`: this node's id (`our_public_key`), its registered peers (and whether
//!   the transport can address them now) and the inbox's counters.
//!
//! [`AppMessage`]: pinpoint_protocol::wire::AppMessage

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use pinpoint_net::QuicNode;
use pinpoint_protocol::id::{NodeId, NodeKey};
use pinpoint_protocol::wire::MAX_APP_BYTES;
use ractor::ActorRef;
use serde_json::json;

use super::routes::{Shared, error, snapshot};
use crate::network::app::{APP_INBOX_CAPACITY, AppInbox, AppSendError, AppSender, attach};
use crate::network::{NetworkMsg, Routed};
use crate::supervisor::ChildRef;

/// The request header naming the destination.
pub const DESTINATION_HEADER: &str = "X-Destination-Peer-Id";
/// The response header naming the sender.
pub const FROM_HEADER: &str = "X-From-Peer-Id";
/// The response header with the bytes sent.
pub const SENT_HEADER: &str = "X-Sent-Bytes";

/// A node's bridge: its sender, its bounded inbox, and the router the network actor delivers
/// application messages to.
#[derive(Debug, Clone)]
pub struct Bridge {
    /// Signs and sends as the node.
    pub sender: Arc<AppSender>,
    /// The node's inbox of application messages.
    pub inbox: AppInbox,
    router: ActorRef<Routed>,
    follow: tokio::task::AbortHandle,
}

impl Bridge {
    /// Starts the bridge of the node with `key` and `transport`: an inbox of
    /// [`APP_INBOX_CAPACITY`] messages, its router registered with the node's `network` actor.
    ///
    /// Errors: the router cannot be spawned.
    pub async fn start(
        key: NodeKey,
        transport: QuicNode,
        network: ChildRef<NetworkMsg>,
    ) -> Result<Self, ractor::SpawnErr> {
        let inbox = AppInbox::new(APP_INBOX_CAPACITY);
        let (router, follow) = attach(key.node_id(), inbox.clone(), network).await?;
        Ok(Self {
            sender: Arc::new(AppSender::new(key, transport)),
            inbox,
            router,
            follow: follow.abort_handle(),
        })
    }

    /// Stops the router (the network refuses the scope's messages from then on).
    pub fn stop(&self) {
        self.follow.abort();
        self.router.stop(None);
    }
}

type Data = web::Data<Shared>;

fn no_bridge() -> HttpResponse {
    error(
        StatusCode::NOT_FOUND,
        "this node serves no AXL bridge (no transport attached to its API)",
    )
}

/// The destination header, parsed; the 400 message otherwise.
fn destination(req: &HttpRequest) -> Result<NodeId, String> {
    let raw = req.headers().get(DESTINATION_HEADER).ok_or_else(|| {
        format!("missing header {DESTINATION_HEADER} (the peer's id, 64 hex digits)")
    })?;
    let text = raw
        .to_str()
        .map_err(|_| format!("{DESTINATION_HEADER} is not text"))?;
    NodeId::from_hex(text.trim())
        .map_err(|e| format!("{DESTINATION_HEADER} {text:?} is not a node id (64 hex digits): {e}"))
}

/// Reads the body, refusing more than [`MAX_APP_BYTES`] (413).
async fn body(payload: web::Payload) -> Result<Vec<u8>, HttpResponse> {
    let limit = MAX_APP_BYTES as usize;
    let too_large = || {
        error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the body is larger than {limit} bytes"),
        )
    };
    match payload.to_bytes_limited(limit).await {
        Ok(Ok(bytes)) => Ok(bytes.to_vec()),
        // Over the limit, here or in actix's own payload bound.
        Err(_) => Err(too_large()),
        Ok(Err(e)) if e.as_response_error().status_code() == StatusCode::PAYLOAD_TOO_LARGE => {
            Err(too_large())
        }
        Ok(Err(e)) => Err(error(
            StatusCode::BAD_REQUEST,
            format!("reading the body: {e}"),
        )),
    }
}

/// `POST /send`.
pub async fn send(d: Data, req: HttpRequest, payload: web::Payload) -> HttpResponse {
    let Some(bridge) = d.bridge.as_ref() else {
        return no_bridge();
    };
    let to = match destination(&req) {
        Ok(to) => to,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    if to == bridge.sender.node() {
        return error(
            StatusCode::BAD_REQUEST,
            format!("{DESTINATION_HEADER} is this node's own id"),
        );
    }
    let bytes = match body(payload).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let len = bytes.len();
    match bridge.sender.send(to, bytes).await {
        Ok(_) => HttpResponse::Ok()
            .insert_header((SENT_HEADER, len.to_string()))
            .json(json!({ "sent_bytes": len })),
        Err(AppSendError::Message(e)) => error(StatusCode::BAD_REQUEST, e.to_string()),
        Err(AppSendError::Net(pinpoint_net::NetError::Refused(why))) => error(
            StatusCode::BAD_GATEWAY,
            format!("peer {} refused the message: {why}", to.to_hex()),
        ),
        Err(AppSendError::Net(e)) => error(
            StatusCode::BAD_GATEWAY,
            format!("peer {} is not reachable: {e}", to.to_hex()),
        ),
    }
}

/// `GET /recv`.
pub async fn recv(d: Data) -> HttpResponse {
    let Some(bridge) = d.bridge.as_ref() else {
        return no_bridge();
    };
    match bridge.inbox.take() {
        None => HttpResponse::NoContent().finish(),
        Some((from, bytes)) => HttpResponse::Ok()
            .insert_header((FROM_HEADER, from.to_hex()))
            .content_type("application/octet-stream")
            .body(bytes),
    }
}

/// `GET /topology`.
pub async fn topology(d: Data) -> HttpResponse {
    let s = match snapshot(&d).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let peers: Vec<serde_json::Value> = s
        .registry
        .iter()
        .filter(|(_, n)| **n != s.node)
        .map(|(a, n)| {
            json!({ "public_key": n.to_hex(), "account": a.to_string(), "connected": s.peers.contains(n) })
        })
        .collect();
    let inbox = d.bridge.as_ref().map(|b| {
        let c = b.inbox.counters();
        json!({
            "queued": b.inbox.len(),
            "capacity": b.inbox.capacity(),
            "received": c.received,
            "taken": c.taken,
            "refused_full": c.refused_full,
            "refused_invalid": c.refused_invalid,
        })
    });
    HttpResponse::Ok().json(json!({
        "our_public_key": s.node.to_hex(),
        "peers": peers,
        "inbox": inbox,
    }))
}
