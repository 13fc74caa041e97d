// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {IERC20Burnable} from "./IERC20Burnable.sol";
import {ReentrancyGuard} from "./ReentrancyGuard.sol";
import {Staking} from "./Staking.sol";

/// @title MarketBase: the job market's state, events, errors and settlement helpers.
/// @notice Shared by `MarketDisputes` (challenges, committees, verdicts, deadlines, the sampling
///         seed) and `JobMarket` (posting, assignment, commitments, payouts), which together are
///         the one deployed market. Constants and formulas: `docs/chain.md`.
abstract contract MarketBase is ReentrancyGuard {
    uint256 public constant BPS = 10_000;
    uint256 public constant FEE_BPS = 50;
    uint256 public constant BURN_SHARE_BPS = 7_000;
    uint8 public constant TRAINER = 0;
    uint8 public constant VERIFIER = 2;
    uint8 public constant ARBITER = 3;
    /// Most replicas of one job: `pinpoint_protocol::limits::MAX_REPLICAS` (a test checks
    /// they are equal).
    uint8 public constant MAX_REPLICAS = 16;
    /// Most distinct verifiers that may challenge one job (bounds the loops at finalize).
    uint8 public constant MAX_CHALLENGERS = 16;
    /// Fresh committees a dispute may get after its first one missed its deadline; when the
    /// last one misses too, the job is cancelled.
    uint8 public constant MAX_REDRAWS = 2;
    /// Share of an arbiter's stake burned when it did not vote before its committee's
    /// deadline: 1 000 bps = 10%.
    uint256 public constant MISSED_VOTE_BPS = 1_000;
    /// Most a deployment may give arbiters out of a slashed stake: the part not paid to the
    /// winner (`10000 − Staking.SLASH_WINNER_BPS`).
    uint256 public constant MAX_ARBITER_SHARE_BPS = 5_000;
    /// Blocks during which `blockhash` of the commits' closing block can be read.
    uint256 public constant SEED_HORIZON_BLOCKS = 256;
    /// Longest accept/commit horizon, challenge window and dispute timeout, in seconds (the
    /// contracts' time unit): 365 days, so that no deadline arithmetic can approach `uint64`
    /// overflow.
    uint64 public constant MAX_DURATION_SECS = 365 days;
    /// `Dispute.ruling` while no ruling was reached.
    uint8 internal constant NO_RULING = type(uint8).max;

    enum State {
        None,
        Open,
        Assigned,
        Committed,
        Disputed,
        Finalized,
        Cancelled
    }

    /// A committee's ruling: who lost the dispute.
    enum Ruling {
        DefendantWins,
        ChallengerWins,
        BothLose
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
        uint64 seedBlock; // the block that closed the commits
        uint64 activeDispute; // 0 = none
        uint64 queueHead; // the first entry of `queue[jobId]` not yet opened or skipped
        bytes32 specHash;
        bytes32 seed; // 0 until fixed
        uint256 payment;
        uint256 bond;
        address[] trainers;
        address[] challengers;
    }

    /// A trainer's standing in a job.
    struct Slot {
        bool member;
        bool committed;
        bool lost;
        address beatenBy;
        uint64 lostIn; // the dispute it lost, 0 = none (missed commit)
        bytes32 root;
    }

    /// A verifier's standing in a job: its challenge bonds add up.
    struct Challenger {
        uint256 bond;
        bool lost;
        address beatenBy;
        uint64 lostIn;
    }

    /// A verifier's challenge of a trainer, waiting for the open dispute to end.
    struct Queued {
        address verifier;
        address trainer;
    }

    struct Dispute {
        uint256 jobId;
        address challenger;
        address defendant;
        bool resolved;
        bool byVerifier; // the challenger is a verifier, not a trainer of the job
        uint8 round; // 0 = first committee, then one per re-draw
        uint8 ruling; // a `Ruling`, or NO_RULING
        uint64 deadline;
        uint8[3] tally; // votes per ruling in the current round
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
    /// Seconds a committee has to reach a majority before it can be re-drawn.
    uint64 public immutable disputeTimeout;
    /// Share of a dispute loser's slashed stake paid to the majority voters, split equally
    /// (the Rust `DeployConfig` passes `pinpoint_protocol::fees::ARBITER_SHARE_BPS`, 1 000).
    uint256 public immutable arbiterShareBps;

    uint256 public jobCount;
    uint256 public disputeCount;
    /// Jobs posted and neither finalized nor cancelled.
    uint256 public openJobs;
    /// Sum of the payments of open jobs (the tokens this contract holds for them).
    uint256 public totalEscrow;
    mapping(uint256 => Job) internal jobs;
    mapping(uint256 => mapping(address => Slot)) public slots;
    mapping(uint256 => mapping(address => Challenger)) public challengers;
    /// (job, verifier, trainer) pairs already challenged.
    mapping(uint256 => mapping(address => mapping(address => bool))) public challenged;
    /// Each job's challenges in arrival order (the protocol's queue); entries before the job's
    /// `queueHead` were opened or skipped.
    mapping(uint256 => Queued[]) internal queue;
    mapping(uint256 => Dispute) internal disputes;
    /// A member's vote in its dispute's current round: ruling + 1, 0 = not voted.
    mapping(uint256 => mapping(address => uint8)) public ballot;

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
    event WindowExtended(uint256 indexed jobId, uint64 windowEnd);
    event SeedFixed(uint256 indexed jobId, bytes32 seed, uint64 fromBlock);
    event Challenged(uint256 indexed jobId, address indexed verifier, address indexed trainer, uint256 bond);
    event DisputeOpened(
        uint256 indexed disputeId,
        uint256 indexed jobId,
        address challenger,
        address defendant,
        address[] committee,
        uint64 deadline
    );
    event VoteCast(uint256 indexed disputeId, address indexed arbiter, Ruling ruling, Finding finding);
    event Verdict(
        uint256 indexed disputeId,
        uint256 indexed jobId,
        Ruling ruling,
        address challenger,
        address defendant,
        Finding finding
    );
    event CommitteeMissed(uint256 indexed disputeId, uint8 round, address[] silent);
    event CommitteeRedrawn(uint256 indexed disputeId, uint8 round, address[] committee, uint64 deadline);
    event DisputeExpired(uint256 indexed disputeId, uint256 indexed jobId);
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
    error InvalidChallenge(string why);
    error RootsDisagree(address a, address b);
    error SeedNotReady(uint64 closingBlock);
    error SeedAlreadyFixed(uint256 jobId);
    error ChallengeQueued(address verifier, address trainer);

    constructor(
        IERC20Burnable token_,
        Staking staking_,
        address treasury_,
        uint256 committeeSize_,
        uint64 disputeTimeout_,
        uint256 arbiterShareBps_
    ) {
        require(committeeSize_ % 2 == 1 && committeeSize_ <= 15, "committee size must be odd, at most 15");
        require(address(token_) != address(0), "zero token address");
        require(address(staking_) != address(0), "zero staking address");
        require(treasury_ != address(0), "zero treasury address");
        require(disputeTimeout_ != 0 && disputeTimeout_ <= MAX_DURATION_SECS, "dispute timeout not in 1..=365 days");
        require(arbiterShareBps_ <= MAX_ARBITER_SHARE_BPS, "arbiter share above 5000 bps");
        token = token_;
        staking = staking_;
        treasury = treasury_;
        committeeSize = committeeSize_;
        disputeTimeout = disputeTimeout_;
        arbiterShareBps = arbiterShareBps_;
    }

    function _job(uint256 jobId, State expected) internal view returns (Job storage j) {
        j = jobs[jobId];
        if (j.state == State.None) revert UnknownJob(jobId);
        if (j.state != expected) revert WrongState(jobId, j.state);
    }

    function _live(uint256 jobId, address who) internal view returns (bool) {
        Slot storage s = slots[jobId][who];
        return s.committed && !s.lost;
    }

    /// Committed trainers that never lost, sorted by address (insertion sort; at most 16).
    function _honestSorted(uint256 jobId, address[] storage trainers) internal view returns (address[] memory out) {
        address[] memory tmp = new address[](trainers.length);
        uint256 n;
        for (uint256 i = 0; i < trainers.length; i++) {
            address t = trainers[i];
            if (!_live(jobId, t)) continue;
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

    /// The protocol's next replica dispute: the first live trainer by address and the first
    /// after it whose root differs; `(0, 0)` when all live roots are equal.
    function _disagreeing(uint256 jobId, Job storage j) internal view returns (address a, address b) {
        address[] memory live = _honestSorted(jobId, j.trainers);
        if (live.length == 0) return (address(0), address(0));
        bytes32 r = slots[jobId][live[0]].root;
        for (uint256 i = 1; i < live.length; i++) {
            if (slots[jobId][live[i]].root != r) return (live[0], live[i]);
        }
        return (address(0), address(0));
    }

    /// The first queued challenge from `queueHead` on that can still be opened (its trainer
    /// live, its verifier never beaten in the job); `(0, 0, length)` when none.
    function _nextQueued(uint256 jobId, Job storage j) internal view returns (address v, address t, uint256 pos) {
        Queued[] storage q = queue[jobId];
        for (pos = j.queueHead; pos < q.length; pos++) {
            Queued storage e = q[pos];
            if (_live(jobId, e.trainer) && !challengers[jobId][e.verifier].lost) return (e.verifier, e.trainer, pos);
        }
        return (address(0), address(0), pos);
    }

    /// The members of `disputeId`'s committee whose vote is its ruling.
    function _majority(uint256 disputeId) internal view returns (address[] memory out) {
        Dispute storage x = disputes[disputeId];
        address[] memory tmp = new address[](x.committee.length);
        uint256 n;
        for (uint256 i = 0; i < x.committee.length; i++) {
            if (uint256(ballot[disputeId][x.committee[i]]) == uint256(x.ruling) + 1) tmp[n++] = x.committee[i];
        }
        out = new address[](n);
        for (uint256 i = 0; i < n; i++) {
            out[i] = tmp[i];
        }
    }

    /// Settles every bond of a job: losers are slashed (the winner of the dispute they lost,
    /// if any, gets its share; that dispute's majority voters the arbiter share), the others
    /// unlocked.
    function _settleBonds(uint256 jobId, Job storage j) internal {
        for (uint256 i = 0; i < j.trainers.length; i++) {
            address t = j.trainers[i];
            Slot storage s = slots[jobId][t];
            if (s.lost) _slash(t, TRAINER, j.bond, s.beatenBy, s.lostIn);
            else staking.unlock(t, TRAINER, j.bond);
        }
        for (uint256 i = 0; i < j.challengers.length; i++) {
            address v = j.challengers[i];
            Challenger storage c = challengers[jobId][v];
            if (c.lost) _slash(v, VERIFIER, c.bond, c.beatenBy, c.lostIn);
            else staking.unlock(v, VERIFIER, c.bond);
        }
    }

    function _slash(address who, uint8 role, uint256 amount, address winner, uint64 disputeId) private {
        address[] memory payees;
        if (disputeId != 0 && arbiterShareBps != 0) payees = _majority(disputeId);
        staking.slash(who, role, amount, winner, payees, arbiterShareBps);
    }

    function _pay(address to, uint256 amount) internal {
        if (amount != 0 && !token.transfer(to, amount)) revert TransferFailed();
    }
}
