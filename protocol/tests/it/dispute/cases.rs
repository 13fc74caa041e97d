//! One test per strategy, with the exact resolution it must reach.

use pinpoint_protocol::dispute::strategy::{Corruption, Deviation, Strategy};
use pinpoint_protocol::dispute::{
    Deadlines, JobReexec, Party, Referee, round_bound, round_bound_equal_final,
};
use pinpoint_protocol::wire::{Fault, Resolution};

use super::fixtures::*;

fn cheat(corruption: Corruption, deviation: Deviation) -> Player {
    Player::Cheat(Strategy {
        corruption,
        deviation,
        salt: 0,
    })
}

/// The honest party (key 1 or 2) against `c`, both orders; returns both reports.
fn against_honest(j: usize, c: Player) -> [pinpoint_protocol::dispute::driver::DisputeReport; 2] {
    let r1 = dispute(j, Player::Honest, c);
    assert_eq!(winner(&r1), Some(id(1)), "{:?}", r1.verdict);
    let r2 = dispute(j, c, Player::Honest);
    assert_eq!(winner(&r2), Some(id(2)), "{:?}", r2.verdict);
    for r in [&r1, &r2] {
        assert!(
            r.rounds <= round_bound(steps(j), nodes(j)),
            "{} rounds",
            r.rounds
        );
    }
    [r1, r2]
}

#[test]
fn honest_parties_have_equal_roots_and_cannot_dispute() {
    let a = Party::from_source(Box::new(honest(0))).unwrap();
    let b =
        Party::new(pinpoint_protocol::dispute::RunRecord::honest(&spec(0), None).unwrap()).unwrap();
    assert_eq!(a.root(), b.root());
    assert!(
        Referee::new(
            JOB,
            (id(1), a.root()),
            (id(2), b.root()),
            steps(0),
            0,
            Deadlines::default(),
            JobReexec::new(&spec(0), None).unwrap(),
        )
        .is_err()
    );
}

#[test]
fn wrong_state_from_step_t_loses_at_the_state_assembly_of_step_t() {
    let j = 0;
    for t in 1..=steps(j) {
        let [r, _] = against_honest(
            j,
            cheat(Corruption::WrongStateFrom { step: t }, Deviation::None),
        );
        match r.verdict.resolution {
            Resolution::Recomputed { step, node, .. } => {
                assert_eq!((step, node), (t - 1, nodes(j) + 1))
            }
            other => panic!("t = {t}: {other:?}"),
        }
    }
}

#[test]
fn one_wrong_node_output_is_found_and_loses() {
    for j in [0, 3] {
        let n = nodes(j);
        for (t, i) in [(1, 1), (3.min(steps(j)), n / 2), (steps(j), n), (2, 2)] {
            let [r, _] = against_honest(
                j,
                cheat(Corruption::WrongNode { step: t, node: i }, Deviation::None),
            );
            match r.verdict.resolution {
                Resolution::Recomputed { step, node, .. } => assert_eq!((step, node), (t - 1, i)),
                other => panic!("{other:?}"),
            }
            assert!(r.bytes > 0 && r.messages > 0 && r.refused == 0);
        }
    }
}

#[test]
fn equal_final_state_with_different_roots_is_still_disputed() {
    let j = 0;
    for t in 1..steps(j) {
        let c = cheat(Corruption::WrongIntermediate { step: t }, Deviation::None);
        for r in [dispute(j, Player::Honest, c), dispute(j, c, Player::Honest)] {
            let honest_id = if winner(&r) == Some(id(1)) { 1 } else { 2 };
            assert!(winner(&r).is_some(), "{:?}", r.verdict);
            assert!(r.rounds <= round_bound_equal_final(steps(j), nodes(j)));
            // The cheater's wrong leaf t is settled at the state assembly of step t - 1.
            match r.verdict.resolution {
                Resolution::Recomputed { step, node, .. } => {
                    assert_eq!((step, node), (t - 1, nodes(j) + 1), "winner {honest_id}")
                }
                other => panic!("t = {t}: {other:?}"),
            }
        }
        let r = dispute(j, Player::Honest, c);
        assert_eq!(winner(&r), Some(id(1)));
        let r = dispute(j, c, Player::Honest);
        assert_eq!(winner(&r), Some(id(2)));
    }
}

fn assert_forfeit(
    r: &pinpoint_protocol::dispute::driver::DisputeReport,
    offender: u8,
    fault: Fault,
) {
    assert_eq!(
        r.verdict.resolution,
        Resolution::Forfeit {
            offender: id(offender),
            fault
        },
        "{:?}",
        r.verdict
    );
}

#[test]
fn lies_during_step_bisection_fail_their_proof() {
    for answer in 0..3 {
        let [r1, r2] = against_honest(
            0,
            cheat(
                Corruption::WrongNode { step: 4, node: 3 },
                Deviation::LieInStepBisection { answer },
            ),
        );
        assert_forfeit(&r1, 2, Fault::BadProof);
        assert_forfeit(&r2, 1, Fault::BadProof);
    }
}

#[test]
fn lies_during_node_bisection_fail_their_proof() {
    for answer in 0..3 {
        let [r1, _] = against_honest(
            3,
            cheat(
                Corruption::WrongStateFrom { step: 2 },
                Deviation::LieInNodeBisection { answer },
            ),
        );
        assert_forfeit(&r1, 2, Fault::BadProof);
    }
}

