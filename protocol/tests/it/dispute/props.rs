//! The property test of issue "protocol": 1200 seeded cases over random tiny jobs, random
//! strategies, steps, nodes and sides. The honest party always wins, a lone cheater always
//! loses, two cheaters that corrupt the same first position both lose, and every dispute ends
//! within the round bound `⌈log2 T⌉ + ⌈log2 N⌉ + c` (c = `ROUND_BOUND_C` = 4; plus
//! `⌈log2 (T+1)⌉` when the final states are equal).

use std::collections::BTreeMap;

use pinpoint_protocol::dispute::strategy::{Corruption, Deviation, Strategy};
use pinpoint_protocol::dispute::{ROUND_BOUND_C, ceil_log2, round_bound, round_bound_equal_final};

use super::fixtures::*;

fn name(d: &Deviation) -> &'static str {
    match d {
        Deviation::None => "none",
        Deviation::LieInStepBisection { .. } => "lie-step",
        Deviation::LieInNodeBisection { .. } => "lie-node",
        Deviation::BadProof => "bad-proof",
        Deviation::WrongInput => "wrong-input",
        Deviation::Silent { .. } => "silent",
        Deviation::Equivocate => "equivocate",
    }
}

#[test]
fn seeded_cases_honest_always_wins_cheaters_lose_within_the_bound() {
    const CASES: u64 = 1200;
    let mut g = Gen(0x9E37_79B9_7F4A_7C15);
    let mut worst: BTreeMap<(usize, bool), (u32, u32)> = BTreeMap::new();
    let mut by_kind: BTreeMap<&str, u32> = BTreeMap::new();
    let mut both_dishonest = 0;
    for case in 0..CASES {
        let j = g.below(JOBS as u64) as usize;
        let (t_max, n) = (steps(j), nodes(j));
        let corruption = g.corruption(t_max, n);
        let bound = match corruption {
            Corruption::WrongIntermediate { .. } => round_bound_equal_final(t_max, n),
            _ => round_bound(t_max, n),
        };
        assert!(round_bound(t_max, n) <= ceil_log2(t_max) + ceil_log2(n) + ROUND_BOUND_C);
        let ctx = format!("case {case}: job {j}, {corruption:?}");
        if g.below(8) == 0 {
            // Both dishonest, corrupting the same first position with different values; both
            // either answer consistently or go silent from the same round.
            both_dishonest += 1;
            let deviation = if g.below(2) == 0 {
                Deviation::None
            } else {
                Deviation::Silent {
                    from_round: g.below(8) as u32,
                }
            };
            let p = |salt| {
                Player::Cheat(Strategy {
                    corruption,
                    deviation,
                    salt,
                })
            };
            let r = dispute(j, p(0), p(1));
            assert_eq!(winner(&r), None, "{ctx}, {deviation:?}: {:?}", r.verdict);
            assert!(r.rounds <= bound, "{ctx}: {} > {bound}", r.rounds);
            continue;
        }
        let deviation = g.deviation();
        let salt = g.below(100) as u8;
        let cheat = Player::Cheat(Strategy {
            corruption,
            deviation,
            salt,
        });
        let honest_first = g.below(2) == 0;
        let (r, honest_id) = if honest_first {
            (dispute(j, Player::Honest, cheat), id(1))
        } else {
            (dispute(j, cheat, Player::Honest), id(2))
        };
        assert_eq!(
            winner(&r),
            Some(honest_id),
            "{ctx}, {deviation:?}: {:?}",
            r.verdict
        );
        assert!(
            r.rounds <= bound,
            "{ctx}, {deviation:?}: {} > {bound}",
            r.rounds
        );
        let equal_final = matches!(corruption, Corruption::WrongIntermediate { .. });
        let w = worst.entry((j, equal_final)).or_insert((0, bound));
        w.0 = w.0.max(r.rounds);
        *by_kind.entry(name(&deviation)).or_default() += 1;
    }
    for ((j, equal_final), (w, bound)) in &worst {
        eprintln!(
            "job {j}: T = {}, N = {}, equal final states: {equal_final}: worst {w} rounds, bound {bound}",
            steps(*j),
            nodes(*j),
        );
    }
    eprintln!("{CASES} cases, {both_dishonest} with both dishonest; deviations {by_kind:?}");
    assert!(both_dishonest > 50 && by_kind.len() == 7);
}
