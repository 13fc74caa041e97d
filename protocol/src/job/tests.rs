//! Tests of the job state machine.

use proptest::prelude::*;

use super::*;
use crate::{
    ProtocolError,
    fees::{Account, fee_split},
    id::{NodeId, NodeKey},
};

fn node(i: u8) -> NodeId {
    NodeKey::from_seed([i; 32]).node_id()
}

fn params(replicas: usize) -> JobParams {
    JobParams {
        payment: 1_000_000,
        replicas,
        trainer_stake: 10_000,
        assign_timeout_ms: 100,
        commit_timeout_ms: 1_000,
        challenge_window_ms: 500,
    }
}

/// Sorted trainer ids.
fn trainers(n: u8) -> Vec<NodeId> {
    let mut t: Vec<NodeId> = (1..=n).map(node).collect();
    t.sort();
    t
}

fn settlement(actions: &[Action]) -> &crate::fees::Settlement {
    actions
        .iter()
        .find_map(|a| match a {
            Action::Finalize { settlement } => Some(settlement),
            _ => None,
        })
        .expect("finalized")
}

fn assert_conserves(job: &Job) {
    let s = job.settlement().expect("finalized");
    assert_eq!(s.total_from(Account::Escrow), job.params().payment);
    let from_stakes: u128 = s
        .transfers
        .iter()
        .filter(|t| matches!(t.from, Account::Stake(_)))
        .map(|t| t.amount)
        .sum();
    assert_eq!(from_stakes, job.bonded());
}

fn committed_job(roots: &[Root]) -> (Job, Vec<NodeId>, Vec<Action>) {
    let n = roots.len();
    let mut job = Job::new(params(n), 0).unwrap();
    let t = trainers(n as u8);
    assert!(
        job.handle(
            10,
            Input::Assigned {
                trainers: t.clone()
            }
        )
        .unwrap()
        .is_empty()
    );
    assert_eq!(job.phase(), Phase::Running);
    let mut last = Vec::new();
    for (tr, root) in t.iter().zip(roots) {
        last = job
            .handle(
                20,
                Input::Committed {
                    trainer: *tr,
                    root: *root,
                },
            )
            .unwrap();
    }
    (job, t, last)
}

#[test]
fn happy_path_one_replica() {
    let (mut job, t, actions) = committed_job(&[[7; 32]]);
    assert!(actions.is_empty());
    assert_eq!(job.phase(), Phase::ChallengeWindow);
    assert_eq!(job.next_deadline(), Some(520));
    assert!(job.poll(519).is_empty());
    let actions = job.poll(520);
    assert_eq!(job.phase(), Phase::Finalized);
    let s = settlement(&actions);
    assert_eq!(s.burned(), 3_500);
    assert_eq!(s.total_to(Account::Treasury), 1_500);
    assert_eq!(s.total_to(Account::Node(t[0])), 995_000 + 10_000);
    assert_conserves(&job);
    assert!(job.poll(10_000).is_empty());
}

#[test]
fn happy_path_three_equal_roots_never_dispute() {
    let (mut job, t, actions) = committed_job(&[[7; 32]; 3]);
    assert!(actions.is_empty(), "equal roots must not dispute");
    let actions = job.poll(520);
    let s = settlement(&actions);
    // 995_000 = 3·331_666 + 2: the remainder goes to the first trainer in NodeId order.
    assert_eq!(s.total_to(Account::Node(t[0])), 331_668 + 10_000);
    assert_eq!(s.total_to(Account::Node(t[1])), 331_666 + 10_000);
    assert_eq!(s.total_to(Account::Node(t[2])), 331_666 + 10_000);
    assert_eq!(s.burned(), 3_500);
    assert_conserves(&job);
}

