//! Results: one [`RunResult`] per seed, a [`Summary`] over many, and the JSON report.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One dispute's cost and how it ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DisputeStat {
    /// Query rounds the referee issued.
    pub rounds: u32,
    /// Virtual time from the referee's start to the verdict.
    pub elapsed_ms: u64,
    /// `recomputed node`, `recomputed state`, or `forfeit <Fault>`.
    pub resolution: String,
}

/// One finished verification of a corrupted root.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SampleStat {
    /// Steps sampled.
    pub m: u64,
    /// Fraction of the root's transitions that are corrupted.
    pub f: f64,
    /// Whether the verifier found a mismatch.
    pub detected: bool,
}

/// The outcome of one seeded run.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct RunResult {
    /// The seed.
    pub seed: u64,
    /// blake3 over every processed event (hex): equal for equal runs.
    pub trace: String,
    /// Whether the run stayed within the synchrony and trust assumption.
    pub within_assumption: bool,
    /// Why it did not.
    pub assumption_breaks: Vec<String>,
    /// Checker violations (failures when `within_assumption`).
    pub violations: Vec<String>,
    /// Faults and rare paths that occurred.
    pub counters: BTreeMap<String, u64>,
    /// Every dispute.
    pub disputes: Vec<DisputeStat>,
    /// Per finalized job: time from posting to finality.
    pub finality_ms: Vec<u64>,
    /// Verifications of corrupted roots.
    pub samples: Vec<SampleStat>,
    /// Slash actions.
    pub slashed_nodes: u64,
    /// Slashed stake burned.
    pub slashed_burned: u128,
    /// Total burned (fees and slashes).
    pub burned: u128,
    /// Wrong results finalized because sampling missed them (expected with probability
    /// `(1 − f)^m`; not a violation).
    pub escaped: u64,
    /// Events processed.
    pub events: u64,
    /// Virtual end time.
    pub end_ms: u64,
    /// Set once a conservation violation was reported (reported once per run).
    #[serde(skip)]
    pub ledger_broken: bool,
}

impl RunResult {
    /// A checker failed within the assumption.
    pub fn failed(&self) -> bool {
        self.within_assumption && !self.violations.is_empty()
    }
}

/// The mean corrupted fraction from its exact sum in units of 10⁻¹² over `total` samples.
fn mean_f(sum_pico: u128, total: u64) -> f64 {
    sum_pico as f64 / 1e12 / total.max(1) as f64
}

/// Aggregates over runs. Summaries of consecutive seed ranges [`Summary::merge`] into exactly
/// the summary of the whole range (what `pinpoint sim merge` does with shard reports).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Scenario name.
    pub scenario: String,
    /// Runs.
    pub runs: u64,
    /// Runs within the assumption.
    pub within: u64,
    /// Runs with a violation within the assumption (failures).
    pub failed: u64,
    /// Runs beyond the assumption that had violations (reported, not failures).
    pub beyond_with_violations: u64,
    /// Seeds of failed runs.
    pub failed_seeds: Vec<u64>,
    /// Disputes.
    pub disputes: u64,
    /// Dispute rounds histogram: rounds → count.
    pub rounds: BTreeMap<u32, u64>,
    /// Dispute resolutions: kind → count.
    pub resolutions: BTreeMap<String, u64>,
    /// Finality times (ms) of every job.
    pub finality_ms: Vec<u64>,
    /// Detection by sample count: m → (detected, total, mean f).
    pub detection: BTreeMap<u64, (u64, u64, f64)>,
    /// Per sample count, the sum of `f` in units of 10⁻¹² (exact, so that merged summaries
    /// equal a single run's; the mean in `detection` is computed from it).
    #[serde(default)]
    pub detection_f_pico: BTreeMap<u64, u128>,
    /// Slash actions.
    pub slashed_nodes: u64,
    /// Slashed stake burned.
    pub slashed_burned: u128,
    /// Total burned.
    pub burned: u128,
    /// Wrong results that escaped sampling.
    pub escaped: u64,
    /// Summed counters.
    pub counters: BTreeMap<String, u64>,
    /// Events processed.
    pub events: u64,
}

impl Summary {
    /// An empty summary for `scenario`.
    pub fn new(scenario: &str) -> Self {
        Self {
            scenario: scenario.into(),
            ..Self::default()
        }
    }

