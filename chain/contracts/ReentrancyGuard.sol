// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/// @notice A minimal reentrancy guard: every state-changing entry point of Staking and
///         JobMarket is `nonReentrant`, so a token (or anything else) that calls back into
///         them during a transfer reverts with `Reentrancy()`.
abstract contract ReentrancyGuard {
    uint256 private _entered = 1;

    error Reentrancy();

    modifier nonReentrant() {
        if (_entered != 1) revert Reentrancy();
        _entered = 2;
        _;
        _entered = 1;
    }
}
