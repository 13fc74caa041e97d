//! A seeded generator of random operation sequences (valid and invalid ones), shared by the
//! differential and the invariant tests.

use alloy::primitives::{Address, B256, U256};
use pinpoint_chain::{
    Call, ChainEvent, Finding, JobParams, PIN, Receipt, Result, Role, Ruling, Spender,
    bindings::JobMarket::JobMarketEvents,
};

/// splitmix64: small, seeded, no dependency.
pub(crate) struct Rng(pub u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len() as u64) as usize]
    }
    fn pins(&mut self, max_pins: u64) -> U256 {
        U256::from(self.below(max_pins + 1) as u128 * PIN + self.below(1_000) as u128)
    }
}

/// The random sequence's state: what it has seen posted and opened.
pub(crate) struct OpGen {
    pub rng: Rng,
    pub actors: Vec<Address>,
    pub arbiter: Address,
    pub jobs: u64,
    pub disputes: u64,
    pub now: u64,
    /// (job, trainer) pairs seen accepted.
    pub accepted: Vec<(u64, Address)>,
    /// (job, trainer) pairs seen committed.
    pub committed: Vec<(u64, Address)>,
    /// Jobs whose challenge window was seen starting.
    pub windows: Vec<u64>,
    /// Disputes seen opened and not yet seen decided or expired.
    pub open: Vec<u64>,
    /// (job, replicas, accept deadline, commit deadline) of the jobs seen posted.
    pub posted: Vec<(u64, u8, u64, u64)>,
    /// Jobs seen finalized or cancelled.
    pub over: Vec<u64>,
}

impl OpGen {
    pub(crate) fn new(seed: u64, actors: Vec<Address>, now: u64) -> Self {
        let arbiter = actors[actors.len() - 1];
        OpGen {
            rng: Rng(seed),
            actors,
            arbiter,
            jobs: 0,
            disputes: 0,
            now,
            accepted: Vec::new(),
            committed: Vec::new(),
            windows: Vec::new(),
            open: Vec::new(),
            posted: Vec::new(),
            over: Vec::new(),
        }
    }

    /// Setup: fund the actors from `deployer`, approve both contracts, stake every actor as a
    /// trainer and the first three as verifiers, make `arbiter` one (with three times the
    /// minimum, so that it stays one after a missed-vote penalty).
    pub(crate) fn setup(&self, deployer: Address) -> Vec<(Address, Call)> {
        let mut v = Vec::new();
        for &a in &self.actors {
            v.push((
                deployer,
                Call::Transfer {
                    to: a,
                    amount: U256::from(50_000 * PIN),
                },
            ));
            for spender in [Spender::Staking, Spender::Market] {
                v.push((
                    a,
                    Call::Approve {
                        spender,
                        amount: U256::MAX,
                    },
                ));
            }
            v.push((
                a,
                Call::Stake {
                    role: Role::Trainer,
                    amount: U256::from(2_000 * PIN),
                },
            ));
        }
        for &a in self.actors.iter().take(3) {
            v.push((
                a,
                Call::Stake {
                    role: Role::Verifier,
                    amount: U256::from(1_500 * PIN),
                },
            ));
        }
        v.push((
            self.arbiter,
            Call::Stake {
                role: Role::Arbiter,
                amount: U256::from(3_000 * PIN),
            },
        ));
        v
    }

