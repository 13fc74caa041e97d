//! The dispute [`Referee`]: step bisection, node bisection, one-operator re-execution.

use pinpoint_kernels::graph::{Graph, Op, Value, ValueRef, execute_node, node_hash};
use pinpoint_kernels::{Cpu, TensorHash};

use crate::error::{ProtocolError, Result};
use crate::id::{JobId, NodeId};
use crate::merkle::{PrefixChain, StepCommitment};
use crate::wire::{
    Fault, InputQuery, InputTransfer, Message, NodeAnswer, NodePhaseStart, NodeQuery, Outcome,
    Resolution, StepAnswer, StepQuery, Verdict,
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
    /// Send `msg` to `to`.
    Send {
        /// The recipient.
        to: NodeId,
        /// The message.
        msg: Message,
    },
    /// The dispute is over (always the last action the referee emits).
    Verdict(Verdict),
}

/// The referee's access to the job's computation (kept behind a trait so the state machine
/// does no I/O). In this first version it also supplies the agreed graph inputs of a step
/// (parameters, optimizer state, batch: data the referee would take from a checkpoint of the
/// agreed state `S_lo` and the spec's sampler) and the hash of a state assembled from agreed
/// graph outputs.
pub trait Reexec {
    /// The graph of step `lo → lo + 1` (with that step's learning rate).
    fn graph(&mut self, lo: u64) -> Result<Graph>;
    /// The agreed value of graph input `input` of step `lo → lo + 1`.
    fn graph_input(&mut self, lo: u64, input: usize) -> Result<Value>;
    /// `h(S_step)` as the referee recomputes it from agreed data (used for `S_0` and for the
    /// state-assembly pseudo-node).
    fn state_hash(&mut self, step: u64) -> Result<[u8; 32]>;
    /// Runs one operator; the default is [`execute_node`] on [`Cpu::single`].
    fn execute(&mut self, op: &Op, inputs: &[&Value]) -> Result<Vec<Value>> {
        execute_node(&Cpu::single(), op, inputs).map_err(|e| ProtocolError::Malformed {
            what: "re-executed node",
            detail: e.to_string(),
        })
    }
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
fn ceil_log2(n: u64) -> u32 {
    if n <= 1 {
        0
    } else {
        64 - (n - 1).leading_zeros()
    }
}

/// The most query rounds a dispute over `steps` steps and a step graph of `nodes` nodes takes:
/// `⌈log2 T⌉ + ⌈log2 (N + 1)⌉ + 3` (one round for `h(S_T)`, one for the last chain link, one
/// for the inputs), hence at most `⌈log2 T⌉ + ⌈log2 N⌉ + 4`.
pub fn round_bound(steps: u64, nodes: u64) -> u32 {
    ceil_log2(steps) + ceil_log2(nodes + 1) + 3
}

#[derive(Debug, Clone)]
struct Pending {
    msg: Message,
    deadline: u64,
    retries: u32,
}

#[derive(Debug, Clone)]
enum Answer {
    Step([u8; 32]),
    Link([u8; 32]),
    Inputs(Vec<Value>),
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
}

#[derive(Debug)]
enum Phase {
    Steps {
        lo: u64,
        hi: u64,
        asked: u64,
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
pub struct Referee<R: Reexec> {
    job: JobId,
    steps: u64,
    deadlines: Deadlines,
    reexec: R,
    parties: [PartyState; 2],
    phase: Phase,
    /// Last agreed step and its hash.
    lo_hash: [u8; 32],
    step_lo: u64,
    rounds: u32,
    verdict: Option<Verdict>,
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

impl<R: Reexec> Referee<R> {
    /// A referee for the dispute between `challenger` and `defendant`, each given as
    /// `(id, signed step-commitment root)`, over a job of `steps` steps. Returns the referee and
    /// its first actions (the query for `h(S_T)`).
    ///
    /// Errors: [`ProtocolError::InvalidArgument`] if `steps` is 0, the parties are the same
    /// node or their roots are equal (no dispute); errors of `reexec.state_hash(0)`.
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
        let lo_hash = reexec.state_hash(0)?;
        let party = |(id, root): (NodeId, [u8; 32])| PartyState {
            id,
            root,
            chain_root: None,
            hi_hash: None,
            hi_link: None,
            pending: None,
            answer: None,
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
            lo_hash,
            step_lo: 0,
            rounds: 0,
            verdict: None,
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

    /// Handles a message `from` a party at `now_ms`.
    ///
    /// Errors: [`ProtocolError::InvalidTransition`] if `from` is not a party of this dispute
    /// (nothing changes). A party's unsolicited message is ignored; a malformed, contradictory
    /// or unprovable answer ends the dispute with that party's forfeit.
    pub fn handle(&mut self, now_ms: u64, from: &NodeId, msg: Message) -> Result<Vec<Action>> {
        let side = self
            .side_of(from)
            .ok_or_else(|| ProtocolError::InvalidTransition {
                phase: self.phase_name(),
                detail: "message from a node that is not a party of the dispute".into(),
            })?;
        if matches!(self.phase, Phase::Done) || self.parties[side.ix()].pending.is_none() {
            return Ok(Vec::new());
        }
        if self.is_stale(&msg) {
            // A late copy of an answer to an earlier (re-sent) query: not an offence.
            return Ok(Vec::new());
        }
        let answer = match self.check_answer(side, msg) {
            Ok(a) => a,
            Err(fault) => return Ok(self.forfeit(side, fault)),
        };
        let p = &mut self.parties[side.ix()];
        p.pending = None;
        p.answer = Some(answer);
        if self.parties.iter().all(|p| p.answer.is_some()) {
            return Ok(self.advance(now_ms));
        }
        Ok(Vec::new())
    }

    /// An answer of the current phase's kind for another step or node than the one asked.
    fn is_stale(&self, msg: &Message) -> bool {
        match (&self.phase, msg) {
            (Phase::Steps { asked, .. }, Message::StepAnswer(a)) => a.step != *asked,
            (Phase::Nodes { asked, .. }, Message::NodeAnswer(a)) => a.index != *asked,
            (Phase::Nodes { .. }, Message::StepAnswer(_)) => true,
            (Phase::Inputs { .. }, Message::NodeAnswer(_)) => true,
            _ => false,
        }
    }

    fn phase_name(&self) -> &'static str {
        match self.phase {
            Phase::Steps { .. } => "step bisection",
            Phase::Nodes { .. } => "node bisection",
            Phase::Inputs { .. } => "input transfer",
            Phase::Done => "done",
        }
    }

    /// Checks one answer against the party's commitments.
    fn check_answer(&mut self, side: Side, msg: Message) -> std::result::Result<Answer, Fault> {
        let steps = self.steps;
        let p = &mut self.parties[side.ix()];
        match (&self.phase, msg) {
            (
                Phase::Steps { asked, .. },
                Message::StepAnswer(StepAnswer {
                    step,
                    state_hash,
                    proof,
                }),
            ) => {
                if step != *asked {
                    return Err(Fault::Malformed);
                }
                StepCommitment::verify(&p.root, steps, step, &state_hash, &proof.to_proof())
                    .map_err(|_| Fault::BadProof)?;
                Ok(Answer::Step(state_hash))
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
                if index != *asked {
                    return Err(Fault::Malformed);
                }
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
                Phase::Inputs { graph, node, .. },
                Message::InputTransfer(InputTransfer { index, inputs }),
            ) => {
                if index != *node {
                    return Err(Fault::Malformed);
                }
                let refs = usize::try_from(*node - 1)
                    .ok()
                    .and_then(|i| graph.nodes.get(i))
                    .map(|n| n.inputs.clone())
                    .ok_or(Fault::Malformed)?;
                if refs.len() != inputs.len() {
                    return Err(Fault::Malformed);
                }
                let mut values = Vec::with_capacity(refs.len());
                for (r, blob) in refs.iter().zip(inputs.iter()) {
                    let v = blob.to_value().map_err(|_| Fault::BadInput)?;
                    let agreed = match *r {
                        ValueRef::Input(k) => Some(
                            self.reexec
                                .graph_input(self.step_lo, k)
                                .map_err(|_| Fault::Malformed)?
                                .hash(),
                        ),
                        ValueRef::Const(k) => graph.consts.get(k).map(|c| c.hash()),
                        ValueRef::Node { .. } => None,
                    };
                    if let Some(h) = agreed
                        && h != v.hash()
                    {
                        return Err(Fault::BadInput);
                    }
                    values.push(v);
                }
                Ok(Answer::Inputs(values))
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
                Phase::Steps {
                    mut lo,
                    mut hi,
                    asked,
                },
                [Some(Answer::Step(a)), Some(Answer::Step(b))],
            ) => {
                if a == b {
                    if asked == self.steps {
                        // Equal final states under different roots: nothing to settle by
                        // bisection (documented limitation); the challenge was unfounded.
                        return self.forfeit(Side::Challenger, Fault::Malformed);
                    }
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
                    return self
                        .ask_both(now_ms, Message::StepQuery(StepQuery { round, step: mid }));
                }
                self.start_nodes(now_ms, lo)
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
                // disagreed even when both send the same one: one of them then fails the
                // consistency check of `check_state_links`.
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
                let m = graph.nodes.len() as u64 + 1;
                if hi_i == m {
                    return self.check_state_links(lo_link, m);
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
                [Some(Answer::Inputs(a)), Some(Answer::Inputs(b))],
            ) => self.recompute(&graph, node, prev_link, [a, b]),
            _ => self.both_lose(Resolution::Forfeit {
                offender: self.parties[0].id,
                fault: Fault::Malformed,
            }),
        }
    }

    fn start_nodes(&mut self, now_ms: u64, lo: u64) -> Vec<Action> {
        self.step_lo = lo;
        let graph = match self.reexec.graph(lo) {
            Ok(g) => g,
            Err(_) => {
                let offender = self.parties[0].id;
                return self.both_lose(Resolution::Forfeit {
                    offender,
                    fault: Fault::Malformed,
                });
            }
        };
        let m = graph.nodes.len() as u64 + 1;
        let start = NodePhaseStart {
            lo,
            graph_hash: graph.structure_hash().0,
            nodes: m,
        };
        let lo_link = PrefixChain::start(&self.lo_hash);
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

    /// The first disputed position is the state-assembly pseudo-node `N + 1`: each party's
    /// `c_{N+1}` must follow from the agreed `c_N` and its proven `h(S_{lo+1})`; then the
    /// referee's own `h(S_{lo+1})` decides.
    fn check_state_links(&mut self, c_n: [u8; 32], m: u64) -> Vec<Action> {
        let mut links = [[0u8; 32]; 2];
        let mut consistent = [false; 2];
        for s in SIDES {
            let p = &self.parties[s.ix()];
            if let (Some(h), Some(c)) = (p.hi_hash, p.hi_link) {
                links[s.ix()] = c;
                consistent[s.ix()] = PrefixChain::link(&c_n, &TensorHash(h)) == c;
            }
        }
        match consistent {
            [false, false] => {
                let offender = self.parties[0].id;
                return self.both_lose(Resolution::Forfeit {
                    offender,
                    fault: Fault::Equivocation,
                });
            }
            [false, true] => return self.forfeit(Side::Challenger, Fault::Equivocation),
            [true, false] => return self.forfeit(Side::Defendant, Fault::Equivocation),
            [true, true] => {}
        }
        let truth = match self.reexec.state_hash(self.step_lo + 1) {
            Ok(h) => PrefixChain::link(&c_n, &TensorHash(h)),
            Err(_) => {
                let offender = self.parties[0].id;
                return self.both_lose(Resolution::Forfeit {
                    offender,
                    fault: Fault::Malformed,
                });
            }
        };
        self.settle(m, links, [truth, truth])
    }

    fn recompute(
        &mut self,
        graph: &Graph,
        node: u64,
        prev: [u8; 32],
        inputs: [Vec<Value>; 2],
    ) -> Vec<Action> {
        let op = &graph.nodes[(node - 1) as usize].op;
        let links = [
            self.parties[0].hi_link.unwrap_or_default(),
            self.parties[1].hi_link.unwrap_or_default(),
        ];
        let mut truth = [[0u8; 32]; 2];
        for s in SIDES {
            let own: Vec<&Value> = inputs[s.ix()].iter().collect();
            match self.reexec.execute(op, &own) {
                Ok(outs) => truth[s.ix()] = PrefixChain::link(&prev, &node_hash(&outs)),
                Err(_) => return self.forfeit(s, Fault::BadInput),
            }
        }
        self.settle(node, links, truth)
    }

    /// Compares each party's claimed link with the recomputed one (per party: recomputed from
    /// the inputs it sent, which equal the other's whenever both are honest about agreed data).
    fn settle(&mut self, node: u64, claims: [[u8; 32]; 2], truth: [[u8; 32]; 2]) -> Vec<Action> {
        let ok = [claims[0] == truth[0], claims[1] == truth[1]];
        let resolution = Resolution::Recomputed {
            step: self.step_lo,
            node,
            challenger_hash: claims[0],
            defendant_hash: claims[1],
            recomputed_hash: if ok[1] { truth[1] } else { truth[0] },
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
            _ => self.both_lose(resolution),
        }
    }
}
