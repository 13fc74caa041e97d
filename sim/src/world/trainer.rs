//! Trainer nodes and dispute parties: each node runs the protocol's trainer role machine
//! ([`pinpoint_protocol::role::trainer::TrainerRole`]) and party role machine
//! ([`pinpoint_protocol::role::party::PartyRole`]). Training is compute, answered by the
//! world's executor model: it takes `step_ms` a step, checkpoints every `checkpoint_every`
//! steps, and a crash loses what was not checkpointed. A crash replaces the machines with
//! fresh ones; the restarted node resumes from its store (its last checkpoint, its finished
//! runs, the node-phase starts it stored).

use pinpoint_protocol::role::Machine;
use pinpoint_protocol::role::arbiter::dispute_scope;
use pinpoint_protocol::role::party::{PartyAction, PartyInput, PartyRole};
use pinpoint_protocol::role::trainer::{TrainerAction, TrainerInput};
use pinpoint_protocol::wire::{Message, SignedMessage};

use super::events::Tx;
use super::{Ev, Ix, Msg, World, trainer_machine};
use crate::glue::dispute::DisputeParty;
use crate::scenario::Kind;

impl World {
    /// The chain assigned slot `slot` of job `j` to its node (`notice_ms`: until the node sees
    /// the assignment).
    pub(crate) fn trainer_assigned(&mut self, j: usize, slot: usize, notice_ms: u64) {
        let node = self.jobs[j].slots[slot].node;
        let input = TrainerInput::Assigned {
            job: self.jobs[j].id,
        };
        self.feed_trainer(node, input, notice_ms);
    }

    fn feed_trainer(&mut self, node: Ix, input: TrainerInput, notice_ms: u64) {
        let now = self.now;
        if let Err(e) = self.nodes[node].roles.trainer.handle(now, input) {
            return self.violation(format!("trainer {node}: input refused: {e}"));
        }
        self.drain_trainer(node, notice_ms);
    }

    /// Carries out trainer `node`'s actions.
    fn drain_trainer(&mut self, node: Ix, notice_ms: u64) {
        while let Some(a) = self.nodes[node].roles.trainer.poll_action() {
            match a {
                TrainerAction::Train { job, from_step } => {
                    // Compute: the executor model trains the remaining steps.
                    let Some(j) = self.jobs.iter().position(|r| r.id == job) else {
                        continue;
                    };
                    let steps = self.recs.honest.steps();
                    let left = steps.saturating_sub(from_step);
                    let at = self.now + notice_ms + left * self.scn.timing.step_ms;
                    let epoch = self.nodes[node].epoch;
                    self.schedule(
                        at,
                        Ev::TrainDone {
                            node,
                            job: j,
                            epoch,
                        },
                    );
                }
                TrainerAction::Commit { job, root } => {
                    let Some(j) = self.jobs.iter().position(|r| r.id == job) else {
                        continue;
                    };
                    let Some(slot) = self.jobs[j].slots.iter().position(|s| s.node == node) else {
                        continue;
                    };
                    if root != self.jobs[j].slots[slot].rec.root() {
                        // A second root for the same job (the equivocating trainer machine).
                        self.count("equivocations");
                    }
                    self.send_tx(Tx::Commit { job: j, slot, root });
                }
                TrainerAction::SendOpening { to, job, opening } => {
                    let Some(&verifier) = self.ix_of.get(&to) else {
                        continue;
                    };
                    let Some(v) = self.verifs.iter().position(|v| {
                        v.verifier == verifier
                            && self.jobs[v.job].id == job
                            && self.jobs[v.job].slots[v.slot].node == node
                    }) else {
                        continue;
                    };
                    if self.nodes[node].kind == Some(Kind::SlowOpenings) {
                        self.count("opening_stalled");
                    }
                    self.send(node, verifier, Msg::Opening { v, opening });
                }
            }
        }
        let next = self.nodes[node].roles.trainer.next_deadline();
        if let Some(at) = next
            && self.nodes[node].trainer_poll != Some(at)
        {
            self.nodes[node].trainer_poll = Some(at);
            let epoch = self.nodes[node].epoch;
            self.schedule(at, Ev::TrainerTick { node, epoch });
        }
    }

