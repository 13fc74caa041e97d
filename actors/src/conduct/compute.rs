//! The conductor's work off the actor loop: fetching a job's spec from peers, and the compute
//! a dispute party needs (the traced record of one step) and a verifier's re-run of a sampled
//! step, each replayed from the newest checkpoint the executor left in the store; plus the
//! cheater's corrupted run (adversary only). Compute runs on tokio's blocking pool.

use std::collections::BTreeSet;

use pinpoint_kernels::Cpu;
use pinpoint_kernels::graph::Mode;
use pinpoint_net::{QuicNode, Transport};
use pinpoint_protocol::dispute::StepRecord;
use pinpoint_protocol::id::{JobId, NodeId};
use pinpoint_protocol::wire::StateManifest;
use pinpoint_train::{JobSpec, Trainer};

use crate::store::SharedStore;

/// How a cheating trainer corrupts its run: the output of operator `node` (1-based) of step
/// `step` is wrong, hence every state from `step` on (`dispute::strategy::Corruption::WrongNode`
/// of the protocol's adversary module).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cheat {
    /// The corrupted step, `1 ≤ step ≤ T`.
    pub step: u64,
    /// The corrupted operator, `1 ≤ node ≤ N`.
    pub node: u64,
}

/// Why a cheat cannot be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a cheat: write wrong-node:STEP:NODE (both at least 1), e.g. wrong-node:3:2")]
pub struct BadCheat(pub String);

impl std::str::FromStr for Cheat {
    type Err = BadCheat;

    /// `wrong-node:STEP:NODE`.
    fn from_str(s: &str) -> Result<Self, BadCheat> {
        let bad = || BadCheat(s.to_string());
        let mut parts = s.split(':');
        if parts.next() != Some("wrong-node") {
            return Err(bad());
        }
        let mut num = || -> Result<u64, BadCheat> {
            let n: u64 = parts.next().ok_or_else(bad)?.parse().map_err(|_| bad())?;
            if n == 0 { Err(bad()) } else { Ok(n) }
        };
        let (step, node) = (num()?, num()?);
        if parts.next().is_some() {
            return Err(bad());
        }
        Ok(Self { step, node })
    }
}

impl std::fmt::Display for Cheat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "wrong-node:{}:{}", self.step, self.node)
    }
}

/// Fetches the blob `hash` from the first of `peers` that has it and decodes it as a
/// canonical spec. The transport checks the blob's hash on arrival.
pub(super) async fn fetch_spec(
    transport: &QuicNode,
    peers: &[NodeId],
    hash: [u8; 32],
) -> Result<JobSpec, String> {
    let mut last = "no peer to fetch it from".to_string();
    for peer in peers {
        let mut bytes = Vec::new();
        match transport.fetch_blob(*peer, hash, &mut bytes, |_| {}).await {
            Ok(_) => return JobSpec::decode(&bytes).map_err(|e| e.to_string()),
            Err(e) => last = format!("{peer}: {e}"),
        }
    }
    Err(last)
}

/// Where this node's honest run of `job` can start a replay to step `step`: the newest
/// checkpoint `≤ step` the executor left in the store (verified against the spec and its own
/// state hash), else `S_0`.
fn replay_from(
    spec: &JobSpec,
    store: &SharedStore,
    job: &JobId,
    step: u64,
) -> Result<Trainer, String> {
    let e = |e: &dyn std::fmt::Display| e.to_string();
    let saved = match spec.hash() {
        Ok(h) => store
            .lock()
            .and_then(|mut s| s.checkpoint_at_most(job, h, step))
            .unwrap_or_else(|err| {
                tracing::warn!(error = %err, "reading a checkpoint: replaying from S_0");
                None
            }),
        Err(_) => None,
    };
    match saved {
        Some(c) => Trainer::from_state(spec, None, Cpu::single(), c.state).map_err(|x| e(&x)),
        None => Trainer::new(spec, None, Cpu::single()).map_err(|x| e(&x)),
    }
}

/// The traced record of step `lo → lo + 1` of the honest run of `spec` (job `job`),
/// replayed from the newest checkpoint at or before `lo`.
pub(super) fn step_record(
    spec: &JobSpec,
    store: &SharedStore,
    job: &JobId,
    lo: u64,
) -> Result<StepRecord, String> {
    let e = |e: &dyn std::fmt::Display| e.to_string();
    let mut tr = replay_from(spec, store, job, lo)?;
    while tr.step() < lo {
        tr.step_once(&Mode::Unhashed).map_err(|x| e(&x))?;
    }
    let before = StateManifest::of(tr.state()).map_err(|x| e(&x))?;
    let all: BTreeSet<usize> = (0..tr.step_program().graph().nodes.len()).collect();
    let r = tr.step_once(&Mode::Trace(all)).map_err(|x| e(&x))?;
    Ok(StepRecord {
        before,
        graph: tr.step_program().graph().clone(),
        node_hashes: r.node_hashes,
        traces: r.traces,
    })
}

