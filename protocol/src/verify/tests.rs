//! Tests of the sampler and the state machine, against a tiny real training job.

use std::collections::BTreeSet;

use pinpoint_kernels::Cpu;
use pinpoint_kernels::graph::Mode;
use pinpoint_train::{JobSpec, LoadedSpec, TrainState, Trainer};

use super::*;
use crate::error::{ProtocolError, Result};
use crate::id::NodeKey;
use crate::merkle::StepCommitment;

#[test]
fn choose_steps_is_a_deterministic_distinct_subset() {
    for steps in [1u64, 2, 7, 16, 1024, u64::MAX] {
        for m in [0u64, 1, 3, 16, 64] {
            let s = choose_steps([1; 32], [2; 32], steps, m);
            assert_eq!(s.len() as u64, m.min(steps));
            assert!(s.iter().all(|&t| (1..=steps).contains(&t)));
            assert_eq!(s.iter().collect::<BTreeSet<_>>().len(), s.len());
            assert_eq!(s, choose_steps([1; 32], [2; 32], steps, m));
        }
    }
    assert_eq!(choose_steps([1; 32], [2; 32], 0, 5), Vec::<u64>::new());
    let all = choose_steps([9; 32], [2; 32], 16, 99);
    assert_eq!(
        all.iter().copied().collect::<BTreeSet<_>>(),
        (1..=16).collect()
    );
    // Seed and root both matter.
    let a = choose_steps([1; 32], [2; 32], 1 << 40, 8);
    assert_ne!(a, choose_steps([3; 32], [2; 32], 1 << 40, 8));
    assert_ne!(a, choose_steps([1; 32], [4; 32], 1 << 40, 8));
}

#[test]
fn choose_steps_is_uniform_over_positions() {
    // 4000 draws of m = 4 from T = 8: each step is chosen with probability 1/2.
    let mut counts = [0u32; 8];
    for i in 0..4000u32 {
        let mut seed = [0; 32];
        seed[..4].copy_from_slice(&i.to_le_bytes());
        for t in choose_steps(seed, [0; 32], 8, 4) {
            counts[(t - 1) as usize] += 1;
        }
    }
    // Mean 2000, standard deviation sqrt(4000 / 4) ≈ 31.6: allow 5 sd.
    for c in counts {
        assert!((c as i64 - 2000).abs() < 160, "{counts:?}");
    }
}

fn spec_text() -> String {
    pinpoint_train::spec::TinyMlp {
        seed: 5,
        steps: 16,
        checkpoint_every: 4,
        hidden: 4,
        activation: "relu",
        warmup_steps: 4,
        eval_every: 16,
    }
    .toml()
}

fn spec() -> JobSpec {
    LoadedSpec::from_toml_str(&spec_text()).expect("spec").spec
}

/// A trainer's run: its states `S_0 … S_T` and its commitment. `corrupt` holds the steps whose
/// transition is wrong: after computing `S_t` honestly, the trainer perturbs one parameter
/// (adds 2^-10 to its first element) and continues honestly from the perturbed state.
struct Run {
    states: Vec<TrainState>,
    commitment: StepCommitment,
}

fn run(corrupt: &BTreeSet<u64>) -> Run {
    let spec = spec();
    let mut tr = Trainer::new(&spec, None, Cpu::single()).expect("trainer");
    let mut states = vec![tr.state().clone()];
    while !tr.done() {
        tr.step_once(&Mode::Normal).expect("step");
        let mut s = tr.state().clone();
        if corrupt.contains(&s.step) {
            let (_, p) = s.params.first_mut().expect("a parameter");
            p.data_mut()[0] += 1.0 / 1024.0;
            tr = Trainer::from_state(&spec, None, Cpu::single(), s.clone()).expect("restore");
        }
        states.push(s);
    }
    let hashes: Vec<[u8; 32]> = states.iter().map(|s| s.hash().expect("hash").0).collect();
    Run {
        states,
        commitment: StepCommitment::new(&hashes).expect("commit"),
    }
}

/// A verifier with its compute side: every [`Action::Recompute`] it emits is answered at once
/// with [`recompute_step`] over the served states and the honest transition, as a node's
/// executor would (the machine itself never re-runs anything).
struct Tv {
    v: Verifier,
    served: ServedOwned,
    rerun: Rerun,
    now: u64,
}

