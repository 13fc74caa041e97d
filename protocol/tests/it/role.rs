//! The role machines driven together in one process, the way a node's actors and the
//! simulator drive them: compute answered from real training records, every dispute message
//! really signed and verified, and every message delivered twice.

use std::collections::VecDeque;

use pinpoint_protocol::ProtocolError;
use pinpoint_protocol::dispute::strategy::{Corrupted, Corruption};
use pinpoint_protocol::dispute::{Deadlines, JobReexec, Party, RunSource};
use pinpoint_protocol::id::{JobId, NodeId};
use pinpoint_protocol::role::Machine;
use pinpoint_protocol::role::arbiter::{
    ArbiterAction, ArbiterInput, ArbiterRole, Assignment, dispute_scope,
};
use pinpoint_protocol::role::party::{PartyAction, PartyInput, PartyRole};
use pinpoint_protocol::role::trainer::{TrainerAction, TrainerInput, TrainerRole};
use pinpoint_protocol::role::verifier::{
    CommitsClosed, VerifierAction, VerifierCompute, VerifierInput, VerifierRole,
};
use pinpoint_protocol::verify::{Outcome as VerifyOutcome, Recomputed};
use pinpoint_protocol::wire::{Message, Outcome, SignedMessage, verify_message};

use crate::dispute::fixtures::{JOB, REFEREE, honest, id, key, spec, steps};

/// Job 0 of the fixtures, and a cheater's run of it: every state from step 7 on is wrong.
fn runs() -> (Box<dyn RunSource>, Box<dyn RunSource>) {
    let good: Box<dyn RunSource> = Box::new(honest(0));
    let bad = Corrupted::new(
        Box::new(honest(0)),
        Corruption::WrongStateFrom { step: 7 },
        3,
    )
    .expect("corrupted run");
    (good, Box::new(bad))
}

/// One party node: its role machine, its key seed, its run (the compute side) and its
/// sequence numbers.
struct PartyNode {
    seed: u8,
    role: PartyRole<Party>,
    run: Box<dyn RunSource>,
    seq: u64,
}

impl PartyNode {
    fn new(seed: u8, run: Box<dyn RunSource>) -> Self {
        let party = Party::from_hashes(run.state_hashes().to_vec()).expect("party");
        let mut role = PartyRole::new();
        role.handle(
            0,
            PartyInput::Opened {
                job: dispute_scope(&JOB, 9),
                referee: id(REFEREE),
                party,
            },
        )
        .expect("opened");
        Self {
            seed,
            role,
            run,
            seq: 0,
        }
    }

    /// Delivers a signed referee query; returns the signed answers.
    fn query(&mut self, signed: &SignedMessage) -> Vec<SignedMessage> {
        verify_message(signed).expect("the referee's signature verifies");
        let input = PartyInput::Query {
            from: signed.signer,
            job: signed.job,
            round: signed.round,
            msg: signed.statement.clone(),
        };
        self.role.handle(0, input).expect("query accepted");
        let mut out = Vec::new();
        while let Some(a) = self.role.poll_action() {
            match a {
                PartyAction::Send {
                    job, round, msg, ..
                } => {
                    self.seq += 1;
                    out.push(
                        msg.sign(&key(self.seed), job, round, self.seq)
                            .expect("sign"),
                    );
                }
                PartyAction::ComputeStepRecord { job, referee, lo } => {
                    // Compute: the node's executor produces the record of step `lo`.
                    let record = self.run.step_record(lo).map_err(|e| e.to_string());
                    let input = PartyInput::StepRecorded {
                        job,
                        referee,
                        lo,
                        record,
                    };
                    self.role.handle(0, input).expect("record accepted");
                }
                PartyAction::StorePhaseStart { .. } => {}
            }
        }
        out
    }
}

