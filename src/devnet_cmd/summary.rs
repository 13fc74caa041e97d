//! The devnet's summary, read from the chain after the job finalized: the disputes (the
//! disputed step and operator, named from the job's step graph), verdicts, slashing, payouts,
//! fee burn and treasury, and the checks that the run went as the protocol promises (the
//! cheater lost, nobody honest did, every token accounted for). Printed as text or JSON.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use pinpoint_actors::conduct::Cheat;
use pinpoint_chain::bindings::JobMarket::JobMarketEvents;
use pinpoint_chain::bindings::Staking::StakingEvents;
use pinpoint_chain::{Address, B256, ChainEvent, LoggedEvent, Role, Settlement, Totals, U256};
use pinpoint_train::JobSpec;
use pinpoint_train::trainer::step::StepPlan;
use serde_json::{Value, json};

use super::progress::ruling_text;
use crate::chain_cmd::pin;

/// A node as the summary names it.
#[derive(Debug, Clone)]
pub(super) struct Account {
    /// `trainer-2`, …
    pub(super) name: String,
    /// Its role (`None`: the submitter).
    pub(super) role: Option<Role>,
    /// Its EVM account.
    pub(super) account: Address,
    /// How it cheats.
    pub(super) cheat: Option<Cheat>,
}

/// What the summary is computed from.
#[derive(Debug)]
pub(super) struct Inputs<'a> {
    /// The job.
    pub(super) spec: &'a JobSpec,
    /// Its chain id.
    pub(super) job: u64,
    /// The payment escrowed.
    pub(super) payment: U256,
    /// The devnet's accounts (every node).
    pub(super) accounts: &'a [Account],
    /// Other token holders: the deployer, the treasury, the contracts.
    pub(super) others: Vec<(String, Address, U256)>,
    /// Every node's balance after the job.
    pub(super) balances: Vec<U256>,
    /// Totals before the job was posted, and after it finalized.
    pub(super) before: Totals,
    /// See `before`.
    pub(super) after: Totals,
    /// The treasury's balance before and after.
    pub(super) treasury: (U256, U256),
    /// Every chain event.
    pub(super) events: &'a [LoggedEvent],
    /// Query rounds per dispute, as the referees reported them.
    pub(super) rounds: BTreeMap<u64, u32>,
    /// Wall time from start to finalization.
    pub(super) wall_s: f64,
}

/// The chain before the job: its totals and the treasury's balance.
#[derive(Debug, Clone, Copy)]
pub(super) struct Before {
    totals: Totals,
    treasury: Address,
    treasury_balance: U256,
}

impl Before {
    /// Reads `chain` (whose fee goes to `treasury`).
    pub(super) async fn read<S: Settlement>(chain: &S, treasury: Address) -> anyhow::Result<Self> {
        Ok(Self {
            totals: chain.totals().await?,
            treasury,
            treasury_balance: chain.balance_of(treasury).await?,
        })
    }
}

/// Reads `chain` after `job` finalized (every account, contract and event) and computes the
/// summary: the same for every chain and every way the nodes run.
#[allow(clippy::too_many_arguments)]
pub(super) async fn read<S: Settlement>(
    chain: &S,
    spec: &JobSpec,
    job: u64,
    payment: U256,
    accounts: &[Account],
    before: Before,
    rounds: BTreeMap<u64, u32>,
    wall_s: f64,
) -> anyhow::Result<Summary> {
    let a = chain.addresses();
    let mut balances = Vec::new();
    for n in accounts {
        balances.push(chain.balance_of(n.account).await?);
    }
    let deployer = pinpoint_chain::deploy::DEFAULT_DEPLOYER;
    let mut others = Vec::new();
    for (name, addr) in [
        ("deployer", deployer),
        ("treasury", before.treasury),
        ("Staking", a.staking),
        ("JobMarket", a.market),
    ] {
        others.push((name.to_string(), addr, chain.balance_of(addr).await?));
    }
    let after = chain.totals().await?;
    let events = chain.events_since(0).await?;
    let treasury_after = chain.balance_of(before.treasury).await?;
    Ok(Summary::new(&Inputs {
        spec,
        job,
        payment,
        accounts,
        others,
        balances,
        before: before.totals,
        treasury: (before.treasury_balance, treasury_after),
        after,
        events: &events,
        rounds,
        wall_s,
    }))
}

