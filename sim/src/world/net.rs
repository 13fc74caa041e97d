//! Transmissions: partitions and drops are decided when a transmission is sent; a lost one is
//! retransmitted after `rto_ms` up to `transport_retries` times (the transport, as QUIC would);
//! a delivered one arrives after the link latency, maybe held back (reorder), maybe twice.

use super::{Ev, Ix, Msg, World};

impl World {
    /// Whether an active partition blocks `from → to`.
    pub(crate) fn blocked(&self, from: Ix, to: Ix) -> bool {
        self.partitions
            .iter()
            .any(|p| p.active && (p.side[from] != p.side[to]) && (!p.one_way || p.side[from]))
    }

    /// Sends `msg` from `from` to `to` (first transmission).
    pub(crate) fn send(&mut self, from: Ix, to: Ix, msg: Msg) {
        if matches!(msg, Msg::ToParty { .. } | Msg::ToReferee { .. }) {
            // What signing would cost: each dispute message is signed once and verified once.
            self.count("dispute_messages");
        }
        self.transmit(from, to, msg, 0, false);
    }

    pub(crate) fn transmit(&mut self, from: Ix, to: Ix, msg: Msg, attempt: u32, partitioned: bool) {
        let net = &self.scn.network;
        let (drop, dup, reorder) = (net.drop, net.duplicate, net.reorder);
        let (lat, reorder_ms, rto, retries) = (
            net.latency_ms,
            net.reorder_ms,
            net.rto_ms,
            net.transport_retries,
        );
        let blocked = self.blocked(from, to);
        let dropped = !blocked && !self.healed && self.rng_net.chance(drop);
        if blocked || dropped {
            self.count(if blocked {
                "blocked_by_partition"
            } else {
                "dropped"
            });
            let partitioned = partitioned || blocked;
            if attempt < retries {
                self.count("retransmitted");
                let epoch = self.nodes[from].epoch;
                self.schedule(
                    self.now + rto,
                    Ev::Transmit {
                        from,
                        to,
                        msg,
                        attempt: attempt + 1,
                        epoch,
                        partitioned,
                    },
                );
            } else {
                self.count("message_lost");
                if !partitioned && self.nodes[from].honest() && self.nodes[to].honest() {
                    self.beyond(format!(
                        "a message between honest nodes {from} and {to} was dropped {} times \
                         (Δ-delivery broken by loss)",
                        retries + 1
                    ));
                }
            }
            return;
        }
        let mut delay = self.rng_net.range(lat[0], lat[1]);
        if !self.healed && self.rng_net.chance(reorder) {
            self.count("reordered");
            delay += self.rng_net.range(0, reorder_ms);
        }
        let copy = (!self.healed && self.rng_net.chance(dup)).then(|| msg.clone());
        self.schedule(self.now + delay, Ev::Deliver { from, to, msg });
        if let Some(msg) = copy {
            self.count("duplicated");
            let d2 = self.rng_net.range(lat[0], lat[1] + reorder_ms);
            self.schedule(self.now + d2, Ev::Deliver { from, to, msg });
        }
    }
}