#[test]
fn an_arbiter_role_refuses_every_replayed_answer_and_the_honest_party_wins() {
    let (_, bad) = runs();
    let roots = [
        Party::from_source(Box::new(honest(0)))
            .expect("party")
            .root(),
        Party::from_hashes(bad.state_hashes().to_vec())
            .expect("party")
            .root(),
    ];
    // Both orders: the honest node as challenger, then as defendant.
    for honest_first in [true, false] {
        let (a, b) = if honest_first {
            (good_run(), bad_run())
        } else {
            (bad_run(), good_run())
        };
        let (ra, rb) = if honest_first {
            (roots[0], roots[1])
        } else {
            (roots[1], roots[0])
        };
        let mut parties = [PartyNode::new(1, a), PartyNode::new(2, b)];
        let mut arbiter = ArbiterRole::new(Deadlines::default());
        let assignment = Assignment {
            dispute: 9,
            job: JOB,
            challenger: (id(1), ra),
            defendant: (id(2), rb),
            steps: steps(0),
            reexec: JobReexec::new(&spec(0), None).expect("reexec"),
        };
        arbiter
            .handle(1_000, ArbiterInput::Assigned(assignment))
            .expect("assigned");
        let (mut replays, mut answers, mut late, mut referee_seq) = (0, 0, 0, 0u64);
        let mut verdict = None;
        let mut queue: VecDeque<ArbiterAction> = VecDeque::new();
        for _ in 0..10_000 {
            while let Some(a) = arbiter.poll_action() {
                queue.push_back(a);
            }
            let Some(action) = queue.pop_front() else {
                break;
            };
            match action {
                ArbiterAction::Send {
                    dispute: 9,
                    to,
                    round,
                    msg,
                } => {
                    referee_seq += 1;
                    let signed = msg
                        .sign(&key(REFEREE), dispute_scope(&JOB, 9), round, referee_seq)
                        .expect("sign");
                    let p = parties
                        .iter_mut()
                        .find(|p| id(p.seed) == to)
                        .expect("a party");
                    // The network duplicates the query: the party answers both copies.
                    let mut out = p.query(&signed);
                    out.extend(p.query(&signed));
                    for ans in out {
                        // ... and duplicates each answer: the copy meets the replay guard.
                        for copy in 0..2 {
                            let r = arbiter.handle(
                                1_000,
                                ArbiterInput::Answer {
                                    from: to,
                                    signed: Box::new(ans.clone()),
                                },
                            );
                            match r {
                                Ok(()) if copy == 0 => answers += 1,
                                // The copy of the answer that decided the dispute arrives after
                                // the verdict: dropped quietly.
                                Ok(()) => {
                                    assert!(!arbiter.is_open(9));
                                    late += 1;
                                }
                                Err(ProtocolError::Replay(_)) => {
                                    assert_eq!(copy, 1, "a first copy is never a replay");
                                    replays += 1;
                                }
                                Err(e) => panic!("unexpected refusal: {e}"),
                            }
                        }
                    }
                }
                ArbiterAction::Verdict {
                    dispute,
                    verdict: v,
                    rounds,
                } => {
                    assert_eq!(dispute, 9);
                    assert_eq!(v.job, JOB, "the verdict names the job, not the scope");
                    assert!(rounds > 0);
                    verdict = Some(v);
                }
                other => panic!("unexpected action {other:?}"),
            }
        }
        let v = verdict.expect("the dispute ends with a verdict");
        let honest_id = if honest_first { id(1) } else { id(2) };
        assert!(
            matches!(v.outcome, Outcome::Winner { winner, .. } if winner == honest_id),
            "{v:?}"
        );
        assert!(replays > 0, "the replay guard refused copies");
        assert_eq!(
            replays + late,
            answers,
            "every copy was refused or came too late"
        );
        assert!(
            late <= 2,
            "only copies of the deciding answers come after the verdict"
        );
        assert!(!arbiter.is_open(9), "the dispute is closed");
        // A late copy of an answer to the finished dispute changes nothing.
        assert_eq!(arbiter.next_deadline(), None);
    }
}

