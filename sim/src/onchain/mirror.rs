//! [`ChainMirror`]: one run's chain, a snapshot of the funded deployment, driven along with
//! the simulated jobs and checked against the ledger (see [the module docs](super)).

use std::collections::BTreeMap;

use pinpoint_chain::alloy::sol_types::SolCall;
use pinpoint_chain::bindings::{JobMarket, PinToken, Staking};
use pinpoint_chain::deploy::{DEFAULT_DEPLOYER, DEFAULT_TREASURY};
use pinpoint_chain::{Address, B256, Call, Embedded, Finding, JobParams, Ruling, U256};

use super::deploy::{BaseKey, base_for, chain_role, layout_addresses, submitter_address};
use super::{Deltas, Issue, MirrorFault, Posting, Who};
use crate::error::Result;
use crate::scenario::{Role, Scenario};

#[derive(Debug, Clone, Default)]
struct MirrorJob {
    id: Option<u64>,
    mapped: bool,
    replicas: usize,
    commits: usize,
    window_started: bool,
    finalized: bool,
    /// A chain dispute a `challenge` opened at once, not yet matched with the protocol's
    /// `OpenDispute` that follows it in the same event.
    opened: Option<u64>,
}

/// One run's chain: the embedded contracts, the node → address map, and each job's chain
/// state. See the [module docs](crate::onchain).
#[derive(Debug)]
pub struct ChainMirror {
    chain: Embedded,
    t0: u64,
    addrs: Vec<Address>,
    roles: Vec<Role>,
    submitter: Address,
    jobs: Vec<MirrorJob>,
    disputes: BTreeMap<usize, u64>,
    /// Jobs the protocol finalized while the contract's window was still open: `(job,
    /// window end, expected deltas)`.
    pending: Vec<(usize, u64, Deltas)>,
    fault: Option<MirrorFault>,
    dirty: bool,
    compared: u64,
    closes: u64,
    deferred: u64,
    challenges: u64,
    dispute_next: u64,
    both_lose: u64,
    unconserved: bool,
}

fn u128_of(x: U256) -> std::result::Result<u128, String> {
    u128::try_from(x).map_err(|_| format!("amount {x} exceeds u128"))
}

fn signed(after: u128, before: u128) -> std::result::Result<i128, String> {
    let a = i128::try_from(after).map_err(|_| "amount exceeds i128".to_string())?;
    let b = i128::try_from(before).map_err(|_| "amount exceeds i128".to_string())?;
    Ok(a - b)
}

impl ChainMirror {
    /// The chain for a run of `scn` whose nodes have roles `roles` and ids `ids` (by index),
    /// each funded with `fund`.
    ///
    /// Errors: [`crate::SimError::Chain`] if the contracts cannot be deployed or funded (e.g. a
    /// committee larger than the contracts' 15).
    pub fn new(
        scn: &Scenario,
        roles: &[Role],
        ids: &[pinpoint_protocol::id::NodeId],
        fund: u128,
    ) -> Result<Self> {
        let key = BaseKey {
            roles: roles.to_vec(),
            fund: fund.max(1),
            submitter: u128::from(scn.jobs.payment) * scn.jobs.count as u128,
            committee: scn.nodes.committee as u64,
        };
        let chain = base_for(key)?.snapshot();
        // A role's nodes, sorted by NodeId, take the role's addresses in ascending order.
        let by_role = layout_addresses(roles);
        let mut addrs = vec![Address::ZERO; roles.len()];
        for (role, list) in &by_role {
            let mut nodes: Vec<usize> = (0..roles.len())
                .filter(|i| chain_role(roles[*i]) == *role)
                .collect();
            nodes.sort_by_key(|i| ids[*i]);
            for (n, a) in nodes.into_iter().zip(list) {
                addrs[n] = *a;
            }
        }
        Ok(ChainMirror {
            t0: chain.time(),
            chain,
            addrs,
            roles: roles.to_vec(),
            submitter: submitter_address(),
            jobs: vec![MirrorJob::default(); scn.jobs.count],
            disputes: BTreeMap::new(),
            pending: Vec::new(),
            fault: None,
            dirty: false,
            compared: 0,
            closes: 0,
            deferred: 0,
            challenges: 0,
            dispute_next: 0,
            both_lose: 0,
            unconserved: false,
        })
    }

    /// Injects a deliberately wrong mapping (tests).
    pub fn set_fault(&mut self, fault: MirrorFault) {
        self.fault = Some(fault);
    }

