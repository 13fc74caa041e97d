//! The world's side of the embedded settlement back end ([`crate::onchain`]): forwards each
//! chain action to the [`ChainMirror`], turns its answers into counters (gaps) and
//! violations, and runs its checkers after every event that touched the chain.

use pinpoint_chain::{B256, Finding};
use pinpoint_protocol::fees::Settlement;
use pinpoint_protocol::wire::Resolution;

use super::World;
use crate::ledger::{Holder, Ledger};
use crate::onchain::{ChainMirror, Deltas, Issue, MirrorFault, Who};

impl World {
    /// Injects a deliberately wrong chain mapping (tests: the checkers must catch it). No
    /// effect without `settlement = "embedded"`.
    pub fn with_chain_fault(mut self, fault: MirrorFault) -> Self {
        if let Some(m) = self.mirror.as_mut() {
            m.set_fault(fault);
        }
        self
    }

    /// Runs `f` on the mirror, if there is one, and records what it reports.
    pub(crate) fn on_chain(&mut self, f: impl FnOnce(&mut ChainMirror, u64) -> Result<(), Issue>) {
        let now = self.now;
        let Some(m) = self.mirror.as_mut() else {
            return;
        };
        let r = f(m, now);
        self.chain_issue(r);
    }

    fn chain_issue(&mut self, r: Result<(), Issue>) {
        match r {
            Ok(()) => {}
            Err(Issue::Gap(name)) => {
                self.count(name);
                self.count("chain_unmapped_jobs");
            }
            Err(Issue::Violation(v)) => self.violation(format!("embedded chain: {v}")),
        }
    }

    /// A node's, the treasury's, the submitter's wealth and the burn in the ledger.
    fn ledger_wealth(&self, who: Who) -> u128 {
        match who {
            Who::Node(n) => {
                let id = self.nodes[n].id;
                self.ledger.balance(Holder::Node(id)) + self.ledger.staked_by(id)
            }
            Who::Arbiters => (0..self.nodes.len())
                .filter(|n| self.nodes[*n].role == crate::scenario::Role::Arbiter)
                .map(|n| self.ledger_wealth(Who::Node(n)))
                .sum(),
            Who::Treasury => self.ledger.balance(Holder::Treasury),
            Who::Submitter => self.ledger.balance(Holder::Submitter),
            Who::Burned => self.ledger.totals().burned,
        }
    }

    /// Applies `s` to the ledger; with the mirror, also returns the wealth changes.
    pub(crate) fn settle_measured(
        &mut self,
        job: pinpoint_protocol::id::JobId,
        s: &Settlement,
    ) -> (Result<(), crate::ledger::LedgerError>, Option<Deltas>) {
        let Some(who) = self.mirror.as_ref().map(ChainMirror::accounts) else {
            return (self.ledger.settle(job, s), None);
        };
        let before: Vec<u128> = who.iter().map(|w| self.ledger_wealth(*w)).collect();
        let r = self.ledger.settle(job, s);
        let deltas = who
            .iter()
            .zip(before)
            .map(|(w, b)| {
                let after = self.ledger_wealth(*w);
                let d = i128::try_from(after).unwrap_or(i128::MAX)
                    - i128::try_from(b).unwrap_or(i128::MAX);
                (*w, d)
            })
            .filter(|(_, d)| *d != 0)
            .collect();
        (r, Some(deltas))
    }

    /// The finding of dispute `d` for the chain's `Verdict` event (zeros for a forfeit).
    pub(crate) fn chain_finding(&self, d: usize) -> Finding {
        let zero = Finding {
            step: 0,
            node: 0,
            challengerHash: B256::ZERO,
            defendantHash: B256::ZERO,
            refereeHash: B256::ZERO,
        };
        match self.disputes[d].resolution {
            Some(Resolution::Recomputed {
                step,
                node,
                challenger_hash,
                defendant_hash,
                recomputed_hash,
            }) => Finding {
                step,
                node,
                challengerHash: B256::from(challenger_hash),
                defendantHash: B256::from(defendant_hash),
                refereeHash: B256::from(recomputed_hash),
            },
            _ => zero,
        }
    }

    /// After every event: finalizes jobs whose contract window has ended, and checks the
    /// chain's conservation if the event sent a transaction.
    pub(crate) fn check_chain(&mut self, force: bool) {
        let now = self.now;
        let Some(m) = self.mirror.as_mut() else {
            return;
        };
        let issues = m.flush(now, force);
        // Reported once per run, like the ledger's conservation.
        let conservation = if m.take_dirty() {
            m.check_conservation()
        } else {
            Ok(())
        };
        for i in issues {
            self.chain_issue(Err(i));
        }
        if let Err(v) = conservation {
            self.violation(format!("embedded chain: {v}"));
        }
    }
}
