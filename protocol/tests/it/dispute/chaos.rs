//! Late, duplicated and reordered messages (issue 16, defect 2): the referee is driven by a
//! network that duplicates the referee's queries and the parties' answers, delivers the
//! answers in flight in random order, and re-delivers random earlier messages of either
//! party (every message type, at every phase) at random points. The honest party must still
//! win every dispute, on the signed path ([`Referee::handle_signed`]) and on the
//! authenticated-link path ([`Referee::handle`]) alike.

use std::collections::VecDeque;

use pinpoint_protocol::dispute::Action;
use pinpoint_protocol::dispute::strategy::Strategy;
use pinpoint_protocol::wire::{Outcome, SignedMessage, Verdict};

use super::fixtures::*;

/// How the chaotic network treats messages.
#[derive(Debug, Clone, Copy)]
struct Chaos {
    /// Percent of referee queries delivered twice (the party answers each copy).
    dup_query_pct: u64,
    /// Percent of answers delivered twice.
    dup_answer_pct: u64,
    /// Percent chance, before each delivery, of re-delivering a random earlier message.
    stale_pct: u64,
    /// Whether answers go through the signed path.
    signed: bool,
}

/// Runs the dispute of job `j` between `a` (key 1) and `b` (key 2) over a chaotic network.
fn chaotic_dispute(j: usize, a: Player, b: Player, chaos: Chaos, g: &mut Gen) -> (Verdict, u64) {
    let (mut pa, ra) = build(j, 1, a);
    let (mut pb, rb) = build(j, 2, b);
    let (mut referee, actions) = referee(j, ra, rb);
    let referee_key = key(REFEREE);
    let mut now = 1_000u64;
    let mut seq = 0u64;
    let mut queue: VecDeque<Action> = actions.into();
    let mut in_flight: Vec<SignedMessage> = Vec::new();
    let mut history: Vec<SignedMessage> = Vec::new();
    let mut stale_delivered = 0u64;
    let deliver = |referee: &mut pinpoint_protocol::dispute::Referee<_>,
                   now: u64,
                   m: &SignedMessage,
                   queue: &mut VecDeque<Action>| {
        let out = if chaos.signed {
            referee.handle_signed(now, m)
        } else {
            referee.handle(now, &m.signer, m.statement.clone())
        };
        // A refused message (replay, bad signature, stranger) changes nothing.
        if let Ok(out) = out {
            queue.extend(out);
        }
    };
    for _ in 0..100_000 {
        if let Some(action) = queue.pop_front() {
            match action {
                Action::Verdict(v) => return (v, stale_delivered),
                Action::Send { to, msg } => {
                    seq += 1;
                    let signed = msg
                        .sign(&referee_key, JOB, referee.round(), seq)
                        .expect("sign");
                    let copies = if g.percent(chaos.dup_query_pct) { 2 } else { 1 };
                    for _ in 0..copies {
                        let party = if to == pa.id() {
                            &mut pa
                        } else if to == pb.id() {
                            &mut pb
                        } else {
                            continue;
                        };
                        for answer in party.respond(&signed) {
                            if g.percent(chaos.dup_answer_pct) {
                                in_flight.push(answer.clone());
                            }
                            in_flight.push(answer);
                        }
                    }
                }
            }
            continue;
        }
        if !history.is_empty() && g.percent(chaos.stale_pct) {
            let m = history[g.below(history.len() as u64) as usize].clone();
            stale_delivered += 1;
            deliver(&mut referee, now, &m, &mut queue);
            continue;
        }
        if !in_flight.is_empty() {
            let m = in_flight.swap_remove(g.below(in_flight.len() as u64) as usize);
            history.push(m.clone());
            deliver(&mut referee, now, &m, &mut queue);
            continue;
        }
        let d = referee.next_deadline().expect("the referee never stalls");
        now = now.max(d);
        queue.extend(referee.poll(now));
    }
    panic!("no verdict after 100000 deliveries");
}

fn sweep(signed: bool, cases: u64, seed: u64) {
    let mut g = Gen(seed);
    let mut stale = 0;
    for case in 0..cases {
        let j = g.below(JOBS as u64) as usize;
        let strategy = Strategy {
            corruption: g.corruption(steps(j), nodes(j)),
            deviation: g.deviation(),
            salt: g.below(100) as u8,
        };
        // Up to 50% duplication, and stale copies at every step of the run.
        let chaos = Chaos {
            dup_query_pct: g.below(51),
            dup_answer_pct: g.below(51),
            stale_pct: 10 + g.below(41),
            signed,
        };
        let honest_first = g.below(2) == 0;
        let (players, honest) = if honest_first {
            ([Player::Honest, Player::Cheat(strategy)], id(1))
        } else {
            ([Player::Cheat(strategy), Player::Honest], id(2))
        };
        let (verdict, s) = chaotic_dispute(j, players[0], players[1], chaos, &mut g);
        stale += s;
        match verdict.outcome {
            Outcome::Winner { winner, .. } if winner == honest => {}
            other => panic!(
                "case {case} (signed: {signed}), job {j}, {strategy:?}, {chaos:?}: the honest \
                 party did not win: {other:?}, {:?}",
                verdict.resolution
            ),
        }
    }
    assert!(stale > cases, "stale copies were delivered ({stale})");
}

#[test]
fn late_duplicated_and_reordered_answers_never_make_the_honest_party_lose_signed() {
    sweep(true, 300, 0xD1CE_5EED_0000_0001);
}

#[test]
fn late_duplicated_and_reordered_answers_never_make_the_honest_party_lose_unsigned() {
    sweep(false, 300, 0xD1CE_5EED_0000_0002);
}
