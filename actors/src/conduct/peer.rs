//! Carrying out role actions (sends, chain calls, compute) and placing authenticated peer
//! messages as role inputs.

use pinpoint_chain::{B256, Call, Finding, Ruling};
use pinpoint_net::Transport;
use pinpoint_protocol::codec::Frame;
use pinpoint_protocol::dispute::Party;
use pinpoint_protocol::id::{JobId, NodeId};
use pinpoint_protocol::role::arbiter::{ArbiterAction, ArbiterInput, dispute_scope};
use pinpoint_protocol::role::party::{PartyAction, PartyInput};
use pinpoint_protocol::role::trainer::{TrainerAction, TrainerInput};
use pinpoint_protocol::role::verifier::{VerifierAction, VerifierCompute, VerifierInput};
use pinpoint_protocol::wire::{Message, Outcome, Resolution, Verdict, WireOpening};
use ractor::ActorRef;

use super::{ConductMsg, ConductState, Observed, Probe, Scope, Settled, compute};
use crate::network::Routed;
use crate::role::RoleMsg;

impl ConductState {
    /// Signs `msg` for `(scope, round)` and sends it to `to`, off the actor's loop.
    pub(super) fn send(&mut self, to: NodeId, scope: JobId, round: u32, msg: Message) {
        self.last_seq += 1;
        let signed = match msg.sign(&self.key, scope, round, self.last_seq) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "signing a message");
                return;
            }
        };
        let frame = match Frame::seal(&signed) {
            Ok(f) => f,
            Err(e) => {
                tracing::warn!(error = %e, "encoding a message");
                return;
            }
        };
        self.status.sent += 1;
        self.status.bytes_sent += frame.body.len() as u64 + 4;
        let transport = self.transport.clone();
        tokio::spawn(async move {
            if let Err(e) = transport.send(to, frame).await {
                tracing::warn!(peer = %to, error = %e, "send failed");
            }
        });
    }

    fn scope_of(&mut self, dispute: u64) -> Option<(JobId, u64)> {
        let job = self.book.dispute(dispute)?.job;
        Some((dispute_scope(&self.job_id(job), dispute), job))
    }
}

/// Carries out a trainer action.
pub(super) async fn trainer_action(
    st: &mut ConductState,
    a: TrainerAction,
    myself: &ActorRef<ConductMsg>,
) {
    match a {
        TrainerAction::Train { job, .. } => st.train(job, myself).await,
        TrainerAction::Commit { job, root } => {
            let Some(&n) = st.chain_jobs.get(&job) else {
                // A run resumed after a restart can end before this incarnation has read the
                // chain: the commit waits for a tick that knows the job (`release_commits`).
                st.held_commits.push((job, root));
                return;
            };
            st.transact(Call::Commit {
                job: n,
                root: B256::from(root),
            })
            .await;
        }
        TrainerAction::SendOpening { to, job, opening } => match WireOpening::new(opening) {
            Ok(w) => st.send(to, job, 0, Message::StepOpening(w)),
            Err(e) => tracing::warn!(error = %e, "encoding an opening"),
        },
    }
}

/// The chain's ruling and finding for a referee's verdict in `dispute`.
fn ruling_of(st: &ConductState, dispute: u64, v: &Verdict) -> Option<(Ruling, Finding)> {
    let x = st.book.dispute(dispute)?;
    let challenger = st.book.node_of(&x.challenger)?;
    let ruling = match v.outcome {
        Outcome::Winner { winner, .. } if winner == challenger => Ruling::ChallengerWins,
        Outcome::Winner { .. } => Ruling::DefendantWins,
        Outcome::BothLose { .. } => Ruling::BothLose,
    };
    let finding = match v.resolution {
        Resolution::Recomputed {
            step,
            node,
            challenger_hash,
            defendant_hash,
            recomputed_hash,
        } => Finding {
            step,
            node,
            challengerHash: B256::from(challenger_hash),
            defendantHash: B256::from(defendant_hash),
            refereeHash: B256::from(recomputed_hash),
        },
        _ => zero_finding(),
    };
    Some((ruling, finding))
}

/// How the referee settled `dispute` (for the log and the API): a re-run, or whose forfeit.
fn settled_of(st: &ConductState, dispute: u64, v: &Verdict) -> Settled {
    match v.resolution {
        Resolution::Recomputed { .. } => Settled::Recomputed,
        Resolution::Forfeit { offender, fault } => {
            let challenger = st
                .book
                .dispute(dispute)
                .and_then(|x| st.book.node_of(&x.challenger))
                .is_some_and(|c| c == offender);
            Settled::Forfeit { challenger, fault }
        }
    }
}

