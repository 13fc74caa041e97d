//! Disputes on chain: the committee's [`Ruling`], the state of one dispute ([`DisputeInfo`])
//! and a job's sampling seed ([`sampling_seed`]), read through any [`Settlement`].
//!
//! The contracts' rules (`MarketDisputes.sol`, `docs/chain.md`, "Disputes"): one dispute per
//! job at a time; a committee majority decides; a verdict extends the job's window so that the
//! next dispute or a verifier's challenge can be opened; a committee with no majority by its
//! deadline is re-drawn by anyone ([`crate::Call::Redraw`]), at most
//! [`MAX_REDRAWS`] times, after which the job is cancelled and refunded.

use alloy::primitives::{Address, B256, U256};

use crate::{Result, bindings::JobMarket, error::ChainError, settlement::Settlement};

/// Re-draws a dispute may get after its first committee (`JobMarket.MAX_REDRAWS`).
pub const MAX_REDRAWS: u8 = 2;

/// Share of an arbiter's stake burned when it did not vote before its committee's deadline,
/// in basis points (`JobMarket.MISSED_VOTE_BPS`, 10%).
pub const MISSED_VOTE_BPS: u16 = 1_000;

/// Most distinct verifiers that may challenge one job (`JobMarket.MAX_CHALLENGERS`).
pub const MAX_CHALLENGERS: usize = 16;

/// A committee member's ruling, as `JobMarket.Ruling`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Ruling {
    /// The defendant wins; the challenger loses its bond (half to the defendant).
    DefendantWins = 0,
    /// The challenger wins; the defendant loses its bond (half to the challenger).
    ChallengerWins = 1,
    /// Neither matches the referee: both lose their bonds, all burned (less any arbiter share).
    BothLose = 2,
}

impl Ruling {
    /// The ruling with contract number `n`, if any.
    pub fn from_u8(n: u8) -> Option<Self> {
        match n {
            0 => Some(Ruling::DefendantWins),
            1 => Some(Ruling::ChallengerWins),
            2 => Some(Ruling::BothLose),
            _ => None,
        }
    }
}

/// One dispute as the contract holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisputeInfo {
    /// The job disputed.
    pub job: u64,
    /// Who opened it: a trainer of the job, or a verifier when `by_verifier`.
    pub challenger: Address,
    /// The trainer whose root is disputed.
    pub defendant: Address,
    /// Whether the challenger is a verifier (not a trainer of the job).
    pub by_verifier: bool,
    /// The ruling, once a majority decided; `None` while open or when it expired.
    pub ruling: Option<Ruling>,
    /// Whether it is over (a ruling, or expired with the job cancelled).
    pub resolved: bool,
    /// 0 for the first committee, then one more per re-draw.
    pub round: u8,
    /// Until when (block seconds) the current committee has to reach a majority.
    pub deadline: u64,
    /// Votes per ruling (in [`Ruling`] order) in the current round.
    pub tally: [u8; 3],
    /// The current committee.
    pub committee: Vec<Address>,
}

fn to_u64(x: U256, what: &'static str) -> Result<u64> {
    x.try_into().map_err(|_| ChainError::Decode {
        what,
        why: format!("{x} does not fit u64"),
    })
}

/// The dispute `id`, or `None` if no such dispute was opened.
pub async fn dispute_info<S: Settlement>(chain: &S, id: u64) -> Result<Option<DisputeInfo>> {
    let market = chain.addresses().market;
    let d = chain
        .view(
            market,
            JobMarket::disputeInfoCall {
                disputeId: U256::from(id),
            },
        )
        .await?;
    if d.jobId.is_zero() {
        return Ok(None);
    }
    let committee = chain
        .view(
            market,
            JobMarket::committeeCall {
                disputeId: U256::from(id),
            },
        )
        .await?;
    Ok(Some(DisputeInfo {
        job: to_u64(d.jobId, "dispute's job id")?,
        challenger: d.challenger,
        defendant: d.defendant,
        by_verifier: d.byVerifier,
        ruling: Ruling::from_u8(d.ruling),
        resolved: d.resolved,
        round: d.round,
        deadline: d.deadline,
        tally: d.tally,
        committee,
    }))
}

/// The sampling seed of `job` once fixed ([`crate::Call::FixSeed`]), else `None`. A verifier
/// passes it to `pinpoint_protocol::verify::choose_steps`. It is
/// `keccak256(abi.encode(blockhash(b), jobId))` with `b` the block that closed the job's
/// commits (on the embedded chain a block's hash is `keccak256` of its decimal number, as
/// revm's empty database answers `BLOCKHASH`).
pub async fn sampling_seed<S: Settlement>(chain: &S, job: u64) -> Result<Option<B256>> {
    let market = chain.addresses().market;
    let s = chain
        .view(
            market,
            JobMarket::seedOfCall {
                jobId: U256::from(job),
            },
        )
        .await?;
    Ok((!s.seed.is_zero()).then_some(s.seed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constants_match_the_contract_source() {
        let src = include_str!("../contracts/MarketBase.sol");
        for line in [
            format!("uint8 public constant MAX_REDRAWS = {MAX_REDRAWS};"),
            format!("uint8 public constant MAX_CHALLENGERS = {MAX_CHALLENGERS};"),
            "uint256 public constant MISSED_VOTE_BPS = 1_000;".to_string(),
            "uint256 public constant MAX_ARBITER_SHARE_BPS = 5_000;".to_string(),
        ] {
            assert!(src.contains(&line), "{line}");
        }
        assert_eq!(MISSED_VOTE_BPS, 1_000);
        assert_eq!(crate::deploy::MAX_ARBITER_SHARE_BPS, 5_000);
    }

    #[test]
    fn rulings_round_trip() {
        for r in [
            Ruling::DefendantWins,
            Ruling::ChallengerWins,
            Ruling::BothLose,
        ] {
            assert_eq!(Ruling::from_u8(r as u8), Some(r));
        }
        assert_eq!(Ruling::from_u8(3), None);
        assert_eq!(Ruling::from_u8(u8::MAX), None);
    }
}
