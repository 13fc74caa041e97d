//! The trainer role: trains the jobs it is assigned (through the executor: compute), commits
//! each run's root, and opens sampled steps of a committed run to verifiers. Its disputes are
//! answered by [`super::party::PartyRole`].
//!
//! Inputs: an assignment or a resumption after a restart (chain and store), the finished run
//! (compute), a verifier's opening request (an authenticated peer message). Actions: the
//! training to run, the root to commit, the opening to send.

use std::collections::{BTreeMap, VecDeque};

use super::Machine;
use crate::error::{ProtocolError, Result};
use crate::id::{JobId, NodeId};
use crate::job::Root;
use crate::merkle::StepCommitment;
use crate::verify::StepOpening;

/// An input of the trainer role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrainerInput {
    /// Chain: this node trains `job`.
    Assigned {
        /// The job.
        job: JobId,
    },
    /// Store, after a restart: `job` was being trained and its last checkpoint is at step
    /// `from_step`.
    Resume {
        /// The job.
        job: JobId,
        /// The checkpoint's step.
        from_step: u64,
    },
    /// Compute (or the store, after a restart): the run of `job` is complete, with
    /// `h(S_0) … h(S_T)`. `committed`: the root is already on chain (a restart), so it is not
    /// sent again.
    Trained {
        /// The job.
        job: JobId,
        /// The state hashes.
        state_hashes: Vec<[u8; 32]>,
        /// Whether this node already committed the root.
        committed: bool,
    },
    /// Peer: verifier `from` asks for the opening of `step`.
    OpeningRequest {
        /// The authenticated sender.
        from: NodeId,
        /// The job.
        job: JobId,
        /// The sampled step.
        step: u64,
    },
}

/// What the trainer role asks its caller to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrainerAction {
    /// Compute: train `job` from the checkpoint at `from_step` (0: from the start) to the end,
    /// checkpointing on the way; answer with [`TrainerInput::Trained`].
    Train {
        /// The job.
        job: JobId,
        /// Where to start.
        from_step: u64,
    },
    /// Chain: commit `root` for `job`.
    Commit {
        /// The job.
        job: JobId,
        /// The root of the run.
        root: Root,
    },
    /// Send the opening of a sampled step to a verifier (a `Message::StepOpening`).
    SendOpening {
        /// The verifier.
        to: NodeId,
        /// The job.
        job: JobId,
        /// The opening.
        opening: StepOpening,
    },
}

/// A job's run on this node.
#[derive(Debug)]
enum Run {
    Training,
    Done {
        state_hashes: Vec<[u8; 32]>,
        commitment: StepCommitment,
    },
}

/// The trainer role of one node.
#[derive(Debug, Default)]
pub struct TrainerRole {
    runs: BTreeMap<JobId, Run>,
    actions: VecDeque<TrainerAction>,
}

impl TrainerRole {
    /// No jobs yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The committed root of `job`, once trained.
    pub fn root(&self, job: &JobId) -> Option<Root> {
        match self.runs.get(job) {
            Some(Run::Done { commitment, .. }) => Some(commitment.root()),
            _ => None,
        }
    }

    fn train(&mut self, job: JobId, from_step: u64) {
        if matches!(self.runs.get(&job), Some(Run::Done { .. })) {
            return;
        }
        self.runs.insert(job, Run::Training);
        self.actions
            .push_back(TrainerAction::Train { job, from_step });
    }

    fn trained(&mut self, job: JobId, state_hashes: Vec<[u8; 32]>, committed: bool) -> Result<()> {
        if matches!(self.runs.get(&job), Some(Run::Done { .. })) {
            return Err(ProtocolError::InvalidTransition {
                phase: "trained",
                detail: "the job's run is already complete".into(),
            });
        }
        let commitment = StepCommitment::new(&state_hashes)?;
        let root = commitment.root();
        self.runs.insert(
            job,
            Run::Done {
                state_hashes,
                commitment,
            },
        );
        if !committed {
            self.actions.push_back(TrainerAction::Commit { job, root });
        }
        Ok(())
    }

    fn open(&mut self, from: NodeId, job: JobId, step: u64) -> Result<()> {
        let Some(Run::Done {
            state_hashes,
            commitment,
        }) = self.runs.get(&job)
        else {
            return Err(ProtocolError::InvalidTransition {
                phase: "trainer",
                detail: "an opening request for a run this node has not completed".into(),
            });
        };
        let bad = || ProtocolError::InvalidArgument(format!("no step {step} to open"));
        let prev = step.checked_sub(1).ok_or_else(bad)?;
        let at = |t: u64| {
            usize::try_from(t)
                .ok()
                .and_then(|i| state_hashes.get(i))
                .copied()
                .ok_or_else(bad)
        };
        let opening = StepOpening {
            step,
            prev_hash: at(prev)?,
            prev_proof: commitment.proof(prev)?,
            hash: at(step)?,
            proof: commitment.proof(step)?,
        };
        self.actions.push_back(TrainerAction::SendOpening {
            to: from,
            job,
            opening,
        });
        Ok(())
    }
}

impl Machine for TrainerRole {
    type Input = TrainerInput;
    type Action = TrainerAction;

    fn handle(&mut self, _now_ms: u64, input: TrainerInput) -> Result<()> {
        match input {
            TrainerInput::Assigned { job } => {
                // A duplicated assignment (a chain event read twice) starts nothing new.
                if !self.runs.contains_key(&job) {
                    self.train(job, 0);
                }
                Ok(())
            }
            TrainerInput::Resume { job, from_step } => {
                self.train(job, from_step);
                Ok(())
            }
            TrainerInput::Trained {
                job,
                state_hashes,
                committed,
            } => self.trained(job, state_hashes, committed),
            TrainerInput::OpeningRequest { from, job, step } => self.open(from, job, step),
        }
    }

    fn poll_action(&mut self) -> Option<TrainerAction> {
        self.actions.pop_front()
    }

    fn next_deadline(&self) -> Option<u64> {
        None
    }

    fn handle_timeout(&mut self, _now_ms: u64) {}
}
