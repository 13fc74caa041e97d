// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/// @notice The token calls Staking and JobMarket make (PinToken implements it).
interface IERC20Burnable {
    function transfer(address to, uint256 value) external returns (bool);
    function transferFrom(address from, address to, uint256 value) external returns (bool);
    function burn(uint256 value) external;
}
