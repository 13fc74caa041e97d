//! The arbiter role: referees the disputes the chain assigns to this node, one
//! [`Referee`] per dispute, and reports each verdict for the chain.
//!
//! Inputs: a dispute assigned (a chain event), a party's signed answer whose sender the caller
//! authenticated ([`ArbiterInput::Answer`]), and timeouts. Actions: queries to send, and the
//! verdict (or "nothing to dispute") to post.

use std::collections::{BTreeMap, VecDeque};

use super::Machine;
use crate::dispute::{Action as RefereeAction, Deadlines, Reexec, Referee};
use crate::error::{ProtocolError, Result};
use crate::id::{JobId, NodeId};
use crate::job::Root;
use crate::wire::{Message, SignedMessage, Verdict};

/// The chain's id of a dispute.
pub type DisputeId = u64;

/// blake3 `derive_key` context of [`dispute_scope`].
pub const DISPUTE_SCOPE_CONTEXT: &str = "pinpoint 2026 dispute scope v1";

/// The envelope job id of every message of dispute `dispute` over `job`: the referee signs its
/// queries and the parties their answers for this scope, not for the job itself. A job may hold
/// several disputes one after another between the same parties before the same referee
/// (pairwise disputes, DESIGN §4); scoping keeps a late or replayed message of an earlier
/// dispute from ever counting in a later one (it is refused as signed for another job).
pub fn dispute_scope(job: &JobId, dispute: DisputeId) -> JobId {
    let mut h = blake3::Hasher::new_derive_key(DISPUTE_SCOPE_CONTEXT);
    h.update(job);
    h.update(&dispute.to_le_bytes());
    *h.finalize().as_bytes()
}

/// A dispute the chain assigned to this arbiter. Its messages travel under the envelope job id
/// [`dispute_scope`]`(job, dispute)`.
#[derive(Debug)]
pub struct Assignment<R> {
    /// The chain's id of the dispute.
    pub dispute: DisputeId,
    /// The job.
    pub job: JobId,
    /// The challenger and its committed root.
    pub challenger: (NodeId, Root),
    /// The defendant and its committed root.
    pub defendant: (NodeId, Root),
    /// The job's step count `T`.
    pub steps: u64,
    /// The job's re-execution (built from the job spec alone, never from a party's run).
    pub reexec: R,
}

/// An input of the arbiter role.
#[derive(Debug)]
pub enum ArbiterInput<R> {
    /// Chain: a dispute was assigned to this node.
    Assigned(Assignment<R>),
    /// Peer: a party's answer. `from` is the peer the caller authenticated: a node's network
    /// actor verified the frame's signature once and checked it against the connection's key
    /// (the simulator's links are authentic by construction and vouch for `from`).
    Answer {
        /// The authenticated sender.
        from: NodeId,
        /// The answer in its signed envelope (boxed: answers carry proofs and values).
        signed: Box<SignedMessage>,
    },
    /// Chain: the dispute was decided (a majority of its committee ruled). A referee still
    /// open stops without a verdict: the parties stop answering once the chain has ruled, so
    /// going on would end in a timeout that blames an honest party.
    Decided {
        /// The dispute.
        dispute: DisputeId,
    },
}

/// What the arbiter role asks its caller to do.
#[derive(Debug, Clone, PartialEq)]
pub enum ArbiterAction {
    /// Send query `msg` of round `round` to party `to` (signed by the caller).
    Send {
        /// The dispute.
        dispute: DisputeId,
        /// The party.
        to: NodeId,
        /// The referee's round: the envelope round of the query and of its answer.
        round: u32,
        /// The query.
        msg: Message,
    },
    /// Post this verdict for the dispute (the dispute is over).
    Verdict {
        /// The dispute.
        dispute: DisputeId,
        /// The verdict.
        verdict: Verdict,
        /// Query rounds it took.
        rounds: u32,
    },
    /// There was nothing to dispute (equal roots, one party twice, or `T = 0`): the challenge
    /// was unfounded, so the challenger loses.
    Unfounded {
        /// The dispute.
        dispute: DisputeId,
    },
    /// The chain decided the dispute before this referee reached a verdict; it stopped
    /// ([`ArbiterInput::Decided`]).
    Withdrawn {
        /// The dispute.
        dispute: DisputeId,
        /// Query rounds it had asked.
        rounds: u32,
    },
}

/// The arbiter role of one node.
#[derive(Debug)]
pub struct ArbiterRole<R: Reexec> {
    deadlines: Deadlines,
    /// Open disputes (a finished one is removed when its verdict is emitted).
    open: BTreeMap<DisputeId, Referee<R>>,
    /// The job of each dispute, open or finished.
    jobs: BTreeMap<DisputeId, JobId>,
    /// Disputes this node has finished, with their scope and parties (late answers from those
    /// parties are dropped quietly).
    finished: BTreeMap<DisputeId, (JobId, [NodeId; 2])>,
    actions: VecDeque<ArbiterAction>,
}

impl<R: Reexec> ArbiterRole<R> {
    /// An arbiter giving each party `deadlines` per query.
    pub fn new(deadlines: Deadlines) -> Self {
        Self {
            deadlines,
            open: BTreeMap::new(),
            jobs: BTreeMap::new(),
            finished: BTreeMap::new(),
            actions: VecDeque::new(),
        }
    }

    /// The referee of an open dispute (for reports and tests).
    pub fn referee(&self, dispute: DisputeId) -> Option<&Referee<R>> {
        self.open.get(&dispute)
    }

