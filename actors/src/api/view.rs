//! The API's JSON: a conductor [`Snapshot`] and the [`EventLog`] turned into the documented
//! shapes (`docs/openapi.json`). Amounts are decimal strings of wei (they pass `u64`); hashes
//! and addresses are 0x-hex; node ids are 64 hex digits.

use serde_json::{Value, json};

use pinpoint_chain::Totals;

use crate::conduct::book::{DisputeEntry, JobEntry};
use crate::conduct::{JobState, Observed, Probe, Snapshot};

use super::log::{DisputeTrace, EventLog};

/// A job state's name in the API.
pub fn state_name(s: JobState) -> &'static str {
    match s {
        JobState::Open => "open",
        JobState::Assigned => "assigned",
        JobState::Committed => "committed",
        JobState::Disputed => "disputed",
        JobState::Finalized => "finalized",
        JobState::Cancelled => "cancelled",
    }
}

/// Every job state, in lifecycle order (the metrics' label values).
pub const STATES: [JobState; 6] = [
    JobState::Open,
    JobState::Assigned,
    JobState::Committed,
    JobState::Disputed,
    JobState::Finalized,
    JobState::Cancelled,
];

/// `GET /api/v1/status`.
pub fn status(s: &Snapshot, log: &EventLog) -> Value {
    let me = &s.me;
    let mut roles = Vec::new();
    for (on, name) in [
        (me.trainer, "trainer"),
        (me.verifier, "verifier"),
        (me.arbiter, "arbiter"),
    ] {
        if on {
            roles.push(name);
        }
    }
    let c = &s.status;
    json!({
        "node": s.node.to_hex(),
        "account": me.account.to_string(),
        "roles": roles,
        "chain_time": s.chain_time,
        "peers": s.peers.len(),
        "counters": {
            "tx_ok": c.tx_ok,
            "tx_failed": c.tx_failed,
            "trained": c.trained,
            "verdicts": c.verdicts,
            "sent": c.sent,
            "bytes_sent": c.bytes_sent,
            "send_failed": c.send_failed,
            "unplaced": c.unplaced,
        },
        "events": { "next": log.next_seq(), "lost": log.lost() },
    })
}

/// This node's training progress on `job` (the last step event the log holds).
fn progress(job: u64, log: &EventLog) -> Option<Value> {
    log.iter().rev().find_map(|(_, e)| match *e {
        Observed::Step {
            job: j,
            step,
            total,
        } if j == job => Some(json!({ "step": step, "total": total })),
        _ => None,
    })
}

/// `T` of `job`: the book's, else the spec this node fetched (the log's `spec_fetched`).
pub fn steps_of(job: u64, j: Option<&JobEntry>, log: &EventLog) -> Option<u64> {
    j.and_then(|j| j.steps).or_else(|| {
        log.iter().find_map(|(_, e)| match *e {
            Observed::SpecFetched { job: x, steps } if x == job => Some(steps),
            _ => None,
        })
    })
}

/// One job.
pub fn job(id: u64, j: &JobEntry, log: &EventLog) -> Value {
    let roots: serde_json::Map<String, Value> = j
        .roots
        .iter()
        .map(|(a, r)| (a.to_string(), Value::String(r.to_string())))
        .collect();
    json!({
        "id": id,
        "state": state_name(j.state),
        "submitter": j.submitter.to_string(),
        "spec_hash": j.spec_hash.to_string(),
        "payment": j.payment.to_string(),
        "bond": j.bond.to_string(),
        "replicas": j.replicas,
        "steps": steps_of(id, Some(j), log),
        "trainers": j.trainers.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
        "roots": roots,
        "lost": j.lost.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
        "accept_deadline": j.accept_deadline,
        "commit_deadline": j.commit_deadline,
        "window_end": j.window_end,
        "active_dispute": j.active_dispute,
        "seed": j.seed.map(|s| s.to_string()),
        "progress": progress(id, log),
    })
}

/// `GET /api/v1/jobs`.
pub fn jobs(s: &Snapshot, log: &EventLog) -> Value {
    Value::Array(s.jobs.iter().map(|(id, j)| job(*id, j, log)).collect())
}