/// The committed roots of the honest and the corrupted run.
fn roots() -> ([u8; 32], [u8; 32]) {
    let (good, bad) = runs();
    let root = |r: Box<dyn RunSource>| {
        Party::from_hashes(r.state_hashes().to_vec())
            .expect("party")
            .root()
    };
    (root(good), root(bad))
}

fn good_run() -> Box<dyn RunSource> {
    runs().0
}

fn bad_run() -> Box<dyn RunSource> {
    runs().1
}

#[test]
fn an_arbiter_role_refuses_foreign_signers_unknown_disputes_and_double_assignments() {
    let (rg, rb) = roots();
    let assignment = |dispute, b: [u8; 32]| Assignment {
        dispute,
        job: JOB,
        challenger: (id(1), rg),
        defendant: (id(2), b),
        steps: steps(0),
        reexec: JobReexec::new(&spec(0), None).expect("reexec"),
    };
    let mut arbiter = ArbiterRole::new(Deadlines::default());
    arbiter
        .handle(0, ArbiterInput::Assigned(assignment(1, rb)))
        .expect("assigned");
    assert!(matches!(
        arbiter.handle(0, ArbiterInput::Assigned(assignment(1, rb))),
        Err(ProtocolError::InvalidArgument(_))
    ));
    // Equal roots: nothing to dispute, the challenge was unfounded.
    arbiter
        .handle(0, ArbiterInput::Assigned(assignment(2, rg)))
        .expect("assigned");
    let actions: Vec<ArbiterAction> = std::iter::from_fn(|| arbiter.poll_action()).collect();
    assert!(actions.contains(&ArbiterAction::Unfounded { dispute: 2 }));
    // An answer signed by party 1 but arriving from node 3's connection.
    let answer = Message::InputQuery(pinpoint_protocol::wire::InputQuery { index: 1 })
        .sign(&key(1), dispute_scope(&JOB, 1), 0, 1)
        .expect("sign");
    assert!(matches!(
        arbiter.handle(
            0,
            ArbiterInput::Answer {
                from: id(3),
                signed: Box::new(answer.clone())
            }
        ),
        Err(ProtocolError::BadSignature(_))
    ));
    // A statement from a node that is no party of any open dispute.
    let stranger = Message::InputQuery(pinpoint_protocol::wire::InputQuery { index: 1 })
        .sign(&key(3), dispute_scope(&JOB, 1), 0, 1)
        .expect("sign");
    assert!(matches!(
        arbiter.handle(
            0,
            ArbiterInput::Answer {
                from: id(3),
                signed: Box::new(stranger)
            }
        ),
        Err(ProtocolError::InvalidTransition { .. })
    ));
    // Past every deadline the silent parties both forfeit (both lose) and the dispute closes.
    let late = arbiter.next_deadline().expect("a deadline");
    for k in 0..=Deadlines::default().max_retries + 1 {
        arbiter.handle_timeout(late + u64::from(k) * Deadlines::default().answer_ms + 1);
    }
    let rest: Vec<ArbiterAction> = std::iter::from_fn(|| arbiter.poll_action()).collect();
    assert!(
        rest.iter()
            .any(|a| matches!(a, ArbiterAction::Verdict { dispute: 1, .. })),
        "{rest:?}"
    );
    assert!(!arbiter.is_open(1));
}

