//! Answering disputes: the part of a node that is a *party* of a dispute — a trainer defending
//! its root, or a verifier whose challenge became a dispute. One answering party per
//! `(job, referee)`; the node-phase step record comes from the executor as compute.
//!
//! Inputs: a dispute this node is a party of (a chain event, with the party built by the
//! caller from the node's committed run), a referee's query whose sender the caller
//! authenticated, the computed step record, and the dispute's end. Actions: answers to send,
//! the step record to compute, and the node-phase start to store (a restarted node replays it).

use std::collections::{BTreeMap, VecDeque};

use super::Machine;
use crate::dispute::{Party, StepRecord};
use crate::error::{ProtocolError, Result};
use crate::id::{JobId, NodeId};
use crate::wire::{Message, NodePhaseStart};

/// How a party answers a referee's queries. [`Party`] answers honestly; a test or the
/// simulator may supply a cheating wrapper (the production API has only honest parties).
pub trait Answer: std::fmt::Debug {
    /// The answer to `msg`, if any (notifications and a party's own errors: none).
    fn answer(&mut self, msg: &Message) -> Option<Message>;

    /// Starts the node phase at `lo` with the record of step `lo → lo + 1`.
    ///
    /// Errors: a record that does not fit the party's run.
    fn start_node_phase(&mut self, lo: u64, record: StepRecord) -> Result<()>;
}

impl Answer for Party {
    fn answer(&mut self, msg: &Message) -> Option<Message> {
        self.handle(msg).ok().flatten()
    }

    fn start_node_phase(&mut self, lo: u64, record: StepRecord) -> Result<()> {
        Party::start_node_phase(self, lo, record)
    }
}

/// An input of the party role.
#[derive(Debug)]
pub enum PartyInput<P> {
    /// Chain: this node is a party of a dispute over `job` refereed by `referee`; `party`
    /// answers from this node's committed run.
    Opened {
        /// The job.
        job: JobId,
        /// The dispute's referee.
        referee: NodeId,
        /// The answering party.
        party: P,
    },
    /// Peer: a query of `round` from the referee `from` (authenticated by the caller).
    Query {
        /// The authenticated sender.
        from: NodeId,
        /// The job.
        job: JobId,
        /// The referee's round.
        round: u32,
        /// The query.
        msg: Message,
    },
    /// Compute: the record of step `lo → lo + 1` of this node's run (`Err`: it could not be
    /// computed; the party stays silent and the referee's deadline decides).
    StepRecorded {
        /// The job.
        job: JobId,
        /// The dispute's referee.
        referee: NodeId,
        /// The step.
        lo: u64,
        /// The record.
        record: std::result::Result<StepRecord, String>,
    },
    /// Chain: the dispute is over.
    Closed {
        /// The job.
        job: JobId,
        /// The dispute's referee.
        referee: NodeId,
    },
}

/// What the party role asks its caller to do.
#[derive(Debug, Clone, PartialEq)]
pub enum PartyAction {
    /// Send answer `msg` for `round` to the referee (signed by the caller).
    Send {
        /// The referee.
        to: NodeId,
        /// The job.
        job: JobId,
        /// The query's round.
        round: u32,
        /// The answer.
        msg: Message,
    },
    /// Compute the record of step `lo → lo + 1` of this node's run of `job`; answer with
    /// [`PartyInput::StepRecorded`].
    ComputeStepRecord {
        /// The job.
        job: JobId,
        /// The dispute's referee.
        referee: NodeId,
        /// The step.
        lo: u64,
    },
    /// Store the node-phase start so that a restarted node can replay it.
    StorePhaseStart {
        /// The job.
        job: JobId,
        /// The dispute's referee.
        referee: NodeId,
        /// The start, as received.
        start: NodePhaseStart,
    },
}

/// The parties one node plays.
#[derive(Debug)]
pub struct PartyRole<P> {
    parties: BTreeMap<(JobId, NodeId), P>,
    /// Per dispute, the node phase's step whose record is computed or asked for (the referee
    /// re-sends the start with every re-asked query; the record is computed once). A failed
    /// computation is forgotten, so the next start asks again.
    node_phase: BTreeMap<(JobId, NodeId), u64>,
    /// Per dispute, queries that arrived while the node phase's step record was being
    /// computed (a node computes off its event loop, so the referee's next query can come
    /// first): answered, in order, once the record is in. Bounded by
    /// [`MAX_HELD_QUERIES`]; older ones are dropped (the referee asks again).
    held: BTreeMap<(JobId, NodeId), VecDeque<(u32, Message)>>,
    actions: VecDeque<PartyAction>,
}

