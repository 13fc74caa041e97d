// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {MarketBase} from "./MarketBase.sol";
import {Staking} from "./Staking.sol";

/// @title MarketDisputes: the sampling seed, challenges, committees, verdicts and deadlines.
/// @notice One dispute per job at a time, opened in the job's `Committed` state:
///         - `openDispute(job, defendant)` by a live committed trainer against one whose root
///           differs, or `disputeNext(job)` by anyone: the protocol's next dispute (the first
///           live trainer by address and the first after it with another root; if all live
///           roots agree, the first queued challenge that can still be opened). Allowed after
///           the window too: a job whose live roots disagree, or with a challenge queued,
///           cannot be finalized.
///         - `challenge(job, trainer, bond)` by a staked verifier that is not a trainer of the
///           job, bonding `bond ≥` the job's trainer bond of its verifier stake; once per
///           (verifier, trainer); a verifier's bonds in a job add up and all of them are
///           slashed if it loses any of its disputes there. Challenges queue in arrival order
///           (`pinpoint_protocol::job`): with no dispute open (before the window ends) the next
///           dispute opens at once; while one is open (at any time: the window stays open) the
///           challenge waits for `disputeNext`. A queued challenge is skipped when its trainer
///           has lost or its verifier was beaten in the job.
///         A committee of `committeeSize` staked arbiters other than the parties is drawn; a
///         member `vote`s a ruling (defendant wins, challenger wins, both lose) and the first
///         ruling with a majority decides: each loser is marked (slashed at finalize, the
///         winner named), the job returns to `Committed` and its window is extended to at least
///         `now + challengeWindow`, so that the next dispute or challenge can be opened.
///         A committee without a majority by its `deadline` can be replaced by anyone with
///         `redraw`: the members that did not vote lose `MISSED_VOTE_BPS` of their arbiter
///         stake (burned) and a fresh committee gets a fresh deadline; after `MAX_REDRAWS`
///         re-draws (or when no committee can be drawn) the job is cancelled: the payment is
///         refunded in full, the bonds of every party that has not lost are unlocked and the
///         earlier losers are slashed as at finalize. Votes still count after the deadline
///         until someone re-draws.
///         The sampling seed: see `fixSeed`.
abstract contract MarketDisputes is MarketBase {
    error InvalidRuling(uint8 ruling);
    error CommitteeUnavailable();

    /// Fixes the job's sampling seed, `keccak256(abi.encode(blockhash(b), jobId))` with `b`
    /// the block that closed the commits (its hash did not exist when the roots were
    /// committed), readable by anyone from the next block on. `blockhash` reaches back
    /// `SEED_HORIZON_BLOCKS` blocks: fixed later, `b` is the block before the fixing one (a
    /// weaker seed: the fixer chooses when to fix). Bias: the producer of block `b` can
    /// choose among the hashes it can build (reorder, include or drop transactions); nobody
    /// else can predict or choose it.
    function fixSeed(uint256 jobId) external nonReentrant returns (bytes32 seed) {
        Job storage j = jobs[jobId];
        if (j.state == State.None) revert UnknownJob(jobId);
        if (j.seed != 0) revert SeedAlreadyFixed(jobId);
        if (j.seedBlock == 0 || block.number <= j.seedBlock) revert SeedNotReady(j.seedBlock);
        uint256 b = block.number - j.seedBlock <= SEED_HORIZON_BLOCKS ? j.seedBlock : block.number - 1;
        seed = keccak256(abi.encode(blockhash(b), jobId));
        if (seed == 0) seed = bytes32(uint256(1));
        j.seed = seed;
        emit SeedFixed(jobId, seed, uint64(b));
    }

    /// A staked verifier challenges a live trainer's root: queued, and opened at once when no
    /// dispute is open (see the contract notice). Returns the dispute opened, 0 if queued.
    function challenge(uint256 jobId, address trainer, uint256 bond) external nonReentrant returns (uint256 disputeId) {
        Job storage j = jobs[jobId];
        if (j.state == State.None) revert UnknownJob(jobId);
        bool idle = j.state == State.Committed;
        if (!idle && j.state != State.Disputed) revert WrongState(jobId, j.state);
        if (idle && block.timestamp >= j.windowEnd) revert WindowClosed(j.windowEnd);
        if (bond < j.bond) revert InvalidChallenge("bond below the job's trainer bond");
        if (!staking.isStaked(msg.sender, VERIFIER)) revert NotStaked(msg.sender);
        if (bond > staking.available(msg.sender, VERIFIER)) revert InvalidChallenge("bond above the free verifier stake");
        if (slots[jobId][msg.sender].member) revert InvalidChallenge("a trainer cannot challenge its own job");
        Challenger storage c = challengers[jobId][msg.sender];
        if (c.lost) revert InvalidChallenge("challenger already lost in this job");
        if (challenged[jobId][msg.sender][trainer]) revert InvalidChallenge("trainer already challenged by this verifier");
        if (!_live(jobId, trainer)) revert NotDisputable("defendant is not a live committed trainer");
        if (c.bond == 0) {
            if (j.challengers.length >= MAX_CHALLENGERS) revert InvalidChallenge("too many challengers");
            j.challengers.push(msg.sender);
        }
        c.bond += bond;
        challenged[jobId][msg.sender][trainer] = true;
        queue[jobId].push(Queued(msg.sender, trainer));
        emit Challenged(jobId, msg.sender, trainer, bond);
        if (idle) disputeId = _openNext(jobId, j);
        staking.lock(msg.sender, VERIFIER, bond);
    }

    /// A live committed trainer disputes another whose root differs.
    function openDispute(uint256 jobId, address defendant) external nonReentrant returns (uint256 disputeId) {
        Job storage j = _job(jobId, State.Committed);
        if (!_live(jobId, msg.sender)) revert NotDisputable("challenger is not a live committed trainer");
        if (!_live(jobId, defendant)) revert NotDisputable("defendant is not a live committed trainer");
        if (slots[jobId][msg.sender].root == slots[jobId][defendant].root) revert NotDisputable("roots are equal");
        disputeId = _open(jobId, j, msg.sender, defendant, false);
    }

    /// Anyone opens the protocol's next dispute (see the contract notice).
    function disputeNext(uint256 jobId) external nonReentrant returns (uint256 disputeId) {
        disputeId = _openNext(jobId, _job(jobId, State.Committed));
        if (disputeId == 0) revert NotDisputable("all live roots are equal and no challenge is queued");
    }

    /// A committee member's ruling (`Ruling` as a number); the first ruling with a majority
    /// of the committee decides.
    function vote(uint256 disputeId, uint8 ruling, Finding calldata finding) external nonReentrant {
        Dispute storage x = disputes[disputeId];
        if (x.jobId == 0) revert UnknownDispute(disputeId);
        if (x.resolved) revert DisputeResolved(disputeId);
        if (ruling > uint8(Ruling.BothLose)) revert InvalidRuling(ruling);
        if (!_inCommittee(x, msg.sender)) revert NotArbiter(disputeId, msg.sender);
        if (ballot[disputeId][msg.sender] != 0) revert AlreadyVoted(disputeId, msg.sender);
        ballot[disputeId][msg.sender] = ruling + 1;
        emit VoteCast(disputeId, msg.sender, Ruling(ruling), finding);
        if (++x.tally[ruling] <= x.committee.length / 2) return;
        _resolve(disputeId, x, ruling, finding);
    }

    /// Replaces a committee that has no majority after its deadline (see the contract notice).
    function redraw(uint256 disputeId) external nonReentrant {
        Dispute storage x = disputes[disputeId];
        if (x.jobId == 0) revert UnknownDispute(disputeId);
        if (x.resolved) revert DisputeResolved(disputeId);
        if (block.timestamp <= x.deadline) revert DeadlineNotReached(x.deadline);
        address[] memory old = x.committee;
        address[] memory silent = new address[](old.length);
        uint256 n;
        for (uint256 i = 0; i < old.length; i++) {
            if (ballot[disputeId][old[i]] == 0) silent[n++] = old[i];
            else ballot[disputeId][old[i]] = 0;
        }
        assembly {
            mstore(silent, n)
        }
        delete x.tally;
        emit CommitteeMissed(disputeId, x.round, silent);
        for (uint256 i = 0; i < n; i++) {
            staking.penalize(silent[i], ARBITER, MISSED_VOTE_BPS);
        }
        if (x.round < MAX_REDRAWS) {
            uint8 round = x.round + 1;
            try staking.selectCommittee(
                keccak256(abi.encode(x.jobId, disputeId, round)), committeeSize, x.challenger, x.defendant
            ) returns (address[] memory fresh) {
                x.round = round;
                x.committee = fresh;
                x.deadline = uint64(block.timestamp) + disputeTimeout;
                emit CommitteeRedrawn(disputeId, round, fresh, x.deadline);
                return;
            } catch (bytes memory reason) {
                // Only "too few arbiters" cancels the job; anything else (a sub-call starved of
                // gas reverts without data) reverts the re-draw.
                if (reason.length < 4 || bytes4(reason) != Staking.NotEnoughArbiters.selector) {
                    revert CommitteeUnavailable();
                }
            }
        }
        _expire(disputeId, x);
    }

    /// The job's sampling seed (0 until `fixSeed`) and the block that closed its commits.
    function seedOf(uint256 jobId) external view returns (bytes32 seed, uint64 closingBlock) {
        Job storage j = jobs[jobId];
        return (j.seed, j.seedBlock);
    }

    function disputeInfo(uint256 disputeId)
        external
        view
        returns (
            uint256 jobId,
            address challenger,
            address defendant,
            bool resolved,
            bool byVerifier,
            uint8 round,
            uint8 ruling,
            uint64 deadline,
            uint8[3] memory tally
        )
    {
        Dispute storage x = disputes[disputeId];
        return (x.jobId, x.challenger, x.defendant, x.resolved, x.byVerifier, x.round, x.ruling, x.deadline, x.tally);
    }

    function committee(uint256 disputeId) external view returns (address[] memory) {
        return disputes[disputeId].committee;
    }

    /// The job's open dispute (0 = none) and the verifiers that challenged it.
    function jobDisputes(uint256 jobId) external view returns (uint64 active, address[] memory verifiers) {
        Job storage j = jobs[jobId];
        return (j.activeDispute, j.challengers);
    }

    /// Opens the protocol's next dispute: a replica pair whose roots differ, else the first
    /// queued challenge that can still be opened (the ones skipped are dropped); 0 if none.
    function _openNext(uint256 jobId, Job storage j) private returns (uint256) {
        (address a, address b) = _disagreeing(jobId, j);
        if (a != address(0)) return _open(jobId, j, a, b, false);
        (address v, address t, uint256 pos) = _nextQueued(jobId, j);
        if (v == address(0)) {
            j.queueHead = uint64(pos);
            return 0;
        }
        j.queueHead = uint64(pos + 1);
        return _open(jobId, j, v, t, true);
    }

    function _open(uint256 jobId, Job storage j, address challenger, address defendant, bool byVerifier)
        private
        returns (uint256 disputeId)
    {
        disputeId = ++disputeCount;
        Dispute storage x = disputes[disputeId];
        x.jobId = jobId;
        x.challenger = challenger;
        x.defendant = defendant;
        x.byVerifier = byVerifier;
        x.ruling = NO_RULING;
        x.deadline = uint64(block.timestamp) + disputeTimeout;
        x.committee =
            staking.selectCommittee(keccak256(abi.encode(jobId, disputeId)), committeeSize, challenger, defendant);
        j.state = State.Disputed;
        j.activeDispute = uint64(disputeId);
        emit DisputeOpened(disputeId, jobId, challenger, defendant, x.committee, x.deadline);
    }

    function _resolve(uint256 disputeId, Dispute storage x, uint8 ruling, Finding calldata finding) private {
        x.resolved = true;
        x.ruling = ruling;
        uint256 jobId = x.jobId;
        if (ruling != uint8(Ruling.ChallengerWins)) {
            _lose(jobId, x, x.challenger, ruling == uint8(Ruling.DefendantWins) ? x.defendant : address(0), disputeId);
        }
        if (ruling != uint8(Ruling.DefendantWins)) {
            _lose(jobId, x, x.defendant, ruling == uint8(Ruling.ChallengerWins) ? x.challenger : address(0), disputeId);
        }
        Job storage j = jobs[jobId];
        j.state = State.Committed;
        j.activeDispute = 0;
        emit Verdict(disputeId, jobId, Ruling(ruling), x.challenger, x.defendant, finding);
        uint64 end = uint64(block.timestamp) + j.challengeWindow;
        if (end > j.windowEnd) {
            j.windowEnd = end;
            emit WindowExtended(jobId, end);
        }
    }

    function _lose(uint256 jobId, Dispute storage x, address who, address winner, uint256 disputeId) private {
        if (x.byVerifier && who == x.challenger) {
            Challenger storage c = challengers[jobId][who];
            c.lost = true;
            c.beatenBy = winner;
            c.lostIn = uint64(disputeId);
        } else {
            Slot storage s = slots[jobId][who];
            s.lost = true;
            s.beatenBy = winner;
            s.lostIn = uint64(disputeId);
        }
    }

    /// The last committee missed its deadline: the job is cancelled (see the contract notice).
    function _expire(uint256 disputeId, Dispute storage x) private {
        x.resolved = true;
        uint256 jobId = x.jobId;
        Job storage j = jobs[jobId];
        j.state = State.Cancelled;
        j.activeDispute = 0;
        openJobs -= 1;
        totalEscrow -= j.payment;
        emit DisputeExpired(disputeId, jobId);
        emit JobCancelled(jobId);
        emit JobRefunded(jobId, j.submitter, j.payment);
        _pay(j.submitter, j.payment);
        _settleBonds(jobId, j);
    }

    function _inCommittee(Dispute storage x, address who) private view returns (bool) {
        for (uint256 i = 0; i < x.committee.length; i++) {
            if (x.committee[i] == who) return true;
        }
        return false;
    }
}
