//! Deployment parameters and the deployment transactions, shared by both back ends so that a
//! deployment from the same account and nonce gives the same addresses everywhere.

use alloy::{
    primitives::{Address, Bytes, U256, address},
    sol_types::{SolCall, SolConstructor},
};
use serde::{Deserialize, Serialize};

use crate::{
    bindings::{JobMarket, PinToken, Staking},
    call::{Addresses, PIN},
};

/// The default treasury of the embedded chain (an address nobody holds a key for).
pub const DEFAULT_TREASURY: Address = address!("0x000000000000000000000000000000000000fee1");

/// The default deployer of the embedded chain: anvil's first development account, so that
/// the embedded chain and a fresh anvil get the same contract addresses.
pub const DEFAULT_DEPLOYER: Address = address!("0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266");

/// Constructor parameters of the contracts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeployConfig {
    /// Minimum active stake per role (trainer, solver, verifier, arbiter), base units.
    pub min_stake: [U256; 4],
    /// Seconds between an unstake request and the withdrawal.
    pub unbonding_delay: u64,
    /// Arbiters per dispute committee (odd, at most 15; 1 is Verde's single referee).
    pub committee_size: u64,
    /// Receives the non-burned part of the protocol fee.
    pub treasury: Address,
    /// Seconds a dispute committee has to reach a majority before anyone may re-draw it
    /// (`JobMarket.disputeTimeout`, 1..=365 days).
    #[serde(default = "default_dispute_timeout")]
    pub dispute_timeout: u64,
    /// Share of a dispute loser's slashed bond paid to the arbiters who voted with the
    /// majority, in basis points (`JobMarket.arbiterShareBps`, at most
    /// [`MAX_ARBITER_SHARE_BPS`]). The default, [`DEFAULT_ARBITER_SHARE_BPS`], is
    /// `pinpoint_protocol::fees::ARBITER_SHARE_BPS`: any other value deviates from the
    /// protocol's payouts. Absent from a `config.json` written before the field existed, it
    /// is 0, the share those chains were deployed with (so that their logs replay).
    #[serde(default)]
    pub arbiter_share_bps: u16,
}

/// The default arbiter share: the protocol's (`pinpoint_protocol::fees::ARBITER_SHARE_BPS`,
/// 10%; a test checks they are equal).
pub const DEFAULT_ARBITER_SHARE_BPS: u16 = 1_000;

/// The default dispute timeout: one day.
pub const DEFAULT_DISPUTE_TIMEOUT_SECS: u64 = 24 * 3600;

/// The largest arbiter share a deployment accepts: the part of a slashed bond not paid to the
/// winner (`JobMarket.MAX_ARBITER_SHARE_BPS`).
pub const MAX_ARBITER_SHARE_BPS: u16 = 5_000;

/// Longest duration the contracts accept (deadlines, windows, the dispute timeout): 365 days.
pub const MAX_DURATION_SECS: u64 = 365 * 24 * 3600;

fn default_dispute_timeout() -> u64 {
    DEFAULT_DISPUTE_TIMEOUT_SECS
}

impl Default for DeployConfig {
    /// 100 PIN minimum for trainers, solvers and verifiers, 1 000 PIN for arbiters, a 7-day
    /// unbonding delay, a single referee, [`DEFAULT_TREASURY`], a one-day dispute timeout and
    /// the protocol's arbiter share ([`DEFAULT_ARBITER_SHARE_BPS`]).
    fn default() -> Self {
        let pin = |n: u128| U256::from(n * PIN);
        DeployConfig {
            min_stake: [pin(100), pin(100), pin(100), pin(1_000)],
            unbonding_delay: 7 * 24 * 3600,
            committee_size: 1,
            treasury: DEFAULT_TREASURY,
            dispute_timeout: DEFAULT_DISPUTE_TIMEOUT_SECS,
            arbiter_share_bps: DEFAULT_ARBITER_SHARE_BPS,
        }
    }
}

impl DeployConfig {
    /// Checks what the constructors would reject.
    pub fn validate(&self) -> crate::Result<()> {
        if self.treasury == Address::ZERO {
            return Err(crate::ChainError::InvalidArgument(
                "treasury is the zero address: every finalize would revert and lock escrow".into(),
            ));
        }
        if self.committee_size.is_multiple_of(2) || self.committee_size > 15 {
            return Err(crate::ChainError::InvalidArgument(format!(
                "committee size {} must be odd and at most 15",
                self.committee_size
            )));
        }
        if self.dispute_timeout == 0 || self.dispute_timeout > MAX_DURATION_SECS {
            return Err(crate::ChainError::InvalidArgument(format!(
                "dispute timeout {} s is not in 1 s..=365 days",
                self.dispute_timeout
            )));
        }
        if self.arbiter_share_bps > MAX_ARBITER_SHARE_BPS {
            return Err(crate::ChainError::InvalidArgument(format!(
                "arbiter share {} bps is above {MAX_ARBITER_SHARE_BPS} bps",
                self.arbiter_share_bps
            )));
        }
        if self.unbonding_delay > MAX_DURATION_SECS {
            return Err(crate::ChainError::InvalidArgument(format!(
                "unbonding delay {} s is above 365 days",
                self.unbonding_delay
            )));
        }
        Ok(())
    }
}

/// One deployment transaction: `to = None` creates a contract.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeployTx {
    /// Target, or `None` for a contract creation.
    pub to: Option<Address>,
    /// Creation code with constructor arguments, or calldata.
    pub data: Bytes,
}

/// The four deployment transactions (token, staking, market, `staking.setMarket`) sent by
/// `deployer` starting at `nonce`, and the resulting addresses.
pub fn deploy_plan(
    deployer: Address,
    nonce: u64,
    config: &DeployConfig,
) -> (Addresses, Vec<DeployTx>) {
    let addresses = Addresses {
        token: deployer.create(nonce),
        staking: deployer.create(nonce + 1),
        market: deployer.create(nonce + 2),
    };
    let with_args = |code: &Bytes, args: Vec<u8>| -> Bytes {
        let mut v = code.to_vec();
        v.extend_from_slice(&args);
        v.into()
    };
    let staking_args = Staking::constructorCall {
        token_: addresses.token,
        minStake_: config.min_stake,
        unbondingDelay_: U256::from(config.unbonding_delay),
    }
    .abi_encode();
    let market_args = JobMarket::constructorCall {
        token_: addresses.token,
        staking_: addresses.staking,
        treasury_: config.treasury,
        committeeSize_: U256::from(config.committee_size),
        disputeTimeout_: config.dispute_timeout,
        arbiterShareBps_: U256::from(config.arbiter_share_bps),
    }
    .abi_encode();
    let txs = vec![
        DeployTx {
            to: None,
            data: PinToken::BYTECODE.clone(),
        },
        DeployTx {
            to: None,
            data: with_args(&Staking::BYTECODE, staking_args),
        },
        DeployTx {
            to: None,
            data: with_args(&JobMarket::BYTECODE, market_args),
        },
        DeployTx {
            to: Some(addresses.staking),
            data: Staking::setMarketCall {
                market_: addresses.market,
            }
            .abi_encode()
            .into(),
        },
    ];
    (addresses, txs)
}
