//! A deterministic in-memory driver: runs a [`Referee`] and two parties to a verdict over
//! signed messages, counting query rounds, messages and bytes.
//!
//! Every referee message is signed with the referee's key for `(job, round, sequence)`; the
//! parties ([`Respond`]) answer with signed messages; bytes are the borsh encodings of those
//! [`SignedMessage`]s. Time is simulated: messages are delivered instantly and in order; when
//! nothing is in flight the clock jumps to the referee's next deadline and [`Referee::poll`]
//! runs. Messages the referee refuses (bad signature, replay, stranger) are counted and
//! otherwise ignored.

use std::collections::VecDeque;

use super::party::Answerer;
use super::reexec::Reexec;
use super::referee::{Action, Referee};
use crate::codec::encode;
use crate::error::{ProtocolError, Result};
use crate::id::{NodeId, NodeKey};
use crate::wire::{SignedMessage, Verdict};

/// What a driven dispute cost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisputeReport {
    /// The verdict.
    pub verdict: Verdict,
    /// Query rounds the referee issued (re-asks not counted).
    pub rounds: u32,
    /// Messages exchanged (both directions, re-asks included).
    pub messages: u64,
    /// Bytes exchanged: the sum of the borsh encodings of those signed messages.
    pub bytes: u64,
    /// Messages the referee refused (bad signature, replay, not a party) and ignored.
    pub refused: u64,
    /// Simulated milliseconds from start to verdict.
    pub elapsed_ms: u64,
}

/// A dispute party as the driver sees it: signed messages in, signed messages out.
pub trait Respond {
    /// The party's node id.
    fn id(&self) -> NodeId;
    /// The party's replies to one message from the referee (none to stay silent).
    fn respond(&mut self, msg: &SignedMessage) -> Vec<SignedMessage>;
}

impl Respond for Answerer {
    fn id(&self) -> NodeId {
        Answerer::id(self)
    }

    /// The honest answer; a party's own errors count as silence.
    fn respond(&mut self, msg: &SignedMessage) -> Vec<SignedMessage> {
        self.respond(msg).ok().flatten().into_iter().collect()
    }
}

/// Runs `referee` (with its first `actions`) against the two parties until the verdict; the
/// referee's messages are signed with `referee_key`.
///
/// Errors: [`ProtocolError::InvalidTransition`] if the referee stalls (no verdict, nothing in
/// flight, no deadline), which the referee's design rules out; encoding errors.
pub fn run<R: Reexec>(
    mut referee: Referee<R>,
    actions: Vec<Action>,
    referee_key: &NodeKey,
    parties: [&mut dyn Respond; 2],
    start_ms: u64,
) -> Result<DisputeReport> {
    let job = referee.job();
    let mut now = start_ms;
    let (mut messages, mut bytes, mut refused, mut seq) = (0u64, 0u64, 0u64, 0u64);
    let mut queue: VecDeque<Action> = actions.into();
    let [a, b] = parties;
    let mut parties: [&mut dyn Respond; 2] = [a, b];
    loop {
        while let Some(action) = queue.pop_front() {
            match action {
                Action::Verdict(verdict) => {
                    return Ok(DisputeReport {
                        verdict,
                        rounds: referee.rounds(),
                        messages,
                        bytes,
                        refused,
                        elapsed_ms: now - start_ms,
                    });
                }
                Action::Send { to, msg } => {
                    seq += 1;
                    let signed = msg.sign(referee_key, job, referee.round(), seq)?;
                    messages += 1;
                    bytes += encode(&signed)?.len() as u64;
                    let Some(party) = parties.iter_mut().find(|p| p.id() == to) else {
                        continue;
                    };
                    for answer in party.respond(&signed) {
                        messages += 1;
                        bytes += encode(&answer)?.len() as u64;
                        match referee.handle_signed(now, &answer) {
                            Ok(out) => queue.extend(out),
                            Err(_) => refused += 1,
                        }
                    }
                }
            }
        }
        match referee.next_deadline() {
            Some(d) => {
                now = now.max(d);
                queue.extend(referee.poll(now));
            }
            None => {
                return Err(ProtocolError::InvalidTransition {
                    phase: "driver",
                    detail: "the referee stalled without a verdict".into(),
                });
            }
        }
    }
}
