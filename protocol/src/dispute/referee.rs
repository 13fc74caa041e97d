//! The dispute [`Referee`]: step bisection (with a Merkle descent when the final states agree),
//! node bisection, then one re-executed operator or the re-assembled state, every input proven
//! against agreed commitments.

use std::collections::BTreeMap;

use pinpoint_kernels::graph::{Graph, Value, node_hash};

use super::check::{Refused, assemble_state, check_inputs, check_proof, differing_subtree};
use super::reexec::Reexec;
use crate::error::{ProtocolError, Result};
use crate::id::{JobId, NodeId, ReplayGuard};
use crate::merkle::{MerkleProof, PrefixChain, StepCommitment};
use crate::wire::{
    Fault, InputQuery, InputTransfer, Message, NodeAnswer, NodePhaseStart, NodeQuery, Outcome,
    Resolution, SignedMessage, StepAnswer, StepQuery, Verdict, verify_message,
};

/// Answer deadlines and re-asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadlines {
    /// Time a party has to answer a query, in milliseconds.
    pub answer_ms: u64,
    /// How many times an unanswered query is sent again before the party forfeits.
    pub max_retries: u32,
}

impl Default for Deadlines {
    fn default() -> Self {
        Self {
            answer_ms: 10_000,
            max_retries: 2,
        }
    }
}

/// What the referee wants done.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Send `msg` to `to` (signed by the referee for round [`Referee::round`]).
    Send {
        /// The recipient.
        to: NodeId,
        /// The message.
        msg: Message,
    },
    /// The dispute is over (always the last action the referee emits).
    Verdict(Verdict),
}

/// The two parties of a dispute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The party that challenged.
    Challenger,
    /// The party challenged.
    Defendant,
}

const SIDES: [Side; 2] = [Side::Challenger, Side::Defendant];

impl Side {
    fn ix(self) -> usize {
        match self {
            Side::Challenger => 0,
            Side::Defendant => 1,
        }
    }
}

/// `⌈log2 n⌉` (0 for `n ≤ 1`).
pub fn ceil_log2(n: u64) -> u32 {
    if n <= 1 {
        0
    } else {
        64 - (n - 1).leading_zeros()
    }
}

/// The constant `c` of the round bound `⌈log2 T⌉ + ⌈log2 N⌉ + c`: one round for `h(S_T)`, one
/// for the last chain link `c_{N+1}`, one for the proven inputs, and one because node
/// bisection runs over `N + 1` positions (`⌈log2 (N+1)⌉ ≤ ⌈log2 N⌉ + 1`).
pub const ROUND_BOUND_C: u32 = 4;

/// The most query rounds a dispute over `steps` steps and a step graph of `nodes` nodes takes
/// when the parties' final states differ: `⌈log2 T⌉ + ⌈log2 (N + 1)⌉ + 3`, which is at most
/// `⌈log2 T⌉ + ⌈log2 N⌉ + `[`ROUND_BOUND_C`].
pub fn round_bound(steps: u64, nodes: u64) -> u32 {
    ceil_log2(steps) + ceil_log2(nodes + 1) + 3
}

/// The round bound when both parties' final states `h(S_T)` are equal but their roots differ
/// (some intermediate leaf differs): the Merkle descent that finds a differing leaf adds at
/// most `⌈log2 (T + 1)⌉` rounds to [`round_bound`].
pub fn round_bound_equal_final(steps: u64, nodes: u64) -> u32 {
    round_bound(steps, nodes) + ceil_log2(steps + 1)
}

#[derive(Debug, Clone)]
struct Pending {
    msg: Message,
    deadline: u64,
    retries: u32,
}

#[derive(Debug, Clone)]
enum Answer {
    Step([u8; 32], MerkleProof),
    Link([u8; 32]),
    Inputs(Vec<Value>),
    State([u8; 32]),
}

