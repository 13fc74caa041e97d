//! The fault schedule (drawn from the seed before the run starts), crashes, restarts, pauses,
//! partitions, the final heal, and the static part of the synchrony assumption.

use super::{Ev, Ix, Partition, World};
use crate::rng::Rng;
use crate::scenario::Role;

impl World {
    /// Draws every partition, crash and pause, schedules them, and checks the schedule against
    /// the synchrony assumption (docs/sim.md): merging fault intervals closer than
    /// `answer_ms + 2Δ`, no merged interval may exceed [`crate::Scenario::fault_slack_ms`].
    pub(crate) fn schedule_faults(&mut self) {
        let mut r = Rng::new(self.seed, "faults");
        let f = self.scn.faults.clone();
        let dur = self.scn.timing.duration_ms;
        let n = self.nodes.len();
        let mut intervals: Vec<(u64, u64)> = Vec::new();
        for p in 0..f.partitions as usize {
            let start = r.range(0, dur.saturating_sub(1));
            let len = r.range(f.partition_ms[0], f.partition_ms[1]);
            // A random non-empty proper subset.
            let mut side: Vec<bool> = (0..n).map(|_| r.chance(0.5)).collect();
            let k = r.index(n);
            side[k] = true;
            let other = (k + 1 + r.index(n.saturating_sub(1).max(1))) % n;
            if other != k {
                side[other] = false;
            }
            let one_way = r.chance(f.one_way);
            self.partitions.push(Partition {
                side,
                one_way,
                active: false,
            });
            self.schedule(start, Ev::PartitionStart { p });
            self.schedule(start + len, Ev::PartitionEnd { p });
            intervals.push((start, start + len));
        }
        let crashable: Vec<Ix> = (0..n)
            .filter(|i| matches!(self.nodes[*i].role, Role::Trainer | Role::Verifier))
            .collect();
        for _ in 0..f.crashes {
            if crashable.is_empty() {
                break;
            }
            let node = crashable[r.index(crashable.len())];
            let at = r.range(0, dur.saturating_sub(1));
            let down_ms = r.range(f.crash_ms[0], f.crash_ms[1]);
            self.schedule(at, Ev::Crash { node, down_ms });
            if self.nodes[node].honest() {
                intervals.push((at, at + down_ms));
            }
        }
        for _ in 0..f.pauses {
            let node = r.index(n);
            let at = r.range(0, dur.saturating_sub(1));
            let len = r.range(f.pause_ms[0], f.pause_ms[1]);
            self.schedule(
                at,
                Ev::Pause {
                    node,
                    until: at + len,
                },
            );
            if self.nodes[node].honest() {
                intervals.push((at, at + len));
            }
        }
        intervals.sort_unstable();
        let gap = self.scn.timing.answer_ms + 2 * self.scn.delta_ms();
        let slack = self.scn.fault_slack_ms();
        let mut merged: Vec<(u64, u64)> = Vec::new();
        for (s, e) in intervals {
            match merged.last_mut() {
                Some(last) if s <= last.1 + gap => last.1 = last.1.max(e),
                _ => merged.push((s, e)),
            }
        }
        let total: u64 = merged.iter().map(|(s, e)| e - s).sum();
        if let Some((s, e)) = merged.iter().find(|(s, e)| e - s > slack) {
            self.beyond(format!(
                "faults cover [{s}, {e}) ms, {} ms > the {slack} ms slack",
                e - s
            ));
        }
        let t = self.scn.timing.clone();
        let steps = self.recs.honest.steps();
        let train = 2 * steps * t.step_ms + 2 * t.chain_ms + total + 2 * self.scn.delta_ms();
        if train > t.commit_timeout_ms {
            self.beyond(format!(
                "faults total {total} ms: training may not finish before the commit deadline"
            ));
        }
        // A verification ends within the scenario's verification bound (every opening is
        // requested at once; a withholder costs one opening timeout); when nodes may crash, a
        // verifier that crashes restarts it, hence twice; plus every fault.
        let attempts = if self.scn.faults.crashes > 0 { 2 } else { 1 };
        let verify = self
            .scn
            .verification_bound_ms()
            .unwrap_or(u64::MAX)
            .saturating_mul(attempts)
            .saturating_add(total);
        if verify > t.challenge_window_ms {
            self.beyond(format!(
                "faults total {total} ms: a verifier may not finish within the challenge window"
            ));
        }
    }

    pub(crate) fn crash(&mut self, node: Ix, down_ms: u64) {
        if !self.nodes[node].up || self.healed {
            return;
        }
        self.count("crashes");
        self.nodes[node].up = false;
        self.nodes[node].epoch += 1;
        self.nodes[node].deferred.clear();
        match self.nodes[node].role {
            Role::Trainer => self.trainer_crash(node),
            Role::Verifier => self.verifier_crash(node),
            Role::Arbiter => {}
        }
        self.schedule(self.now + down_ms, Ev::Restart { node });
    }

    pub(crate) fn restart(&mut self, node: Ix) {
        if self.nodes[node].up {
            return;
        }
        self.count("restarts");
        self.nodes[node].up = true;
        match self.nodes[node].role {
            Role::Trainer => self.trainer_restart(node),
            Role::Verifier => self.verifier_restart(node),
            Role::Arbiter => {}
        }
    }

    pub(crate) fn pause(&mut self, node: Ix, until: u64) {
        if self.healed || !self.nodes[node].up {
            return;
        }
        self.count("pauses");
        let u = self.nodes[node]
            .paused_until
            .map_or(until, |p| p.max(until));
        self.nodes[node].paused_until = Some(u);
        self.schedule(u, Ev::Resume { node });
    }

    pub(crate) fn resume(&mut self, node: Ix) {
        match self.nodes[node].paused_until {
            Some(u) if u <= self.now => {}
            _ => return,
        }
        self.nodes[node].paused_until = None;
        let deferred = std::mem::take(&mut self.nodes[node].deferred);
        for ev in deferred {
            self.schedule(self.now, ev);
        }
    }

    pub(crate) fn partition(&mut self, p: usize, start: bool) {
        if start && self.healed {
            return;
        }
        if start {
            self.count(if self.partitions[p].one_way {
                "partitions_one_way"
            } else {
                "partitions_two_way"
            });
        }
        self.partitions[p].active = start;
    }

    /// The liveness phase: every fault heals now and no new one starts.
    pub(crate) fn heal(&mut self) {
        self.healed = true;
        self.heal_at = Some(self.now);
        for p in &mut self.partitions {
            p.active = false;
        }
        for n in 0..self.nodes.len() {
            if self.nodes[n].paused_until.is_some() {
                self.nodes[n].paused_until = Some(self.now);
                self.resume(n);
            }
            if !self.nodes[n].up {
                self.restart(n);
            }
        }
    }
}
