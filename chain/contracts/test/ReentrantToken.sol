// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/// @notice TEST ONLY: a token that, once armed, calls `target` with `payload` from inside its
///         next `transfer`/`transferFrom` (a malicious token re-entering Staking or JobMarket),
///         and bubbles up that call's revert. Used to show the reentrancy guards hold.
contract ReentrantToken {
    mapping(address => uint256) public balanceOf;
    mapping(address => mapping(address => uint256)) public allowance;
    address public target;
    bytes public payload;

    event Reentered(bool ok);

    constructor(uint256 supply) {
        balanceOf[msg.sender] = supply;
    }

    function arm(address target_, bytes calldata payload_) external {
        target = target_;
        payload = payload_;
    }

    function approve(address spender, uint256 value) external returns (bool) {
        allowance[msg.sender][spender] = value;
        return true;
    }

    function transfer(address to, uint256 value) external returns (bool) {
        _move(msg.sender, to, value);
        return true;
    }

    function transferFrom(address from, address to, uint256 value) external returns (bool) {
        allowance[from][msg.sender] -= value;
        _move(from, to, value);
        return true;
    }

    function burn(uint256 value) external {
        balanceOf[msg.sender] -= value;
        _reenter();
    }

    function _move(address from, address to, uint256 value) private {
        balanceOf[from] -= value;
        balanceOf[to] += value;
        _reenter();
    }

    function _reenter() private {
        address t = target;
        if (t == address(0)) return;
        target = address(0);
        (bool ok, bytes memory ret) = t.call(payload);
        if (!ok) {
            assembly {
                revert(add(ret, 32), mload(ret))
            }
        }
        emit Reentered(ok);
    }
}