impl Tv {
    fn new(config: VerifierConfig, seed: [u8; 32], now: u64, states: Vec<TrainState>) -> Self {
        Self {
            v: Verifier::new(config, seed, now),
            served: ServedOwned(states),
            rerun: Rerun(spec()),
            now,
        }
    }

    fn handle(&mut self, now: u64, input: Input) -> Result<()> {
        self.now = now;
        self.v.handle(now, input)
    }

    /// The next action that is not a recomputation (those are answered here).
    fn poll(&mut self) -> Option<Action> {
        loop {
            match self.v.poll()? {
                Action::Recompute { step, prev_hash } => {
                    let result = recompute_step(&mut self.served, &mut self.rerun, step, prev_hash);
                    self.v
                        .handle(self.now, Input::Recomputed { step, result })
                        .expect("an asked-for recomputation is accepted");
                }
                other => return Some(other),
            }
        }
    }

    fn samples(&self) -> &[u64] {
        self.v.samples()
    }

    fn outcome(&self) -> Option<&Outcome> {
        self.v.outcome()
    }

    fn source_mut(&mut self) -> &mut ServedOwned {
        &mut self.served
    }
}

/// The honest transition: `Trainer::from_state(S_{t−1}).step_once()`.
struct Rerun(JobSpec);

impl Recompute for Rerun {
    type State = TrainState;
    fn hash(&self, state: &TrainState) -> [u8; 32] {
        state.hash().map(|d| d.0).unwrap_or([0; 32])
    }
    fn step(&mut self, prev: &TrainState, t: u64) -> Result<[u8; 32]> {
        let err = ProtocolError::Train;
        if prev.step + 1 != t {
            return Err(ProtocolError::InvalidArgument("wrong state".into()));
        }
        let mut tr =
            Trainer::from_state(&self.0, None, Cpu::single(), prev.clone()).map_err(err)?;
        Ok(tr.step_once(&Mode::Normal).map_err(err)?.hash.0)
    }
}

fn config(root: [u8; 32], samples: u64) -> VerifierConfig {
    VerifierConfig {
        job: [7; 32],
        verifier: NodeKey::from_seed([1; 32]).node_id(),
        trainer: NodeKey::from_seed([2; 32]).node_id(),
        root,
        steps: 16,
        samples,
        timeout_ms: 1000,
    }
}

/// An honest opening of step `t` from `run`.
fn opening(run: &Run, t: u64) -> StepOpening {
    let h = |i: u64| run.states[i as usize].hash().expect("hash").0;
    StepOpening {
        step: t,
        prev_hash: h(t - 1),
        prev_proof: run.commitment.proof(t - 1).expect("proof"),
        hash: h(t),
        proof: run.commitment.proof(t).expect("proof"),
    }
}

/// Drives a verifier against a trainer that answers every request honestly from `run`.
/// Returns the outcome and the challenges emitted.
fn drive(run: &Run, seed: [u8; 32], samples: u64) -> (Outcome, Vec<crate::wire::SampleChallenge>) {
    let mut v = Tv::new(
        config(run.commitment.root(), samples),
        seed,
        0,
        run.states.to_vec(),
    );
    let mut challenges = Vec::new();
    let mut now = 0;
    while let Some(a) = v.poll() {
        match a {
            Action::RequestOpening { step, deadline_ms } => {
                // Every sample is requested at once, with one deadline.
                assert_eq!(deadline_ms, 1000);
                now += 10;
                v.handle(now, Input::Opening(opening(run, step)))
                    .expect("accepted");
            }
            Action::Challenge(c) => challenges.push(c),
            Action::Recompute { .. } => unreachable!("Tv answers recomputations"),
            Action::Done(o) => {
                assert!(v.poll().is_none());
                return (o, challenges);
            }
        }
    }
    panic!("the verifier stopped without an outcome");
}

#[test]
fn an_honest_trainer_is_never_challenged() {
    let honest = run(&BTreeSet::new());
    for i in 0..12u8 {
        let (o, c) = drive(&honest, [i; 32], 3);
        assert_eq!(o, Outcome::Passed);
        assert!(c.is_empty());
    }
    // Checking every step passes too.
    assert_eq!(drive(&honest, [0; 32], 16).0, Outcome::Passed);
}

