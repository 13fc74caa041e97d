//! Fee and payout arithmetic (DESIGN §7), in integer token base units (`u128`), no floats.
//!
//! - [`fee_split`]: the protocol fee, `floor(payment · FEE_BPS / BPS)` (0.5%), of which
//!   `floor(fee · BURN_SHARE_BPS / BPS)` (70%) is burned and the rest goes to the treasury; the
//!   remainder of the payment goes to the honest trainers.
//! - [`equal_shares`]: an equal split with the indivisible remainder going to the first
//!   recipient in `NodeId` order.
//! - [`slash_split`]: a slashed stake, `floor(stake · SLASH_WINNER_BPS / BPS)` (50%) to the
//!   dispute's winner (none when both lose), `floor(stake · ARBITER_SHARE_BPS / BPS)` (10%)
//!   split equally among the arbiters whose votes made the verdict (none for a missed commit;
//!   the indivisible remainder is burned), and the rest burned.
//! - [`settle`]: every transfer of one job's escrow and stakes, as a [`Settlement`] whose amounts
//!   sum exactly to the inputs: no token is created or lost.
//!
//! All multiplications are checked and fail with [`ProtocolError::Overflow`]; the chain
//! contracts compute the same formulas (`a * b / BPS` in that order, truncating division).
//! Formulas and rounding: `docs/protocol.md`, "Fees and payouts".

use std::collections::BTreeSet;

use crate::{ProtocolError, Result, id::NodeId};

/// Basis-point denominator: 10 000 bps = 100%.
pub const BPS: u128 = 10_000;
/// Protocol fee on a job's payment: 50 bps = 0.5%.
pub const FEE_BPS: u128 = 50;
/// Share of the protocol fee that is burned: 7 000 bps = 70% (the rest goes to the treasury).
pub const BURN_SHARE_BPS: u128 = 7_000;
/// Share of a slashed stake paid to the dispute's winner: 5 000 bps = 50% (the rest is burned).
pub const SLASH_WINNER_BPS: u128 = 5_000;
/// Share of a slashed stake paid to the arbiters whose votes made the verdict (the
/// majority), split equally: 1 000 bps = 10%, taken from the burned part. It pays the
/// referee's work (bisection, proofs, one re-run operator) out of the loser's stake; the
/// winner's half is unchanged. The contracts' default `arbiterShareBps`.
pub const ARBITER_SHARE_BPS: u128 = 1_000;

/// `floor(amount · bps / BPS)`, with a checked multiplication.
fn bps_of(amount: u128, bps: u128, what: &'static str) -> Result<u128> {
    amount
        .checked_mul(bps)
        .map(|x| x / BPS)
        .ok_or(ProtocolError::Overflow(what))
}

/// How a job's payment is divided when at least one honest trainer is paid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeeSplit {
    /// The protocol fee, `floor(payment · FEE_BPS / BPS)`.
    pub fee: u128,
    /// The burned part of the fee, `floor(fee · BURN_SHARE_BPS / BPS)`.
    pub burn: u128,
    /// The treasury's part of the fee, `fee − burn`.
    pub treasury: u128,
    /// What the honest trainers share, `payment − fee`.
    pub to_trainers: u128,
}

/// Splits a job's payment into fee (burn + treasury) and the trainers' part.
pub fn fee_split(payment: u128) -> Result<FeeSplit> {
    let fee = bps_of(payment, FEE_BPS, "protocol fee")?;
    let burn = bps_of(fee, BURN_SHARE_BPS, "fee burn")?;
    Ok(FeeSplit {
        fee,
        burn,
        treasury: fee - burn,
        to_trainers: payment - fee,
    })
}

/// How a slashed stake is divided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlashSplit {
    /// Paid to the winner: `floor(stake · SLASH_WINNER_BPS / BPS)`, or 0 without a winner.
    pub to_winner: u128,
    /// Paid to each majority arbiter: `floor(floor(stake · ARBITER_SHARE_BPS / BPS) / n)` for
    /// `n` arbiters, or 0 without arbiters.
    pub to_each_arbiter: u128,
    /// Paid to the arbiters in all: `n · to_each_arbiter`.
    pub to_arbiters: u128,
    /// Burned: `stake − to_winner − to_arbiters`.
    pub burn: u128,
}

