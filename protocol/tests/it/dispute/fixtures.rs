//! Tiny real jobs, their cached honest runs, and a one-call dispute between two players.

use std::sync::{Arc, OnceLock};

use pinpoint_protocol::dispute::driver::{DisputeReport, Respond, run};
use pinpoint_protocol::dispute::strategy::{Cheater, Corruption, Deviation, Strategy};
use pinpoint_protocol::dispute::{Answerer, Deadlines, JobReexec, Party, Referee, RunRecord};
use pinpoint_protocol::id::{JobId, NodeId, NodeKey};
use pinpoint_protocol::wire::Outcome;
use pinpoint_train::{JobSpec, LoadedSpec};

pub(crate) const JOB: JobId = [7; 32];

fn mlp(steps: u64, hidden: u32, activation: &'static str, seed: u64) -> String {
    pinpoint_train::spec::TinyMlp {
        seed,
        steps,
        checkpoint_every: steps,
        hidden: u64::from(hidden),
        activation,
        warmup_steps: 4,
        eval_every: steps,
    }
    .toml()
}

fn transformer(steps: u64) -> String {
    format!(
        r#"
seed = 11
steps = {steps}
checkpoint_every = {steps}
batch_size = 2
[model]
kind = "transformer"
vocab = 15
context = 8
layers = 1
width = 8
heads = 2
mlp_ratio = 2
[data]
kind = "addition"
digits = 2
[optimizer]
kind = "sgd"
lr = 0.05
momentum = 0.9
weight_decay = 0.0
[schedule]
warmup_steps = 2
[eval]
every = {steps}
batches = 1
batch_size = 4
"#
    )
}

/// The jobs the tests dispute over: three tiny MLPs and a tiny transformer.
pub(crate) const JOBS: usize = 4;

/// The spec of job `j`.
pub(crate) fn spec(j: usize) -> JobSpec {
    let text = match j {
        0 => mlp(12, 4, "relu", 5),
        1 => mlp(5, 3, "tanh", 6),
        2 => mlp(9, 6, "gelu", 7),
        _ => transformer(6),
    };
    LoadedSpec::from_toml_str(&text).unwrap().spec
}

/// The honest run of job `j`, computed once.
pub(crate) fn honest(j: usize) -> Arc<RunRecord> {
    static RUNS: [OnceLock<Arc<RunRecord>>; JOBS] = [
        OnceLock::new(),
        OnceLock::new(),
        OnceLock::new(),
        OnceLock::new(),
    ];
    RUNS[j]
        .get_or_init(|| Arc::new(RunRecord::honest(&spec(j), None).unwrap()))
        .clone()
}

/// `T` of job `j`.
pub(crate) fn steps(j: usize) -> u64 {
    honest(j).steps.len() as u64
}

/// `N` of job `j`.
pub(crate) fn nodes(j: usize) -> u64 {
    honest(j).steps[0].graph.nodes.len() as u64
}

pub(crate) fn key(seed: u8) -> NodeKey {
    NodeKey::from_seed([seed; 32])
}

pub(crate) fn id(seed: u8) -> NodeId {
    key(seed).node_id()
}

pub(crate) const REFEREE: u8 = 100;

/// One side of a dispute.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Player {
    Honest,
    Cheat(Strategy),
}

/// A player built for job `j` with key `seed`.
pub(crate) fn build(j: usize, seed: u8, p: Player) -> (Box<dyn Respond>, [u8; 32]) {
    let source = Box::new(honest(j));
    match p {
        Player::Honest => {
            let party = Party::from_source(source).unwrap();
            let root = party.root();
            (
                Box::new(Answerer::new(key(seed), JOB, id(REFEREE), party)),
                root,
            )
        }
        Player::Cheat(s) => {
            let c = Cheater::build(key(seed), JOB, id(REFEREE), source, s).unwrap();
            let root = c.root();
            (Box::new(c), root)
        }
    }
}

/// A referee for job `j` between challenger `(1, ra)` and defendant `(2, rb)`.
pub(crate) fn referee(
    j: usize,
    ra: [u8; 32],
    rb: [u8; 32],
) -> (Referee<JobReexec>, Vec<pinpoint_protocol::dispute::Action>) {
    Referee::new(
        JOB,
        (id(1), ra),
        (id(2), rb),
        steps(j),
        1_000,
        Deadlines::default(),
        JobReexec::new(&spec(j), None).unwrap(),
    )
    .unwrap()
}

/// Runs the dispute of job `j` between challenger `a` (key 1) and defendant `b` (key 2).
pub(crate) fn dispute(j: usize, a: Player, b: Player) -> DisputeReport {
    let (mut pa, ra) = build(j, 1, a);
    let (mut pb, rb) = build(j, 2, b);
    let (r, actions) = referee(j, ra, rb);
    run(r, actions, &key(REFEREE), [pa.as_mut(), pb.as_mut()], 1_000).unwrap()
}

pub(crate) fn winner(r: &DisputeReport) -> Option<NodeId> {
    match r.verdict.outcome {
        Outcome::Winner { winner, .. } => Some(winner),
        Outcome::BothLose { .. } => None,
    }
}

/// A small deterministic generator (PCG-style LCG, high bits).
pub(crate) struct Gen(pub u64);

impl Gen {
    pub(crate) fn below(&mut self, m: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % m
    }

    /// `true` with probability `p` percent.
    pub(crate) fn percent(&mut self, p: u64) -> bool {
        self.below(100) < p
    }

    pub(crate) fn corruption(&mut self, t_max: u64, n: u64) -> Corruption {
        let t = 1 + self.below(t_max);
        match self.below(3) {
            0 => Corruption::WrongStateFrom { step: t },
            1 => Corruption::WrongNode {
                step: t,
                node: 1 + self.below(n),
            },
            _ if t_max >= 2 => Corruption::WrongIntermediate {
                step: 1 + self.below(t_max - 1),
            },
            _ => Corruption::WrongStateFrom { step: t },
        }
    }

    pub(crate) fn deviation(&mut self) -> Deviation {
        match self.below(7) {
            0 => Deviation::None,
            1 => Deviation::LieInStepBisection {
                answer: self.below(5) as u32,
            },
            2 => Deviation::LieInNodeBisection {
                answer: self.below(5) as u32,
            },
            3 => Deviation::BadProof,
            4 => Deviation::WrongInput,
            5 => Deviation::Silent {
                from_round: self.below(10) as u32,
            },
            _ => Deviation::Equivocate,
        }
    }
}