/// A referee whose dispute the chain decided first (the rest of the committee voted) stops:
/// it says so once, gives no verdict and has no deadline left, so its silent parties — who
/// stop answering once the chain has ruled — are never blamed for a timeout. Late answers
/// are dropped quietly; a repeated or unknown `Decided` changes nothing.
#[test]
fn an_arbiter_withdraws_from_a_dispute_the_chain_decided_and_blames_nobody() {
    let (rg, rb) = roots();
    let mut arbiter = ArbiterRole::new(Deadlines::default());
    arbiter
        .handle(
            0,
            ArbiterInput::Assigned(Assignment {
                dispute: 4,
                job: JOB,
                challenger: (id(1), rg),
                defendant: (id(2), rb),
                steps: steps(0),
                reexec: JobReexec::new(&spec(0), None).expect("reexec"),
            }),
        )
        .expect("assigned");
    let first: Vec<ArbiterAction> = std::iter::from_fn(|| arbiter.poll_action()).collect();
    assert!(
        first
            .iter()
            .any(|a| matches!(a, ArbiterAction::Send { dispute: 4, .. })),
        "{first:?}"
    );
    assert!(arbiter.next_deadline().is_some());
    arbiter
        .handle(10, ArbiterInput::Decided { dispute: 4 })
        .expect("decided");
    let after: Vec<ArbiterAction> = std::iter::from_fn(|| arbiter.poll_action()).collect();
    assert_eq!(
        after,
        vec![ArbiterAction::Withdrawn {
            dispute: 4,
            rounds: 1
        }]
    );
    assert!(!arbiter.is_open(4));
    assert_eq!(arbiter.next_deadline(), None);
    // Long past every deadline: nothing, in particular no forfeit.
    arbiter.handle_timeout(10_000_000);
    for again in [4, 77] {
        arbiter
            .handle(20, ArbiterInput::Decided { dispute: again })
            .expect("decided again");
    }
    assert_eq!(arbiter.poll_action(), None);
    // A party's late answer to the withdrawn dispute is dropped quietly.
    let late = Message::InputQuery(pinpoint_protocol::wire::InputQuery { index: 1 })
        .sign(&key(1), dispute_scope(&JOB, 4), 0, 1)
        .expect("sign");
    arbiter
        .handle(
            30,
            ArbiterInput::Answer {
                from: id(1),
                signed: Box::new(late),
            },
        )
        .expect("a late answer is dropped quietly");
    assert_eq!(arbiter.poll_action(), None);
}

/// The verifier's compute over hashes: the honest successor of the honest `S_{t−1}` is the
/// honest `S_t`; a state the honest run never had has no honest successor this test knows.
fn recompute(step: u64, prev_hash: [u8; 32]) -> Recomputed {
    let h = &honest(0).state_hashes;
    match (h.get(step as usize - 1), h.get(step as usize)) {
        (Some(p), Some(next)) if *p == prev_hash => Recomputed::Hash(*next),
        _ => Recomputed::StateUnavailable,
    }
}

