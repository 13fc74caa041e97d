//! One dispute scenario, two back ends: [`TestChain`] moves the clock of `Embedded` or of an
//! anvil, and [`Harness`] sends calls as the anvil development accounts (the same addresses
//! on both), checking `supply − burned = balances + escrow + stakes` after every step.

use std::future::Future;

use alloy::{
    node_bindings::AnvilInstance,
    primitives::{Address, B256, Bytes, U256},
    providers::Provider,
};
use anyhow::{Result, bail};
use pinpoint_chain::{
    Call, ChainError, DeployConfig, DisputeInfo, Embedded, Evm, Finding, JobParams, Receipt, Role,
    Ruling, Settlement, Spender, deploy::DEFAULT_TREASURY, dispute_info,
};

use crate::common::*;

/// A chain whose clock a test moves.
pub(crate) trait TestChain: Settlement {
    /// The next transaction's block is at `t` (seconds, not before the last block).
    fn at(&mut self, t: u64) -> impl Future<Output = Result<()>> + Send;
    /// A raw call (for calls `Call` cannot express).
    fn raw(
        &mut self,
        from: Address,
        to: Address,
        data: Bytes,
    ) -> impl Future<Output = pinpoint_chain::Result<Receipt>> + Send;
}

impl TestChain for Embedded {
    async fn at(&mut self, t: u64) -> Result<()> {
        Ok(self.set_time(t)?)
    }
    async fn raw(
        &mut self,
        from: Address,
        to: Address,
        data: Bytes,
    ) -> pinpoint_chain::Result<Receipt> {
        self.execute(from, Some(to), data)
    }
}

impl TestChain for Evm {
    async fn at(&mut self, t: u64) -> Result<()> {
        anvil_next_timestamp(self, t).await?;
        let _: serde_json::Value = self.provider().raw_request("evm_mine".into(), ()).await?;
        anvil_next_timestamp(self, t).await
    }
    async fn raw(
        &mut self,
        from: Address,
        to: Address,
        data: Bytes,
    ) -> pinpoint_chain::Result<Receipt> {
        self.execute(from, Some(to), data).await
    }
}

/// Who is who: anvil's ten development accounts.
pub(crate) struct Cast {
    pub deployer: Address,
    pub submitter: Address,
    /// Three trainers, sorted by address (the contract's and the protocol's order).
    pub trainers: Vec<Address>,
    pub verifier: Address,
    pub arbiters: Vec<Address>,
}

impl Cast {
    pub(crate) fn new(acc: &[Address]) -> Self {
        let mut trainers = acc[2..5].to_vec();
        trainers.sort();
        Cast {
            deployer: acc[0],
            submitter: acc[1],
            trainers,
            verifier: acc[5],
            arbiters: acc[6..10].to_vec(),
        }
    }
    pub(crate) fn all(&self) -> Vec<Address> {
        let mut v = vec![self.deployer, self.submitter, self.verifier];
        v.extend(&self.trainers);
        v.extend(&self.arbiters);
        v
    }
}

/// The dev accounts' addresses, which the embedded chain uses too.
pub(crate) fn dev_accounts() -> Vec<Address> {
    // The standard anvil mnemonic's first ten accounts.
    [
        "f39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
        "70997970C51812dc3A010C7d01b50e0d17dc79C8",
        "3C44CdDdB6a900fa2b585dd299e03d12FA4293BC",
        "90F79bf6EB2c4f870365E785982E1f101E93b906",
        "15d34AAf54267DB7D7c367839AAf71A00a2C6A65",
        "9965507D1a55bcC2695C58ba16FB37d819B0A4dc",
        "976EA74026E726554dB657fA54763abd0C3a0aa9",
        "14dC79964da2C08b23698B3D3cc7Ca32193d9955",
        "23618e81E3f5cdF7f54C3d65f7FBc0aBf5B21E8f",
        "a0Ee7A142d267C1f36714E4a8F75612F20a79720",
    ]
    .iter()
    .map(|h| h.parse().expect("address"))
    .collect()
}

/// A chain with the cast funded and staked: trainers 1 000 PIN trainer stake, the verifier
/// and the first trainer 1 000 PIN verifier stake, each arbiter 2 000 PIN arbiter stake, the
/// submitter 10 000 PIN approved to the market.
pub(crate) struct Harness<C: TestChain> {
    pub c: C,
    pub cast: Cast,
    pub now: u64,
    pub steps: usize,
}