    /// Trainer `node`'s timer (a staller's held openings).
    pub(crate) fn trainer_tick(&mut self, node: Ix, epoch: u32) {
        if self.nodes[node].epoch != epoch {
            return;
        }
        self.nodes[node].trainer_poll = None;
        let now = self.now;
        self.nodes[node].roles.trainer.handle_timeout(now);
        self.drain_trainer(node, 0);
    }

    /// Training of job `job` on `node` finished (the executor model's compute result).
    pub(crate) fn train_done(&mut self, node: Ix, job: usize, epoch: u32) {
        if self.nodes[node].epoch != epoch {
            return;
        }
        let Some(slot) = self.jobs[job].slots.iter().position(|s| s.node == node) else {
            return;
        };
        let id = self.jobs[job].id;
        let s = &mut self.jobs[job].slots[slot];
        if s.done {
            return;
        }
        s.done = true;
        s.stored_steps = s.rec.steps();
        let input = TrainerInput::Trained {
            job: id,
            state_hashes: s.rec.state_hashes.clone(),
            committed: false,
        };
        self.feed_trainer(node, input, 0);
    }

    /// Crash bookkeeping of a trainer: training since the last checkpoint is lost, and so are
    /// its machines (and every dispute party's in-memory state).
    pub(crate) fn trainer_crash(&mut self, node: Ix) {
        let (k, step_ms) = (self.scn.timing.checkpoint_every, self.scn.timing.step_ms);
        let now = self.now;
        for j in &mut self.jobs {
            for s in j.slots.iter_mut().filter(|s| s.node == node && !s.done) {
                let progress = s.stored_steps + now.saturating_sub(s.started_at) / step_ms;
                s.stored_steps = (progress.min(s.rec.steps()) / k) * k;
            }
        }
        let (kind, stall) = (self.nodes[node].kind, self.scn.stall_ms());
        self.nodes[node].roles.trainer = trainer_machine(kind, stall);
        self.nodes[node].trainer_poll = None;
        self.party_crash(node);
    }

    /// A crash loses the node's dispute parties (a verifier's too: it may be a challenger).
    pub(crate) fn party_crash(&mut self, node: Ix) {
        self.nodes[node].roles.party = PartyRole::new();
        self.nodes[node].last_seq = 0;
    }

    /// Restart of a trainer: finished runs come back from the store, unfinished training
    /// resumes from the stored checkpoint.
    pub(crate) fn trainer_restart(&mut self, node: Ix) {
        let mut inputs = Vec::new();
        for (j, job) in self.jobs.iter_mut().enumerate() {
            for s in job.slots.iter_mut().filter(|s| s.node == node) {
                if s.done {
                    inputs.push((
                        j,
                        TrainerInput::Trained {
                            job: job.id,
                            state_hashes: s.rec.state_hashes.clone(),
                            committed: true,
                        },
                    ));
                } else {
                    s.started_at = self.now;
                    inputs.push((
                        j,
                        TrainerInput::Resume {
                            job: job.id,
                            from_step: s.stored_steps,
                        },
                    ));
                }
            }
        }
        for (_, input) in inputs {
            if matches!(input, TrainerInput::Resume { .. }) {
                self.count("training_resumed_from_checkpoint");
            }
            self.feed_trainer(node, input, 0);
        }
    }

