//! Running a seed range on several cores ([`run_parallel`]) and cutting it into shards for a
//! cluster scheduler ([`Shard`]).
//!
//! Runs are independent and each is single-threaded and deterministic, so `N` worker threads
//! take seeds in ascending order and the results are folded into the [`Summary`] in seed order:
//! the summary, every run's trace hash and the report are identical for any `N` (tested).
//! Worker threads are the runner's, outside simulated code.

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;

use crate::error::{Result, SimError};
use crate::records::RecordCache;
use crate::report::{RunResult, Summary};
use crate::run::run_seed;
use crate::scenario::Scenario;

/// How [`run_parallel`] runs a seed range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunOptions {
    /// Worker threads (at least 1).
    pub jobs: usize,
    /// Stop after the first run (in seed order) that failed within the assumption.
    pub fail_fast: bool,
}

/// Runs every seed of `seeds` on `opts.jobs` threads, calling `each` for every run in seed
/// order; returns the summary. With `fail_fast`, the runs after the first failure are neither
/// reported nor counted, exactly as on one thread.
///
/// Errors: as [`run_seed`] (the first error in seed order).
pub fn run_parallel(
    scenario: &Scenario,
    seeds: Range<u64>,
    cache: &RecordCache,
    opts: RunOptions,
    mut each: impl FnMut(&RunResult),
) -> Result<Summary> {
    assert!(opts.jobs >= 1, "invariant: at least one worker");
    // Train the records once, before the workers race for them.
    cache.get(&scenario.jobs.spec)?;
    let mut summary = Summary::new(&scenario.name);
    let next = AtomicU64::new(seeds.start);
    let stop = AtomicBool::new(false);
    let (tx, rx) = mpsc::channel::<(u64, Result<RunResult>)>();
    std::thread::scope(|scope| {
        for _ in 0..opts.jobs {
            let tx = tx.clone();
            let (next, stop) = (&next, &stop);
            let end = seeds.end;
            scope.spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let seed = next.fetch_add(1, Ordering::Relaxed);
                    if seed >= end {
                        break;
                    }
                    if tx.send((seed, run_seed(scenario, seed, cache))).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        // Fold results in seed order.
        let mut pending: BTreeMap<u64, Result<RunResult>> = BTreeMap::new();
        let mut expected = seeds.start;
        let mut outcome: Result<()> = Ok(());
        for (seed, r) in rx.iter() {
            pending.insert(seed, r);
            while let Some(r) = pending.remove(&expected) {
                expected += 1;
                if outcome.is_err() || stop.load(Ordering::Relaxed) {
                    continue;
                }
                match r {
                    Ok(r) => {
                        summary.add(&r);
                        each(&r);
                        if opts.fail_fast && r.failed() {
                            stop.store(true, Ordering::Relaxed);
                        }
                    }
                    Err(e) => {
                        stop.store(true, Ordering::Relaxed);
                        outcome = Err(e);
                    }
                }
            }
        }
        outcome
    })?;
    Ok(summary)
}

/// Shard `index` of `count` (`I/N`, `I < N`): a contiguous block of a seed range, so that
/// merging the shards' reports in shard order gives exactly the report of the whole range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// This shard, `0 ≤ index < count`.
    pub index: u64,
    /// The number of shards.
    pub count: u64,
}

impl Shard {
    /// Parses `I/N` with `I < N`, `N ≥ 1`.
    ///
    /// Errors: [`SimError::Shard`].
    pub fn parse(s: &str) -> Result<Self> {
        let bad = || SimError::Shard(s.into());
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let index: u64 = i.trim().parse().map_err(|_| bad())?;
        let count: u64 = n.trim().parse().map_err(|_| bad())?;
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Self { index, count })
    }

    /// This shard's block of `seeds`: shard `I` of `N` gets
    /// `start + ⌊I·len/N⌋ .. start + ⌊(I+1)·len/N⌋` (possibly empty).
    pub fn of(self, seeds: Range<u64>) -> Range<u64> {
        let len = u128::from(seeds.end - seeds.start);
        let at = |k: u64| seeds.start + (len * u128::from(k) / u128::from(self.count)) as u64;
        at(self.index)..at(self.index + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_cover_the_range_in_order_without_overlap() {
        for (start, end, n) in [
            (0u64, 10u64, 3u64),
            (5, 6, 4),
            (0, 10_000, 7),
            (3, 3 + 1, 1),
        ] {
            let mut next = start;
            for i in 0..n {
                let r = Shard { index: i, count: n }.of(start..end);
                assert_eq!(r.start, next);
                next = r.end;
            }
            assert_eq!(next, end);
        }
        assert!(Shard::parse("2/2").is_err());
        assert!(Shard::parse("0/0").is_err());
        assert!(Shard::parse("x/3").is_err());
        assert_eq!(Shard::parse("1/3").ok(), Some(Shard { index: 1, count: 3 }));
    }
}
