//! Signed messages: forgeries and replays are ignored (an honest party cannot be made to lose
//! by someone else's messages); a party's own validly signed contradictions are equivocation.

use pinpoint_protocol::ProtocolError;
use pinpoint_protocol::dispute::driver::{Respond, run};
use pinpoint_protocol::dispute::strategy::{Corruption, Deviation, Strategy};
use pinpoint_protocol::dispute::{Action, Answerer};
use pinpoint_protocol::id::NodeId;
use pinpoint_protocol::wire::{Fault, JobCommit, Message, Resolution, SignedMessage};

use super::fixtures::*;

/// Wraps an honest party; before each of its answers, injects (1) a forgery in its name
/// (signed by mallory, signer field rewritten), (2) a replay of its previous answer and (3) a
/// message validly signed by mallory, a stranger.
struct Forger {
    inner: Box<dyn Respond>,
    last: Option<SignedMessage>,
    mallory_seq: u64,
}

impl Respond for Forger {
    fn id(&self) -> NodeId {
        self.inner.id()
    }

    fn respond(&mut self, msg: &SignedMessage) -> Vec<SignedMessage> {
        let real = self.inner.respond(msg);
        let mut out = Vec::new();
        for answer in &real {
            self.mallory_seq += 1;
            let mut lie = answer.statement.clone();
            if let Message::StepAnswer(a) = &mut lie {
                a.state_hash[0] ^= 1;
            }
            if let Message::NodeAnswer(a) = &mut lie {
                a.link[0] ^= 1;
            }
            let mut forged = lie
                .clone()
                .sign(
                    &key(66),
                    JOB,
                    answer.round,
                    answer.seq + 1000 + self.mallory_seq,
                )
                .unwrap();
            forged.signer = self.inner.id();
            out.push(forged);
            if let Some(prev) = &self.last {
                out.push(prev.clone());
            }
            out.push(
                lie.sign(&key(66), JOB, answer.round, self.mallory_seq)
                    .unwrap(),
            );
        }
        out.extend(real.iter().cloned());
        // A replay of this very answer right after it.
        out.extend(real.iter().cloned());
        self.last = real.last().cloned();
        out
    }
}

#[test]
fn forgeries_and_replays_are_refused_and_cannot_make_the_honest_party_lose() {
    let j = 0;
    for corruption in [
        Corruption::WrongNode { step: 5, node: 2 },
        Corruption::WrongStateFrom { step: 9 },
    ] {
        let strategy = Strategy {
            corruption,
            deviation: Deviation::None,
            salt: 3,
        };
        let (honest_party, ra) = build(j, 1, Player::Honest);
        let mut a = Forger {
            inner: honest_party,
            last: None,
            mallory_seq: 0,
        };
        let (mut b, rb) = build(j, 2, Player::Cheat(strategy));
        let (r, actions) = referee(j, ra, rb);
        let report = run(r, actions, &key(REFEREE), [&mut a, b.as_mut()], 0).unwrap();
        assert_eq!(winner(&report), Some(id(1)), "{:?}", report.verdict);
        assert!(matches!(
            report.verdict.resolution,
            Resolution::Recomputed { .. }
        ));
        assert!(report.refused >= 3 * u64::from(report.rounds), "{report:?}");
    }
}

fn first_query(actions: &[Action]) -> Message {
    match &actions[0] {
        Action::Send { msg, .. } => msg.clone(),
        other => panic!("{other:?}"),
    }
}

fn honest_answerer(seed: u8) -> Answerer {
    let party = pinpoint_protocol::dispute::Party::from_source(Box::new(honest(0))).unwrap();
    Answerer::new(key(seed), JOB, id(REFEREE), party)
}

