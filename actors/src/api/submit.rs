//! `POST /api/v1/jobs`: a job spec (TOML text) and its terms in, the chain's job id out.
//!
//! The API does not post by itself: the node hands it a [`SubmitSource`] (for the devnet, one
//! over [`crate::devnet::Devnet::post_job`], which puts the spec in the submitter's store and
//! posts it). Without a source the endpoint answers 404.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use pinpoint_chain::U256;
use pinpoint_train::{JobSpec, LoadedSpec};
use serde::Deserialize;

use crate::devnet::Terms;

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
pub fn devnet_submit(net: Arc<crate::devnet::Devnet>) -> SubmitSource {
    Arc::new(move |req: JobRequest| -> SubmitFuture {
        let net = net.clone();
        Box::pin(async move {
            net.post_job(&req.spec, req.terms)
                .await
                .map_err(|e| e.to_string())
        })
    })
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
