//! A journalled intent stores the transaction itself: the contract and the calldata that
//! [`Call::encode`] produced. [`decode_call`] turns them back into a [`Call`] whose encoding
//! is the same bytes, so a restarted actor re-sends exactly the transaction it journalled.
//!
//! Two calls encode alike and decode to one of them: `Vote` and `Rule` (both `vote`; decoded
//! as `Rule`), and an approval of the Staking or JobMarket contract named as
//! `Spender::Other(address)` (decoded as `Spender::Staking`/`Spender::Market`).

use pinpoint_chain::alloy::primitives::{Address, U256};
use pinpoint_chain::alloy::sol_types::SolCall;
use pinpoint_chain::bindings::{JobMarket, PinToken, Staking};
use pinpoint_chain::{Addresses, Call, JobParams, Role, Ruling, Spender};

fn u64_of(x: U256, what: &str) -> Result<u64, String> {
    x.try_into().map_err(|_| format!("{what} does not fit u64"))
}

fn role_of(i: u8) -> Result<Role, String> {
    Role::ALL
        .get(usize::from(i))
        .copied()
        .ok_or_else(|| format!("unknown role {i}"))
}

fn decode<C: SolCall>(data: &[u8]) -> Result<C, String> {
    C::abi_decode(data).map_err(|e| format!("calldata of {}: {e}", C::SIGNATURE))
}

/// The [`Call`] that encodes to `(to, data)` on the deployment `a`.
///
/// Errors: a contract or function selector that no [`Call`] produces, or bad arguments.
pub fn decode_call(a: &Addresses, to: Address, data: &[u8]) -> Result<Call, String> {
    let selector: [u8; 4] = data
        .get(..4)
        .and_then(|s| s.try_into().ok())
        .ok_or_else(|| "calldata shorter than a selector".to_string())?;
    if to == a.token {
        decode_token(a, selector, data)
    } else if to == a.staking {
        decode_staking(selector, data)
    } else if to == a.market {
        decode_market(selector, data)
    } else {
        Err(format!("{to} is none of the deployment's contracts"))
    }
}

fn decode_token(a: &Addresses, selector: [u8; 4], data: &[u8]) -> Result<Call, String> {
    Ok(match selector {
        PinToken::transferCall::SELECTOR => {
            let c: PinToken::transferCall = decode(data)?;
            Call::Transfer {
                to: c.to,
                amount: c.value,
            }
        }
        PinToken::approveCall::SELECTOR => {
            let c: PinToken::approveCall = decode(data)?;
            let spender = if c.spender == a.staking {
                Spender::Staking
            } else if c.spender == a.market {
                Spender::Market
            } else {
                Spender::Other(c.spender)
            };
            Call::Approve {
                spender,
                amount: c.value,
            }
        }
        PinToken::burnCall::SELECTOR => {
            let c: PinToken::burnCall = decode(data)?;
            Call::Burn { amount: c.value }
        }
        _ => return Err(format!("unknown token selector {selector:02x?}")),
    })
}

fn decode_staking(selector: [u8; 4], data: &[u8]) -> Result<Call, String> {
    Ok(match selector {
        Staking::stakeCall::SELECTOR => {
            let c: Staking::stakeCall = decode(data)?;
            Call::Stake {
                role: role_of(c.role)?,
                amount: c.amount,
            }
        }
        Staking::requestUnstakeCall::SELECTOR => {
            let c: Staking::requestUnstakeCall = decode(data)?;
            Call::RequestUnstake {
                role: role_of(c.role)?,
                amount: c.amount,
            }
        }
        Staking::withdrawCall::SELECTOR => {
            let c: Staking::withdrawCall = decode(data)?;
            Call::Withdraw {
                role: role_of(c.role)?,
            }
        }
        Staking::registerNodeCall::SELECTOR => {
            let c: Staking::registerNodeCall = decode(data)?;
            Call::RegisterNode {
                node_id: c.nodeId,
                roles: c.roles,
                endpoint: c.endpoint,
                signature: c.signature,
            }
        }
        Staking::deregisterNodeCall::SELECTOR => {
            let _: Staking::deregisterNodeCall = decode(data)?;
            Call::DeregisterNode
        }
        _ => return Err(format!("unknown staking selector {selector:02x?}")),
    })
}