#[test]
fn the_verifier_role_challenges_a_corrupt_root_and_passes_honest_and_silent_honest_ones() {
    let (good, bad) = runs();
    let t = steps(0);
    let mut trainers: Vec<(NodeId, TrainerRole)> = Vec::new();
    let mut roots = Vec::new();
    for (seed, run) in [(2u8, &good), (3, &bad), (5, &good)] {
        let mut role = TrainerRole::new();
        role.handle(0, TrainerInput::Assigned { job: JOB })
            .expect("assigned");
        assert_eq!(
            role.poll_action(),
            Some(TrainerAction::Train {
                job: JOB,
                from_step: 0
            })
        );
        role.handle(
            0,
            TrainerInput::Trained {
                job: JOB,
                state_hashes: run.state_hashes().to_vec(),
                committed: false,
            },
        )
        .expect("trained");
        let Some(TrainerAction::Commit { root, .. }) = role.poll_action() else {
            panic!("a commit");
        };
        roots.push((id(seed), root));
        trainers.push((id(seed), role));
    }
    let own_root = roots[0].1;
    let me = id(4);
    let mut v = VerifierRole::new(me, 1_000);
    let closed = CommitsClosed {
        job: JOB,
        steps: t,
        samples: t,
        seed: [1; 32],
        roots: roots.iter().copied().chain([(me, own_root)]).collect(),
    };
    v.handle(0, VerifierInput::CommitsClosed(closed))
        .expect("closed");
    let (mut challenges, mut finished, mut runs_asked) = (Vec::new(), Vec::new(), 0);
    for now in [10, 1_002] {
        if now > 10 {
            v.handle_timeout(now);
        }
        while let Some(a) = v.poll_action() {
            match a {
                VerifierAction::RequestOpening { job, trainer, step } => {
                    // Trainer 5 withholds its openings.
                    if trainer == id(5) {
                        continue;
                    }
                    let (_, role) = trainers
                        .iter_mut()
                        .find(|(i, _)| *i == trainer)
                        .expect("trainer");
                    role.handle(
                        now,
                        TrainerInput::OpeningRequest {
                            from: me,
                            job,
                            step,
                        },
                    )
                    .expect("opened");
                    let Some(TrainerAction::SendOpening { to, opening, .. }) = role.poll_action()
                    else {
                        panic!("an opening");
                    };
                    assert_eq!(to, me);
                    // Delivered twice: the copy is refused, nothing changes.
                    for copy in 0..2 {
                        let r = v.handle(
                            now,
                            VerifierInput::Opening {
                                from: trainer,
                                job,
                                opening: opening.clone(),
                            },
                        );
                        assert_eq!(r.is_ok(), copy == 0 || !v.is_checking(&job, &trainer));
                    }
                }
                VerifierAction::Compute(VerifierCompute::Recompute {
                    job,
                    trainer,
                    step,
                    prev_hash,
                }) => {
                    let result = recompute(step, prev_hash);
                    v.handle(
                        now,
                        VerifierInput::Recomputed {
                            job,
                            trainer,
                            step,
                            result,
                        },
                    )
                    .expect("recomputed");
                }
                VerifierAction::Compute(VerifierCompute::RunJob { job }) => {
                    runs_asked += 1;
                    v.handle(
                        now,
                        VerifierInput::OwnRun {
                            job,
                            root: Some(own_root),
                        },
                    )
                    .expect("own run");
                }
                VerifierAction::Challenge { trainer, root, .. } => {
                    assert_eq!(root, own_root);
                    challenges.push(trainer);
                }
                VerifierAction::Finished {
                    trainer, outcome, ..
                } => finished.push((trainer, outcome)),
            }
        }
    }
    assert_eq!(
        challenges,
        vec![id(3)],
        "only the corrupt root is challenged"
    );
    assert_eq!(runs_asked, 1, "the job is re-run once, whatever fails");
    assert!(finished.contains(&(id(2), VerifyOutcome::Passed)));
    // The first sample to fail decides: step 7 re-runs to another hash; a later step starts
    // from a state the honest run never had (this test's compute cannot serve it).
    assert!(
        finished.iter().any(|(n, o)| *n == id(3)
            && matches!(
                o,
                VerifyOutcome::Challenged { step: 7 } | VerifyOutcome::StateUnavailable { .. }
            )),
        "{finished:?}"
    );
    assert!(
        finished
            .iter()
            .any(|(n, o)| *n == id(5) && matches!(o, VerifyOutcome::Silent { .. })),
        "{finished:?}"
    );
    assert!(
        finished.iter().all(|(n, _)| *n != me),
        "a node never verifies itself"
    );
    assert_eq!(v.next_deadline(), None, "nothing left to wait for");
}