#[derive(Debug, Clone)]
struct PartyState {
    id: NodeId,
    root: [u8; 32],
    chain_root: Option<[u8; 32]>,
    /// `h(S_hi)` as this party proved it.
    hi_hash: Option<[u8; 32]>,
    /// This party's `c_hi` of the node phase.
    hi_link: Option<[u8; 32]>,
    pending: Option<Pending>,
    answer: Option<Answer>,
    /// Per round, the digest of the signed answer accepted (for equivocation).
    answered: BTreeMap<u32, [u8; 32]>,
}

#[derive(Debug)]
enum Phase {
    Steps {
        lo: u64,
        hi: u64,
        asked: u64,
    },
    /// Final states agree but roots differ: descending the two trees to a differing leaf.
    Descend {
        asked: u64,
        level: u32,
    },
    Nodes {
        graph: Graph,
        lo_i: u64,
        hi_i: u64,
        asked: u64,
        /// `c_{lo_i}`, agreed.
        lo_link: [u8; 32],
    },
    Inputs {
        graph: Graph,
        node: u64,
        prev_link: [u8; 32],
    },
    Done,
}

/// The referee of one dispute (DESIGN §4): drives both parties with queries, checks every
/// answer against the party's commitments and ends with a [`Verdict`].
///
/// Call order: [`Referee::new`] (first actions), then [`Referee::handle_signed`] for every
/// message received and [`Referee::poll`] at [`Referee::next_deadline`], until an
/// [`Action::Verdict`].
pub struct Referee<R: Reexec> {
    job: JobId,
    steps: u64,
    deadlines: Deadlines,
    reexec: R,
    parties: [PartyState; 2],
    phase: Phase,
    /// `h(S_0)` from the spec.
    initial: [u8; 32],
    /// Last agreed step's hash.
    lo_hash: [u8; 32],
    step_lo: u64,
    rounds: u32,
    verdict: Option<Verdict>,
    guard: ReplayGuard,
    /// The node-phase start, re-sent with every re-asked node-phase query (a party that lost
    /// it could not answer, and must not forfeit for the network's fault).
    node_start: Option<NodePhaseStart>,
}

impl<R: Reexec> std::fmt::Debug for Referee<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Referee")
            .field("steps", &self.steps)
            .field("phase", &self.phase)
            .field("rounds", &self.rounds)
            .field("verdict", &self.verdict)
            .finish_non_exhaustive()
    }
}

/// Replay-guard keys one dispute may use: two parties, a few dozen rounds each.
const GUARD_CAPACITY: usize = 1024;

impl<R: Reexec> Referee<R> {
    /// A referee for the dispute between `challenger` and `defendant`, each given as
    /// `(id, signed step-commitment root)`, over a job of `steps` steps. Returns the referee and
    /// its first actions (the query for `h(S_T)`).
    ///
    /// Errors: [`ProtocolError::InvalidArgument`] if `steps` is 0, the parties are the same
    /// node or their roots are equal (no dispute); errors of `reexec.initial_state_hash()`.
    pub fn new(
        job: JobId,
        challenger: (NodeId, [u8; 32]),
        defendant: (NodeId, [u8; 32]),
        steps: u64,
        now_ms: u64,
        deadlines: Deadlines,
        mut reexec: R,
    ) -> Result<(Self, Vec<Action>)> {
        if steps == 0 || challenger.0 == defendant.0 || challenger.1 == defendant.1 {
            return Err(ProtocolError::InvalidArgument(
                "a dispute needs T ≥ 1 and two distinct parties with different roots".into(),
            ));
        }
        let initial = reexec.initial_state_hash()?;
        let party = |(id, root): (NodeId, [u8; 32])| PartyState {
            id,
            root,
            chain_root: None,
            hi_hash: None,
            hi_link: None,
            pending: None,
            answer: None,
            answered: BTreeMap::new(),
        };
        let mut r = Self {
            job,
            steps,
            deadlines,
            reexec,
            parties: [party(challenger), party(defendant)],
            phase: Phase::Steps {
                lo: 0,
                hi: steps,
                asked: steps,
            },
            initial,
            lo_hash: initial,
            step_lo: 0,
            rounds: 0,
            verdict: None,
            guard: ReplayGuard::new(GUARD_CAPACITY),
            node_start: None,
        };
        let actions = r.ask_both(
            now_ms,
            Message::StepQuery(StepQuery {
                round: 0,
                step: steps,
            }),
        );
        Ok((r, actions))
    }

