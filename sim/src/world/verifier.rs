//! Sampling verifiers: one protocol [`Verifier`] per (verifier, job, trainer root), started when
//! commits close, restarted from scratch after a crash. The verifier's state source and
//! re-execution are the simulator's transition model over run records ([`TransitionModel`]).

use std::sync::Arc;

use pinpoint_protocol::ProtocolError;
use pinpoint_protocol::verify::{
    Action, Input, Outcome, Recompute, StateSource, StepOpening, Verifier, VerifierConfig,
};

use super::events::Tx;
use super::{Ev, Ix, Msg, VerifRun, World};
use crate::glue::dispute::Forge;
use crate::records::Committed;
use crate::rng::Rng;
use crate::scenario::Kind;

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
            let Some(&slot) = trainers.first() else {
                return;
            };
            let steps = self.recs.honest.steps();
            let mut r = Rng::new(self.seed, &format!("false challenge {j} {node}"));
            let forgery = crate::records::Forgery {
                forge: Forge::States(std::collections::BTreeSet::from([r.range(1, steps)])),
                salt: 5_000 + node as u64,
            };
            match self.recs.forged(&forgery) {
                Ok(rec) => self.send_tx(Tx::Challenge {
                    job: j,
                    v: node,
                    slot,
                    rec,
                }),
                Err(e) => self.violation(format!("forging a record failed: {e}")),
            }
            return;
        }
        if self.jobs[j].samples == 0 {
            return;
        }
        for slot in trainers {
            let v = self.verifs.len();
            self.verifs.push(VerifRun {
                job: j,
                verifier: node,
                slot,
                machine: None,
                outcome: None,
                sampled_corrupt: false,
            });
            self.start_verification(v);
        }
    }

    /// (Re)starts verification `v` from its first sample.
    pub(crate) fn start_verification(&mut self, v: usize) {
        let (j, slot, node) = (
            self.verifs[v].job,
            self.verifs[v].slot,
            self.verifs[v].verifier,
        );
        let s = &self.jobs[j].slots[slot];
        let rec = Arc::clone(&s.rec);
        let config = VerifierConfig {
            job: self.jobs[j].id,
            verifier: self.nodes[node].id,
            trainer: self.nodes[s.node].id,
            root: rec.root(),
            steps: rec.steps(),
            samples: self.jobs[j].samples,
            timeout_ms: self.scn.timing.opening_ms,
        };
        let m = Verifier::new(
            config,
            self.jobs[j].sample_seed,
            self.now,
            ServedStates(Arc::clone(&rec)),
            TransitionModel(Arc::clone(&rec)),
        );
        self.verifs[v].sampled_corrupt = m.samples().iter().any(|t| rec.corrupt.contains(t));
        self.verifs[v].machine = Some(m);
        self.drain_verifier(v);
    }

    fn drain_verifier(&mut self, v: usize) {
        loop {
            let Some(action) = self.verifs[v].machine.as_mut().and_then(|m| m.poll()) else {
                return;
            };
            let (j, slot, node) = (
                self.verifs[v].job,
                self.verifs[v].slot,
                self.verifs[v].verifier,
            );
            match action {
                Action::RequestOpening { step, deadline_ms } => {
                    let trainer = self.jobs[j].slots[slot].node;
                    self.send(node, trainer, Msg::OpeningRequest { v, step });
                    let epoch = self.nodes[node].epoch;
                    self.schedule(deadline_ms + 1, Ev::VerifierTick { node, v, epoch });
                }
                Action::Challenge(_) => {}
                Action::Done(outcome) => {
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
                    // Anything but a pass: the verifier re-runs the job and challenges if its
                    // own (honest) root differs from the trainer's.
                    let honest = Arc::clone(&self.recs.honest);
                    if outcome != Outcome::Passed && honest.root() != rec.root() {
                        self.send_tx(Tx::Challenge {
                            job: j,
                            v: node,
                            slot,
                            rec: honest,
                        });
                    }
                    self.verifs[v].outcome = Some(outcome);
                    self.verifs[v].machine = None;
                    return;
                }
            }
        }
    }

    pub(crate) fn verifier_tick(&mut self, v: usize, epoch: u32) {
        if self.nodes[self.verifs[v].verifier].epoch != epoch {
            return;
        }
        if let Some(m) = self.verifs[v].machine.as_mut() {
            let _ = m.handle(self.now, Input::Tick);
            self.drain_verifier(v);
        }
    }

    pub(crate) fn opening(&mut self, v: usize, opening: StepOpening) {
        let Some(m) = self.verifs[v].machine.as_mut() else {
            return self.count("opening_after_end");
        };
        if m.handle(self.now, Input::Opening(opening)).is_err() {
            return self.count("opening_stale_or_duplicate");
        }
        self.drain_verifier(v);
    }

    pub(crate) fn verifier_crash(&mut self, node: Ix) {
        for vr in self.verifs.iter_mut().filter(|v| v.verifier == node) {
            vr.machine = None;
        }
    }

    pub(crate) fn verifier_restart(&mut self, node: Ix) {
        let todo: Vec<usize> = (0..self.verifs.len())
            .filter(|v| self.verifs[*v].verifier == node && self.verifs[*v].outcome.is_none())
            .collect();
        for v in todo {
            self.count("verification_restarted");
            self.start_verification(v);
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