/// `GET /api/v1/peers`: every registered node, and whether the transport can reach it now.
pub fn peers(s: &Snapshot) -> Value {
    let nodes: Vec<Value> = s
        .registry
        .iter()
        .filter(|(_, n)| **n != s.node)
        .map(|(a, n)| {
            json!({
                "account": a.to_string(),
                "node": n.to_hex(),
                "connected": s.peers.contains(n),
            })
        })
        .collect();
    Value::Array(nodes)
}

fn probe(p: Probe) -> Value {
    match p {
        Probe::Step(t) => json!({ "kind": "step", "step": t }),
        Probe::NodePhase { lo, nodes } => json!({ "kind": "node_phase", "lo": lo, "nodes": nodes }),
        Probe::Node(i) => json!({ "kind": "node", "node": i }),
        Probe::Inputs => json!({ "kind": "inputs" }),
    }
}

/// The ranges a bisection narrowed through: from `[lo, hi]`, each probed `mid` moved `lo` up
/// (the parties agreed at `mid`) or `hi` down. Whether they agreed is read from the next probe
/// (it lies above an agreed `mid`) or, for the last, from the phase's outcome `agreed(mid)`.
/// A probe repeated in a row is the referee asking again (a party was slow): counted once; a
/// probe that leaves the range as it was (the first, at `hi`) adds no row.
fn narrowing(lo: u64, hi: u64, mids: &[u64], last: Option<&dyn Fn(u64) -> bool>) -> Vec<[u64; 2]> {
    let mut mids = mids.to_vec();
    mids.dedup();
    let (mut lo, mut hi) = (lo, hi);
    let mut out = vec![[lo, hi]];
    for (i, &mid) in mids.iter().enumerate() {
        let agreed = match (mids.get(i + 1), last) {
            (Some(&next), _) => next > mid,
            (None, Some(f)) => f(mid),
            (None, None) => break,
        };
        if agreed {
            lo = mid;
        } else {
            hi = mid;
        }
        if out.last() != Some(&[lo, hi]) {
            out.push([lo, hi]);
        }
    }
    out
}

/// A dispute's bisection as this node refereed it: the queries, the step and node ranges
/// reconstructed from them, the verdict.
pub fn bisection(t: &DisputeTrace, steps: Option<u64>) -> Value {
    let step_mids: Vec<u64> = t
        .queries
        .iter()
        .filter_map(|q| match q.probe {
            Probe::Step(m) => Some(m),
            _ => None,
        })
        .collect();
    let phase = t.queries.iter().find_map(|q| match q.probe {
        Probe::NodePhase { lo, nodes } => Some((lo, nodes)),
        _ => None,
    });
    let node_mids: Vec<u64> = t
        .queries
        .iter()
        .filter_map(|q| match q.probe {
            Probe::Node(m) => Some(m),
            _ => None,
        })
        .collect();
    let agreed_lo = phase.map(|(lo, _)| lo);
    let step_last = agreed_lo.map(|lo| move |mid: u64| mid <= lo);
    let step_ranges = steps.map(|total| {
        narrowing(
            0,
            total,
            &step_mids,
            step_last.as_ref().map(|f| f as &dyn Fn(u64) -> bool),
        )
    });
    let disputed_node = t.verdict.map(|v| v.node);
    let node_last = disputed_node.map(|v| move |mid: u64| mid < v);
    let node_ranges = phase.map(|(_, nodes)| {
        narrowing(
            0,
            nodes,
            &node_mids,
            node_last.as_ref().map(|f| f as &dyn Fn(u64) -> bool),
        )
    });
    json!({
        "job": t.job,
        "queries": t.queries.iter().map(|q| json!({ "round": q.round, "probe": probe(q.probe) })).collect::<Vec<_>>(),
        "queries_dropped": t.dropped,
        "step_ranges": step_ranges,
        "node_phase": phase.map(|(lo, nodes)| json!({ "lo": lo, "nodes": nodes })),
        "node_ranges": node_ranges,
        "verdict": t.verdict.map(|v| json!({
            "ruling": v.ruling,
            "ruling_name": ruling_name(v.ruling),
            "step": v.step,
            "node": v.node,
            "rounds": v.rounds,
            "settled": v.settled.describe(),
        })),
        "withdrawn": t.withdrawn.map(|rounds| json!({ "rounds": rounds })),
    })
}