    /// A scripted job with a dispute and a verdict (job 1, dispute 1), so that every random
    /// sequence compares at least one full dispute.
    pub(crate) fn scripted_dispute(&self) -> Vec<(u64, Address, Call)> {
        let (s, t1, t2) = (self.actors[0], self.actors[1], self.actors[2]);
        let finding = Finding {
            step: 5,
            node: 9,
            challengerHash: B256::repeat_byte(1),
            defendantHash: B256::repeat_byte(2),
            refereeHash: B256::repeat_byte(1),
        };
        vec![
            (
                1,
                s,
                Call::PostJob(JobParams {
                    spec_hash: B256::repeat_byte(9),
                    payment: U256::from(777 * PIN + 3),
                    replicas: 2,
                    bond: U256::from(150 * PIN),
                    accept_deadline: self.now + 1_000,
                    commit_deadline: self.now + 2_000,
                    challenge_window: 5,
                }),
            ),
            (1, t1, Call::Accept { job: 1 }),
            (1, t2, Call::Accept { job: 1 }),
            (
                1,
                t1,
                Call::Commit {
                    job: 1,
                    root: B256::repeat_byte(1),
                },
            ),
            (
                1,
                t2,
                Call::Commit {
                    job: 1,
                    root: B256::repeat_byte(2),
                },
            ),
            (
                1,
                t2,
                Call::OpenDispute {
                    job: 1,
                    defendant: t1,
                },
            ),
            (
                1,
                self.arbiter,
                Call::Vote {
                    dispute: 1,
                    challenger_wins: false,
                    finding,
                },
            ),
            (10, s, Call::Finalize { job: 1 }),
        ]
    }

    /// The next operation and the seconds to advance before it.
    pub(crate) fn next(&mut self) -> (u64, Address, Call) {
        let guided = match self.rng.below(8) {
            0..=2 => self.dispute_op(),
            3 | 4 => self.progress_op(),
            _ => None,
        };
        if let Some(op) = guided {
            return op;
        }
        let dt = self.rng.below(40);
        self.now += dt;
        let r = &mut self.rng;
        let from = r.pick(&self.actors);
        let job = if r.below(5) == 0 {
            1 + r.below(self.jobs + 1)
        } else {
            self.jobs.saturating_sub(r.below(2)).max(1)
        };
        let role = r.pick(&Role::ALL);
        let call = match r.below(32) {
            0 => Call::Transfer {
                to: r.pick(&self.actors),
                amount: r.pins(3_000),
            },
            1 => Call::Approve {
                spender: r.pick(&[Spender::Staking, Spender::Market]),
                amount: if r.below(4) == 0 {
                    r.pins(500)
                } else {
                    U256::MAX
                },
            },
            2 => Call::Burn { amount: r.pins(10) },
            3 | 4 => Call::Stake {
                role,
                amount: r.pins(1_500),
            },
            5 => Call::RequestUnstake {
                role,
                amount: r.pins(800),
            },
            6 => Call::Withdraw { role },
            7 | 8 => Call::PostJob(JobParams {
                spec_hash: B256::from(U256::from(r.below(1 << 20))),
                payment: r.pins(3_000),
                replicas: 1 + r.below(2) as u8,
                bond: r.pins(200),
                accept_deadline: self.now + 300 + r.below(300),
                commit_deadline: self.now + 700 + r.below(300),
                challenge_window: 60 + r.below(240),
            }),
            9..=11 | 21..=23 => Call::Accept { job },
            12 | 13 | 24 | 25 => {
                let trainers: Vec<Address> = self
                    .accepted
                    .iter()
                    .filter(|(j, _)| *j == job)
                    .map(|(_, t)| *t)
                    .collect();
                let who = if trainers.is_empty() || r.below(4) == 0 {
                    from
                } else {
                    r.pick(&trainers)
                };
                return (
                    dt,
                    who,
                    Call::Commit {
                        job,
                        root: B256::repeat_byte(1 + r.below(2) as u8),
                    },
                );
            }
            14 => Call::CloseCommits { job },
            15 | 28 | 29 => {
                let trainers: Vec<Address> = self
                    .accepted
                    .iter()
                    .filter(|(j, _)| *j == job)
                    .map(|(_, t)| *t)
                    .collect();
                if trainers.len() < 2 || r.below(4) == 0 {
                    Call::OpenDispute {
                        job,
                        defendant: r.pick(&self.actors),
                    }
                } else {
                    let (c, d) = (r.pick(&trainers), r.pick(&trainers));
                    return (dt, c, Call::OpenDispute { job, defendant: d });
                }
            }
            16 | 20 | 30 | 31 => {
                let finding = Finding {
                    step: r.below(100),
                    node: r.below(50),
                    challengerHash: B256::repeat_byte(1),
                    defendantHash: B256::repeat_byte(2),
                    refereeHash: B256::repeat_byte(1 + r.below(2) as u8),
                };
                let voter = if r.below(4) == 0 { from } else { self.arbiter };
                return (
                    dt,
                    voter,
                    Call::Vote {
                        dispute: 1 + r.below(self.disputes + 1),
                        challenger_wins: r.below(2) == 0,
                        finding,
                    },
                );
            }
            17 | 18 => Call::Finalize { job },
            19 => Call::Cancel { job },
            // Registry calls: the contract stores signatures unchecked, so random bytes are a
            // valid input for it (readers filter them); bad lengths and roles revert.
            26 => Call::RegisterNode {
                node_id: B256::from(U256::from(r.below(4))),
                roles: r.pick(&[1u8, 1, 1, 3, 8, 9, 0, 16]),
                endpoint: "n".repeat(if r.below(6) == 0 {
                    0
                } else {
                    1 + r.below(3) as usize
                }),
                signature: vec![r.below(256) as u8; if r.below(5) == 0 { 63 } else { 64 }].into(),
            },
            27 => Call::DeregisterNode,
            _ => unreachable!(),
        };
        (dt, from, call)
    }

