//! A deterministic in-memory driver: runs a [`Referee`] and two [`Party`]s to a verdict,
//! counting query rounds, messages and bytes (borsh-encoded [`Message`](crate::wire::Message) sizes, unsigned).
//!
//! Time is simulated: messages are delivered instantly and in order; when nothing is in
//! flight the clock jumps to the referee's next deadline and [`Referee::poll`] runs.

use std::collections::VecDeque;

use pinpoint_kernels::graph::{Graph, Value, ValueRef};

use super::party::{Party, RunRecord};
use super::referee::{Action, Reexec, Referee};
use crate::codec::encode;
use crate::error::{ProtocolError, Result};
use crate::id::NodeId;
use crate::wire::Verdict;

/// What a driven dispute cost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisputeReport {
    /// The verdict.
    pub verdict: Verdict,
    /// Query rounds the referee issued (re-asks not counted).
    pub rounds: u32,
    /// Messages exchanged (both directions, re-asks included).
    pub messages: u64,
    /// Bytes exchanged: the sum of the borsh encodings of those messages.
    pub bytes: u64,
    /// Simulated milliseconds from start to verdict.
    pub elapsed_ms: u64,
}

/// A [`Reexec`] backed by an honest [`RunRecord`]: the referee's stand-in for "load the agreed
/// checkpoint and recompute", for tests and the simulator.
#[derive(Debug, Clone)]
pub struct RecordOracle(pub RunRecord);

impl Reexec for RecordOracle {
    fn graph(&mut self, lo: u64) -> Result<Graph> {
        self.step(lo).map(|s| s.graph.clone())
    }

    fn graph_input(&mut self, lo: u64, input: usize) -> Result<Value> {
        let rec = self.step(lo)?;
        for (node, trace) in rec.graph.nodes.iter().zip(&rec.traces) {
            if let Some(pos) = node
                .inputs
                .iter()
                .position(|r| *r == ValueRef::Input(input))
            {
                return Ok(trace.inputs[pos].clone());
            }
        }
        Err(ProtocolError::InvalidArgument(format!(
            "graph input {input} feeds no node"
        )))
    }

    fn state_hash(&mut self, step: u64) -> Result<[u8; 32]> {
        usize::try_from(step)
            .ok()
            .and_then(|i| self.0.state_hashes.get(i).copied())
            .ok_or_else(|| ProtocolError::InvalidArgument(format!("no state {step}")))
    }
}

impl RecordOracle {
    fn step(&self, lo: u64) -> Result<&super::party::StepRecord> {
        usize::try_from(lo)
            .ok()
            .and_then(|i| self.0.steps.get(i))
            .ok_or_else(|| ProtocolError::InvalidArgument(format!("no step {lo}")))
    }
}

/// Runs `referee` (with its first `actions`) against the two parties until the verdict.
///
/// Errors: [`ProtocolError::InvalidTransition`] if the referee stalls (no verdict, nothing in
/// flight, no deadline), which the referee's design rules out; a party's own errors are
/// treated as silence.
pub fn run<R: Reexec>(
    mut referee: Referee<R>,
    actions: Vec<Action>,
    parties: &mut [(NodeId, Party); 2],
    start_ms: u64,
) -> Result<DisputeReport> {
    let mut now = start_ms;
    let (mut messages, mut bytes) = (0u64, 0u64);
    let mut queue: VecDeque<Action> = actions.into();
    loop {
        while let Some(action) = queue.pop_front() {
            match action {
                Action::Verdict(verdict) => {
                    return Ok(DisputeReport {
                        verdict,
                        rounds: referee.rounds(),
                        messages,
                        bytes,
                        elapsed_ms: now - start_ms,
                    });
                }
                Action::Send { to, msg } => {
                    messages += 1;
                    bytes += encode(&msg)?.len() as u64;
                    let Some((id, party)) = parties.iter_mut().find(|(id, _)| *id == to) else {
                        continue;
                    };
                    let id = *id;
                    if let Ok(Some(answer)) = party.handle(&msg) {
                        messages += 1;
                        bytes += encode(&answer)?.len() as u64;
                        queue.extend(referee.handle(now, &id, answer)?);
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