fn zero_finding() -> Finding {
    Finding {
        step: 0,
        node: 0,
        challengerHash: B256::ZERO,
        defendantHash: B256::ZERO,
        refereeHash: B256::ZERO,
    }
}

/// Carries out an arbiter action.
pub(super) async fn arbiter_action(st: &mut ConductState, a: ArbiterAction) {
    match a {
        ArbiterAction::Send {
            dispute,
            to,
            round,
            msg,
        } => {
            if let Some((scope, _)) = st.scope_of(dispute) {
                let probe = match &msg {
                    Message::StepQuery(q) => Some(Probe::Step(q.step)),
                    Message::NodePhaseStart(p) => Some(Probe::NodePhase {
                        lo: p.lo,
                        nodes: p.nodes,
                    }),
                    Message::NodeQuery(q) => Some(Probe::Node(q.index)),
                    Message::InputQuery(_) => Some(Probe::Inputs),
                    _ => None,
                };
                if let Some(probe) = probe {
                    st.observe(Observed::Query {
                        dispute,
                        to,
                        round,
                        probe,
                    });
                }
                st.send(to, scope, round, msg);
            }
        }
        ArbiterAction::Verdict {
            dispute,
            verdict,
            rounds,
        } => {
            let Some((ruling, finding)) = ruling_of(st, dispute, &verdict) else {
                tracing::warn!(
                    dispute,
                    "a verdict for a dispute the chain book does not know"
                );
                return;
            };
            let settled = settled_of(st, dispute, &verdict);
            tracing::info!(dispute, ?ruling, rounds, settled = %settled.describe(), "verdict");
            st.status.verdicts += 1;
            st.observe(Observed::Verdict {
                dispute,
                ruling: ruling as u8,
                step: finding.step,
                node: finding.node,
                rounds,
                settled,
            });
            st.transact(Call::Rule {
                dispute,
                ruling,
                finding,
            })
            .await;
        }
        ArbiterAction::Withdrawn { dispute, rounds } => {
            tracing::info!(
                dispute,
                rounds,
                "the chain decided the dispute before this referee finished: withdrawn, no vote"
            );
            st.observe(Observed::Withdrawn { dispute, rounds });
        }
        ArbiterAction::Unfounded { dispute } => {
            tracing::info!(dispute, "nothing to dispute: the challenger loses");
            st.status.verdicts += 1;
            st.transact(Call::Rule {
                dispute,
                ruling: Ruling::DefendantWins,
                finding: zero_finding(),
            })
            .await;
        }
    }
}

/// Carries out a party action.
pub(super) fn party_action(st: &mut ConductState, a: PartyAction, myself: &ActorRef<ConductMsg>) {
    match a {
        PartyAction::Send {
            to,
            job,
            round,
            msg,
        } => st.send(to, job, round, msg),
        PartyAction::ComputeStepRecord { job, referee, lo } => {
            let Some(super::Scope::Dispute { job: n, .. }) = st.scopes.get(&job).copied() else {
                return;
            };
            let Some(spec) = st.specs.get(&n).cloned() else {
                return;
            };
            let cheat = st.cheat;
            let me = myself.clone();
            let store = st.store.clone();
            let run = st.job_id(n);
            tokio::task::spawn_blocking(move || {
                let record = match cheat {
                    Some(c) => compute::cheat_record(&spec, c, lo),
                    None => compute::step_record(&spec, &store, &run, lo),
                };
                let _ = me.send_message(ConductMsg::StepRecorded {
                    scope: job,
                    referee,
                    lo,
                    record,
                });
            });
        }
        PartyAction::StorePhaseStart { job, referee, .. } => {
            tracing::debug!(scope = ?job, %referee, "node phase started");
        }
    }
}

/// Places an authenticated peer message as a role input.
pub(super) fn inbound(st: &mut ConductState, r: Routed) {
    let Routed { from, message, .. } = r;
    let scope = message.job;
    let placed = match st.scopes.get(&scope).copied() {
        Some(Scope::Job) => match &message.statement {
            Message::StepOpening(w) => match &st.verifier {
                Some(v) => v
                    .send_message(RoleMsg::Input(VerifierInput::Opening {
                        from,
                        job: scope,
                        opening: w.to_opening(),
                    }))
                    .is_ok(),
                None => false,
            },
            Message::JobCommit(c) if c.trainer == from => {
                let root = B256::from(c.root);
                match st.chain_jobs.get(&scope).copied() {
                    Some(n) => st.book.challenger_root(n, &from, root),
                    None => false,
                }
            }
            Message::OpeningRequest(q) => match &st.trainer {
                Some(t) => t
                    .send_message(RoleMsg::Input(TrainerInput::OpeningRequest {
                        from,
                        job: scope,
                        step: q.step,
                    }))
                    .is_ok(),
                None => false,
            },
            _ => false,
        },
        Some(Scope::Dispute { dispute, .. }) => dispute_message(st, dispute, from, message),
        None => false,
    };
    if !placed {
        st.status.unplaced += 1;
        tracing::debug!(peer = %from, "a peer message this node has no place for");
    }
}