    /// Whether a transaction was sent since the last [`ChainMirror::take_dirty`].
    pub fn take_dirty(&mut self) -> bool {
        std::mem::take(&mut self.dirty)
    }

    /// What the chain did, as counters: settlements finalized and found equal to the
    /// ledger's, `closeCommits` sent, finalizes deferred to the end of the contract's window,
    /// verifiers' `challenge`s, disputes opened with `disputeNext`, both-lose rulings.
    pub fn counters(&self) -> [(&'static str, u64); 6] {
        [
            ("chain_settlements_compared", self.compared),
            ("chain_close_commits", self.closes),
            ("chain_finalize_deferred", self.deferred),
            ("chain_challenges", self.challenges),
            ("chain_dispute_next", self.dispute_next),
            ("chain_both_lose", self.both_lose),
        ]
    }

    /// The chain's latest block number.
    pub fn block_number(&self) -> u64 {
        self.chain.block_number()
    }

    fn at(&mut self, now_ms: u64) -> std::result::Result<(), Issue> {
        let t = self.t0 + now_ms;
        if t > self.chain.time() {
            self.chain
                .set_time(t)
                .map_err(|e| Issue::Violation(format!("chain time: {e}")))?;
        }
        Ok(())
    }

    fn send(
        &mut self,
        from: Address,
        call: Call,
    ) -> pinpoint_chain::Result<pinpoint_chain::Receipt> {
        let r = self.chain.send_sync(from, &call);
        if r.is_ok() {
            self.dirty = true;
        }
        r
    }

    fn view<C: SolCall>(&self, to: Address, call: C) -> std::result::Result<C::Return, String> {
        let out = self
            .chain
            .call_sync(to, call.abi_encode().into())
            .map_err(|e| format!("view: {e}"))?;
        C::abi_decode_returns(&out).map_err(|e| format!("view decode: {e}"))
    }

    fn balance(&self, who: Address) -> std::result::Result<u128, String> {
        u128_of(self.view(self.chain_addrs().token, PinToken::balanceOfCall(who))?)
    }

    fn chain_addrs(&self) -> pinpoint_chain::Addresses {
        use pinpoint_chain::Settlement;
        self.chain.addresses()
    }

    fn mapped(&self, j: usize) -> bool {
        self.jobs.get(j).is_some_and(|m| m.mapped && m.id.is_some())
    }

    /// Posts job `j` (assigned at `now_ms` to `trainers`, by node index) and lets the trainers
    /// accept.
    pub fn post(
        &mut self,
        j: usize,
        now_ms: u64,
        p: &Posting,
        trainers: &[usize],
    ) -> std::result::Result<(), Issue> {
        let Posting {
            job_id,
            payment,
            bond,
            commit_timeout_ms,
            challenge_window_ms,
        } = *p;
        self.at(now_ms)?;
        let t = self.chain.time();
        let payment = match self.fault {
            Some(MirrorFault::PaymentShortBy(d)) => payment.saturating_sub(u128::from(d)),
            _ => payment,
        };
        let params = JobParams {
            spec_hash: B256::from(job_id),
            payment: U256::from(payment),
            replicas: u8::try_from(trainers.len())
                .map_err(|_| Issue::Violation("more than 255 replicas".into()))?,
            bond: U256::from(bond),
            accept_deadline: t + 1,
            // The protocol refuses a commit at `assigned + timeout`; the contract only after
            // its deadline.
            commit_deadline: (t + commit_timeout_ms).saturating_sub(1),
            challenge_window: challenge_window_ms,
        };
        let r = self
            .send(self.submitter, Call::PostJob(params))
            .map_err(|e| Issue::Violation(format!("job {j}: postJob refused: {e}")))?;
        let id = r
            .posted_job()
            .ok_or_else(|| Issue::Violation(format!("job {j}: postJob emitted no job id")))?;
        for &n in trainers {
            let from = self.addrs[n];
            self.send(from, Call::Accept { job: id })
                .map_err(|e| Issue::Violation(format!("job {j}: accept by node {n}: {e}")))?;
        }
        if let Some(m) = self.jobs.get_mut(j) {
            *m = MirrorJob {
                id: Some(id),
                mapped: true,
                replicas: trainers.len(),
                ..MirrorJob::default()
            };
        }
        Ok(())
    }

    /// Sends trainer `node`'s commit of `root` for job `j`; the chain must accept it exactly
    /// when the simulator's chain did (`sim_accepted`).
    pub fn commit(
        &mut self,
        j: usize,
        now_ms: u64,
        node: usize,
        root: [u8; 32],
        sim_accepted: bool,
    ) -> std::result::Result<(), Issue> {
        if !self.mapped(j) {
            return Ok(());
        }
        self.at(now_ms)?;
        let job = self.jobs[j].id.unwrap_or_default();
        let r = self.send(
            self.addrs[node],
            Call::Commit {
                job,
                root: B256::from(root),
            },
        );
        match (r, sim_accepted) {
            (Ok(_), true) => {
                let m = &mut self.jobs[j];
                m.commits += 1;
                m.window_started |= m.commits == m.replicas;
                Ok(())
            }
            (Err(_), false) => Ok(()),
            (Ok(_), false) => Err(Issue::Violation(format!(
                "job {j}: the chain accepted node {node}'s commit, the protocol refused it"
            ))),
            (Err(e), true) => Err(Issue::Violation(format!(
                "job {j}: the protocol accepted node {node}'s commit, the chain refused it: {e}"
            ))),
        }
    }

    /// The protocol closed job `j`'s commits (its challenge window started or it finalized):
    /// closes them on chain too if some trainer is missing.
    pub fn commits_closed(&mut self, j: usize, now_ms: u64) -> std::result::Result<(), Issue> {
        if !self.mapped(j) || self.jobs[j].window_started {
            return Ok(());
        }
        self.at(now_ms)?;
        let job = self.jobs[j].id.unwrap_or_default();
        self.send(DEFAULT_DEPLOYER, Call::CloseCommits { job })
            .map_err(|e| Issue::Violation(format!("job {j}: closeCommits refused: {e}")))?;
        self.jobs[j].window_started = true;
        self.closes += 1;
        Ok(())
    }

    fn window_end(&self, job: u64) -> std::result::Result<u64, String> {
        let info = self.view(
            self.chain_addrs().market,
            JobMarket::jobInfoCall {
                jobId: U256::from(job),
            },
        )?;
        Ok(info.windowEnd)
    }

    /// Verifier `v` (node index) challenged trainer `trainer`'s root in job `j`, bonding
    /// `bond`, and the protocol accepted it: sends `challenge`, which the chain must accept
    /// too. With no dispute open the chain opens the next dispute at once (kept for
    /// [`ChainMirror::open_dispute`]); else the challenge waits in the chain's queue, as in the
    /// protocol's.
    pub fn challenge(
        &mut self,
        j: usize,
        now_ms: u64,
        v: usize,
        trainer: usize,
        bond: u128,
    ) -> std::result::Result<(), Issue> {
        if !self.mapped(j) {
            return Ok(());
        }
        self.at(now_ms)?;
        let job = self.jobs[j].id.unwrap_or_default();
        let r = self
            .send(
                self.addrs[v],
                Call::Challenge {
                    job,
                    trainer: self.addrs[trainer],
                    bond: U256::from(bond),
                },
            )
            .map_err(|e| {
                Issue::Violation(format!(
                    "job {j}: the protocol accepted node {v}'s challenge of node {trainer}, the \
                     chain refused it: {e}"
                ))
            })?;
        self.challenges += 1;
        self.jobs[j].opened = r.opened_dispute();
        Ok(())
    }

    /// Opens simulated dispute `d` of job `j` between `challenger` and `defendant` (node
    /// indices: two trainers, or a verifier and a trainer), the protocol's next dispute. A
    /// dispute a `challenge` just opened is taken as it is; a replica dispute inside the
    /// contract's window is `openDispute` by the challenger; any other (after the window, or
    /// a queued challenge) is `disputeNext` by a keeper. The chain's parties must be the
    /// protocol's.
    pub fn open_dispute(
        &mut self,
        j: usize,
        d: usize,
        now_ms: u64,
        (c, def): (usize, usize),
    ) -> std::result::Result<(), Issue> {
        if !self.mapped(j) {
            return Ok(());
        }
        self.at(now_ms)?;
        let job = self.jobs[j].id.unwrap_or_default();
        let id = if let Some(id) = self.jobs[j].opened.take() {
            id
        } else {
            let end = self.window_end(job).map_err(Issue::Violation)?;
            let replica = self.roles[c] == Role::Trainer && self.roles[def] == Role::Trainer;
            let (from, call) = if replica && self.chain.time() < end {
                let defendant = self.addrs[def];
                (self.addrs[c], Call::OpenDispute { job, defendant })
            } else {
                self.dispute_next += 1;
                (DEFAULT_DEPLOYER, Call::DisputeNext { job })
            };
            let r = self
                .send(from, call)
                .map_err(|e| Issue::Violation(format!("job {j}: opening dispute {d}: {e}")))?;
            r.opened_dispute()
                .ok_or_else(|| Issue::Violation(format!("job {j}: no dispute id")))?
        };
        let (got_c, got_def) = self.parties(id).map_err(Issue::Violation)?;
        if (got_c, got_def) != (self.addrs[c], self.addrs[def]) {
            return Err(Issue::Violation(format!(
                "job {j}: the chain opened dispute {id} between {got_c} and {got_def}, the \
                 protocol dispute {d} between nodes {c} and {def}"
            )));
        }
        self.disputes.insert(d, id);
        Ok(())
    }

    fn parties(&self, id: u64) -> std::result::Result<(Address, Address), String> {
        let info = self.view(
            self.chain_addrs().market,
            JobMarket::disputeInfoCall {
                disputeId: U256::from(id),
            },
        )?;
        Ok((info.challenger, info.defendant))
    }

    /// Records the verdict of simulated dispute `d` of job `j`: `winner` is the side (0 =
    /// challenger) the simulated committee's majority chose, `None` when both lose.
    pub fn verdict(
        &mut self,
        j: usize,
        d: usize,
        now_ms: u64,
        winner: Option<usize>,
        finding: Finding,
    ) -> std::result::Result<(), Issue> {
        if !self.mapped(j) {
            return Ok(());
        }
        let Some(&id) = self.disputes.get(&d) else {
            return Err(Issue::Violation(format!(
                "job {j}: a verdict for dispute {d}, which is not on chain"
            )));
        };
        self.at(now_ms)?;
        let flip = self.fault == Some(MirrorFault::FlipVerdict);
        let ruling = match winner {
            None => {
                self.both_lose += 1;
                Ruling::BothLose
            }
            Some(0) if !flip => Ruling::ChallengerWins,
            Some(0) => Ruling::DefendantWins,
            Some(_) if !flip => Ruling::DefendantWins,
            Some(_) => Ruling::ChallengerWins,
        };
        let committee = self
            .view(
                self.chain_addrs().market,
                JobMarket::committeeCall {
                    disputeId: U256::from(id),
                },
            )
            .map_err(Issue::Violation)?;
        // The simulated committee's majority is cast by a majority of the contract's.
        let need = committee.len() / 2 + 1;
        for a in committee.into_iter().take(need) {
            self.send(
                a,
                Call::Rule {
                    dispute: id,
                    ruling,
                    finding: finding.clone(),
                },
            )
            .map_err(|e| Issue::Violation(format!("job {j}: vote on dispute {d}: {e}")))?;
        }
        Ok(())
    }

    fn wealth(&self, who: Who) -> std::result::Result<u128, String> {
        let a = self.chain_addrs();
        match who {
            Who::Arbiters => {
                let mut sum = 0u128;
                for n in (0..self.roles.len()).filter(|n| self.roles[*n] == Role::Arbiter) {
                    sum += self.wealth(Who::Node(n))?;
                }
                Ok(sum)
            }
            Who::Node(n) => {
                let addr = self.addrs[n];
                let p = self.view(
                    a.staking,
                    Staking::positionsCall {
                        _0: addr,
                        _1: chain_role(self.roles[n]).index(),
                    },
                )?;
                Ok(self.balance(addr)? + u128_of(p.active)? + u128_of(p.unbonding)?)
            }
            Who::Treasury => self.balance(DEFAULT_TREASURY),
            Who::Submitter => self.balance(self.submitter),
            Who::Burned => u128_of(self.view(a.token, PinToken::burnedCall {})?),
        }
    }

    /// Every account compared at a settlement: each node but the arbiters, the arbiters
    /// together, the treasury, the submitter and the burn.
    pub fn accounts(&self) -> Vec<Who> {
        let mut v: Vec<Who> = (0..self.addrs.len())
            .filter(|n| self.roles[*n] != Role::Arbiter)
            .map(Who::Node)
            .collect();
        v.extend([Who::Arbiters, Who::Treasury, Who::Submitter, Who::Burned]);
        v
    }

    /// The protocol finalized job `j` with wealth changes `expected` (from the ledger):
    /// finalizes on chain now, or as soon as the contract's window ends, and compares.
    pub fn finalize(
        &mut self,
        j: usize,
        now_ms: u64,
        expected: Deltas,
    ) -> std::result::Result<(), Issue> {
        if !self.mapped(j) {
            return Ok(());
        }
        self.commits_closed(j, now_ms)?;
        self.at(now_ms)?;
        let job = self.jobs[j].id.unwrap_or_default();
        let end = self.window_end(job).map_err(Issue::Violation)?;
        if self.chain.time() < end {
            self.pending.push((j, end, expected));
            self.deferred += 1;
            return Ok(());
        }
        self.finalize_now(j, expected)
    }

    fn finalize_now(&mut self, j: usize, expected: Deltas) -> std::result::Result<(), Issue> {
        let job = self.jobs[j].id.unwrap_or_default();
        let who = self.accounts();
        let before: Vec<u128> = who
            .iter()
            .map(|w| self.wealth(*w))
            .collect::<std::result::Result<_, _>>()
            .map_err(Issue::Violation)?;
        let escrow_before = self.escrow().map_err(Issue::Violation)?;
        self.send(DEFAULT_DEPLOYER, Call::Finalize { job })
            .map_err(|e| Issue::Violation(format!("job {j}: finalize refused: {e}")))?;
        self.jobs[j].finalized = true;
        let mut diffs = Vec::new();
        for (w, b) in who.iter().zip(before) {
            let after = self.wealth(*w).map_err(Issue::Violation)?;
            let got = signed(after, b).map_err(Issue::Violation)?;
            let want = expected.get(w).copied().unwrap_or(0);
            if got != want {
                diffs.push(format!("{w:?}: ledger {want:+}, chain {got:+}"));
            }
        }
        let escrow_after = self.escrow().map_err(Issue::Violation)?;
        if diffs.is_empty() && escrow_after > escrow_before {
            diffs.push("escrow grew".into());
        }
        if diffs.is_empty() {
            self.compared += 1;
            Ok(())
        } else {
            Err(Issue::Violation(format!(
                "job {j}: the chain's settlement differs from the ledger's: {}",
                diffs.join("; ")
            )))
        }
    }

    /// Finalizes the jobs whose contract window has ended by `now_ms` (all of them when
    /// `force`, moving the chain's clock to the last window end).
    pub fn flush(&mut self, now_ms: u64, force: bool) -> Vec<Issue> {
        if self.pending.is_empty() {
            return Vec::new();
        }
        let mut issues = Vec::new();
        if force {
            let last = self.pending.iter().map(|p| p.1).max().unwrap_or(0);
            if let Err(e) = self.chain.set_time(last.max(self.chain.time())) {
                issues.push(Issue::Violation(format!("chain time: {e}")));
            }
        } else if let Err(i) = self.at(now_ms) {
            issues.push(i);
        }
        let t = self.chain.time();
        let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|p| p.1 <= t);
        self.pending = later;
        for (j, _, expected) in due {
            if let Err(i) = self.finalize_now(j, expected) {
                issues.push(i);
            }
        }
        issues
    }

