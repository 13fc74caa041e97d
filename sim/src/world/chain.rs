//! The chain: job state machines, the ledger, committee votes, and the checkers that run on
//! every chain action (honest slashed, wrong result finalized, settlement applies).

use pinpoint_protocol::verify::Outcome as VerifyOutcome;
use std::collections::BTreeSet;
use std::sync::Arc;

use pinpoint_protocol::fees::Account;
use pinpoint_protocol::job::{Action, Input, Job, JobTerms, Phase};

use super::events::Tx;
use super::{DisputeRun, Ev, Ix, Side, Slot, World};
use crate::glue::dispute::{Deviation, Forge, ceil_log2};
use crate::ledger::Ledger;
use crate::records::{Committed, Forgery};
use crate::rng::Rng;
use crate::scenario::{Assign, Kind, Role};

impl World {
    /// The committed run and dispute deviation of trainer `node` for job `job`.
    fn trainer_record(&mut self, node: Ix, job: usize) -> (Arc<Committed>, Deviation) {
        let honest = Arc::clone(&self.recs.honest);
        let Some(kind) = self.nodes[node].kind else {
            return (honest, Deviation::None);
        };
        let steps = honest.steps();
        let salt = self.nodes[node].salt;
        let mut r = Rng::new(self.seed, &format!("forge {job} {salt}"));
        let t = r.range(1, steps);
        let forge = match kind {
            Kind::WrongNode | Kind::NodeLie => Forge::Node {
                step: t,
                node: r.index(self.recs.nodes as usize) as u64 + 1,
            },
            Kind::WrongIntermediate => Forge::Intermediate {
                step: r.range(1, steps.saturating_sub(1).max(1)),
            },
            Kind::CorruptFraction => {
                let k = ((self.nodes[node].fraction * steps as f64).round() as u64).clamp(1, steps);
                let mut all: Vec<u64> = (1..=steps).collect();
                r.shuffle(&mut all);
                Forge::States(all.into_iter().take(k as usize).collect())
            }
            _ => Forge::States(BTreeSet::from([t])),
        };
        let rec = match self.recs.forged(&Forgery { forge, salt }) {
            Ok(r) => r,
            Err(e) => {
                self.violation(format!("forging a record failed: {e}"));
                honest
            }
        };
        // Which answer lies: drawn over the answers a dispute has (one more than the bisection
        // rounds of each phase), so a lie can come at any point of the phase.
        let step_answers = ceil_log2(steps) + 1;
        let node_answers = ceil_log2(self.recs.nodes + 1) + 1;
        let deviation = match kind {
            Kind::StepLie => Deviation::LieInStepBisection {
                answer: r.range(0, u64::from(step_answers) - 1) as u32,
            },
            Kind::NodeLie => Deviation::LieInNodeBisection {
                answer: r.range(0, u64::from(node_answers) - 1) as u32,
            },
            Kind::BadProof => Deviation::BadProof,
            Kind::Silent => Deviation::Silent { from_round: 0 },
            Kind::Equivocate => Deviation::Equivocate,
            _ => Deviation::None,
        };
        (rec, deviation)
    }

    fn draw_trainers(&mut self, job: usize) -> Vec<Ix> {
        let mut r = Rng::new(self.seed, &format!("assign {job}"));
        let mut pool: Vec<Ix> = (0..self.nodes.len())
            .filter(|i| self.nodes[*i].role == Role::Trainer)
            .collect();
        r.shuffle(&mut pool);
        let n = self.scn.jobs.replicas;
        match self.scn.jobs.assign {
            Assign::Random => pool.into_iter().take(n).collect(),
            Assign::OneCheater => {
                let (bad, good): (Vec<Ix>, Vec<Ix>) =
                    pool.into_iter().partition(|i| !self.nodes[*i].honest());
                let mut out: Vec<Ix> = bad.iter().take(1).copied().collect();
                out.extend(good.iter().copied());
                out.extend(bad.iter().skip(1).copied());
                out.truncate(n);
                out
            }
            Assign::OneHonest => {
                let (good, bad): (Vec<Ix>, Vec<Ix>) =
                    pool.into_iter().partition(|i| self.nodes[*i].honest());
                let mut out: Vec<Ix> = good.iter().take(1).copied().collect();
                out.extend(bad.iter().copied());
                out.extend(good.iter().skip(1).copied());
                out.truncate(n);
                out
            }
        }
    }