/// One dispute and its verdict.
#[derive(Debug, Clone)]
pub(super) struct Dispute {
    id: u64,
    challenger: Address,
    defendant: Address,
    ruling: u8,
    /// The last agreed step `lo` (the disputed step is `lo → lo + 1`).
    step: u64,
    /// The re-run operator (1-based; 0 for a forfeit).
    node: u64,
    operator: String,
    votes: usize,
    rounds: Option<u32>,
}

/// One slashing.
#[derive(Debug, Clone)]
struct Slash {
    who: Address,
    amount: U256,
    winner: Address,
    to_winner: U256,
    to_arbiters: U256,
    burned: U256,
}

/// The job's payout.
#[derive(Debug, Clone, Copy, Default)]
struct Payout {
    honest: U256,
    fee: U256,
    burned: U256,
    to_treasury: U256,
    to_trainers: U256,
}

/// One check and whether it held.
#[derive(Debug, Clone)]
pub(super) struct Check {
    what: String,
    ok: bool,
}

/// The summary.
#[derive(Debug)]
pub(super) struct Summary {
    job: u64,
    steps: u64,
    wall_s: f64,
    names: Vec<(Address, String)>,
    cheater: Option<(Address, Cheat)>,
    disputes: Vec<Dispute>,
    slashed: Vec<Slash>,
    paid: Vec<(Address, U256)>,
    /// The roots committed for the job, in chain order.
    roots: Vec<(Address, B256)>,
    /// Every node's, the deployer's, the treasury's and the contracts' balance after the job.
    balances: Vec<(Address, U256)>,
    payout: Option<Payout>,
    after: Totals,
    treasury: U256,
    checks: Vec<Check>,
}

fn u64_of(x: U256) -> u64 {
    x.try_into().unwrap_or(u64::MAX)
}

/// The graph position `node` (1-based) of step `lo → lo + 1` of `spec`, in words.
pub(super) fn operator(spec: &JobSpec, lo: u64, node: u64) -> String {
    if node == 0 {
        return "none: a party forfeited (silent or a bad proof)".into();
    }
    let graph = StepPlan::new(spec, None).and_then(|mut p| {
        p.set_step(lo + 1)?;
        Ok(p.graph().clone())
    });
    let g = match graph {
        Ok(g) => g,
        Err(e) => return format!("#{node} (the step graph cannot be built: {e})"),
    };
    let n = g.nodes.len() as u64;
    match usize::try_from(node - 1).ok().and_then(|i| g.nodes.get(i)) {
        Some(v) => format!("#{node} of {n}: {}", v.describe()),
        None if node == n + 1 => format!("#{node}: the state assembly after the {n} operators"),
        None => format!("#{node} (beyond the {n} operators)"),
    }
}

/// The operators in step `1`'s graph of `spec` (every step has the same graph shape).
pub(super) fn operator_count(spec: &JobSpec) -> anyhow::Result<u64> {
    let plan = StepPlan::new(spec, None)?;
    Ok(plan.graph().nodes.len() as u64)
}

impl Summary {
    /// Reads the summary and runs the checks.
    pub(super) fn new(i: &Inputs<'_>) -> Self {
        let mut names: Vec<(Address, String)> = i
            .accounts
            .iter()
            .map(|a| (a.account, a.name.clone()))
            .collect();
        names.extend(i.others.iter().map(|(n, a, _)| (*a, n.clone())));
        let cheater = i
            .accounts
            .iter()
            .find_map(|a| a.cheat.map(|c| (a.account, c)));
        let mut s = Self {
            job: i.job,
            steps: i.spec.steps,
            wall_s: i.wall_s,
            names,
            cheater,
            disputes: Vec::new(),
            slashed: Vec::new(),
            paid: Vec::new(),
            roots: Vec::new(),
            balances: i
                .accounts
                .iter()
                .map(|a| a.account)
                .zip(i.balances.iter().copied())
                .chain(i.others.iter().map(|(_, a, b)| (*a, *b)))
                .collect(),
            payout: None,
            after: i.after,
            treasury: i.treasury.1,
            checks: Vec::new(),
        };
        s.read_events(i);
        s.check(i);
        s
    }

