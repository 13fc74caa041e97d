//! Scenario files (TOML): nodes per role, the job mix, timing, network and node faults, and
//! Byzantine strategies. Unknown keys are rejected and every range is checked, so a typo is an
//! error that names the key, never a silently ignored knob. Format: `docs/sim.md`.

mod validate;

use serde::{Deserialize, Serialize};

use crate::error::{Result, SimError};
use crate::rng::Rng;

/// A whole scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// A short name for reports.
    pub name: String,
    /// How many nodes of each role.
    pub nodes: Nodes,
    /// The jobs posted.
    pub jobs: Jobs,
    /// Deadlines and compute times.
    #[serde(default)]
    pub timing: Timing,
    /// Per-link message faults.
    #[serde(default)]
    pub network: Network,
    /// Partitions, crashes and pauses.
    #[serde(default)]
    pub faults: Faults,
    /// Byzantine nodes (every node not named here is honest).
    #[serde(default)]
    pub strategy: Vec<StrategyEntry>,
    /// Where jobs settle: the in-memory ledger only, or also an embedded EVM chain running
    /// the settlement contracts (checked against the ledger).
    #[serde(default, skip_serializing_if = "SettlementBackend::is_memory")]
    pub settlement: SettlementBackend,
}

/// The settlement back end of a run (`settlement = "memory" | "embedded"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SettlementBackend {
    /// Only the in-memory [`crate::ledger::MemLedger`] (the default).
    #[default]
    Memory,
    /// The ledger, and every job also run on an in-process `pinpoint_chain::Embedded` chain,
    /// whose conservation and payouts are checked against the ledger after every chain event.
    Embedded,
}

impl SettlementBackend {
    /// Whether this is [`SettlementBackend::Memory`].
    pub fn is_memory(&self) -> bool {
        *self == SettlementBackend::Memory
    }
}

/// Nodes per role.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Nodes {
    /// Trainers (each one operator; Sybil identities come on top).
    pub trainers: usize,
    /// Sampling verifiers.
    #[serde(default)]
    pub verifiers: usize,
    /// Arbiters (referees).
    pub arbiters: usize,
    /// Arbiters per dispute committee (odd; the verdict is the majority's).
    #[serde(default = "one")]
    pub committee: usize,
}

fn one() -> usize {
    1
}

/// How trainers are drawn for a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Assign {
    /// A uniform draw of `replicas` distinct identities.
    Random,
    /// Exactly one dishonest identity (when there is one) and the rest honest: one dispute per
    /// replicated job.
    OneCheater,
    /// Exactly one honest identity (when there is one) and the rest dishonest: collusion
    /// against a single honest trainer.
    OneHonest,
}

/// The job mix.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Jobs {
    /// Jobs posted per run.
    pub count: usize,
    /// Built-in training spec: `"mlp-tiny"` (T = 8) or `"mlp-small"` (T = 16).
    #[serde(default = "default_spec")]
    pub spec: String,
    /// Trainers per job.
    pub replicas: usize,
    /// How trainers are drawn.
    #[serde(default = "default_assign")]
    pub assign: Assign,
    /// Steps each verifier samples, drawn per job from `[min, max]` (0 disables sampling).
    #[serde(default)]
    pub samples: [u64; 2],
    /// Time between job postings.
    #[serde(default = "default_interval")]
    pub interval_ms: u64,
    /// Payment escrowed per job (token base units).
    #[serde(default = "default_payment")]
    pub payment: u64,
    /// Stake a trainer bonds per job.
    #[serde(default = "default_stake")]
    pub trainer_stake: u64,
    /// Stake a verifier bonds per challenge.
    #[serde(default = "default_stake")]
    pub challenger_stake: u64,
}

fn default_spec() -> String {
    "mlp-tiny".into()
}
fn default_assign() -> Assign {
    Assign::Random
}
fn default_interval() -> u64 {
    1_000
}
fn default_payment() -> u64 {
    1_000_000
}
fn default_stake() -> u64 {
    100_000
}

/// Deadlines and compute times (virtual milliseconds).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Timing {
    /// Compute time of one training step (trainers and verifiers).
    pub step_ms: u64,
    /// Checkpoint interval in steps (a restarted trainer resumes from its last checkpoint).
    pub checkpoint_every: u64,
    /// Delay of a transaction to the chain.
    pub chain_ms: u64,
    /// Time a dispute party has to answer one query.
    pub answer_ms: u64,
    /// Re-asks of an unanswered query before the party forfeits.
    pub max_retries: u32,
    /// Time a trainer has to answer a verifier's opening request.
    pub opening_ms: u64,
    /// From assignment to the commit deadline.
    pub commit_timeout_ms: u64,
    /// The challenge window, from the moment commits close.
    pub challenge_window_ms: u64,
    /// Faults are injected during `[0, duration_ms)`; then every fault heals (liveness phase).
    pub duration_ms: u64,
    /// Every job must be finalized within this long after the liveness phase starts.
    pub liveness_bound_ms: u64,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            step_ms: 100,
            checkpoint_every: 4,
            chain_ms: 200,
            answer_ms: 5_000,
            max_retries: 4,
            opening_ms: 5_000,
            commit_timeout_ms: 120_000,
            challenge_window_ms: 120_000,
            duration_ms: 60_000,
            liveness_bound_ms: 2_000_000,
        }
    }
}

