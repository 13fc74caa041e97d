//! Writing a report directory: `summary.json`, `runs.json` and four SVG plots.

use std::path::Path;

use crate::error::{Result, SimError};
use crate::report::{RunResult, Summary};
use crate::svg;

fn write(dir: &Path, name: &str, text: &str) -> Result<()> {
    let path = dir.join(name);
    std::fs::write(&path, text).map_err(|e| SimError::Report {
        path: path.display().to_string(),
        detail: e.to_string(),
    })
}

/// Checks that a report can be written into `dir` (creating it if missing), before any seed
/// runs: a bad path must not throw away a long run's results at the end.
///
/// Errors: [`SimError::Report`] naming the directory.
pub fn check_report_dir(dir: &Path) -> Result<()> {
    let fail = |e: std::io::Error| SimError::Report {
        path: dir.display().to_string(),
        detail: e.to_string(),
    };
    std::fs::create_dir_all(dir).map_err(fail)?;
    let probe = dir.join(".pinpoint-write-check");
    std::fs::write(&probe, b"").map_err(fail)?;
    std::fs::remove_file(&probe).map_err(fail)
}

/// Reads back a report written by [`write_report`]: its summary and runs.
///
/// Errors: a missing or malformed `summary.json`/`runs.json`, as [`SimError::Report`].
pub fn read_report(dir: &Path) -> Result<(Summary, Vec<RunResult>)> {
    let read = |name: &str| {
        let path = dir.join(name);
        std::fs::read_to_string(&path).map_err(|e| SimError::Report {
            path: path.display().to_string(),
            detail: e.to_string(),
        })
    };
    let bad = |name: &str, e: serde_json::Error| SimError::Report {
        path: dir.join(name).display().to_string(),
        detail: format!("not a pinpoint sim report: {e}"),
    };
    let summary =
        serde_json::from_str(&read("summary.json")?).map_err(|e| bad("summary.json", e))?;
    let runs = serde_json::from_str(&read("runs.json")?).map_err(|e| bad("runs.json", e))?;
    Ok((summary, runs))
}

/// Writes `summary.json`, `runs.json` (failed and beyond-assumption runs in full, the others
/// without their counters) and the plots `dispute_rounds.svg`, `finality.svg`,
/// `detection.svg`, `slashing.svg` into `dir` (created if missing).
///
/// Errors: I/O and encoding, as [`SimError::Report`].
pub fn write_report(dir: &Path, summary: &Summary, runs: &[RunResult]) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| SimError::Report {
        path: dir.display().to_string(),
        detail: e.to_string(),
    })?;
    let json = |v: &dyn erased::Json| v.to_json();
    write(dir, "summary.json", &json(summary)?)?;
    write(dir, "runs.json", &json(&runs.to_vec())?)?;
    let rounds: Vec<(String, f64)> = summary
        .rounds
        .iter()
        .map(|(r, n)| (r.to_string(), *n as f64))
        .collect();
    write(
        dir,
        "dispute_rounds.svg",
        &svg::bars("Dispute rounds", "query rounds", "disputes", &rounds),
    )?;
    write(
        dir,
        "finality.svg",
        &svg::bars(
            "Time to finality",
            "seconds after posting",
            "jobs",
            &finality_hist(&summary.finality_ms),
        ),
    )?;
    let points: Vec<(f64, f64)> = summary
        .detection
        .iter()
        .map(|(m, (d, n, _))| (*m as f64, *d as f64 / (*n).max(1) as f64))
        .collect();
    let (num, den) = summary
        .detection
        .values()
        .fold((0.0, 0u64), |(s, n), (_, k, f)| (s + f * *k as f64, n + k));
    let f = if den == 0 { 0.0 } else { num / den as f64 };
    write(
        dir,
        "detection.svg",
        &svg::points_and_curve(
            "Detection rate vs sampled steps",
            "sampled steps m",
            "detected",
            &points,
            |m| 1.0 - (1.0 - f).powf(m),
            &format!("1 − (1 − f)^m, f = {f:.3}"),
        ),
    )?;
    let slash = vec![
        ("slashes".to_string(), summary.slashed_nodes as f64),
        ("escaped".to_string(), summary.escaped as f64),
        (
            "burned (slash) / 1e3".to_string(),
            summary.slashed_burned as f64 / 1e3,
        ),
    ];
    write(
        dir,
        "slashing.svg",
        &svg::bars("Slashing totals", "", "count / tokens", &slash),
    )?;
    Ok(())
}

fn finality_hist(ms: &[u64]) -> Vec<(String, f64)> {
    let Some(&max) = ms.iter().max() else {
        return Vec::new();
    };
    let min = ms.iter().copied().min().unwrap_or(0);
    let bins = 12u64;
    let width = ((max - min) / bins).max(1);
    let mut counts = vec![0u64; bins as usize + 1];
    for &m in ms {
        counts[((m - min) / width).min(bins) as usize] += 1;
    }
    counts
        .into_iter()
        .enumerate()
        .map(|(i, c)| {
            (
                format!("{:.1}", (min + i as u64 * width) as f64 / 1000.0),
                c as f64,
            )
        })
        .collect()
}

mod erased {
    use crate::error::{Result, SimError};

    /// JSON encoding behind a trait object (serde's traits are not object safe).
    pub(super) trait Json {
        fn to_json(&self) -> Result<String>;
    }

    impl<T: serde::Serialize> Json for T {
        fn to_json(&self) -> Result<String> {
            serde_json::to_string_pretty(self).map_err(|e| SimError::Report {
                path: "json".into(),
                detail: e.to_string(),
            })
        }
    }
}
