//! Verifier nodes: each runs the protocol's verifier role machine
//! ([`pinpoint_protocol::role::verifier::VerifierRole`]), told when a job's commits close,
//! given the trainers' openings and its timeouts; a crash replaces it with a fresh machine,
//! which restarts the unfinished verifications. Its compute requests are answered from the run
//! records: a sampled step re-runs through [`TransitionModel`] over the trainer's
//! [`ServedStates`], and the node's own run of a job is the honest record.

use std::sync::Arc;

use pinpoint_protocol::ProtocolError;
use pinpoint_protocol::role::verifier::{
    CommitsClosed, VerifierAction, VerifierCompute, VerifierInput,
};
use pinpoint_protocol::verify::{Outcome, Recompute, StateSource, StepOpening, recompute_step};

use super::events::Tx;
use super::{Ev, Ix, Msg, VerifRun, World, verifier_machine};
use crate::glue::dispute::Forge;
use crate::records::Committed;
use crate::rng::Rng;
use crate::scenario::Kind;
use pinpoint_protocol::id::NodeId;

/// The trainer serving its states `S_t`, represented by their hashes.
#[derive(Debug, Clone)]
pub(crate) struct ServedStates(pub Arc<Committed>);

impl StateSource<[u8; 32]> for ServedStates {
    fn state(&mut self, step: u64) -> Option<[u8; 32]> {
        self.0
            .state_hashes
            .get(usize::try_from(step).ok()?)
            .copied()
    }
}

/// What re-running one step gives. Training is deterministic, so the honest successor of a
/// state is a function of that state: for a state of `rec` at `t − 1`, it is `rec`'s `S_t`
/// unless transition `t` is one `rec` corrupted (then it is some other hash, derived here);
/// for any other state it is a hash derived from `(state, t)`. Real RepOps training produced
/// the honest record; this table replays it without re-training per sample.
#[derive(Debug, Clone)]
pub(crate) struct TransitionModel(pub Arc<Committed>);

fn derived(tag: &[u8], prev: &[u8; 32], t: u64) -> [u8; 32] {
    let mut h = blake3::Hasher::new();
    h.update(tag);
    h.update(prev);
    h.update(&t.to_le_bytes());
    *h.finalize().as_bytes()
}

impl Recompute for TransitionModel {
    type State = [u8; 32];

    fn hash(&self, state: &[u8; 32]) -> [u8; 32] {
        *state
    }

    fn step(&mut self, prev: &[u8; 32], t: u64) -> pinpoint_protocol::Result<[u8; 32]> {
        let hashes = &self.0.state_hashes;
        let i = usize::try_from(t).map_err(|_| ProtocolError::InvalidArgument("step".into()))?;
        match (hashes.get(i.wrapping_sub(1)), hashes.get(i)) {
            (Some(p), Some(next)) if p == prev => {
                if self.0.corrupt.contains(&t) {
                    Ok(derived(b"honest successor of a corrupted step", prev, t))
                } else {
                    Ok(*next)
                }
            }
            _ => Ok(derived(b"successor of an unknown state", prev, t)),
        }
    }
}

impl World {
    /// Commits of job `j` closed: verifier `node` starts checking (or, if it is a false
    /// challenger, challenges).
    pub(crate) fn window_open(&mut self, node: Ix, j: usize) {
        let trainers: Vec<usize> = (0..self.jobs[j].slots.len())
            .filter(|s| self.jobs[j].slots[*s].chain_root.is_some())
            .collect();
        let already = self.verifs.iter().any(|v| v.job == j && v.verifier == node)
            || self.challenges.contains_key(&(j, node));
        if already || self.jobs[j].slots.iter().any(|s| s.node == node) {
            return;
        }
        if self.nodes[node].kind == Some(Kind::FalseChallenge) {
            // The false-challenging verifier machine does not sample: it only hears the close.
            return self.verify(node, j, &trainers);
        }
        if self.jobs[j].samples == 0 {
            return;
        }
        for &slot in &trainers {
            self.verifs.push(VerifRun {
                job: j,
                verifier: node,
                slot,
                outcome: None,
                sampled_corrupt: false,
            });
        }
        self.verify(node, j, &trainers);
    }

