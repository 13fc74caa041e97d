//! Cheating role machines, for the simulator, the tests and the devnet (cargo feature
//! `adversary`): wrappers around the honest machines that change what they do, never how the
//! honest machines work. The production API has only the honest machines.
//!
//! - [`CheatingTrainer`]: a trainer role that signs a second root for each job
//!   ([`TrainerCheat::Equivocate`]), withholds every opening ([`TrainerCheat::Withhold`]) or
//!   holds each opening back before sending it ([`TrainerCheat::Stall`]).
//! - [`FalseChallenger`]: a verifier role that, when commits close, challenges the first
//!   committed root with its own (wrong) run of the job, whatever sampling would say.

use std::collections::{BTreeMap, VecDeque};

use super::Machine;
use super::trainer::{TrainerAction, TrainerInput, TrainerRole};
use super::verifier::{VerifierAction, VerifierCompute, VerifierInput, VerifierRole};
use crate::error::Result;
use crate::id::{JobId, NodeId};

/// How a [`CheatingTrainer`] deviates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrainerCheat {
    /// After each commit, commits a second, different root for the same job.
    Equivocate,
    /// Never sends an opening.
    Withhold,
    /// Holds each opening for `hold_ms` before sending it.
    Stall {
        /// How long each opening is held.
        hold_ms: u64,
    },
}

/// A trainer role playing a [`TrainerCheat`].
#[derive(Debug)]
pub struct CheatingTrainer {
    inner: TrainerRole,
    cheat: TrainerCheat,
    /// Openings held back, with the time each is released.
    held: VecDeque<(u64, TrainerAction)>,
    /// Actions ready for the caller.
    ready: VecDeque<TrainerAction>,
    now_ms: u64,
}

impl CheatingTrainer {
    /// The honest trainer role `inner`, deviating as `cheat` says.
    pub fn new(inner: TrainerRole, cheat: TrainerCheat) -> Self {
        Self {
            inner,
            cheat,
            held: VecDeque::new(),
            ready: VecDeque::new(),
            now_ms: 0,
        }
    }

    /// The honest machine inside.
    pub fn inner(&self) -> &TrainerRole {
        &self.inner
    }

    /// Takes the honest machine's actions and bends them.
    fn bend(&mut self) {
        while let Some(a) = self.inner.poll_action() {
            match (self.cheat, a) {
                (TrainerCheat::Equivocate, TrainerAction::Commit { job, root }) => {
                    let mut other = root;
                    other[0] ^= 0xa5;
                    self.ready.push_back(TrainerAction::Commit { job, root });
                    self.ready
                        .push_back(TrainerAction::Commit { job, root: other });
                }
                (TrainerCheat::Withhold, TrainerAction::SendOpening { .. }) => {}
                (TrainerCheat::Stall { hold_ms }, a @ TrainerAction::SendOpening { .. }) => {
                    self.held
                        .push_back((self.now_ms.saturating_add(hold_ms), a));
                }
                (_, a) => self.ready.push_back(a),
            }
        }
    }
}

impl Machine for CheatingTrainer {
    type Input = TrainerInput;
    type Action = TrainerAction;

    fn handle(&mut self, now_ms: u64, input: TrainerInput) -> Result<()> {
        self.now_ms = now_ms;
        let r = self.inner.handle(now_ms, input);
        self.bend();
        r
    }

    fn poll_action(&mut self) -> Option<TrainerAction> {
        self.ready.pop_front()
    }

    fn next_deadline(&self) -> Option<u64> {
        self.held.iter().map(|(at, _)| *at).min()
    }

    fn handle_timeout(&mut self, now_ms: u64) {
        self.now_ms = now_ms;
        let (due, later): (VecDeque<_>, VecDeque<_>) =
            self.held.drain(..).partition(|(at, _)| *at <= now_ms);
        self.held = later;
        self.ready.extend(due.into_iter().map(|(_, a)| a));
    }
}

/// A verifier role that challenges without cause: when a job's commits close it runs the job
/// itself (its executor may produce a wrong run) and challenges the first other committed
/// root with its own, never sampling. Every other input goes to the honest machine inside.
#[derive(Debug)]
pub struct FalseChallenger {
    inner: VerifierRole,
    me: NodeId,
    /// The trainer each job's challenge is aimed at, while its run is computed.
    targets: BTreeMap<JobId, NodeId>,
    ready: VecDeque<VerifierAction>,
}

impl FalseChallenger {
    /// Node `me`'s false challenger around the honest machine `inner`.
    pub fn new(me: NodeId, inner: VerifierRole) -> Self {
        Self {
            inner,
            me,
            targets: BTreeMap::new(),
            ready: VecDeque::new(),
        }
    }
}

impl Machine for FalseChallenger {
    type Input = VerifierInput;
    type Action = VerifierAction;

