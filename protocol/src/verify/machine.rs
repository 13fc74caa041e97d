//! The verifier state machine.

use std::collections::{BTreeMap, VecDeque};

use crate::error::{ProtocolError, Result};
use crate::id::{JobId, NodeId};
use crate::merkle::{MerkleProof, StepCommitment};
use crate::wire::{SampleChallenge, WireProof};

use super::sample::choose_steps;

/// Default time the trainer has to answer one opening request: 30 s.
pub const DEFAULT_OPENING_TIMEOUT_MS: u64 = 30_000;

/// What bounds the time from the close of commits to a verifier's challenge on chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VerificationBudget {
    /// From the close of commits until the verifier learns of it (a chain event's latency).
    pub notice_ms: u64,
    /// The opening timeout ([`VerifierConfig::timeout_ms`]): every sampled step is requested at
    /// once, so a withholding or stalling trainer delays the outcome by at most this much.
    pub opening_timeout_ms: u64,
    /// The verifier's own compute after the openings: re-running the sampled steps, and on a
    /// failure re-running the job to know the right root.
    pub recompute_ms: u64,
    /// From sending the challenge until it is on chain.
    pub submit_ms: u64,
}

/// The longest a verification takes, from the close of commits until the verifier's challenge
/// is on chain: `notice + opening_timeout + 1 + recompute + submit` (the `+ 1`: silence is
/// declared strictly after the deadline). A challenge window shorter than this lets a trainer
/// that withholds openings outlast it, so it must be rejected. `None` if the sum overflows.
pub fn verification_bound_ms(b: VerificationBudget) -> Option<u64> {
    b.notice_ms
        .checked_add(b.opening_timeout_ms)?
        .checked_add(1)?
        .checked_add(b.recompute_ms)?
        .checked_add(b.submit_ms)
}

/// Gets the trainer's state `S_{t−1}` for a sampled step (e.g. the trainer serves its last
/// checkpoint at or before `t − 1` and the executor re-runs forward from it). Used by whoever
/// answers an [`Action::Recompute`] ([`recompute_step`]), never by the machine itself; any I/O
/// is the caller's.
pub trait StateSource<S> {
    /// The state after step `step`, or `None` if it could not be obtained.
    fn state(&mut self, step: u64) -> Option<S>;
}

/// The honest transition function, re-executed for the verifier by whoever answers its
/// [`Action::Recompute`] ([`recompute_step`]).
pub trait Recompute {
    /// A training state.
    type State;
    /// `h(state)`, the hash committed as a Merkle leaf.
    fn hash(&self, state: &Self::State) -> [u8; 32];
    /// `h(S_t)` for `S_t` = step `t` applied to `prev` = `S_{t−1}`. An error (e.g. the step
    /// produces a non-finite value, so no honest `S_t` exists) is reported as
    /// [`Outcome::RecomputeFailed`].
    fn step(&mut self, prev: &Self::State, t: u64) -> Result<[u8; 32]>;
}

/// What configures one verification of one committed run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifierConfig {
    /// The job.
    pub job: JobId,
    /// This verifier.
    pub verifier: NodeId,
    /// The trainer being checked.
    pub trainer: NodeId,
    /// The trainer's committed root ([`StepCommitment::root`]).
    pub root: [u8; 32],
    /// The number of steps `T` of the run.
    pub steps: u64,
    /// The number of steps to sample, `m` (clamped to `T`).
    pub samples: u64,
    /// Time the trainer has to answer each opening request.
    pub timeout_ms: u64,
}

/// The trainer's opening of step `t`: `h(S_{t−1})` and `h(S_t)` with their inclusion proofs
/// (leaves `t − 1` and `t`) under the committed root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepOpening {
    /// The sampled step `t ≥ 1`.
    pub step: u64,
    /// `h(S_{t−1})`.
    pub prev_hash: [u8; 32],
    /// Proof of leaf `t − 1`.
    pub prev_proof: MerkleProof,
    /// `h(S_t)`.
    pub hash: [u8; 32],
    /// Proof of leaf `t`.
    pub proof: MerkleProof,
}

/// An input to [`Verifier::handle`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// Time passed; checks the deadline.
    Tick,
    /// The trainer's answer to the pending request.
    Opening(StepOpening),
    /// The answer to an [`Action::Recompute`] of `step`.
    Recomputed {
        /// The sampled step `t`.
        step: u64,
        /// What re-running it gave.
        result: Recomputed,
    },
}

/// What re-running a sampled step gave (the answer to [`Action::Recompute`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Recomputed {
    /// `h(S_t)` of the honest transition applied to the trainer's `S_{t−1}`.
    Hash([u8; 32]),
    /// `S_{t−1}` could not be obtained from the trainer, or its hash is not the proven
    /// `h(S_{t−1})`.
    StateUnavailable,
    /// Re-running failed on this side (the error, for the outcome).
    Failed(String),
}

