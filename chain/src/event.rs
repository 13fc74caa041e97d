//! Decoded contract events, the same on both back ends.

use alloy::{
    primitives::{Address, B256, Bytes},
    sol_types::SolEventInterface,
};

use crate::{
    bindings::{JobMarket::JobMarketEvents, PinToken::PinTokenEvents, Staking::StakingEvents},
    call::Addresses,
};

/// An event of one of the three contracts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainEvent {
    /// From PinToken.
    Token(PinTokenEvents),
    /// From Staking.
    Staking(StakingEvents),
    /// From JobMarket.
    Market(JobMarketEvents),
}

/// An event with the block it was included in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedEvent {
    /// Block number.
    pub block: u64,
    /// The event.
    pub event: ChainEvent,
}

/// Decodes one log; `None` for logs of other contracts or unknown topics.
pub fn decode_log(
    addresses: &Addresses,
    emitter: Address,
    topics: &[B256],
    data: &Bytes,
) -> Option<ChainEvent> {
    if emitter == addresses.token {
        PinTokenEvents::decode_raw_log(topics, data)
            .ok()
            .map(ChainEvent::Token)
    } else if emitter == addresses.staking {
        StakingEvents::decode_raw_log(topics, data)
            .ok()
            .map(ChainEvent::Staking)
    } else if emitter == addresses.market {
        JobMarketEvents::decode_raw_log(topics, data)
            .ok()
            .map(ChainEvent::Market)
    } else {
        None
    }
}