/// Model: a trainer with a set `F` of wrong transitions (each `S_t`, `t ∈ F`, is perturbed and
/// the run continues honestly from it; every state it serves matches its commitment). It is
/// caught iff the sample meets `F`, and the challenge names the first sampled step of `F`.
#[test]
fn a_corrupt_trainer_is_caught_iff_a_wrong_transition_is_sampled() {
    let cases: [&[u64]; 3] = [&[9], &[3, 12], &[9, 10, 11, 12, 13, 14, 15, 16]];
    for corrupt in cases {
        let corrupt: BTreeSet<u64> = corrupt.iter().copied().collect();
        let bad = run(&corrupt);
        for i in 0..10u8 {
            let seed = [i; 32];
            let samples = choose_steps(seed, bad.commitment.root(), 16, 3);
            let (o, c) = drive(&bad, seed, 3);
            match samples.iter().find(|t| corrupt.contains(t)) {
                Some(&t) => {
                    assert_eq!(o, Outcome::Challenged { step: t });
                    assert_eq!(c.len(), 1);
                    let ch = &c[0];
                    assert_eq!(ch.step, t - 1);
                    assert_eq!(ch.claimed_hash, bad.states[t as usize].hash().expect("h").0);
                    assert_ne!(ch.recomputed_hash, ch.claimed_hash);
                    StepCommitment::verify(
                        &bad.commitment.root(),
                        16,
                        t,
                        &ch.claimed_hash,
                        &ch.claimed_proof.to_proof(),
                    )
                    .expect("the challenge carries a valid proof");
                }
                None => {
                    assert_eq!(o, Outcome::Passed);
                    assert!(c.is_empty());
                }
            }
        }
        // With all 16 steps sampled the corruption is always found.
        let (o, _) = drive(&bad, [0; 32], 16);
        assert!(matches!(o, Outcome::Challenged { step } if corrupt.contains(&step)));
    }
}

#[test]
fn bad_proofs_silence_and_wrong_states_are_typed_outcomes() {
    let honest = run(&BTreeSet::new());
    let root = honest.commitment.root();
    let new = |states: &[TrainState]| {
        let states = states.to_vec();
        let mut v = Tv::new(config(root, 2), [5; 32], 100, states);
        let Some(Action::RequestOpening { step, deadline_ms }) = v.poll() else {
            panic!("first action is a request");
        };
        assert_eq!(deadline_ms, 1100);
        (v, step)
    };

    // A wrong hash with its (then invalid) proof.
    let (mut v, t) = new(&honest.states);
    let mut o = opening(&honest, t);
    o.hash[0] ^= 1;
    v.handle(200, Input::Opening(o)).expect("accepted");
    assert!(matches!(v.poll(), Some(Action::Done(Outcome::BadProof { step, .. })) if step == t));

    // A proof for another leaf.
    let (mut v, t) = new(&honest.states);
    let mut o = opening(&honest, t);
    o.prev_proof = honest.commitment.proof(t).expect("proof");
    v.handle(200, Input::Opening(o)).expect("accepted");
    assert!(matches!(
        v.poll(),
        Some(Action::Done(Outcome::BadProof { .. }))
    ));

    // Silence: nothing happens until the deadline has passed.
    let (mut v, t) = new(&honest.states);
    assert!(matches!(v.poll(), Some(Action::RequestOpening { .. })));
    v.handle(1100, Input::Tick).expect("tick");
    assert_eq!(v.poll(), None);
    v.handle(1101, Input::Tick).expect("tick");
    assert_eq!(v.poll(), Some(Action::Done(Outcome::Silent { step: t })));
    assert_eq!(v.outcome(), Some(&Outcome::Silent { step: t }));
    let late = opening(&honest, t);
    assert!(matches!(
        v.handle(1102, Input::Opening(late)),
        Err(ProtocolError::InvalidTransition { phase: "done", .. })
    ));

    // An opening for a step that was not sampled is refused and changes nothing; the other
    // sample was requested at the start, with the same deadline.
    let (mut v, t) = new(&honest.states);
    let other = (1..=16)
        .find(|s| !v.samples().contains(s))
        .expect("unsampled");
    assert!(
        v.handle(200, Input::Opening(opening(&honest, other)))
            .is_err()
    );
    let second = v.samples()[1];
    assert!(matches!(
        v.poll(),
        Some(Action::RequestOpening { step, deadline_ms: 1100 }) if step == second
    ));
    v.handle(200, Input::Opening(opening(&honest, t)))
        .expect("accepted");
    assert!(
        v.handle(201, Input::Opening(opening(&honest, t))).is_err(),
        "an answered step is not pending any more"
    );
    assert_eq!(v.poll(), None);
    v.handle(300, Input::Opening(opening(&honest, second)))
        .expect("accepted");
    assert_eq!(v.poll(), Some(Action::Done(Outcome::Passed)));

    // A served state that is not the proven S_{t−1}.
    let (mut v, t) = new(&honest.states);
    let mut wrong = honest.states.clone();
    wrong[(t - 1) as usize] = honest.states[t as usize].clone();
    v.source_mut().0 = wrong;
    // The other sample's request is taken first; the recomputation is asked for after it.
    assert!(matches!(v.poll(), Some(Action::RequestOpening { .. })));
    v.handle(200, Input::Opening(opening(&honest, t)))
        .expect("accepted");
    assert_eq!(
        v.poll(),
        Some(Action::Done(Outcome::StateUnavailable { step: t }))
    );

    // No state served at all.
    let (mut v, t) = new(&honest.states);
    v.source_mut().0.clear();
    assert!(matches!(v.poll(), Some(Action::RequestOpening { .. })));
    v.handle(200, Input::Opening(opening(&honest, t)))
        .expect("accepted");
    assert_eq!(
        v.poll(),
        Some(Action::Done(Outcome::StateUnavailable { step: t }))
    );
}