    fn escrow(&self) -> std::result::Result<u128, String> {
        u128_of(self.view(self.chain_addrs().market, JobMarket::totalEscrowCall {})?)
    }

    /// Checker: `initial supply − burned = Σ balances + escrow + stakes`, the market holding
    /// exactly the escrow and staking exactly the stakes. A break is reported once per run.
    pub fn check_conservation(&mut self) -> std::result::Result<(), String> {
        if self.unconserved {
            return Ok(());
        }
        let r = self.conserved();
        self.unconserved = r.is_err();
        r
    }

    fn conserved(&self) -> std::result::Result<(), String> {
        let a = self.chain_addrs();
        let initial = u128_of(self.view(a.token, PinToken::INITIAL_SUPPLYCall {})?)?;
        let supply = u128_of(self.view(a.token, PinToken::totalSupplyCall {})?)?;
        let burned = u128_of(self.view(a.token, PinToken::burnedCall {})?)?;
        let staked = u128_of(self.view(a.staking, Staking::totalStakedCall {})?)?;
        let escrow = self.escrow()?;
        let mut balances: u128 = 0;
        for h in self
            .addrs
            .iter()
            .chain([&DEFAULT_DEPLOYER, &DEFAULT_TREASURY, &self.submitter])
        {
            balances += self.balance(*h)?;
        }
        let (held_stake, held_escrow) = (self.balance(a.staking)?, self.balance(a.market)?);
        let ok = initial.checked_sub(burned) == Some(supply)
            && balances
                .checked_add(escrow)
                .and_then(|x| x.checked_add(staked))
                == Some(supply)
            && held_stake == staked
            && held_escrow == escrow;
        if ok {
            Ok(())
        } else {
            Err(format!(
                "chain tokens not conserved: initial {initial}, burned {burned}, supply \
                 {supply}, balances {balances}, escrow {escrow} (market holds {held_escrow}), \
                 stakes {staked} (staking holds {held_stake})"
            ))
        }
    }
}