    /// Query rounds issued so far (re-asks not counted).
    pub fn rounds(&self) -> u32 {
        self.rounds
    }

    /// The current round (0-based): the envelope round of the referee's latest queries and of
    /// the answers it accepts.
    pub fn round(&self) -> u32 {
        self.rounds.saturating_sub(1)
    }

    /// The dispute's job.
    pub fn job(&self) -> JobId {
        self.job
    }

    /// The verdict, once reached.
    pub fn verdict(&self) -> Option<&Verdict> {
        self.verdict.as_ref()
    }

    /// The earliest pending deadline, if any query is outstanding.
    pub fn next_deadline(&self) -> Option<u64> {
        self.parties
            .iter()
            .filter_map(|p| p.pending.as_ref().map(|q| q.deadline))
            .min()
    }

    /// The two parties: challenger, defendant.
    pub fn parties(&self) -> [NodeId; 2] {
        [self.parties[0].id, self.parties[1].id]
    }

    /// Whether `node` is one of the two parties.
    pub fn is_party(&self, node: &NodeId) -> bool {
        self.side_of(node).is_some()
    }

    fn side_of(&self, from: &NodeId) -> Option<Side> {
        SIDES.into_iter().find(|s| &self.parties[s.ix()].id == from)
    }

    fn ask_both(&mut self, now_ms: u64, msg: Message) -> Vec<Action> {
        self.rounds += 1;
        let mut out = Vec::with_capacity(2);
        for p in &mut self.parties {
            p.answer = None;
            p.pending = Some(Pending {
                msg: msg.clone(),
                deadline: now_ms.saturating_add(self.deadlines.answer_ms),
                retries: 0,
            });
            out.push(Action::Send {
                to: p.id,
                msg: msg.clone(),
            });
        }
        out
    }

    fn finish(&mut self, outcome: Outcome, resolution: Resolution) -> Vec<Action> {
        let v = Verdict {
            job: self.job,
            outcome,
            resolution,
        };
        self.phase = Phase::Done;
        for p in &mut self.parties {
            p.pending = None;
        }
        self.verdict = Some(v.clone());
        vec![Action::Verdict(v)]
    }

    fn forfeit(&mut self, offender: Side, fault: Fault) -> Vec<Action> {
        let loser = self.parties[offender.ix()].id;
        let winner = self.parties[1 - offender.ix()].id;
        self.finish(
            Outcome::Winner { winner, loser },
            Resolution::Forfeit {
                offender: loser,
                fault,
            },
        )
    }

    fn both_lose(&mut self, resolution: Resolution) -> Vec<Action> {
        let outcome = Outcome::BothLose {
            challenger: self.parties[0].id,
            defendant: self.parties[1].id,
        };
        self.finish(outcome, resolution)
    }

    /// Both lose for a reason that no single honest party can cause (only reachable when both
    /// parties are dishonest, or on a broken spec).
    fn both_lose_malformed(&mut self) -> Vec<Action> {
        let offender = self.parties[0].id;
        self.both_lose(Resolution::Forfeit {
            offender,
            fault: Fault::Malformed,
        })
    }