    pub(crate) fn post_job(&mut self, j: usize) {
        let t = self.scn.timing.clone();
        // The job's terms, once; the machine's parameters and the chain's posting derive
        // from them.
        let terms = JobTerms {
            payment: u128::from(self.scn.jobs.payment),
            replicas: u8::try_from(self.scn.jobs.replicas).unwrap_or(u8::MAX),
            trainer_stake: u128::from(self.scn.jobs.trainer_stake),
            challenger_stake: u128::from(self.scn.jobs.challenger_stake),
            assign_timeout_ms: t.chain_ms + 1,
            commit_timeout_ms: t.commit_timeout_ms,
            challenge_window_ms: t.challenge_window_ms,
        };
        if let Err(e) = terms.validate() {
            return self.violation(format!("job {j}: terms refused: {e}"));
        }
        let params = terms.params();
        let mut job = match Job::new(params, self.now) {
            Ok(job) => job,
            Err(e) => return self.violation(format!("job {j}: posting refused: {e}")),
        };
        let id = self.jobs[j].id;
        if let Err(e) = self.ledger.escrow(id, params.payment) {
            return self.violation(format!("job {j}: escrow: {e}"));
        }
        let trainers = self.draw_trainers(j);
        let ids = trainers.iter().map(|i| self.nodes[*i].id).collect();
        if let Err(e) = job.handle(self.now, Input::Assigned { trainers: ids }) {
            return self.violation(format!("job {j}: assignment refused: {e}"));
        }
        for &n in &trainers {
            if let Err(e) = self.ledger.bond(id, self.nodes[n].id, params.trainer_stake) {
                self.violation(format!("job {j}: bond: {e}"));
            }
        }
        self.jobs[j].job = Some(job);
        self.jobs[j].posted_at = self.now;
        let posting = crate::onchain::Posting {
            job_id: id,
            payment: terms.payment,
            bond: terms.trainer_stake,
            commit_timeout_ms: terms.commit_timeout_ms,
            challenge_window_ms: terms.challenge_window_ms,
        };
        self.on_chain(|m, now| m.post(j, now, &posting, &trainers));
        for n in trainers {
            let (rec, deviation) = self.trainer_record(n, j);
            let slot = self.jobs[j].slots.len();
            self.jobs[j].slots.push(Slot {
                node: n,
                rec,
                deviation,
                stored_steps: 0,
                started_at: self.now + t.chain_ms,
                done: false,
                chain_root: None,
            });
            // The node sees the assignment `chain_ms` later (a down node learns of it when it
            // restarts and reads the chain).
            if self.nodes[n].up {
                self.trainer_assigned(j, slot, t.chain_ms);
            }
        }
        self.after_chain(j);
    }

    /// Sends a transaction to the chain (it lands after `chain_ms`).
    pub(crate) fn send_tx(&mut self, tx: Tx) {
        let at = self.now + self.scn.timing.chain_ms;
        self.schedule(at, Ev::ChainTx(tx));
    }

