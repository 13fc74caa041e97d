//! `POST /api/v1/jobs`: a job spec (TOML text) and its terms in, the chain's job id out.
//!
//! The API does not post by itself: the node hands it a [`SubmitSource`]. For the devnet,
//! [`devnet_submit`] posts through [`crate::devnet::Devnet::post_job`] (the submitter's store
//! and account). For a node run from its config, [`node_submit`] puts the spec in the node's
//! own store (its peers fetch it from there) and has the node's settlement actor, the only
//! sender for the node's account, raise the market's allowance by the payment and post the
//! job. Without a source the endpoint answers 404.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use pinpoint_chain::bindings::PinToken;
use pinpoint_chain::{Call, Receipt, Settlement, Spender, U256};
use pinpoint_train::{JobSpec, LoadedSpec};
use ractor::rpc::CallResult;
use serde::Deserialize;

use crate::conduct::SharedChain;
use crate::devnet::{Terms, put_spec};
use crate::settlement::SettlementMsg;
use crate::store::SharedStore;
use crate::supervisor::ChildRef;

/// How long a submission waits for the settlement actor's receipt.
pub const SUBMIT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

/// A job to post.
#[derive(Debug, Clone)]
pub struct JobRequest {
    /// The computation.
    pub spec: JobSpec,
    /// Its terms.
    pub terms: Terms,
}

/// A future of the posted job's chain id, or why it was not posted.
pub type SubmitFuture = Pin<Box<dyn Future<Output = Result<u64, String>> + Send>>;
/// Posts jobs for the node.
pub type SubmitSource = Arc<dyn Fn(JobRequest) -> SubmitFuture + Send + Sync>;

/// The request body. Amounts are decimal strings of base units; omitted terms take
/// [`Terms::standard`]'s values.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobBody {
    /// The job spec, as `pinpoint train` reads it (TOML).
    pub spec: String,
    /// Trainer replicas (1 to 255).
    pub replicas: u8,
    /// Payment.
    pub payment: Option<String>,
    /// Each trainer's bond.
    pub bond: Option<String>,
    /// Chain seconds to accept.
    pub accept_secs: Option<u64>,
    /// Chain seconds to commit.
    pub commit_secs: Option<u64>,
    /// Challenge window, chain seconds.
    pub window_secs: Option<u64>,
}

fn amount(raw: Option<&str>, default: U256, field: &str) -> Result<U256, String> {
    match raw {
        None => Ok(default),
        Some(s) => s
            .parse::<U256>()
            .map_err(|e| format!("{field}: not a decimal amount ({e}): {s:?}")),
    }
}

impl JobBody {
    /// The request, validated.
    ///
    /// Errors: a message naming the field (the spec's own error for a bad spec).
    pub fn request(&self) -> Result<JobRequest, String> {
        if self.replicas == 0 {
            return Err("replicas: must be at least 1".into());
        }
        let spec = LoadedSpec::from_toml_str(&self.spec)
            .map_err(|e| format!("spec: {e}"))?
            .spec;
        let base = Terms::standard(self.replicas);
        let terms = Terms {
            payment: amount(self.payment.as_deref(), base.payment, "payment")?,
            replicas: self.replicas,
            bond: amount(self.bond.as_deref(), base.bond, "bond")?,
            accept_secs: self.accept_secs.unwrap_or(base.accept_secs),
            commit_secs: self.commit_secs.unwrap_or(base.commit_secs),
            window_secs: self.window_secs.unwrap_or(base.window_secs),
        };
        Ok(JobRequest { spec, terms })
    }
}

/// A [`SubmitSource`] over a devnet: its submitter posts the job.
pub fn devnet_submit<S: crate::devnet::DevChain + Send + Sync>(
    net: Arc<crate::devnet::Devnet<S>>,
) -> SubmitSource {
    Arc::new(move |req: JobRequest| -> SubmitFuture {
        let net = net.clone();
        Box::pin(async move {
            net.post_job(&req.spec, req.terms)
                .await
                .map_err(|e| e.to_string())
        })
    })
}