pub(crate) const TRAINER_STAKE: u128 = 1_000;
pub(crate) const ARBITER_STAKE: u128 = 2_000;

impl<C: TestChain> Harness<C> {
    pub(crate) async fn new(c: C) -> Result<Self> {
        let cast = Cast::new(&dev_accounts());
        let now = c.now().await? + 10;
        let mut h = Harness {
            c,
            cast,
            now,
            steps: 0,
        };
        let d = h.cast.deployer;
        let mut stakes: Vec<(Address, Role, u128)> = h
            .cast
            .trainers
            .iter()
            .map(|t| (*t, Role::Trainer, TRAINER_STAKE))
            .collect();
        stakes.push((h.cast.verifier, Role::Verifier, 1_000));
        stakes.push((h.cast.trainers[0], Role::Verifier, 1_000));
        stakes.extend(
            h.cast
                .arbiters
                .iter()
                .map(|a| (*a, Role::Arbiter, ARBITER_STAKE)),
        );
        for who in h.cast.all().into_iter().skip(1) {
            h.ok(
                d,
                Call::Transfer {
                    to: who,
                    amount: pin(10_000),
                },
            )
            .await?;
            for spender in [Spender::Staking, Spender::Market] {
                h.ok(
                    who,
                    Call::Approve {
                        spender,
                        amount: U256::MAX,
                    },
                )
                .await?;
            }
        }
        for (who, role, amount) in stakes {
            h.ok(
                who,
                Call::Stake {
                    role,
                    amount: pin(amount),
                },
            )
            .await?;
        }
        Ok(h)
    }

    /// Moves the clock to `t` (if later).
    pub(crate) async fn wait_until(&mut self, t: u64) -> Result<()> {
        if t > self.now {
            self.now = t;
        }
        self.c.at(self.now).await
    }

    async fn check(&self) -> Result<()> {
        check_conservation(&self.c, &self.cast.all()).await
    }

    /// Sends a call that must succeed; checks conservation.
    pub(crate) async fn ok(&mut self, from: Address, call: Call) -> Result<Receipt> {
        self.now += 1;
        self.c.at(self.now).await?;
        let r = match self.c.send(from, call.clone()).await {
            Ok(r) => r,
            Err(e) => bail!("step {}: {call:?} from {from}: {e}", self.steps),
        };
        self.steps += 1;
        self.check().await?;
        Ok(r)
    }

    /// Sends a call that must revert with a reason containing `needle`; checks that
    /// nothing changed the conservation.
    pub(crate) async fn fails(&mut self, from: Address, call: Call, needle: &str) -> Result<()> {
        self.now += 1;
        self.c.at(self.now).await?;
        match self.c.send(from, call.clone()).await {
            Ok(r) => bail!("{call:?} from {from} succeeded: {:?}", r.events),
            Err(e) => {
                let text = match &e {
                    ChainError::Reverted { reason } => reason.clone(),
                    other => other.to_string(),
                };
                if !text.contains(needle) {
                    bail!("{call:?} from {from}: expected {needle:?}, got {text}");
                }
            }
        }
        self.check().await
    }

    /// Sends raw calldata to `to` that must revert with `needle` in its reason.
    pub(crate) async fn fails_raw(
        &mut self,
        from: Address,
        to: Address,
        data: Vec<u8>,
        needle: &str,
    ) -> Result<()> {
        self.now += 1;
        self.c.at(self.now).await?;
        match self.c.raw(from, to, data.into()).await {
            Ok(r) => bail!("raw call from {from} succeeded: {:?}", r.events),
            Err(e) if e.to_string().contains(needle) => self.check().await,
            Err(e) => bail!("raw call from {from}: expected {needle:?}, got {e}"),
        }
    }

    /// An account's tokens: balance plus its stakes (active and unbonding) in every role.
    pub(crate) async fn wealth(&self, who: Address) -> Result<U256> {
        let mut w = self.c.balance_of(who).await?;
        for role in Role::ALL {
            let p = self.c.position(who, role).await?;
            w += p.active + p.unbonding;
        }
        Ok(w)
    }

