//! Decoding revert data into a [`ChainError`]: `Error(string)`, `Panic(uint256)` and the
//! contracts' custom errors.

use alloy::sol_types::{Revert, SolError, SolInterface};

use crate::{
    bindings::{JobMarket::JobMarketErrors, Staking::StakingErrors},
    error::ChainError,
};

/// Decodes revert data (the return data of a failed call) into a typed error.
pub fn decode_revert(data: &[u8]) -> ChainError {
    if data.is_empty() {
        return ChainError::Reverted {
            reason: "reverted without data".into(),
        };
    }
    if let Ok(r) = Revert::abi_decode(data) {
        return ChainError::Reverted { reason: r.reason };
    }
    if let Ok(p) = alloy::sol_types::Panic::abi_decode(data) {
        return ChainError::Reverted {
            reason: format!("panic {:#x} (e.g. arithmetic overflow)", p.code),
        };
    }
    if let Ok(e) = StakingErrors::abi_decode(data) {
        if let StakingErrors::InsufficientStake(x) = e {
            return ChainError::InsufficientStake {
                who: x.who,
                role: x.role,
                available: x.available,
                needed: x.needed,
            };
        }
        return ChainError::Reverted {
            reason: format!("{e:?}"),
        };
    }
    if let Ok(e) = JobMarketErrors::abi_decode(data) {
        return ChainError::Reverted {
            reason: format!("{e:?}"),
        };
    }
    ChainError::Reverted {
        reason: format!("unknown revert data 0x{}", alloy::hex::encode(data)),
    }
}