    /// A referee query of `round` for dispute `d` reaches party node `to`.
    pub(crate) fn party_receive(&mut self, d: usize, to: Ix, round: u32, msg: Message) {
        let Some(i) = self.disputes[d].sides.iter().position(|s| s.node == to) else {
            return;
        };
        let (referee, j) = (self.disputes[d].referee, self.disputes[d].job);
        // The dispute's messages travel under its scope, not the job's id.
        let job = dispute_scope(&self.jobs[j].id, d as u64);
        let from = self.nodes[referee].id;
        if !self.nodes[to].roles.party.is_party(&job, &from) {
            // The node (re)reads the dispute from the chain and builds its party from its run.
            let side = &self.disputes[d].sides[i];
            let made = self.recs.source(&side.rec).and_then(|src| {
                DisputeParty::new(src, side.deviation, self.nodes[to].salt).map_err(Into::into)
            });
            let party = match made {
                Ok(p) => p,
                Err(e) => return self.violation(format!("dispute {d}: party: {e}")),
            };
            let stored = side.stored_start.clone();
            let opened = PartyInput::Opened {
                job,
                referee: from,
                party,
            };
            self.feed_party(d, to, opened);
            if let Some(start) = stored {
                self.count("party_rebuilt_from_store");
                let replay = PartyInput::Query {
                    from,
                    job,
                    round: 0,
                    msg: Message::NodePhaseStart(start),
                };
                self.feed_party(d, to, replay);
            }
        }
        let query = PartyInput::Query {
            from,
            job,
            round,
            msg,
        };
        self.feed_party(d, to, query);
    }

    fn feed_party(&mut self, d: usize, node: Ix, input: PartyInput<DisputeParty>) {
        let now = self.now;
        if self.nodes[node].roles.party.handle(now, input).is_err() {
            self.count("party_refused_input");
        }
        self.drain_party(d, node);
    }

    /// Carries out party `node`'s actions in dispute `d`.
    fn drain_party(&mut self, d: usize, node: Ix) {
        while let Some(a) = self.nodes[node].roles.party.poll_action() {
            match a {
                PartyAction::Send {
                    to: _,
                    job,
                    round,
                    msg,
                } => {
                    // The envelope a node signs; its sequence number is above every one this
                    // node used, even across a crash that lost `last_seq` (at least
                    // `now · 2¹⁶`, and a restarted node's clock has moved on). The signature is
                    // left zero: the link authenticates the signer (`World::referee_receive`).
                    let seq = (self.nodes[node].last_seq + 1).max(self.now.saturating_mul(1 << 16));
                    self.nodes[node].last_seq = seq;
                    let signed = SignedMessage {
                        signer: self.nodes[node].id,
                        job,
                        round,
                        seq,
                        statement: msg,
                        signature: [0; 64],
                    };
                    let referee = self.disputes[d].referee;
                    self.send(node, referee, Msg::ToReferee { d, signed });
                }
                PartyAction::ComputeStepRecord { job, referee, lo } => {
                    // Compute, answered from the party's run record.
                    let Some(side) = self.disputes[d].sides.iter().find(|s| s.node == node) else {
                        continue;
                    };
                    let record = self
                        .recs
                        .source(&side.rec)
                        .map_err(|e| e.to_string())
                        .and_then(|mut src| src.step_record(lo).map_err(|e| e.to_string()));
                    let input = PartyInput::StepRecorded {
                        job,
                        referee,
                        lo,
                        record,
                    };
                    let now = self.now;
                    if self.nodes[node].roles.party.handle(now, input).is_err() {
                        self.count("party_refused_input");
                    }
                }
                PartyAction::StorePhaseStart { start, .. } => {
                    if let Some(side) = self.disputes[d].sides.iter_mut().find(|s| s.node == node) {
                        side.stored_start = Some(start);
                    }
                }
            }
        }
    }

    /// A verifier asks trainer `to` to open `step` (verification `v`).
    pub(crate) fn opening_request(&mut self, v: usize, to: Ix, step: u64) {
        if self.nodes[to].kind == Some(Kind::Silent) {
            // Reported only: the withholding trainer machine drops the request itself.
            self.count("opening_withheld");
        }
        let (job, verifier) = (self.verifs[v].job, self.verifs[v].verifier);
        let input = TrainerInput::OpeningRequest {
            from: self.nodes[verifier].id,
            job: self.jobs[job].id,
            step,
        };
        let now = self.now;
        if self.nodes[to].roles.trainer.handle(now, input).is_err() {
            self.count("opening_request_invalid");
            return;
        }
        self.drain_trainer(to, 0);
    }
}
