//! Retention: keeps the store's blobs within its disk budget.
//!
//! Before a write that would take the store over budget, refs are evicted in this order
//! until the write fits:
//! 1. checkpoints other than the newest of their job (lowest step first; the item being
//!    written counts as the newest when it is a newer checkpoint);
//! 2. step records (lowest step first).
//!
//! Specs, final weights, hash-log segments, requests in flight and each job's newest
//! checkpoint are never evicted: a job can always
//! resume and its result can always be served. If the write would not fit even after every
//! allowed eviction, it is refused with [`StoreError::OverBudget`] and nothing is evicted. The order depends only on the store's contents (no clock),
//! so it is reproducible.

use std::collections::BTreeMap;

use pinpoint_protocol::id::JobId;

use super::{Kind, RefKey, Store, StoreError};

/// Refs that may be evicted, in eviction order, for a write of `writing`.
pub fn candidates(store: &Store, writing: &RefKey) -> Vec<RefKey> {
    let mut newest: BTreeMap<JobId, u64> = BTreeMap::new();
    let ckpts = store.refs.keys().filter(|k| k.kind == Kind::Checkpoint);
    for k in ckpts.chain(std::iter::once(writing).filter(|k| k.kind == Kind::Checkpoint)) {
        let e = newest.entry(k.job).or_insert(k.step);
        *e = (*e).max(k.step);
    }
    let mut old_ckpts: Vec<RefKey> = store
        .refs
        .keys()
        .filter(|k| k.kind == Kind::Checkpoint && newest.get(&k.job) != Some(&k.step))
        .copied()
        .collect();
    let mut records: Vec<RefKey> = store
        .refs
        .keys()
        .filter(|k| k.kind == Kind::StepRecord)
        .copied()
        .collect();
    old_ckpts.sort_by_key(|k| (k.step, k.job));
    records.sort_by_key(|k| (k.step, k.job));
    old_ckpts
        .into_iter()
        .chain(records)
        .filter(|k| k != writing)
        .collect()
}

/// Evicts until `new_bytes` more fit in the budget, or refuses.
pub(super) fn make_room(
    store: &mut Store,
    new_bytes: u64,
    writing: &RefKey,
) -> Result<(), StoreError> {
    let fits = |s: &Store| s.stats.used_bytes.saturating_add(new_bytes) <= s.budget_bytes;
    if fits(store) {
        return Ok(());
    }
    // Plan first: a write that cannot fit even after every eviction evicts nothing.
    let mut refs_left: BTreeMap<pinpoint_train::Digest, u32> = BTreeMap::new();
    let mut freed = 0u64;
    let mut plan = Vec::new();
    for key in candidates(store, writing) {
        let Some(digest) = store.refs.get(&key).copied() else {
            continue;
        };
        let Some(&(len, count)) = store.blobs.get(&digest) else {
            continue;
        };
        let left = refs_left.entry(digest).or_insert(count);
        *left = left.saturating_sub(1);
        if *left == 0 {
            freed += len;
        }
        plan.push(key);
        if store
            .stats
            .used_bytes
            .saturating_sub(freed)
            .saturating_add(new_bytes)
            <= store.budget_bytes
        {
            break;
        }
    }
    if store
        .stats
        .used_bytes
        .saturating_sub(freed)
        .saturating_add(new_bytes)
        > store.budget_bytes
    {
        return Err(StoreError::OverBudget {
            used_bytes: store.stats.used_bytes,
            needed_bytes: new_bytes,
            budget_bytes: store.budget_bytes,
        });
    }
    for key in plan {
        let before = store.stats.used_bytes;
        store.remove(&key)?;
        if store.stats.used_bytes < before {
            store.stats.evicted += 1;
        }
        tracing::info!(
            job = %pinpoint_train::Digest(key.job).to_hex(),
            kind = key.kind.name(),
            step = key.step,
            "retention: evicted to stay within the disk budget"
        );
    }
    debug_assert!(fits(store));
    Ok(())
}
