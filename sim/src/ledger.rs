//! The token ledger the simulator settles jobs on: supply, burned, free balances, per-job
//! escrow and per-job stakes, behind the [`Ledger`] trait. Transfers follow
//! `pinpoint_protocol::fees`. With `settlement = "embedded"` the chain crate's contracts run
//! beside it and are checked against it ([`crate::onchain`]).

use std::collections::BTreeMap;

use pinpoint_protocol::fees::{Account, Settlement};
use pinpoint_protocol::id::{JobId, NodeId};

/// Who holds a free balance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Holder {
    /// The job submitter.
    Submitter,
    /// The protocol treasury.
    Treasury,
    /// A node.
    Node(NodeId),
}

/// The conservation totals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Totals {
    /// Tokens minted at the start.
    pub supply: u128,
    /// Tokens burned so far.
    pub burned: u128,
    /// Sum of free balances.
    pub balances: u128,
    /// Sum of job escrows.
    pub escrow: u128,
    /// Sum of bonded stakes.
    pub stakes: u128,
}

impl Totals {
    /// `supply − burned = balances + escrow + stakes`.
    pub fn conserved(&self) -> bool {
        self.supply.checked_sub(self.burned)
            == self
                .balances
                .checked_add(self.escrow)
                .and_then(|x| x.checked_add(self.stakes))
    }
}

/// A ledger operation that would break an invariant (the operation is not applied).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LedgerError {
    /// A debit larger than the account holds (escrow or a stake would go negative).
    #[error("{what} would go negative: has {has}, debit {debit}")]
    Insufficient {
        /// Which account.
        what: String,
        /// What it holds.
        has: u128,
        /// The debit.
        debit: u128,
    },
}

/// What the simulator needs from settlement.
pub trait Ledger {
    /// Moves `amount` from the submitter into job `job`'s escrow.
    fn escrow(&mut self, job: JobId, amount: u128) -> Result<(), LedgerError>;
    /// Bonds `amount` of `node`'s balance as its stake for `job`.
    fn bond(&mut self, job: JobId, node: NodeId, amount: u128) -> Result<(), LedgerError>;
    /// Executes a job's settlement (all or nothing).
    fn settle(&mut self, job: JobId, s: &Settlement) -> Result<(), LedgerError>;
    /// The conservation totals.
    fn totals(&self) -> Totals;
    /// A free balance.
    fn balance(&self, who: Holder) -> u128;
}

/// An in-memory ledger.
#[derive(Debug, Clone, Default)]
pub struct MemLedger {
    supply: u128,
    burned: u128,
    balances: BTreeMap<Holder, u128>,
    escrow: BTreeMap<JobId, u128>,
    stakes: BTreeMap<(JobId, NodeId), u128>,
}

fn debit(
    map_val: &mut u128,
    amount: u128,
    what: impl FnOnce() -> String,
) -> Result<(), LedgerError> {
    *map_val = map_val
        .checked_sub(amount)
        .ok_or_else(|| LedgerError::Insufficient {
            what: what(),
            has: *map_val,
            debit: amount,
        })?;
    Ok(())
}

impl MemLedger {
    /// A ledger whose whole supply is minted to `genesis` holders.
    pub fn new(genesis: &[(Holder, u128)]) -> Self {
        let mut l = Self::default();
        for (h, a) in genesis {
            *l.balances.entry(*h).or_default() += a;
            l.supply += a;
        }
        l
    }

    /// Everything `node` has bonded, over all jobs.
    pub fn staked_by(&self, node: NodeId) -> u128 {
        self.stakes
            .iter()
            .filter(|((_, n), _)| *n == node)
            .map(|(_, a)| *a)
            .sum()
    }