#[test]
fn signature_job_and_stranger_checks_come_first() {
    let mut a = honest_answerer(1);
    let (cheat, rb) = build(
        0,
        2,
        Player::Cheat(Strategy {
            corruption: Corruption::WrongStateFrom { step: 3 },
            deviation: Deviation::None,
            salt: 0,
        }),
    );
    drop(cheat);
    let (mut r, actions) = referee(0, a.party().root(), rb);
    let q = first_query(&actions)
        .sign(&key(REFEREE), JOB, r.round(), 1)
        .unwrap();
    let answer = a.respond(&q).unwrap().unwrap();
    // Tampered after signing.
    let mut bad = answer.clone();
    if let Message::StepAnswer(s) = &mut bad.statement {
        s.state_hash[1] ^= 1;
    }
    assert!(matches!(
        r.handle_signed(0, &bad),
        Err(ProtocolError::BadSignature(_))
    ));
    // Signed for another job.
    let other = answer
        .statement
        .clone()
        .sign(&key(1), [8; 32], 0, 50)
        .unwrap();
    assert!(matches!(
        r.handle_signed(0, &other),
        Err(ProtocolError::InvalidArgument(_))
    ));
    // A stranger.
    let stranger = answer.statement.clone().sign(&key(9), JOB, 0, 1).unwrap();
    assert!(matches!(
        r.handle_signed(0, &stranger),
        Err(ProtocolError::InvalidTransition { .. })
    ));
    // A forged commitment in the honest party's name: refused, nobody punished.
    let commit = Message::JobCommit(JobCommit {
        job: JOB,
        trainer: id(1),
        root: [1; 32],
        steps: steps(0),
        final_state_hash: [2; 32],
    });
    let mut forged = commit.clone().sign(&key(9), JOB, 0, 1).unwrap();
    forged.signer = id(1);
    assert!(matches!(
        r.handle_signed(0, &forged),
        Err(ProtocolError::BadSignature(_))
    ));
    assert!(r.verdict().is_none());
    // The real answer is accepted; its replay is refused; a re-signed identical copy ignored.
    assert!(r.handle_signed(0, &answer).unwrap().is_empty());
    assert!(matches!(
        r.handle_signed(0, &answer),
        Err(ProtocolError::Replay(_))
    ));
    let again = a.sign(answer.statement.clone(), answer.round).unwrap();
    assert!(r.handle_signed(0, &again).unwrap().is_empty());
    assert!(r.verdict().is_none());
    // The honest party relaying its own commitment is not an offence either.
    let own = Message::JobCommit(JobCommit {
        job: JOB,
        trainer: id(1),
        root: a.party().root(),
        steps: steps(0),
        final_state_hash: [0; 32],
    });
    let own = a.sign(own, 0).unwrap();
    assert!(r.handle_signed(0, &own).unwrap().is_empty());
    assert!(r.verdict().is_none());
}

#[test]
fn two_different_signed_answers_for_one_round_are_equivocation() {
    let mut a = honest_answerer(1);
    let (_, rb) = build(
        0,
        2,
        Player::Cheat(Strategy {
            corruption: Corruption::WrongStateFrom { step: 3 },
            deviation: Deviation::None,
            salt: 0,
        }),
    );
    let (mut r, actions) = referee(0, a.party().root(), rb);
    let q = first_query(&actions)
        .sign(&key(REFEREE), JOB, r.round(), 1)
        .unwrap();
    let answer = a.respond(&q).unwrap().unwrap();
    r.handle_signed(0, &answer).unwrap();
    let mut other = answer.statement.clone();
    if let Message::StepAnswer(s) = &mut other {
        s.state_hash[0] ^= 1;
    }
    let other = a.sign(other, answer.round).unwrap();
    let out = r.handle_signed(0, &other).unwrap();
    match &out[..] {
        [Action::Verdict(v)] => assert_eq!(
            v.resolution,
            Resolution::Forfeit {
                offender: id(1),
                fault: Fault::Equivocation
            }
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_message_that_answers_no_open_query_is_ignored_and_silence_then_forfeits() {
    // Issue 16, defect 2: the referee judges only answers to the query now open. Anything else
    // a party sends (here a query, not an answer) changes nothing; a party that never answers
    // then loses by timeout, and the referee stays done.
    let a = honest_answerer(1);
    let (_, rb) = build(
        0,
        2,
        Player::Cheat(Strategy {
            corruption: Corruption::WrongStateFrom { step: 3 },
            deviation: Deviation::None,
            salt: 0,
        }),
    );
    let (mut r, _) = referee(0, a.party().root(), rb);
    let wrong = Message::InputQuery(pinpoint_protocol::wire::InputQuery { index: 1 })
        .sign(&key(2), JOB, 0, 1)
        .unwrap();
    assert!(r.handle_signed(0, &wrong).unwrap().is_empty());
    assert!(r.verdict().is_none());
    let mut verdicts = Vec::new();
    for _ in 0..16 {
        let Some(d) = r.next_deadline() else { break };
        verdicts.extend(r.poll(d).into_iter().filter_map(|x| match x {
            Action::Verdict(v) => Some(v),
            Action::Send { .. } => None,
        }));
    }
    match &verdicts[..] {
        // Neither party answered: both time out (the malformed message did not decide it).
        [v] => assert!(
            matches!(v.outcome, pinpoint_protocol::wire::Outcome::BothLose { .. })
                && !matches!(
                    v.resolution,
                    Resolution::Forfeit {
                        fault: Fault::Malformed,
                        ..
                    }
                ),
            "{v:?}"
        ),
        other => panic!("{other:?}"),
    }
    assert!(r.poll(u64::MAX).is_empty());
}