    /// Tells verifier `node`'s machine that the commits of job `j` closed, with the roots of
    /// `slots` to check.
    fn verify(&mut self, node: Ix, j: usize, slots: &[usize]) {
        let roots = slots
            .iter()
            .filter_map(|s| {
                let slot = &self.jobs[j].slots[*s];
                Some((self.nodes[slot.node].id, slot.chain_root?))
            })
            .collect();
        let job = self.jobs[j].id;
        let closed = CommitsClosed {
            job,
            steps: self.recs.honest.steps(),
            samples: self.jobs[j].samples,
            seed: self.jobs[j].sample_seed,
            roots,
        };
        let now = self.now;
        let verifier = &mut self.nodes[node].roles.verifier;
        if let Err(e) = verifier.handle(now, VerifierInput::CommitsClosed(closed)) {
            return self.violation(format!("job {j}: the verifier refused the close: {e}"));
        }
        for &s in slots {
            let trainer = self.nodes[self.jobs[j].slots[s].node].id;
            let rec = Arc::clone(&self.jobs[j].slots[s].rec);
            let samples = self.nodes[node].roles.verifier.sampled(&job, &trainer);
            let corrupt = samples.is_some_and(|m| m.iter().any(|t| rec.corrupt.contains(t)));
            if let Some(v) = self.verif_of(j, node, s) {
                self.verifs[v].sampled_corrupt = corrupt;
            }
        }
        // Every request is due by the same deadline: one tick just after it.
        let epoch = self.nodes[node].epoch;
        let at = self.now + self.scn.timing.opening_ms + 1;
        self.schedule(at, Ev::VerifierTick { node, v: 0, epoch });
        self.drain_verifier(node);
    }

    /// The world's record of verifier `node` checking slot `slot` of job `j`.
    fn verif_of(&self, j: usize, node: Ix, slot: usize) -> Option<usize> {
        self.verifs
            .iter()
            .position(|v| v.job == j && v.verifier == node && v.slot == slot)
    }

    /// Job index and slot of trainer `id` in the job with id `job`.
    fn slot_of(&self, job: &pinpoint_protocol::id::JobId, id: &NodeId) -> Option<(usize, usize)> {
        let j = self.jobs.iter().position(|r| &r.id == job)?;
        let n = *self.ix_of.get(id)?;
        let s = self.jobs[j].slots.iter().position(|s| s.node == n)?;
        Some((j, s))
    }

    /// Carries out verifier `node`'s actions.
    fn drain_verifier(&mut self, node: Ix) {
        while let Some(action) = self.nodes[node].roles.verifier.poll_action() {
            match action {
                VerifierAction::RequestOpening { job, trainer, step } => {
                    let Some((j, slot)) = self.slot_of(&job, &trainer) else {
                        continue;
                    };
                    let Some(v) = self.verif_of(j, node, slot) else {
                        continue;
                    };
                    let to = self.jobs[j].slots[slot].node;
                    self.send(node, to, Msg::OpeningRequest { v, step });
                }
                VerifierAction::Compute(VerifierCompute::Recompute {
                    job,
                    trainer,
                    step,
                    prev_hash,
                }) => {
                    // Compute, answered from the run records (a node's executor re-runs it).
                    let Some((j, slot)) = self.slot_of(&job, &trainer) else {
                        continue;
                    };
                    let rec = Arc::clone(&self.jobs[j].slots[slot].rec);
                    let result = recompute_step(
                        &mut ServedStates(Arc::clone(&rec)),
                        &mut TransitionModel(rec),
                        step,
                        prev_hash,
                    );
                    let input = VerifierInput::Recomputed {
                        job,
                        trainer,
                        step,
                        result,
                    };
                    let now = self.now;
                    if let Err(e) = self.nodes[node].roles.verifier.handle(now, input) {
                        self.violation(format!("verifier {node}: recomputation refused: {e}"));
                    }
                }
                VerifierAction::Compute(VerifierCompute::RunJob { job }) => {
                    // The node's own run of the job: the honest record, or a false
                    // challenger's forged one.
                    let Some(j) = self.jobs.iter().position(|r| r.id == job) else {
                        continue;
                    };
                    let run = self.own_run(node, j);
                    let root = run.map(|r| r.root());
                    let now = self.now;
                    let input = VerifierInput::OwnRun { job, root };
                    if let Err(e) = self.nodes[node].roles.verifier.handle(now, input) {
                        self.violation(format!("verifier {node}: own run refused: {e}"));
                    }
                }
                VerifierAction::Challenge { job, trainer, .. } => {
                    let Some((j, slot)) = self.slot_of(&job, &trainer) else {
                        continue;
                    };
                    let Some(rec) = self.own_runs.get(&(j, node)).cloned() else {
                        self.violation(format!("verifier {node}: a challenge without a run"));
                        continue;
                    };
                    self.send_tx(Tx::Challenge {
                        job: j,
                        v: node,
                        slot,
                        rec,
                    });
                }
                VerifierAction::Finished {
                    job,
                    trainer,
                    outcome,
                } => {
                    let Some((j, slot)) = self.slot_of(&job, &trainer) else {
                        continue;
                    };
                    self.finished(node, j, slot, outcome);
                }
            }
        }
    }

