//! The API's memory of what its node did: a bounded ring of the node's recent [`Observed`]
//! events with sequence numbers ([`EVENTS_CAPACITY`]), and per dispute this node refereed a
//! bounded trace of its bisection (queries with their probes and rounds, the verdict), kept for
//! the [`DISPUTES_CAPACITY`] most recent disputes, [`QUERIES_CAPACITY`] queries each.
//!
//! Fed by one task per server ([`spawn_collector`]) from the node's observer broadcast; a
//! lagging collector skips what it missed and counts it ([`EventLog::lost`]).

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::broadcast;

use crate::conduct::{Observed, Probe, Settled};

/// Events the ring keeps (the oldest are dropped first).
pub const EVENTS_CAPACITY: usize = 1_024;
/// Disputes whose traces are kept (the lowest dispute ids are dropped first).
pub const DISPUTES_CAPACITY: usize = 64;
/// Queries kept per dispute trace (the oldest are dropped first).
pub const QUERIES_CAPACITY: usize = 256;
/// Events one `/api/v1/events` answer carries at most.
pub const EVENTS_PAGE: usize = 256;

/// One referee query, as observed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueryRecord {
    /// The referee's round.
    pub round: u32,
    /// What was asked.
    pub probe: Probe,
}

/// The verdict this node reached as a referee.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerdictRecord {
    /// The ruling, as the contract numbers it.
    pub ruling: u8,
    /// The disputed step `lo`.
    pub step: u64,
    /// The re-run operator's index.
    pub node: u64,
    /// Query rounds.
    pub rounds: u32,
    /// How it was settled.
    pub settled: Settled,
}

/// One dispute's bisection, as this node saw it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DisputeTrace {
    /// The chain job, once known.
    pub job: Option<u64>,
    /// The queries, in order (one per round and probe: a query asked of both parties is
    /// recorded once).
    pub queries: VecDeque<QueryRecord>,
    /// Queries dropped for the bound.
    pub dropped: u64,
    /// The verdict, once reached.
    pub verdict: Option<VerdictRecord>,
    /// The rounds asked when the chain decided the dispute first and this referee stopped
    /// without a verdict.
    pub withdrawn: Option<u32>,
}

/// The ring and the traces.
#[derive(Debug, Default)]
pub struct EventLog {
    next_seq: u64,
    events: VecDeque<(u64, Observed)>,
    disputes: BTreeMap<u64, DisputeTrace>,
    lost: u64,
}

impl EventLog {
    /// Records one event.
    pub fn push(&mut self, event: Observed) {
        self.trace(&event);
        if self.events.len() == EVENTS_CAPACITY {
            self.events.pop_front();
        }
        self.events.push_back((self.next_seq, event));
        self.next_seq += 1;
    }

    /// Counts events the collector missed.
    pub fn lagged(&mut self, missed: u64) {
        self.lost += missed;
    }

    /// Events the collector missed (the broadcast ran ahead of it).
    pub fn lost(&self) -> u64 {
        self.lost
    }

    /// The next sequence number (the `since` that returns nothing yet).
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Events with sequence numbers `>= since`, at most [`EVENTS_PAGE`] of them, oldest first.
    pub fn since(&self, since: u64) -> Vec<(u64, Observed)> {
        self.events
            .iter()
            .filter(|(seq, _)| *seq >= since)
            .take(EVENTS_PAGE)
            .cloned()
            .collect()
    }

    /// Every kept event, oldest first.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &(u64, Observed)> {
        self.events.iter()
    }

    /// One dispute's trace.
    pub fn dispute(&self, dispute: u64) -> Option<&DisputeTrace> {
        self.disputes.get(&dispute)
    }

    /// Every kept trace.
    pub fn disputes(&self) -> &BTreeMap<u64, DisputeTrace> {
        &self.disputes
    }

    fn entry(&mut self, dispute: u64) -> &mut DisputeTrace {
        if !self.disputes.contains_key(&dispute) && self.disputes.len() == DISPUTES_CAPACITY {
            self.disputes.pop_first();
        }
        self.disputes.entry(dispute).or_default()
    }

    fn trace(&mut self, event: &Observed) {
        match *event {
            Observed::Refereeing { dispute, job, .. } => {
                self.entry(dispute).job = Some(job);
            }
            Observed::Query {
                dispute,
                round,
                probe,
                ..
            } => {
                let t = self.entry(dispute);
                let q = QueryRecord { round, probe };
                if t.queries.back() == Some(&q) {
                    return;
                }
                if t.queries.len() == QUERIES_CAPACITY {
                    t.queries.pop_front();
                    t.dropped += 1;
                }
                t.queries.push_back(q);
            }
            Observed::Verdict {
                dispute,
                ruling,
                step,
                node,
                rounds,
                settled,
            } => {
                self.entry(dispute).verdict = Some(VerdictRecord {
                    ruling,
                    step,
                    node,
                    rounds,
                    settled,
                });
            }
            Observed::Withdrawn { dispute, rounds } => {
                self.entry(dispute).withdrawn = Some(rounds);
            }
            _ => {}
        }
    }
}

