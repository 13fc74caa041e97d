//! `ReplayGuard`: each sequence number at most once per `(signer, job, round)`, within a window
//! of the highest one seen (an anti-replay window in the manner of IPsec's, RFC 4303 §3.4.3).

use std::collections::BTreeMap;

use borsh::BorshSerialize;

use super::key::NodeId;
use super::signed::{JobId, Signed};
use crate::error::{ProtocolError, Result};

/// Default number of `(signer, job, round)` keys a [`ReplayGuard`] tracks.
///
/// A dispute has about `⌈log2 T⌉ + ⌈log2 N⌉ + c` rounds and two parties, so one job needs well
/// under a hundred keys; 65 536 keys (about 6 MiB) leave room for hundreds of concurrent jobs.
pub const DEFAULT_REPLAY_CAPACITY: usize = 65_536;

/// How far below the highest accepted sequence number a statement may be and still be
/// accepted (once): messages travel on separate QUIC streams, so two statements sent in order
/// may arrive in the other order; refusing the older one would lose it.
pub const REPLAY_WINDOW: u64 = 64;

/// The sequence numbers seen for one key: the highest, and which of the [`REPLAY_WINDOW`]
/// below it (bit `i`: `max − i`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Window {
    max: u64,
    seen: u64,
}

impl Window {
    fn new(seq: u64) -> Self {
        Self { max: seq, seen: 1 }
    }

    /// Whether `seq` is new: above the highest, or inside the window and not seen yet.
    fn fresh(&self, seq: u64) -> std::result::Result<(), &'static str> {
        if seq > self.max {
            return Ok(());
        }
        let d = self.max - seq;
        if d >= REPLAY_WINDOW {
            Err("below the replay window")
        } else if self.seen & (1 << d) != 0 {
            Err("already seen")
        } else {
            Ok(())
        }
    }

    /// Records `seq` (which [`Window::fresh`] accepted).
    fn record(&mut self, seq: u64) {
        if seq > self.max {
            let shift = seq - self.max;
            self.seen = if shift >= REPLAY_WINDOW {
                0
            } else {
                self.seen << shift
            };
            self.seen |= 1;
            self.max = seq;
        } else {
            self.seen |= 1 << (self.max - seq);
        }
    }
}

/// Replay protection for signed statements.
///
/// For each `(signer, job, round)` it remembers the highest sequence number accepted and which
/// of the [`REPLAY_WINDOW`] numbers below it were accepted; it accepts a statement only if its
/// signature verifies and its `seq` is above the highest, or inside the window and not
/// accepted before. So a statement is accepted at most once, and statements reordered in
/// transit (by less than the window) are all accepted. Pure and deterministic (a `BTreeMap`,
/// no clock, no randomness).
///
/// Memory is bounded: at most `capacity` keys are tracked. A statement for a new key when the
/// guard is full is refused with [`ProtocolError::CapacityExceeded`] — there is no silent
/// eviction, since forgetting a key would let its old statements be replayed. The owner frees
/// space explicitly when a job or a round can no longer receive statements
/// ([`ReplayGuard::forget_job`], [`ReplayGuard::forget_rounds_before`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplayGuard {
    last: BTreeMap<(NodeId, JobId, u32), Window>,
    capacity: usize,
}

impl Default for ReplayGuard {
    fn default() -> Self {
        Self::new(DEFAULT_REPLAY_CAPACITY)
    }
}

impl ReplayGuard {
    /// An empty guard tracking at most `capacity` keys.
    pub fn new(capacity: usize) -> Self {
        Self {
            last: BTreeMap::new(),
            capacity,
        }
    }

    /// The maximum number of tracked keys.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The number of tracked keys.
    pub fn len(&self) -> usize {
        self.last.len()
    }

    /// Whether no key is tracked.
    pub fn is_empty(&self) -> bool {
        self.last.is_empty()
    }

    /// The highest sequence number accepted for `(signer, job, round)`, if any.
    pub fn last_seq(&self, signer: &NodeId, job: &JobId, round: u32) -> Option<u64> {
        self.last.get(&(*signer, *job, round)).map(|w| w.max)
    }

    /// Checks without recording: the signature verifies, the sequence number is fresh and
    /// there is room for a new key.
    ///
    /// Errors: [`ProtocolError::BadSignature`], [`ProtocolError::Replay`],
    /// [`ProtocolError::CapacityExceeded`].
    pub fn check<T: BorshSerialize>(&self, statement: &Signed<T>) -> Result<()> {
        statement.verify()?;
        self.check_seq(
            statement.signer,
            statement.job,
            statement.round,
            statement.seq,
        )
    }

    /// Verifies `statement` and records its sequence number; the statement is accepted iff
    /// this returns `Ok`. On error the guard is unchanged.
    ///
    /// Errors: as [`ReplayGuard::check`].
    pub fn accept<T: BorshSerialize>(&mut self, statement: &Signed<T>) -> Result<()> {
        statement.verify()?;
        self.accept_authenticated(statement)
    }

    /// Records the sequence number of a statement whose origin the caller has already
    /// authenticated (it verified the signature once, or the link vouches for the signer):
    /// the freshness half of [`ReplayGuard::accept`], without verifying the signature again.
    /// On error the guard is unchanged.
    ///
    /// Errors: [`ProtocolError::Replay`], [`ProtocolError::CapacityExceeded`].
    pub fn accept_authenticated<T>(&mut self, statement: &Signed<T>) -> Result<()> {
        self.check_seq(
            statement.signer,
            statement.job,
            statement.round,
            statement.seq,
        )?;
        self.last
            .entry((statement.signer, statement.job, statement.round))
            .and_modify(|w| w.record(statement.seq))
            .or_insert_with(|| Window::new(statement.seq));
        Ok(())
    }

