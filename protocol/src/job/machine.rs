//! The [`Job`] state machine.

use std::collections::{BTreeMap, BTreeSet};

use super::types::{Action, Input, JobParams, Phase, Root};
use crate::{
    ProtocolError, Result,
    fees::{Settlement, StakeFate, StakeOutcome, fee_split, settle, slash_split},
    id::NodeId,
};

/// A trainer's standing in the job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Standing {
    /// Assigned, no commitment yet.
    Pending,
    /// Committed `root` and not (yet) beaten.
    Committed(Root),
    /// Missed the commit deadline.
    Absent,
    /// Lost a dispute.
    Lost,
}

/// An open dispute; `a < b` for replica disputes, `a` = challenger for challenges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Dispute {
    a: NodeId,
    b: NodeId,
}

/// One job's lifecycle: see the module documentation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    params: JobParams,
    assign_deadline: u64,
    commit_deadline: u64,
    /// `Some(end)` once commits are closed.
    window_end: Option<u64>,
    trainers: BTreeMap<NodeId, Standing>,
    /// Challenger → stake bonded over all of its challenges in this job.
    challengers: BTreeMap<NodeId, u128>,
    /// Every `(challenger, trainer)` pair challenged so far: a verifier may challenge each
    /// trainer whose root it has shown wrong, once.
    challenged: BTreeSet<(NodeId, NodeId)>,
    /// Queued challenges `(challenger, trainer)`, in arrival order.
    queue: Vec<(NodeId, NodeId)>,
    open: Option<Dispute>,
    /// Slashed node → winner of the dispute it lost (if any).
    slashed: BTreeMap<NodeId, Option<NodeId>>,
    /// Slashed node → the arbiters whose votes made the verdict it lost (paid a share of its
    /// stake; none for a missed commit).
    majority: BTreeMap<NodeId, Vec<NodeId>>,
    settlement: Option<Settlement>,
}

impl Job {
    /// A job posted at `now_ms`. Errors: `replicas == 0`, or amounts whose fee or slash
    /// arithmetic would overflow.
    pub fn new(params: JobParams, now_ms: u64) -> Result<Self> {
        if params.replicas == 0 {
            return Err(ProtocolError::InvalidArgument(
                "a job needs at least one replica".into(),
            ));
        }
        fee_split(params.payment)?;
        slash_split(params.trainer_stake, true, 1)?;
        Ok(Self {
            params,
            assign_deadline: now_ms.saturating_add(params.assign_timeout_ms),
            commit_deadline: u64::MAX,
            window_end: None,
            trainers: BTreeMap::new(),
            challengers: BTreeMap::new(),
            challenged: BTreeSet::new(),
            queue: Vec::new(),
            open: None,
            slashed: BTreeMap::new(),
            majority: BTreeMap::new(),
            settlement: None,
        })
    }

    /// The job's parameters.
    pub fn params(&self) -> &JobParams {
        &self.params
    }

    /// The current phase.
    pub fn phase(&self) -> Phase {
        if self.settlement.is_some() {
            Phase::Finalized
        } else if self.trainers.is_empty() {
            Phase::Posted
        } else if self.window_end.is_none() {
            Phase::Running
        } else if self.open.is_some() {
            Phase::Disputed
        } else {
            Phase::ChallengeWindow
        }
    }

    /// The settlement, once finalized.
    pub fn settlement(&self) -> Option<&Settlement> {
        self.settlement.as_ref()
    }

    /// The open dispute, if any.
    pub fn open_dispute(&self) -> Option<(NodeId, NodeId)> {
        self.open.map(|d| (d.a, d.b))
    }

    /// The next deadline [`Job::poll`] acts on, if any.
    pub fn next_deadline(&self) -> Option<u64> {
        match self.phase() {
            Phase::Posted => Some(self.assign_deadline),
            Phase::Running => Some(self.commit_deadline),
            Phase::ChallengeWindow => self.window_end,
            Phase::Disputed | Phase::Finalized => None,
        }
    }

    /// Nodes slashed so far, with the winner of each.
    pub fn slashed(&self) -> &BTreeMap<NodeId, Option<NodeId>> {
        &self.slashed
    }

    /// Every stake bonded for the job so far: the trainers' and the challengers'.
    pub fn bonded(&self) -> u128 {
        let t = (self.trainers.len() as u128).saturating_mul(self.params.trainer_stake);
        self.challengers
            .values()
            .fold(t, |s, v| s.saturating_add(*v))
    }

    fn reject(&self, detail: impl Into<String>) -> ProtocolError {
        ProtocolError::InvalidTransition {
            phase: self.phase().name(),
            detail: detail.into(),
        }
    }

