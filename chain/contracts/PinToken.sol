// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/// @title PinToken: pinpoint's ERC-20 token.
/// @notice 10,000,000,000 PIN (18 decimals) minted once, to the deployer, at deployment.
///         There is no mint function; anyone can burn their own tokens (or an allowance).
///         `totalSupply` falls as tokens burn; `burned` counts them, so
///         `INITIAL_SUPPLY - burned == totalSupply == sum of all balances` always.
contract PinToken {
    string public constant name = "Pinpoint";
    string public constant symbol = "PIN";
    uint8 public constant decimals = 18;
    uint256 public constant INITIAL_SUPPLY = 10_000_000_000 * 10 ** 18;

    uint256 public totalSupply;
    uint256 public burned;
    mapping(address => uint256) public balanceOf;
    mapping(address => mapping(address => uint256)) public allowance;

    event Transfer(address indexed from, address indexed to, uint256 value);
    event Approval(address indexed owner, address indexed spender, uint256 value);

    constructor() {
        totalSupply = INITIAL_SUPPLY;
        balanceOf[msg.sender] = INITIAL_SUPPLY;
        emit Transfer(address(0), msg.sender, INITIAL_SUPPLY);
    }

    function transfer(address to, uint256 value) external returns (bool) {
        _move(msg.sender, to, value);
        return true;
    }

    function approve(address spender, uint256 value) external returns (bool) {
        allowance[msg.sender][spender] = value;
        emit Approval(msg.sender, spender, value);
        return true;
    }

    function transferFrom(address from, address to, uint256 value) external returns (bool) {
        _spendAllowance(from, value);
        _move(from, to, value);
        return true;
    }

    /// Burns `value` of the caller's tokens.
    function burn(uint256 value) external {
        _burn(msg.sender, value);
    }

    /// Burns `value` of `from`'s tokens, spending the caller's allowance.
    function burnFrom(address from, uint256 value) external {
        _spendAllowance(from, value);
        _burn(from, value);
    }

    function _spendAllowance(address from, uint256 value) private {
        uint256 allowed = allowance[from][msg.sender];
        if (allowed != type(uint256).max) {
            require(allowed >= value, "PIN: insufficient allowance");
            allowance[from][msg.sender] = allowed - value;
        }
    }

    function _move(address from, address to, uint256 value) private {
        require(to != address(0), "PIN: transfer to the zero address (use burn)");
        require(balanceOf[from] >= value, "PIN: insufficient balance");
        balanceOf[from] -= value;
        balanceOf[to] += value;
        emit Transfer(from, to, value);
    }

    function _burn(address from, uint256 value) private {
        require(balanceOf[from] >= value, "PIN: insufficient balance");
        balanceOf[from] -= value;
        totalSupply -= value;
        burned += value;
        emit Transfer(from, address(0), value);
    }
}