/// Answers an [`Action::Recompute`] with a state source and the honest transition: gets
/// `S_{t−1}`, checks it against the proven `prev_hash`, and re-runs step `t`. This is compute:
/// a node's executor or the simulator calls it, never the machine.
pub fn recompute_step<R: Recompute>(
    source: &mut impl StateSource<R::State>,
    recompute: &mut R,
    step: u64,
    prev_hash: [u8; 32],
) -> Recomputed {
    let Some(prev) = step.checked_sub(1).and_then(|p| source.state(p)) else {
        return Recomputed::StateUnavailable;
    };
    if recompute.hash(&prev) != prev_hash {
        return Recomputed::StateUnavailable;
    }
    match recompute.step(&prev, step) {
        Ok(h) => Recomputed::Hash(h),
        Err(e) => Recomputed::Failed(e.to_string()),
    }
}

/// How a verification ended. Every end is one of these; the verifier never waits forever.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Every sampled step re-ran to the committed hash (or nothing was sampled).
    Passed,
    /// Step `step` re-ran to another hash: a [`Action::Challenge`] was emitted.
    Challenged {
        /// The sampled step `t`.
        step: u64,
    },
    /// The trainer's opening of `step` did not verify against its root.
    BadProof {
        /// The sampled step.
        step: u64,
        /// Why.
        detail: String,
    },
    /// The trainer did not answer the opening of `step` by its deadline.
    Silent {
        /// The sampled step.
        step: u64,
    },
    /// `S_{step−1}` could not be obtained, or its hash is not the proven `h(S_{step−1})`.
    StateUnavailable {
        /// The sampled step.
        step: u64,
    },
    /// Re-running `step` failed on this side ([`Recompute::step`] returned an error).
    RecomputeFailed {
        /// The sampled step.
        step: u64,
        /// The error.
        detail: String,
    },
}

/// What the verifier asks its caller to do, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Ask the trainer for the [`StepOpening`] of `step`, due by `deadline_ms`.
    RequestOpening {
        /// The sampled step `t`.
        step: u64,
        /// When the verifier gives up waiting.
        deadline_ms: u64,
    },
    /// Compute: re-run sampled step `step` from the trainer's `S_{step−1}`, whose proven hash
    /// is `prev_hash`, and feed back [`Input::Recomputed`] ([`recompute_step`] does it). The
    /// machine never runs the model itself.
    Recompute {
        /// The sampled step `t`.
        step: u64,
        /// The proven `h(S_{t−1})`.
        prev_hash: [u8; 32],
    },
    /// Send this challenge (it opens a dispute with the verifier as counter-party). Its
    /// `step` is `t − 1` (the wire message names the re-run `step → step + 1`).
    Challenge(SampleChallenge),
    /// The verification is over.
    Done(Outcome),
}

/// The sampling verifier for one committed run. Create it with [`Verifier::new`] once the
/// post-commitment seed is known, drain [`Verifier::poll`], and feed the trainer's answers,
/// the recomputations it asked for and clock ticks to [`Verifier::handle`]. Every sampled step
/// is requested at once; an opening whose proofs verify becomes an [`Action::Recompute`]; the
/// first failure ends the verification.
#[derive(Debug)]
pub struct Verifier {
    config: VerifierConfig,
    samples: Vec<u64>,
    /// Sampled steps requested and not yet answered, in sampling order.
    pending: Vec<u64>,
    /// Openings proven and handed out for recomputation: step → the claimed `h(S_t)` and its
    /// proof.
    recomputing: BTreeMap<u64, ([u8; 32], MerkleProof)>,
    /// The one deadline of every request.
    deadline_ms: u64,
    outcome: Option<Outcome>,
    actions: VecDeque<Action>,
}

impl Verifier {
    /// A verifier sampling `config.samples` steps with [`choose_steps`]`(seed, root, T, m)`;
    /// every request is due by `now_ms + timeout_ms`.
    pub fn new(config: VerifierConfig, seed: [u8; 32], now_ms: u64) -> Self {
        let samples = choose_steps(seed, config.root, config.steps, config.samples);
        let mut v = Self {
            config,
            samples,
            pending: Vec::new(),
            recomputing: BTreeMap::new(),
            deadline_ms: 0,
            outcome: None,
            actions: VecDeque::new(),
        };
        v.request_all(now_ms);
        v
    }

    /// The configuration.
    pub fn config(&self) -> &VerifierConfig {
        &self.config
    }

    /// The earliest time [`Verifier::handle`] with [`Input::Tick`] can change anything: just
    /// after the openings' deadline while some are still missing.
    pub fn next_deadline(&self) -> Option<u64> {
        (!self.pending.is_empty()).then(|| self.deadline_ms.saturating_add(1))
    }

    /// The sampled steps, in request order.
    pub fn samples(&self) -> &[u64] {
        &self.samples
    }

    /// The outcome, once the verification is over.
    pub fn outcome(&self) -> Option<&Outcome> {
        self.outcome.as_ref()
    }

