//! Trainers: training time (resumed from the last checkpoint after a crash), commits, dispute
//! answers (the party is rebuilt from the node's store after a crash) and step openings.

use pinpoint_protocol::verify::StepOpening;
use pinpoint_protocol::wire::Message;

use super::events::Tx;
use super::{Ev, Ix, Msg, World};
use crate::glue::dispute::DisputeParty;
use crate::scenario::Kind;

impl World {
    pub(crate) fn train_done(&mut self, node: Ix, job: usize, epoch: u32) {
        if self.nodes[node].epoch != epoch {
            return;
        }
        let Some(slot) = self.jobs[job].slots.iter().position(|s| s.node == node) else {
            return;
        };
        let s = &mut self.jobs[job].slots[slot];
        if s.done {
            return;
        }
        s.done = true;
        s.stored_steps = s.rec.steps();
        let root = s.rec.root();
        self.send_tx(Tx::Commit { job, slot, root });
        if self.nodes[node].kind == Some(Kind::Equivocate) {
            let mut other = root;
            other[0] ^= 0xa5;
            self.count("equivocations");
            self.send_tx(Tx::Commit {
                job,
                slot,
                root: other,
            });
        }
    }

    /// Crash bookkeeping of a trainer: training since the last checkpoint is lost, and so is
    /// every dispute party's in-memory state.
    pub(crate) fn trainer_crash(&mut self, node: Ix) {
        let (k, step_ms) = (self.scn.timing.checkpoint_every, self.scn.timing.step_ms);
        let now = self.now;
        for j in &mut self.jobs {
            for s in j.slots.iter_mut().filter(|s| s.node == node && !s.done) {
                let progress = s.stored_steps + now.saturating_sub(s.started_at) / step_ms;
                s.stored_steps = (progress.min(s.rec.steps()) / k) * k;
            }
        }
        for d in &mut self.disputes {
            for side in d.sides.iter_mut().filter(|s| s.node == node) {
                side.party = None;
            }
        }
    }

    /// Restart of a trainer: resume unfinished training from the stored checkpoint.
    pub(crate) fn trainer_restart(&mut self, node: Ix) {
        let step_ms = self.scn.timing.step_ms;
        let epoch = self.nodes[node].epoch;
        let mut resume = Vec::new();
        for (j, job) in self.jobs.iter_mut().enumerate() {
            for s in job.slots.iter_mut().filter(|s| s.node == node && !s.done) {
                s.started_at = self.now;
                resume.push((j, s.rec.steps() - s.stored_steps));
            }
        }
        for (j, left) in resume {
            self.count("training_resumed_from_checkpoint");
            self.schedule(
                self.now + left * step_ms,
                Ev::TrainDone {
                    node,
                    job: j,
                    epoch,
                },
            );
        }
    }

    /// A referee message for dispute `d` reaches party node `to`.
    pub(crate) fn party_receive(&mut self, d: usize, to: Ix, msg: Message) {
        let Some(i) = self.disputes[d].sides.iter().position(|s| s.node == to) else {
            return;
        };
        let referee = self.disputes[d].referee;
        let side = &mut self.disputes[d].sides[i];
        if side.party.is_none() {
            let rebuilt = side.stored_start.is_some();
            let made = self.recs.source(&side.rec).and_then(|src| {
                DisputeParty::new(src, side.deviation, self.nodes[to].salt).map_err(Into::into)
            });
            let mut p = match made {
                Ok(p) => p,
                Err(e) => return self.violation(format!("dispute {d}: party: {e}")),
            };
            if let Some(start) = &side.stored_start {
                let _ = p.handle(start);
            }
            side.party = Some(p);
            if rebuilt {
                self.count("party_rebuilt_from_store");
            }
        }
        let side = &mut self.disputes[d].sides[i];
        if DisputeParty::is_phase_start(&msg) {
            side.stored_start = Some(msg.clone());
        }
        let answer = side.party.as_mut().and_then(|p| p.handle(&msg));
        if let Some(answer) = answer {
            self.send(to, referee, Msg::ToReferee { d, msg: answer });
        }
    }

    /// A verifier asks trainer `to` to open `step` (verification `v`).
    pub(crate) fn opening_request(&mut self, v: usize, to: Ix, step: u64) {
        if self.nodes[to].kind == Some(Kind::Silent) {
            self.count("opening_withheld");
            return;
        }
        let (job, slot, verifier) = {
            let vr = &self.verifs[v];
            (vr.job, vr.slot, vr.verifier)
        };
        let rec = &self.jobs[job].slots[slot].rec;
        let h = |t: u64| rec.state_hashes.get(t as usize).copied();
        let (Some(prev_hash), Some(hash), Ok(prev_proof), Ok(proof)) = (
            h(step.wrapping_sub(1)),
            h(step),
            rec.commitment.proof(step.wrapping_sub(1)),
            rec.commitment.proof(step),
        ) else {
            self.count("opening_request_invalid");
            return;
        };
        let opening = StepOpening {
            step,
            prev_hash,
            prev_proof,
            hash,
            proof,
        };
        if self.nodes[to].kind == Some(Kind::SlowOpenings) {
            // As late as it can while still arriving (over an up link) by the deadline.
            self.count("opening_stalled");
            let hold = self
                .scn
                .timing
                .opening_ms
                .saturating_sub(self.scn.delta_ms() + 1);
            let epoch = self.nodes[to].epoch;
            self.schedule(
                self.now.saturating_add(hold),
                Ev::Transmit {
                    from: to,
                    to: verifier,
                    msg: Msg::Opening { v, opening },
                    attempt: 0,
                    epoch,
                    partitioned: false,
                },
            );
            return;
        }
        self.send(to, verifier, Msg::Opening { v, opening });
    }
}
