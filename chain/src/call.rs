//! The state-changing operations of the contracts, as one enum that both back ends encode to
//! the same calldata.

use alloy::primitives::{Address, B256, Bytes, U256};
use serde::{Deserialize, Serialize};

use crate::dispute::Ruling;

mod encode;

/// Token base units per whole PIN (18 decimals).
pub const PIN: u128 = 1_000_000_000_000_000_000;

/// The most replicas a job may have on chain: `JobMarket.MAX_REPLICAS`, the protocol's one
/// replica limit [`pinpoint_protocol::limits::MAX_REPLICAS`] (a test reads the contract source
/// to keep the two equal).
pub const MAX_REPLICAS: usize = pinpoint_protocol::limits::MAX_REPLICAS as usize;

/// The largest dispute committee the market accepts: `JobMarket`'s constructor requires an odd
/// `committeeSize` of at most this (a test reads the contract source to keep the two equal).
pub const MAX_COMMITTEE: usize = 15;

#[cfg(test)]
mod limits_tests {
    #[test]
    fn limits_match_the_contract_source() {
        let src = include_str!("../contracts/MarketBase.sol");
        assert!(src.contains(&format!(
            "uint8 public constant MAX_REPLICAS = {};",
            super::MAX_REPLICAS
        )));
        assert!(src.contains(&format!(
            "committeeSize_ % 2 == 1 && committeeSize_ <= {}",
            super::MAX_COMMITTEE
        )));
    }
}

/// A staking role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[repr(u8)]
pub enum Role {
    /// Trains jobs; bonds stake per job.
    Trainer = 0,
    /// Solver.
    Solver = 1,
    /// Verifier.
    Verifier = 2,
    /// Sits on dispute committees.
    Arbiter = 3,
}

impl Role {
    /// All roles, in contract order.
    pub const ALL: [Role; 4] = [Role::Trainer, Role::Solver, Role::Verifier, Role::Arbiter];

    /// The role's number in the contracts.
    pub fn index(self) -> u8 {
        self as u8
    }

    /// The role's bit in a registration's role set.
    pub fn bit(self) -> u8 {
        1 << self.index()
    }
}

/// The deployed contracts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Addresses {
    /// PinToken.
    pub token: Address,
    /// Staking.
    pub staking: Address,
    /// JobMarket.
    pub market: Address,
}

/// Which contract a token approval is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spender {
    /// The Staking contract (before `Stake`).
    Staking,
    /// The JobMarket contract (before `PostJob`).
    Market,
    /// Any other account.
    Other(Address),
}

/// The parameters of a new job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobParams {
    /// Hash of the job spec.
    pub spec_hash: B256,
    /// Payment escrowed, in base units.
    pub payment: U256,
    /// Number of trainer replicas, 1..=[`pinpoint_protocol::limits::MAX_REPLICAS`].
    pub replicas: u8,
    /// Trainer stake each replica bonds.
    pub bond: U256,
    /// Last second (block timestamp) at which a trainer may accept.
    pub accept_deadline: u64,
    /// Last second at which a trainer may commit its root.
    pub commit_deadline: u64,
    /// Seconds the challenge window lasts once the commits are in.
    pub challenge_window: u64,
}

/// What a dispute committee member found.
pub use crate::bindings::MarketBase::Finding;

