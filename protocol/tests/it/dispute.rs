//! Disputes over a tiny real training job: honest parties always win, cheaters always lose,
//! and every dispute ends within the round bound.

use pinpoint_kernels::TensorHash;
use pinpoint_kernels::train::{JobSpec, LoadedSpec};
use pinpoint_protocol::ProtocolError;
use pinpoint_protocol::dispute::driver::{DisputeReport, RecordOracle, run};
use pinpoint_protocol::dispute::{
    Action, Deadlines, Party, Referee, RunRecord, Tamper, round_bound,
};
use pinpoint_protocol::id::{NodeId, NodeKey};
use pinpoint_protocol::wire::Message;
use pinpoint_protocol::wire::{Fault, Outcome, Resolution};
use std::sync::OnceLock;

const T: u64 = 12;

fn spec() -> JobSpec {
    let text = format!(
        r#"
seed = 5
steps = {T}
checkpoint_every = {T}
batch_size = 4
[model]
kind = "mlp"
input = 2
hidden = [4]
classes = 2
activation = "relu"
[data]
kind = "spirals"
classes = 2
turns = 0.5
noise = 0.0
[optimizer]
kind = "adamw"
lr = 0.01
beta1 = 0.9
beta2 = 0.99
eps = 1e-8
weight_decay = 0.0
[schedule]
warmup_steps = 4
[eval]
every = {T}
batches = 1
batch_size = 8
"#
    );
    LoadedSpec::from_toml_str(&text).unwrap().spec
}

fn honest() -> &'static RunRecord {
    static R: OnceLock<RunRecord> = OnceLock::new();
    R.get_or_init(|| RunRecord::honest(&spec(), None).unwrap())
}

fn id(seed: u8) -> NodeId {
    NodeKey::from_seed([seed; 32]).node_id()
}

fn flip(h: &mut [u8; 32], salt: u8) {
    h[0] ^= 1 + salt;
}

/// The cheater's record: states from step `t` on are wrong.
fn wrong_state_from(t: usize, salt: u8) -> RunRecord {
    let mut r = honest().clone();
    for h in &mut r.state_hashes[t..] {
        flip(h, salt);
    }
    r
}

/// The cheater's record: node `i` (0-based) of step `t` has a wrong output, hence wrong states
/// from `t` on.
fn wrong_node(t: usize, i: usize, salt: u8) -> RunRecord {
    let mut r = wrong_state_from(t, salt);
    let TensorHash(h) = &mut r.steps[t - 1].node_hashes[i];
    flip(h, salt);
    r
}

fn dispute(a: (RunRecord, Tamper), b: (RunRecord, Tamper)) -> (DisputeReport, [NodeId; 2]) {
    let ids = [id(1), id(2)];
    let pa = Party::new(a.0, a.1).unwrap();
    let pb = Party::new(b.0, b.1).unwrap();
    let (ra, rb) = (pa.root(), pb.root());
    let (referee, actions) = Referee::new(
        [7; 32],
        (ids[0], ra),
        (ids[1], rb),
        T,
        1_000,
        Deadlines::default(),
        RecordOracle(honest().clone()),
    )
    .unwrap();
    let mut parties = [(ids[0], pa), (ids[1], pb)];
    let report = run(referee, actions, &mut parties, 1_000).unwrap();
    let n = honest().steps[0].graph.nodes.len() as u64;
    assert!(
        report.rounds <= round_bound(T, n),
        "{} rounds > bound {}",
        report.rounds,
        round_bound(T, n)
    );
    (report, ids)
}

fn winner(r: &DisputeReport) -> Option<NodeId> {
    match r.verdict.outcome {
        Outcome::Winner { winner, .. } => Some(winner),
        Outcome::BothLose { .. } => None,
    }
}

#[test]
fn honest_parties_have_equal_roots_and_cannot_dispute() {
    let a = Party::new(honest().clone(), Tamper::None).unwrap();
    let b = Party::new(RunRecord::honest(&spec(), None).unwrap(), Tamper::None).unwrap();
    assert_eq!(a.root(), b.root());
    assert!(
        Referee::new(
            [7; 32],
            (id(1), a.root()),
            (id(2), b.root()),
            T,
            0,
            Deadlines::default(),
            RecordOracle(honest().clone()),
        )
        .is_err()
    );
}