#[test]
fn one_deviant_among_three_is_disputed_and_slashed() {
    // t[0] deviates: the first pair is (t[0], t[1]).
    let (mut job, t, actions) = committed_job(&[[9; 32], [7; 32], [7; 32]]);
    assert_eq!(actions, vec![Action::OpenDispute { a: t[0], b: t[1] }]);
    assert_eq!(job.phase(), Phase::Disputed);
    assert!(
        job.poll(10_000).is_empty(),
        "no finalization while disputed"
    );
    // A verdict for another pair is rejected, state unchanged.
    let before = job.clone();
    assert!(matches!(
        job.handle(
            30,
            Input::Verdict {
                a: t[1],
                b: t[2],
                winner: Some(t[1]),
                arbiters: vec![],
            }
        ),
        Err(ProtocolError::InvalidTransition { .. })
    ));
    assert_eq!(job, before);
    let actions = job
        .handle(
            30,
            Input::Verdict {
                a: t[1],
                b: t[0],
                winner: Some(t[1]),
                arbiters: vec![],
            },
        )
        .unwrap();
    assert_eq!(
        actions[0],
        Action::Slash {
            node: t[0],
            winner: Some(t[1]),
            amount: 10_000
        }
    );
    assert_eq!(actions.len(), 1, "one root survives: no further dispute");
    assert_eq!(job.phase(), Phase::ChallengeWindow);
    let actions = job.poll(520);
    let s = settlement(&actions);
    // Trainers' part 995_000 split between t[1] and t[2]; t[1] also gets half of t[0]'s stake.
    assert_eq!(s.total_to(Account::Node(t[0])), 0);
    assert_eq!(s.total_to(Account::Node(t[1])), 497_500 + 10_000 + 5_000);
    assert_eq!(s.total_to(Account::Node(t[2])), 497_500 + 10_000);
    assert_eq!(s.burned(), 3_500 + 5_000);
    assert_conserves(&job);
}

#[test]
fn three_distinct_roots_dispute_until_one_survives() {
    let (mut job, t, actions) = committed_job(&[[1; 32], [2; 32], [3; 32]]);
    assert_eq!(actions, vec![Action::OpenDispute { a: t[0], b: t[1] }]);
    let actions = job
        .handle(
            30,
            Input::Verdict {
                a: t[0],
                b: t[1],
                winner: None,
                arbiters: vec![],
            },
        )
        .unwrap();
    assert_eq!(actions.len(), 2, "two slashes, no new dispute: {actions:?}");
    // Only t[2] survives; no pair left.
    assert_eq!(job.phase(), Phase::ChallengeWindow);
    let s = settlement(&job.poll(520)).clone();
    assert_eq!(s.total_to(Account::Node(t[2])), 995_000 + 10_000);
    assert_eq!(s.burned(), 3_500 + 20_000);
    assert_conserves(&job);
}

#[test]
fn the_majority_arbiters_share_each_stake_their_verdict_slashed() {
    let (mut job, t, _) = committed_job(&[[1; 32], [2; 32], [3; 32]]);
    let (x, y) = (node(50), node(51));
    // Both lose: two stakes slashed, each paying the two majority arbiters.
    job.handle(
        30,
        Input::Verdict {
            a: t[0],
            b: t[1],
            winner: None,
            arbiters: vec![x, y],
        },
    )
    .unwrap();
    let s = settlement(&job.poll(520)).clone();
    // 10% of 10 000 is 1 000, 500 each, per slashed stake.
    let each = crate::fees::slash_split(10_000, false, 2).unwrap();
    assert_eq!((each.to_each_arbiter, each.burn), (500, 9_000));
    assert_eq!(s.total_to(Account::Node(x)), 1_000);
    assert_eq!(s.total_to(Account::Node(y)), 1_000);
    assert_eq!(s.burned(), 3_500 + 18_000);
    assert_eq!(s.total_to(Account::Node(t[2])), 995_000 + 10_000);
    assert_conserves(&job);
}

#[test]
fn missed_commit_deadline_is_absent_and_slashed() {
    let mut job = Job::new(params(2), 0).unwrap();
    let t = trainers(2);
    job.handle(
        10,
        Input::Assigned {
            trainers: t.clone(),
        },
    )
    .unwrap();
    job.handle(
        20,
        Input::Committed {
            trainer: t[1],
            root: [7; 32],
        },
    )
    .unwrap();
    assert!(job.poll(1_009).is_empty());
    // A late commitment is rejected.
    assert!(
        job.handle(
            1_010,
            Input::Committed {
                trainer: t[0],
                root: [7; 32]
            }
        )
        .is_err()
    );
    let actions = job.poll(1_010);
    assert_eq!(
        actions,
        vec![Action::Slash {
            node: t[0],
            winner: None,
            amount: 10_000
        }]
    );
    let s = settlement(&job.poll(1_510)).clone();
    assert_eq!(s.total_to(Account::Node(t[1])), 995_000 + 10_000);
    assert_eq!(s.burned(), 3_500 + 10_000);
    assert_conserves(&job);
}

