use super::*;
use crate::spec::LoadedSpec;

fn spec_text() -> String {
    crate::spec::TinyMlp {
        seed: 3,
        steps: 3,
        checkpoint_every: 3,
        hidden: 4,
        activation: "relu",
        warmup_steps: 10,
        eval_every: 2,
    }
    .toml()
}

fn spec() -> JobSpec {
    LoadedSpec::from_toml_str(&spec_text()).unwrap().spec
}

#[test]
fn steps_advance_cursor_and_use_the_warmup_rate() {
    let mut t = Trainer::new(&spec(), None, Cpu::single()).unwrap();
    let h0 = t.state_hash();
    assert_eq!(h0, t.state().hash().unwrap());
    let r = t.step_once(&Mode::Normal).unwrap();
    assert_eq!((r.step, t.state().data_cursor), (1, 1));
    assert_eq!(r.lr, (0.01f32 * 1.0) / 10.0);
    assert_eq!(t.step_program().lr(), Some(r.lr));
    assert_eq!(r.node_hashes.len(), t.step_program().graph().nodes.len());
    assert_ne!(r.hash, h0);
    t.step_once(&Mode::Normal).unwrap();
    t.step_once(&Mode::Normal).unwrap();
    assert!(t.done());
    let e = t.step_once(&Mode::Normal).unwrap_err();
    assert!(e.to_string().contains("no step 4"), "{e}");
    assert!(t.eval_due(2) && t.eval_due(3) && !t.eval_due(1));
    assert!(t.checkpoint_due(3) && !t.checkpoint_due(2));
}

#[test]
fn a_restored_state_continues_identically() {
    let mut a = Trainer::new(&spec(), None, Cpu::single()).unwrap();
    a.step_once(&Mode::Normal).unwrap();
    let mid = a.state().clone();
    let ra = a.step_once(&Mode::Normal).unwrap();
    let mut b = Trainer::from_state(&spec(), None, Cpu::scalar(), mid).unwrap();
    let rb = b.step_once(&Mode::Normal).unwrap();
    assert_eq!(ra, rb);
}

/// A trainer's steps outside a dispute run unhashed: the same states `S_t` (the same `h(S_t)`,
/// loss and learning rate) as hashed steps, at every thread count, and no node hashes.
#[test]
fn unhashed_steps_reach_the_same_states() {
    let mut hashed = Trainer::new(&spec(), None, Cpu::single()).unwrap();
    let mut unhashed: Vec<Trainer> = [
        Cpu::single(),
        Cpu::scalar(),
        Cpu::new(2, pinpoint_kernels::SimdPolicy::Auto).unwrap(),
        Cpu::new(3, pinpoint_kernels::SimdPolicy::Scalar).unwrap(),
    ]
    .into_iter()
    .map(|cx| Trainer::new(&spec(), None, cx).unwrap())
    .collect();
    while !hashed.done() {
        let want = hashed.step_once(&Mode::Normal).unwrap();
        assert!(!want.node_hashes.is_empty());
        for t in &mut unhashed {
            let got = t.step_once(&Mode::Unhashed).unwrap();
            assert!(got.node_hashes.is_empty());
            assert_eq!(
                (got.step, got.hash, got.loss.to_bits(), got.lr.to_bits()),
                (want.step, want.hash, want.loss.to_bits(), want.lr.to_bits())
            );
            assert_eq!(t.state(), hashed.state());
        }
    }
}

#[test]
fn a_non_finite_step_is_a_clear_error_and_keeps_the_state() {
    let mut t = Trainer::new(&spec(), None, Cpu::single()).unwrap();
    let mut s = t.state().clone();
    for (_, p) in &mut s.params {
        p.data_mut().iter_mut().for_each(|v| *v = 3.0e38);
    }
    let mut t2 = Trainer::from_state(&spec(), None, Cpu::single(), s.clone()).unwrap();
    let e = t2.step_once(&Mode::Normal).unwrap_err();
    assert!(matches!(e, TrainError::NonFinite { step: 1, .. }), "{e}");
    assert!(e.to_string().contains("non-finite"), "{e}");
    assert_eq!(t2.state(), &s);
    // A state of another model is refused.
    t.step_once(&Mode::Normal).unwrap();
    let mut bad = t.state().clone();
    bad.params.pop();
    let e = Trainer::from_state(&spec(), None, Cpu::single(), bad).unwrap_err();
    assert!(matches!(e, TrainError::Layout(_)), "{e}");
}
