//! Publication of checkpoint-store commits.

use crate::shim::{Arc, Mutex};

/// The newest committed value (e.g. a checkpoint's `(step, hash, path)` record), published
/// after its data is durable. [`Published::publish`] installs a version only if it is newer
/// than the current one, so concurrent or late writers never move readers backwards, and a
/// reader always gets one whole committed value.
#[derive(Debug)]
pub struct Published<T> {
    current: Mutex<Option<(u64, Arc<T>)>>,
}

impl<T> Default for Published<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Published<T> {
    /// Nothing published yet.
    pub fn new() -> Self {
        Self {
            current: Mutex::new(None),
        }
    }

    /// Publishes `value` as `version`; returns whether it became the current one (it does
    /// not if a version at least as new is already published). A poisoned lock is recovered:
    /// the stored pair is only ever replaced whole.
    pub fn publish(&self, version: u64, value: T) -> bool {
        let mut g = match self.current.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        if g.as_ref().is_some_and(|(v, _)| *v >= version) {
            return false;
        }
        *g = Some((version, Arc::new(value)));
        true
    }

    /// The newest published version and value.
    pub fn latest(&self) -> Option<(u64, Arc<T>)> {
        let g = match self.current.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        g.as_ref().map(|(v, t)| (*v, Arc::clone(t)))
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn versions_only_move_forward() {
        let p = Published::new();
        assert!(p.latest().is_none());
        assert!(p.publish(2, "b"));
        assert!(!p.publish(1, "a"));
        assert!(!p.publish(2, "b2"));
        assert_eq!(p.latest().map(|(v, s)| (v, *s)), Some((2, "b")));
    }
}