    /// Verifier `node`'s own run of job `j` (its executor's result, kept for its challenges):
    /// the honest record, or, for a false challenger, a forged one.
    fn own_run(&mut self, node: Ix, j: usize) -> Option<Arc<Committed>> {
        if let Some(r) = self.own_runs.get(&(j, node)) {
            return Some(Arc::clone(r));
        }
        let run = if self.nodes[node].kind == Some(Kind::FalseChallenge) {
            let steps = self.recs.honest.steps();
            let mut r = Rng::new(self.seed, &format!("false challenge {j} {node}"));
            let forgery = crate::records::Forgery {
                forge: Forge::States(std::collections::BTreeSet::from([r.range(1, steps)])),
                salt: 5_000 + node as u64,
            };
            match self.recs.forged(&forgery) {
                Ok(rec) => rec,
                Err(e) => {
                    self.violation(format!("forging a record failed: {e}"));
                    return None;
                }
            }
        } else {
            Arc::clone(&self.recs.honest)
        };
        self.own_runs.insert((j, node), Arc::clone(&run));
        Some(run)
    }

    /// Reports (and, for a restart, stores) a finished verification.
    fn finished(&mut self, node: Ix, j: usize, slot: usize, outcome: Outcome) {
        self.count(match &outcome {
            Outcome::Passed => "verify_passed",
            Outcome::Challenged { .. } => "verify_mismatch",
            Outcome::BadProof { .. } => "verify_bad_proof",
            Outcome::Silent { .. } => "verify_silent",
            Outcome::StateUnavailable { .. } => "verify_state_unavailable",
            Outcome::RecomputeFailed { .. } => "verify_recompute_failed",
        });
        let rec = Arc::clone(&self.jobs[j].slots[slot].rec);
        if !rec.corrupt.is_empty() {
            self.out.samples.push(crate::report::SampleStat {
                m: self.jobs[j].samples,
                f: rec.corrupt.len() as f64 / rec.steps() as f64,
                detected: matches!(outcome, Outcome::Challenged { .. }),
            });
        }
        if let Some(v) = self.verif_of(j, node, slot) {
            self.verifs[v].outcome = Some(outcome);
        }
    }

    /// Verifier `node`'s timer.
    pub(crate) fn verifier_tick(&mut self, node: Ix, epoch: u32) {
        if self.nodes[node].epoch != epoch {
            return;
        }
        let now = self.now;
        self.nodes[node].roles.verifier.handle_timeout(now);
        self.drain_verifier(node);
    }

    /// An opening for verification `v` reaches its verifier.
    pub(crate) fn opening(&mut self, v: usize, opening: StepOpening) {
        let (j, slot, node) = (
            self.verifs[v].job,
            self.verifs[v].slot,
            self.verifs[v].verifier,
        );
        if self.verifs[v].outcome.is_some() {
            return self.count("opening_after_end");
        }
        let input = VerifierInput::Opening {
            from: self.nodes[self.jobs[j].slots[slot].node].id,
            job: self.jobs[j].id,
            opening,
        };
        let now = self.now;
        if self.nodes[node].roles.verifier.handle(now, input).is_err() {
            return self.count("opening_stale_or_duplicate");
        }
        self.drain_verifier(node);
    }

    /// A crash loses the verifier machine's state.
    pub(crate) fn verifier_crash(&mut self, node: Ix) {
        let (id, kind) = (self.nodes[node].id, self.nodes[node].kind);
        self.nodes[node].roles.verifier = verifier_machine(id, kind, self.scn.timing.opening_ms);
        self.party_crash(node);
    }

    /// After a restart, the node re-reads the chain and restarts every verification it had
    /// not finished (its finished ones are in its store).
    pub(crate) fn verifier_restart(&mut self, node: Ix) {
        let mut todo: std::collections::BTreeMap<usize, Vec<usize>> = Default::default();
        for v in self
            .verifs
            .iter()
            .filter(|v| v.verifier == node && v.outcome.is_none())
        {
            todo.entry(v.job).or_default().push(v.slot);
        }
        for (j, slots) in todo {
            for _ in &slots {
                self.count("verification_restarted");
            }
            self.verify(node, j, &slots);
        }
        // Windows that opened while the node was down: it reads them from the chain.
        let missed: Vec<usize> = (0..self.jobs.len())
            .filter(|j| self.jobs[*j].window_noted && self.jobs[*j].finalized_at.is_none())
            .collect();
        for j in missed {
            self.window_open(node, j);
        }
    }
}
