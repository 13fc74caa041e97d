//! The conductor's messages: every role's actions, authenticated peer messages, executor
//! events and the results of the conductor's own asynchronous work.

use pinpoint_chain::RegisteredNode;
use pinpoint_protocol::dispute::StepRecord;
use pinpoint_protocol::id::{JobId, NodeId};
use pinpoint_protocol::role::arbiter::ArbiterAction;
use pinpoint_protocol::role::party::PartyAction;
use pinpoint_protocol::role::trainer::TrainerAction;
use pinpoint_protocol::role::verifier::VerifierAction;
use pinpoint_train::JobSpec;
use ractor::RpcReplyPort;

use crate::executor::ExecEvent;
use crate::network::Routed;

use super::ConductStatus;

/// Messages of the [`super::Conductor`].
#[derive(Debug)]
pub enum ConductMsg {
    /// The trainer role's action.
    Trainer(TrainerAction),
    /// The verifier role's action.
    Verifier(VerifierAction),
    /// The arbiter role's action.
    Arbiter(ArbiterAction),
    /// The party role's action.
    Party(PartyAction),
    /// An authenticated peer message for one of this node's jobs or disputes.
    Peer(Routed),
    /// The executor's report.
    Exec(ExecEvent),
    /// Read the chain (events since the cursor, the clock) and run deadline duties.
    Tick,
    /// A spec fetch ended.
    SpecFetched {
        /// The chain's job id.
        job: u64,
        /// The spec, or why not.
        spec: Result<JobSpec, String>,
    },
    /// The verified registry, re-read.
    Registry(Vec<RegisteredNode>),
    /// The record of a disputed step, computed.
    StepRecorded {
        /// The dispute's scope.
        scope: JobId,
        /// The referee that asked.
        referee: NodeId,
        /// The step.
        lo: u64,
        /// The record.
        record: Result<StepRecord, String>,
    },
    /// A cheater's run, computed (adversary only).
    CheatRun {
        /// The job.
        job: JobId,
        /// Its (corrupted) state hashes.
        hashes: Result<Vec<[u8; 32]>, String>,
    },
    /// A sampled step, re-run for the verifier role.
    Recomputed {
        /// The job.
        job: JobId,
        /// The trainer.
        trainer: NodeId,
        /// The step.
        step: u64,
        /// What it gave.
        result: pinpoint_protocol::verify::Recomputed,
    },
    /// The conductor's status.
    Status(RpcReplyPort<ConductStatus>),
    /// Everything the node knows, for its HTTP API and dashboard.
    Snapshot(RpcReplyPort<super::Snapshot>),
}

/// `From`/`TryFrom` between [`ConductMsg`] and one variant's payload, so that a role shell, the
/// network and the executor each get a typed `DerivedActorRef` of the conductor.
macro_rules! variant {
    ($variant:ident, $ty:ty) => {
        impl From<$ty> for ConductMsg {
            fn from(v: $ty) -> Self {
                ConductMsg::$variant(v)
            }
        }
        impl TryFrom<ConductMsg> for $ty {
            type Error = ConductMsg;
            fn try_from(m: ConductMsg) -> Result<Self, ConductMsg> {
                match m {
                    ConductMsg::$variant(v) => Ok(v),
                    other => Err(other),
                }
            }
        }
    };
}

variant!(Trainer, TrainerAction);
variant!(Verifier, VerifierAction);
variant!(Arbiter, ArbiterAction);
variant!(Party, PartyAction);
variant!(Peer, Routed);
variant!(Exec, ExecEvent);
