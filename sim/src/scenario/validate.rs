//! Range checks of a parsed [`Scenario`]; each error names the key.

use super::{Kind, Role, Scenario, SettlementBackend};

fn prob(key: &str, p: f64) -> Result<(), String> {
    if !(0.0..=1.0).contains(&p) {
        return Err(format!("{key} = {p}: must be a probability in [0, 1]"));
    }
    Ok(())
}

fn span(key: &str, r: [u64; 2]) -> Result<(), String> {
    if r[0] > r[1] {
        return Err(format!("{key} = {r:?}: min is above max"));
    }
    Ok(())
}

fn at_least(key: &str, v: u64, min: u64) -> Result<(), String> {
    if v < min {
        return Err(format!("{key} = {v}: must be at least {min}"));
    }
    Ok(())
}

/// The longest time any timing value may name: about 31.7 years of virtual time. With every
/// duration at most this and every multiplier small (steps ≤ 16, retries ≤ 16, samples ≤ 64,
/// fault counts ≤ 1000), no sum or product the simulator forms can overflow `u64`.
pub(super) const MAX_TIME_MS: u64 = 1_000_000_000_000;

fn time(key: &str, v: u64) -> Result<(), String> {
    if v > MAX_TIME_MS {
        return Err(format!(
            "{key} = {v}: must be at most {MAX_TIME_MS} ms (about 31.7 years)"
        ));
    }
    Ok(())
}

fn time_span(key: &str, r: [u64; 2]) -> Result<(), String> {
    span(key, r)?;
    time(key, r[1])
}

fn at_most(key: &str, v: u64, max: u64) -> Result<(), String> {
    if v > max {
        return Err(format!("{key} = {v}: must be at most {max}"));
    }
    Ok(())
}