    fn credit(&mut self, to: Account, job: JobId, amount: u128) {
        match to {
            Account::Burn => self.burned += amount,
            Account::Treasury => *self.balances.entry(Holder::Treasury).or_default() += amount,
            Account::Submitter => *self.balances.entry(Holder::Submitter).or_default() += amount,
            Account::Node(n) => *self.balances.entry(Holder::Node(n)).or_default() += amount,
            Account::Escrow => *self.escrow.entry(job).or_default() += amount,
            Account::Stake(n) => *self.stakes.entry((job, n)).or_default() += amount,
        }
    }
}

impl Ledger for MemLedger {
    fn escrow(&mut self, job: JobId, amount: u128) -> Result<(), LedgerError> {
        let b = self.balances.entry(Holder::Submitter).or_default();
        debit(b, amount, || "submitter balance".into())?;
        *self.escrow.entry(job).or_default() += amount;
        Ok(())
    }

    fn bond(&mut self, job: JobId, node: NodeId, amount: u128) -> Result<(), LedgerError> {
        let b = self.balances.entry(Holder::Node(node)).or_default();
        debit(b, amount, || format!("balance of {}", node.to_hex()))?;
        *self.stakes.entry((job, node)).or_default() += amount;
        Ok(())
    }

    fn settle(&mut self, job: JobId, s: &Settlement) -> Result<(), LedgerError> {
        // Check every debit first: all or nothing.
        let mut trial = self.clone();
        for t in &s.transfers {
            match t.from {
                Account::Escrow => {
                    let e = trial.escrow.entry(job).or_default();
                    debit(e, t.amount, || "escrow".into())?;
                }
                Account::Stake(n) => {
                    let e = trial.stakes.entry((job, n)).or_default();
                    debit(e, t.amount, || format!("stake of {}", n.to_hex()))?;
                }
                other => {
                    return Err(LedgerError::Insufficient {
                        what: format!("transfer source {other:?}"),
                        has: 0,
                        debit: t.amount,
                    });
                }
            }
            trial.credit(t.to, job, t.amount);
        }
        *self = trial;
        Ok(())
    }

    fn totals(&self) -> Totals {
        Totals {
            supply: self.supply,
            burned: self.burned,
            balances: self.balances.values().sum(),
            escrow: self.escrow.values().sum(),
            stakes: self.stakes.values().sum(),
        }
    }

    fn balance(&self, who: Holder) -> u128 {
        self.balances.get(&who).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use pinpoint_protocol::fees::{StakeFate, StakeOutcome, settle};
    use pinpoint_protocol::id::NodeKey;

    use super::*;

    #[test]
    fn a_settled_job_conserves_tokens_and_overdrafts_are_refused() {
        let (a, b) = (
            NodeKey::from_seed([1; 32]).node_id(),
            NodeKey::from_seed([2; 32]).node_id(),
        );
        let mut l = MemLedger::new(&[
            (Holder::Submitter, 1_000_000),
            (Holder::Node(a), 500),
            (Holder::Node(b), 500),
        ]);
        let job = [9; 32];
        l.escrow(job, 10_000).expect("escrow");
        l.bond(job, a, 100).expect("bond");
        l.bond(job, b, 100).expect("bond");
        assert!(l.bond(job, b, 1_000).is_err());
        assert!(l.totals().conserved());
        let s = settle(
            10_000,
            &[a],
            &[
                StakeOutcome {
                    node: a,
                    amount: 100,
                    fate: StakeFate::Returned,
                },
                StakeOutcome {
                    node: b,
                    amount: 100,
                    fate: StakeFate::Slashed {
                        winner: Some(a),
                        arbiters: vec![],
                    },
                },
            ],
        )
        .expect("settle");
        l.settle(job, &s).expect("applies");
        let t = l.totals();
        assert!(t.conserved(), "{t:?}");
        assert_eq!((t.escrow, t.stakes), (0, 0));
        assert!(t.burned > 0);
        // Settling twice would overdraw the escrow: refused, nothing changes.
        assert!(l.settle(job, &s).is_err());
        assert_eq!(l.totals(), t);
    }
}