/// Splits a slashed stake between the winner (if any), the `arbiters` majority arbiters of
/// the verdict (0 for a missed commit) and burning.
pub fn slash_split(stake: u128, has_winner: bool, arbiters: usize) -> Result<SlashSplit> {
    let to_winner = if has_winner {
        bps_of(stake, SLASH_WINNER_BPS, "slash reward")?
    } else {
        0
    };
    let to_each_arbiter = if arbiters == 0 {
        0
    } else {
        bps_of(stake, ARBITER_SHARE_BPS, "arbiter share")? / arbiters as u128
    };
    let to_arbiters = to_each_arbiter
        .checked_mul(arbiters as u128)
        .ok_or(ProtocolError::Overflow("arbiter share"))?;
    Ok(SlashSplit {
        to_winner,
        to_each_arbiter,
        to_arbiters,
        burn: stake - to_winner - to_arbiters,
    })
}

/// Splits `total` equally among `n` recipients: returns `(share, remainder)` with
/// `share = floor(total / n)` and `remainder = total − n · share`; the remainder goes to the
/// first recipient in `NodeId` order. `n = 0` is an [`ProtocolError::InvalidArgument`].
pub fn equal_shares(total: u128, n: usize) -> Result<(u128, u128)> {
    if n == 0 {
        return Err(ProtocolError::InvalidArgument(
            "equal split among zero recipients".into(),
        ));
    }
    let n = n as u128;
    Ok((total / n, total % n))
}

/// Where tokens come from or go to in a [`Settlement`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Account {
    /// The job's escrowed payment (a source).
    Escrow,
    /// The stake a node bonded for this job (a source).
    Stake(NodeId),
    /// The job's submitter (refunds).
    Submitter,
    /// A node's free balance (payments, slash rewards, returned stakes).
    Node(NodeId),
    /// The protocol treasury.
    Treasury,
    /// Burned: removed from the supply.
    Burn,
}

/// One movement of tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transfer {
    /// The source: [`Account::Escrow`] or an [`Account::Stake`].
    pub from: Account,
    /// The destination.
    pub to: Account,
    /// Amount in token base units (never 0: zero transfers are omitted).
    pub amount: u128,
}

/// What happens to one bonded stake at settlement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StakeFate {
    /// Returned in full to its owner.
    Returned,
    /// Slashed: split per [`slash_split`] between `winner` (if any), `arbiters` and burning.
    Slashed {
        /// The node that won the dispute against the owner, if any.
        winner: Option<NodeId>,
        /// The arbiters whose votes made the verdict the owner lost (empty for a missed
        /// commit), each paid [`SlashSplit::to_each_arbiter`], in this order.
        arbiters: Vec<NodeId>,
    },
}

/// One stake bonded for a job and its fate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StakeOutcome {
    /// The stake's owner.
    pub node: NodeId,
    /// The bonded amount.
    pub amount: u128,
    /// What happens to it.
    pub fate: StakeFate,
}

/// Every transfer that settles one job, in a canonical order: escrow transfers first (fee
/// burn, treasury, trainers in `NodeId` order, or the refund), then the stakes in the order given.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Settlement {
    /// The transfers.
    pub transfers: Vec<Transfer>,
}

impl Settlement {
    fn push(&mut self, from: Account, to: Account, amount: u128) {
        if amount > 0 {
            self.transfers.push(Transfer { from, to, amount });
        }
    }

    /// Sum of the transfers out of `from` (saturating; settled amounts never overflow).
    pub fn total_from(&self, from: Account) -> u128 {
        self.transfers
            .iter()
            .filter(|t| t.from == from)
            .fold(0u128, |s, t| s.saturating_add(t.amount))
    }

    /// Sum of the transfers into `to` (saturating).
    pub fn total_to(&self, to: Account) -> u128 {
        self.transfers
            .iter()
            .filter(|t| t.to == to)
            .fold(0u128, |s, t| s.saturating_add(t.amount))
    }

    /// Total burned.
    pub fn burned(&self) -> u128 {
        self.total_to(Account::Burn)
    }
}

