//! Error measurement of the math functions against f64 references.
//!
//! Each `*_accuracy` test evaluates one function on ≥ 1.3·10⁶ inputs drawn with Philox
//! (2¹⁸ random finite bit patterns, 2¹⁹ log-uniform magnitudes over the relevant binades and
//! 2¹⁹ uniform values in the interesting interval) plus edge cases, measures the error in ulp
//! of the correctly rounded f32 result (see [`ulp_err`]) and asserts the bound stated in
//! docs/numerics.md §4.1. The reference is f64 std for exp/ln/tanh/sin/cos/sqrt, and our own
//! f64 series / continued fraction for erf and erfc. `--nocapture` prints the measured maxima.

use super::*;
use crate::rng::Philox;

/// Error of `y` in units of the last place of the f32 binade containing the reference `r`
/// (2⁻¹⁴⁹ for |r| < 2⁻¹²⁶, i.e. subnormal results are measured in subnormal ulps; an infinite
/// `y` counts as 2¹²⁸): `|y − r| / ulp`, so a correctly rounded result has error ≤ 0.5.
/// Both NaN, or `y` = the infinity `r` rounds to, give 0; a NaN on one side only gives +inf.
pub(crate) fn ulp_err(y: f32, r: f64) -> f64 {
    if r.is_nan() || y.is_nan() {
        return if r.is_nan() && y.is_nan() {
            0.0
        } else {
            f64::INFINITY
        };
    }
    if y.is_infinite() && y == r as f32 {
        return 0.0;
    }
    let a = r.abs();
    let ulp = if a < 2f64.powi(-126) {
        2f64.powi(-149)
    } else if a >= 2f64.powi(128) {
        2f64.powi(104)
    } else {
        let e = ((a.to_bits() >> 52) as i32) - 1023;
        2f64.powi(e - 23)
    };
    let yv = if y.is_infinite() {
        2f64.powi(128).copysign(f64::from(y))
    } else {
        f64::from(y)
    };
    let rv = if r.is_infinite() {
        2f64.powi(128).copysign(r)
    } else {
        r
    };
    (yv - rv).abs() / ulp
}

/// Test inputs: `n_bits` random finite bit patterns, `n_log` values `±m·2^e` with a random
/// mantissa and `e` uniform in `[emin, emax]` (sign random when `signed`), and `n_lin` values
/// uniform in `[lo, hi]`, plus `extra`.
pub(crate) struct Inputs {
    pub emin: i32,
    pub emax: i32,
    pub signed: bool,
    pub lo: f64,
    pub hi: f64,
}

pub(crate) const N_BITS: usize = 1 << 18;
pub(crate) const N_LOG: usize = 1 << 19;
pub(crate) const N_LIN: usize = 1 << 19;

impl Inputs {
    pub(crate) fn generate(&self, seed: u64, extra: &[f32]) -> Vec<f32> {
        let g = Philox::from_seed(seed);
        let mut v = Vec::with_capacity(N_BITS + N_LOG + N_LIN + extra.len());
        for i in 0..N_BITS as u64 {
            let w = g.block_at(0, i)[0];
            let w = if (w >> 23) & 0xFF == 0xFF {
                w ^ 0x4000_0000
            } else {
                w
            };
            v.push(f32::from_bits(w));
        }
        let span = (self.emax - self.emin + 1) as u32;
        for i in 0..N_LOG as u64 {
            let w = g.block_at(1, i);
            let e = self.emin + (w[0] % span) as i32;
            let m = 1.0 + f64::from(w[1] >> 9) / 8_388_608.0;
            let mut x = m * 2f64.powi(e);
            if self.signed && w[2] & 1 == 1 {
                x = -x;
            }
            v.push(x as f32);
        }
        for i in 0..N_LIN as u64 {
            let w = g.block_at(2, i);
            let u = (f64::from(w[0]) * 4_294_967_296.0 + f64::from(w[1])) / 2f64.powi(64);
            v.push((self.lo + (self.hi - self.lo) * u) as f32);
        }
        v.extend_from_slice(extra);
        v
    }
}

