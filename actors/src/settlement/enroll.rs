//! Start-up enrollment: stake per role and register the node, idempotently.
//!
//! [`Enrollment`] says what the node should hold (from `[roles]`: each enabled role's
//! `stake_pin`; its `NodeKey`; its QUIC endpoint). The actor reads the chain and sends only
//! what is missing, each through the journal with a key derived from the chain state it
//! started from:
//!
//! 1. per role whose active stake is below the target: `Approve(Staking, need)` unless the
//!    allowance already covers it (key `enroll/approve/<role>/<active>/<target>`), then
//!    `Stake(role, need)` (key `enroll/stake/<role>/<active>/<target>`);
//! 2. `RegisterNode` signed by the node key ([`pinpoint_chain::sign_registration`]) unless the
//!    account's registration already names this `NodeId`, these roles and this endpoint (key
//!    `enroll/register/<node id>/<roles>/<endpoint>`).
//!
//! A restart in the middle re-reads the chain, so what was done is skipped; a send cut by the
//! crash is resolved by the journal (see the [module docs](super)). After a slash (active
//! stake lower again) the keys differ, so a new enrollment tops the stake up.

use pinpoint_chain::alloy::primitives::U256;
use pinpoint_chain::bindings::{PinToken, Staking};
use pinpoint_chain::registry::role_bits;
use pinpoint_chain::{Call, NodeKey, Role, Settlement, Spender, sign_registration};

use super::{Core, Outcome, SettlementError};
use crate::config::RolesConfig;

/// What the node should hold on chain.
#[derive(Debug, Clone)]
pub struct Enrollment {
    /// Each role and its target active stake (base units), in the contracts' order.
    pub stakes: Vec<(Role, U256)>,
    /// The node's ed25519 key (signs the registration).
    pub node_key: NodeKey,
    /// The QUIC endpoint peers dial, `host:port`.
    pub endpoint: String,
}

impl Enrollment {
    /// From the config's enabled roles and their `stake_pin`.
    pub fn from_roles(roles: &RolesConfig, node_key: NodeKey, endpoint: impl Into<String>) -> Self {
        Self {
            stakes: roles
                .enabled()
                .into_iter()
                .map(|(r, c)| (r, U256::from(c.stake_pin.base_units())))
                .collect(),
            node_key,
            endpoint: endpoint.into(),
        }
    }
}

/// What an enrollment sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnrollReport {
    /// Approvals sent.
    pub approvals: u32,
    /// Stake added per role (base units); roles already at their target are absent.
    pub staked: Vec<(Role, U256)>,
    /// Whether a registration was sent (false: the chain already had it).
    pub registered: bool,
}

fn role_name(r: Role) -> &'static str {
    match r {
        Role::Trainer => "trainer",
        Role::Solver => "solver",
        Role::Verifier => "verifier",
        Role::Arbiter => "arbiter",
    }
}

impl<S: Settlement + 'static> Core<S> {
    /// Stakes and registers what is missing (module docs).
    pub(super) async fn enroll(&mut self, e: &Enrollment) -> Outcome<EnrollReport> {
        let mut report = EnrollReport::default();
        let account = self.cfg.account;
        for &(role, target) in &e.stakes {
            let (active, allowance, balance) = {
                let chain = self.cfg.chain.lock().await;
                let a = chain.addresses();
                let read = async {
                    let active = chain.position(account, role).await?.active;
                    let allowance = chain
                        .view(
                            a.token,
                            PinToken::allowanceCall {
                                _0: account,
                                _1: a.staking,
                            },
                        )
                        .await?;
                    let balance = chain.balance_of(account).await?;
                    Ok::<_, pinpoint_chain::ChainError>((active, allowance, balance))
                };
                match read.await {
                    Ok(v) => v,
                    Err(err) => return Ok(Err(err.into())),
                }
            };
            if active >= target {
                continue;
            }
            let need = target - active;
            let tag = format!("{}/{active}/{target}", role_name(role));
            if allowance < need {
                if balance < need {
                    return Ok(Err(SettlementError::Underfunded {
                        account,
                        role,
                        needed: need,
                        balance,
                    }));
                }
                let call = Call::Approve {
                    spender: Spender::Staking,
                    amount: need,
                };
                if let Err(err) = self.submit(format!("enroll/approve/{tag}"), call).await? {
                    return Ok(Err(err));
                }
                report.approvals += 1;
            }
            let call = Call::Stake { role, amount: need };
            if let Err(err) = self.submit(format!("enroll/stake/{tag}"), call).await? {
                return Ok(Err(err));
            }
            report.staked.push((role, need));
        }
        match self.register(e).await? {
            Ok(sent) => report.registered = sent,
            Err(err) => return Ok(Err(err)),
        }
        Ok(Ok(report))
    }

    /// Sends the registration unless the chain already holds it; whether it sent one.
    async fn register(&mut self, e: &Enrollment) -> Outcome<bool> {
        let roles: Vec<Role> = e.stakes.iter().map(|(r, _)| *r).collect();
        let bits = role_bits(&roles);
        let node_id = pinpoint_chain::B256::from(e.node_key.node_id().to_bytes());
        let account = self.cfg.account;
        let signed = {
            let chain = self.cfg.chain.lock().await;
            let registry = chain.addresses().staking;
            let read = async {
                let current = chain.view(registry, Staking::nodesCall(account)).await?;
                let chain_id = pinpoint_chain::chain_id(&*chain).await?;
                Ok::<_, pinpoint_chain::ChainError>((current, chain_id))
            };
            let (current, chain_id) = match read.await {
                Ok(v) => v,
                Err(err) => return Ok(Err(err.into())),
            };
            if current.nodeId == node_id && current.roles == bits && current.endpoint == e.endpoint
            {
                return Ok(Ok(false));
            }
            sign_registration(
                &e.node_key,
                chain_id,
                registry,
                account,
                &roles,
                &e.endpoint,
            )
        };
        let call = match signed {
            Ok(c) => c,
            Err(err) => return Ok(Err(err.into())),
        };
        let key = format!("enroll/register/{node_id}/{bits}/{}", e.endpoint);
        Ok(self.submit(key, call).await?.map(|_| true))
    }
}