/// Settles a job.
///
/// - With at least one honest trainer (deduplicated, sorted by `NodeId`): the payment is split
///   per [`fee_split`]; `to_trainers` is split per [`equal_shares`], the remainder to the first
///   honest trainer.
/// - With none: the whole payment is refunded to the submitter and no fee is charged.
/// - Each stake is returned, or slashed per [`slash_split`] (the winner's part paid to
///   [`Account::Node`] of the winner, each majority arbiter's to its [`Account::Node`]).
///
/// Errors: a node listed twice in `stakes` ([`ProtocolError::InvalidArgument`]); overflow.
pub fn settle(
    payment: u128,
    honest_trainers: &[NodeId],
    stakes: &[StakeOutcome],
) -> Result<Settlement> {
    let mut seen = BTreeSet::new();
    for s in stakes {
        if !seen.insert(s.node) {
            return Err(ProtocolError::InvalidArgument(format!(
                "stake of {} listed twice",
                s.node.to_hex()
            )));
        }
    }
    let honest: BTreeSet<NodeId> = honest_trainers.iter().copied().collect();
    let mut out = Settlement::default();
    if honest.is_empty() {
        out.push(Account::Escrow, Account::Submitter, payment);
    } else {
        let split = fee_split(payment)?;
        out.push(Account::Escrow, Account::Burn, split.burn);
        out.push(Account::Escrow, Account::Treasury, split.treasury);
        let (share, remainder) = equal_shares(split.to_trainers, honest.len())?;
        for (i, node) in honest.iter().enumerate() {
            let amount = if i == 0 { share + remainder } else { share };
            out.push(Account::Escrow, Account::Node(*node), amount);
        }
    }
    for s in stakes {
        let from = Account::Stake(s.node);
        match &s.fate {
            StakeFate::Returned => out.push(from, Account::Node(s.node), s.amount),
            StakeFate::Slashed { winner, arbiters } => {
                let split = slash_split(s.amount, winner.is_some(), arbiters.len())?;
                if let Some(w) = winner {
                    out.push(from, Account::Node(*w), split.to_winner);
                }
                for a in arbiters {
                    out.push(from, Account::Node(*a), split.to_each_arbiter);
                }
                out.push(from, Account::Burn, split.burn);
            }
        }
        // Pair assertion: every stake leaves its account whole, never more, never less.
        assert_eq!(
            out.total_from(from),
            s.amount,
            "invariant: a settled stake is paid out exactly"
        );
    }
    // Pair assertion with the escrow: the payment leaves it exactly, to whoever.
    assert_eq!(
        out.total_from(Account::Escrow),
        payment,
        "invariant: a settled payment is paid out exactly"
    );
    Ok(out)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::id::NodeKey;

    fn node(i: u8) -> NodeId {
        NodeKey::from_seed([i; 32]).node_id()
    }

    #[test]
    fn fee_examples() {
        let s = fee_split(1_000_000).unwrap();
        assert_eq!(
            s,
            FeeSplit {
                fee: 5_000,
                burn: 3_500,
                treasury: 1_500,
                to_trainers: 995_000
            }
        );
        // Rounding: floor at each step.
        let s = fee_split(399).unwrap(); // 399·50/10000 = 1.995 → 1
        assert_eq!((s.fee, s.burn, s.treasury, s.to_trainers), (1, 0, 1, 398));
        let s = fee_split(1_000).unwrap(); // fee 5, burn floor(3.5) = 3
        assert_eq!((s.fee, s.burn, s.treasury), (5, 3, 2));
        assert_eq!(fee_split(0).unwrap().fee, 0);
        // One token with 18 decimals.
        let s = fee_split(10u128.pow(18)).unwrap();
        assert_eq!(s.fee, 5 * 10u128.pow(15));
        assert_eq!(s.burn, 35 * 10u128.pow(14));
    }

    #[test]
    fn overflow_is_typed() {
        assert!(matches!(
            fee_split(u128::MAX),
            Err(ProtocolError::Overflow(_))
        ));
        assert!(matches!(
            slash_split(u128::MAX, true, 0),
            Err(ProtocolError::Overflow(_))
        ));
        assert!(matches!(
            slash_split(u128::MAX, false, 1),
            Err(ProtocolError::Overflow(_))
        ));
        assert_eq!(slash_split(u128::MAX, false, 0).unwrap().burn, u128::MAX);
    }

    #[test]
    fn slash_and_shares() {
        assert_eq!(
            slash_split(101, true, 0).unwrap(),
            SlashSplit {
                to_winner: 50,
                to_each_arbiter: 0,
                to_arbiters: 0,
                burn: 51
            }
        );
        // 10% of 1 001 is 100, split by 3: 33 each, the remainder burned with the rest.
        assert_eq!(
            slash_split(1_001, true, 3).unwrap(),
            SlashSplit {
                to_winner: 500,
                to_each_arbiter: 33,
                to_arbiters: 99,
                burn: 402
            }
        );
        assert_eq!(slash_split(1_001, false, 2).unwrap().burn, 1_001 - 100);
        assert_eq!(equal_shares(10, 3).unwrap(), (3, 1));
        assert!(equal_shares(10, 0).is_err());
    }

    #[test]
    fn settle_remainder_goes_to_first_node_id() {
        let (a, b, c) = (node(1), node(2), node(3));
        let s = settle(1_000_003, &[c, b, a], &[]).unwrap();
        // fee = 5000, trainers get 995_003 = 3·331_667 + 2.
        let mut sorted = [a, b, c];
        sorted.sort();
        assert_eq!(s.total_to(Account::Node(sorted[0])), 331_669);
        assert_eq!(s.total_to(Account::Node(sorted[1])), 331_667);
        assert_eq!(s.total_to(Account::Node(sorted[2])), 331_667);
        assert_eq!(s.total_from(Account::Escrow), 1_000_003);
    }

    #[test]
    fn settle_refund_and_duplicate_stake() {
        let a = node(1);
        let s = settle(
            777,
            &[],
            &[StakeOutcome {
                node: a,
                amount: 10,
                fate: StakeFate::Slashed {
                    winner: None,
                    arbiters: vec![],
                },
            }],
        )
        .unwrap();
        assert_eq!(s.total_to(Account::Submitter), 777);
        assert_eq!(s.burned(), 10);
        let dup = StakeOutcome {
            node: a,
            amount: 1,
            fate: StakeFate::Returned,
        };
        assert!(settle(1, &[a], &[dup.clone(), dup]).is_err());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        #[test]
        fn settlement_conserves_tokens(
            payment in prop_oneof![0u128..1_000_000, 0u128..=10u128.pow(28), any::<u128>()],
            n_honest in 0usize..6,
            stakes in proptest::collection::vec((0u128..=10u128.pow(30), 0u8..3, 0u8..8, 0u8..4), 0..6),
        ) {
            let honest: Vec<NodeId> = (0..n_honest).map(|i| node(i as u8)).collect();
            let outcomes: Vec<StakeOutcome> = stakes
                .iter()
                .enumerate()
                .map(|(i, &(amount, fate, w, n_arb))| StakeOutcome {
                    node: node(100 + i as u8),
                    amount,
                    fate: {
                        let arbiters = (0..n_arb).map(|k| node(200 + k)).collect();
                        match fate {
                            0 => StakeFate::Returned,
                            1 => StakeFate::Slashed { winner: None, arbiters },
                            _ => StakeFate::Slashed { winner: Some(node(w)), arbiters },
                        }
                    },
                })
                .collect();
            match settle(payment, &honest, &outcomes) {
                Ok(s) => {
                    prop_assert_eq!(s.total_from(Account::Escrow), payment);
                    for o in &outcomes {
                        prop_assert_eq!(s.total_from(Account::Stake(o.node)), o.amount);
                    }
                    prop_assert!(s.transfers.iter().all(|t| t.amount > 0));
                    if n_honest > 0 {
                        let f = fee_split(payment).unwrap();
                        prop_assert_eq!(f.fee + f.to_trainers, payment);
                        prop_assert_eq!(f.burn + f.treasury, f.fee);
                        prop_assert_eq!(s.total_to(Account::Treasury), f.treasury);
                    }
                }
                Err(e) => prop_assert!(matches!(e, ProtocolError::Overflow(_))),
            }
        }
    }
}