/// The largest error found, and where.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Worst {
    pub err: f64,
    pub at: f32,
    pub got: f32,
    pub want: f64,
    pub count: usize,
}

impl Worst {
    fn new() -> Self {
        Self {
            err: 0.0,
            at: 0.0,
            got: 0.0,
            want: 0.0,
            count: 0,
        }
    }
    fn add(&mut self, err: f64, x: f32, y: f32, r: f64) {
        self.count += 1;
        if err > self.err || err.is_nan() {
            *self = Self {
                err,
                at: x,
                got: y,
                want: r,
                count: self.count,
            };
        }
    }
}

/// Max ulp error of `f` against `reference` over `xs`.
pub(crate) fn max_ulp(xs: &[f32], f: fn(f32) -> f32, reference: fn(f64) -> f64) -> Worst {
    let mut w = Worst::new();
    for &x in xs {
        let y = f(x);
        let r = reference(f64::from(x));
        w.add(ulp_err(y, r), x, y, r);
    }
    w
}

fn report(name: &str, domain: &str, w: &Worst, bound: f64) {
    println!(
        "{name:10} {domain:38} n={:8} max {:.3} ulp at x={:e} ({:#010x}): got {:e}, want {:e}; \
         bound {bound}",
        w.count,
        w.err,
        w.at,
        w.at.to_bits(),
        w.got,
        w.want
    );
    assert!(w.err <= bound, "{name}: {w:?} exceeds {bound} ulp");
}

// ----- f64 references -----

/// erf(x) in f64: e^{−x²}·Σ 2ⁿx^{2n+1}/(1·3···(2n+1))·2/√π (all terms positive) for
/// |x| < 3, 1 − erfc(|x|) beyond. Relative error ≈ 1e−15.
pub(crate) fn erf_ref(x: f64) -> f64 {
    let a = x.abs();
    let v = if a < 3.0 {
        let x2 = a * a;
        let mut term = a;
        let mut sum = a;
        let mut n = 0.0;
        while term > sum * 1e-18 {
            n += 1.0;
            term *= 2.0 * x2 / (2.0 * n + 1.0);
            sum += term;
        }
        sum * (-x2).exp() * std::f64::consts::FRAC_2_SQRT_PI
    } else {
        1.0 - erfc_ref(a, a * a)
    };
    v.copysign(x)
}

/// erfc(y) for y ≥ 2.5 given y² (passed separately so the caller can give it exactly), by the
/// continued fraction erfc(y) = e^{−y²}/√π · 1/(y + (1/2)/(y + 1/(y + (3/2)/(y + …)))).
pub(crate) fn erfc_ref(y: f64, y2: f64) -> f64 {
    let mut t = y;
    for k in (1..=400).rev() {
        t = y + (f64::from(k) * 0.5) / t;
    }
    (-y2).exp() / (std::f64::consts::PI.sqrt() * t)
}