    /// Whether `dispute` is open here.
    pub fn is_open(&self, dispute: DisputeId) -> bool {
        self.open.contains_key(&dispute)
    }

    fn assign(&mut self, now_ms: u64, a: Assignment<R>) -> Result<()> {
        if self.open.contains_key(&a.dispute) || self.finished.contains_key(&a.dispute) {
            return Err(ProtocolError::InvalidArgument(format!(
                "dispute {} is already assigned to this arbiter",
                a.dispute
            )));
        }
        let dispute = a.dispute;
        let scope = dispute_scope(&a.job, dispute);
        self.jobs.insert(dispute, a.job);
        if a.steps == 0 || a.challenger.0 == a.defendant.0 || a.challenger.1 == a.defendant.1 {
            self.finished
                .insert(dispute, (scope, [a.challenger.0, a.defendant.0]));
            self.actions.push_back(ArbiterAction::Unfounded { dispute });
            return Ok(());
        }
        let (referee, first) = Referee::new(
            scope,
            a.challenger,
            a.defendant,
            a.steps,
            now_ms,
            self.deadlines,
            a.reexec,
        )?;
        self.open.insert(dispute, referee);
        self.take(dispute, first);
        Ok(())
    }

    /// The open dispute whose scope ([`dispute_scope`]) is `scope`, if `signer` is a party.
    fn route(&self, scope: &JobId, signer: &NodeId) -> Option<DisputeId> {
        self.open
            .iter()
            .find(|(_, r)| &r.job() == scope && r.is_party(signer))
            .map(|(d, _)| *d)
    }

    fn answer(&mut self, now_ms: u64, from: NodeId, signed: &SignedMessage) -> Result<()> {
        if signed.signer != from {
            return Err(ProtocolError::BadSignature(format!(
                "statement signed by {} arrived from peer {from}",
                signed.signer
            )));
        }
        let Some(dispute) = self.route(&signed.job, &signed.signer) else {
            let late = self
                .finished
                .values()
                .any(|(j, parties)| j == &signed.job && parties.contains(&signed.signer));
            if late {
                // A late copy of an answer to a dispute this node has settled.
                return Ok(());
            }
            return Err(ProtocolError::InvalidTransition {
                phase: "arbiter",
                detail: format!("no open dispute of this scope with party {}", signed.signer),
            });
        };
        let Some(referee) = self.open.get_mut(&dispute) else {
            unreachable!("invariant: route returns an open dispute");
        };
        let actions = referee.handle_authenticated(now_ms, signed)?;
        self.take(dispute, actions);
        Ok(())
    }

    /// Turns a referee's actions into role actions; closes the dispute on its verdict.
    /// Stops the referee of `dispute` if it is still open (no verdict; late answers are then
    /// dropped quietly). Nothing for a dispute already finished or never assigned.
    fn withdraw(&mut self, dispute: DisputeId) {
        let Some(referee) = self.open.remove(&dispute) else {
            return;
        };
        self.finished
            .insert(dispute, (referee.job(), referee.parties()));
        self.actions.push_back(ArbiterAction::Withdrawn {
            dispute,
            rounds: referee.rounds(),
        });
    }

    fn take(&mut self, dispute: DisputeId, actions: Vec<RefereeAction>) {
        let Some(referee) = self.open.get(&dispute) else {
            return;
        };
        let (round, rounds, job) = (referee.round(), referee.rounds(), referee.job());
        let parties = referee.parties();
        for a in actions {
            match a {
                RefereeAction::Send { to, msg } => self.actions.push_back(ArbiterAction::Send {
                    dispute,
                    to,
                    round,
                    msg,
                }),
                RefereeAction::Verdict(mut verdict) => {
                    // The referee signed within the dispute's scope; the verdict names the job.
                    if let Some(real) = self.jobs.get(&dispute) {
                        verdict.job = *real;
                    }
                    self.open.remove(&dispute);
                    self.finished.insert(dispute, (job, parties));
                    self.actions.push_back(ArbiterAction::Verdict {
                        dispute,
                        verdict,
                        rounds,
                    });
                    // The verdict is always the referee's last action.
                    return;
                }
            }
        }
    }
}

impl<R: Reexec> Machine for ArbiterRole<R> {
    type Input = ArbiterInput<R>;
    type Action = ArbiterAction;

    fn handle(&mut self, now_ms: u64, input: ArbiterInput<R>) -> Result<()> {
        match input {
            ArbiterInput::Assigned(a) => self.assign(now_ms, a),
            ArbiterInput::Answer { from, signed } => self.answer(now_ms, from, &signed),
            ArbiterInput::Decided { dispute } => {
                self.withdraw(dispute);
                Ok(())
            }
        }
    }

    fn poll_action(&mut self) -> Option<ArbiterAction> {
        self.actions.pop_front()
    }

    fn next_deadline(&self) -> Option<u64> {
        self.open.values().filter_map(Referee::next_deadline).min()
    }

    fn handle_timeout(&mut self, now_ms: u64) {
        let due: Vec<DisputeId> = self
            .open
            .iter()
            .filter(|(_, r)| r.next_deadline().is_some_and(|d| d <= now_ms))
            .map(|(d, _)| *d)
            .collect();
        for d in due {
            if let Some(r) = self.open.get_mut(&d) {
                let actions = r.poll(now_ms);
                self.take(d, actions);
            }
        }
    }
}
