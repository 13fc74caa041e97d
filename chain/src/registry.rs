//! The node registry (in the `Staking` contract): which EVM account runs which ed25519
//! `NodeId`, in which roles, at which QUIC endpoint.
//!
//! The contract stores registrations without checking their ed25519 signatures (the EVM has no
//! cheap ed25519), so this module is where they are checked: [`registered_nodes`] returns only
//! registrations whose signature verifies for this chain and registry
//! ([`pinpoint_protocol::id::Registration`]), and when several accounts claim one `NodeId`
//! with valid signatures it keeps the earliest claim (the block at which the account first
//! named that `NodeId`; ties: the lower account). A node
//! signs with [`sign_registration`] and sends [`crate::Call::RegisterNode`].

use alloy::primitives::{Address, B256, Bytes, U256};
use pinpoint_protocol::id::{NodeId, NodeKey, Registration};

use crate::{
    Result,
    bindings::Staking,
    call::{Call, Role},
    error::ChainError,
    settlement::Settlement,
};

/// A registration whose signature verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisteredNode {
    /// The account holding the node's stake.
    pub account: Address,
    /// The node's identity.
    pub node_id: NodeId,
    /// The roles it serves.
    pub roles: Vec<Role>,
    /// Its QUIC endpoint, `host:port`.
    pub endpoint: String,
    /// Block number at which the account first named this `NodeId` (updates that keep the
    /// `NodeId` keep it).
    pub claimed_at: u64,
}

impl RegisteredNode {
    /// Whether the node serves `role`.
    pub fn serves(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }
}

/// The bit set of `roles` as the contract stores it.
pub fn role_bits(roles: &[Role]) -> u8 {
    roles.iter().fold(0, |acc, r| acc | r.bit())
}

fn roles_of(bits: u8) -> Vec<Role> {
    Role::ALL
        .into_iter()
        .filter(|r| bits & r.bit() != 0)
        .collect()
}

/// The [`Call::RegisterNode`] for `account`'s node `key`, signed for `chain_id` and the
/// registry at `registry` (the `Staking` contract).
///
/// Errors: [`ChainError::InvalidArgument`] for an empty or over-long endpoint or no role.
pub fn sign_registration(
    key: &NodeKey,
    chain_id: u64,
    registry: Address,
    account: Address,
    roles: &[Role],
    endpoint: &str,
) -> Result<Call> {
    let roles = role_bits(roles);
    if roles == 0 {
        return Err(ChainError::InvalidArgument(
            "a registration names at least one role".into(),
        ));
    }
    let reg = Registration {
        chain_id,
        registry: registry.into_array(),
        account: account.into_array(),
        roles,
        endpoint: endpoint.to_owned(),
    };
    let signature = reg
        .sign(key)
        .map_err(|e| ChainError::InvalidArgument(e.to_string()))?;
    Ok(Call::RegisterNode {
        node_id: B256::from(key.node_id().to_bytes()),
        roles,
        endpoint: endpoint.to_owned(),
        signature: Bytes::copy_from_slice(&signature),
    })
}

/// The chain id the registry's signatures name (`Staking.chainId()`).
///
/// Errors: the chain's errors, or an id above 2⁶⁴ as [`ChainError::Decode`].
pub async fn chain_id<S: Settlement>(chain: &S) -> Result<u64> {
    chain
        .view(chain.addresses().staking, Staking::chainIdCall {})
        .await?
        .try_into()
        .map_err(|_| ChainError::Decode {
            what: "chain id",
            why: "does not fit u64".into(),
        })
}

/// Every registration on `chain` whose signature verifies, one per `NodeId` (the earliest
/// claim; ties by account), sorted by account. Forged, malformed and duplicate claims are left out.
pub async fn registered_nodes<S: Settlement>(chain: &S) -> Result<Vec<RegisteredNode>> {
    let registry = chain.addresses().staking;
    let chain_id = chain_id(chain).await?;
    let count: U256 = chain
        .view(registry, Staking::registrantCountCall {})
        .await?;
    let count: u64 = count.try_into().map_err(|_| ChainError::Decode {
        what: "registrant count",
        why: "does not fit u64".into(),
    })?;
    let mut valid: Vec<RegisteredNode> = Vec::new();
    for i in 0..count {
        let account = chain
            .view(registry, Staking::registrantsCall(U256::from(i)))
            .await?;
        let n = chain.view(registry, Staking::nodesCall(account)).await?;
        if let Some(node) = verified(chain_id, registry, account, &n) {
            valid.push(node);
        }
    }
    // One node per NodeId: the earliest claim, then the lower account.
    valid.sort_by_key(|n| (n.node_id, n.claimed_at, n.account));
    valid.dedup_by_key(|n| n.node_id);
    valid.sort_by_key(|n| n.account);
    Ok(valid)
}

/// The registration of `account` if its signature verifies.
fn verified(
    chain_id: u64,
    registry: Address,
    account: Address,
    n: &Staking::nodesReturn,
) -> Option<RegisteredNode> {
    let node_id = NodeId::from_bytes(n.nodeId.0).ok()?;
    let signature: [u8; 64] = n.signature.as_ref().try_into().ok()?;
    let reg = Registration {
        chain_id,
        registry: registry.into_array(),
        account: account.into_array(),
        roles: n.roles,
        endpoint: n.endpoint.clone(),
    };
    reg.verify(&node_id, &signature).ok()?;
    Some(RegisteredNode {
        account,
        node_id,
        roles: roles_of(n.roles),
        endpoint: n.endpoint.clone(),
        claimed_at: n.claimedAt,
    })
}