#[test]
fn nobody_commits_or_assigns_refunds() {
    let mut job = Job::new(params(1), 0).unwrap();
    let s = settlement(&job.poll(100)).clone();
    assert_eq!(s.total_to(Account::Submitter), 1_000_000);
    assert_conserves(&job);

    let mut job = Job::new(params(1), 0).unwrap();
    job.handle(
        0,
        Input::Assigned {
            trainers: trainers(1),
        },
    )
    .unwrap();
    let actions = job.poll(1_000);
    assert!(matches!(actions[0], Action::Slash { .. }));
    assert_eq!(settlement(&actions).total_to(Account::Submitter), 1_000_000);
    assert_conserves(&job);
}

#[test]
fn verifier_challenge() {
    let v = node(50);
    // The verifier wins: the lone trainer is slashed, the submitter refunded.
    let (mut job, t, _) = committed_job(&[[7; 32]]);
    let actions = job
        .handle(
            100,
            Input::Challenge {
                challenger: v,
                trainer: t[0],
                stake: 2_000,
            },
        )
        .unwrap();
    assert_eq!(actions, vec![Action::OpenDispute { a: v, b: t[0] }]);
    let actions = job
        .handle(
            200,
            Input::Verdict {
                a: v,
                b: t[0],
                winner: Some(v),
                arbiters: vec![],
            },
        )
        .unwrap();
    let s = settlement(&actions);
    assert_eq!(s.total_to(Account::Submitter), 1_000_000);
    assert_eq!(s.total_to(Account::Node(v)), 2_000 + 5_000);
    assert_conserves(&job);

    // A false challenge: the verifier is slashed, half to the trainer.
    let (mut job, t, _) = committed_job(&[[7; 32]]);
    job.handle(
        100,
        Input::Challenge {
            challenger: v,
            trainer: t[0],
            stake: 2_000,
        },
    )
    .unwrap();
    job.handle(
        200,
        Input::Verdict {
            a: t[0],
            b: v,
            winner: Some(t[0]),
            arbiters: vec![],
        },
    )
    .unwrap();
    let s = settlement(&job.poll(520)).clone();
    assert_eq!(s.total_to(Account::Node(t[0])), 995_000 + 10_000 + 1_000);
    assert_eq!(s.burned(), 3_500 + 1_000);
    assert_conserves(&job);
}

/// Plays a verifier that has shown every root in `roots` wrong against a job whose
/// replicas committed `roots`: it challenges each trainer, wins every dispute it is a party
/// of, and replica disputes are won by the lower `NodeId`. Returns the final settlement.
fn all_dishonest_replicas(roots: &[Root]) -> (Job, Vec<NodeId>, NodeId) {
    let v = node(50);
    let (mut job, t, mut pending) = committed_job(roots);
    let mut now = 100;
    for tr in &t {
        // Every challenge is accepted: one per (challenger, trainer) pair.
        let actions = job
            .handle(
                now,
                Input::Challenge {
                    challenger: v,
                    trainer: *tr,
                    stake: 2_000,
                },
            )
            .expect("a verifier may challenge every trainer it has shown wrong");
        pending.extend(actions);
        now += 1;
    }
    // Resolve disputes as they open, until the job finalizes.
    for _ in 0..20 {
        let Some((a, b)) = job.open_dispute() else {
            break;
        };
        let winner = if a == v || b == v { v } else { a.min(b) };
        pending.extend(
            job.handle(
                now,
                Input::Verdict {
                    a,
                    b,
                    winner: Some(winner),
                    arbiters: vec![],
                },
            )
            .unwrap(),
        );
        now += 1;
    }
    pending.extend(job.poll(now.max(1_000)));
    assert_eq!(job.phase(), Phase::Finalized);
    (job, t, v)
}

#[test]
fn colluding_replicas_sharing_one_wrong_root_are_all_challenged_and_none_is_paid() {
    // Three colluders commit the same wrong root: no replica dispute; the verifier must be
    // able to challenge all three, and no root may be paid.
    let (job, t, v) = all_dishonest_replicas(&[[9; 32]; 3]);
    let s = job.settlement().expect("finalized");
    assert_eq!(
        s.total_to(Account::Submitter),
        1_000_000,
        "payment refunded"
    );
    for tr in &t {
        assert!(job.slashed().contains_key(tr), "every colluder slashed");
        assert_eq!(s.total_to(Account::Node(*tr)), 0);
    }
    assert!(!job.slashed().contains_key(&v));
    assert_conserves(&job);
}