    /// Forgets every key of `job` (call when the job is finalized: its statements are no
    /// longer accepted by the state machines at all).
    pub fn forget_job(&mut self, job: &JobId) {
        self.last.retain(|(_, j, _), _| j != job);
    }

    /// Forgets the keys of `job` whose round is below `round` (call when those rounds are
    /// closed).
    pub fn forget_rounds_before(&mut self, job: &JobId, round: u32) {
        self.last.retain(|(_, j, r), _| j != job || *r >= round);
    }

    fn check_seq(&self, signer: NodeId, job: JobId, round: u32, seq: u64) -> Result<()> {
        match self.last.get(&(signer, job, round)) {
            Some(w) => w.fresh(seq).map_err(|why| {
                ProtocolError::Replay(format!(
                    "signer {signer} round {round}: sequence {seq} is {why} (highest {})",
                    w.max
                ))
            }),
            None if self.last.len() >= self.capacity => Err(ProtocolError::CapacityExceeded {
                what: "replay guard keys",
                limit: self.capacity,
            }),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::NodeKey;

    fn sign(key: &NodeKey, job: u8, round: u32, seq: u64) -> Signed<u32> {
        Signed::sign(key, [job; 32], round, seq, 42).expect("sign")
    }

    #[test]
    fn accepts_increasing_rejects_replay_and_stale() {
        let k = NodeKey::from_seed([1; 32]);
        let mut g = ReplayGuard::default();
        g.accept(&sign(&k, 1, 0, 0)).expect("first");
        assert!(matches!(
            g.accept(&sign(&k, 1, 0, 0)),
            Err(ProtocolError::Replay(_))
        ));
        g.accept(&sign(&k, 1, 0, 5)).expect("jump ahead");
        for seen in [0, 5] {
            assert!(matches!(
                g.accept(&sign(&k, 1, 0, seen)),
                Err(ProtocolError::Replay(_))
            ));
        }
        assert_eq!(g.last_seq(&k.node_id(), &[1; 32], 0), Some(5));
        g.accept(&sign(&k, 1, 0, 6)).expect("next");
        assert_eq!(g.last_seq(&k.node_id(), &[1; 32], 0), Some(6));
    }

    #[test]
    fn reordered_statements_are_accepted_once_inside_the_window() {
        let k = NodeKey::from_seed([1; 32]);
        let mut g = ReplayGuard::default();
        g.accept(&sign(&k, 1, 0, 10)).expect("first");
        g.accept(&sign(&k, 1, 0, 12)).expect("overtook 11");
        g.accept(&sign(&k, 1, 0, 11))
            .expect("11 arrives late: accepted");
        for again in [10, 11, 12] {
            assert!(matches!(
                g.accept(&sign(&k, 1, 0, again)),
                Err(ProtocolError::Replay(_))
            ));
        }
        assert_eq!(g.last_seq(&k.node_id(), &[1; 32], 0), Some(12));
        // The window's lower edge: `max − (REPLAY_WINDOW − 1)` is the oldest accepted.
        let top = 12 + REPLAY_WINDOW + 5;
        g.accept(&sign(&k, 1, 0, top)).expect("far ahead");
        assert!(matches!(
            g.accept(&sign(&k, 1, 0, top - REPLAY_WINDOW)),
            Err(ProtocolError::Replay(_))
        ));
        g.accept(&sign(&k, 1, 0, top - (REPLAY_WINDOW - 1)))
            .expect("inside the window");
        // A jump beyond the window forgets the old bits but not the highest.
        assert!(matches!(
            g.accept(&sign(&k, 1, 0, top)),
            Err(ProtocolError::Replay(_))
        ));
    }

    #[test]
    fn keys_are_independent() {
        let a = NodeKey::from_seed([1; 32]);
        let b = NodeKey::from_seed([2; 32]);
        let mut g = ReplayGuard::default();
        g.accept(&sign(&a, 1, 0, 3)).expect("a");
        g.accept(&sign(&b, 1, 0, 0)).expect("other signer");
        g.accept(&sign(&a, 2, 0, 0)).expect("other job");
        g.accept(&sign(&a, 1, 1, 0)).expect("other round");
        assert_eq!(g.len(), 4);
    }

    #[test]
    fn bad_signature_is_not_recorded() {
        let k = NodeKey::from_seed([1; 32]);
        let mut g = ReplayGuard::default();
        let mut s = sign(&k, 1, 0, 9);
        s.statement = 43;
        assert!(matches!(g.accept(&s), Err(ProtocolError::BadSignature(_))));
        assert!(g.is_empty());
        g.accept(&sign(&k, 1, 0, 1)).expect("unaffected");
    }

    #[test]
    fn capacity_is_enforced_and_forgetting_frees_space() {
        let k = NodeKey::from_seed([1; 32]);
        let mut g = ReplayGuard::new(2);
        g.accept(&sign(&k, 1, 0, 0)).expect("1");
        g.accept(&sign(&k, 1, 1, 0)).expect("2");
        assert!(matches!(
            g.accept(&sign(&k, 2, 0, 0)),
            Err(ProtocolError::CapacityExceeded { limit: 2, .. })
        ));
        // Existing keys still advance when full.
        g.accept(&sign(&k, 1, 1, 1)).expect("existing key");
        g.forget_rounds_before(&[1; 32], 1);
        assert_eq!(g.len(), 1);
        g.accept(&sign(&k, 2, 0, 0)).expect("room again");
        g.forget_job(&[1; 32]);
        assert_eq!(g.len(), 1);
        assert_eq!(g.last_seq(&k.node_id(), &[2; 32], 0), Some(0));
    }
}
