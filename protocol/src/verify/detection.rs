//! The detection-rate experiment: how often `m` sampled steps catch a trainer with `k = f·T`
//! wrong transitions, measured over many seeds against the exact probability.
//!
//! Synthetic run: a state is a 32-byte hash, the honest transition is
//! `S_t = blake3(S_{t−1})`, and a wrong transition is `S_t = blake3("bad" ‖ S_{t−1})`; the
//! trainer commits to and serves its own (partly wrong) chain. Each trial draws a fresh
//! post-commitment seed; the corrupt set (`k` distinct steps, uniform) is redrawn every
//! [`TRIALS_PER_SET`] trials. The full [`Verifier`] runs every trial.

use super::*;
use crate::error::Result;
use crate::id::NodeKey;
use crate::merkle::StepCommitment;

const T: u64 = 1024;
const TRIALS: u32 = 2000;
const TRIALS_PER_SET: u32 = 100;

struct Chain(Vec<[u8; 32]>);

impl StateSource<[u8; 32]> for &Chain {
    fn state(&mut self, step: u64) -> Option<[u8; 32]> {
        self.0.get(step as usize).copied()
    }
}

struct Next;

impl Recompute for Next {
    type State = [u8; 32];
    fn hash(&self, state: &[u8; 32]) -> [u8; 32] {
        *state
    }
    fn step(&mut self, prev: &[u8; 32], _t: u64) -> Result<[u8; 32]> {
        Ok(blake3::hash(prev).into())
    }
}

/// A run with the wrong transitions `corrupt` (sorted steps in `1..=T`).
fn chain(corrupt: &[u64]) -> (Chain, StepCommitment) {
    let mut s = vec![[0u8; 32]];
    for t in 1..=T {
        let prev = s[(t - 1) as usize];
        s.push(if corrupt.binary_search(&t).is_ok() {
            let mut h = blake3::Hasher::new();
            h.update(b"bad");
            h.update(&prev);
            h.finalize().into()
        } else {
            blake3::hash(&prev).into()
        });
    }
    let c = StepCommitment::new(&s).expect("commit");
    (Chain(s), c)
}

/// `P(detect) = 1 − C(T−k, m) / C(T, m) = 1 − Π_{i<m} (T−k−i)/(T−i)`.
fn exact(k: u64, m: u64) -> f64 {
    let mut miss = 1.0f64;
    for i in 0..m {
        miss *= (T - k).saturating_sub(i) as f64 / (T - i) as f64;
    }
    1.0 - miss
}

fn seed(tag: u64, trial: u32) -> [u8; 32] {
    let mut b = [0u8; 12];
    b[..8].copy_from_slice(&tag.to_le_bytes());
    b[8..].copy_from_slice(&trial.to_le_bytes());
    blake3::hash(&b).into()
}

#[test]
fn detection_rate_matches_the_hypergeometric_probability() {
    let fs = [0.01f64, 0.05, 0.1, 0.25];
    let ms = [1u64, 4, 16, 64];
    println!("T = {T}, {TRIALS} trials per cell, k = round(f·T) wrong transitions");
    println!("|    f |   k |  m | measured | exact (hypergeom.) | 1-(1-f)^m | |meas-exact|/se |");
    println!("|-----:|----:|---:|---------:|-------------------:|----------:|---------------:|");
    for (fi, &f) in fs.iter().enumerate() {
        let k = (f * T as f64).round() as u64;
        for (mi, &m) in ms.iter().enumerate() {
            let mut detected = 0u32;
            let mut run = None;
            for trial in 0..TRIALS {
                if trial % TRIALS_PER_SET == 0 {
                    // The corrupt set: the first k of a uniform shuffle of 1..=T.
                    let set_seed = seed(1000 + (fi * 10 + mi) as u64, trial);
                    let mut corrupt = choose_steps(set_seed, [0xc0; 32], T, k);
                    corrupt.sort_unstable();
                    run = Some(chain(&corrupt));
                }
                let (states, commitment) = run.as_ref().expect("a run");
                let config = VerifierConfig {
                    job: [1; 32],
                    verifier: NodeKey::from_seed([1; 32]).node_id(),
                    trainer: NodeKey::from_seed([2; 32]).node_id(),
                    root: commitment.root(),
                    steps: T,
                    samples: m,
                    timeout_ms: 10,
                };
                let mut v = Verifier::new(config, seed(fi as u64 * 10 + mi as u64, trial), 0);
                let outcome = loop {
                    match v.poll().expect("an action") {
                        Action::RequestOpening { step, .. } => {
                            let o = StepOpening {
                                step,
                                prev_hash: states.0[(step - 1) as usize],
                                prev_proof: commitment.proof(step - 1).expect("proof"),
                                hash: states.0[step as usize],
                                proof: commitment.proof(step).expect("proof"),
                            };
                            v.handle(1, Input::Opening(o)).expect("accepted");
                        }
                        Action::Recompute { step, prev_hash } => {
                            let result =
                                recompute_step(&mut { states }, &mut Next, step, prev_hash);
                            v.handle(1, Input::Recomputed { step, result })
                                .expect("accepted");
                        }
                        Action::Challenge(_) => {}
                        Action::Done(o) => break o,
                    }
                };
                match outcome {
                    Outcome::Passed => {}
                    Outcome::Challenged { .. } => detected += 1,
                    o => panic!("unexpected outcome {o:?}"),
                }
            }
            let p = exact(k, m);
            let rate = f64::from(detected) / f64::from(TRIALS);
            let se = (p * (1.0 - p) / f64::from(TRIALS)).sqrt();
            let approx = 1.0 - (1.0 - f).powi(m as i32);
            let z = if se > 0.0 { (rate - p).abs() / se } else { 0.0 };
            println!(
                "| {f:.2} | {k:3} | {m:2} | {rate:8.4} | {p:18.4} | {approx:9.4} | {z:14.2} |"
            );
            assert!(
                (rate - p).abs() <= 4.0 * se + 1e-12,
                "f = {f}, m = {m}: measured {rate}, exact {p}, se {se}"
            );
        }
    }
}
