//! Serving one connection: accept its streams and answer each within the node's limits.
//!
//! Every stream runs in its own task; any error it meets is reported as a
//! [`super::Fault`] and, where the stream has a reply direction, sent to the peer as a typed
//! [`Reply`]. Nothing a peer sends can end the accept loop or the node.

use std::sync::{Arc, Weak};

use pinpoint_protocol::id::NodeId;

use super::{Inner, limits::ConnSlot};
use crate::blob;
use crate::error::NetError;
use crate::framing::{self, Reply, StreamKind};
use crate::transport::{Inbound, responder};

/// Application error code used when this node stops or resets a stream it refuses.
const STREAM_REFUSED: u32 = 1;

/// Accepts the streams of `conn` until it closes; `slot` is released at the end.
pub(super) async fn connection(
    node: Weak<Inner>,
    conn: quinn::Connection,
    peer: NodeId,
    slot: ConnSlot,
) {
    loop {
        tokio::select! {
            bi = conn.accept_bi() => match bi {
                Ok((send, recv)) => { tokio::spawn(bi_stream(node.clone(), peer, conn.remote_address(), send, recv)); }
                Err(_) => break,
            },
            uni = conn.accept_uni() => match uni {
                Ok(recv) => { tokio::spawn(uni_stream(node.clone(), peer, conn.remote_address(), recv)); }
                Err(_) => break,
            },
        }
    }
    if let Some(inner) = node.upgrade() {
        inner
            .conns
            .remove_if(&peer, |_, c| c.stable_id() == conn.stable_id());
    }
    drop(slot);
}

async fn bi_stream(
    node: Weak<Inner>,
    peer: NodeId,
    addr: std::net::SocketAddr,
    mut send: quinn::SendStream,
    mut recv: quinn::RecvStream,
) {
    let Some(inner) = node.upgrade() else { return };
    let cfg = inner.config.clone();
    let stall = cfg.stream_timeout;
    let kind = match framing::read_kind(&mut recv, stall).await {
        Ok(k) => k,
        Err(e) => {
            let _ = recv.stop(STREAM_REFUSED.into());
            let _ = send.reset(STREAM_REFUSED.into());
            inner.fault(Some(peer), addr, e);
            return;
        }
    };
    match kind {
        StreamKind::Request => {
            let reply = match framing::read_frame(&mut recv, cfg.max_frame_bytes, stall).await {
                Err(e) => {
                    let _ = recv.stop(STREAM_REFUSED.into());
                    inner.fault(Some(peer), addr, e.clone());
                    Reply::from_error(&e)
                }
                Ok(frame) => answer(&inner, peer, frame, &send).await,
            };
            drop(inner);
            write_reply(&mut send, &reply, cfg.max_frame_bytes, stall).await;
        }
        StreamKind::Blob => {
            let mut hash = [0u8; 32];
            let found = match framing::read_exact_within(&mut recv, &mut hash, stall).await {
                Err(e) => {
                    inner.fault(Some(peer), addr, e.clone());
                    Err(Reply::from_error(&e))
                }
                Ok(()) => inner
                    .blobs
                    .open(&hash)
                    .ok_or_else(|| Reply::Refused(format!("no blob {}", blob::hex(&hash)))),
            };
            drop(inner);
            match found {
                Err(reply) => write_reply(&mut send, &reply, cfg.max_frame_bytes, stall).await,
                Ok(b) => {
                    let reply = Reply::Blob { len: b.len };
                    write_reply_open(&mut send, &reply, cfg.max_frame_bytes, stall).await;
                    let sent = blob::send(b, &mut send, cfg.blob_chunk_bytes, stall).await;
                    match sent {
                        Ok(()) => {
                            let _ = send.finish();
                        }
                        Err(e) => {
                            let _ = send.reset(STREAM_REFUSED.into());
                            if let Some(inner) = node.upgrade() {
                                inner.fault(Some(peer), addr, e);
                            }
                        }
                    }
                }
            }
        }
        StreamKind::Message => {
            let e = NetError::BadFrame("one-way message on a bidirectional stream".to_string());
            inner.fault(Some(peer), addr, e.clone());
            let _ = recv.stop(STREAM_REFUSED.into());
            drop(inner);
            write_reply(
                &mut send,
                &Reply::from_error(&e),
                cfg.max_frame_bytes,
                stall,
            )
            .await;
        }
    }
}

/// Hands a request to the application and waits for its answer (or for the requester to give
/// up, which stops our send side).
async fn answer(
    inner: &Arc<Inner>,
    peer: NodeId,
    frame: pinpoint_protocol::codec::Frame,
    send: &quinn::SendStream,
) -> Reply {
    let (responder, rx) = responder();
    let queued = tokio::time::timeout(
        inner.config.stream_timeout,
        inner.inbound.send(Inbound::Request {
            from: peer,
            frame,
            reply: responder,
        }),
    )
    .await;
    match queued {
        Err(_) => return Reply::Refused("node busy: inbound queue full".to_string()),
        Ok(Err(_)) => return Reply::Refused("node is shutting down".to_string()),
        Ok(Ok(())) => {}
    }
    let stopped = send.stopped();
    tokio::select! {
        answer = rx => match answer {
            Ok(Ok(frame)) => Reply::Ok(frame),
            Ok(Err(why)) => Reply::Refused(why),
            Err(_) => Reply::Refused("request dropped without an answer".to_string()),
        },
        _ = stopped => Reply::Refused("requester gave up".to_string()),
    }
}

async fn write_reply_open(
    send: &mut quinn::SendStream,
    reply: &Reply,
    limit: usize,
    stall: std::time::Duration,
) -> bool {
    let bytes = match framing::encode_reply(reply, limit) {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!(%e, "reply does not fit the frame limit");
            let fallback = Reply::Refused(format!("reply refused locally: {e}"));
            match framing::encode_reply(&fallback, limit) {
                Ok(b) => b,
                Err(_) => return false,
            }
        }
    };
    framing::write_within(send, &bytes, stall).await.is_ok()
}

async fn write_reply(
    send: &mut quinn::SendStream,
    reply: &Reply,
    limit: usize,
    stall: std::time::Duration,
) {
    if write_reply_open(send, reply, limit, stall).await {
        let _ = send.finish();
    } else {
        let _ = send.reset(STREAM_REFUSED.into());
    }
}

async fn uni_stream(
    node: Weak<Inner>,
    peer: NodeId,
    addr: std::net::SocketAddr,
    mut recv: quinn::RecvStream,
) {
    let Some(inner) = node.upgrade() else { return };
    let cfg = &inner.config;
    let got = async {
        match framing::read_kind(&mut recv, cfg.stream_timeout).await? {
            StreamKind::Message => {}
            other => {
                return Err(NetError::BadFrame(format!(
                    "{other:?} on a unidirectional stream"
                )));
            }
        }
        framing::read_frame(&mut recv, cfg.max_frame_bytes, cfg.stream_timeout).await
    }
    .await;
    match got {
        Ok(frame) => {
            if inner
                .inbound
                .try_send(Inbound::Message { from: peer, frame })
                .is_err()
            {
                inner.fault(
                    Some(peer),
                    addr,
                    NetError::Refused("inbound queue full: message dropped".to_string()),
                );
            }
        }
        Err(e) => {
            let _ = recv.stop(STREAM_REFUSED.into());
            inner.fault(Some(peer), addr, e);
        }
    }
}
