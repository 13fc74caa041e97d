//! Running seeds: [`run_seed`] for one, [`run_range`] for many, [`parse_seeds`] for `A..B`.

use std::ops::Range;

use crate::error::{Result, SimError};
use crate::records::RecordCache;
use crate::report::{RunResult, Summary};
use crate::scenario::Scenario;
use crate::world::World;

/// Runs `scenario` with `seed` (records from `cache`).
///
/// Errors: the spec cannot be trained.
pub fn run_seed(scenario: &Scenario, seed: u64, cache: &RecordCache) -> Result<RunResult> {
    let recs = cache.get(&scenario.jobs.spec)?;
    let scn = scenario.for_seed(seed);
    Ok(World::new(scn, seed, recs)?.run())
}

/// Like [`run_seed`], also returning one log line per processed event.
///
/// Errors: as [`run_seed`].
pub fn run_seed_logged(
    scenario: &Scenario,
    seed: u64,
    cache: &RecordCache,
) -> Result<(RunResult, Vec<String>)> {
    let recs = cache.get(&scenario.jobs.spec)?;
    let scn = scenario.for_seed(seed);
    Ok(World::new(scn, seed, recs)?.with_log().run_logged())
}

/// Runs every seed of `seeds`, calling `each` after each run; returns the summary.
///
/// Errors: as [`run_seed`].
pub fn run_range(
    scenario: &Scenario,
    seeds: Range<u64>,
    cache: &RecordCache,
    each: impl FnMut(&RunResult),
) -> Result<Summary> {
    let one = crate::parallel::RunOptions {
        jobs: 1,
        fail_fast: false,
    };
    crate::parallel::run_parallel(scenario, seeds, cache, one, each)
}

/// Parses `A..B` (`A < B`) or a single seed `A` (meaning `A..A+1`).
///
/// Errors: [`SimError::SeedRange`].
pub fn parse_seeds(s: &str) -> Result<Range<u64>> {
    let bad = || SimError::SeedRange(s.into());
    match s.split_once("..") {
        Some((a, b)) => {
            let a: u64 = a.trim().parse().map_err(|_| bad())?;
            let b: u64 = b.trim().parse().map_err(|_| bad())?;
            if a >= b {
                return Err(bad());
            }
            Ok(a..b)
        }
        None => {
            let a: u64 = s.trim().parse().map_err(|_| bad())?;
            Ok(a..a.checked_add(1).ok_or_else(bad)?)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_ranges_parse_and_bad_ones_are_typed_errors() {
        assert_eq!(parse_seeds("0..10").ok(), Some(0..10));
        assert_eq!(parse_seeds("7").ok(), Some(7..8));
        for bad in [
            "",
            "5..5",
            "9..2",
            "a..b",
            "1..",
            "..3",
            "18446744073709551615",
        ] {
            assert!(
                matches!(parse_seeds(bad), Err(SimError::SeedRange(_))),
                "{bad}"
            );
        }
    }
}
