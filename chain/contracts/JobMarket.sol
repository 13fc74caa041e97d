// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {IERC20Burnable} from "./IERC20Burnable.sol";
import {MarketBase} from "./MarketBase.sol";
import {MarketDisputes} from "./MarketDisputes.sol";
import {Staking} from "./Staking.sol";

/// @title JobMarket: escrow, assignment, commitments, challenge window, disputes, payouts.
/// @notice Life of a job: `postJob` (payment escrowed) → `accept` by `replicas` trainers (each
///         bonds `bond` of trainer stake) → `commit` result roots (or `closeCommits` after the
///         commit deadline: absent trainers lose) → challenge window (the sampling seed is
///         fixed from the closing block, `fixSeed`) → disputes, one at a time, between two
///         trainers with different roots or by a verifier's `challenge`, each settled by a
///         committee's majority (`MarketDisputes`) → `finalize` after the window with no dispute
///         open, all live roots equal and no challenge queued. A job never filled by its accept deadline can be
///         `cancel`led. Payout at `finalize` equals `pinpoint_protocol::fees::settle`: with
///         k ≥ 1 honest trainers (committed, never lost), fee = payment·50/10000, burn =
///         fee·7000/10000, treasury = fee − burn, each honest trainer gets (payment − fee)/k and
///         the lowest address also the remainder; with none the payment is refunded with no fee.
///         Honest bonds and the bonds of verifiers that never lost are unlocked; losers' bonds
///         are slashed (see `Staking.slash`).
contract JobMarket is MarketDisputes {
    constructor(
        IERC20Burnable token_,
        Staking staking_,
        address treasury_,
        uint256 committeeSize_,
        uint64 disputeTimeout_,
        uint256 arbiterShareBps_
    ) MarketBase(token_, staking_, treasury_, committeeSize_, disputeTimeout_, arbiterShareBps_) {}

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

    /// Pays out a job whose window has passed with no dispute open and whose live roots are
    /// all equal (see the contract notice).
    function finalize(uint256 jobId) external nonReentrant {
        Job storage j = _job(jobId, State.Committed);
        if (block.timestamp < j.windowEnd) revert WindowOpen(j.windowEnd);
        address[] memory honest = _honestSorted(jobId, j.trainers);
        for (uint256 i = 1; i < honest.length; i++) {
            if (slots[jobId][honest[i]].root != slots[jobId][honest[0]].root) revert RootsDisagree(honest[0], honest[i]);
        }
        (address qv, address qt,) = _nextQueued(jobId, j);
        if (qv != address(0)) revert ChallengeQueued(qv, qt);
        j.state = State.Finalized;
        openJobs -= 1;
        totalEscrow -= j.payment;
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

    function _startWindow(uint256 jobId, Job storage j) private {
        j.state = State.Committed;
        j.windowEnd = uint64(block.timestamp) + j.challengeWindow;
        j.seedBlock = uint64(block.number);
        emit ChallengeWindowStarted(jobId, j.windowEnd);
    }
}
