// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {IERC20Burnable} from "./IERC20Burnable.sol";
import {ReentrancyGuard} from "./ReentrancyGuard.sol";

/// @title Staking: per-role stakes with a minimum, an unbonding delay, and slashing by the market.
/// @notice Roles: 0 trainer, 1 solver, 2 verifier, 3 arbiter. A position's `active` stake can be
///         `locked` by the job market as a job's bond; only the unlocked part can be unstaked,
///         and it then waits `unbondingDelay` seconds before `withdraw`. Only the job market
///         (set once by the deployer) can lock, unlock and slash. A slashed amount is split
///         exactly as `pinpoint_protocol::fees::slash_split`: `amount * 5000 / 10000` (floor) to
///         the dispute's winner, the rest burned (all of it when there is no winner); out of
///         the burned part, the market may name arbiters to be paid a share (arbiter pay, 0 by
///         default). `penalize` burns a share of an arbiter's stake that missed a deadline.
///         Arbiters with at least the minimum active stake form the list `arbiters`, from which
///         the market draws dispute committees (`selectCommittee`).
///
///         Node registry: an account with a stake in every role it names registers its node
///         (`registerNode`): the ed25519 `NodeId`, a bit set of roles (bit `r` = role `r`), a
///         QUIC endpoint `host:port`, and the node key's signature over
///         `"pinpoint/node-registration/v1" ‖ chainid (u64 BE) ‖ this contract (20) ‖ account
///         (20) ‖ roles (1) ‖ len(endpoint) (u16 BE) ‖ endpoint`. The EVM cannot check ed25519
///         cheaply, so the signature is stored, not checked: every reader verifies it
///         (`pinpoint_chain::registry::registered_nodes`), ignores forgeries and resolves two
///         accounts claiming one `NodeId` to the earliest valid claim (`claimedAt`, the block
///         at which the account first named that `NodeId`; same block: the lower account). Calling it again
///         updates the record; `deregisterNode` removes it and starts unbonding all the
///         account's unlocked stake.
contract Staking is ReentrancyGuard {
    uint8 public constant ROLES = 4;
    uint8 public constant ARBITER = 3;
    uint256 public constant BPS = 10_000;
    uint256 public constant SLASH_WINNER_BPS = 5_000;

    struct Position {
        uint256 active; // bonded, counted for eligibility (includes `locked`)
        uint256 locked; // part of `active` bonded to jobs by the market
        uint256 unbonding; // requested out, withdrawable at `releaseAt`
        uint256 releaseAt;
    }

    IERC20Burnable public immutable token;
    address public immutable deployer;
    uint256 public immutable unbondingDelay;
    address public market;
    uint256[4] public minStake;
    /// Tokens held: all active plus unbonding stakes.
    uint256 public totalStaked;
    mapping(address => mapping(uint8 => Position)) public positions;
    /// Arbiters with at least `minStake[ARBITER]` active, in an order that is a pure function
    /// of the history of calls (swap-and-pop on removal).
    address[] public arbiters;
    mapping(address => uint256) private arbiterSlot; // index + 1, 0 = absent

    /// Longest unbonding delay accepted at deployment (seconds): 365 days.
    uint256 public constant MAX_UNBONDING_DELAY = 365 days;
    /// Longest endpoint string of a registration, bytes.
    uint256 public constant MAX_ENDPOINT_LEN = 255;

    struct Node {
        bytes32 nodeId;
        uint8 roles;
        uint64 claimedAt; // block number at which this account first named this nodeId
        string endpoint;
        bytes signature;
    }

    /// Registered nodes by account.
    mapping(address => Node) public nodes;
    /// Accounts with a registration (swap-and-pop on removal).
    address[] public registrants;
    mapping(address => uint256) private registrantSlot; // index + 1, 0 = absent

    event MarketSet(address market);
    event Staked(address indexed who, uint8 indexed role, uint256 amount, uint256 active);
    event UnstakeRequested(address indexed who, uint8 indexed role, uint256 amount, uint256 releaseAt);
    event Withdrawn(address indexed who, uint8 indexed role, uint256 amount);
    event Locked(address indexed who, uint8 indexed role, uint256 amount);
    event Unlocked(address indexed who, uint8 indexed role, uint256 amount);
    event Slashed(
        address indexed who,
        uint8 indexed role,
        uint256 amount,
        address winner,
        uint256 toWinner,
        uint256 toArbiters,
        uint256 burned
    );

    error UnknownRole(uint8 role);
    error ZeroAmount();
    error BelowMinimum(uint8 role, uint256 remaining, uint256 minimum);
    error InsufficientStake(address who, uint8 role, uint256 available, uint256 needed);
    error NothingToWithdraw();
    error StillUnbonding(uint256 releaseAt);
    error OnlyMarket();
    error OnlyDeployer();
    error MarketAlreadySet();
    error NotEnoughArbiters(uint256 available, uint256 needed);
    error TransferFailed();
    error InvalidRegistration(string why);
    error NotRegistered(address who);
    error ZeroAddress();
    error ShareTooLarge(uint256 bps);

    event NodeRegistered(address indexed account, bytes32 indexed nodeId, uint8 roles, string endpoint);
    event NodeUpdated(address indexed account, bytes32 indexed nodeId, uint8 roles, string endpoint);
    event NodeDeregistered(address indexed account, bytes32 indexed nodeId);

    constructor(IERC20Burnable token_, uint256[4] memory minStake_, uint256 unbondingDelay_) {
        if (address(token_) == address(0)) revert ZeroAddress();
        require(unbondingDelay_ <= MAX_UNBONDING_DELAY, "unbonding delay above 365 days");
        token = token_;
        deployer = msg.sender;
        minStake = minStake_;
        unbondingDelay = unbondingDelay_;
    }

    modifier onlyMarket() {
        if (msg.sender != market) revert OnlyMarket();
        _;
    }

    modifier validRole(uint8 role) {
        if (role >= ROLES) revert UnknownRole(role);
        _;
    }

    /// One-shot: the deployer names the job market, the only contract allowed to slash.
    function setMarket(address market_) external {
        if (msg.sender != deployer) revert OnlyDeployer();
        if (market != address(0)) revert MarketAlreadySet();
        if (market_ == address(0)) revert ZeroAddress();
        market = market_;
        emit MarketSet(market_);
    }

    function stake(uint8 role, uint256 amount) external nonReentrant validRole(role) {
        if (amount == 0) revert ZeroAmount();
        Position storage p = positions[msg.sender][role];
        uint256 active = p.active + amount;
        if (active < minStake[role]) revert BelowMinimum(role, active, minStake[role]);
        p.active = active;
        totalStaked += amount;
        _syncArbiter(msg.sender, role);
        emit Staked(msg.sender, role, amount, active);
        if (!token.transferFrom(msg.sender, address(this), amount)) revert TransferFailed();
    }

    /// Starts unbonding `amount` of the unlocked stake; what stays must be 0 or ≥ the minimum.
    /// Each request restarts the delay for everything unbonding in this role.
    function requestUnstake(uint8 role, uint256 amount) external nonReentrant validRole(role) {
        if (amount == 0) revert ZeroAmount();
        Position storage p = positions[msg.sender][role];
        uint256 free = p.active - p.locked;
        if (amount > free) revert InsufficientStake(msg.sender, role, free, amount);
        uint256 remaining = p.active - amount;
        if (remaining != 0 && remaining < minStake[role]) revert BelowMinimum(role, remaining, minStake[role]);
        p.active = remaining;
        p.unbonding += amount;
        p.releaseAt = block.timestamp + unbondingDelay;
        _syncArbiter(msg.sender, role);
        emit UnstakeRequested(msg.sender, role, amount, p.releaseAt);
    }

    /// Registers (or updates) the caller's node; see the contract notice for the signed
    /// message. Every role named needs the caller's active stake at least the minimum.
    function registerNode(bytes32 nodeId, uint8 roles, string calldata endpoint, bytes calldata signature)
        external
        nonReentrant
    {
        if (nodeId == bytes32(0)) revert InvalidRegistration("zero node id");
        if (roles == 0 || roles >= (1 << ROLES)) revert InvalidRegistration("roles not a non-empty set of 0..4");
        uint256 len = bytes(endpoint).length;
        if (len == 0 || len > MAX_ENDPOINT_LEN) revert InvalidRegistration("endpoint length not in 1..=255");
        if (signature.length != 64) revert InvalidRegistration("signature is not 64 bytes");
        for (uint8 r = 0; r < ROLES; r++) {
            if (roles & (1 << r) != 0 && !isStaked(msg.sender, r)) {
                revert InvalidRegistration("no stake in a role named");
            }
        }
        Node storage n = nodes[msg.sender];
        bool fresh = registrantSlot[msg.sender] == 0;
        if (fresh) {
            registrants.push(msg.sender);
            registrantSlot[msg.sender] = registrants.length;
        }
        if (fresh || n.nodeId != nodeId) n.claimedAt = uint64(block.number);
        n.nodeId = nodeId;
        n.roles = roles;
        n.endpoint = endpoint;
        n.signature = signature;
        if (fresh) emit NodeRegistered(msg.sender, nodeId, roles, endpoint);
        else emit NodeUpdated(msg.sender, nodeId, roles, endpoint);
    }

    /// Removes the caller's registration and starts unbonding all its unlocked stake (in
    /// every role; locked bonds stay until their jobs settle).
    function deregisterNode() external nonReentrant {
        uint256 slot = registrantSlot[msg.sender];
        if (slot == 0) revert NotRegistered(msg.sender);
        bytes32 nodeId = nodes[msg.sender].nodeId;
        address last = registrants[registrants.length - 1];
        registrants[slot - 1] = last;
        registrantSlot[last] = slot;
        registrants.pop();
        registrantSlot[msg.sender] = 0;
        delete nodes[msg.sender];
        emit NodeDeregistered(msg.sender, nodeId);
        for (uint8 r = 0; r < ROLES; r++) {
            Position storage p = positions[msg.sender][r];
            uint256 free = p.active - p.locked;
            if (free == 0) continue;
            p.active -= free;
            p.unbonding += free;
            p.releaseAt = block.timestamp + unbondingDelay;
            _syncArbiter(msg.sender, r);
            emit UnstakeRequested(msg.sender, r, free, p.releaseAt);
        }
    }

    function registrantCount() external view returns (uint256) {
        return registrants.length;
    }

    /// The chain id the registration signatures must name.
    function chainId() external view returns (uint256) {
        return block.chainid;
    }

    /// Whether `who` has at least the minimum (and at least 1 base unit) active in `role`.
    function isStaked(address who, uint8 role) public view validRole(role) returns (bool) {
        uint256 min = minStake[role] == 0 ? 1 : minStake[role];
        return positions[who][role].active >= min;
    }

    function withdraw(uint8 role) external nonReentrant validRole(role) {
        Position storage p = positions[msg.sender][role];
        uint256 amount = p.unbonding;
        if (amount == 0) revert NothingToWithdraw();
        if (block.timestamp < p.releaseAt) revert StillUnbonding(p.releaseAt);
        p.unbonding = 0;
        totalStaked -= amount;
        emit Withdrawn(msg.sender, role, amount);
        if (!token.transfer(msg.sender, amount)) revert TransferFailed();
    }

    /// Free (unlocked) active stake.
    function available(address who, uint8 role) external view validRole(role) returns (uint256) {
        Position storage p = positions[who][role];
        return p.active - p.locked;
    }

    function arbiterCount() external view returns (uint256) {
        return arbiters.length;
    }

    /// `size` distinct arbiters, excluding `a` and `b`: walk the list from the position
    /// `uint256(seed) % length` (wrapping) and take the first eligible ones.
    function selectCommittee(bytes32 seed, uint256 size, address a, address b)
        external
        view
        returns (address[] memory committee)
    {
        uint256 n = arbiters.length;
        committee = new address[](size);
        uint256 found;
        uint256 start = n == 0 ? 0 : uint256(seed) % n;
        for (uint256 j = 0; j < n && found < size; j++) {
            address x = arbiters[(start + j) % n];
            if (x != a && x != b) committee[found++] = x;
        }
        if (found < size) revert NotEnoughArbiters(found, size);
    }

    function lock(address who, uint8 role, uint256 amount) external onlyMarket validRole(role) {
        Position storage p = positions[who][role];
        uint256 free = p.active - p.locked;
        if (amount > free) revert InsufficientStake(who, role, free, amount);
        p.locked += amount;
        emit Locked(who, role, amount);
    }

    function unlock(address who, uint8 role, uint256 amount) external onlyMarket validRole(role) {
        positions[who][role].locked -= amount;
        emit Unlocked(who, role, amount);
    }

    /// Slashes `amount` of `who`'s locked stake: the winner's share (`amount * 5000 / 10000`,
    /// none without a winner) is paid; when `payees` is non-empty, `amount * payeeBps / 10000`
    /// is split equally among them (the indivisible remainder is burned); the rest is burned.
    /// The market passes the arbiters who voted with the majority as `payees` (arbiter pay).
    function slash(address who, uint8 role, uint256 amount, address winner, address[] calldata payees, uint256 payeeBps)
        external
        nonReentrant
        onlyMarket
        validRole(role)
    {
        if (payeeBps > BPS - SLASH_WINNER_BPS) revert ShareTooLarge(payeeBps);
        Position storage p = positions[who][role];
        p.locked -= amount;
        p.active -= amount;
        totalStaked -= amount;
        _syncArbiter(who, role);
        uint256 toWinner = winner == address(0) ? 0 : amount * SLASH_WINNER_BPS / BPS;
        uint256 each = payees.length == 0 ? 0 : amount * payeeBps / BPS / payees.length;
        uint256 toPayees = each * payees.length;
        uint256 burnt = amount - toWinner - toPayees;
        emit Slashed(who, role, amount, winner, toWinner, toPayees, burnt);
        if (toWinner != 0 && !token.transfer(winner, toWinner)) revert TransferFailed();
        for (uint256 i = 0; i < payees.length && each != 0; i++) {
            if (!token.transfer(payees[i], each)) revert TransferFailed();
        }
        if (burnt != 0) token.burn(burnt);
    }

    /// Burns `bps / 10000` of `who`'s stake in `role` (active plus unbonding), taken from the
    /// unlocked active stake first, then from the unbonding stake: the penalty of an arbiter
    /// that did not vote before its committee's deadline. Returns the amount burned.
    function penalize(address who, uint8 role, uint256 bps)
        external
        nonReentrant
        onlyMarket
        validRole(role)
        returns (uint256 amount)
    {
        if (bps > BPS) revert ShareTooLarge(bps);
        Position storage p = positions[who][role];
        amount = (p.active + p.unbonding) * bps / BPS;
        uint256 free = p.active - p.locked;
        uint256 fromActive = amount < free ? amount : free;
        uint256 fromUnbonding = amount - fromActive;
        if (fromUnbonding > p.unbonding) fromUnbonding = p.unbonding;
        amount = fromActive + fromUnbonding;
        p.active -= fromActive;
        p.unbonding -= fromUnbonding;
        totalStaked -= amount;
        _syncArbiter(who, role);
        emit Slashed(who, role, amount, address(0), 0, 0, amount);
        if (amount != 0) token.burn(amount);
    }

    function _syncArbiter(address who, uint8 role) private {
        if (role != ARBITER) return;
        uint256 min = minStake[ARBITER] == 0 ? 1 : minStake[ARBITER];
        bool eligible = positions[who][ARBITER].active >= min;
        uint256 slot = arbiterSlot[who];
        if (eligible && slot == 0) {
            arbiters.push(who);
            arbiterSlot[who] = arbiters.length;
        } else if (!eligible && slot != 0) {
            address last = arbiters[arbiters.length - 1];
            arbiters[slot - 1] = last;
            arbiterSlot[last] = slot;
            arbiters.pop();
            arbiterSlot[who] = 0;
        }
    }
}
