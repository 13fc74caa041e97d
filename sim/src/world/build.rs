//! Building a [`World`] from a scenario and a seed: nodes and their strategies, jobs,
//! genesis balances and the fault schedule.

use std::collections::BTreeMap;
use std::sync::Arc;

use pinpoint_protocol::id::NodeKey;

use super::{JobRun, Node, Roles, World};
use crate::error::Result;
use crate::ledger::{Holder, MemLedger};
use crate::onchain::ChainMirror;
use crate::records::SpecRecords;
use crate::report::RunResult;
use crate::rng::Rng;
use crate::scenario::{Kind, Role, Scenario, SettlementBackend};

/// Trainer strategies `any-cheat` draws from.
const CHEATS: [Kind; 9] = [
    Kind::WrongState,
    Kind::WrongNode,
    Kind::StepLie,
    Kind::NodeLie,
    Kind::BadProof,
    Kind::Silent,
    Kind::SlowOpenings,
    Kind::Equivocate,
    Kind::WrongIntermediate,
];

fn derive(seed: u64, what: &str, i: u64) -> [u8; 32] {
    let mut h = blake3::Hasher::new();
    h.update(b"pinpoint-sim");
    h.update(&seed.to_le_bytes());
    h.update(what.as_bytes());
    h.update(&i.to_le_bytes());
    *h.finalize().as_bytes()
}

impl World {
    /// A world for `scn` (already drawn for this seed) and `seed`, over `recs`.
    ///
    /// Errors: [`crate::SimError::Chain`] if the embedded chain cannot be set up.
    pub fn new(scn: Scenario, seed: u64, recs: Arc<SpecRecords>) -> Result<Self> {
        let mut strat_rng = Rng::new(seed, "strategies");
        let mut nodes = Vec::new();
        let (opening_ms, deadlines) = (scn.timing.opening_ms, scn.answer_deadlines());
        let stall_ms = scn.stall_ms();
        let add =
            |role: Role, kind: Option<Kind>, salt: u64, fraction: f64, nodes: &mut Vec<Node>| {
                let i = nodes.len() as u64;
                let id = NodeKey::from_seed(derive(seed, "node key", i)).node_id();
                nodes.push(Node {
                    id,
                    roles: Roles::new(id, kind, opening_ms, stall_ms, deadlines),
                    arbiter_poll: None,
                    trainer_poll: None,
                    last_seq: 0,
                    role,
                    kind,
                    salt,
                    fraction,
                    up: true,
                    epoch: 0,
                    paused_until: None,
                    deferred: Vec::new(),
                });
            };
        for (role, n) in [
            (Role::Trainer, scn.nodes.trainers),
            (Role::Verifier, scn.nodes.verifiers),
            (Role::Arbiter, scn.nodes.arbiters),
        ] {
            // Strategies fill a role's nodes from the last backwards.
            let mut kinds: Vec<(Option<Kind>, usize, bool, usize, f64)> =
                vec![(None, 0, false, 0, 0.0); n];
            let mut next = n;
            for (e, s) in scn.strategy.iter().enumerate() {
                if s.role != role {
                    continue;
                }
                for _ in 0..s.count {
                    next -= 1;
                    kinds[next] = (Some(s.kind), s.sybil, s.collude, e, s.fraction);
                }
            }
            for (kind, sybil, collude, entry, fraction) in kinds {
                let kind = match kind {
                    Some(Kind::AnyCheat) => Some(CHEATS[strat_rng.index(CHEATS.len())]),
                    other => other,
                };
                let salt = if collude {
                    1_000 + entry as u64
                } else {
                    nodes.len() as u64 + 1
                };
                for _ in 0..=sybil {
                    add(role, kind, salt, fraction, &mut nodes);
                }
            }
        }
        let stake = u128::from(scn.jobs.trainer_stake.max(scn.jobs.challenger_stake));
        let mut genesis: Vec<(Holder, u128)> = vec![(
            Holder::Submitter,
            u128::from(scn.jobs.payment) * scn.jobs.count as u128,
        )];
        // Enough for a trainer's stake in every job, or a verifier's challenge of every replica
        // of every job (a verifier may challenge each trainer it has shown wrong), plus one.
        let fund = stake * (scn.jobs.count as u128 * scn.jobs.replicas.max(1) as u128 + 1);
        let mut per_node = BTreeMap::new();
        for n in &nodes {
            per_node.insert(n.id, fund);
        }
        let mirror = match scn.settlement {
            SettlementBackend::Memory => None,
            SettlementBackend::Embedded => {
                let roles: Vec<Role> = nodes.iter().map(|n| n.role).collect();
                let ids: Vec<_> = nodes.iter().map(|n| n.id).collect();
                Some(ChainMirror::new(&scn, &roles, &ids, fund)?)
            }
        };
        genesis.extend(per_node.into_iter().map(|(id, a)| (Holder::Node(id), a)));
        let mut job_rng = Rng::new(seed, "jobs");
        let jobs = (0..scn.jobs.count)
            .map(|i| JobRun {
                id: derive(seed, "job id", i as u64),
                job: None,
                slots: Vec::new(),
                posted_at: 0,
                samples: job_rng.range(scn.jobs.samples[0], scn.jobs.samples[1]),
                sample_seed: derive(seed, "sample seed", i as u64),
                window_noted: false,
                next_poll: None,
                finalized_at: None,
            })
            .collect();
        let mut w = World {
            scn,
            seed,
            now: 0,
            seq: 0,
            queue: BTreeMap::new(),
            rng_net: Rng::new(seed, "network"),
            nodes,
            jobs,
            disputes: Vec::new(),
            verifs: Vec::new(),
            partitions: Vec::new(),
            ledger: MemLedger::new(&genesis),
            mirror,
            recs,
            trace: blake3::Hasher::new(),
            out: RunResult {
                seed,
                ..RunResult::default()
            },
            heal_at: None,
            challenges: BTreeMap::new(),
            own_runs: BTreeMap::new(),
            ix_of: BTreeMap::new(),
            healed: false,
            keep_trace: true,
            log: None,
        };
        w.ix_of = w.nodes.iter().enumerate().map(|(i, n)| (n.id, i)).collect();
        for j in 0..w.jobs.len() {
            let at = j as u64 * w.scn.jobs.interval_ms;
            w.schedule(at, super::Ev::PostJob { job: j });
        }
        w.schedule_faults();
        let dur = w.scn.timing.duration_ms;
        w.schedule(dur, super::Ev::Heal);
        Ok(w)
    }
}