    /// An accept or a commit that moves one of the last jobs seen posted towards its window
    /// (or `None` if none is waiting): random senders and roots, so that replicas disagree
    /// about half of the time.
    fn progress_op(&mut self) -> Option<(u64, Address, Call)> {
        let dt = self.rng.below(15);
        self.now += dt;
        let recent: Vec<(u64, u8, u64, u64)> = self.posted.iter().rev().take(3).copied().collect();
        for (job, replicas, accept_by, commit_by) in recent {
            if self.over.contains(&job) {
                continue;
            }
            let accepted: Vec<Address> = self
                .accepted
                .iter()
                .filter(|(j, _)| *j == job)
                .map(|(_, t)| *t)
                .collect();
            if accepted.len() < usize::from(replicas) {
                if self.now >= accept_by {
                    continue;
                }
                let free: Vec<Address> = self
                    .actors
                    .iter()
                    .copied()
                    .filter(|a| !accepted.contains(a))
                    .collect();
                return Some((dt, self.rng.pick(&free), Call::Accept { job }));
            }
            let pending: Vec<Address> = accepted
                .iter()
                .copied()
                .filter(|t| !self.committed.contains(&(job, *t)))
                .collect();
            if !pending.is_empty() && self.now < commit_by {
                let root = B256::repeat_byte(1 + self.rng.below(2) as u8);
                return Some((dt, self.rng.pick(&pending), Call::Commit { job, root }));
            }
        }
        // Nothing to move on: post a job with up to three replicas.
        let r = &mut self.rng;
        let from = r.pick(&self.actors);
        let params = JobParams {
            spec_hash: B256::from(U256::from(r.below(1 << 20))),
            payment: r.pins(2_000),
            replicas: 1 + r.below(3) as u8,
            bond: r.pins(200),
            accept_deadline: self.now + 200 + r.below(200),
            commit_deadline: self.now + 500 + r.below(200),
            challenge_window: 100 + r.below(200),
        };
        Some((dt, from, Call::PostJob(params)))
    }

