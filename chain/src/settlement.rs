//! The [`Settlement`] trait: the contract operations, typed views and a poll of decoded
//! events, implemented by [`crate::Embedded`] and [`crate::Evm`].

use std::future::Future;

use alloy::{
    primitives::{Address, B256, Bytes, U256},
    sol_types::SolCall,
};

use crate::{
    Result,
    bindings::{JobMarket, PinToken, Staking},
    call::{Addresses, Call, Role},
    error::ChainError,
    event::{ChainEvent, LoggedEvent},
};

/// What a successful transaction did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// The block that included it.
    pub block: u64,
    /// Transaction hash (on the embedded chain: a hash of the log record).
    pub tx_hash: B256,
    /// Gas used.
    pub gas_used: u64,
    /// Its decoded events, in order.
    pub events: Vec<ChainEvent>,
}

impl Receipt {
    /// The id of the job posted by this transaction, if it posted one.
    pub fn posted_job(&self) -> Option<u64> {
        self.events.iter().find_map(|e| match e {
            ChainEvent::Market(JobMarket::JobMarketEvents::JobPosted(p)) => p.jobId.try_into().ok(),
            _ => None,
        })
    }

    /// The id of the dispute opened by this transaction, if any.
    pub fn opened_dispute(&self) -> Option<u64> {
        self.events.iter().find_map(|e| match e {
            ChainEvent::Market(JobMarket::JobMarketEvents::DisputeOpened(d)) => {
                d.disputeId.try_into().ok()
            }
            _ => None,
        })
    }
}

/// Chain-wide totals, for `pinpoint chain status` and the conservation invariant
/// `initial_supply − burned = Σ balances` (escrow and stakes are the balances of the market
/// and staking contracts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Totals {
    /// Minted at deployment.
    pub initial_supply: U256,
    /// Current supply.
    pub total_supply: U256,
    /// Burned so far.
    pub burned: U256,
    /// Held by Staking (active plus unbonding).
    pub staked: U256,
    /// Held by JobMarket for open jobs.
    pub escrow: U256,
    /// Jobs neither finalized nor cancelled.
    pub open_jobs: u64,
    /// Jobs ever posted.
    pub jobs: u64,
    /// Disputes ever opened.
    pub disputes: u64,
    /// Arbiters eligible for committees.
    pub arbiters: u64,
}

/// One account's stake in one role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// Active stake (includes `locked`).
    pub active: U256,
    /// Bonded to jobs.
    pub locked: U256,
    /// Waiting to be withdrawn.
    pub unbonding: U256,
    /// When the unbonding part can be withdrawn.
    pub release_at: u64,
}

/// A settlement back end: an EVM chain running the pinpoint contracts.
///
/// `send` executes a call as `from` and returns the receipt or a typed error (a revert is
/// decoded into [`ChainError::Reverted`] or [`ChainError::InsufficientStake`]); `events_since`
/// polls the decoded events of blocks `≥ from_block`, oldest first.
pub trait Settlement: Send + Sync {
    /// The deployed contracts.
    fn addresses(&self) -> Addresses;

    /// Executes a state-changing call as `from`.
    fn send(&mut self, from: Address, call: Call) -> impl Future<Output = Result<Receipt>> + Send;

    /// Runs a read-only call against the latest state; returns the raw return data.
    fn call_raw(&self, to: Address, data: Bytes) -> impl Future<Output = Result<Bytes>> + Send;

    /// Decoded events of the contracts in blocks `≥ from_block`.
    fn events_since(
        &self,
        from_block: u64,
    ) -> impl Future<Output = Result<Vec<LoggedEvent>>> + Send;

    /// The latest block's timestamp (seconds).
    fn now(&self) -> impl Future<Output = Result<u64>> + Send;

    /// How many transactions `who` has sent that the chain knows of: its next nonce. On an
    /// RPC chain this counts the node's pending pool too (`eth_getTransactionCount` at
    /// `pending`), so a transaction that was sent but is not yet mined is counted. An account
    /// with a single sender can tell from it whether its last transaction reached the chain
    /// (the settlement actor's restart argument, `pinpoint-actors`' `settlement` module).
    fn nonce(&self, who: Address) -> impl Future<Output = Result<u64>> + Send;

    /// A typed read-only call.
    fn view<C: SolCall + Send + Sync>(
        &self,
        to: Address,
        call: C,
    ) -> impl Future<Output = Result<C::Return>> + Send {
        async move {
            let out = self.call_raw(to, call.abi_encode().into()).await?;
            C::abi_decode_returns(&out).map_err(|e| ChainError::Decode {
                what: "return value",
                why: e.to_string(),
            })
        }
    }

    /// Token balance of an account.
    fn balance_of(&self, who: Address) -> impl Future<Output = Result<U256>> + Send {
        async move {
            let token = self.addresses().token;
            self.view(token, PinToken::balanceOfCall(who)).await
        }
    }

    /// An account's stake in a role.
    fn position(&self, who: Address, role: Role) -> impl Future<Output = Result<Position>> + Send {
        async move {
            let staking = self.addresses().staking;
            let p = self
                .view(
                    staking,
                    Staking::positionsCall {
                        _0: who,
                        _1: role.index(),
                    },
                )
                .await?;
            Ok(Position {
                active: p.active,
                locked: p.locked,
                unbonding: p.unbonding,
                release_at: p.releaseAt.try_into().unwrap_or(u64::MAX),
            })
        }
    }

    /// The chain-wide totals.
    fn totals(&self) -> impl Future<Output = Result<Totals>> + Send {
        async move {
            let a = self.addresses();
            let u64_of = |x: U256| x.try_into().unwrap_or(u64::MAX);
            Ok(Totals {
                initial_supply: self.view(a.token, PinToken::INITIAL_SUPPLYCall {}).await?,
                total_supply: self.view(a.token, PinToken::totalSupplyCall {}).await?,
                burned: self.view(a.token, PinToken::burnedCall {}).await?,
                staked: self.view(a.staking, Staking::totalStakedCall {}).await?,
                escrow: self.view(a.market, JobMarket::totalEscrowCall {}).await?,
                open_jobs: u64_of(self.view(a.market, JobMarket::openJobsCall {}).await?),
                jobs: u64_of(self.view(a.market, JobMarket::jobCountCall {}).await?),
                disputes: u64_of(self.view(a.market, JobMarket::disputeCountCall {}).await?),
                arbiters: u64_of(self.view(a.staking, Staking::arbiterCountCall {}).await?),
            })
        }
    }
}