    /// Applies `input` at `now_ms`. On error nothing changed.
    pub fn handle(&mut self, now_ms: u64, input: Input) -> Result<Vec<Action>> {
        let phase = self.phase();
        match input {
            Input::Assigned { trainers } => {
                if phase != Phase::Posted {
                    return Err(self.reject("already assigned"));
                }
                if now_ms >= self.assign_deadline {
                    return Err(self.reject("assignment deadline passed"));
                }
                let set: BTreeMap<NodeId, Standing> =
                    trainers.iter().map(|t| (*t, Standing::Pending)).collect();
                if set.len() != trainers.len() || set.len() != self.params.replicas {
                    return Err(self.reject(format!(
                        "need {} distinct trainers, got {} ({} distinct)",
                        self.params.replicas,
                        trainers.len(),
                        set.len()
                    )));
                }
                self.trainers = set;
                self.commit_deadline = now_ms.saturating_add(self.params.commit_timeout_ms);
            }
            Input::Committed { trainer, root } => {
                if phase != Phase::Running {
                    return Err(self.reject("commitments are not open"));
                }
                if now_ms >= self.commit_deadline {
                    return Err(self.reject("commit deadline passed"));
                }
                match self.trainers.get(&trainer) {
                    Some(Standing::Pending) => {}
                    Some(_) => return Err(self.reject("trainer already committed")),
                    None => return Err(self.reject("not an assigned trainer")),
                }
                self.trainers.insert(trainer, Standing::Committed(root));
            }
            Input::Challenge {
                challenger,
                trainer,
                stake,
            } => {
                if !matches!(phase, Phase::ChallengeWindow | Phase::Disputed) {
                    return Err(self.reject("challenges are not open"));
                }
                // The window stays open while a dispute is open: the job cannot finalize
                // then anyway, and a verifier must be able to challenge every trainer it has
                // shown wrong before any root is paid.
                if phase != Phase::Disputed && self.window_end.is_some_and(|end| now_ms >= end) {
                    return Err(self.reject("challenge window is over"));
                }
                if self.trainers.contains_key(&challenger) {
                    return Err(self.reject("a trainer cannot challenge its own job"));
                }
                if self.challenged.contains(&(challenger, trainer)) {
                    return Err(self.reject("challenger already challenged this trainer"));
                }
                if self.slashed.contains_key(&challenger) {
                    return Err(self.reject("challenger already lost a dispute in this job"));
                }
                if !matches!(self.trainers.get(&trainer), Some(Standing::Committed(_))) {
                    return Err(self.reject("challenged node holds no live commitment"));
                }
                let total = self
                    .challengers
                    .get(&challenger)
                    .copied()
                    .unwrap_or(0)
                    .checked_add(stake)
                    .ok_or_else(|| self.reject("challenger's total stake overflows"))?;
                // Checking the total covers this stake too (it is at most the total).
                slash_split(total, true, 1)?;
                self.challengers.insert(challenger, total);
                self.challenged.insert((challenger, trainer));
                self.queue.push((challenger, trainer));
            }
            Input::Verdict {
                a,
                b,
                winner,
                arbiters,
            } => {
                let Some(d) = self.open else {
                    return Err(self.reject("no dispute is open"));
                };
                if !((a == d.a && b == d.b) || (a == d.b && b == d.a)) {
                    return Err(self.reject("verdict for a dispute that is not open"));
                }
                if winner.is_some_and(|w| w != a && w != b) {
                    return Err(self.reject("winner is not a party"));
                }
                self.open = None;
                let mut actions = Vec::new();
                for loser in [d.a, d.b] {
                    if Some(loser) != winner {
                        self.lose(loser, winner, &arbiters, &mut actions);
                    }
                }
                self.drive(now_ms, &mut actions);
                return Ok(actions);
            }
        }
        let mut actions = Vec::new();
        self.drive(now_ms, &mut actions);
        Ok(actions)
    }

    /// Applies the deadlines due at `now_ms`.
    pub fn poll(&mut self, now_ms: u64) -> Vec<Action> {
        let mut actions = Vec::new();
        self.drive(now_ms, &mut actions);
        actions
    }