/// A state-changing call, sent by some account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    /// `PinToken.transfer`.
    Transfer {
        /// Recipient.
        to: Address,
        /// Amount.
        amount: U256,
    },
    /// `PinToken.approve`.
    Approve {
        /// Who may spend.
        spender: Spender,
        /// Allowance.
        amount: U256,
    },
    /// `PinToken.burn` of the sender's tokens.
    Burn {
        /// Amount.
        amount: U256,
    },
    /// `Staking.stake` (needs an approval of the Staking contract).
    Stake {
        /// Role.
        role: Role,
        /// Amount.
        amount: U256,
    },
    /// `Staking.requestUnstake`.
    RequestUnstake {
        /// Role.
        role: Role,
        /// Amount.
        amount: U256,
    },
    /// `Staking.withdraw` of everything unbonded in the role.
    Withdraw {
        /// Role.
        role: Role,
    },
    /// `JobMarket.postJob` (needs an approval of the market for the payment).
    PostJob(JobParams),
    /// `JobMarket.accept`.
    Accept {
        /// Job id.
        job: u64,
    },
    /// `JobMarket.commit`.
    Commit {
        /// Job id.
        job: u64,
        /// The trainer's result root.
        root: B256,
    },
    /// `JobMarket.closeCommits`.
    CloseCommits {
        /// Job id.
        job: u64,
    },
    /// `JobMarket.openDispute` by a live committed trainer (the challenger) against another
    /// whose root differs.
    OpenDispute {
        /// Job id.
        job: u64,
        /// The trainer challenged.
        defendant: Address,
    },
    /// `JobMarket.disputeNext`, by anyone: opens the protocol's next dispute (the first live
    /// trainer by address against the first after it with another root; if all live roots
    /// agree, the first queued challenge that can still be opened).
    DisputeNext {
        /// Job id.
        job: u64,
    },
    /// `JobMarket.challenge` by a staked verifier: disputes `trainer`'s root, bonding `bond`
    /// (at least the job's trainer bond) of the sender's verifier stake. Queued in arrival
    /// order: opened at once when no dispute is open, else later by [`Call::DisputeNext`].
    Challenge {
        /// Job id.
        job: u64,
        /// The trainer challenged.
        trainer: Address,
        /// The challenge bond.
        bond: U256,
    },
    /// `JobMarket.vote` by a committee member for one side: the shorthand of [`Call::Rule`]
    /// with [`Ruling::ChallengerWins`] or [`Ruling::DefendantWins`].
    Vote {
        /// Dispute id.
        dispute: u64,
        /// Whether the challenger wins.
        challenger_wins: bool,
        /// What the arbiter found.
        finding: Finding,
    },
    /// `JobMarket.vote` by a committee member, any ruling (including both lose).
    Rule {
        /// Dispute id.
        dispute: u64,
        /// The ruling.
        ruling: Ruling,
        /// What the arbiter found.
        finding: Finding,
    },
    /// `JobMarket.redraw`, by anyone after the dispute's deadline with no majority.
    Redraw {
        /// Dispute id.
        dispute: u64,
    },
    /// `JobMarket.fixSeed`, by anyone once the commits have closed: fixes the job's sampling
    /// seed (see [`crate::dispute::sampling_seed`]).
    FixSeed {
        /// Job id.
        job: u64,
    },
    /// `JobMarket.finalize`.
    Finalize {
        /// Job id.
        job: u64,
    },
    /// `JobMarket.cancel`.
    Cancel {
        /// Job id.
        job: u64,
    },
    /// `Staking.registerNode`: registers or updates the sender's node (see
    /// [`crate::registry`]).
    RegisterNode {
        /// The node's ed25519 public key.
        node_id: B256,
        /// Bit set of roles ([`Role::bit`]).
        roles: u8,
        /// QUIC endpoint, `host:port`.
        endpoint: String,
        /// The node key's signature over the registration (64 bytes).
        signature: Bytes,
    },
    /// `Staking.deregisterNode`: removes the sender's node and starts unbonding its free stake.
    DeregisterNode,
}

impl Addresses {
    /// Writes the addresses as JSON (`{"token": "0x…", "staking": "0x…", "market": "0x…"}`).
    pub fn write_json(&self, path: &std::path::Path) -> crate::Result<()> {
        let json = serde_json::to_string_pretty(self)
            .map_err(|e| crate::ChainError::InvalidArgument(e.to_string()))?;
        std::fs::write(path, json + "\n").map_err(crate::ChainError::io(format!(
            "writing the addresses to {}",
            path.display()
        )))
    }

    /// Reads addresses written by [`Addresses::write_json`].
    pub fn read_json(path: &std::path::Path) -> crate::Result<Self> {
        let text = std::fs::read_to_string(path).map_err(crate::ChainError::io(format!(
            "reading the addresses from {}",
            path.display()
        )))?;
        serde_json::from_str(&text).map_err(|e| crate::ChainError::Decode {
            what: "addresses file",
            why: e.to_string(),
        })
    }
}