    /// Wealth of `who`, the treasury and the burn, in that order.
    pub(crate) async fn snapshot(&self, who: &[Address]) -> Result<Vec<U256>> {
        let mut v = Vec::new();
        for a in who {
            v.push(self.wealth(*a).await?);
        }
        v.push(self.c.balance_of(DEFAULT_TREASURY).await?);
        v.push(self.c.totals().await?.burned);
        Ok(v)
    }

    /// Posts a job of `replicas` (payment `payment`, bond `bond` base units, 50 s window), lets
    /// the first `replicas` trainers accept and commit `roots`; returns its id.
    pub(crate) async fn committed_job(
        &mut self,
        payment: U256,
        bond: U256,
        roots: &[u8],
    ) -> Result<u64> {
        let now = self.now;
        let r = self
            .ok(
                self.cast.submitter,
                Call::PostJob(JobParams {
                    spec_hash: B256::repeat_byte(7),
                    payment,
                    replicas: roots.len() as u8,
                    bond,
                    accept_deadline: now + 100,
                    commit_deadline: now + 200,
                    challenge_window: 50,
                }),
            )
            .await?;
        let job = r.posted_job().expect("job id");
        for t in self.cast.trainers.clone().into_iter().take(roots.len()) {
            self.ok(t, Call::Accept { job }).await?;
        }
        for (t, root) in self.cast.trainers.clone().into_iter().zip(roots) {
            self.ok(
                t,
                Call::Commit {
                    job,
                    root: B256::repeat_byte(*root),
                },
            )
            .await?;
        }
        Ok(job)
    }

    pub(crate) async fn dispute(&self, id: u64) -> Result<DisputeInfo> {
        Ok(dispute_info(&self.c, id).await?.expect("dispute exists"))
    }

    /// The first `n` members of dispute `id`'s committee vote `ruling`.
    pub(crate) async fn votes(&mut self, id: u64, n: usize, ruling: Ruling) -> Result<Receipt> {
        let members = self.dispute(id).await?.committee;
        let mut last = None;
        for m in members.into_iter().take(n) {
            last = Some(
                self.ok(
                    m,
                    Call::Rule {
                        dispute: id,
                        ruling,
                        finding: finding(),
                    },
                )
                .await?,
            );
        }
        Ok(last.expect("at least one vote"))
    }

    /// The window end of `job` (from `jobInfo`).
    pub(crate) async fn window_end(&self, job: u64) -> Result<u64> {
        let m = self.c.addresses().market;
        Ok(self
            .c
            .view(
                m,
                pinpoint_chain::bindings::JobMarket::jobInfoCall {
                    jobId: U256::from(job),
                },
            )
            .await?
            .windowEnd)
    }
}

pub(crate) fn finding() -> Finding {
    Finding {
        step: 4,
        node: 11,
        challengerHash: B256::repeat_byte(0xc),
        defendantHash: B256::repeat_byte(0xd),
        refereeHash: B256::repeat_byte(0xc),
    }
}

/// A fresh embedded chain with `cfg`.
pub(crate) async fn on_embedded(cfg: &DeployConfig) -> Result<Harness<Embedded>> {
    Harness::new(Embedded::in_memory(cfg)?).await
}

/// A fresh anvil with `cfg` deployed; keep the instance alive while the harness is used.
pub(crate) async fn on_anvil(cfg: &DeployConfig) -> Result<(AnvilInstance, Harness<Evm>)> {
    let anvil = spawn_anvil();
    let (evm, acc) = deploy_on_anvil(&anvil, cfg).await?;
    assert_eq!(acc, dev_accounts());
    let h = Harness::new(evm).await?;
    Ok((anvil, h))
}

/// Runs `scenario` on both back ends: `both!(name, cfg_fn, scenario_fn)` makes the tests
/// `name::embedded` and `name::anvil`.
#[macro_export]
macro_rules! both {
    ($name:ident, $cfg:expr, $scenario:path) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[tokio::test]
            async fn embedded() -> anyhow::Result<()> {
                let h = $crate::harness::on_embedded(&$cfg).await?;
                $scenario(h).await
            }
            #[tokio::test]
            async fn anvil() -> anyhow::Result<()> {
                let (_anvil, h) = $crate::harness::on_anvil(&$cfg).await?;
                $scenario(h).await
            }
        }
    };
}