    /// Re-asks or forfeits parties whose deadline has passed.
    pub fn poll(&mut self, now_ms: u64) -> Vec<Action> {
        if matches!(self.phase, Phase::Done) {
            return Vec::new();
        }
        let mut out = Vec::new();
        let mut expired = [false; 2];
        for (i, p) in self.parties.iter_mut().enumerate() {
            if let Some(q) = &mut p.pending
                && now_ms >= q.deadline
            {
                if q.retries < self.deadlines.max_retries {
                    q.retries += 1;
                    q.deadline = now_ms.saturating_add(self.deadlines.answer_ms);
                    if let (Phase::Nodes { .. } | Phase::Inputs { .. }, Some(start)) =
                        (&self.phase, &self.node_start)
                    {
                        out.push(Action::Send {
                            to: p.id,
                            msg: Message::NodePhaseStart(start.clone()),
                        });
                    }
                    out.push(Action::Send {
                        to: p.id,
                        msg: q.msg.clone(),
                    });
                } else {
                    expired[i] = true;
                }
            }
        }
        match expired {
            [true, true] => {
                let offender = self.parties[0].id;
                self.both_lose(Resolution::Forfeit {
                    offender,
                    fault: Fault::Timeout,
                })
            }
            [true, false] => self.forfeit(Side::Challenger, Fault::Timeout),
            [false, true] => self.forfeit(Side::Defendant, Fault::Timeout),
            [false, false] => out,
        }
    }

    /// Handles a signed message at `now_ms`: the normal entry point.
    ///
    /// Checks, in order, and on failure returns an error and changes nothing (the message is
    /// ignored, so a forger cannot make an honest party lose):
    /// the signature and job ([`ProtocolError::BadSignature`], [`ProtocolError::InvalidArgument`]),
    /// that the signer is a party ([`ProtocolError::InvalidTransition`]), and — except for a
    /// [`Message::JobCommit`] — freshness ([`ProtocolError::Replay`]).
    ///
    /// Then, validly signed by a party:
    /// - a `JobCommit` of this job with another root or step count than the party's bound
    ///   commitment is proof of equivocation: the signer forfeits ([`Fault::Equivocation`]),
    ///   whoever delivered it;
    /// - an answer for an earlier round is ignored; a second, different answer of the same kind
    ///   for a round already answered is equivocation;
    /// - otherwise the answer is checked as in [`Referee::handle`].
    pub fn handle_signed(&mut self, now_ms: u64, signed: &SignedMessage) -> Result<Vec<Action>> {
        verify_message(signed)?;
        self.handle_authenticated(now_ms, signed)
    }

    /// The second half of [`Referee::handle_signed`], for a message whose signer the caller has
    /// already authenticated: it verified the signature itself (a node's network actor checks
    /// each frame once), or the link stands in for that check (the simulator, which counts every
    /// such message and documents the stand-in). Everything after the signature is the same:
    /// the job and party checks, the equivocation checks, the replay guard (a replayed,
    /// duplicated or reordered copy is refused with [`ProtocolError::Replay`] and changes
    /// nothing) and the answer itself.
    ///
    /// Errors: as [`Referee::handle_signed`], except [`ProtocolError::BadSignature`].
    pub fn handle_authenticated(
        &mut self,
        now_ms: u64,
        signed: &SignedMessage,
    ) -> Result<Vec<Action>> {
        if signed.job != self.job {
            return Err(ProtocolError::InvalidArgument(
                "message signed for another job".into(),
            ));
        }
        let side = self.party_side(&signed.signer)?;
        if matches!(self.phase, Phase::Done) {
            return Ok(Vec::new());
        }
        if let Message::JobCommit(c) = &signed.statement {
            let p = &self.parties[side.ix()];
            if c.trainer == p.id && (c.root != p.root || c.steps != self.steps) {
                return Ok(self.forfeit(side, Fault::Equivocation));
            }
            return Ok(Vec::new());
        }
        self.guard.accept_authenticated(signed)?;
        let digest = blake3::hash(&borsh::to_vec(&signed.statement).map_err(|e| {
            ProtocolError::Malformed {
                what: "signed statement",
                detail: e.to_string(),
            }
        })?);
        let digest = *digest.as_bytes();
        if let Some(prev) = self.parties[side.ix()].answered.get(&signed.round) {
            if *prev != digest && is_answer(&signed.statement) {
                return Ok(self.forfeit(side, Fault::Equivocation));
            }
            return Ok(Vec::new());
        }
        if signed.round != self.round() {
            return Ok(Vec::new());
        }
        let answers_now = self.parties[side.ix()].pending.is_some();
        let out = self.handle_from(now_ms, side, signed.statement.clone());
        if answers_now && is_answer(&signed.statement) {
            self.parties[side.ix()]
                .answered
                .insert(signed.round, digest);
        }
        Ok(out)
    }