#[test]
fn independent_cheaters_are_all_beaten_by_one_verifier() {
    // Three different wrong roots: replica disputes leave one survivor, which the
    // verifier's challenge (queued behind them) must still reach.
    let (job, t, v) = all_dishonest_replicas(&[[7; 32], [8; 32], [9; 32]]);
    let s = job.settlement().expect("finalized");
    assert_eq!(s.total_to(Account::Submitter), 1_000_000);
    for tr in &t {
        assert!(job.slashed().contains_key(tr), "every cheater slashed");
    }
    assert!(!job.slashed().contains_key(&v));
    assert_conserves(&job);
}

#[test]
fn challenges_are_one_per_pair_and_a_losing_challenger_loses_them_all() {
    let v = node(50);
    let (mut job, t, _) = committed_job(&[[7; 32]; 2]);
    let ch = |tr| Input::Challenge {
        challenger: v,
        trainer: tr,
        stake: 2_000,
    };
    job.handle(100, ch(t[0])).unwrap();
    let before = job.clone();
    assert!(job.handle(101, ch(t[0])).is_err(), "the same pair twice");
    assert_eq!(job, before);
    job.handle(102, ch(t[1])).unwrap();
    assert_eq!(job.bonded(), 2 * 10_000 + 4_000);
    // The verifier loses its first dispute: both of its stakes are slashed, its second
    // challenge is void, and the job finalizes at the end of the window.
    let (a, b) = job.open_dispute().expect("open");
    let actions = job
        .handle(
            200,
            Input::Verdict {
                a,
                b,
                winner: Some(t[0]),
                arbiters: vec![],
            },
        )
        .unwrap();
    assert!(
        actions
            .iter()
            .any(|x| matches!(x, Action::Slash { node, amount: 4_000, .. } if *node == v))
    );
    assert_eq!(job.open_dispute(), None);
    assert!(job.handle(201, ch(t[1])).is_err(), "a slashed challenger");
    let s = settlement(&job.poll(520)).clone();
    assert_eq!(s.total_to(Account::Node(t[0])), 497_500 + 10_000 + 2_000);
    assert_conserves(&job);
}

#[test]
fn challenges_are_accepted_after_the_window_while_a_dispute_is_open() {
    let v = node(50);
    let (mut job, t, _) = committed_job(&[[7; 32], [8; 32]]);
    assert_eq!(job.phase(), Phase::Disputed);
    // The window would have ended at 520; the replica dispute is still open.
    job.handle(
        600,
        Input::Challenge {
            challenger: v,
            trainer: t[0],
            stake: 2_000,
        },
    )
    .expect("accepted while a dispute is open");
    let (a, b) = job.open_dispute().expect("open");
    job.handle(
        700,
        Input::Verdict {
            a,
            b,
            winner: Some(t[0]),
            arbiters: vec![],
        },
    )
    .unwrap();
    // The verifier's challenge against the survivor opens next.
    assert_eq!(job.open_dispute(), Some((v, t[0])));
    job.handle(
        800,
        Input::Verdict {
            a: v,
            b: t[0],
            winner: Some(v),
            arbiters: vec![],
        },
    )
    .unwrap();
    assert_eq!(job.phase(), Phase::Finalized);
    assert_eq!(
        job.settlement()
            .expect("finalized")
            .total_to(Account::Submitter),
        1_000_000
    );
    assert_conserves(&job);
}