#[test]
fn a_bad_proof_forfeits() {
    let [r1, _] = against_honest(
        0,
        cheat(Corruption::WrongStateFrom { step: 4 }, Deviation::BadProof),
    );
    assert_forfeit(&r1, 2, Fault::BadProof);
}

#[test]
fn a_wrong_input_tensor_with_a_matching_proof_is_refused() {
    for j in [0, 3] {
        let n = nodes(j);
        // Every node position of one step (inputs from the state, the batch, constants and
        // earlier nodes), and the state assembly.
        for i in 1..=n {
            let [r1, _] = against_honest(
                j,
                cheat(
                    Corruption::WrongNode { step: 2, node: i },
                    Deviation::WrongInput,
                ),
            );
            assert_forfeit(&r1, 2, Fault::BadInput);
        }
        let [r1, _] = against_honest(
            j,
            cheat(
                Corruption::WrongStateFrom { step: 2 },
                Deviation::WrongInput,
            ),
        );
        assert_forfeit(&r1, 2, Fault::BadInput);
    }
}

#[test]
fn silence_forfeits_after_the_retries() {
    let j = 0;
    for from_round in [0, 2, 5] {
        let [r, _] = against_honest(
            j,
            cheat(
                Corruption::WrongStateFrom { step: 2 },
                Deviation::Silent { from_round },
            ),
        );
        assert_forfeit(&r, 2, Fault::Timeout);
        let d = Deadlines::default();
        assert_eq!(r.elapsed_ms, d.answer_ms * u64::from(d.max_retries + 1));
        assert_eq!(r.rounds, from_round + 1);
    }
}

#[test]
fn equivocation_is_caught_and_punished() {
    let [r1, r2] = against_honest(
        0,
        cheat(
            Corruption::WrongNode { step: 3, node: 2 },
            Deviation::Equivocate,
        ),
    );
    assert_forfeit(&r1, 2, Fault::Equivocation);
    assert_forfeit(&r2, 1, Fault::Equivocation);
}

#[test]
fn both_dishonest_at_the_same_position_both_lose() {
    let j = 0;
    for corruption in [
        Corruption::WrongNode { step: 6, node: 3 },
        Corruption::WrongStateFrom { step: 3 },
    ] {
        let a = Player::Cheat(Strategy {
            corruption,
            deviation: Deviation::None,
            salt: 0,
        });
        let b = Player::Cheat(Strategy {
            corruption,
            deviation: Deviation::None,
            salt: 1,
        });
        let r = dispute(j, a, b);
        assert_eq!(winner(&r), None, "{:?}", r.verdict);
        assert!(matches!(
            r.verdict.resolution,
            Resolution::Recomputed { .. }
        ));
    }
    // Both silent: both time out.
    let s = |salt| {
        Player::Cheat(Strategy {
            corruption: Corruption::WrongStateFrom { step: 3 },
            deviation: Deviation::Silent { from_round: 1 },
            salt,
        })
    };
    let r = dispute(j, s(0), s(1));
    assert_eq!(winner(&r), None, "{:?}", r.verdict);
}

/// The network loses the node-phase start sent to the honest party: the referee re-sends it
/// with the re-asked node query, so the honest party still answers and wins (a lost message
/// must never make an honest party forfeit).
#[test]
fn a_lost_node_phase_start_is_re_sent_with_the_re_asked_query() {
    use pinpoint_protocol::dispute::strategy::Corrupted;
    use pinpoint_protocol::dispute::{Action, RunSource};
    use pinpoint_protocol::wire::Message;

    let j = 0;
    let honest_party = Party::from_source(Box::new(honest(j))).unwrap();
    let bad: Box<dyn RunSource> = Box::new(
        Corrupted::new(
            Box::new(honest(j)),
            Corruption::WrongNode { step: 2, node: 3 },
            0,
        )
        .unwrap(),
    );
    let cheater = Party::from_source(bad).unwrap();
    let deadlines = Deadlines {
        answer_ms: 100,
        max_retries: 2,
    };
    let (mut referee, first) = Referee::new(
        JOB,
        (id(1), honest_party.root()),
        (id(2), cheater.root()),
        steps(j),
        0,
        deadlines,
        JobReexec::new(&spec(j), None).unwrap(),
    )
    .unwrap();
    let mut parties = [(id(1), honest_party), (id(2), cheater)];
    let mut queue: std::collections::VecDeque<Action> = first.into();
    let mut now = 0u64;
    let mut dropped = 0;
    let verdict = loop {
        let Some(action) = queue.pop_front() else {
            now = referee
                .next_deadline()
                .expect("a pending query has a deadline");
            queue.extend(referee.poll(now));
            continue;
        };
        match action {
            Action::Verdict(v) => break v,
            Action::Send { to, msg } => {
                if to == id(1) && matches!(msg, Message::NodePhaseStart(_)) && dropped == 0 {
                    dropped += 1;
                    continue;
                }
                let (from, party) = parties
                    .iter_mut()
                    .find(|(pid, _)| *pid == to)
                    .expect("the referee only writes to the parties");
                if let Ok(Some(answer)) = party.handle(&msg) {
                    let from = *from;
                    queue.extend(referee.handle(now, &from, answer).unwrap());
                }
            }
        }
    };
    assert_eq!(dropped, 1, "the test must really drop the phase start");
    assert!(
        matches!(verdict.outcome, pinpoint_protocol::wire::Outcome::Winner { winner, .. } if winner == id(1)),
        "{verdict:?}"
    );
}
