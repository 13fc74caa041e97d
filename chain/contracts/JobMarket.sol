// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {IERC20Burnable} from "./IERC20Burnable.sol";
import {ReentrancyGuard} from "./ReentrancyGuard.sol";
import {Staking} from "./Staking.sol";

/// @title JobMarket: escrow, assignment, commitments, challenge window, disputes, payouts.
/// @notice Life of a job: `postJob` (payment escrowed) → `accept` by `replicas` trainers (each
///         bonds `bond` of trainer stake) → `commit` result roots (or `closeCommits` after the
///         commit deadline: absent trainers lose) → challenge window → `openDispute` between two
///         committed trainers with different roots → `vote` by the committee drawn from the staked
///         arbiters (a majority decides; size 1 is Verde's single referee) → `finalize` after the
///         window with no dispute open. A job never filled by its accept deadline can be
///         `cancel`led. Payout at `finalize` equals `pinpoint_protocol::fees::settle`: with
///         k ≥ 1 honest trainers (committed, never lost), fee = payment·50/10000, burn =
///         fee·7000/10000, treasury = fee − burn, each honest trainer gets (payment − fee)/k and
///         the lowest address also the remainder; with none the payment is refunded with no fee.
///         Honest bonds are unlocked; losers' bonds are slashed (see `Staking.slash`).
contract JobMarket is ReentrancyGuard {
    uint256 public constant BPS = 10_000;
    uint256 public constant FEE_BPS = 50;
    uint256 public constant BURN_SHARE_BPS = 7_000;
    uint8 public constant TRAINER = 0;
    /// Most replicas of one job: `pinpoint_protocol::limits::MAX_REPLICAS` (a test checks
    /// they are equal).
    uint8 public constant MAX_REPLICAS = 16;
    /// Longest accept/commit horizon and challenge window, in seconds (the contracts' time
    /// unit): 365 days, so that no deadline arithmetic can approach `uint64` overflow.
    uint64 public constant MAX_DURATION_SECS = 365 days;

    enum State {
        None,
        Open,
        Assigned,
        Committed,
        Disputed,
        Finalized,
        Cancelled
    }

    struct Job {
        address submitter;
        State state;
        uint8 replicas;
        uint8 committed;
        uint64 acceptDeadline;
        uint64 commitDeadline;
        uint64 challengeWindow;
        uint64 windowEnd;
        bytes32 specHash;
        uint256 payment;
        uint256 bond;
        address[] trainers;
    }

    struct Slot {
        bool member;
        bool committed;
        bool lost;
        address beatenBy;
        bytes32 root;
    }

    struct Dispute {
        uint256 jobId;
        address challenger;
        address defendant;
        bool resolved;
        uint8 forChallenger;
        uint8 forDefendant;
        address[] committee;
    }

    /// What a committee member found: the first disputed step and operator node, the two
    /// parties' output hashes there and the referee's own.
    struct Finding {
        uint64 step;
        uint64 node;
        bytes32 challengerHash;
        bytes32 defendantHash;
        bytes32 refereeHash;
    }

    IERC20Burnable public immutable token;
    Staking public immutable staking;
    address public immutable treasury;
    uint256 public immutable committeeSize;

    uint256 public jobCount;
    uint256 public disputeCount;
    /// Jobs posted and neither finalized nor cancelled.
    uint256 public openJobs;
    /// Sum of the payments of open jobs (the tokens this contract holds for them).
    uint256 public totalEscrow;
    mapping(uint256 => Job) private jobs;
    mapping(uint256 => mapping(address => Slot)) public slots;
    mapping(uint256 => Dispute) private disputes;
    mapping(uint256 => mapping(address => bool)) public voted;

    event JobPosted(
        uint256 indexed jobId,
        address indexed submitter,
        bytes32 specHash,
        uint256 payment,
        uint8 replicas,
        uint256 bond,
        uint64 acceptDeadline,
        uint64 commitDeadline,
        uint64 challengeWindow
    );
    event JobAccepted(uint256 indexed jobId, address indexed trainer);
    event JobAssigned(uint256 indexed jobId, address[] trainers);
    event RootCommitted(uint256 indexed jobId, address indexed trainer, bytes32 root);
    event CommitMissed(uint256 indexed jobId, address indexed trainer);
    event ChallengeWindowStarted(uint256 indexed jobId, uint64 windowEnd);
    event DisputeOpened(
        uint256 indexed disputeId, uint256 indexed jobId, address challenger, address defendant, address[] committee
    );
    event VoteCast(uint256 indexed disputeId, address indexed arbiter, bool challengerWins, Finding finding);
    event Verdict(uint256 indexed disputeId, uint256 indexed jobId, address winner, address loser, Finding finding);
    event TrainerPaid(uint256 indexed jobId, address indexed trainer, uint256 amount);
    event JobFinalized(
        uint256 indexed jobId, uint256 honest, uint256 fee, uint256 burned, uint256 toTreasury, uint256 toTrainers
    );
    event JobRefunded(uint256 indexed jobId, address indexed submitter, uint256 amount);
    event JobCancelled(uint256 indexed jobId);

    error InvalidJob(string why);
    error UnknownJob(uint256 jobId);
    error WrongState(uint256 jobId, State state);
    error DeadlinePassed(uint64 deadline);
    error DeadlineNotReached(uint64 deadline);
    error NotATrainer(uint256 jobId, address who);
    error AlreadyAccepted(uint256 jobId, address who);
    error AlreadyCommitted(uint256 jobId, address who);
    error AllCommitted(uint256 jobId);
    error NotDisputable(string why);
    error UnknownDispute(uint256 disputeId);
    error DisputeResolved(uint256 disputeId);
    error NotArbiter(uint256 disputeId, address who);
    error AlreadyVoted(uint256 disputeId, address who);
    error WindowOpen(uint64 windowEnd);
    error WindowClosed(uint64 windowEnd);
    error TransferFailed();
    error NotStaked(address who);

    constructor(IERC20Burnable token_, Staking staking_, address treasury_, uint256 committeeSize_) {
        require(committeeSize_ % 2 == 1 && committeeSize_ <= 15, "committee size must be odd, at most 15");
        require(address(token_) != address(0), "zero token address");
        require(address(staking_) != address(0), "zero staking address");
        require(treasury_ != address(0), "zero treasury address");
        token = token_;
        staking = staking_;
        treasury = treasury_;
        committeeSize = committeeSize_;
    }

    function postJob(
        bytes32 specHash,
        uint256 payment,
        uint8 replicas,
        uint256 bond,
        uint64 acceptDeadline,
        uint64 commitDeadline,
        uint64 challengeWindow
    ) external nonReentrant returns (uint256 jobId) {
        if (payment == 0) revert InvalidJob("zero payment");
        if (replicas == 0 || replicas > MAX_REPLICAS) revert InvalidJob("replicas not in 1..=16");
        if (acceptDeadline <= block.timestamp) revert InvalidJob("accept deadline not in the future");
        if (commitDeadline <= acceptDeadline) revert InvalidJob("commit deadline not after accept deadline");
        if (commitDeadline - block.timestamp > MAX_DURATION_SECS) revert InvalidJob("commit deadline too far");
        if (challengeWindow == 0) revert InvalidJob("zero challenge window");
        if (challengeWindow > MAX_DURATION_SECS) revert InvalidJob("challenge window too long");
        if (bond == 0) revert InvalidJob("zero bond");
        jobId = ++jobCount;
        Job storage j = jobs[jobId];
        j.submitter = msg.sender;
        j.state = State.Open;
        j.replicas = replicas;
        j.acceptDeadline = acceptDeadline;
        j.commitDeadline = commitDeadline;
        j.challengeWindow = challengeWindow;
        j.specHash = specHash;
        j.payment = payment;
        j.bond = bond;
        openJobs += 1;
        totalEscrow += payment;
        emit JobPosted(
            jobId, msg.sender, specHash, payment, replicas, bond, acceptDeadline, commitDeadline, challengeWindow
        );
        if (!token.transferFrom(msg.sender, address(this), payment)) revert TransferFailed();
    }

    /// A staked trainer (active trainer stake at least the minimum) takes one of the job's
    /// replica slots, bonding `bond` of its stake.
    function accept(uint256 jobId) external nonReentrant {
        Job storage j = _job(jobId, State.Open);
        if (block.timestamp > j.acceptDeadline) revert DeadlinePassed(j.acceptDeadline);
        if (!staking.isStaked(msg.sender, TRAINER)) revert NotStaked(msg.sender);
        Slot storage s = slots[jobId][msg.sender];
        if (s.member) revert AlreadyAccepted(jobId, msg.sender);
        s.member = true;
        j.trainers.push(msg.sender);
        emit JobAccepted(jobId, msg.sender);
        if (j.trainers.length == j.replicas) {
            j.state = State.Assigned;
            emit JobAssigned(jobId, j.trainers);
        }
        staking.lock(msg.sender, TRAINER, j.bond);
    }

    function commit(uint256 jobId, bytes32 root) external nonReentrant {
        Job storage j = _job(jobId, State.Assigned);
        if (block.timestamp > j.commitDeadline) revert DeadlinePassed(j.commitDeadline);
        Slot storage s = slots[jobId][msg.sender];
        if (!s.member) revert NotATrainer(jobId, msg.sender);
        if (s.committed) revert AlreadyCommitted(jobId, msg.sender);
        s.committed = true;
        s.root = root;
        j.committed += 1;
        emit RootCommitted(jobId, msg.sender, root);
        if (j.committed == j.replicas) _startWindow(jobId, j);
    }

    /// After the commit deadline, trainers that did not commit lose (their bond is burned at
    /// finalize) and the challenge window starts for the others.
    function closeCommits(uint256 jobId) external nonReentrant {
        Job storage j = _job(jobId, State.Assigned);
        if (block.timestamp <= j.commitDeadline) revert DeadlineNotReached(j.commitDeadline);
        for (uint256 i = 0; i < j.trainers.length; i++) {
            Slot storage s = slots[jobId][j.trainers[i]];
            if (!s.committed) {
                s.lost = true;
                emit CommitMissed(jobId, j.trainers[i]);
            }
        }
        _startWindow(jobId, j);
    }

    /// A committed trainer challenges another whose root differs, during the window.
    function openDispute(uint256 jobId, address defendant) external nonReentrant returns (uint256 disputeId) {
        Job storage j = _job(jobId, State.Committed);
        if (block.timestamp >= j.windowEnd) revert WindowClosed(j.windowEnd);
        Slot storage c = slots[jobId][msg.sender];
        Slot storage d = slots[jobId][defendant];
        if (!c.committed || c.lost) revert NotDisputable("challenger is not a live committed trainer");
        if (!d.committed || d.lost) revert NotDisputable("defendant is not a live committed trainer");
        if (c.root == d.root) revert NotDisputable("roots are equal");
        disputeId = ++disputeCount;
        Dispute storage x = disputes[disputeId];
        x.jobId = jobId;
        x.challenger = msg.sender;
        x.defendant = defendant;
        x.committee = staking.selectCommittee(keccak256(abi.encode(jobId, disputeId)), committeeSize, msg.sender, defendant);
        j.state = State.Disputed;
        emit DisputeOpened(disputeId, jobId, msg.sender, defendant, x.committee);
    }

    /// A committee member's verdict; the first side to a majority wins, the loser's bond is
    /// slashed at finalize with the winner named, and the job returns to its window.
    function vote(uint256 disputeId, bool challengerWins, Finding calldata finding) external nonReentrant {
        Dispute storage x = disputes[disputeId];
        if (x.jobId == 0) revert UnknownDispute(disputeId);
        if (x.resolved) revert DisputeResolved(disputeId);
        if (!_inCommittee(x, msg.sender)) revert NotArbiter(disputeId, msg.sender);
        if (voted[disputeId][msg.sender]) revert AlreadyVoted(disputeId, msg.sender);
        voted[disputeId][msg.sender] = true;
        emit VoteCast(disputeId, msg.sender, challengerWins, finding);
        uint8 count = challengerWins ? ++x.forChallenger : ++x.forDefendant;
        if (count <= x.committee.length / 2) return;
        (address winner, address loser) = challengerWins ? (x.challenger, x.defendant) : (x.defendant, x.challenger);
        x.resolved = true;
        Slot storage l = slots[x.jobId][loser];
        l.lost = true;
        l.beatenBy = winner;
        jobs[x.jobId].state = State.Committed;
        emit Verdict(disputeId, x.jobId, winner, loser, finding);
    }

    /// Pays out a job whose window has passed with no dispute open (see the contract notice).
    function finalize(uint256 jobId) external nonReentrant {
        Job storage j = _job(jobId, State.Committed);
        if (block.timestamp < j.windowEnd) revert WindowOpen(j.windowEnd);
        j.state = State.Finalized;
        openJobs -= 1;
        totalEscrow -= j.payment;
        address[] memory honest = _honestSorted(jobId, j.trainers);
        uint256 payment = j.payment;
        if (honest.length == 0) {
            emit JobRefunded(jobId, j.submitter, payment);
            emit JobFinalized(jobId, 0, 0, 0, 0, 0);
            _pay(j.submitter, payment);
        } else {
            uint256 fee = payment * FEE_BPS / BPS;
            uint256 burnt = fee * BURN_SHARE_BPS / BPS;
            uint256 toTrainers = payment - fee;
            uint256 share = toTrainers / honest.length;
            uint256 remainder = toTrainers % honest.length;
            emit JobFinalized(jobId, honest.length, fee, burnt, fee - burnt, toTrainers);
            for (uint256 i = 0; i < honest.length; i++) {
                emit TrainerPaid(jobId, honest[i], i == 0 ? share + remainder : share);
            }
            if (burnt != 0) token.burn(burnt);
            _pay(treasury, fee - burnt);
            for (uint256 i = 0; i < honest.length; i++) {
                _pay(honest[i], i == 0 ? share + remainder : share);
            }
        }
        _settleBonds(jobId, j);
    }

    /// Cancels a job whose replica slots were not all taken by the accept deadline: the
    /// payment is refunded and the bonds unlocked.
    function cancel(uint256 jobId) external nonReentrant {
        Job storage j = _job(jobId, State.Open);
        if (block.timestamp <= j.acceptDeadline) revert DeadlineNotReached(j.acceptDeadline);
        j.state = State.Cancelled;
        openJobs -= 1;
        totalEscrow -= j.payment;
        emit JobCancelled(jobId);
        emit JobRefunded(jobId, j.submitter, j.payment);
        _pay(j.submitter, j.payment);
        for (uint256 i = 0; i < j.trainers.length; i++) {
            staking.unlock(j.trainers[i], TRAINER, j.bond);
        }
    }

    function jobInfo(uint256 jobId)
        external
        view
        returns (
            address submitter,
            State state,
            uint8 replicas,
            uint8 committed,
            uint64 windowEnd,
            bytes32 specHash,
            uint256 payment,
            uint256 bond,
            address[] memory trainers
        )
    {
        Job storage j = jobs[jobId];
        return (j.submitter, j.state, j.replicas, j.committed, j.windowEnd, j.specHash, j.payment, j.bond, j.trainers);
    }

    function committee(uint256 disputeId) external view returns (address[] memory) {
        return disputes[disputeId].committee;
    }

    function _job(uint256 jobId, State expected) private view returns (Job storage j) {
        j = jobs[jobId];
        if (j.state == State.None) revert UnknownJob(jobId);
        if (j.state != expected) revert WrongState(jobId, j.state);
    }

    function _startWindow(uint256 jobId, Job storage j) private {
        j.state = State.Committed;
        j.windowEnd = uint64(block.timestamp) + j.challengeWindow;
        emit ChallengeWindowStarted(jobId, j.windowEnd);
    }

    function _inCommittee(Dispute storage x, address who) private view returns (bool) {
        for (uint256 i = 0; i < x.committee.length; i++) {
            if (x.committee[i] == who) return true;
        }
        return false;
    }

    /// Committed trainers that never lost, sorted by address (insertion sort; at most 16).
    function _honestSorted(uint256 jobId, address[] storage trainers) private view returns (address[] memory out) {
        address[] memory tmp = new address[](trainers.length);
        uint256 n;
        for (uint256 i = 0; i < trainers.length; i++) {
            Slot storage s = slots[jobId][trainers[i]];
            if (!s.committed || s.lost) continue;
            address t = trainers[i];
            uint256 k = n++;
            while (k > 0 && tmp[k - 1] > t) {
                tmp[k] = tmp[k - 1];
                k--;
            }
            tmp[k] = t;
        }
        out = new address[](n);
        for (uint256 i = 0; i < n; i++) {
            out[i] = tmp[i];
        }
    }

    function _settleBonds(uint256 jobId, Job storage j) private {
        for (uint256 i = 0; i < j.trainers.length; i++) {
            address t = j.trainers[i];
            Slot storage s = slots[jobId][t];
            if (s.lost) staking.slash(t, TRAINER, j.bond, s.beatenBy);
            else staking.unlock(t, TRAINER, j.bond);
        }
    }

    function _pay(address to, uint256 amount) private {
        if (amount != 0 && !token.transfer(to, amount)) revert TransferFailed();
    }
}