    /// An operation on the dispute path of a job the sequence has seen reach its window (or
    /// `None` if there is none yet): challenges, replica disputes, rulings (both lose
    /// included), re-draws and the seed, from plausible and from wrong senders.
    fn dispute_op(&mut self) -> Option<(u64, Address, Call)> {
        let dt = self.rng.below(10);
        self.now += dt;
        let r = &mut self.rng;
        let finding = Finding {
            step: r.below(100),
            node: r.below(50),
            challengerHash: B256::repeat_byte(1),
            defendantHash: B256::repeat_byte(2),
            refereeHash: B256::repeat_byte(1 + r.below(2) as u8),
        };
        if !self.open.is_empty() && r.below(3) != 0 {
            let dispute = r.pick(&self.open);
            // Every fifth dispute gets no arbiter's vote: its committee misses the deadline,
            // is re-drawn (and penalized) until the job is cancelled.
            let stalled = dispute.is_multiple_of(5);
            let voter = if stalled || r.below(5) == 0 {
                r.pick(&self.actors[..self.actors.len() - 1])
            } else {
                self.arbiter
            };
            let extra = if stalled { r.below(60) } else { 0 };
            self.now += extra;
            let dt = dt + extra;
            let call = match r.below(6) {
                0 => Call::Redraw { dispute },
                1 => Call::Rule {
                    dispute,
                    ruling: Ruling::BothLose,
                    finding,
                },
                _ => Call::Vote {
                    dispute,
                    challenger_wins: r.below(2) == 0,
                    finding,
                },
            };
            return Some((dt, voter, call));
        }
        if self.windows.is_empty() {
            return None;
        }
        let live: Vec<u64> = self
            .windows
            .iter()
            .copied()
            .filter(|j| !self.over.contains(j))
            .collect();
        let job = match (live.last(), r.below(5)) {
            (Some(j), 1..) => *j,
            _ => r.pick(&self.windows),
        };
        let trainers: Vec<Address> = self
            .committed
            .iter()
            .filter(|(j, _)| *j == job)
            .map(|(_, t)| *t)
            .collect();
        let trainer = if trainers.is_empty() || r.below(6) == 0 {
            r.pick(&self.actors)
        } else {
            r.pick(&trainers)
        };
        let from = r.pick(&self.actors);
        let call = match r.below(5) {
            0 | 1 => Call::Challenge {
                job,
                trainer,
                bond: r.pins(250),
            },
            2 => Call::DisputeNext { job },
            3 => Call::FixSeed { job },
            _ => {
                let challenger = if trainers.is_empty() {
                    from
                } else {
                    r.pick(&trainers)
                };
                return Some((
                    dt,
                    challenger,
                    Call::OpenDispute {
                        job,
                        defendant: trainer,
                    },
                ));
            }
        };
        Some((dt, from, call))
    }

    /// Learns job and dispute ids from an outcome.
    pub(crate) fn observe(&mut self, out: &Result<Receipt>) {
        if let Ok(r) = out {
            if let Some(j) = r.posted_job() {
                self.jobs = self.jobs.max(j);
            }
            for e in &r.events {
                if let ChainEvent::Market(JobMarketEvents::JobPosted(p)) = e {
                    self.posted.push((
                        p.jobId.to::<u64>(),
                        p.replicas,
                        p.acceptDeadline,
                        p.commitDeadline,
                    ));
                }
            }
            for e in &r.events {
                if let pinpoint_chain::ChainEvent::Market(
                    pinpoint_chain::bindings::JobMarket::JobMarketEvents::JobAccepted(a),
                ) = e
                {
                    self.accepted.push((a.jobId.to::<u64>(), a.trainer));
                }
                match e {
                    ChainEvent::Market(JobMarketEvents::RootCommitted(c)) => {
                        self.committed.push((c.jobId.to::<u64>(), c.trainer));
                    }
                    ChainEvent::Market(JobMarketEvents::ChallengeWindowStarted(w)) => {
                        self.windows.push(w.jobId.to::<u64>());
                    }
                    ChainEvent::Market(JobMarketEvents::DisputeOpened(d)) => {
                        self.open.push(d.disputeId.to::<u64>());
                    }
                    ChainEvent::Market(JobMarketEvents::Verdict(v)) => {
                        let id = v.disputeId.to::<u64>();
                        self.open.retain(|d| *d != id);
                    }
                    ChainEvent::Market(JobMarketEvents::DisputeExpired(x)) => {
                        let id = x.disputeId.to::<u64>();
                        self.open.retain(|d| *d != id);
                    }
                    ChainEvent::Market(JobMarketEvents::JobFinalized(f)) => {
                        self.over.push(f.jobId.to::<u64>());
                    }
                    ChainEvent::Market(JobMarketEvents::JobCancelled(c)) => {
                        self.over.push(c.jobId.to::<u64>());
                    }
                    _ => {}
                }
            }
            if let Some(d) = r.opened_dispute() {
                self.disputes = self.disputes.max(d);
            }
        }
    }
}
