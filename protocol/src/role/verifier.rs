//! The verifier role: when a job's commits close, samples every committed root it did not
//! produce itself (one [`Verifier`] per root), asks the trainers to open the sampled steps,
//! hands each proven opening out for recomputation, and challenges a root it could not
//! confirm — if its own run of the job gives another root.
//!
//! Inputs: commits closed (a chain event), a trainer's opening (an authenticated peer
//! message), compute results (a recomputed step, this node's own root of the job) and
//! timeouts. Actions: opening requests to send, compute requests, challenges to post, and a
//! report per finished verification (which a node also stores, so that a restart does not
//! verify the same root twice).

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use super::Machine;
use crate::error::{ProtocolError, Result};
use crate::id::{JobId, NodeId};
use crate::job::Root;
use crate::verify::{
    Action as VerifyAction, Input as VerifyInput, Outcome, Recomputed, StepOpening, Verifier,
    VerifierConfig,
};

/// Chain: a job's commits closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitsClosed {
    /// The job.
    pub job: JobId,
    /// Its step count `T`.
    pub steps: u64,
    /// Steps to sample per root, `m` (0: the job is not sampled).
    pub samples: u64,
    /// The sampling seed, fixed after the commits.
    pub seed: [u8; 32],
    /// The committed roots to check, by trainer.
    pub roots: Vec<(NodeId, Root)>,
}

/// What this node computes for the verifier role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifierCompute {
    /// Re-run sampled step `step` of `trainer`'s run from its `S_{step−1}` (proven hash
    /// `prev_hash`); answer with [`VerifierInput::Recomputed`].
    Recompute {
        /// The job.
        job: JobId,
        /// The trainer whose state is re-run.
        trainer: NodeId,
        /// The sampled step `t`.
        step: u64,
        /// The proven `h(S_{t−1})`.
        prev_hash: [u8; 32],
    },
    /// Run the whole job honestly to learn its right root; answer with
    /// [`VerifierInput::OwnRun`].
    RunJob {
        /// The job.
        job: JobId,
    },
}

/// An input of the verifier role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifierInput {
    /// Chain: a job's commits closed.
    CommitsClosed(CommitsClosed),
    /// Peer: trainer `from` opened a step of `job`.
    Opening {
        /// The authenticated sender.
        from: NodeId,
        /// The job.
        job: JobId,
        /// The opening.
        opening: StepOpening,
    },
    /// Compute: a sampled step re-ran.
    Recomputed {
        /// The job.
        job: JobId,
        /// The trainer.
        trainer: NodeId,
        /// The sampled step.
        step: u64,
        /// What it gave.
        result: Recomputed,
    },
    /// Compute: this node's own run of `job` (`None`: it failed).
    OwnRun {
        /// The job.
        job: JobId,
        /// Its root.
        root: Option<Root>,
    },
}

/// What the verifier role asks its caller to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifierAction {
    /// Ask `trainer` to open `step` of `job` (a `Message::OpeningRequest`).
    RequestOpening {
        /// The job.
        job: JobId,
        /// The trainer.
        trainer: NodeId,
        /// The sampled step.
        step: u64,
    },
    /// Compute this.
    Compute(VerifierCompute),
    /// Chain: challenge `trainer`'s root of `job` with this node's own root.
    Challenge {
        /// The job.
        job: JobId,
        /// The challenged trainer.
        trainer: NodeId,
        /// This node's root of the job.
        root: Root,
    },
    /// Report (and store): the verification of `trainer`'s root of `job` ended.
    Finished {
        /// The job.
        job: JobId,
        /// The trainer.
        trainer: NodeId,
        /// How it ended.
        outcome: Outcome,
    },
}

/// One verification in progress.
#[derive(Debug)]
struct Checking {
    verifier: Verifier,
    root: Root,
}

/// The verifier role of one node.
#[derive(Debug)]
pub struct VerifierRole {
    me: NodeId,
    opening_timeout_ms: u64,
    /// Verifications in progress, by `(job, trainer)`.
    checking: BTreeMap<(JobId, NodeId), Checking>,
    /// Roots this node could not confirm, waiting for its own run of the job.
    suspect: BTreeMap<JobId, BTreeMap<NodeId, Root>>,
    /// Jobs whose own run was asked for.
    running: BTreeSet<JobId>,
    /// This node's own roots, once computed.
    own: BTreeMap<JobId, Root>,
    actions: VecDeque<VerifierAction>,
}

impl VerifierRole {
    /// The verifier role of node `me`; a trainer has `opening_timeout_ms` to open its samples.
    pub fn new(me: NodeId, opening_timeout_ms: u64) -> Self {
        Self {
            me,
            opening_timeout_ms,
            checking: BTreeMap::new(),
            suspect: BTreeMap::new(),
            running: BTreeSet::new(),
            own: BTreeMap::new(),
            actions: VecDeque::new(),
        }
    }

    /// The steps sampled from `trainer`'s root of `job`, while that verification runs.
    pub fn samples(&self, job: &JobId, trainer: &NodeId) -> Option<&[u64]> {
        self.checking
            .get(&(*job, *trainer))
            .map(|c| c.verifier.samples())
    }

    /// Whether a verification of `trainer`'s root of `job` is in progress.
    pub fn is_checking(&self, job: &JobId, trainer: &NodeId) -> bool {
        self.checking.contains_key(&(*job, *trainer))
    }