/// Checkpoint interval of a cheater's run.
#[cfg(feature = "adversary")]
const CHEAT_CHECKPOINT_EVERY: u64 = 16;

#[cfg(feature = "adversary")]
fn corrupted(
    spec: &JobSpec,
    cheat: Cheat,
) -> Result<pinpoint_protocol::dispute::strategy::Corrupted, String> {
    use pinpoint_protocol::dispute::Replayer;
    use pinpoint_protocol::dispute::strategy::{Corrupted, Corruption};
    // Hashes and a checkpoint every `CHEAT_CHECKPOINT_EVERY` steps; the one asked-for step is
    // re-run and traced.
    let record = Replayer::run(spec, None, Cpu::single(), CHEAT_CHECKPOINT_EVERY)
        .map_err(|e| e.to_string())?;
    let corruption = Corruption::WrongNode {
        step: cheat.step,
        node: cheat.node,
    };
    Corrupted::new(Box::new(record), corruption, 1).map_err(|e| e.to_string())
}

/// The cheater's committed state hashes.
pub(super) fn cheat_hashes(spec: &JobSpec, cheat: Cheat) -> Result<Vec<[u8; 32]>, String> {
    #[cfg(feature = "adversary")]
    {
        use pinpoint_protocol::dispute::RunSource;
        corrupted(spec, cheat).map(|c| c.state_hashes().to_vec())
    }
    #[cfg(not(feature = "adversary"))]
    {
        let _ = (spec, cheat);
        Err("this build has no adversary feature".into())
    }
}

/// The cheater's record of step `lo → lo + 1` (consistent with its corrupted hashes).
pub(super) fn cheat_record(spec: &JobSpec, cheat: Cheat, lo: u64) -> Result<StepRecord, String> {
    #[cfg(feature = "adversary")]
    {
        use pinpoint_protocol::dispute::RunSource;
        corrupted(spec, cheat)?
            .step_record(lo)
            .map_err(|e| e.to_string())
    }
    #[cfg(not(feature = "adversary"))]
    {
        let _ = (spec, cheat, lo);
        Err("this build has no adversary feature".into())
    }
}

/// A verifier's re-run of sampled step `step`: its own honest `S_{step−1}` (replayed from its
/// newest checkpoint at or before `step − 1` of job `job`, else from `S_0`) must hash to the
/// trainer's proven `prev_hash`; then one step.
pub(super) fn recompute(
    spec: &JobSpec,
    store: &SharedStore,
    job: &JobId,
    step: u64,
    prev_hash: [u8; 32],
) -> pinpoint_protocol::verify::Recomputed {
    use pinpoint_protocol::verify::Recomputed;
    let run = || -> Result<Recomputed, String> {
        let e = |e: &dyn std::fmt::Display| e.to_string();
        let Some(prev) = step.checked_sub(1) else {
            return Ok(Recomputed::StateUnavailable);
        };
        let mut tr = replay_from(spec, store, job, prev)?;
        while tr.step() < prev {
            tr.step_once(&Mode::Unhashed).map_err(|x| e(&x))?;
        }
        if tr.state_hash().0 != prev_hash {
            return Ok(Recomputed::StateUnavailable);
        }
        let r = tr.step_once(&Mode::Unhashed).map_err(|x| e(&x))?;
        Ok(Recomputed::Hash(r.hash.0))
    };
    run().unwrap_or_else(Recomputed::Failed)
}

#[cfg(test)]
mod tests {
    use super::Cheat;

    #[test]
    fn cheats_parse_and_print_the_same() {
        let c: Cheat = "wrong-node:3:2".parse().expect("parses");
        assert_eq!(c, Cheat { step: 3, node: 2 });
        assert_eq!(c.to_string(), "wrong-node:3:2");
        for bad in [
            "",
            "wrong-node",
            "wrong-node:0:1",
            "wrong-node:1",
            "wrong-node:1:2:3",
            "x:1:2",
            "wrong-node:a:2",
        ] {
            assert!(bad.parse::<Cheat>().is_err(), "{bad}");
        }
    }
}