/// Most queries a party holds per dispute while its step record is computed.
pub const MAX_HELD_QUERIES: usize = 8;

impl<P> Default for PartyRole<P> {
    fn default() -> Self {
        Self {
            parties: BTreeMap::new(),
            node_phase: BTreeMap::new(),
            held: BTreeMap::new(),
            actions: VecDeque::new(),
        }
    }
}

impl<P: Answer> PartyRole<P> {
    /// No disputes yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether this node answers in the dispute over `job` refereed by `referee`.
    pub fn is_party(&self, job: &JobId, referee: &NodeId) -> bool {
        self.parties.contains_key(&(*job, *referee))
    }

    fn query(&mut self, from: NodeId, job: JobId, round: u32, msg: Message) -> Result<()> {
        let Some(party) = self.parties.get_mut(&(job, from)) else {
            return Err(ProtocolError::InvalidTransition {
                phase: "party",
                detail: format!("a query from {from}, who referees no dispute of ours"),
            });
        };
        if let Message::NodePhaseStart(start) = &msg {
            let lo = start.lo;
            if self.node_phase.get(&(job, from)) == Some(&lo) {
                // A re-sent start of the phase already under way.
                return Ok(());
            }
            self.node_phase.insert((job, from), lo);
            self.actions.push_back(PartyAction::StorePhaseStart {
                job,
                referee: from,
                start: start.clone(),
            });
            self.actions.push_back(PartyAction::ComputeStepRecord {
                job,
                referee: from,
                lo,
            });
            // Keeps node-phase queries that overtook the start (below).
            self.held.entry((job, from)).or_default();
            return Ok(());
        }
        let node_phase_query = matches!(msg, Message::NodeQuery(_) | Message::InputQuery(_));
        if node_phase_query && !self.node_phase.contains_key(&(job, from)) {
            // A node's messages travel on separate streams, so a node-phase query can arrive
            // before the start of the phase: hold it until the start and the record are in.
            let held = self.held.entry((job, from)).or_default();
            if held.len() == MAX_HELD_QUERIES {
                held.pop_front();
            }
            held.push_back((round, msg));
            return Ok(());
        }
        if let Some(held) = self.held.get_mut(&(job, from)) {
            // The record is being computed: answer once it is in.
            if held.len() == MAX_HELD_QUERIES {
                held.pop_front();
            }
            held.push_back((round, msg));
            return Ok(());
        }
        if let Some(answer) = party.answer(&msg) {
            self.actions.push_back(PartyAction::Send {
                to: from,
                job,
                round,
                msg: answer,
            });
        }
        Ok(())
    }
}

impl<P: Answer> Machine for PartyRole<P> {
    type Input = PartyInput<P>;
    type Action = PartyAction;

    fn handle(&mut self, _now_ms: u64, input: PartyInput<P>) -> Result<()> {
        match input {
            PartyInput::Opened {
                job,
                referee,
                party,
            } => {
                self.parties.entry((job, referee)).or_insert(party);
                Ok(())
            }
            PartyInput::Query {
                from,
                job,
                round,
                msg,
            } => self.query(from, job, round, msg),
            PartyInput::StepRecorded {
                job,
                referee,
                lo,
                record,
            } => {
                let Some(party) = self.parties.get_mut(&(job, referee)) else {
                    return Ok(());
                };
                let held = self.held.remove(&(job, referee)).unwrap_or_default();
                match record {
                    Ok(rec) => {
                        party.start_node_phase(lo, rec)?;
                        for (round, msg) in held {
                            self.query(referee, job, round, msg)?;
                        }
                        Ok(())
                    }
                    // Nothing to answer from: silence until the referee re-sends the start,
                    // which asks again; its deadline decides.
                    Err(_) => {
                        self.node_phase.remove(&(job, referee));
                        Ok(())
                    }
                }
            }
            PartyInput::Closed { job, referee } => {
                self.parties.remove(&(job, referee));
                self.node_phase.remove(&(job, referee));
                self.held.remove(&(job, referee));
                Ok(())
            }
        }
    }

    fn poll_action(&mut self) -> Option<PartyAction> {
        self.actions.pop_front()
    }

    fn next_deadline(&self) -> Option<u64> {
        None
    }

    fn handle_timeout(&mut self, _now_ms: u64) {}
}