    fn party_side(&self, from: &NodeId) -> Result<Side> {
        self.side_of(from)
            .ok_or_else(|| ProtocolError::InvalidTransition {
                phase: self.phase_name(),
                detail: "message from a node that is not a party of the dispute".into(),
            })
    }

    /// Handles a message `from` a party whose origin the caller has already authenticated
    /// (tests; a transport that authenticates peers). Prefer [`Referee::handle_signed`].
    ///
    /// Errors: [`ProtocolError::InvalidTransition`] if `from` is not a party of this dispute
    /// (nothing changes). A party's unsolicited message is ignored; a malformed, contradictory
    /// or unprovable answer ends the dispute with that party's forfeit.
    pub fn handle(&mut self, now_ms: u64, from: &NodeId, msg: Message) -> Result<Vec<Action>> {
        let side = self.party_side(from)?;
        Ok(self.handle_from(now_ms, side, msg))
    }

    fn handle_from(&mut self, now_ms: u64, side: Side, msg: Message) -> Vec<Action> {
        if matches!(self.phase, Phase::Done) || self.parties[side.ix()].pending.is_none() {
            return Vec::new();
        }
        if !self.answers_current_query(&msg) {
            // A late, duplicated or reordered copy of an earlier answer, or anything that is
            // not an answer to the query now open: never an offence, never a verdict.
            return Vec::new();
        }
        let answer = match self.check_answer(side, msg) {
            Ok(a) => a,
            Err(fault) => return self.forfeit(side, fault),
        };
        let p = &mut self.parties[side.ix()];
        p.pending = None;
        p.answer = Some(answer);
        if self.parties.iter().all(|p| p.answer.is_some()) {
            return self.advance(now_ms);
        }
        Vec::new()
    }

    /// The one freshness check every input path shares ([`Referee::handle`] and
    /// [`Referee::handle_signed`]): only an answer of the current phase's kind, for the step or
    /// node asked now, is judged. An answer of an earlier phase's kind (a late copy of a step
    /// answer during node bisection or input transfer, a node answer during input transfer),
    /// an answer for another step or node than the one asked (a copy of an earlier round's),
    /// and any message that is not an answer are ignored, so no delayed, duplicated or
    /// reordered message can make its sender forfeit.
    fn answers_current_query(&self, msg: &Message) -> bool {
        match (&self.phase, msg) {
            (Phase::Steps { asked, .. } | Phase::Descend { asked, .. }, Message::StepAnswer(a)) => {
                a.step == *asked
            }
            (Phase::Nodes { asked, .. }, Message::NodeAnswer(a)) => a.index == *asked,
            (Phase::Inputs { node, .. }, Message::InputTransfer(t)) => t.index == *node,
            _ => false,
        }
    }