/// Sends `call` through the node's settlement actor under `key`; the receipt or why not.
async fn settle(
    settlement: &ChildRef<SettlementMsg>,
    key: String,
    call: Call,
) -> Result<Receipt, String> {
    let what = key.clone();
    let Some(settlement) = settlement.get() else {
        return Err(format!("{what}: the node's settlement actor is restarting"));
    };
    let asked = settlement
        .call(
            |reply| SettlementMsg::Submit {
                key,
                call,
                reply: Some(reply),
            },
            Some(SUBMIT_TIMEOUT),
        )
        .await;
    match asked {
        Ok(CallResult::Success(Ok(receipt))) => Ok(receipt),
        Ok(CallResult::Success(Err(e))) => Err(format!("{what}: {e}")),
        Ok(CallResult::Timeout) => Err(format!(
            "{what}: no receipt within {} s",
            SUBMIT_TIMEOUT.as_secs()
        )),
        Ok(CallResult::SenderError) | Err(_) => Err(format!(
            "{what}: the node's settlement actor is not running"
        )),
    }
}

/// A [`SubmitSource`] for a node run from its config: the spec goes into the node's `store`
/// (named by its content; the node serves it to the trainers), then the node's settlement
/// actor raises the market's allowance by the payment (`Approve`, from the allowance read
/// now) and posts the job, each under its own idempotency key
/// (`api/job/<spec hash>/<unique>/approve`, `…/post`). Submissions run one at a time, so two
/// of them never approve over each other.
pub fn node_submit<S>(
    settlement: ChildRef<SettlementMsg>,
    account: pinpoint_chain::Address,
    chain: SharedChain<S>,
    store: SharedStore,
) -> SubmitSource
where
    S: Settlement + Send + Sync + 'static,
{
    let turn = Arc::new(tokio::sync::Mutex::new(0u64));
    Arc::new(move |req: JobRequest| -> SubmitFuture {
        let (settlement, chain, store, turn) = (
            settlement.clone(),
            chain.clone(),
            store.clone(),
            turn.clone(),
        );
        Box::pin(async move {
            let mut count = turn.lock().await;
            *count += 1;
            let spec_hash = put_spec(&store, &req.spec).map_err(|e| e.to_string())?;
            let (now, allowance) = {
                let c = chain.lock().await;
                let a = c.addresses();
                let now = c
                    .now()
                    .await
                    .map_err(|e| format!("the chain's time: {e}"))?;
                let allowance = c
                    .view(
                        a.token,
                        PinToken::allowanceCall {
                            _0: account,
                            _1: a.market,
                        },
                    )
                    .await
                    .map_err(|e| format!("the market's allowance: {e}"))?;
                (now, allowance)
            };
            let unique = format!(
                "api/job/{}/{}-{}",
                &spec_hash.to_string()[2..18],
                wall_ms(),
                *count
            );
            settle(
                &settlement,
                format!("{unique}/approve"),
                Call::Approve {
                    spender: Spender::Market,
                    amount: allowance.saturating_add(req.terms.payment),
                },
            )
            .await?;
            let params = req.terms.params(spec_hash, now);
            let receipt =
                settle(&settlement, format!("{unique}/post"), Call::PostJob(params)).await?;
            receipt
                .posted_job()
                .ok_or_else(|| "the chain's receipt names no posted job".to_string())
        })
    })
}

/// Milliseconds since the Unix epoch (0 if the clock is before it): part of an idempotency key.
fn wall_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(spec: &str, replicas: u8, payment: Option<&str>) -> JobBody {
        JobBody {
            spec: spec.into(),
            replicas,
            payment: payment.map(str::to_owned),
            bond: None,
            accept_secs: None,
            commit_secs: None,
            window_secs: Some(30),
        }
    }

    #[test]
    fn a_body_is_checked_field_by_field() {
        assert!(
            body("", 0, None)
                .request()
                .is_err_and(|e| e.starts_with("replicas"))
        );
        assert!(
            body("steps = ", 1, None)
                .request()
                .is_err_and(|e| e.starts_with("spec"))
        );
    }

    #[test]
    fn amounts_parse_as_decimal() {
        assert_eq!(amount(Some("12"), U256::ZERO, "p"), Ok(U256::from(12)));
        assert_eq!(amount(None, U256::from(3), "p"), Ok(U256::from(3)));
        assert!(amount(Some("x"), U256::ZERO, "payment").is_err_and(|e| e.contains("payment")));
    }
}