    fn read_events(&mut self, i: &Inputs<'_>) {
        let mut votes: Vec<u64> = Vec::new();
        for e in i.events {
            match &e.event {
                ChainEvent::Market(JobMarketEvents::VoteCast(v)) => {
                    votes.push(u64_of(v.disputeId));
                }
                ChainEvent::Market(JobMarketEvents::Verdict(v)) if u64_of(v.jobId) == i.job => {
                    let id = u64_of(v.disputeId);
                    let (step, node) = (v.finding.step, v.finding.node);
                    self.disputes.push(Dispute {
                        id,
                        challenger: v.challenger,
                        defendant: v.defendant,
                        ruling: v.ruling,
                        step,
                        node,
                        operator: operator(i.spec, step, node),
                        votes: 0,
                        rounds: i.rounds.get(&id).copied(),
                    });
                }
                ChainEvent::Market(JobMarketEvents::RootCommitted(c))
                    if u64_of(c.jobId) == i.job =>
                {
                    self.roots.push((c.trainer, c.root));
                }
                ChainEvent::Market(JobMarketEvents::TrainerPaid(p)) if u64_of(p.jobId) == i.job => {
                    self.paid.push((p.trainer, p.amount));
                }
                ChainEvent::Market(JobMarketEvents::JobFinalized(f))
                    if u64_of(f.jobId) == i.job =>
                {
                    self.payout = Some(Payout {
                        honest: f.honest,
                        fee: f.fee,
                        burned: f.burned,
                        to_treasury: f.toTreasury,
                        to_trainers: f.toTrainers,
                    });
                }
                ChainEvent::Staking(StakingEvents::Slashed(x)) => self.slashed.push(Slash {
                    who: x.who,
                    amount: x.amount,
                    winner: x.winner,
                    to_winner: x.toWinner,
                    to_arbiters: x.toArbiters,
                    burned: x.burned,
                }),
                _ => {}
            }
        }
        for d in &mut self.disputes {
            d.votes = votes.iter().filter(|v| **v == d.id).count();
        }
    }

    fn name(&self, a: Address) -> String {
        self.names
            .iter()
            .find(|(x, _)| *x == a)
            .map_or_else(|| a.to_string(), |(_, n)| n.clone())
    }

    fn expect(&mut self, ok: bool, what: impl Into<String>) {
        self.checks.push(Check {
            what: what.into(),
            ok,
        });
    }

    /// The loser of a dispute (`None`: both lost, or an unknown ruling).
    fn loser(d: &Dispute) -> Option<Address> {
        match d.ruling {
            0 => Some(d.challenger),
            1 => Some(d.defendant),
            _ => None,
        }
    }

    fn check(&mut self, i: &Inputs<'_>) {
        let trainers: Vec<Address> = i
            .accounts
            .iter()
            .filter(|a| a.role == Some(Role::Trainer))
            .map(|a| a.account)
            .collect();
        let cheater = self.cheater.map(|c| c.0);
        let honest_trainers: Vec<Address> = trainers
            .iter()
            .copied()
            .filter(|t| Some(*t) != cheater)
            .collect();
        match self.cheater {
            Some((who, cheat)) => {
                let name = self.name(who);
                let in_disputes: Vec<Dispute> = self
                    .disputes
                    .iter()
                    .filter(|d| d.challenger == who || d.defendant == who)
                    .cloned()
                    .collect();
                self.expect(
                    !in_disputes.is_empty(),
                    format!("the cheater ({name}) was disputed"),
                );
                self.expect(
                    in_disputes.iter().all(|d| Self::loser(d) == Some(who)),
                    format!("{name} lost every dispute it was in"),
                );
                self.expect(
                    in_disputes
                        .iter()
                        .any(|d| (d.step + 1, d.node) == (cheat.step, cheat.node)),
                    format!(
                        "the referee re-ran the corrupted operator (#{} of step {} → {})",
                        cheat.node,
                        cheat.step - 1,
                        cheat.step
                    ),
                );
                self.expect(
                    self.slashed.iter().any(|s| s.who == who),
                    format!("{name} was slashed"),
                );
                self.expect(
                    !self.paid.iter().any(|(t, _)| *t == who),
                    format!("{name} was not paid"),
                );
            }
            None => {
                self.expect(self.disputes.is_empty(), "nobody cheated: no dispute");
            }
        }
        self.expect(
            self.slashed.iter().all(|s| Some(s.who) == cheater),
            "no honest node was slashed",
        );
        self.expect(
            honest_trainers
                .iter()
                .all(|t| self.paid.iter().any(|(p, a)| p == t && !a.is_zero())),
            "every honest trainer was paid",
        );
        let honest_roots: Vec<Option<B256>> = honest_trainers
            .iter()
            .map(|t| self.roots.iter().find(|(a, _)| a == t).map(|(_, r)| *r))
            .collect();
        self.expect(
            honest_roots
                .iter()
                .all(|r| r.is_some() && Some(r) == honest_roots.first()),
            "every honest trainer committed the same root",
        );
        self.conservation(i);
    }