    fn handle(&mut self, now_ms: u64, input: VerifierInput) -> Result<()> {
        match input {
            VerifierInput::CommitsClosed(c) => {
                let Some((trainer, _)) = c.roots.iter().find(|(t, _)| *t != self.me) else {
                    return Ok(());
                };
                if self.targets.insert(c.job, *trainer).is_none() {
                    self.ready
                        .push_back(VerifierAction::Compute(VerifierCompute::RunJob {
                            job: c.job,
                        }));
                }
                Ok(())
            }
            VerifierInput::OwnRun { job, root } => {
                if let (Some(trainer), Some(root)) = (self.targets.get(&job), root) {
                    self.ready.push_back(VerifierAction::Challenge {
                        job,
                        trainer: *trainer,
                        root,
                    });
                }
                Ok(())
            }
            other => {
                let r = self.inner.handle(now_ms, other);
                while let Some(a) = self.inner.poll_action() {
                    self.ready.push_back(a);
                }
                r
            }
        }
    }

    fn poll_action(&mut self) -> Option<VerifierAction> {
        self.ready.pop_front()
    }

    fn next_deadline(&self) -> Option<u64> {
        self.inner.next_deadline()
    }

    fn handle_timeout(&mut self, now_ms: u64) {
        self.inner.handle_timeout(now_ms);
        while let Some(a) = self.inner.poll_action() {
            self.ready.push_back(a);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::NodeKey;

    const JOB: [u8; 32] = [4; 32];

    fn trained(cheat: TrainerCheat) -> CheatingTrainer {
        let mut t = CheatingTrainer::new(TrainerRole::new(), cheat);
        let hashes: Vec<[u8; 32]> = (0u8..9).map(|i| [i; 32]).collect();
        t.handle(
            0,
            TrainerInput::Trained {
                job: JOB,
                state_hashes: hashes,
                committed: false,
            },
        )
        .expect("trained");
        t
    }

    fn open(t: &mut CheatingTrainer, now: u64) {
        let from = NodeKey::from_seed([9; 32]).node_id();
        t.handle(
            now,
            TrainerInput::OpeningRequest {
                from,
                job: JOB,
                step: 3,
            },
        )
        .expect("request");
    }

    #[test]
    fn an_equivocator_commits_two_roots_and_opens_honestly() {
        let mut t = trained(TrainerCheat::Equivocate);
        let commits: Vec<_> = std::iter::from_fn(|| t.poll_action()).collect();
        assert!(
            matches!(&commits[..], [TrainerAction::Commit { root: a, .. }, TrainerAction::Commit { root: b, .. }] if a != b)
        );
        open(&mut t, 5);
        assert!(matches!(
            t.poll_action(),
            Some(TrainerAction::SendOpening { .. })
        ));
    }

    #[test]
    fn a_false_challenger_challenges_the_first_other_root_with_its_own_run() {
        use crate::role::verifier::CommitsClosed;
        let me = NodeKey::from_seed([9; 32]).node_id();
        let other = NodeKey::from_seed([8; 32]).node_id();
        let mut f = FalseChallenger::new(me, VerifierRole::new(me, 1_000));
        let closed = CommitsClosed {
            job: JOB,
            steps: 8,
            samples: 2,
            seed: [0; 32],
            roots: vec![(me, [1; 32]), (other, [2; 32])],
        };
        f.handle(0, VerifierInput::CommitsClosed(closed.clone()))
            .expect("closed");
        f.handle(0, VerifierInput::CommitsClosed(closed))
            .expect("again");
        assert_eq!(
            f.poll_action(),
            Some(VerifierAction::Compute(VerifierCompute::RunJob {
                job: JOB
            }))
        );
        assert_eq!(f.poll_action(), None, "one run per job");
        f.handle(
            1,
            VerifierInput::OwnRun {
                job: JOB,
                root: Some([2; 32]),
            },
        )
        .expect("run");
        // Even a root equal to the trainer's is challenged: the challenge has no cause.
        assert_eq!(
            f.poll_action(),
            Some(VerifierAction::Challenge {
                job: JOB,
                trainer: other,
                root: [2; 32]
            })
        );
    }

    #[test]
    fn a_withholder_never_opens_and_a_staller_opens_late() {
        let mut w = trained(TrainerCheat::Withhold);
        assert!(matches!(
            w.poll_action(),
            Some(TrainerAction::Commit { .. })
        ));
        open(&mut w, 5);
        assert_eq!(w.poll_action(), None);
        assert_eq!(w.next_deadline(), None);

        let mut s = trained(TrainerCheat::Stall { hold_ms: 100 });
        assert!(matches!(
            s.poll_action(),
            Some(TrainerAction::Commit { .. })
        ));
        open(&mut s, 5);
        assert_eq!(s.poll_action(), None);
        assert_eq!(s.next_deadline(), Some(105));
        s.handle_timeout(104);
        assert_eq!(s.poll_action(), None);
        s.handle_timeout(105);
        assert!(matches!(
            s.poll_action(),
            Some(TrainerAction::SendOpening { .. })
        ));
        assert_eq!(s.next_deadline(), None);
    }
}
