//! [`Call::encode`]: the contract and calldata of each call, the same on both back ends.

use alloy::{
    primitives::{Address, Bytes, U256},
    sol_types::SolCall,
};

use super::{Addresses, Call, Finding, Spender};
use crate::{
    bindings::{JobMarket, PinToken, Staking},
    dispute::Ruling,
};

impl Call {
    /// The contract called and the calldata.
    pub fn encode(&self, a: &Addresses) -> (Address, Bytes) {
        let (to, data) = match self {
            Call::Transfer { to, amount } => (
                a.token,
                PinToken::transferCall {
                    to: *to,
                    value: *amount,
                }
                .abi_encode(),
            ),
            Call::Approve { spender, amount } => {
                let spender = match spender {
                    Spender::Staking => a.staking,
                    Spender::Market => a.market,
                    Spender::Other(x) => *x,
                };
                (
                    a.token,
                    PinToken::approveCall {
                        spender,
                        value: *amount,
                    }
                    .abi_encode(),
                )
            }
            Call::Burn { amount } => (a.token, PinToken::burnCall { value: *amount }.abi_encode()),
            Call::Stake { role, amount } => (
                a.staking,
                Staking::stakeCall {
                    role: role.index(),
                    amount: *amount,
                }
                .abi_encode(),
            ),
            Call::RequestUnstake { role, amount } => (
                a.staking,
                Staking::requestUnstakeCall {
                    role: role.index(),
                    amount: *amount,
                }
                .abi_encode(),
            ),
            Call::Withdraw { role } => (
                a.staking,
                Staking::withdrawCall { role: role.index() }.abi_encode(),
            ),
            Call::PostJob(p) => (
                a.market,
                JobMarket::postJobCall {
                    specHash: p.spec_hash,
                    payment: p.payment,
                    replicas: p.replicas,
                    bond: p.bond,
                    acceptDeadline: p.accept_deadline,
                    commitDeadline: p.commit_deadline,
                    challengeWindow: p.challenge_window,
                }
                .abi_encode(),
            ),
            Call::Accept { job } => (
                a.market,
                JobMarket::acceptCall {
                    jobId: U256::from(*job),
                }
                .abi_encode(),
            ),
            Call::Commit { job, root } => (
                a.market,
                JobMarket::commitCall {
                    jobId: U256::from(*job),
                    root: *root,
                }
                .abi_encode(),
            ),
            Call::CloseCommits { job } => (
                a.market,
                JobMarket::closeCommitsCall {
                    jobId: U256::from(*job),
                }
                .abi_encode(),
            ),
            Call::OpenDispute { job, defendant } => (
                a.market,
                JobMarket::openDisputeCall {
                    jobId: U256::from(*job),
                    defendant: *defendant,
                }
                .abi_encode(),
            ),
            Call::DisputeNext { job } => (
                a.market,
                JobMarket::disputeNextCall {
                    jobId: U256::from(*job),
                }
                .abi_encode(),
            ),
            Call::Challenge { job, trainer, bond } => (
                a.market,
                JobMarket::challengeCall {
                    jobId: U256::from(*job),
                    trainer: *trainer,
                    bond: *bond,
                }
                .abi_encode(),
            ),
            Call::Vote {
                dispute,
                challenger_wins,
                finding,
            } => {
                let ruling = if *challenger_wins {
                    Ruling::ChallengerWins
                } else {
                    Ruling::DefendantWins
                };
                (a.market, vote(*dispute, ruling, finding))
            }
            Call::Rule {
                dispute,
                ruling,
                finding,
            } => (a.market, vote(*dispute, *ruling, finding)),
            Call::Redraw { dispute } => (
                a.market,
                JobMarket::redrawCall {
                    disputeId: U256::from(*dispute),
                }
                .abi_encode(),
            ),
            Call::FixSeed { job } => (
                a.market,
                JobMarket::fixSeedCall {
                    jobId: U256::from(*job),
                }
                .abi_encode(),
            ),
            Call::Finalize { job } => (
                a.market,
                JobMarket::finalizeCall {
                    jobId: U256::from(*job),
                }
                .abi_encode(),
            ),
            Call::Cancel { job } => (
                a.market,
                JobMarket::cancelCall {
                    jobId: U256::from(*job),
                }
                .abi_encode(),
            ),
            Call::RegisterNode {
                node_id,
                roles,
                endpoint,
                signature,
            } => (
                a.staking,
                Staking::registerNodeCall {
                    nodeId: *node_id,
                    roles: *roles,
                    endpoint: endpoint.clone(),
                    signature: signature.clone(),
                }
                .abi_encode(),
            ),
            Call::DeregisterNode => (a.staking, Staking::deregisterNodeCall {}.abi_encode()),
        };
        (to, data.into())
    }
}

fn vote(dispute: u64, ruling: Ruling, finding: &Finding) -> Vec<u8> {
    JobMarket::voteCall {
        disputeId: U256::from(dispute),
        ruling: ruling as u8,
        finding: finding.clone(),
    }
    .abi_encode()
}
