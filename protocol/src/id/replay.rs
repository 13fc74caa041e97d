//! `ReplayGuard`: each sequence number at most once per `(signer, job, round)`, within a
//! window below the highest one seen.

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

/// How far below the highest accepted sequence number a statement may still arrive (once).
///
/// A node sends several statements of one round at once (a referee's `NodePhaseStart` and
/// its first `NodeQuery`), each on its own QUIC stream, so they can arrive out of order; a
/// strictly increasing rule refused the overtaken one as a replay and stalled the dispute
/// until the referee asked again.
pub const REPLAY_WINDOW: u64 = 64;

/// Replay protection for signed statements.
///
/// For each `(signer, job, round)` it remembers the highest sequence number accepted and
/// which of the [`REPLAY_WINDOW`] numbers below it were accepted (as in IPsec's anti-replay
/// window). A statement is accepted only if its signature verifies and its `seq` is above
/// the highest, or within the window and not accepted before: every `seq` at most once,
/// reordering within the window tolerated, anything older refused. Only the signer can make
/// a new `seq`, so accepting a late one replays nothing. Pure and deterministic (a
/// `BTreeMap`, no clock, no randomness).
///
/// Memory is bounded: at most `capacity` keys are tracked. A statement for a new key when the
/// guard is full is refused with [`ProtocolError::CapacityExceeded`] — there is no silent
/// eviction, since forgetting a key would let its old statements be replayed. The owner frees
/// space explicitly when a job or a round can no longer receive statements
/// ([`ReplayGuard::forget_job`], [`ReplayGuard::forget_rounds_before`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplayGuard {
    /// Per key: the highest `seq` accepted and a bitmap of the window below it (bit `i`:
    /// `highest − 1 − i` was accepted).
    last: BTreeMap<(NodeId, JobId, u32), (u64, u64)>,
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

    /// The last sequence number accepted for `(signer, job, round)`, if any.
    pub fn last_seq(&self, signer: &NodeId, job: &JobId, round: u32) -> Option<u64> {
        self.last.get(&(*signer, *job, round)).map(|&(hi, _)| hi)
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
        let seq = statement.seq;
        let entry = self
            .last
            .entry((statement.signer, statement.job, statement.round))
            .or_insert((seq, 0));
        let (hi, seen) = *entry;
        *entry = if seq > hi {
            let shift = seq - hi;
            // The old highest becomes bit `shift − 1`; bits past the window fall off.
            let moved = seen
                .checked_shl(u32::try_from(shift).unwrap_or(u32::MAX))
                .unwrap_or(0);
            let old = 1u64
                .checked_shl(u32::try_from(shift - 1).unwrap_or(u32::MAX))
                .unwrap_or(0);
            (seq, moved | old)
        } else if seq < hi {
            (hi, seen | (1u64 << (hi - seq - 1)))
        } else {
            (hi, seen)
        };
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
            Some(&(hi, _)) if seq == hi => Err(ProtocolError::Replay(format!(
                "signer {signer} round {round}: sequence {seq} was accepted already"
            ))),
            Some(&(hi, _)) if seq < hi && hi - seq > REPLAY_WINDOW => {
                Err(ProtocolError::Replay(format!(
                    "signer {signer} round {round}: sequence {seq} is more than \
                     {REPLAY_WINDOW} below {hi}"
                )))
            }
            Some(&(hi, seen)) if seq < hi && (seen >> (hi - seq - 1)) & 1 == 1 => {
                Err(ProtocolError::Replay(format!(
                    "signer {signer} round {round}: sequence {seq} was accepted already"
                )))
            }
            Some(_) => Ok(()),
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
        for stale in [0, 5] {
            assert!(matches!(
                g.accept(&sign(&k, 1, 0, stale)),
                Err(ProtocolError::Replay(_))
            ));
        }
        assert_eq!(g.last_seq(&k.node_id(), &[1; 32], 0), Some(5));
        // 4 was overtaken by 5: accepted late, once.
        g.accept(&sign(&k, 1, 0, 4)).expect("overtaken");
        assert!(matches!(
            g.accept(&sign(&k, 1, 0, 4)),
            Err(ProtocolError::Replay(_))
        ));
        g.accept(&sign(&k, 1, 0, 6)).expect("next");
        assert_eq!(g.last_seq(&k.node_id(), &[1; 32], 0), Some(6));
    }

    /// Every order of a burst of statements is accepted, each exactly once; a statement more
    /// than the window below the highest is refused; the window survives a jump.
    #[test]
    fn a_reordered_burst_is_accepted_once_each_and_old_ones_are_refused() {
        let k = NodeKey::from_seed([3; 32]);
        let base = 1_000u64;
        // Several permutations of 0..8 (reversed, interleaved, rotated).
        let orders: [[u64; 8]; 4] = [
            [7, 6, 5, 4, 3, 2, 1, 0],
            [1, 0, 3, 2, 5, 4, 7, 6],
            [4, 5, 6, 7, 0, 1, 2, 3],
            [0, 7, 1, 6, 2, 5, 3, 4],
        ];
        for order in orders {
            let mut g = ReplayGuard::default();
            for &i in &order {
                g.accept(&sign(&k, 1, 0, base + i)).expect("first time");
            }
            for i in 0..8 {
                assert!(matches!(
                    g.accept(&sign(&k, 1, 0, base + i)),
                    Err(ProtocolError::Replay(_))
                ));
            }
        }
        let mut g = ReplayGuard::default();
        g.accept(&sign(&k, 1, 0, base)).expect("first");
        g.accept(&sign(&k, 1, 0, base + REPLAY_WINDOW + 1))
            .expect("far ahead");
        // `base` fell out of the window; `base + 1` is the window's oldest, never seen.
        assert!(matches!(
            g.accept(&sign(&k, 1, 0, base)),
            Err(ProtocolError::Replay(_))
        ));
        g.accept(&sign(&k, 1, 0, base + 1))
            .expect("oldest in the window");
        assert!(matches!(
            g.accept(&sign(&k, 1, 0, base + 1)),
            Err(ProtocolError::Replay(_))
        ));
        // A jump of exactly the window keeps the old highest as the window's last bit.
        g.accept(&sign(&k, 1, 0, base + 2 * REPLAY_WINDOW + 1))
            .expect("jump");
        assert!(matches!(
            g.accept(&sign(&k, 1, 0, base + REPLAY_WINDOW + 1)),
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
