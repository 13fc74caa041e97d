//! Events and messages. The queue is a `BTreeMap<(time, seq), Ev>`: events at the same
//! virtual time run in the order they were scheduled.

use pinpoint_protocol::verify::StepOpening;
use pinpoint_protocol::wire::{Message, SignedMessage};

use super::Ix;

/// A message between nodes.
#[derive(Debug, Clone)]
pub(crate) enum Msg {
    /// Referee → party of dispute `d`: a query of the referee's `round`.
    ToParty { d: usize, round: u32, msg: Message },
    /// Party → referee of dispute `d`: the party's answer in its signed envelope (the
    /// simulated link authenticates the sender; see `World::referee_receive`).
    ToReferee { d: usize, signed: SignedMessage },
    /// Verifier → trainer: open step `step` for verification `v`.
    OpeningRequest { v: usize, step: u64 },
    /// Trainer → verifier: the opening.
    Opening { v: usize, opening: StepOpening },
}

/// A transaction that reaches the chain.
#[derive(Debug, Clone)]
pub(crate) enum Tx {
    /// A trainer's signed root.
    Commit {
        job: usize,
        slot: usize,
        root: [u8; 32],
    },
    /// A verifier's challenge of slot `slot`'s root with its own record.
    Challenge {
        job: usize,
        v: Ix,
        slot: usize,
        rec: std::sync::Arc<crate::records::Committed>,
    },
    /// The referee's (committee's) verdict for dispute `d`: the honest referee's winner side
    /// (0 = challenger, 1 = defendant, `None` = both lose).
    Verdict { d: usize, winner: Option<usize> },
}

/// Something that happens at a virtual time.
#[derive(Debug, Clone)]
pub(crate) enum Ev {
    PostJob {
        job: usize,
    },
    TrainDone {
        node: Ix,
        job: usize,
        epoch: u32,
    },
    ChainTx(Tx),
    JobPoll {
        job: usize,
    },
    WindowOpen {
        node: Ix,
        job: usize,
    },
    Transmit {
        from: Ix,
        to: Ix,
        msg: Msg,
        attempt: u32,
        epoch: u32,
        partitioned: bool,
    },
    Deliver {
        from: Ix,
        to: Ix,
        msg: Msg,
    },
    VerifierTick {
        node: Ix,
        v: usize,
        epoch: u32,
    },
    /// The trainer machine of `node` wants its timeout handled.
    TrainerTick {
        node: Ix,
        epoch: u32,
    },
    RefereeStart {
        referee: Ix,
        d: usize,
    },
    /// The arbiter machine of node `referee` wants its timeout handled.
    RefereePoll {
        referee: Ix,
    },
    Crash {
        node: Ix,
        down_ms: u64,
    },
    Restart {
        node: Ix,
    },
    Pause {
        node: Ix,
        until: u64,
    },
    Resume {
        node: Ix,
    },
    PartitionStart {
        p: usize,
    },
    PartitionEnd {
        p: usize,
    },
    Heal,
}

impl Ev {
    /// The event's kind, for logs.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Ev::PostJob { .. } => "post-job",
            Ev::TrainDone { .. } => "train-done",
            Ev::ChainTx(Tx::Commit { .. }) => "tx-commit",
            Ev::ChainTx(Tx::Challenge { .. }) => "tx-challenge",
            Ev::ChainTx(Tx::Verdict { .. }) => "tx-verdict",
            Ev::JobPoll { .. } => "job-poll",
            Ev::WindowOpen { .. } => "window-open",
            Ev::Transmit { .. } => "retransmit",
            Ev::Deliver { msg, .. } => match msg {
                Msg::ToParty { .. } => "deliver to-party",
                Msg::ToReferee { .. } => "deliver to-referee",
                Msg::OpeningRequest { .. } => "deliver opening-request",
                Msg::Opening { .. } => "deliver opening",
            },
            Ev::VerifierTick { .. } => "verifier-tick",
            Ev::TrainerTick { .. } => "trainer-tick",
            Ev::RefereeStart { .. } => "referee-start",
            Ev::RefereePoll { .. } => "referee-poll",
            Ev::Crash { .. } => "crash",
            Ev::Restart { .. } => "restart",
            Ev::Pause { .. } => "pause",
            Ev::Resume { .. } => "resume",
            Ev::PartitionStart { .. } => "partition-start",
            Ev::PartitionEnd { .. } => "partition-end",
            Ev::Heal => "heal",
        }
    }

    /// A compact key for the trace hash: `(tag, a, b)`.
    pub(crate) fn trace_key(&self) -> (u8, u64, u64) {
        let u = |x: usize| x as u64;
        match self {
            Ev::PostJob { job } => (1, u(*job), 0),
            Ev::TrainDone { node, job, .. } => (2, u(*node), u(*job)),
            Ev::ChainTx(Tx::Commit { job, slot, .. }) => (3, u(*job), u(*slot)),
            Ev::ChainTx(Tx::Challenge { job, v, .. }) => (4, u(*job), u(*v)),
            Ev::ChainTx(Tx::Verdict { d, winner }) => (5, u(*d), winner.map_or(9, u)),
            Ev::JobPoll { job } => (6, u(*job), 0),
            Ev::WindowOpen { node, job } => (7, u(*node), u(*job)),
            Ev::Transmit {
                from, to, attempt, ..
            } => (8, u(*from) << 32 | u(*to), u64::from(*attempt)),
            Ev::Deliver { from, to, msg } => {
                let kind = match msg {
                    Msg::ToParty { d, .. } => u(*d) << 4,
                    Msg::ToReferee { d, .. } => u(*d) << 4 | 1,
                    Msg::OpeningRequest { v, step } => (u(*v) << 16 | *step) << 4 | 2,
                    Msg::Opening { v, .. } => u(*v) << 4 | 3,
                };
                (9, u(*from) << 32 | u(*to), kind)
            }
            Ev::VerifierTick { v, .. } => (10, u(*v), 0),
            Ev::RefereeStart { d, .. } => (11, u(*d), 0),
            Ev::RefereePoll { referee } => (12, u(*referee), 0),
            Ev::Crash { node, down_ms } => (13, u(*node), *down_ms),
            Ev::Restart { node } => (14, u(*node), 0),
            Ev::Pause { node, until } => (15, u(*node), *until),
            Ev::Resume { node } => (16, u(*node), 0),
            Ev::PartitionStart { p } => (17, u(*p), 0),
            Ev::PartitionEnd { p } => (18, u(*p), 0),
            Ev::Heal => (19, 0, 0),
            Ev::TrainerTick { node, .. } => (20, u(*node), 0),
        }
    }
}