    fn phase_name(&self) -> &'static str {
        match self.phase {
            Phase::Steps { .. } => "step bisection",
            Phase::Descend { .. } => "merkle descent",
            Phase::Nodes { .. } => "node bisection",
            Phase::Inputs { .. } => "input transfer",
            Phase::Done => "done",
        }
    }

    /// Checks one answer against the party's commitments and the agreed data.
    fn check_answer(&mut self, side: Side, msg: Message) -> std::result::Result<Answer, Fault> {
        let steps = self.steps;
        let p = &mut self.parties[side.ix()];
        match (&self.phase, msg) {
            (
                Phase::Steps { asked, .. } | Phase::Descend { asked, .. },
                Message::StepAnswer(StepAnswer {
                    step,
                    state_hash,
                    proof,
                }),
            ) => {
                assert_eq!(
                    step, *asked,
                    "invariant: answers_current_query checked the step"
                );
                let proof = proof.to_proof();
                StepCommitment::verify(&p.root, steps, step, &state_hash, &proof)
                    .map_err(|_| Fault::BadProof)?;
                Ok(Answer::Step(state_hash, proof))
            }
            (
                Phase::Nodes { graph, asked, .. },
                Message::NodeAnswer(NodeAnswer {
                    index,
                    link,
                    proof,
                    chain_root,
                }),
            ) => {
                assert_eq!(
                    index, *asked,
                    "invariant: answers_current_query checked the node"
                );
                let root = match (p.chain_root, chain_root) {
                    (None, Some(r)) => {
                        p.chain_root = Some(r);
                        r
                    }
                    (Some(bound), None) => bound,
                    (Some(bound), Some(r)) if r == bound => bound,
                    (Some(_), Some(_)) => return Err(Fault::Equivocation),
                    (None, None) => return Err(Fault::Malformed),
                };
                let m = graph.nodes.len() as u64 + 1;
                PrefixChain::verify_link(&root, m, index, &link, &proof.to_proof())
                    .map_err(|_| Fault::BadProof)?;
                Ok(Answer::Link(link))
            }
            (
                Phase::Inputs {
                    graph,
                    node,
                    prev_link,
                },
                Message::InputTransfer(InputTransfer {
                    index,
                    inputs,
                    proof,
                }),
            ) => {
                assert_eq!(
                    index, *node,
                    "invariant: answers_current_query checked the node"
                );
                let refused = |_: Refused| Fault::BadInput;
                check_proof(graph, self.step_lo, &self.lo_hash, prev_link, *node, &proof)
                    .map_err(refused)?;
                let batch = self
                    .reexec
                    .batch(proof.state.data_cursor)
                    .map_err(|_| Fault::BadInput)?;
                let m = graph.nodes.len() as u64 + 1;
                if *node == m {
                    if !inputs.is_empty() {
                        return Err(Fault::Malformed);
                    }
                    return assemble_state(graph, &proof, &batch)
                        .map(Answer::State)
                        .map_err(refused);
                }
                check_inputs(graph, *node, &inputs, &proof, &batch)
                    .map(Answer::Inputs)
                    .map_err(refused)
            }
            _ => Err(Fault::Malformed),
        }
    }

    fn take_answers(&mut self) -> [Option<Answer>; 2] {
        [self.parties[0].answer.take(), self.parties[1].answer.take()]
    }

    /// Both parties answered the current round: move on.
    fn advance(&mut self, now_ms: u64) -> Vec<Action> {
        let answers = self.take_answers();
        let phase = std::mem::replace(&mut self.phase, Phase::Done);
        match (phase, answers) {
            (
                Phase::Steps { lo, hi, asked },
                [Some(Answer::Step(a, pa)), Some(Answer::Step(b, pb))],
            ) => {
                if a == b && asked == self.steps {
                    // Equal final states under different roots: find a differing leaf.
                    return self.descend(now_ms, &pa, &pb, u32::MAX);
                }
                self.bisect_steps(now_ms, lo, hi, asked, a, b)
            }
            (
                Phase::Descend { asked, level },
                [Some(Answer::Step(a, pa)), Some(Answer::Step(b, pb))],
            ) => {
                if a == b {
                    return self.descend(now_ms, &pa, &pb, level);
                }
                if asked == 0 {
                    return self.settle_initial(a, b);
                }
                // Leaf `asked` differs; leaf 0 is the spec's `S_0`: bisect between them.
                self.bisect_steps(now_ms, 0, asked, asked, a, b)
            }
            (
                Phase::Nodes {
                    graph,
                    mut lo_i,
                    mut hi_i,
                    asked,
                    mut lo_link,
                },
                [Some(Answer::Link(a)), Some(Answer::Link(b))],
            ) => {
                // The last link `c_{N+1}` binds the disagreeing `h(S_{lo+1})`, so it counts as
                // disagreed even when both send the same one; the state assembly then decides
                // on the proven state hashes themselves.
                if a == b && asked != graph.nodes.len() as u64 + 1 {
                    lo_i = asked;
                    lo_link = a;
                } else {
                    hi_i = asked;
                    self.parties[0].hi_link = Some(a);
                    self.parties[1].hi_link = Some(b);
                }
                if hi_i > lo_i + 1 {
                    let mid = lo_i + (hi_i - lo_i) / 2;
                    self.phase = Phase::Nodes {
                        graph,
                        lo_i,
                        hi_i,
                        asked: mid,
                        lo_link,
                    };
                    let round = self.rounds;
                    return self
                        .ask_both(now_ms, Message::NodeQuery(NodeQuery { round, index: mid }));
                }
                self.phase = Phase::Inputs {
                    graph,
                    node: hi_i,
                    prev_link: lo_link,
                };
                self.ask_both(now_ms, Message::InputQuery(InputQuery { index: hi_i }))
            }
            (
                Phase::Inputs {
                    graph,
                    node,
                    prev_link,
                },
                [Some(a), Some(b)],
            ) => self.recompute(&graph, node, prev_link, a, b),
            _ => self.both_lose_malformed(),
        }
    }

    /// One step of step bisection with `lo` agreed, `hi` disagreed and the answers `a`, `b`
    /// for step `asked`.
    fn bisect_steps(
        &mut self,
        now_ms: u64,
        mut lo: u64,
        mut hi: u64,
        asked: u64,
        a: [u8; 32],
        b: [u8; 32],
    ) -> Vec<Action> {
        if a == b {
            lo = asked;
            self.lo_hash = a;
        } else {
            hi = asked;
            self.parties[0].hi_hash = Some(a);
            self.parties[1].hi_hash = Some(b);
        }
        if hi > lo + 1 {
            let mid = lo + (hi - lo) / 2;
            self.phase = Phase::Steps { lo, hi, asked: mid };
            let round = self.rounds;
            return self.ask_both(now_ms, Message::StepQuery(StepQuery { round, step: mid }));
        }
        self.start_nodes(now_ms, lo)
    }

    /// Equal leaf values under different roots: query the first leaf of the lowest differing
    /// subtree on the path (strictly below `below`).
    fn descend(
        &mut self,
        now_ms: u64,
        pa: &MerkleProof,
        pb: &MerkleProof,
        below: u32,
    ) -> Vec<Action> {
        let Some((level, k)) = differing_subtree(pa, pb).filter(|(l, _)| *l < below) else {
            // Two valid proofs of one leaf under different roots always differ below the last
            // differing level (barring a hash collision).
            return self.both_lose_malformed();
        };
        let Some(leaf) = k.checked_shl(level).filter(|&l| l <= self.steps) else {
            return self.both_lose_malformed();
        };
        self.phase = Phase::Descend { asked: leaf, level };
        let round = self.rounds;
        self.ask_both(now_ms, Message::StepQuery(StepQuery { round, step: leaf }))
    }

    /// The parties differ on `h(S_0)`, which the spec fixes.
    fn settle_initial(&mut self, a: [u8; 32], b: [u8; 32]) -> Vec<Action> {
        let truth = self.initial;
        self.settle(0, 0, [a, b], truth)
    }

    fn start_nodes(&mut self, now_ms: u64, lo: u64) -> Vec<Action> {
        self.step_lo = lo;
        let graph = match self.reexec.graph(lo) {
            Ok(g) => g,
            Err(_) => return self.both_lose_malformed(),
        };
        let m = graph.nodes.len() as u64 + 1;
        let start = NodePhaseStart {
            lo,
            graph_hash: graph.structure_hash().0,
            nodes: m,
        };
        let lo_link = PrefixChain::start(&self.lo_hash);
        self.node_start = Some(start.clone());
        self.phase = Phase::Nodes {
            graph,
            lo_i: 0,
            hi_i: m,
            asked: m,
            lo_link,
        };
        let mut out: Vec<Action> = self
            .parties
            .iter()
            .map(|p| Action::Send {
                to: p.id,
                msg: Message::NodePhaseStart(start.clone()),
            })
            .collect();
        let round = self.rounds;
        out.extend(self.ask_both(now_ms, Message::NodeQuery(NodeQuery { round, index: m })));
        out
    }

    /// Both parties proved the inputs of position `node`; they are the same values (each
    /// checked against the same agreed hashes), so the referee runs the operator once — or, at
    /// the state-assembly position `N + 1`, assembles `h(S_{lo+1})` — and compares the claims.
    fn recompute(
        &mut self,
        graph: &Graph,
        node: u64,
        prev: [u8; 32],
        a: Answer,
        _b: Answer,
    ) -> Vec<Action> {
        match a {
            Answer::State(truth) => {
                let claims = self.claims(|p| p.hi_hash, "h(S_hi)");
                self.settle(self.step_lo, node, claims, truth)
            }
            Answer::Inputs(values) => {
                let Some(op) = usize::try_from(node - 1)
                    .ok()
                    .and_then(|i| graph.nodes.get(i))
                    .map(|n| n.op.clone())
                else {
                    return self.both_lose_malformed();
                };
                let refs: Vec<&Value> = values.iter().collect();
                let outs = match self.reexec.execute(&op, &refs) {
                    Ok(o) => o,
                    // Agreed inputs that do not run: the step the honest side ran cannot have
                    // had them, so neither party is honest.
                    Err(_) => return self.both_lose_malformed(),
                };
                let truth = PrefixChain::link(&prev, &node_hash(&outs));
                let claims = self.claims(|p| p.hi_link, "c_hi");
                self.settle(self.step_lo, node, claims, truth)
            }
            _ => self.both_lose_malformed(),
        }
    }

    /// Both parties' claims at the disputed position. The referee itself recorded them when the
    /// answers first disagreed there (every path into the node phase passes a disagreeing step
    /// answer, and every path into input transfer a disagreeing link or the state-assembly
    /// position), so a missing claim is a bug in this machine, never a peer's doing: it panics
    /// rather than letting a default hash decide a verdict.
    fn claims(&self, pick: impl Fn(&PartyState) -> Option<[u8; 32]>, what: &str) -> [[u8; 32]; 2] {
        let [Some(a), Some(b)] = [pick(&self.parties[0]), pick(&self.parties[1])] else {
            panic!("invariant: both parties' {what} claims are recorded before recomputation");
        };
        [a, b]
    }

    /// Compares each party's claim (a link `c_{i*}`, or a state hash) with the recomputed one.
    fn settle(
        &mut self,
        step: u64,
        node: u64,
        claims: [[u8; 32]; 2],
        truth: [u8; 32],
    ) -> Vec<Action> {
        // Positive space: a dispute is only ever settled where the two claims differ (that is
        // how the position was found); negative space: equal claims would make the verdict
        // depend on nothing the parties disagreed on.
        assert_ne!(
            claims[0], claims[1],
            "invariant: the parties' claims differ at the settled position"
        );
        let ok = [claims[0] == truth, claims[1] == truth];
        let resolution = Resolution::Recomputed {
            step,
            node,
            challenger_hash: claims[0],
            defendant_hash: claims[1],
            recomputed_hash: truth,
        };
        let ids = [self.parties[0].id, self.parties[1].id];
        match ok {
            [true, false] => self.finish(
                Outcome::Winner {
                    winner: ids[0],
                    loser: ids[1],
                },
                resolution,
            ),
            [false, true] => self.finish(
                Outcome::Winner {
                    winner: ids[1],
                    loser: ids[0],
                },
                resolution,
            ),
            // `[true, true]` cannot happen: the claims differ at the disputed position.
            _ => self.both_lose(resolution),
        }
    }
}

/// Whether `msg` is a party's answer to a query.
fn is_answer(msg: &Message) -> bool {
    matches!(
        msg,
        Message::StepAnswer(_) | Message::NodeAnswer(_) | Message::InputTransfer(_)
    )
}
