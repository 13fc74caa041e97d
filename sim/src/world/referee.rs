//! The referee node of each dispute: runs the glue [`crate::glue::dispute::Session`], sends
//! its queries over the network, polls its deadlines and posts the verdict to the chain.

use pinpoint_protocol::wire::{Message, Outcome, Resolution};

use super::events::Tx;
use super::{Ev, Ix, Msg, World};
use crate::glue::dispute::{AnswerDeadlines, RefereeAction, Session};
use crate::report::DisputeStat;

impl World {
    pub(crate) fn referee_start(&mut self, d: usize) {
        let dr = &self.disputes[d];
        let job = dr.job;
        let ids = [
            self.nodes[dr.sides[0].node].id,
            self.nodes[dr.sides[1].node].id,
        ];
        let roots = [dr.sides[0].rec.root(), dr.sides[1].rec.root()];
        let t = &self.scn.timing;
        let opened = Session::open(
            self.jobs[job].id,
            (ids[0], roots[0]),
            (ids[1], roots[1]),
            self.recs.honest.steps(),
            self.now,
            AnswerDeadlines {
                answer_ms: t.answer_ms,
                max_retries: t.max_retries,
            },
            &self.recs.reexec,
        );
        match opened {
            Ok((session, actions)) => {
                self.disputes[d].session = Some(session);
                self.referee_actions(d, actions);
            }
            Err(_) => {
                // Nothing to bisect (equal roots): the challenge was unfounded.
                self.count("dispute_not_openable");
                self.disputes[d].done = true;
                self.send_tx(Tx::Verdict { d, winner: Some(1) });
            }
        }
    }

    fn referee_actions(&mut self, d: usize, actions: Vec<RefereeAction>) {
        let referee = self.disputes[d].referee;
        for a in actions {
            match a {
                RefereeAction::Send { to, msg } => {
                    let Some(&n) = self.ix_of.get(&to) else {
                        continue;
                    };
                    self.send(referee, n, Msg::ToParty { d, msg });
                }
                RefereeAction::Verdict(v) => {
                    let dr = &mut self.disputes[d];
                    dr.done = true;
                    dr.resolution = Some(v.resolution);
                    let rounds = dr.session.as_ref().map_or(0, Session::rounds);
                    let ids = [dr.sides[0].node, dr.sides[1].node];
                    let winner = match v.outcome {
                        Outcome::Winner { winner, .. } => self
                            .ix_of
                            .get(&winner)
                            .and_then(|w| ids.iter().position(|i| i == w)),
                        Outcome::BothLose { .. } => None,
                    };
                    let resolution = match v.resolution {
                        Resolution::Recomputed { node, .. } => {
                            if node == self.recs.nodes + 1 {
                                "recomputed state".to_string()
                            } else {
                                "recomputed node".to_string()
                            }
                        }
                        Resolution::Forfeit { fault, .. } => format!("forfeit {fault:?}"),
                    };
                    self.count(match resolution.as_str() {
                        "recomputed state" => "verdict_recomputed_state",
                        "recomputed node" => "verdict_recomputed_node",
                        "forfeit Timeout" => "verdict_forfeit_timeout",
                        "forfeit BadProof" => "verdict_forfeit_bad_proof",
                        "forfeit Equivocation" => "verdict_forfeit_equivocation",
                        "forfeit BadInput" => "verdict_forfeit_bad_input",
                        _ => "verdict_forfeit_malformed",
                    });
                    let elapsed = self.now - self.disputes[d].started_at;
                    self.out.disputes.push(DisputeStat {
                        rounds,
                        elapsed_ms: elapsed,
                        resolution,
                    });
                    self.send_tx(Tx::Verdict { d, winner });
                    return;
                }
            }
        }
        self.schedule_referee_poll(d);
    }

    fn schedule_referee_poll(&mut self, d: usize) {
        let dr = &self.disputes[d];
        if dr.done {
            return;
        }
        let next = dr.session.as_ref().and_then(Session::next_deadline);
        if let Some(at) = next
            && dr.next_poll != Some(at)
        {
            let referee = dr.referee;
            self.disputes[d].next_poll = Some(at);
            self.schedule(at, Ev::RefereePoll { referee, d });
        }
    }

    pub(crate) fn referee_poll(&mut self, d: usize) {
        if self.disputes[d].done {
            return;
        }
        self.disputes[d].next_poll = None;
        let now = self.now;
        let actions = match self.disputes[d].session.as_mut() {
            Some(s) => s.poll(now),
            None => return,
        };
        let resends = actions
            .iter()
            .filter(|a| matches!(a, RefereeAction::Send { .. }))
            .count();
        for _ in 0..resends {
            self.count("referee_reasks");
        }
        self.referee_actions(d, actions);
    }

    pub(crate) fn referee_receive(&mut self, d: usize, from: Ix, msg: Message) {
        if self.disputes[d].done {
            return self.count("answer_after_verdict");
        }
        let id = self.nodes[from].id;
        let now = self.now;
        let r = match self.disputes[d].session.as_mut() {
            Some(s) => s.handle(now, &id, msg),
            None => return,
        };
        match r {
            Ok(actions) => self.referee_actions(d, actions),
            Err(_) => self.count("referee_rejected_message"),
        }
    }
}
