//! Timing shared by `benches/gemm.rs` and `benches/train_step.rs` (through `#[path]`): a timed
//! loop for criterion's `iter_custom`, and back-to-back timing of RepOps against a baseline
//! library (libtorch, OpenBLAS; features `tch`, `openblas`): the ratio of their speeds in
//! rounds that alternate the two, which a drifting clock does not skew.
// Each including target (and feature set) uses a different part of this module.
#![allow(dead_code)]

/// Runs `f` `iters` times; the elapsed wall time.
pub(crate) fn time_iters(iters: u64, mut f: impl FnMut()) -> std::time::Duration {
    let start = std::time::Instant::now();
    for _ in 0..iters {
        f();
    }
    start.elapsed()
}

/// Rounds of [`alternated`].
pub(crate) const ALT_ROUNDS: usize = 21;
/// Seconds of work per implementation and round of [`alternated`].
pub(crate) const ALT_ROUND_SECS: f64 = 0.2;
/// Idle time before each timed run of [`alternated`].
const ALT_PAUSE: std::time::Duration = std::time::Duration::from_millis(150);

/// Speed of `ours` relative to `theirs` (their time / our time) in each of [`ALT_ROUNDS`]
/// rounds that run both back to back, about [`ALT_ROUND_SECS`] each, the first one of the pair
/// swapped every round. Criterion times one implementation for seconds before the next; on a
/// machine whose clock drifts (a shared VM's turbo), that drift lands in the ratio, while
/// adjacent runs share it.
pub(crate) fn alternated(mut ours: impl FnMut(), mut theirs: impl FnMut()) -> Vec<f64> {
    fn timed(f: &mut dyn FnMut(), iters: u64) -> f64 {
        // Both start from idle workers: after its turn, a baseline's worker threads (libtorch's
        // OpenMP, OpenBLAS's pthreads) keep spinning for a while, on the cores the next turn
        // needs (two threads alternated with libtorch without a pause measured RepOps
        // 0.79–0.81× where OMP_WAIT_POLICY=PASSIVE gave 0.92× and criterion's separate runs
        // 0.85–0.92×).
        std::thread::sleep(ALT_PAUSE);
        time_iters(iters, f).as_secs_f64() / iters as f64
    }
    // One call of each to size the rounds (and warm both).
    let once = timed(&mut ours, 1).max(timed(&mut theirs, 1));
    let iters = ((ALT_ROUND_SECS / once.max(1e-9)) as u64).max(1);
    (0..ALT_ROUNDS)
        .map(|round| {
            let (t_ours, t_theirs) = if round % 2 == 0 {
                let o = timed(&mut ours, iters);
                (o, timed(&mut theirs, iters))
            } else {
                let t = timed(&mut theirs, iters);
                (timed(&mut ours, iters), t)
            };
            t_theirs / t_ours
        })
        .collect()
}

/// The table line that says what an alternated column (`column`, against `baseline`) is.
pub(crate) fn explain_alternated(column: &str, baseline: &str) {
    println!(
        "'{column}': RepOps' speed / {baseline}'s, the median over {ALT_ROUNDS} rounds that run \
         both back to back (~{:.0} ms each, which goes first swapped every round): steady where \
         the clock drifts between criterion's runs",
        ALT_ROUND_SECS * 1e3
    );
}
