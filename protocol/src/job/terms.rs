//! [`JobTerms`]: a job's economics and deadlines in one type, with its three other forms —
//! the job machine's [`JobParams`], the wire's [`JobAnnounce`] and the contracts'
//! [`ContractTerms`] (chain seconds) — derived from it, never written twice. One replica
//! limit: [`crate::limits::MAX_REPLICAS`].

use super::types::JobParams;
use crate::error::{ProtocolError, Result};
use crate::id::{JobId, NodeId};
use crate::limits::{MAX_REPLICAS, chain_secs_to_ms, ms_to_chain_secs};
use crate::wire::JobAnnounce;

/// A job's economics and deadlines. Durations are relative milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobTerms {
    /// Escrowed payment, in token base units.
    pub payment: u128,
    /// Trainer replicas, `1 ..= MAX_REPLICAS`.
    pub replicas: u8,
    /// Stake each trainer bonds for the job.
    pub trainer_stake: u128,
    /// Stake a verifier bonds with each challenge.
    pub challenger_stake: u128,
    /// From posting to the assignment deadline.
    pub assign_timeout_ms: u64,
    /// From assignment to the commit deadline.
    pub commit_timeout_ms: u64,
    /// The challenge window, from the close of commits.
    pub challenge_window_ms: u64,
}

/// The terms as the contracts take them: durations in chain seconds, rounded up (a deadline
/// written on chain is never earlier than the protocol's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContractTerms {
    /// Escrowed payment.
    pub payment: u128,
    /// Trainer replicas.
    pub replicas: u8,
    /// Each trainer's bond.
    pub bond: u128,
    /// Each challenger's stake.
    pub challenger_stake: u128,
    /// From assignment to the commit deadline, seconds.
    pub commit_timeout_secs: u64,
    /// The challenge window, seconds.
    pub challenge_window_secs: u64,
}

impl JobTerms {
    /// Checks the terms; each error names the field.
    ///
    /// Errors: [`ProtocolError::InvalidArgument`]: `replicas` outside `1 ..= MAX_REPLICAS`, a
    /// zero payment, stake or duration.
    pub fn validate(&self) -> Result<()> {
        let bad = |what: String| Err(ProtocolError::InvalidArgument(what));
        if self.replicas == 0 || self.replicas > MAX_REPLICAS {
            return bad(format!(
                "replicas = {}: must be 1 to {MAX_REPLICAS}",
                self.replicas
            ));
        }
        for (name, v) in [
            ("payment", self.payment),
            ("trainer_stake", self.trainer_stake),
            ("challenger_stake", self.challenger_stake),
        ] {
            if v == 0 {
                return bad(format!("{name} = 0: must be positive"));
            }
        }
        for (name, v) in [
            ("assign_timeout_ms", self.assign_timeout_ms),
            ("commit_timeout_ms", self.commit_timeout_ms),
            ("challenge_window_ms", self.challenge_window_ms),
        ] {
            if v == 0 {
                return bad(format!("{name} = 0: must be positive"));
            }
        }
        Ok(())
    }

    /// The job machine's parameters.
    pub fn params(&self) -> JobParams {
        JobParams {
            payment: self.payment,
            replicas: usize::from(self.replicas),
            trainer_stake: self.trainer_stake,
            assign_timeout_ms: self.assign_timeout_ms,
            commit_timeout_ms: self.commit_timeout_ms,
            challenge_window_ms: self.challenge_window_ms,
        }
    }

    /// The wire announcement of `job` posted at `posted_at_ms`: absolute deadlines (the commit
    /// deadline counted from the assignment deadline, the latest assignment).
    ///
    /// Errors: invalid terms ([`JobTerms::validate`]); [`ProtocolError::Overflow`] for a
    /// deadline past `u64::MAX`.
    pub fn announce(
        &self,
        job: JobId,
        submitter: NodeId,
        spec_hash: [u8; 32],
        posted_at_ms: u64,
    ) -> Result<JobAnnounce> {
        self.validate()?;
        let assign = posted_at_ms
            .checked_add(self.assign_timeout_ms)
            .ok_or(ProtocolError::Overflow("assignment deadline"))?;
        let commit = assign
            .checked_add(self.commit_timeout_ms)
            .ok_or(ProtocolError::Overflow("commit deadline"))?;
        Ok(JobAnnounce {
            job,
            submitter,
            spec_hash,
            payment: self.payment,
            replicas: u16::from(self.replicas),
            assign_deadline_ms: assign,
            commit_deadline_ms: commit,
            challenge_window_ms: self.challenge_window_ms,
        })
    }