    /// Marks `node` as having lost to `winner` by the votes of `arbiters` (empty for a missed
    /// commit) and slashes it (once).
    fn lose(
        &mut self,
        node: NodeId,
        winner: Option<NodeId>,
        arbiters: &[NodeId],
        actions: &mut Vec<Action>,
    ) {
        if self.slashed.contains_key(&node) {
            return;
        }
        let amount = if let Some(s) = self.trainers.get_mut(&node) {
            if *s == Standing::Pending {
                *s = Standing::Absent;
            } else {
                *s = Standing::Lost;
            }
            self.params.trainer_stake
        } else {
            // A challenger that lost forfeits the stake of all its challenges in this job, and
            // its challenges still queued are void.
            self.queue.retain(|(c, _)| *c != node);
            self.challengers.get(&node).copied().unwrap_or(0)
        };
        self.slashed.insert(node, winner);
        if !arbiters.is_empty() {
            self.majority.insert(node, arbiters.to_vec());
        }
        actions.push(Action::Slash {
            node,
            winner,
            amount,
        });
    }

    /// The first live trainer (in `NodeId` order) and the first live one whose root differs.
    fn disagreeing_pair(&self) -> Option<(NodeId, NodeId)> {
        let mut live = self.trainers.iter().filter_map(|(n, s)| match s {
            Standing::Committed(r) => Some((*n, *r)),
            _ => None,
        });
        let (a, ra) = live.next()?;
        live.find(|(_, r)| *r != ra).map(|(b, _)| (a, b))
    }

    /// Applies deadlines, opens the next dispute, and finalizes when nothing is left.
    fn drive(&mut self, now_ms: u64, actions: &mut Vec<Action>) {
        match self.phase() {
            Phase::Finalized => return,
            Phase::Posted => {
                if now_ms >= self.assign_deadline {
                    self.finalize(actions);
                }
                return;
            }
            Phase::Running => {
                let all_in = self
                    .trainers
                    .values()
                    .all(|s| matches!(s, Standing::Committed(_)));
                if !all_in && now_ms < self.commit_deadline {
                    return;
                }
                let absent: Vec<NodeId> = self
                    .trainers
                    .iter()
                    .filter(|(_, s)| **s == Standing::Pending)
                    .map(|(n, _)| *n)
                    .collect();
                for n in absent {
                    self.lose(n, None, &[], actions);
                }
                self.window_end = Some(now_ms.saturating_add(self.params.challenge_window_ms));
            }
            Phase::ChallengeWindow | Phase::Disputed => {}
        }
        if self.open.is_none() {
            if let Some((a, b)) = self.disagreeing_pair() {
                self.open = Some(Dispute { a, b });
                actions.push(Action::OpenDispute { a, b });
            } else {
                while !self.queue.is_empty() {
                    let (c, t) = self.queue.remove(0);
                    if matches!(self.trainers.get(&t), Some(Standing::Committed(_))) {
                        self.open = Some(Dispute { a: c, b: t });
                        actions.push(Action::OpenDispute { a: c, b: t });
                        break;
                    }
                }
            }
        }
        let no_live = !self
            .trainers
            .values()
            .any(|s| matches!(s, Standing::Committed(_)));
        let window_over = self.window_end.is_some_and(|end| now_ms >= end);
        if self.open.is_none() && (no_live || window_over) {
            self.finalize(actions);
        }
    }

    fn finalize(&mut self, actions: &mut Vec<Action>) {
        let honest: Vec<NodeId> = self
            .trainers
            .iter()
            .filter(|(_, s)| matches!(s, Standing::Committed(_)))
            .map(|(n, _)| *n)
            .collect();
        // Positive and negative space: a node paid for the job was never slashed in it, and
        // every paid trainer holds one and the same surviving root.
        assert!(
            honest.iter().all(|n| !self.slashed.contains_key(n)),
            "invariant: no slashed trainer is paid"
        );
        let roots: BTreeSet<&Root> = self
            .trainers
            .values()
            .filter_map(|s| match s {
                Standing::Committed(r) => Some(r),
                _ => None,
            })
            .collect();
        assert!(
            roots.len() <= 1,
            "invariant: the paid trainers agree on one root"
        );
        let fate = |n: &NodeId| match self.slashed.get(n) {
            Some(winner) => StakeFate::Slashed {
                winner: *winner,
                arbiters: self.majority.get(n).cloned().unwrap_or_default(),
            },
            None => StakeFate::Returned,
        };
        let mut stakes: Vec<StakeOutcome> = self
            .trainers
            .keys()
            .map(|n| StakeOutcome {
                node: *n,
                amount: self.params.trainer_stake,
                fate: fate(n),
            })
            .collect();
        stakes.extend(self.challengers.iter().map(|(n, amount)| StakeOutcome {
            node: *n,
            amount: *amount,
            fate: fate(n),
        }));
        let settlement = settle(self.params.payment, &honest, &stakes)
            .expect("invariant: amounts checked for overflow on entry; nodes are distinct");
        self.settlement = Some(settlement.clone());
        actions.push(Action::Finalize { settlement });
    }
}