    fn commits_closed(&mut self, now_ms: u64, c: CommitsClosed) {
        if c.samples == 0 {
            return;
        }
        for (trainer, root) in c.roots {
            if trainer == self.me || self.checking.contains_key(&(c.job, trainer)) {
                continue;
            }
            let config = VerifierConfig {
                job: c.job,
                verifier: self.me,
                trainer,
                root,
                steps: c.steps,
                samples: c.samples,
                timeout_ms: self.opening_timeout_ms,
            };
            let verifier = Verifier::new(config, c.seed, now_ms);
            self.checking
                .insert((c.job, trainer), Checking { verifier, root });
            self.drain(c.job, trainer);
        }
    }

    fn feed(&mut self, now_ms: u64, job: JobId, trainer: NodeId, input: VerifyInput) -> Result<()> {
        let Some(c) = self.checking.get_mut(&(job, trainer)) else {
            return Err(ProtocolError::InvalidTransition {
                phase: "verifier",
                detail: format!("no verification of trainer {trainer} in progress for this job"),
            });
        };
        c.verifier.handle(now_ms, input)?;
        self.drain(job, trainer);
        Ok(())
    }

    /// Carries out one verification's actions; closes it when it ends.
    fn drain(&mut self, job: JobId, trainer: NodeId) {
        loop {
            let Some(c) = self.checking.get_mut(&(job, trainer)) else {
                return;
            };
            let Some(action) = c.verifier.poll() else {
                return;
            };
            match action {
                VerifyAction::RequestOpening { step, .. } => {
                    self.actions
                        .push_back(VerifierAction::RequestOpening { job, trainer, step });
                }
                VerifyAction::Recompute { step, prev_hash } => {
                    self.actions
                        .push_back(VerifierAction::Compute(VerifierCompute::Recompute {
                            job,
                            trainer,
                            step,
                            prev_hash,
                        }));
                }
                // The role challenges with its own root instead (below): a sample's mismatch
                // proves the trainer wrong only once this node knows the right root.
                VerifyAction::Challenge(_) => {}
                VerifyAction::Done(outcome) => {
                    let root = c.root;
                    self.checking.remove(&(job, trainer));
                    // Requests and recomputations of this verification not yet taken are moot.
                    self.actions.retain(|a| match a {
                        VerifierAction::RequestOpening {
                            job: j, trainer: t, ..
                        }
                        | VerifierAction::Compute(VerifierCompute::Recompute {
                            job: j,
                            trainer: t,
                            ..
                        }) => (*j, *t) != (job, trainer),
                        _ => true,
                    });
                    let passed = outcome == Outcome::Passed;
                    self.actions.push_back(VerifierAction::Finished {
                        job,
                        trainer,
                        outcome,
                    });
                    if !passed {
                        self.suspect(job, trainer, root);
                    }
                    return;
                }
            }
        }
    }

    /// Anything but a pass: this node re-runs the job and challenges if its own root differs.
    fn suspect(&mut self, job: JobId, trainer: NodeId, root: Root) {
        if let Some(own) = self.own.get(&job) {
            if *own != root {
                let own = *own;
                self.actions.push_back(VerifierAction::Challenge {
                    job,
                    trainer,
                    root: own,
                });
            }
            return;
        }
        self.suspect.entry(job).or_default().insert(trainer, root);
        if self.running.insert(job) {
            self.actions
                .push_back(VerifierAction::Compute(VerifierCompute::RunJob { job }));
        }
    }

    fn own_run(&mut self, job: JobId, root: Option<Root>) -> Result<()> {
        if !self.running.remove(&job) {
            return Err(ProtocolError::InvalidTransition {
                phase: "verifier",
                detail: "a run of a job that was not asked for".into(),
            });
        }
        let suspects = self.suspect.remove(&job).unwrap_or_default();
        let Some(own) = root else {
            // This node cannot tell the right root: it challenges no one.
            return Ok(());
        };
        self.own.insert(job, own);
        for (trainer, root) in suspects {
            if root != own {
                self.actions.push_back(VerifierAction::Challenge {
                    job,
                    trainer,
                    root: own,
                });
            }
        }
        Ok(())
    }
}

impl Machine for VerifierRole {
    type Input = VerifierInput;
    type Action = VerifierAction;

    fn handle(&mut self, now_ms: u64, input: VerifierInput) -> Result<()> {
        match input {
            VerifierInput::CommitsClosed(c) => {
                self.commits_closed(now_ms, c);
                Ok(())
            }
            VerifierInput::Opening { from, job, opening } => {
                self.feed(now_ms, job, from, VerifyInput::Opening(opening))
            }
            VerifierInput::Recomputed {
                job,
                trainer,
                step,
                result,
            } => {
                if !self.checking.contains_key(&(job, trainer)) {
                    // The verification ended while this was computed: nothing to judge.
                    return Ok(());
                }
                self.feed(
                    now_ms,
                    job,
                    trainer,
                    VerifyInput::Recomputed { step, result },
                )
            }
            VerifierInput::OwnRun { job, root } => self.own_run(job, root),
        }
    }

    fn poll_action(&mut self) -> Option<VerifierAction> {
        self.actions.pop_front()
    }

    fn next_deadline(&self) -> Option<u64> {
        self.checking
            .values()
            .filter_map(|c| c.verifier.next_deadline())
            .min()
    }

    fn handle_timeout(&mut self, now_ms: u64) {
        let due: Vec<(JobId, NodeId)> = self
            .checking
            .iter()
            .filter(|(_, c)| c.verifier.next_deadline().is_some_and(|d| d <= now_ms))
            .map(|(k, _)| *k)
            .collect();
        for (job, trainer) in due {
            // A tick after the deadline only ends the verification; it cannot be refused.
            let _ = self.feed(now_ms, job, trainer, VerifyInput::Tick);
        }
    }
}