#[test]
fn wrong_state_from_step_t_loses_at_step_t_minus_1() {
    for t in 1..=T as usize {
        for cheater_first in [false, true] {
            let cheat = (wrong_state_from(t, 0), Tamper::None);
            let good = (honest().clone(), Tamper::None);
            let (r, ids) = if cheater_first {
                dispute(cheat, good)
            } else {
                dispute(good, cheat)
            };
            let honest_id = if cheater_first { ids[1] } else { ids[0] };
            assert_eq!(winner(&r), Some(honest_id), "t = {t}: {:?}", r.verdict);
            let n = honest().steps[0].graph.nodes.len() as u64;
            match r.verdict.resolution {
                Resolution::Recomputed { step, node, .. } => {
                    assert_eq!((step, node), (t as u64 - 1, n + 1));
                }
                other => panic!("t = {t}: {other:?}"),
            }
        }
    }
}

#[test]
fn one_wrong_node_output_is_found_and_loses() {
    let n = honest().steps[0].graph.nodes.len();
    let mut worst = 0;
    for (t, i) in [(1, 0), (3, n / 2), (7, n - 1), (T as usize, 1), (5, 3)] {
        let (r, ids) = dispute(
            (honest().clone(), Tamper::None),
            (wrong_node(t, i, 0), Tamper::None),
        );
        assert_eq!(winner(&r), Some(ids[0]), "{:?}", r.verdict);
        match r.verdict.resolution {
            Resolution::Recomputed { step, node, .. } => {
                assert_eq!((step, node), (t as u64 - 1, i as u64 + 1));
            }
            other => panic!("{other:?}"),
        }
        worst = worst.max(r.rounds);
        assert!(r.bytes > 0 && r.messages > 0);
    }
    eprintln!(
        "T = {T}, N = {n}: worst {worst} rounds, bound {}",
        round_bound(T, n as u64)
    );
}

#[test]
fn a_bad_proof_forfeits() {
    let (r, ids) = dispute(
        (wrong_state_from(4, 0), Tamper::BadProof),
        (honest().clone(), Tamper::None),
    );
    assert_eq!(winner(&r), Some(ids[1]));
    assert_eq!(
        r.verdict.resolution,
        Resolution::Forfeit {
            offender: ids[0],
            fault: Fault::BadProof
        }
    );
}

#[test]
fn silence_forfeits_after_the_retries() {
    let (r, ids) = dispute(
        (honest().clone(), Tamper::None),
        (wrong_state_from(2, 0), Tamper::Silent),
    );
    assert_eq!(winner(&r), Some(ids[0]));
    assert_eq!(
        r.verdict.resolution,
        Resolution::Forfeit {
            offender: ids[1],
            fault: Fault::Timeout
        }
    );
    let d = Deadlines::default();
    assert_eq!(r.elapsed_ms, d.answer_ms * u64::from(d.max_retries + 1));
    // One query, re-sent twice, to each party; the honest one answers each time.
    assert_eq!(r.rounds, 1);
}

#[test]
fn both_dishonest_both_lose() {
    let (r, _) = dispute(
        (wrong_node(6, 2, 0), Tamper::None),
        (wrong_node(6, 2, 1), Tamper::None),
    );
    assert_eq!(winner(&r), None, "{:?}", r.verdict);
    assert!(matches!(
        r.verdict.resolution,
        Resolution::Recomputed {
            step: 5,
            node: 3,
            ..
        }
    ));
    // Different lies about the state only: both fail the state re-computation.
    let (r, _) = dispute(
        (wrong_state_from(3, 0), Tamper::None),
        (wrong_state_from(3, 1), Tamper::None),
    );
    assert_eq!(winner(&r), None, "{:?}", r.verdict);
}

fn referee_for(a: &Party, b: &Party) -> (Referee<RecordOracle>, Vec<Action>) {
    Referee::new(
        [7; 32],
        (id(1), a.root()),
        (id(2), b.root()),
        T,
        0,
        Deadlines::default(),
        RecordOracle(honest().clone()),
    )
    .unwrap()
}