fn sigmoid_ref(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

fn gelu_tanh_ref(x: f64) -> f64 {
    if x == f64::NEG_INFINITY {
        return -0.0;
    }
    let u = (2.0 / std::f64::consts::PI).sqrt() * (x + 0.044715 * x * x * x);
    x * sigmoid_ref(2.0 * u)
}

fn gelu_erf_ref(x: f64) -> f64 {
    if x == f64::NEG_INFINITY {
        return -0.0;
    }
    let y = x * std::f64::consts::FRAC_1_SQRT_2;
    if x >= -2.5 {
        0.5 * x * (1.0 + erf_ref(y))
    } else {
        0.5 * x * erfc_ref(-y, x * x * 0.5)
    }
}

#[test]
fn references_agree_with_known_values() {
    let close = |a: f64, b: f64| ((a - b) / b).abs() < 1e-14;
    assert!(close(erf_ref(0.5), 0.520_499_877_813_046_5));
    assert!(close(erf_ref(1.0), 0.842_700_792_949_714_9));
    assert!(close(erf_ref(2.9), 0.999_958_902_121_900_2));
    assert!(close(erf_ref(3.5), 0.999_999_256_901_627_7));
    assert!(close(erfc_ref(3.0, 9.0), 2.209_049_699_858_544e-5));
    assert!(close(erfc_ref(2.5, 6.25), 4.069_520_174_449_59e-4));
    assert!(close(erfc_ref(10.0, 100.0), 2.088_487_583_762_545e-45));
    // The two erf formulas meet at 3.
    assert!(close(
        erf_ref(2.999_999_999),
        1.0 - erfc_ref(2.999_999_999, 2.999_999_999f64.powi(2))
    ));
}

// ----- edge cases shared by several functions -----

const SPECIAL: [f32; 12] = [
    0.0,
    -0.0,
    f32::INFINITY,
    f32::NEG_INFINITY,
    f32::NAN,
    f32::from_bits(1),           // smallest subnormal
    f32::from_bits(0x007F_FFFF), // largest subnormal
    f32::MIN_POSITIVE,
    f32::MAX,
    -f32::MAX,
    1.0,
    -1.0,
];

fn with_neighbours(v: &[f32]) -> Vec<f32> {
    let mut out = Vec::new();
    for &x in v {
        let b = x.to_bits();
        for d in -4i32..=4 {
            out.push(f32::from_bits(b.wrapping_add_signed(d)));
            out.push(-f32::from_bits(b.wrapping_add_signed(d)));
        }
    }
    out.retain(|x| !x.is_nan());
    out.extend_from_slice(&SPECIAL);
    out
}

// ----- per-function accuracy tests -----

#[test]
fn exp_accuracy() {
    let extra = with_neighbours(&[
        88.722_83,
        f32::from_bits(0x42B1_7217),
        f32::from_bits(0x42B1_7218),
        -87.336_54,
        -103.972_08,
        f32::from_bits(0xC2CF_F1B4),
        -104.0,
        0.346_573_6,
        1e-7,
        1.0,
    ]);
    let xs = Inputs {
        emin: -30,
        emax: 6,
        signed: true,
        lo: -104.5,
        hi: 89.0,
    }
    .generate(1, &extra);
    let w = max_ulp(&xs, exp, f64::exp);
    report("exp", "bits + ±2^[-30,7) + U[-104.5, 89]", &w, 1.0);
    assert_eq!(exp(0.0).to_bits(), 1f32.to_bits());
    assert_eq!(exp(-0.0).to_bits(), 1f32.to_bits());
    assert_eq!(exp(f32::INFINITY), f32::INFINITY);
    assert_eq!(exp(f32::NEG_INFINITY).to_bits(), 0);
    assert_eq!(exp(f32::NAN).to_bits(), CANONICAL_NAN.to_bits());
    assert_eq!(
        exp(f32::from_bits(0x42B1_7217)),
        f32::from_bits(0x7F7F_FF84)
    );
    assert_eq!(exp(f32::from_bits(0x42B1_7218)), f32::INFINITY);
    // Smallest subnormal and the last value that rounds to it.
    assert_eq!(exp(f32::from_bits(0xC2CF_F1B4)).to_bits(), 1);
    assert_eq!(exp(f32::from_bits(0xC2CF_F1B5)).to_bits(), 0);
}

#[test]
fn ln_accuracy() {
    let extra = with_neighbours(&[
        1.0,
        std::f32::consts::SQRT_2,
        std::f32::consts::FRAC_1_SQRT_2,
        std::f32::consts::E,
        2.0,
        0.5,
        f32::MIN_POSITIVE,
        f32::from_bits(1),
        f32::MAX,
    ]);
    let xs = Inputs {
        emin: -149,
        emax: 127,
        signed: false,
        lo: 0.5,
        hi: 2.0,
    }
    .generate(2, &extra);
    let w = max_ulp(&xs, ln, f64::ln);
    report("ln", "bits + 2^[-149,128) + U[0.5, 2]", &w, 1.0);
    assert_eq!(ln(1.0).to_bits(), 0);
    assert_eq!(ln(0.0), f32::NEG_INFINITY);
    assert_eq!(ln(-0.0), f32::NEG_INFINITY);
    assert_eq!(ln(f32::INFINITY), f32::INFINITY);
    assert_eq!(ln(-1.0).to_bits(), CANONICAL_NAN.to_bits());
    assert_eq!(ln(f32::NEG_INFINITY).to_bits(), CANONICAL_NAN.to_bits());
    assert_eq!(ln(f32::NAN).to_bits(), CANONICAL_NAN.to_bits());
    // Near 1, exhaustively: every f32 in [1 − 2⁻⁸, 1 + 2⁻⁸].
    let mut worst = Worst::new();
    let (a, b) = (
        (1.0f32 - 1.0 / 256.0).to_bits(),
        (1.0f32 + 1.0 / 256.0).to_bits(),
    );
    for bits in a..=b {
        let x = f32::from_bits(bits);
        let r = f64::from(x).ln();
        worst.add(ulp_err(ln(x), r), x, ln(x), r);
    }
    report("ln", "all f32 in [1-2^-8, 1+2^-8]", &worst, 1.0);
}

#[test]
fn tanh_accuracy() {
    let extra = with_neighbours(&[0.625, 9.125, 9.0, 1e-3, 0.5, 2.0]);
    let xs = Inputs {
        emin: -30,
        emax: 4,
        signed: true,
        lo: -10.0,
        hi: 10.0,
    }
    .generate(3, &extra);
    let w = max_ulp(&xs, tanh, f64::tanh);
    report("tanh", "bits + ±2^[-30,5) + U[-10, 10]", &w, 1.0);
    assert_eq!(tanh(-0.0).to_bits(), (-0.0f32).to_bits());
    assert_eq!(tanh(f32::INFINITY), 1.0);
    assert_eq!(tanh(f32::NEG_INFINITY), -1.0);
    assert_eq!(tanh(9.125), 1.0);
    assert_eq!(tanh(-20.0), -1.0);
    assert_eq!(tanh(f32::from_bits(1)).to_bits(), 1);
}

#[test]
fn sigmoid_accuracy() {
    let extra = with_neighbours(&[-87.0, -88.8, -103.9, -104.0, 17.0, 16.7, 0.0]);
    let xs = Inputs {
        emin: -30,
        emax: 6,
        signed: true,
        lo: -110.0,
        hi: 20.0,
    }
    .generate(4, &extra);
    let w = max_ulp(&xs, sigmoid, sigmoid_ref);
    report("sigmoid", "bits + ±2^[-30,7) + U[-110, 20]", &w, 1.0);
    assert_eq!(sigmoid(0.0), 0.5);
    assert_eq!(sigmoid(f32::INFINITY), 1.0);
    assert_eq!(sigmoid(f32::NEG_INFINITY).to_bits(), 0);
    assert_eq!(sigmoid(20.0), 1.0);
    assert!(sigmoid(-100.0) > 0.0 && sigmoid(-100.0) < f32::MIN_POSITIVE);
}

#[test]
fn erf_accuracy() {
    let extra = with_neighbours(&[0.875, 1.25, 4.0, 3.9, 0.5, 1e-20]);
    let xs = Inputs {
        emin: -30,
        emax: 2,
        signed: true,
        lo: -4.5,
        hi: 4.5,
    }
    .generate(5, &extra);
    let w = max_ulp(&xs, erf, erf_ref);
    report("erf", "bits + ±2^[-30,3) + U[-4.5, 4.5]", &w, 1.0);
    assert_eq!(erf(-0.0).to_bits(), (-0.0f32).to_bits());
    assert_eq!(erf(f32::INFINITY), 1.0);
    assert_eq!(erf(f32::NEG_INFINITY), -1.0);
    assert_eq!(erf(4.0), 1.0);
}

/// GELU error bounds, by region: `x ≥ 0` in ulp; `GELU_SPLIT ≤ x < 0` in ulp; `x < GELU_SPLIT`
/// in ulp and absolute. In the negative tail the f32 rounding of the function's own argument
/// (`v` resp. `x/√2`) is amplified by the steep exponential, so the ulp error grows with |x|
/// while the value (and the absolute error) is tiny.
const GELU_SPLIT: f32 = -3.0;

struct GeluBounds {
    pos_ulp: f64,
    neg_ulp: f64,
    tail_ulp: f64,
    tail_abs: f64,
}

fn gelu_check(name: &str, f: fn(f32) -> f32, r: fn(f64) -> f64, seed: u64, b: &GeluBounds) {
    let extra = with_neighbours(&[-4.0, -1.7678, -3.0, -10.0, -14.85, -14.7, 1.0]);
    let xs = Inputs {
        emin: -30,
        emax: 4,
        signed: true,
        lo: -16.0,
        hi: 8.0,
    }
    .generate(seed, &extra);
    let (mut pos, mut neg, mut tail) = (Worst::new(), Worst::new(), Worst::new());
    let mut tail_abs = 0.0f64;
    for &x in &xs {
        let y = f(x);
        let want = r(f64::from(x));
        let e = ulp_err(y, want);
        if x.is_nan() || x >= 0.0 {
            pos.add(e, x, y, want);
        } else if x >= GELU_SPLIT {
            neg.add(e, x, y, want);
        } else {
            tail.add(e, x, y, want);
            let d = (f64::from(y) - want).abs();
            if y.is_nan() || d > tail_abs {
                tail_abs = if y.is_nan() { f64::INFINITY } else { d };
            }
        }
    }
    report(
        name,
        "x >= 0 (bits + ±2^[-30,5) + U[-16,8])",
        &pos,
        b.pos_ulp,
    );
    report(name, "-3 <= x < 0", &neg, b.neg_ulp);
    report(name, "x < -3", &tail, b.tail_ulp);
    println!(
        "{name:10} x < -3: max abs err {tail_abs:e} (bound {:e})",
        b.tail_abs
    );
    assert!(
        tail_abs <= b.tail_abs,
        "{name}: tail abs error {tail_abs:e}"
    );
}

#[test]
fn gelu_tanh_accuracy() {
    let b = GeluBounds {
        pos_ulp: 2.0,
        neg_ulp: 16.0,
        tail_ulp: 200.0,
        tail_abs: 4e-9,
    };
    gelu_check("gelu_tanh", gelu_tanh, gelu_tanh_ref, 6, &b);
    assert_eq!(gelu_tanh(f32::NEG_INFINITY).to_bits(), (-0.0f32).to_bits());
    assert_eq!(gelu_tanh(f32::INFINITY), f32::INFINITY);
    assert_eq!(gelu_tanh(-0.0).to_bits(), (-0.0f32).to_bits());
}

#[test]
fn gelu_erf_accuracy() {
    let b = GeluBounds {
        pos_ulp: 2.0,
        neg_ulp: 8.0,
        tail_ulp: 10.0,
        tail_abs: 2e-9,
    };
    gelu_check("gelu_erf", gelu_erf, gelu_erf_ref, 7, &b);
    assert_eq!(gelu_erf(f32::NEG_INFINITY).to_bits(), (-0.0f32).to_bits());
    assert_eq!(gelu_erf(f32::INFINITY), f32::INFINITY);
    assert_eq!(gelu_erf(-0.0).to_bits(), (-0.0f32).to_bits());
}

fn trig_extra() -> Vec<f32> {
    let mut v = Vec::new();
    for k in 1..=64 {
        v.push(k as f32 * std::f32::consts::FRAC_PI_2);
        v.push(k as f32 * std::f32::consts::FRAC_PI_4);
    }
    // Known hard cases for f32 argument reduction (close to multiples of π/2) and huge values.
    v.extend_from_slice(&[
        f32::from_bits(0x4B9B_CB03),
        f32::from_bits(0x5D5F_26D5),
        f32::from_bits(0x6D3B_1A37),
        f32::from_bits(0x7F7F_FFFF),
        f32::from_bits(0x47FF_FFFF),
        f32::from_bits(0x4800_0000),
        f32::from_bits(0x3F49_0FDB),
        f32::from_bits(0x3F49_0FDC),
        1e-20,
        102_940.0,
        3e38,
        1e10,
    ]);
    with_neighbours(&v)
}

#[test]
fn sin_accuracy() {
    let xs = Inputs {
        emin: -30,
        emax: 30,
        signed: true,
        lo: -10.0,
        hi: 10.0,
    }
    .generate(8, &trig_extra());
    let w = max_ulp(&xs, sin, f64::sin);
    report("sin", "bits + ±2^[-30,31) + U[-10, 10]", &w, 1.0);
    assert_eq!(sin(-0.0).to_bits(), (-0.0f32).to_bits());
    assert_eq!(sin(f32::INFINITY).to_bits(), CANONICAL_NAN.to_bits());
}

#[test]
fn cos_accuracy() {
    let xs = Inputs {
        emin: -30,
        emax: 30,
        signed: true,
        lo: -10.0,
        hi: 10.0,
    }
    .generate(9, &trig_extra());
    let w = max_ulp(&xs, cos, f64::cos);
    report("cos", "bits + ±2^[-30,31) + U[-10, 10]", &w, 1.0);
    assert_eq!(cos(0.0), 1.0);
    assert_eq!(cos(f32::NEG_INFINITY).to_bits(), CANONICAL_NAN.to_bits());
}

/// The two reductions agree closely where both apply (π/4 < |x| < 2¹⁷).
#[test]
fn cody_waite_matches_payne_hanek() {
    use super::trig_reduce::{cody_waite, payne_hanek};
    let xs = Inputs {
        emin: 0,
        emax: 16,
        signed: false,
        lo: 0.8,
        hi: 100.0,
    }
    .generate(10, &[]);
    for &x in xs.iter().filter(|x| **x > 0.8 && **x < 131_072.0) {
        let (q1, h1, l1) = cody_waite(x);
        let (q2, h2, l2) = payne_hanek(x);
        let (r1, r2) = (f64::from(h1) + f64::from(l1), f64::from(h2) + f64::from(l2));
        // Same quadrant, or the remainder sits on the boundary ±π/4.
        if q1 == q2 {
            assert!(
                (r1 - r2).abs() <= 1e-11 * r1.abs() + 1e-18,
                "{x}: {r1} vs {r2}"
            );
        } else {
            assert!(
                (r1.abs() - std::f64::consts::FRAC_PI_4).abs() < 1e-2,
                "{x}: {q1} {q2}"
            );
        }
    }
}

#[test]
fn sqrt_exact_and_rsqrt_accuracy() {
    let xs = Inputs {
        emin: -149,
        emax: 127,
        signed: false,
        lo: 0.0,
        hi: 4.0,
    }
    .generate(
        11,
        &with_neighbours(&[1.0, 2.0, 4.0, f32::MIN_POSITIVE, f32::MAX]),
    );
    let ws = max_ulp(&xs, sqrt, f64::sqrt);
    report("sqrt", "bits + 2^[-149,128) + U[0, 4]", &ws, 0.5);
    for &x in &xs {
        if x >= 0.0 {
            assert_eq!(
                sqrt(x).to_bits(),
                (f64::from(x).sqrt() as f32).to_bits(),
                "{x}"
            );
        }
    }
    let w = max_ulp(&xs, rsqrt, |x| 1.0 / x.sqrt());
    report("rsqrt", "bits + 2^[-149,128) + U[0, 4]", &w, 0.5 + 1e-6);
    assert_eq!(rsqrt(0.0), f32::INFINITY);
    assert_eq!(rsqrt(-0.0), f32::NEG_INFINITY);
    assert_eq!(rsqrt(f32::INFINITY).to_bits(), 0);
    assert_eq!(rsqrt(4.0), 0.5);
    assert_eq!(rsqrt(-1.0).to_bits(), CANONICAL_NAN.to_bits());
    assert_eq!(sqrt(-1.0).to_bits(), CANONICAL_NAN.to_bits());
    assert_eq!(sqrt(-0.0).to_bits(), (-0.0f32).to_bits());
}

/// The same measurements over 16 more seeds (≈ 2·10⁷ inputs per function). Slow in the dev
/// profile: `cargo test --release -p pinpoint-kernels --lib large_sweep -- --ignored`.
#[test]
#[ignore]
fn large_sweep() {
    type Case = (&'static str, fn(f32) -> f32, fn(f64) -> f64, Inputs, f64);
    let cases: Vec<Case> = vec![
        (
            "exp",
            exp,
            f64::exp,
            Inputs {
                emin: -30,
                emax: 6,
                signed: true,
                lo: -104.5,
                hi: 89.0,
            },
            1.0,
        ),
        (
            "ln",
            ln,
            f64::ln,
            Inputs {
                emin: -149,
                emax: 127,
                signed: false,
                lo: 0.5,
                hi: 2.0,
            },
            1.0,
        ),
        (
            "tanh",
            tanh,
            f64::tanh,
            Inputs {
                emin: -30,
                emax: 4,
                signed: true,
                lo: -10.0,
                hi: 10.0,
            },
            1.0,
        ),
        (
            "sigmoid",
            sigmoid,
            sigmoid_ref,
            Inputs {
                emin: -30,
                emax: 6,
                signed: true,
                lo: -110.0,
                hi: 20.0,
            },
            1.0,
        ),
        (
            "erf",
            erf,
            erf_ref,
            Inputs {
                emin: -30,
                emax: 2,
                signed: true,
                lo: -4.5,
                hi: 4.5,
            },
            1.0,
        ),
        (
            "sin",
            sin,
            f64::sin,
            Inputs {
                emin: -30,
                emax: 30,
                signed: true,
                lo: -10.0,
                hi: 10.0,
            },
            1.0,
        ),
        (
            "cos",
            cos,
            f64::cos,
            Inputs {
                emin: -30,
                emax: 30,
                signed: true,
                lo: -10.0,
                hi: 10.0,
            },
            1.0,
        ),
        (
            "rsqrt",
            rsqrt,
            |x| 1.0 / x.sqrt(),
            Inputs {
                emin: -149,
                emax: 127,
                signed: false,
                lo: 0.0,
                hi: 4.0,
            },
            0.5 + 1e-6,
        ),
    ];
    for (name, f, r, inputs, bound) in &cases {
        let mut worst = Worst::new();
        for seed in 100..116 {
            let w = max_ulp(&inputs.generate(seed, &[]), *f, *r);
            if w.err > worst.err {
                worst = w;
            }
        }
        report(name, "16 seeds", &worst, *bound);
    }
    let tb = GeluBounds {
        pos_ulp: 2.0,
        neg_ulp: 16.0,
        tail_ulp: 200.0,
        tail_abs: 4e-9,
    };
    let eb = GeluBounds {
        pos_ulp: 2.0,
        neg_ulp: 8.0,
        tail_ulp: 10.0,
        tail_abs: 2e-9,
    };
    for seed in 100..116 {
        gelu_check("gelu_tanh", gelu_tanh, gelu_tanh_ref, seed, &tb);
        gelu_check("gelu_erf", gelu_erf, gelu_erf_ref, seed, &eb);
    }
}
