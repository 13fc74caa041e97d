//! Arbiter nodes: each runs the protocol's arbiter role machine
//! ([`pinpoint_protocol::role::arbiter::ArbiterRole`]). The world delivers dispute assignments
//! (from the chain), parties' signed answers (from the network) and timeouts, and carries out
//! the machine's sends and verdicts.

use pinpoint_protocol::ProtocolError;
use pinpoint_protocol::role::Machine;
use pinpoint_protocol::role::arbiter::{ArbiterAction, ArbiterInput, Assignment};
use pinpoint_protocol::wire::{Outcome, Resolution, SignedMessage, Verdict};

use super::events::Tx;
use super::{Ev, Ix, Msg, World};
use crate::report::DisputeStat;

impl World {
    /// The chain assigned dispute `d` to its referee node.
    pub(crate) fn referee_start(&mut self, d: usize) {
        let dr = &self.disputes[d];
        let (referee, job) = (dr.referee, dr.job);
        let assignment = Assignment {
            dispute: d as u64,
            job: self.jobs[job].id,
            challenger: (self.nodes[dr.sides[0].node].id, dr.sides[0].rec.root()),
            defendant: (self.nodes[dr.sides[1].node].id, dr.sides[1].rec.root()),
            steps: self.recs.honest.steps(),
            reexec: self.recs.reexec.clone(),
        };
        let now = self.now;
        if let Err(e) = self.nodes[referee]
            .roles
            .arbiter
            .handle(now, ArbiterInput::Assigned(assignment))
        {
            return self.violation(format!("dispute {d}: the arbiter refused it: {e}"));
        }
        self.drain_arbiter(referee);
    }

    /// Carries out the arbiter machine's actions, then schedules its next timeout. Returns the
    /// number of queries sent.
    fn drain_arbiter(&mut self, referee: Ix) -> usize {
        let mut sent = 0;
        while let Some(a) = self.nodes[referee].roles.arbiter.poll_action() {
            match a {
                ArbiterAction::Send {
                    dispute,
                    to,
                    round,
                    msg,
                } => {
                    let Some(&n) = self.ix_of.get(&to) else {
                        continue;
                    };
                    let d = dispute as usize;
                    sent += 1;
                    self.send(referee, n, Msg::ToParty { d, round, msg });
                }
                ArbiterAction::Verdict {
                    dispute,
                    verdict,
                    rounds,
                } => self.verdict_reached(dispute as usize, &verdict, rounds),
                ArbiterAction::Withdrawn { .. } => {
                    // The simulated chain never tells a referee that its dispute was decided.
                    self.count("referee_withdrawn");
                }
                ArbiterAction::Unfounded { dispute } => {
                    // Nothing to bisect (equal roots): the challenge was unfounded.
                    self.count("dispute_not_openable");
                    self.disputes[dispute as usize].done = true;
                    self.send_tx(Tx::Verdict {
                        d: dispute as usize,
                        winner: Some(1),
                    });
                }
            }
        }
        self.schedule_arbiter_poll(referee);
        sent
    }

    /// The referee's verdict on dispute `d`: reported, and posted to the chain.
    fn verdict_reached(&mut self, d: usize, v: &Verdict, rounds: u32) {
        let dr = &mut self.disputes[d];
        dr.done = true;
        dr.resolution = Some(v.resolution);
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
    }

    fn schedule_arbiter_poll(&mut self, referee: Ix) {
        let next = self.nodes[referee].roles.arbiter.next_deadline();
        if let Some(at) = next
            && self.nodes[referee].arbiter_poll != Some(at)
        {
            self.nodes[referee].arbiter_poll = Some(at);
            self.schedule(at, Ev::RefereePoll { referee });
        }
    }

    /// The arbiter's timer: re-asks or forfeits on expired deadlines.
    pub(crate) fn referee_poll(&mut self, referee: Ix) {
        self.nodes[referee].arbiter_poll = None;
        let now = self.now;
        self.nodes[referee].roles.arbiter.handle_timeout(now);
        for _ in 0..self.drain_arbiter(referee) {
            self.count("referee_reasks");
        }
    }

    /// A party's signed answer reaches the referee over the link from `from`.
    ///
    /// The stand-in for authentication: a node's network actor verifies each frame's
    /// signature once and checks that the signer is the connection's authenticated peer; the
    /// simulator's links are authentic by construction, so the machine is given the link's
    /// peer as the authenticated sender and the ed25519 check is skipped, and every message it
    /// vouches for is counted (`dispute_messages_link_authenticated`). Everything after the
    /// signature — the signer-is-sender check, the replay guard, the equivocation checks, the
    /// answer — is the protocol's, so duplicated and reordered copies from the network meet
    /// the real guard.
    pub(crate) fn referee_receive(&mut self, d: usize, from: Ix, signed: SignedMessage) {
        if self.disputes[d].done {
            return self.count("answer_after_verdict");
        }
        let (referee, now) = (self.disputes[d].referee, self.now);
        let from = self.nodes[from].id;
        self.count("dispute_messages_link_authenticated");
        let r = self.nodes[referee].roles.arbiter.handle(
            now,
            ArbiterInput::Answer {
                from,
                signed: Box::new(signed),
            },
        );
        match r {
            Ok(()) => {}
            Err(ProtocolError::Replay(_)) => self.count("referee_refused_replay"),
            Err(ProtocolError::BadSignature(_)) => self.count("referee_refused_foreign_signer"),
            Err(_) => self.count("referee_rejected_message"),
        }
        self.drain_arbiter(referee);
    }
}