fn first_query(actions: &[Action]) -> Message {
    match &actions[0] {
        Action::Send { msg, .. } => msg.clone(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn strangers_are_refused_and_unsolicited_answers_ignored() {
    let mut a = Party::new(honest().clone(), Tamper::None).unwrap();
    let b = Party::new(wrong_state_from(3, 0), Tamper::None).unwrap();
    let (mut r, actions) = referee_for(&a, &b);
    assert_eq!(actions.len(), 2);
    let answer = a.handle(&first_query(&actions)).unwrap().unwrap();
    assert!(matches!(
        r.handle(0, &id(9), answer.clone()),
        Err(ProtocolError::InvalidTransition { .. })
    ));
    assert!(r.handle(0, &id(1), answer.clone()).unwrap().is_empty());
    // A second copy while the other party has not answered: nothing outstanding, ignored.
    assert!(r.handle(0, &id(1), answer).unwrap().is_empty());
    assert!(r.verdict().is_none());
}

#[test]
fn a_malformed_answer_forfeits() {
    let a = Party::new(honest().clone(), Tamper::None).unwrap();
    let b = Party::new(wrong_state_from(3, 0), Tamper::None).unwrap();
    let (mut r, _) = referee_for(&a, &b);
    let out = r
        .handle(
            0,
            &id(2),
            Message::InputQuery(pinpoint_protocol::wire::InputQuery { index: 1 }),
        )
        .unwrap();
    match &out[..] {
        [Action::Verdict(v)] => assert_eq!(
            v.resolution,
            Resolution::Forfeit {
                offender: id(2),
                fault: Fault::Malformed
            }
        ),
        other => panic!("{other:?}"),
    }
    // Done: everything afterwards is ignored and polling emits nothing.
    assert!(r.poll(u64::MAX).is_empty());
}

#[test]
fn a_second_chain_root_is_equivocation() {
    let mut a = Party::new(honest().clone(), Tamper::None).unwrap();
    let mut b = Party::new(wrong_state_from(3, 0), Tamper::None).unwrap();
    let (mut r, mut actions) = referee_for(&a, &b);
    // Drive until the first node query; answer the second node query of party b with a
    // different chain root.
    let mut node_answers = 0;
    let mut queue: std::collections::VecDeque<Action> = actions.drain(..).collect();
    while let Some(action) = queue.pop_front() {
        let Action::Send { to, msg } = action else {
            panic!("verdict too early: {action:?}")
        };
        let party = if to == id(1) { &mut a } else { &mut b };
        let Some(mut answer) = party.handle(&msg).unwrap() else {
            continue;
        };
        if let Message::NodeAnswer(n) = &mut answer
            && to == id(2)
        {
            node_answers += 1;
            if node_answers == 2 {
                n.chain_root = Some([0xAB; 32]);
                let out = r.handle(0, &to, answer).unwrap();
                match &out[..] {
                    [Action::Verdict(v)] => assert_eq!(
                        v.resolution,
                        Resolution::Forfeit {
                            offender: id(2),
                            fault: Fault::Equivocation
                        }
                    ),
                    other => panic!("{other:?}"),
                }
                return;
            }
        }
        queue.extend(r.handle(0, &to, answer).unwrap());
    }
    panic!("never reached the second node answer");
}

#[test]
fn seeded_cases_honest_always_wins_within_the_bound() {
    let n = honest().steps[0].graph.nodes.len();
    let mut s: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = |m: u64| {
        s = s
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (s >> 33) % m
    };
    let (mut worst, mut bytes) = (0, 0);
    for case in 0..300 {
        let t = 1 + next(T) as usize;
        let i = next(n as u64) as usize;
        let salt = next(200) as u8;
        let (record, tamper) = match next(4) {
            0 => (wrong_state_from(t, salt), Tamper::None),
            1 => (wrong_node(t, i, salt), Tamper::None),
            2 => (wrong_node(t, i, salt), Tamper::BadProof),
            _ => (wrong_state_from(t, salt), Tamper::Silent),
        };
        let cheater_first = next(2) == 0;
        let good = (honest().clone(), Tamper::None);
        let (r, ids) = if cheater_first {
            dispute((record, tamper), good)
        } else {
            dispute(good, (record, tamper))
        };
        let honest_id = ids[usize::from(cheater_first)];
        assert_eq!(winner(&r), Some(honest_id), "case {case}: {:?}", r.verdict);
        worst = worst.max(r.rounds);
        bytes = bytes.max(r.bytes);
    }
    eprintln!(
        "300 cases, T = {T}, N = {n}: worst {worst} rounds (bound {}), most bytes {bytes}",
        round_bound(T, n as u64)
    );
}

#[test]
fn late_copies_of_earlier_answers_are_ignored() {
    let mut a = Party::new(honest().clone(), Tamper::None).unwrap();
    let mut b = Party::new(wrong_state_from(3, 0), Tamper::None).unwrap();
    let (mut r, actions) = referee_for(&a, &b);
    let q = first_query(&actions);
    let (aa, ab) = (
        a.handle(&q).unwrap().unwrap(),
        b.handle(&q).unwrap().unwrap(),
    );
    r.handle(0, &id(1), aa.clone()).unwrap();
    let next = r.handle(0, &id(2), ab).unwrap();
    assert!(!next.is_empty() && r.verdict().is_none());
    // Round 0's answer arrives again during round 1: ignored.
    assert!(r.handle(0, &id(1), aa).unwrap().is_empty());
    assert!(r.verdict().is_none());
}