    pub(crate) fn chain_tx(&mut self, tx: Tx) {
        match tx {
            Tx::Commit { job, slot, root } => {
                let s = &self.jobs[job].slots[slot];
                let trainer = self.nodes[s.node].id;
                let r = self.jobs[job]
                    .job
                    .as_mut()
                    .map(|jb| jb.handle(self.now, Input::Committed { trainer, root }));
                let node = self.jobs[job].slots[slot].node;
                let accepted = matches!(r, Some(Ok(_)));
                self.on_chain(|m, now| m.commit(job, now, node, root, accepted));
                match r {
                    Some(Ok(actions)) => {
                        self.jobs[job].slots[slot].chain_root = Some(root);
                        self.count("commits");
                        self.apply(job, actions);
                    }
                    _ => {
                        if self.jobs[job].slots[slot].chain_root.is_some() {
                            self.count("equivocating_commit_rejected");
                        } else {
                            self.count("commit_rejected");
                            if self.nodes[self.jobs[job].slots[slot].node].honest() {
                                self.beyond(format!(
                                    "job {job}: an honest trainer's commit arrived after the \
                                     commit deadline"
                                ));
                            }
                        }
                    }
                }
            }
            Tx::Challenge { job, v, slot, rec } => {
                let trainer = self.nodes[self.jobs[job].slots[slot].node].id;
                let challenger = self.nodes[v].id;
                let stake = u128::from(self.scn.jobs.challenger_stake);
                let r = self.jobs[job].job.as_mut().map(|jb| {
                    jb.handle(
                        self.now,
                        Input::Challenge {
                            challenger,
                            trainer,
                            stake,
                        },
                    )
                });
                match r {
                    Some(Ok(actions)) => {
                        self.count("challenges");
                        if !self.nodes[v].honest() {
                            self.count("false_challenges");
                        }
                        let id = self.jobs[job].id;
                        if let Err(e) = self.ledger.bond(id, challenger, stake) {
                            self.violation(format!("challenge bond: {e}"));
                        }
                        let t = self.jobs[job].slots[slot].node;
                        self.on_chain(|m, now| m.challenge(job, now, v, t, stake));
                        self.challenges.insert((job, v), rec);
                        self.apply(job, actions);
                    }
                    _ => self.count("challenge_rejected"),
                }
            }
            Tx::Verdict { d, winner } => self.verdict(d, winner),
        }
    }

    /// The committee's vote on dispute `d` given the honest referee's `winner` side, and the
    /// members whose votes made it: the first majority (`⌊n/2⌋ + 1`, in committee order) of
    /// those who voted it, as on chain, where the vote that reaches the majority decides.
    fn vote(&mut self, d: usize, winner: Option<usize>) -> (Option<usize>, Vec<Ix>) {
        let dr = &self.disputes[d];
        let honest_side = [
            self.nodes[dr.sides[0].node].honest(),
            self.nodes[dr.sides[1].node].honest(),
        ];
        let bad_vote = match honest_side {
            [true, false] => Some(1),
            [false, true] => Some(0),
            _ => Some(usize::from(winner == Some(0))),
        };
        let members = dr.committee.len();
        let bad = dr
            .committee
            .iter()
            .filter(|m| !self.nodes[**m].honest())
            .count();
        let result = if bad * 2 > members { bad_vote } else { winner };
        let majority: Vec<Ix> = dr
            .committee
            .iter()
            .copied()
            .filter(|m| {
                let v = if self.nodes[*m].honest() {
                    winner
                } else {
                    bad_vote
                };
                v == result
            })
            .take(members / 2 + 1)
            .collect();
        if bad > 0 {
            self.count("dishonest_arbiter_votes");
        }
        (result, majority)
    }

    fn verdict(&mut self, d: usize, referee_winner: Option<usize>) {
        let (winner, majority) = self.vote(d, referee_winner);
        if winner != referee_winner {
            self.count("verdict_overturned_by_committee");
        }
        let (job, a, b) = {
            let dr = &self.disputes[d];
            (dr.job, dr.sides[0].node, dr.sides[1].node)
        };
        for (side, n) in [a, b].into_iter().enumerate() {
            if self.nodes[n].honest() && winner != Some(side) {
                self.violation(format!(
                    "job {job}: honest node {n} lost dispute {d} (referee said {referee_winner:?})"
                ));
            }
        }
        let finding = self.chain_finding(d);
        self.on_chain(|m, now| m.verdict(job, d, now, winner, finding));
        let (ia, ib) = (self.nodes[a].id, self.nodes[b].id);
        let w = winner.map(|s| if s == 0 { ia } else { ib });
        let r = self.jobs[job].job.as_mut().map(|jb| {
            jb.handle(
                self.now,
                Input::Verdict {
                    a: ia,
                    b: ib,
                    winner: w,
                    arbiters: majority.iter().map(|m| self.nodes[*m].id).collect(),
                },
            )
        });
        match r {
            Some(Ok(actions)) => self.apply(job, actions),
            Some(Err(e)) => self.violation(format!("job {job}: verdict refused: {e}")),
            None => {}
        }
    }