fn dispute_message(
    st: &mut ConductState,
    dispute: u64,
    from: NodeId,
    message: pinpoint_protocol::wire::SignedMessage,
) -> bool {
    let Some(x) = st.book.dispute(dispute).cloned() else {
        return false;
    };
    let me = st.book.me().account;
    let node = |a| st.book.node_of(a);
    let parties = [node(&x.challenger), node(&x.defendant)];
    let committee: Vec<NodeId> = x.committee.iter().filter_map(node).collect();
    if x.committee.contains(&me) && parties.contains(&Some(from)) {
        return match &st.arbiter {
            Some(a) => a
                .send_message(RoleMsg::Input(ArbiterInput::Answer {
                    from,
                    signed: Box::new(message),
                }))
                .is_ok(),
            None => false,
        };
    }
    let i_am_party = x.challenger == me || x.defendant == me;
    if !i_am_party || !committee.contains(&from) {
        return false;
    }
    let scope = message.job;
    let Some(p) = st.parties.clone() else {
        return false;
    };
    if !st.opened.contains(&(scope, from)) {
        let Some(job) = st.chain_jobs.get(&scope).copied().or_else(|| {
            st.scopes.get(&scope).and_then(|s| match s {
                Scope::Dispute { job, .. } => Some(*job),
                Scope::Job => None,
            })
        }) else {
            return false;
        };
        let key = st.job_id(job);
        let Some(run) = st.runs.get(&key) else {
            tracing::warn!(dispute, "a query for a run this node does not hold");
            return false;
        };
        let party = match Party::from_hashes(run.hashes().to_vec()) {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, "building the dispute party");
                return false;
            }
        };
        let opened = PartyInput::Opened {
            job: scope,
            referee: from,
            party,
        };
        if p.send_message(RoleMsg::Input(opened)).is_err() {
            return false;
        }
        st.opened.insert((scope, from));
    }
    p.send_message(RoleMsg::Input(PartyInput::Query {
        from,
        job: scope,
        round: message.round,
        msg: message.statement,
    }))
    .is_ok()
}

/// Carries out a verifier action.
pub(super) async fn verifier_action(
    st: &mut ConductState,
    a: VerifierAction,
    myself: &ActorRef<ConductMsg>,
) {
    match a {
        VerifierAction::RequestOpening { job, trainer, step } => {
            let q = Message::OpeningRequest(pinpoint_protocol::wire::OpeningRequest { step });
            st.send(trainer, job, 0, q);
        }
        VerifierAction::Compute(VerifierCompute::Recompute {
            job,
            trainer,
            step,
            prev_hash,
        }) => {
            let Some(spec) = st
                .chain_jobs
                .get(&job)
                .and_then(|n| st.specs.get(n))
                .cloned()
            else {
                return;
            };
            let me = myself.clone();
            let store = st.store.clone();
            tokio::task::spawn_blocking(move || {
                let result = compute::recompute(&spec, &store, &job, step, prev_hash);
                let _ = me.send_message(ConductMsg::Recomputed {
                    job,
                    trainer,
                    step,
                    result,
                });
            });
        }
        VerifierAction::Compute(VerifierCompute::RunJob { job }) => {
            st.own_runs.insert(job);
            st.run_job(job, None, myself).await;
        }
        VerifierAction::Challenge { job, trainer, root } => {
            let (Some(&n), Some(account)) = (st.chain_jobs.get(&job), st.book.account_of(&trainer))
            else {
                return;
            };
            let Some(bond) = st.book.job(n).map(|j| j.bond) else {
                return;
            };
            st.challenges.insert(n, root);
            st.transact(Call::Challenge {
                job: n,
                trainer: account,
                bond,
            })
            .await;
        }
        VerifierAction::Finished {
            job,
            trainer,
            outcome,
        } => {
            tracing::info!(job = ?job, %trainer, ?outcome, "verification finished");
        }
    }
}