impl Scenario {
    /// Checks every range and cross-field rule; the error names the offending key.
    pub fn validate(&self) -> Result<(), String> {
        let n = &self.nodes;
        at_least("nodes.trainers", n.trainers as u64, 1)?;
        at_most("nodes.trainers", n.trainers as u64, 64)?;
        at_most("nodes.verifiers", n.verifiers as u64, 64)?;
        at_least("nodes.arbiters", n.arbiters as u64, 1)?;
        at_most("nodes.arbiters", n.arbiters as u64, 64)?;
        at_least("nodes.committee", n.committee as u64, 1)?;
        if n.committee.is_multiple_of(2) || n.committee > n.arbiters {
            return Err(format!(
                "nodes.committee = {}: must be odd and at most nodes.arbiters ({})",
                n.committee, n.arbiters
            ));
        }
        let j = &self.jobs;
        at_least("jobs.count", j.count as u64, 1)?;
        at_most("jobs.count", j.count as u64, 256)?;
        if crate::records::builtin_spec(&j.spec).is_none() {
            return Err(format!(
                "jobs.spec = {:?}: unknown (built-in: {})",
                j.spec,
                crate::records::BUILTIN_SPECS.join(", ")
            ));
        }
        at_least("jobs.replicas", j.replicas as u64, 1)?;
        // One replica limit: the protocol's, which the wire and the contracts share.
        at_most(
            "jobs.replicas",
            j.replicas as u64,
            u64::from(pinpoint_protocol::limits::MAX_REPLICAS),
        )?;
        if self.settlement == SettlementBackend::Embedded
            && n.committee > pinpoint_chain::MAX_COMMITTEE
        {
            return Err(format!(
                "nodes.committee = {}: settlement = \"embedded\" allows at most {} (the \
                 contract's committee limit)",
                n.committee,
                pinpoint_chain::MAX_COMMITTEE
            ));
        }
        span("jobs.samples", j.samples)?;
        at_most("jobs.samples", j.samples[1], 64)?;
        at_least("jobs.payment", j.payment, 1)?;
        at_least("jobs.trainer_stake", j.trainer_stake, 1)?;
        at_least("jobs.challenger_stake", j.challenger_stake, 1)?;
        let t = &self.timing;
        for (key, v) in [
            ("timing.step_ms", t.step_ms),
            ("timing.chain_ms", t.chain_ms),
            ("timing.answer_ms", t.answer_ms),
            ("timing.opening_ms", t.opening_ms),
            ("timing.commit_timeout_ms", t.commit_timeout_ms),
            ("timing.challenge_window_ms", t.challenge_window_ms),
            ("timing.duration_ms", t.duration_ms),
            ("timing.liveness_bound_ms", t.liveness_bound_ms),
            ("jobs.interval_ms", j.interval_ms),
            ("network.reorder_ms", self.network.reorder_ms),
            ("network.rto_ms", self.network.rto_ms),
        ] {
            time(key, v)?;
        }
        at_most("timing.checkpoint_every", t.checkpoint_every, 1 << 32)?;
        at_least("timing.step_ms", t.step_ms, 1)?;
        at_least("timing.checkpoint_every", t.checkpoint_every, 1)?;
        at_least("timing.answer_ms", t.answer_ms, 1)?;
        at_least("timing.max_retries", u64::from(t.max_retries), 1)?;
        at_most("timing.max_retries", u64::from(t.max_retries), 16)?;
        at_least("timing.opening_ms", t.opening_ms, 1)?;
        at_least("timing.duration_ms", t.duration_ms, 1)?;
        at_least("timing.liveness_bound_ms", t.liveness_bound_ms, 1)?;
        let net = &self.network;
        time_span("network.latency_ms", net.latency_ms)?;
        prob("network.drop", net.drop)?;
        if net.drop >= 0.5 {
            return Err(format!("network.drop = {}: must be below 0.5", net.drop));
        }
        prob("network.duplicate", net.duplicate)?;
        prob("network.reorder", net.reorder)?;
        at_most(
            "network.transport_retries",
            u64::from(net.transport_retries),
            16,
        )?;
        at_least("network.rto_ms", net.rto_ms, 1)?;
        let f = &self.faults;
        time_span("faults.partition_ms", f.partition_ms)?;
        time_span("faults.crash_ms", f.crash_ms)?;
        time_span("faults.pause_ms", f.pause_ms)?;
        prob("faults.one_way", f.one_way)?;
        at_most("faults.partitions", u64::from(f.partitions), 1000)?;
        at_most("faults.crashes", u64::from(f.crashes), 1000)?;
        at_most("faults.pauses", u64::from(f.pauses), 1000)?;
        // Trainers drawn per job must exist.
        let sybils: usize = self
            .strategy
            .iter()
            .filter(|s| s.role == Role::Trainer)
            .map(|s| s.count * s.sybil)
            .sum();
        if j.replicas > n.trainers + sybils {
            return Err(format!(
                "jobs.replicas = {}: more than the {} trainer identities",
                j.replicas,
                n.trainers + sybils
            ));
        }
        let mut used = [0usize; 3];
        for (i, s) in self.strategy.iter().enumerate() {
            let key = format!("strategy[{i}]");
            let (slot, avail) = match s.role {
                Role::Trainer => (0, n.trainers),
                Role::Verifier => (1, n.verifiers),
                Role::Arbiter => (2, n.arbiters),
            };
            at_least(&format!("{key}.count"), s.count as u64, 1)?;
            used[slot] += s.count;
            if used[slot] > avail {
                return Err(format!(
                    "{key}.count: strategies name {} nodes of a role that has {avail}",
                    used[slot]
                ));
            }
            let fits = match s.kind {
                Kind::FalseChallenge => s.role == Role::Verifier,
                Kind::Dishonest => s.role == Role::Arbiter,
                _ => s.role == Role::Trainer,
            };
            if !fits {
                return Err(format!(
                    "{key}.kind = {:?}: not a {:?} strategy",
                    s.kind, s.role
                ));
            }
            if s.kind == Kind::CorruptFraction && !(s.fraction > 0.0 && s.fraction <= 1.0) {
                return Err(format!(
                    "{key}.fraction = {}: must be in (0, 1]",
                    s.fraction
                ));
            }
            if s.kind != Kind::CorruptFraction && s.fraction != 0.0 {
                return Err(format!(
                    "{key}.fraction: only for kind = \"corrupt-fraction\""
                ));
            }
            if s.role != Role::Trainer && (s.collude || s.sybil > 0) {
                return Err(format!("{key}: collude and sybil are for trainers"));
            }
            at_most(&format!("{key}.sybil"), s.sybil as u64, 8)?;
        }
        // Deadlines must leave room for the work itself (a scenario that cannot finish even
        // without faults is a configuration error, not a finding).
        let steps = crate::records::builtin_steps(&j.spec).unwrap_or(0);
        let delta = self.delta_ms();
        // Every term is at most MAX_TIME_MS times a small factor: no overflow is possible, and
        // checked arithmetic says so instead of wrapping if a limit above is ever raised.
        let train = steps
            .checked_mul(t.step_ms)
            .and_then(|x| x.checked_add(t.chain_ms.checked_mul(2)?))
            .and_then(|x| x.checked_add(delta.checked_mul(2)?))
            .ok_or("timing.step_ms: the training time overflows")?;
        if t.commit_timeout_ms < train {
            return Err(format!(
                "timing.commit_timeout_ms = {}: below the fault-free training time {train}",
                t.commit_timeout_ms
            ));
        }
        // The window must outlast a verification whose trainer withholds or stalls every
        // opening: every sample is requested at once, so that costs one opening timeout (the
        // protocol's bound), plus re-running the samples and, on a failure, the job.
        if t.opening_ms <= 2 * delta {
            return Err(format!(
                "timing.opening_ms = {}: must exceed a round trip 2Δ = {}",
                t.opening_ms,
                2 * delta
            ));
        }
        let verify = self
            .verification_bound_ms()
            .ok_or("timing.opening_ms: the verification time overflows")?;
        let verifying = j.samples[1] > 0 && n.verifiers > 0;
        if verifying && t.challenge_window_ms < verify {
            return Err(format!(
                "timing.challenge_window_ms = {}: below the verification bound {verify} \
                 (chain_ms + opening_ms + 1 + (jobs.samples max + T) · step_ms + chain_ms): \
                 a trainer that withholds its openings would outlast the window",
                t.challenge_window_ms
            ));
        }
        if t.answer_ms <= 2 * delta {
            return Err(format!(
                "timing.answer_ms = {}: must exceed a round trip 2Δ = {}",
                t.answer_ms,
                2 * delta
            ));
        }
        Ok(())
    }
}