    pub(crate) fn job_poll(&mut self, j: usize) {
        self.jobs[j].next_poll = None;
        let actions = match self.jobs[j].job.as_mut() {
            Some(jb) => jb.poll(self.now),
            None => return,
        };
        self.apply(j, actions);
    }

    fn apply(&mut self, j: usize, actions: Vec<Action>) {
        let closed = self.jobs[j]
            .job
            .as_ref()
            .is_some_and(|jb| !matches!(jb.phase(), Phase::Posted | Phase::Running));
        if closed {
            self.on_chain(|m, now| m.commits_closed(j, now));
        }
        for a in actions {
            match a {
                Action::OpenDispute { a, b } => self.open_dispute(j, a, b),
                Action::Slash { node, .. } => {
                    self.count("slashes");
                    if let Some(&n) = self.ix_of.get(&node) {
                        self.out.slashed_nodes += 1;
                        if self.nodes[n].honest() {
                            self.violation(format!("job {j}: honest node {n} slashed"));
                        }
                    }
                }
                Action::Finalize { settlement } => self.finalize(j, &settlement),
            }
        }
        self.after_chain(j);
    }

    fn finalize(&mut self, j: usize, settlement: &pinpoint_protocol::fees::Settlement) {
        let id = self.jobs[j].id;
        let (r, deltas) = self.settle_measured(id, settlement);
        if let Err(e) = r {
            self.violation(format!("job {j}: settlement: {e}"));
        }
        if let Some(deltas) = deltas {
            self.on_chain(|m, now| m.finalize(j, now, deltas));
        }
        self.jobs[j].finalized_at = Some(self.now);
        self.out
            .finality_ms
            .push(self.now.saturating_sub(self.jobs[j].posted_at));
        for t in &settlement.transfers {
            if t.to == Account::Burn && matches!(t.from, Account::Stake(_)) {
                self.out.slashed_burned += t.amount;
            }
        }
        let honest_root = self.recs.honest.root();
        let paid: Vec<usize> = (0..self.jobs[j].slots.len())
            .filter(|s| {
                let n = self.nodes[self.jobs[j].slots[*s].node].id;
                settlement
                    .transfers
                    .iter()
                    .any(|t| t.from == Account::Escrow && t.to == Account::Node(n))
            })
            .collect();
        let wrong: Vec<usize> = paid
            .iter()
            .copied()
            .filter(|s| self.jobs[j].slots[*s].chain_root != Some(honest_root))
            .collect();
        if wrong.is_empty() {
            return;
        }
        let honest_committed = self.jobs[j]
            .slots
            .iter()
            .any(|s| self.nodes[s.node].honest() && s.chain_root == Some(honest_root));
        let sampled = self
            .verifs
            .iter()
            .any(|v| v.job == j && wrong.contains(&v.slot) && v.sampled_corrupt);
        // Withheld openings are not sampling's miss: the verifier saw the trainer fail to open
        // its commitment, and that must cost the trainer (issue 16, defect 3).
        let withheld = self.verifs.iter().any(|v| {
            v.job == j
                && wrong.contains(&v.slot)
                && matches!(v.outcome, Some(VerifyOutcome::Silent { .. }))
        });
        if honest_committed || sampled || withheld {
            if withheld {
                self.count("wrong_result_paid_after_withheld_openings");
            }
            self.violation(format!(
                "job {j}: a wrong result was finalized although {}",
                if honest_committed {
                    "an honest trainer committed the right root"
                } else if sampled {
                    "a verifier sampled a corrupted step"
                } else {
                    "its trainer withheld the openings a verifier asked for"
                }
            ));
        } else {
            self.count("wrong_result_escaped_sampling");
            self.out.escaped += 1;
        }
    }