    fn conservation(&mut self, i: &Inputs<'_>) {
        let held = i
            .balances
            .iter()
            .chain(i.others.iter().map(|(_, _, b)| b))
            .fold(U256::ZERO, |a, b| a + *b);
        self.expect(
            held == i.after.total_supply,
            format!(
                "every token is held by a known account or contract: {} = total supply {}",
                pin(held),
                pin(i.after.total_supply)
            ),
        );
        self.expect(
            i.after.total_supply + i.after.burned == i.after.initial_supply,
            "total supply + burned = initial supply",
        );
        self.expect(
            i.after.escrow == i.before.escrow,
            "the job's escrow was released",
        );
        let Some(p) = self.payout else {
            self.expect(false, "the job's payout was recorded (JobFinalized)");
            return;
        };
        let paid = self.paid.iter().fold(U256::ZERO, |a, (_, x)| a + *x);
        self.expect(
            p.fee + p.to_trainers == i.payment && p.burned + p.to_treasury == p.fee,
            "payment = trainers' share + fee, fee = burned + treasury",
        );
        self.expect(
            paid == p.to_trainers,
            "the trainers' payouts sum to their share",
        );
        self.expect(
            self.slashed
                .iter()
                .all(|s| s.to_winner + s.to_arbiters + s.burned == s.amount),
            "every slashed bond = winner's part + arbiters' part + burned",
        );
        let slash_burn = self.slashed.iter().fold(U256::ZERO, |a, s| a + s.burned);
        self.expect(
            i.after.burned - i.before.burned == p.burned + slash_burn,
            "every burn is the fee's or a slash's",
        );
        self.expect(
            i.treasury.1 - i.treasury.0 == p.to_treasury,
            "the treasury received the fee's treasury part",
        );
    }

    /// Whether every check held.
    pub(super) fn ok(&self) -> bool {
        self.checks.iter().all(|c| c.ok)
    }

    /// The summary as text.
    pub(super) fn text(&self) -> String {
        let mut o = String::new();
        let _ = writeln!(
            o,
            "\njob {} ({} steps) finalized in {:.1} s",
            self.job, self.steps, self.wall_s
        );
        match self.cheater {
            Some((who, c)) => {
                let _ = writeln!(
                    o,
                    "cheater: {} (corrupted the output of operator #{} in step {} → {})",
                    self.name(who),
                    c.node,
                    c.step - 1,
                    c.step
                );
            }
            None => {
                let _ = writeln!(o, "cheater: none");
            }
        }
        if self.disputes.is_empty() {
            let _ = writeln!(o, "disputes: none");
        }
        for d in &self.disputes {
            let _ = writeln!(
                o,
                "dispute #{}: {} (challenger) vs {} (defendant)",
                d.id,
                self.name(d.challenger),
                self.name(d.defendant)
            );
            let _ = writeln!(o, "  disputed step: {} → {}", d.step, d.step + 1);
            let _ = writeln!(o, "  disputed operator: {}", d.operator);
            let rounds = d.rounds.map_or_else(|| "?".into(), |r| r.to_string());
            let loser = Self::loser(d).map_or_else(|| "both".into(), |a| self.name(a));
            let _ = writeln!(
                o,
                "  verdict: {} ({} loses), {} committee votes, {rounds} query rounds",
                ruling_text(d.ruling),
                loser,
                d.votes
            );
        }
        if self.slashed.is_empty() {
            let _ = writeln!(o, "slashed: nobody");
        }
        for s in &self.slashed {
            let _ = writeln!(
                o,
                "slashed: {} lost {} (to the winner {}: {}, to the arbiters: {}, burned: {})",
                self.name(s.who),
                pin(s.amount),
                self.name(s.winner),
                pin(s.to_winner),
                pin(s.to_arbiters),
                pin(s.burned)
            );
        }
        let _ = writeln!(o, "roots:");
        for (t, r) in &self.roots {
            let _ = writeln!(o, "  {:<12} {r}", self.name(*t));
        }
        let _ = writeln!(o, "payouts:");
        for (t, a) in &self.paid {
            let _ = writeln!(o, "  {:<12} {}", self.name(*t), pin(*a));
        }
        if let Some(p) = self.payout {
            let _ = writeln!(
                o,
                "fee: {} ({} burned, {} to the treasury), {} honest trainers shared {}",
                pin(p.fee),
                pin(p.burned),
                pin(p.to_treasury),
                p.honest,
                pin(p.to_trainers)
            );
        }
        let t = &self.after;
        let _ = writeln!(
            o,
            "chain: supply {} of {} (burned {}), staked {}, escrow {}, treasury {}",
            pin(t.total_supply),
            pin(t.initial_supply),
            pin(t.burned),
            pin(t.staked),
            pin(t.escrow),
            pin(self.treasury)
        );
        let _ = writeln!(o, "checks:");
        for c in &self.checks {
            let _ = writeln!(o, "  {} {}", if c.ok { "ok  " } else { "FAIL" }, c.what);
        }
        let _ = writeln!(
            o,
            "{}",
            if self.ok() {
                "all checks passed"
            } else {
                "SOME CHECKS FAILED"
            }
        );
        o
    }