/// Per-link message faults. Every message is a transport transmission: a dropped or
/// partitioned transmission is retried after `rto_ms`, at most `transport_retries` times.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Network {
    /// One-way latency, uniform in `[min, max]` ms.
    pub latency_ms: [u64; 2],
    /// Probability that one transmission is dropped.
    pub drop: f64,
    /// Probability that a message is delivered twice.
    pub duplicate: f64,
    /// Probability that a message is held back by up to `reorder_ms` (so it overtakes or is
    /// overtaken).
    pub reorder: f64,
    /// The most a reordered message is held back.
    pub reorder_ms: u64,
    /// Transport retransmissions of a lost transmission.
    pub transport_retries: u32,
    /// Retransmission timeout.
    pub rto_ms: u64,
}

impl Default for Network {
    fn default() -> Self {
        Self {
            latency_ms: [5, 50],
            drop: 0.0,
            duplicate: 0.0,
            reorder: 0.0,
            reorder_ms: 100,
            transport_retries: 3,
            rto_ms: 200,
        }
    }
}

/// Partitions, crashes and pauses, scheduled from the seed during `[0, duration_ms)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Faults {
    /// Number of partitions.
    pub partitions: u32,
    /// Partition length, uniform in `[min, max]` ms.
    pub partition_ms: [u64; 2],
    /// Probability that a partition is one-way.
    pub one_way: f64,
    /// Number of node crashes (trainers and verifiers; each restarts after its downtime).
    pub crashes: u32,
    /// Crash downtime, uniform in `[min, max]` ms.
    pub crash_ms: [u64; 2],
    /// Number of node pauses (any role but the chain).
    pub pauses: u32,
    /// Pause length, uniform in `[min, max]` ms.
    pub pause_ms: [u64; 2],
    /// Swarm mode: each run draws its knobs from the seed: drop, duplicate and reorder
    /// uniformly in `[0, value]`, each fault count uniformly in `[0, value]`.
    pub swarm: bool,
}

impl Default for Faults {
    fn default() -> Self {
        Self {
            partitions: 0,
            partition_ms: [500, 3_000],
            one_way: 0.5,
            crashes: 0,
            crash_ms: [500, 3_000],
            pauses: 0,
            pause_ms: [500, 3_000],
            swarm: false,
        }
    }
}

/// The role a strategy applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// A trainer.
    Trainer,
    /// A sampling verifier.
    Verifier,
    /// An arbiter.
    Arbiter,
}

/// A Byzantine behaviour (docs/sim.md, "Strategies").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// Trainer: `h(S_t)` wrong from a random step `t` on (one corrupted transition).
    WrongState,
    /// Trainer: one node output of one step wrong (and the states after it).
    WrongNode,
    /// Trainer: corrupts a fraction `fraction` of the transitions.
    CorruptFraction,
    /// Trainer: wrong state, and during step bisection claims the honest hashes (its proofs
    /// then fail).
    StepLie,
    /// Trainer: wrong node output, and during node bisection sends a flipped link.
    NodeLie,
    /// Trainer: wrong state and corrupt Merkle proofs.
    BadProof,
    /// Trainer: wrong state and never answers (disputes or openings).
    Silent,
    /// Trainer: wrong state; answers every opening request as late as it can while still
    /// arriving before the verifier's deadline (a staller, issue 16 defect 3).
    SlowOpenings,
    /// Trainer: wrong state; signs two roots (a second commit) and, in node bisection, a
    /// second chain root.
    Equivocate,
    /// Trainer: only one intermediate state `h(S_t)` wrong (`1 ≤ t < T`): the final state is
    /// right, the root is not (the referee descends the two Merkle trees).
    WrongIntermediate,
    /// Trainer: draws one of the strategies above per run.
    AnyCheat,
    /// Verifier: challenges an honest result with a fabricated record.
    FalseChallenge,
    /// Arbiter: votes for the dishonest party (or against the challenger).
    Dishonest,
}

/// Byzantine nodes of one role.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StrategyEntry {
    /// Which role.
    pub role: Role,
    /// What they do.
    pub kind: Kind,
    /// How many nodes of that role take this strategy (entries fill the role's nodes from the
    /// last one backwards, so node 0 of every role stays honest unless all are named).
    #[serde(default = "one")]
    pub count: usize,
    /// Trainers: all of this entry's trainers commit one shared wrong root.
    #[serde(default)]
    pub collude: bool,
    /// Trainers: extra identities per node, run by the same operator with the same record.
    #[serde(default)]
    pub sybil: usize,
    /// `corrupt-fraction`: the fraction of transitions corrupted, in `(0, 1]`.
    #[serde(default)]
    pub fraction: f64,
}