#[test]
fn the_trainer_role_commits_once_and_opens_only_completed_runs() {
    let (good, _) = runs();
    let mut role = TrainerRole::new();
    assert!(matches!(
        role.handle(
            0,
            TrainerInput::OpeningRequest {
                from: id(4),
                job: JOB,
                step: 1
            }
        ),
        Err(ProtocolError::InvalidTransition { .. })
    ));
    role.handle(
        0,
        TrainerInput::Resume {
            job: JOB,
            from_step: 4,
        },
    )
    .expect("resumed");
    assert_eq!(
        role.poll_action(),
        Some(TrainerAction::Train {
            job: JOB,
            from_step: 4
        })
    );
    let trained = TrainerInput::Trained {
        job: JOB,
        state_hashes: good.state_hashes().to_vec(),
        committed: false,
    };
    role.handle(0, trained.clone()).expect("trained");
    assert!(matches!(
        role.poll_action(),
        Some(TrainerAction::Commit { .. })
    ));
    assert!(role.handle(0, trained).is_err(), "a run completes once");
    assert_eq!(role.poll_action(), None, "and is committed once");
    for bad in [0, steps(0) + 1, u64::MAX] {
        assert!(
            role.handle(
                0,
                TrainerInput::OpeningRequest {
                    from: id(4),
                    job: JOB,
                    step: bad
                }
            )
            .is_err(),
            "step {bad}"
        );
    }
    // After a restart, a committed run comes back from the store without a second commit.
    let mut restarted = TrainerRole::new();
    restarted
        .handle(
            0,
            TrainerInput::Trained {
                job: JOB,
                state_hashes: good.state_hashes().to_vec(),
                committed: true,
            },
        )
        .expect("restored");
    assert_eq!(restarted.poll_action(), None);
    assert_eq!(restarted.root(&JOB), role.root(&JOB));
}

#[test]
fn a_party_role_computes_the_step_record_once_and_again_after_a_failure() {
    let (good, _) = runs();
    let scope = dispute_scope(&JOB, 4);
    let mut role = PartyRole::new();
    let party = Party::from_hashes(good.state_hashes().to_vec()).expect("party");
    role.handle(
        0,
        PartyInput::Opened {
            job: scope,
            referee: id(REFEREE),
            party,
        },
    )
    .expect("opened");
    let start = |lo| PartyInput::Query {
        from: id(REFEREE),
        job: scope,
        round: 3,
        msg: Message::NodePhaseStart(pinpoint_protocol::wire::NodePhaseStart {
            lo,
            graph_hash: [0; 32],
            nodes: 5,
        }),
    };
    let computes = |role: &mut PartyRole<Party>| {
        std::iter::from_fn(|| role.poll_action())
            .filter(|a| matches!(a, PartyAction::ComputeStepRecord { .. }))
            .count()
    };
    // The referee re-sends the start with every re-asked query: computed once.
    role.handle(0, start(2)).expect("start");
    role.handle(0, start(2)).expect("start again");
    assert_eq!(computes(&mut role), 1);
    // The computation failed: the next start asks again.
    let failed = PartyInput::StepRecorded {
        job: scope,
        referee: id(REFEREE),
        lo: 2,
        record: Err("executor restarted".into()),
    };
    role.handle(0, failed).expect("failure taken");
    role.handle(0, start(2)).expect("start after the failure");
    assert_eq!(computes(&mut role), 1);
    // A query from a node that referees nothing of ours is refused.
    let stranger = PartyInput::Query {
        from: id(3),
        job: scope,
        round: 0,
        msg: Message::StepQuery(pinpoint_protocol::wire::StepQuery { round: 0, step: 1 }),
    };
    assert!(matches!(
        role.handle(0, stranger),
        Err(ProtocolError::InvalidTransition { .. })
    ));
}

#[test]
fn a_party_role_answers_queries_that_arrive_while_its_step_record_is_computed() {
    // A node computes the record off its event loop, so the referee's node query can arrive
    // before the record: the party holds it and answers once the record is in.
    let (mut role, scope, mut good) = node_phase_party(5);
    role.handle(0, referee_query(scope, 3, phase_start()))
        .expect("start");
    let node_query = Message::NodeQuery(pinpoint_protocol::wire::NodeQuery { round: 4, index: 1 });
    role.handle(0, referee_query(scope, 4, node_query))
        .expect("held");
    assert!(sends(&mut role).is_empty(), "nothing to answer from yet");
    let record = good.step_record(2).map_err(|e| e.to_string());
    let recorded = PartyInput::StepRecorded {
        job: scope,
        referee: id(REFEREE),
        lo: 2,
        record,
    };
    role.handle(0, recorded).expect("record");
    let out = sends(&mut role);
    assert_eq!(out.len(), 1, "{out:?}");
    assert!(matches!(out[0], (4, Message::NodeAnswer(_))), "{out:?}");
}