#[test]
fn invalid_transitions_are_rejected_unchanged() {
    let mut job = Job::new(params(2), 0).unwrap();
    let t = trainers(2);
    let before = job.clone();
    let bad = [
        Input::Committed {
            trainer: t[0],
            root: [0; 32],
        },
        Input::Verdict {
            a: t[0],
            b: t[1],
            winner: None,
            arbiters: vec![],
        },
        Input::Assigned {
            trainers: vec![t[0]],
        },
        Input::Assigned {
            trainers: vec![t[0], t[0]],
        },
        Input::Challenge {
            challenger: node(9),
            trainer: t[0],
            stake: 1,
        },
    ];
    for input in bad {
        assert!(job.handle(5, input).is_err());
        assert_eq!(job, before);
    }
    // Late assignment.
    assert!(
        job.handle(
            100,
            Input::Assigned {
                trainers: t.clone()
            }
        )
        .is_err()
    );
    job.handle(
        5,
        Input::Assigned {
            trainers: t.clone(),
        },
    )
    .unwrap();
    let before = job.clone();
    for input in [
        Input::Assigned {
            trainers: t.clone(),
        },
        Input::Committed {
            trainer: node(9),
            root: [0; 32],
        },
    ] {
        assert!(job.handle(6, input).is_err());
        assert_eq!(job, before);
    }
    job.handle(
        7,
        Input::Committed {
            trainer: t[0],
            root: [1; 32],
        },
    )
    .unwrap();
    assert!(
        job.handle(
            8,
            Input::Committed {
                trainer: t[0],
                root: [2; 32]
            }
        )
        .is_err()
    );
    assert!(Job::new(params(0), 0).is_err());
    let mut p = params(1);
    p.payment = u128::MAX;
    assert!(matches!(Job::new(p, 0), Err(ProtocolError::Overflow(_))));
}

#[derive(Debug, Clone)]
enum Op {
    Poll(u64),
    Assign(Vec<u8>),
    Commit(u8, u8),
    Challenge(u8, u8, u128),
    Verdict(u8, u8, u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0u64..400).prop_map(Op::Poll),
        proptest::collection::vec(0u8..6, 0..5).prop_map(Op::Assign),
        (0u8..6, 0u8..3).prop_map(|(t, r)| Op::Commit(t, r)),
        (0u8..8, 0u8..6, 0u128..1_000).prop_map(|(c, t, s)| Op::Challenge(c, t, s)),
        (0u8..8, 0u8..8, 0u8..3).prop_map(|(a, b, w)| Op::Verdict(a, b, w)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]
    #[test]
    fn random_inputs_never_panic_and_conserve(
        replicas in 1usize..4,
        payment in 0u128..=10u128.pow(28),
        stake in 0u128..=10u128.pow(24),
        ops in proptest::collection::vec(op(), 0..40),
    ) {
        let ids: Vec<NodeId> = (0..8).map(node).collect();
        let p = JobParams {
            payment,
            replicas,
            trainer_stake: stake,
            assign_timeout_ms: 300,
            commit_timeout_ms: 300,
            challenge_window_ms: 300,
        };
        let mut job = Job::new(p, 0).unwrap();
        let mut now = 0u64;
        let mut finals = 0;
        for op in ops {
            let res = match op {
                Op::Poll(dt) => {
                    now += dt;
                    Ok(job.poll(now))
                }
                Op::Assign(ix) => job.handle(now, Input::Assigned {
                    trainers: ix.iter().map(|i| ids[*i as usize]).collect(),
                }),
                Op::Commit(t, r) => job.handle(now, Input::Committed {
                    trainer: ids[t as usize],
                    root: [r; 32],
                }),
                Op::Challenge(c, t, s) => job.handle(now, Input::Challenge {
                    challenger: ids[c as usize],
                    trainer: ids[t as usize],
                    stake: s,
                }),
                Op::Verdict(a, b, w) => {
                    // Half the time, answer the open dispute.
                    let (a, b) = match job.open_dispute() {
                        Some(d) if a % 2 == 0 => d,
                        _ => (ids[a as usize], ids[b as usize]),
                    };
                    let winner = match w { 0 => Some(a), 1 => Some(b), _ => None };
                    job.handle(now, Input::Verdict { a, b, winner, arbiters: vec![] })
                }
            };
            match res {
                Ok(actions) => {
                    finals += actions
                        .iter()
                        .filter(|a| matches!(a, Action::Finalize { .. }))
                        .count();
                }
                Err(e) => {
                    prop_assert!(matches!(e, ProtocolError::InvalidTransition { .. }), "{e}");
                }
            }
        }
        prop_assert!(finals <= 1);
        if let Some(s) = job.settlement() {
            prop_assert_eq!(finals, 1);
            prop_assert_eq!(s.total_from(Account::Escrow), payment);
            let from_stakes: u128 = s
                .transfers
                .iter()
                .filter(|t| matches!(t.from, Account::Stake(_)))
                .map(|t| t.amount)
                .sum();
            prop_assert_eq!(from_stakes, job.bonded());
            let f = fee_split(payment).unwrap();
            let paid = s.total_to(Account::Treasury);
            prop_assert!(paid == f.treasury || s.total_to(Account::Submitter) == payment);
        }
    }
}