    /// The summary as JSON (amounts: decimal strings of base units, 1 PIN = 10^18).
    pub(super) fn json(&self) -> Value {
        let amount = |x: U256| Value::String(x.to_string());
        let party = |a: Address| json!({ "name": self.name(a), "account": a.to_string() });
        json!({
            "job": self.job,
            "steps": self.steps,
            "wall_s": self.wall_s,
            "cheater": self.cheater.map(|(who, c)| json!({
                "name": self.name(who),
                "account": who.to_string(),
                "step": c.step,
                "node": c.node,
            })),
            "disputes": self.disputes.iter().map(|d| json!({
                "id": d.id,
                "challenger": party(d.challenger),
                "defendant": party(d.defendant),
                "ruling": ruling_text(d.ruling),
                "loser": Self::loser(d).map(|a| self.name(a)),
                "step": d.step,
                "node": d.node,
                "operator": d.operator,
                "votes": d.votes,
                "rounds": d.rounds,
            })).collect::<Vec<_>>(),
            "slashed": self.slashed.iter().map(|s| json!({
                "who": party(s.who),
                "amount": amount(s.amount),
                "winner": party(s.winner),
                "to_winner": amount(s.to_winner),
                "to_arbiters": amount(s.to_arbiters),
                "burned": amount(s.burned),
            })).collect::<Vec<_>>(),
            "roots": self.roots.iter().map(|(t, r)| json!({
                "trainer": party(*t),
                "root": r.to_string(),
            })).collect::<Vec<_>>(),
            "balances": self.balances.iter().map(|(a, b)| json!({
                "name": self.name(*a),
                "account": a.to_string(),
                "balance": amount(*b),
            })).collect::<Vec<_>>(),
            "payouts": self.paid.iter().map(|(t, a)| json!({
                "trainer": party(*t),
                "amount": amount(*a),
            })).collect::<Vec<_>>(),
            "fee": self.payout.map(|p| json!({
                "honest_trainers": amount(p.honest),
                "fee": amount(p.fee),
                "burned": amount(p.burned),
                "to_treasury": amount(p.to_treasury),
                "to_trainers": amount(p.to_trainers),
            })),
            "chain": {
                "initial_supply": amount(self.after.initial_supply),
                "total_supply": amount(self.after.total_supply),
                "burned": amount(self.after.burned),
                "staked": amount(self.after.staked),
                "escrow": amount(self.after.escrow),
                "treasury": amount(self.treasury),
            },
            "checks": self.checks.iter().map(|c| json!({ "check": c.what, "ok": c.ok })).collect::<Vec<_>>(),
            "ok": self.ok(),
        })
    }
}