fn decode_market(selector: [u8; 4], data: &[u8]) -> Result<Call, String> {
    Ok(match selector {
        JobMarket::postJobCall::SELECTOR => {
            let c: JobMarket::postJobCall = decode(data)?;
            Call::PostJob(JobParams {
                spec_hash: c.specHash,
                payment: c.payment,
                replicas: c.replicas,
                bond: c.bond,
                accept_deadline: c.acceptDeadline,
                commit_deadline: c.commitDeadline,
                challenge_window: c.challengeWindow,
            })
        }
        JobMarket::acceptCall::SELECTOR => {
            let c: JobMarket::acceptCall = decode(data)?;
            Call::Accept {
                job: u64_of(c.jobId, "job id")?,
            }
        }
        JobMarket::commitCall::SELECTOR => {
            let c: JobMarket::commitCall = decode(data)?;
            Call::Commit {
                job: u64_of(c.jobId, "job id")?,
                root: c.root,
            }
        }
        JobMarket::closeCommitsCall::SELECTOR => {
            let c: JobMarket::closeCommitsCall = decode(data)?;
            Call::CloseCommits {
                job: u64_of(c.jobId, "job id")?,
            }
        }
        JobMarket::openDisputeCall::SELECTOR => {
            let c: JobMarket::openDisputeCall = decode(data)?;
            Call::OpenDispute {
                job: u64_of(c.jobId, "job id")?,
                defendant: c.defendant,
            }
        }
        JobMarket::disputeNextCall::SELECTOR => {
            let c: JobMarket::disputeNextCall = decode(data)?;
            Call::DisputeNext {
                job: u64_of(c.jobId, "job id")?,
            }
        }
        JobMarket::challengeCall::SELECTOR => {
            let c: JobMarket::challengeCall = decode(data)?;
            Call::Challenge {
                job: u64_of(c.jobId, "job id")?,
                trainer: c.trainer,
                bond: c.bond,
            }
        }
        JobMarket::voteCall::SELECTOR => {
            let c: JobMarket::voteCall = decode(data)?;
            Call::Rule {
                dispute: u64_of(c.disputeId, "dispute id")?,
                ruling: Ruling::from_u8(c.ruling)
                    .ok_or_else(|| format!("unknown ruling {}", c.ruling))?,
                finding: c.finding,
            }
        }
        JobMarket::redrawCall::SELECTOR => {
            let c: JobMarket::redrawCall = decode(data)?;
            Call::Redraw {
                dispute: u64_of(c.disputeId, "dispute id")?,
            }
        }
        JobMarket::fixSeedCall::SELECTOR => {
            let c: JobMarket::fixSeedCall = decode(data)?;
            Call::FixSeed {
                job: u64_of(c.jobId, "job id")?,
            }
        }
        JobMarket::finalizeCall::SELECTOR => {
            let c: JobMarket::finalizeCall = decode(data)?;
            Call::Finalize {
                job: u64_of(c.jobId, "job id")?,
            }
        }
        JobMarket::cancelCall::SELECTOR => {
            let c: JobMarket::cancelCall = decode(data)?;
            Call::Cancel {
                job: u64_of(c.jobId, "job id")?,
            }
        }
        _ => return Err(format!("unknown market selector {selector:02x?}")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use pinpoint_chain::alloy::primitives::{B256, Bytes};
    use pinpoint_chain::{DeployConfig, Finding, deploy_plan};

    fn samples() -> Vec<Call> {
        let x = Address::repeat_byte(7);
        let h = B256::repeat_byte(9);
        let amount = U256::from(12_345u64);
        let finding = Finding {
            step: 3,
            node: 4,
            challengerHash: h,
            defendantHash: B256::repeat_byte(1),
            refereeHash: B256::repeat_byte(2),
        };
        vec![
            Call::Transfer { to: x, amount },
            Call::Approve {
                spender: Spender::Staking,
                amount,
            },
            Call::Approve {
                spender: Spender::Market,
                amount,
            },
            Call::Approve {
                spender: Spender::Other(x),
                amount,
            },
            Call::Burn { amount },
            Call::Stake {
                role: Role::Arbiter,
                amount,
            },
            Call::RequestUnstake {
                role: Role::Verifier,
                amount,
            },
            Call::Withdraw { role: Role::Solver },
            Call::PostJob(JobParams {
                spec_hash: h,
                payment: amount,
                replicas: 3,
                bond: U256::from(5u8),
                accept_deadline: 10,
                commit_deadline: 20,
                challenge_window: 30,
            }),
            Call::Accept { job: 1 },
            Call::Commit { job: 2, root: h },
            Call::CloseCommits { job: 3 },
            Call::OpenDispute {
                job: 4,
                defendant: x,
            },
            Call::DisputeNext { job: 5 },
            Call::Challenge {
                job: 6,
                trainer: x,
                bond: amount,
            },
            Call::Vote {
                dispute: 7,
                challenger_wins: true,
                finding: finding.clone(),
            },
            Call::Rule {
                dispute: 8,
                ruling: Ruling::BothLose,
                finding,
            },
            Call::Redraw { dispute: 9 },
            Call::FixSeed { job: 10 },
            Call::Finalize { job: 11 },
            Call::Cancel { job: 12 },
            Call::RegisterNode {
                node_id: h,
                roles: 5,
                endpoint: "127.0.0.1:7070".into(),
                signature: Bytes::from(vec![3u8; 64]),
            },
            Call::DeregisterNode,
        ]
    }

    #[test]
    fn every_call_decodes_to_the_same_transaction() {
        let a = deploy_plan(Address::repeat_byte(1), 0, &DeployConfig::default()).0;
        for call in samples() {
            let (to, data) = call.encode(&a);
            let back = decode_call(&a, to, &data).expect("decodes");
            assert_eq!(back.encode(&a), (to, data), "{call:?}");
            if !matches!(call, Call::Vote { .. }) {
                assert_eq!(back, call);
            }
        }
    }

    #[test]
    fn foreign_contracts_and_selectors_are_refused() {
        let a = deploy_plan(Address::repeat_byte(1), 0, &DeployConfig::default()).0;
        let (_, data) = Call::Accept { job: 1 }.encode(&a);
        assert!(decode_call(&a, Address::repeat_byte(0xee), &data).is_err());
        assert!(decode_call(&a, a.token, &data).is_err());
        assert!(decode_call(&a, a.market, &data[..3]).is_err());
        assert!(decode_call(&a, a.market, &data[..20]).is_err());
    }
}