/// Issue 16, defect 3: a trainer that withholds or stalls openings delays the outcome by one
/// opening timeout, not by `m` of them.
#[test]
fn a_staller_delays_the_outcome_by_one_timeout_whatever_m_is() {
    let honest = run(&BTreeSet::new());
    for m in [1u64, 4, 8, 16] {
        let mut v = Tv::new(
            config(honest.commitment.root(), m),
            [9; 32],
            0,
            honest.states.to_vec(),
        );
        let mut requested = Vec::new();
        while let Some(Action::RequestOpening { step, deadline_ms }) = v.poll() {
            assert_eq!(deadline_ms, 1000);
            requested.push(step);
        }
        assert_eq!(requested.len() as u64, m, "all requested at once");
        // The staller answers all but the last sample just before the deadline.
        for t in &requested[..requested.len() - 1] {
            v.handle(999, Input::Opening(opening(&honest, *t)))
                .expect("accepted");
        }
        v.handle(1000, Input::Tick).expect("tick");
        assert_eq!(v.poll(), None);
        v.handle(1001, Input::Tick).expect("tick");
        let last = *requested.last().expect("one");
        assert_eq!(v.poll(), Some(Action::Done(Outcome::Silent { step: last })));
    }
    let b = VerificationBudget {
        notice_ms: 200,
        opening_timeout_ms: DEFAULT_OPENING_TIMEOUT_MS,
        recompute_ms: 800,
        submit_ms: 200,
    };
    assert_eq!(verification_bound_ms(b), Some(31_201));
    let huge = VerificationBudget {
        opening_timeout_ms: u64::MAX,
        ..b
    };
    assert_eq!(verification_bound_ms(huge), None);
}

#[test]
fn nothing_sampled_passes_at_once() {
    let honest = run(&BTreeSet::new());
    let mut v = Tv::new(
        config(honest.commitment.root(), 0),
        [0; 32],
        0,
        honest.states.to_vec(),
    );
    assert_eq!(v.poll(), Some(Action::Done(Outcome::Passed)));
    assert!(v.handle(1, Input::Opening(opening(&honest, 1))).is_err());
}

struct ServedOwned(Vec<TrainState>);

impl StateSource<TrainState> for ServedOwned {
    fn state(&mut self, step: u64) -> Option<TrainState> {
        self.0.get(step as usize).cloned()
    }
}