impl Scenario {
    /// Parses and validates a scenario from TOML text; `file` names it in errors.
    pub fn from_toml_str(text: &str, file: &str) -> Result<Self> {
        let s: Scenario = toml::from_str(text).map_err(|e| SimError::Scenario {
            file: file.into(),
            detail: e.to_string(),
        })?;
        s.validate().map_err(|detail| SimError::Scenario {
            file: file.into(),
            detail,
        })?;
        Ok(s)
    }

    /// Reads, parses and validates a scenario file.
    pub fn load(path: &std::path::Path) -> Result<Self> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| SimError::Scenario {
            file: file.clone(),
            detail: e.to_string(),
        })?;
        Self::from_toml_str(&text, &file)
    }

    /// The knobs one run uses: the scenario itself, or in swarm mode a draw from `seed`.
    pub fn for_seed(&self, seed: u64) -> Scenario {
        if !self.faults.swarm {
            return self.clone();
        }
        let mut r = Rng::new(seed, "swarm knobs");
        let mut s = self.clone();
        s.network.drop = r.unit() * self.network.drop;
        s.network.duplicate = r.unit() * self.network.duplicate;
        s.network.reorder = r.unit() * self.network.reorder;
        s.faults.partitions = r.range(0, u64::from(self.faults.partitions)) as u32;
        s.faults.crashes = r.range(0, u64::from(self.faults.crashes)) as u32;
        s.faults.pauses = r.range(0, u64::from(self.faults.pauses)) as u32;
        s.faults.one_way = r.unit();
        // Byzantine trainers: from none up to every trainer each entry names (so up to all
        // replicas), colluding or not.
        for e in s.strategy.iter_mut().filter(|e| e.role == Role::Trainer) {
            e.count = r.range(0, e.count as u64) as usize;
            if e.kind != Kind::CorruptFraction {
                e.collude = r.chance(0.5);
            }
        }
        s.strategy.retain(|e| e.count > 0);
        // Timeouts and the window near the edge of what validation accepts: the opening and
        // answer timeouts between a round trip and the scenario's value, the window between
        // the verification bound (what validation accepts) and twice it plus 40 s (what a
        // verifier needs within the assumption when it crashes once and faults add up).
        let rtt = self.delta_ms().saturating_mul(2);
        s.timing.opening_ms = r.range(rtt + 1, self.timing.opening_ms.max(rtt + 1));
        s.timing.answer_ms = r.range(rtt + 1, self.timing.answer_ms.max(rtt + 1));
        if let Some(bound) = s.verification_bound_ms() {
            let window = r.range(bound, bound.saturating_mul(2).saturating_add(40_000));
            s.timing.challenge_window_ms = window;
        }
        s
    }

    /// The longest a verification can take, from the close of commits until the verifier's
    /// challenge is on chain, for a trainer that withholds or stalls its openings (the
    /// protocol's [`pinpoint_protocol::verify::verification_bound_ms`] with this scenario's
    /// timing): the challenge window must be at least this. `None` on overflow.
    pub fn verification_bound_ms(&self) -> Option<u64> {
        let t = &self.timing;
        let steps = crate::records::builtin_steps(&self.jobs.spec).unwrap_or(0);
        let recompute_ms = self.jobs.samples[1]
            .checked_add(steps)?
            .checked_mul(t.step_ms)?;
        pinpoint_protocol::verify::verification_bound_ms(
            pinpoint_protocol::verify::VerificationBudget {
                notice_ms: t.chain_ms,
                opening_timeout_ms: t.opening_ms,
                recompute_ms,
                submit_ms: t.chain_ms,
            },
        )
    }

    /// How long a staller (`slow-openings`) holds each opening: as late as it can while still
    /// arriving, over an up link, by the opening deadline (`opening_ms − Δ − 1`).
    pub fn stall_ms(&self) -> u64 {
        self.timing.opening_ms.saturating_sub(self.delta_ms() + 1)
    }

    /// The referee's answer deadlines: `answer_ms` per query, `max_retries` re-asks.
    pub fn answer_deadlines(&self) -> pinpoint_protocol::dispute::Deadlines {
        pinpoint_protocol::dispute::Deadlines {
            answer_ms: self.timing.answer_ms,
            max_retries: self.timing.max_retries,
        }
    }

    /// The worst one-way delivery time of a message over an up link, `Δ`:
    /// `latency_max + reorder_ms + transport_retries · rto_ms`.
    pub fn delta_ms(&self) -> u64 {
        let n = &self.network;
        n.latency_ms[1]
            .saturating_add(n.reorder_ms)
            .saturating_add(u64::from(n.transport_retries).saturating_mul(n.rto_ms))
    }

    /// The longest fault (merged interval) the synchrony assumption tolerates:
    /// `answer_ms · (max_retries − 1) − 2Δ` (0 if negative). See docs/sim.md.
    pub fn fault_slack_ms(&self) -> u64 {
        let t = &self.timing;
        (t.answer_ms
            .saturating_mul(u64::from(t.max_retries.saturating_sub(1))))
        .saturating_sub(self.delta_ms().saturating_mul(2))
    }
}