    /// The contracts' form.
    pub fn contract(&self) -> ContractTerms {
        ContractTerms {
            payment: self.payment,
            replicas: self.replicas,
            bond: self.trainer_stake,
            challenger_stake: self.challenger_stake,
            commit_timeout_secs: ms_to_chain_secs(self.commit_timeout_ms),
            challenge_window_secs: ms_to_chain_secs(self.challenge_window_ms),
        }
    }
}

impl ContractTerms {
    /// The protocol's terms of a job read from chain (`assign_timeout_ms`: the chain has no
    /// assignment deadline of its own; the caller's).
    ///
    /// Errors: a duration that overflows milliseconds; invalid terms.
    pub fn terms(&self, assign_timeout_ms: u64) -> Result<JobTerms> {
        let t = JobTerms {
            payment: self.payment,
            replicas: self.replicas,
            trainer_stake: self.bond,
            challenger_stake: self.challenger_stake,
            assign_timeout_ms,
            commit_timeout_ms: chain_secs_to_ms(self.commit_timeout_secs)?,
            challenge_window_ms: chain_secs_to_ms(self.challenge_window_secs)?,
        };
        t.validate()?;
        Ok(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::NodeKey;

    fn terms() -> JobTerms {
        JobTerms {
            payment: 1_000_000,
            replicas: 3,
            trainer_stake: 50_000,
            challenger_stake: 20_000,
            assign_timeout_ms: 2_000,
            commit_timeout_ms: 90_500,
            challenge_window_ms: 30_000,
        }
    }

    #[test]
    fn the_machine_wire_and_contract_forms_agree() {
        let t = terms();
        let p = t.params();
        assert_eq!(
            (p.payment, p.replicas, p.trainer_stake),
            (t.payment, 3, t.trainer_stake)
        );
        let who = NodeKey::from_seed([1; 32]).node_id();
        let a = t.announce([2; 32], who, [3; 32], 10_000).expect("announce");
        assert_eq!(a.assign_deadline_ms, 12_000);
        assert_eq!(a.commit_deadline_ms, 12_000 + 90_500);
        assert_eq!(a.challenge_window_ms, 30_000);
        assert_eq!(a.replicas, 3);
        let c = t.contract();
        // Rounded up to whole seconds: never earlier on chain.
        assert_eq!(c.commit_timeout_secs, 91);
        assert_eq!(c.challenge_window_secs, 30);
        let back = c.terms(t.assign_timeout_ms).expect("back");
        assert!(back.commit_timeout_ms >= t.commit_timeout_ms);
        assert_eq!(back.challenge_window_ms, t.challenge_window_ms);
        assert_eq!(back.contract(), c, "a contract form round-trips exactly");
    }

    #[test]
    fn bad_terms_name_the_field() {
        type Edit = fn(&mut JobTerms);
        let cases: [(Edit, &str); 6] = [
            (|t| t.replicas = 0, "replicas"),
            (|t| t.replicas = MAX_REPLICAS + 1, "replicas"),
            (|t| t.payment = 0, "payment"),
            (|t| t.challenger_stake = 0, "challenger_stake"),
            (|t| t.commit_timeout_ms = 0, "commit_timeout_ms"),
            (|t| t.challenge_window_ms = 0, "challenge_window_ms"),
        ];
        for (edit, field) in cases {
            let mut t = terms();
            edit(&mut t);
            let e = t.validate().expect_err(field).to_string();
            assert!(e.contains(field), "{e}");
        }
        let mut t = terms();
        t.replicas = MAX_REPLICAS;
        t.validate().expect("the limit itself is allowed");
        let who = NodeKey::from_seed([1; 32]).node_id();
        t.assign_timeout_ms = u64::MAX;
        assert!(matches!(
            t.announce([2; 32], who, [3; 32], 1),
            Err(ProtocolError::Overflow(_))
        ));
    }
}
