//! alloy `sol!` bindings generated from the checked-in artifacts in `chain/artifacts/`
//! (ABI, creation and runtime bytecode), produced by `scripts/compile-contracts`.
#![allow(missing_docs, clippy::too_many_arguments)]

use alloy::sol;

sol!(
    #[sol(rpc, all_derives)]
    PinToken,
    "artifacts/PinToken.json"
);
sol!(
    #[sol(rpc, all_derives)]
    Staking,
    "artifacts/Staking.json"
);
sol!(
    #[sol(rpc, all_derives)]
    JobMarket,
    "artifacts/JobMarket.json"
);
sol!(
    /// Test-only: a token that re-enters a target from inside its transfers.
    #[sol(rpc, all_derives)]
    ReentrantToken,
    "artifacts/ReentrantToken.json"
);
