//! A seeded generator of random operation sequences (valid and invalid ones), shared by the
//! differential and the invariant tests.

use alloy::primitives::{Address, B256, U256};
use pinpoint_chain::{Call, Finding, JobParams, PIN, Receipt, Result, Role, Spender};

/// splitmix64: small, seeded, no dependency.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: u64) -> u64 {
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
pub struct OpGen {
    pub rng: Rng,
    pub actors: Vec<Address>,
    pub arbiter: Address,
    pub jobs: u64,
    pub disputes: u64,
    pub now: u64,
    /// (job, trainer) pairs seen accepted.
    pub accepted: Vec<(u64, Address)>,
}

impl OpGen {
    pub fn new(seed: u64, actors: Vec<Address>, now: u64) -> Self {
        let arbiter = actors[actors.len() - 1];
        OpGen {
            rng: Rng(seed),
            actors,
            arbiter,
            jobs: 0,
            disputes: 0,
            now,
            accepted: Vec::new(),
        }
    }

    /// Setup: fund the actors from `deployer`, approve both contracts, make `arbiter` one.
    pub fn setup(&self, deployer: Address) -> Vec<(Address, Call)> {
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
        v.push((
            self.arbiter,
            Call::Stake {
                role: Role::Arbiter,
                amount: U256::from(1_000 * PIN),
            },
        ));
        v
    }

    /// A scripted job with a dispute and a verdict (job 1, dispute 1), so that every random
    /// sequence compares at least one full dispute.
    pub fn scripted_dispute(&self) -> Vec<(u64, Address, Call)> {
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
    pub fn next(&mut self) -> (u64, Address, Call) {
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
                challenge_window: 30 + r.below(120),
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

    /// Learns job and dispute ids from an outcome.
    pub fn observe(&mut self, out: &Result<Receipt>) {
        if let Ok(r) = out {
            if let Some(j) = r.posted_job() {
                self.jobs = self.jobs.max(j);
            }
            for e in &r.events {
                if let pinpoint_chain::ChainEvent::Market(
                    pinpoint_chain::bindings::JobMarket::JobMarketEvents::JobAccepted(a),
                ) = e
                {
                    self.accepted.push((a.jobId.to::<u64>(), a.trainer));
                }
            }
            if let Some(d) = r.opened_dispute() {
                self.disputes = self.disputes.max(d);
            }
        }
    }
}