#[test]
fn a_duplicated_assignment_trains_once() {
    let mut role = TrainerRole::new();
    let assigned = TrainerInput::Assigned { job: JOB };
    role.handle(0, assigned.clone()).expect("assigned");
    role.handle(0, assigned.clone()).expect("assigned again");
    let trains = std::iter::from_fn(|| role.poll_action())
        .filter(|a| matches!(a, TrainerAction::Train { .. }))
        .count();
    assert_eq!(trains, 1);
    // After a restart, a resume asks for the compute again, from the checkpoint.
    role.handle(
        0,
        TrainerInput::Resume {
            job: JOB,
            from_step: 4,
        },
    )
    .expect("resume");
    assert!(matches!(
        role.poll_action(),
        Some(TrainerAction::Train { from_step: 4, .. })
    ));
}

#[test]
fn a_party_role_answers_a_node_query_that_overtook_the_phase_start() {
    // Separate QUIC streams do not keep order: the referee's node query can arrive before
    // its start of the node phase. The party holds it and answers once the record is in.
    let (mut role, scope, mut good) = node_phase_party(6);
    let node_query = Message::NodeQuery(pinpoint_protocol::wire::NodeQuery { round: 4, index: 1 });
    role.handle(0, referee_query(scope, 4, node_query))
        .expect("held");
    assert!(role.poll_action().is_none(), "nothing to answer from yet");
    role.handle(0, referee_query(scope, 3, phase_start()))
        .expect("start");
    let record = good.step_record(2).map_err(|e| e.to_string());
    let recorded = PartyInput::StepRecorded {
        job: scope,
        referee: id(REFEREE),
        lo: 2,
        record,
    };
    role.handle(0, recorded).expect("record");
    let out = sends(&mut role);
    assert_eq!(out.len(), 1, "{out:?}");
    assert!(matches!(out[0], (4, Message::NodeAnswer(_))), "{out:?}");
}

/// A party role answering from the good run of `runs()` for dispute `d` of [`JOB`], and a
/// builder of the referee's queries for it.
fn node_phase_party(d: u64) -> (PartyRole<Party>, JobId, Box<dyn RunSource>) {
    let (good, _) = runs();
    let scope = dispute_scope(&JOB, d);
    let mut role = PartyRole::new();
    let party = Party::from_hashes(good.state_hashes().to_vec()).expect("party");
    let opened = PartyInput::Opened {
        job: scope,
        referee: id(REFEREE),
        party,
    };
    role.handle(0, opened).expect("opened");
    (role, scope, good)
}

/// The referee's query `msg` of `round` in dispute scope `scope`.
fn referee_query(scope: JobId, round: u32, msg: Message) -> PartyInput<Party> {
    PartyInput::Query {
        from: id(REFEREE),
        job: scope,
        round,
        msg,
    }
}

/// The start of the node phase at step 2.
fn phase_start() -> Message {
    Message::NodePhaseStart(pinpoint_protocol::wire::NodePhaseStart {
        lo: 2,
        graph_hash: [0; 32],
        nodes: 5,
    })
}

/// The answers a party role sends, with their rounds.
fn sends(role: &mut PartyRole<Party>) -> Vec<(u32, Message)> {
    std::iter::from_fn(|| role.poll_action())
        .filter_map(|a| match a {
            PartyAction::Send { round, msg, .. } => Some((round, msg)),
            _ => None,
        })
        .collect()
}
