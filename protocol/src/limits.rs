//! Limits and time units shared by the wire protocol and the settlement contracts.
//!
//! One replica limit for everything: the wire's assignment list
//! ([`crate::wire::MAX_TRAINERS`]) and the contract's `JobMarket.MAX_REPLICAS` both equal
//! [`MAX_REPLICAS`] (a chain test reads the contract's constant and compares).
//!
//! Time units: the protocol and the wire count **milliseconds** (`*_ms`); the contracts count
//! **seconds** of block time (`*_secs`, `block.timestamp`). [`ms_to_chain_secs`] rounds up, so
//! a deadline written on chain is never earlier than the protocol's; [`chain_secs_to_ms`] is
//! exact or an error.

use crate::error::{ProtocolError, Result};

/// Most trainer replicas of one job, on the wire and on chain.
pub const MAX_REPLICAS: u8 = 16;

/// Milliseconds per second of chain time.
pub const MS_PER_CHAIN_SEC: u64 = 1_000;

/// A duration or deadline in protocol milliseconds as chain seconds, rounded up.
pub fn ms_to_chain_secs(ms: u64) -> u64 {
    ms.div_ceil(MS_PER_CHAIN_SEC)
}

/// Chain seconds as protocol milliseconds.
///
/// Errors: [`ProtocolError::Malformed`] if the product overflows `u64`.
pub fn chain_secs_to_ms(secs: u64) -> Result<u64> {
    secs.checked_mul(MS_PER_CHAIN_SEC)
        .ok_or_else(|| ProtocolError::Malformed {
            what: "chain time",
            detail: format!("{secs} s overflows u64 milliseconds"),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversion_rounds_up_and_round_trips() {
        assert_eq!(ms_to_chain_secs(0), 0);
        assert_eq!(ms_to_chain_secs(1), 1);
        assert_eq!(ms_to_chain_secs(1_000), 1);
        assert_eq!(ms_to_chain_secs(1_001), 2);
        assert_eq!(ms_to_chain_secs(u64::MAX), u64::MAX / 1_000 + 1);
        for s in [0, 1, 59, 86_400, u64::MAX / 1_000] {
            assert_eq!(ms_to_chain_secs(chain_secs_to_ms(s).expect("fits")), s);
        }
        assert!(chain_secs_to_ms(u64::MAX / 1_000 + 1).is_err());
        for ms in [1, 999, 1_000, 1_001, 123_456_789] {
            assert!(chain_secs_to_ms(ms_to_chain_secs(ms)).expect("fits") >= ms);
        }
    }

    #[test]
    fn the_wire_uses_the_replica_limit() {
        assert_eq!(crate::wire::MAX_TRAINERS, u32::from(MAX_REPLICAS));
    }
}