/// The log, shared between the collector and the handlers.
#[derive(Debug, Clone, Default)]
pub struct SharedLog(Arc<Mutex<EventLog>>);

impl SharedLog {
    /// The log, locked. A poisoned lock (a panic while holding it) still yields the log: its
    /// every update is a whole push, so it stays consistent.
    pub fn lock(&self) -> MutexGuard<'_, EventLog> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Feeds `log` from `events` until the channel closes.
pub fn spawn_collector(
    mut events: broadcast::Receiver<Observed>,
    log: SharedLog,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            match events.recv().await {
                Ok(e) => log.lock().push(e),
                Err(broadcast::error::RecvError::Lagged(n)) => log.lock().lagged(n),
                Err(broadcast::error::RecvError::Closed) => break,
            }
        }
    })
}

/// One node's events out of a merged, index-tagged stream (such as
/// [`crate::devnet::Devnet::subscribe`]), as a channel of its own for [`super::serve`].
pub fn node_events(
    mut merged: broadcast::Receiver<(usize, Observed)>,
    index: usize,
) -> broadcast::Receiver<Observed> {
    let (tx, rx) = broadcast::channel(crate::conduct::OBSERVER_CAPACITY);
    tokio::spawn(async move {
        loop {
            match merged.recv().await {
                Ok((i, e)) if i == index => {
                    if tx.send(e).is_err() {
                        break;
                    }
                }
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => break,
            }
        }
    });
    rx
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(dispute: u64, round: u32, probe: Probe) -> Observed {
        Observed::Query {
            dispute,
            to: pinpoint_protocol::id::NodeKey::from_seed([1; 32]).node_id(),
            round,
            probe,
        }
    }

    #[test]
    fn the_ring_is_bounded_and_numbered() {
        let mut log = EventLog::default();
        for i in 0..(EVENTS_CAPACITY as u64 + 10) {
            log.push(Observed::Tx {
                call: format!("c{i}"),
                ok: true,
            });
        }
        assert_eq!(log.next_seq(), EVENTS_CAPACITY as u64 + 10);
        let first = log.since(0);
        assert_eq!(first.len(), EVENTS_PAGE);
        assert_eq!(first[0].0, 10, "the oldest ten were dropped");
        assert!(log.since(log.next_seq()).is_empty());
    }

    #[test]
    fn a_dispute_trace_records_each_round_once_and_the_verdict() {
        let mut log = EventLog::default();
        log.push(query(7, 1, Probe::Step(3)));
        log.push(query(7, 1, Probe::Step(3)));
        log.push(query(7, 2, Probe::NodePhase { lo: 2, nodes: 9 }));
        log.push(Observed::Verdict {
            dispute: 7,
            ruling: 1,
            step: 2,
            node: 4,
            rounds: 5,
            settled: Settled::Recomputed,
        });
        let t = log.dispute(7).expect("traced");
        assert_eq!(t.queries.len(), 2);
        assert_eq!(t.verdict.map(|v| v.node), Some(4));
        assert_eq!(t.verdict.map(|v| v.settled), Some(Settled::Recomputed));
        assert!(log.dispute(8).is_none());
    }

    #[test]
    fn only_the_latest_disputes_are_kept() {
        let mut log = EventLog::default();
        for d in 0..(DISPUTES_CAPACITY as u64 + 1) {
            log.push(query(d, 1, Probe::Inputs));
        }
        assert!(log.dispute(0).is_none());
        assert!(log.dispute(DISPUTES_CAPACITY as u64).is_some());
        assert_eq!(log.disputes().len(), DISPUTES_CAPACITY);
    }
}