    /// Adds one run.
    pub fn add(&mut self, r: &RunResult) {
        self.runs += 1;
        if r.within_assumption {
            self.within += 1;
        }
        if r.failed() {
            self.failed += 1;
            self.failed_seeds.push(r.seed);
        } else if !r.violations.is_empty() {
            self.beyond_with_violations += 1;
        }
        for d in &r.disputes {
            self.disputes += 1;
            *self.rounds.entry(d.rounds).or_default() += 1;
            *self.resolutions.entry(d.resolution.clone()).or_default() += 1;
        }
        self.finality_ms.extend_from_slice(&r.finality_ms);
        for s in &r.samples {
            let e = self.detection.entry(s.m).or_insert((0, 0, 0.0));
            e.0 += u64::from(s.detected);
            e.1 += 1;
            let sum = self.detection_f_pico.entry(s.m).or_default();
            *sum += (s.f.clamp(0.0, 1.0) * 1e12).round() as u128;
            e.2 = mean_f(*sum, e.1);
        }
        self.slashed_nodes += r.slashed_nodes;
        self.slashed_burned += r.slashed_burned;
        self.burned += r.burned;
        self.escaped += r.escaped;
        for (k, v) in &r.counters {
            *self.counters.entry(k.clone()).or_default() += v;
        }
        self.events += r.events;
    }

    /// Adds the summary of the seed range that follows this one (same scenario): the result is
    /// exactly the summary of both ranges run as one.
    ///
    /// Errors: the scenarios differ (the message names both).
    pub fn merge(&mut self, next: &Summary) -> std::result::Result<(), String> {
        if self.runs > 0 && self.scenario != next.scenario {
            return Err(format!(
                "cannot merge reports of scenario {:?} and {:?}",
                self.scenario, next.scenario
            ));
        }
        if self.runs == 0 {
            self.scenario.clone_from(&next.scenario);
        }
        self.runs += next.runs;
        self.within += next.within;
        self.failed += next.failed;
        self.beyond_with_violations += next.beyond_with_violations;
        self.failed_seeds.extend_from_slice(&next.failed_seeds);
        self.disputes += next.disputes;
        for (k, v) in &next.rounds {
            *self.rounds.entry(*k).or_default() += v;
        }
        for (k, v) in &next.resolutions {
            *self.resolutions.entry(k.clone()).or_default() += v;
        }
        self.finality_ms.extend_from_slice(&next.finality_ms);
        for (m, (d, t, _)) in &next.detection {
            let e = self.detection.entry(*m).or_insert((0, 0, 0.0));
            e.0 += d;
            e.1 += t;
            let sum = self.detection_f_pico.entry(*m).or_default();
            *sum += next.detection_f_pico.get(m).copied().unwrap_or(0);
            e.2 = mean_f(*sum, e.1);
        }
        self.slashed_nodes += next.slashed_nodes;
        self.slashed_burned += next.slashed_burned;
        self.burned += next.burned;
        self.escaped += next.escaped;
        for (k, v) in &next.counters {
            *self.counters.entry(k.clone()).or_default() += v;
        }
        self.events += next.events;
        Ok(())
    }

    /// A plain-text table of the summary.
    pub fn table(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let pct = |a: u64, b: u64| {
            if b == 0 {
                0.0
            } else {
                100.0 * a as f64 / b as f64
            }
        };
        let _ = writeln!(s, "scenario {}", self.scenario);
        let _ = writeln!(s, "  runs                      {:>10}", self.runs);
        let _ = writeln!(
            s,
            "  within assumption         {:>10} ({:.1}%)",
            self.within,
            pct(self.within, self.runs)
        );
        let _ = writeln!(s, "  FAILED (violations)       {:>10}", self.failed);
        let _ = writeln!(
            s,
            "  beyond, with violations   {:>10}",
            self.beyond_with_violations
        );
        let _ = writeln!(s, "  disputes                  {:>10}", self.disputes);
        if let (Some(lo), Some(hi)) = (self.rounds.keys().next(), self.rounds.keys().last()) {
            let _ = writeln!(
                s,
                "  dispute rounds            {:>10}",
                format!("{lo}..={hi}")
            );
        }
        let mut f = self.finality_ms.clone();
        f.sort_unstable();
        if !f.is_empty() {
            let q = |p: f64| f[((f.len() - 1) as f64 * p) as usize];
            let _ = writeln!(
                s,
                "  finality ms p50/p99/max   {:>10}",
                format!("{}/{}/{}", q(0.5), q(0.99), q(1.0))
            );
        }
        let _ = writeln!(s, "  slashes                   {:>10}", self.slashed_nodes);
        let _ = writeln!(s, "  escaped sampling          {:>10}", self.escaped);
        let _ = writeln!(s, "  events                    {:>10}", self.events);
        for (k, v) in &self.resolutions {
            let _ = writeln!(s, "  verdict {k:<26}{v:>8}");
        }
        let _ = writeln!(s, "  counters:");
        for (k, v) in &self.counters {
            let _ = writeln!(s, "    {k:<34}{v:>10}");
        }
        s
    }
}