fn ruling_name(r: u8) -> &'static str {
    match r {
        0 => "defendant_wins",
        1 => "challenger_wins",
        2 => "both_lose",
        _ => "unknown",
    }
}

/// One dispute: the chain's record (when this node's book holds it) and this node's bisection
/// (when it refereed it).
pub fn dispute(
    id: u64,
    chain: Option<&DisputeEntry>,
    trace: Option<&DisputeTrace>,
    steps: Option<u64>,
) -> Value {
    json!({
        "id": id,
        "chain": chain.map(|d| json!({
            "job": d.job,
            "challenger": d.challenger.to_string(),
            "defendant": d.defendant.to_string(),
            "committee": d.committee.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
            "deadline": d.deadline,
            "ruling": d.ruling,
            "ruling_name": d.ruling.map(ruling_name),
            "by_verifier": d.by_verifier,
        })),
        "bisection": trace.map(|t| bisection(t, steps)),
    })
}

/// One observed event with its sequence number.
pub fn event(seq: u64, e: &Observed) -> Value {
    let body = match e {
        Observed::SpecFetched { job, steps } => {
            json!({ "kind": "spec_fetched", "job": job, "steps": steps })
        }
        Observed::Step { job, step, total } => {
            json!({ "kind": "step", "job": job, "step": step, "total": total })
        }
        Observed::Trained { job, root } => {
            json!({ "kind": "trained", "job": job, "root": pinpoint_chain::B256::from(*root).to_string() })
        }
        Observed::Tx { call, ok } => json!({ "kind": "tx", "call": call, "ok": ok }),
        Observed::Refereeing {
            dispute,
            job,
            challenger,
            defendant,
        } => json!({
            "kind": "refereeing", "dispute": dispute, "job": job,
            "challenger": challenger.to_hex(), "defendant": defendant.to_hex(),
        }),
        Observed::Query {
            dispute,
            to,
            round,
            probe: p,
        } => json!({
            "kind": "query", "dispute": dispute, "to": to.to_hex(), "round": round, "probe": probe(*p),
        }),
        Observed::Verdict {
            dispute,
            ruling,
            step,
            node,
            rounds,
            settled,
        } => json!({
            "kind": "verdict", "dispute": dispute, "ruling": ruling, "step": step, "node": node,
            "rounds": rounds, "settled": settled.describe(),
        }),
        Observed::Withdrawn { dispute, rounds } => json!({
            "kind": "withdrawn", "dispute": dispute, "rounds": rounds,
        }),
    };
    json!({ "seq": seq, "event": body })
}

/// `GET /api/v1/totals`.
pub fn totals(t: &Totals) -> Value {
    json!({
        "initial_supply": t.initial_supply.to_string(),
        "total_supply": t.total_supply.to_string(),
        "burned": t.burned.to_string(),
        "staked": t.staked.to_string(),
        "escrow": t.escrow.to_string(),
        "open_jobs": t.open_jobs,
        "jobs": t.jobs,
        "disputes": t.disputes,
        "arbiters": t.arbiters,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_bisection_narrows_to_the_agreed_step() {
        // T = 6, disagreement at step 3 (agreed at 2): probes 3 (disagree), 1 (agree), 2 (agree).
        let last = |mid: u64| mid <= 2;
        let r = narrowing(0, 6, &[3, 1, 2], Some(&last as &dyn Fn(u64) -> bool));
        assert_eq!(r, vec![[0, 6], [0, 3], [1, 3], [2, 3]]);
        // Without the outcome, the last probe's direction is unknown.
        let r = narrowing(0, 6, &[3, 1], None);
        assert_eq!(r, vec![[0, 6], [0, 3]]);
        // The first probe at T changes nothing; a re-asked probe counts once.
        let r = narrowing(
            0,
            6,
            &[6, 3, 3, 3, 1, 2, 2],
            Some(&last as &dyn Fn(u64) -> bool),
        );
        assert_eq!(r, vec![[0, 6], [0, 3], [1, 3], [2, 3]]);
    }
}