    /// After any change to job `j`: notify verifiers when commits close, schedule the next poll.
    fn after_chain(&mut self, j: usize) {
        let Some(jb) = self.jobs[j].job.as_ref() else {
            return;
        };
        let phase = jb.phase();
        let deadline = jb.next_deadline();
        if !self.jobs[j].window_noted && matches!(phase, Phase::ChallengeWindow | Phase::Disputed) {
            self.jobs[j].window_noted = true;
            let at = self.now + self.scn.timing.chain_ms;
            for n in 0..self.nodes.len() {
                if self.nodes[n].role == Role::Verifier {
                    self.schedule(at, Ev::WindowOpen { node: n, job: j });
                }
            }
        }
        if let Some(d) = deadline
            && self.jobs[j].next_poll != Some(d)
        {
            self.jobs[j].next_poll = Some(d);
            self.schedule(d, Ev::JobPoll { job: j });
        }
    }

    fn open_dispute(
        &mut self,
        j: usize,
        a: pinpoint_protocol::id::NodeId,
        b: pinpoint_protocol::id::NodeId,
    ) {
        let side = |w: &World, id| -> Option<Side> {
            let n = *w.ix_of.get(&id)?;
            if let Some(s) = w.jobs[j].slots.iter().find(|s| s.node == n) {
                return Some(Side {
                    node: n,
                    rec: Arc::clone(&s.rec),
                    deviation: s.deviation,
                    stored_start: None,
                });
            }
            let rec = w.challenges.get(&(j, n))?;
            Some(Side {
                node: n,
                rec: Arc::clone(rec),
                deviation: Deviation::None,
                stored_start: None,
            })
        };
        let (Some(sa), Some(sb)) = (side(self, a), side(self, b)) else {
            return self.violation(format!("job {j}: dispute between unknown nodes"));
        };
        let d = self.disputes.len();
        let mut r = Rng::new(self.seed, &format!("committee {d}"));
        let mut arbiters: Vec<Ix> = (0..self.nodes.len())
            .filter(|i| self.nodes[*i].role == Role::Arbiter)
            .collect();
        r.shuffle(&mut arbiters);
        arbiters.truncate(self.scn.nodes.committee);
        let bad = arbiters
            .iter()
            .filter(|m| !self.nodes[**m].honest())
            .count();
        if bad * 2 > arbiters.len() {
            self.beyond(format!(
                "dispute {d}: {bad} of {} arbiters dishonest (no honest majority)",
                arbiters.len()
            ));
        }
        let referee = arbiters
            .iter()
            .copied()
            .find(|m| self.nodes[*m].honest())
            .unwrap_or(arbiters[0]);
        self.disputes.push(DisputeRun {
            job: j,
            sides: [sa, sb],
            referee,
            committee: arbiters,
            started_at: self.now,
            done: false,
            resolution: None,
        });
        self.count("disputes");
        let parties = (
            self.disputes[d].sides[0].node,
            self.disputes[d].sides[1].node,
        );
        self.on_chain(|m, now| m.open_dispute(j, d, now, parties));
        let at = self.now + self.scn.timing.chain_ms;
        self.schedule(at, Ev::RefereeStart { referee, d });
    }

    /// Checker: tokens conserved (and, through the ledger's refusals, escrow never negative).
    pub(crate) fn check_ledger(&mut self) {
        let t = self.ledger.totals();
        if !t.conserved() && !self.out.ledger_broken {
            self.out.ledger_broken = true;
            self.violation(format!("tokens not conserved: {t:?}"));
        }
    }
}