    /// The next action, if any.
    pub fn poll(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// Feeds an input at time `now_ms`.
    ///
    /// Errors ([`ProtocolError::InvalidTransition`], state unchanged): an opening after the
    /// end, for a step that was not requested, or for one already answered; a recomputation
    /// that was not asked for.
    pub fn handle(&mut self, now_ms: u64, input: Input) -> Result<()> {
        match input {
            Input::Tick => {
                // `finish` empties `pending`, so this fires at most once.
                if let Some(&step) = self.pending.first()
                    && now_ms > self.deadline_ms
                {
                    self.finish(Outcome::Silent { step });
                }
                Ok(())
            }
            Input::Opening(o) => {
                if self.outcome.is_some() {
                    return Err(self.refuse("the verification is over".into()));
                }
                let Some(i) = self.pending.iter().position(|s| *s == o.step) else {
                    return Err(self.refuse(format!(
                        "opening of step {}, which is not pending (pending: {:?})",
                        o.step, self.pending
                    )));
                };
                // A late answer is still accepted until a tick has declared silence.
                self.pending.remove(i);
                self.check(o);
                Ok(())
            }
            Input::Recomputed { step, result } => {
                if self.outcome.is_some() {
                    return Err(self.refuse("the verification is over".into()));
                }
                let Some((claimed, proof)) = self.recomputing.remove(&step) else {
                    return Err(self.refuse(format!("recomputation of step {step}, not asked for")));
                };
                self.judge(step, claimed, proof, result);
                if self.outcome.is_none() && self.pending.is_empty() && self.recomputing.is_empty()
                {
                    self.finish(Outcome::Passed);
                }
                Ok(())
            }
        }
    }

    fn refuse(&self, detail: String) -> ProtocolError {
        ProtocolError::InvalidTransition {
            phase: if self.outcome.is_some() {
                "done"
            } else {
                "verifying"
            },
            detail,
        }
    }

    /// Checks one opening's proofs (cheap, inline); a proven opening is handed out for
    /// recomputation, a bad one ends the verification.
    fn check(&mut self, o: StepOpening) {
        let t = o.step;
        let (root, steps) = (self.config.root, self.config.steps);
        let proven = StepCommitment::verify(&root, steps, t - 1, &o.prev_hash, &o.prev_proof)
            .and_then(|()| StepCommitment::verify(&root, steps, t, &o.hash, &o.proof));
        if let Err(e) = proven {
            return self.finish(Outcome::BadProof {
                step: t,
                detail: e.to_string(),
            });
        }
        self.recomputing.insert(t, (o.hash, o.proof));
        self.actions.push_back(Action::Recompute {
            step: t,
            prev_hash: o.prev_hash,
        });
    }

    /// Judges one recomputed step against the trainer's proven claim.
    fn judge(&mut self, t: u64, claimed: [u8; 32], proof: MerkleProof, result: Recomputed) {
        let recomputed = match result {
            Recomputed::Hash(h) => h,
            Recomputed::StateUnavailable => {
                return self.finish(Outcome::StateUnavailable { step: t });
            }
            Recomputed::Failed(detail) => {
                return self.finish(Outcome::RecomputeFailed { step: t, detail });
            }
        };
        if recomputed == claimed {
            return;
        }
        match WireProof::new(proof) {
            Ok(claimed_proof) => {
                self.actions.push_back(Action::Challenge(SampleChallenge {
                    job: self.config.job,
                    verifier: self.config.verifier,
                    trainer: self.config.trainer,
                    step: t - 1,
                    claimed_hash: claimed,
                    claimed_proof,
                    recomputed_hash: recomputed,
                }));
                self.finish(Outcome::Challenged { step: t });
            }
            // A verified proof has at most 64 siblings; this cannot happen.
            Err(e) => self.finish(Outcome::BadProof {
                step: t,
                detail: e.to_string(),
            }),
        }
    }

    /// Requests every sampled step at once, or ends with [`Outcome::Passed`] when nothing is
    /// sampled.
    fn request_all(&mut self, now_ms: u64) {
        self.deadline_ms = now_ms.saturating_add(self.config.timeout_ms);
        if self.samples.is_empty() {
            return self.finish(Outcome::Passed);
        }
        self.pending = self.samples.clone();
        for &step in &self.samples {
            self.actions.push_back(Action::RequestOpening {
                step,
                deadline_ms: self.deadline_ms,
            });
        }
    }

    fn finish(&mut self, outcome: Outcome) {
        assert!(
            self.outcome.is_none(),
            "invariant: a verification ends once"
        );
        self.pending.clear();
        self.recomputing.clear();
        // Requests the caller has not taken yet are moot now.
        self.actions
            .retain(|a| !matches!(a, Action::RequestOpening { .. } | Action::Recompute { .. }));
        self.outcome = Some(outcome.clone());
        self.actions.push_back(Action::Done(outcome));
    }
}
