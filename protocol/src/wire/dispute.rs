//! Dispute messages: opening, step bisection, node bisection, input transfer, verdict.
//!
//! The round of a query or answer is the envelope's `round` ([`crate::id::Signed::round`]);
//! queries repeat it in their body so that a logged query reads on its own.

use borsh::{BorshDeserialize, BorshSerialize};

use super::agreed::AgreedProof;
use super::blob::ValueBlob;
use super::proof::WireProof;
use crate::codec::BoundedVec;
use crate::id::{JobId, NodeId};

/// Most input values a disputed node may have: 16.
pub const MAX_NODE_INPUTS: u32 = 16;

/// The referee opens a dispute between two parties whose commitments differ.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct DisputeOpen {
    /// The job.
    pub job: JobId,
    /// The party that challenged (a trainer or a sampling verifier).
    pub challenger: NodeId,
    /// The party challenged.
    pub defendant: NodeId,
    /// The challenger's signed step-commitment root.
    pub challenger_root: [u8; 32],
    /// The defendant's signed step-commitment root.
    pub defendant_root: [u8; 32],
    /// Number of steps `T` both commitments cover.
    pub steps: u64,
}

/// Referee → party: send `h(S_step)` with its proof.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct StepQuery {
    /// Bisection round (`0`-based).
    pub round: u32,
    /// The step `t`, `0 ≤ t ≤ T`.
    pub step: u64,
}

/// Party → referee: `h(S_step)` and its inclusion proof against the party's root.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct StepAnswer {
    /// The step asked for.
    pub step: u64,
    /// `h(S_step)`.
    pub state_hash: [u8; 32],
    /// Proof of leaf `step` under the party's committed root.
    pub proof: WireProof,
}

/// Referee → parties: the steps agree up to `lo` and differ at `lo + 1`; node bisection over
/// the graph of step `lo → lo + 1` starts.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct NodePhaseStart {
    /// The last agreed step `lo`.
    pub lo: u64,
    /// Hash of the step graph's structure (its canonical node order `v_1 … v_N`).
    pub graph_hash: [u8; 32],
    /// Number of nodes `N`.
    pub nodes: u64,
}

/// Referee → party: send the prefix-chain link `c_index` with its proof.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct NodeQuery {
    /// Bisection round, counting on from the step phase.
    pub round: u32,
    /// Node index `i`, `1 ≤ i ≤ N`.
    pub index: u64,
}

/// Party → referee: the prefix-chain link `c_index` with its proof against the party's
/// prefix-chain root.
///
/// `chain_root` is the party's prefix-chain commitment
/// ([`crate::merkle::PrefixChain::commitment`]): `Some` in the party's first node answer of the
/// dispute and `None` afterwards (the referee binds it once and refuses a second, different one).
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct NodeAnswer {
    /// The node index asked for.
    pub index: u64,
    /// `c_index`.
    pub link: [u8; 32],
    /// Proof of `c_index` under the prefix-chain root.
    pub proof: WireProof,
    /// The prefix-chain root, sent once.
    pub chain_root: Option<[u8; 32]>,
}

/// Referee → party: send the input values of node `index` (the first disputed node).
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct InputQuery {
    /// The disputed node's index.
    pub index: u64,
}

/// Party → referee: the input values of the disputed node, in the node's input order, with the
/// proof that they follow from agreed data. Each blob carries its hash, checked on receipt
/// ([`ValueBlob::to_value`]) and then against the hash [`InputTransfer::proof`] proves: a
/// parameter or optimizer tensor against the manifest of `S_lo`, a node output against the
/// chain segment, a batch value or constant against the referee's own.
///
/// For the state-assembly pseudo-node (`index = N + 1`) `inputs` is empty: the referee
/// assembles `h(S_{lo+1})` from the proven hashes alone.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct InputTransfer {
    /// The disputed node's index.
    pub index: u64,
    /// Its inputs, at most [`MAX_NODE_INPUTS`].
    pub inputs: BoundedVec<ValueBlob, MAX_NODE_INPUTS>,
    /// The manifest of `S_lo` and the chain segment the inputs are proven against.
    pub proof: AgreedProof,
}

/// Who won.
#[derive(Debug, Clone, Copy, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum Outcome {
    /// One party was right (or the other forfeited).
    Winner {
        /// The winning party.
        winner: NodeId,
        /// The losing party (slashed).
        loser: NodeId,
    },
    /// Neither party matched the referee's re-execution, or both forfeited.
    BothLose {
        /// The challenger.
        challenger: NodeId,
        /// The defendant.
        defendant: NodeId,
    },
}

/// A way a party loses without a re-execution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum Fault {
    /// No valid answer before the deadline, after the bounded retries.
    Timeout,
    /// A Merkle proof that does not verify against the party's commitment.
    BadProof,
    /// Two different signed statements for the same thing (roots, answers).
    Equivocation,
    /// An input value whose hash does not match the agreed hash.
    BadInput,
    /// A message that is malformed or out of protocol.
    Malformed,
}

/// How the dispute was settled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum Resolution {
    /// The referee re-ran the first disputed node and compared the claims.
    Recomputed {
        /// The disputed step `lo → lo + 1` (this is `lo`).
        step: u64,
        /// The disputed node's index.
        node: u64,
        /// The challenger's claim at the disputed position: its prefix-chain link `c_{v*}`
        /// for a node, its `h(S_{lo+1})` for the state assembly (`node = N + 1`), its
        /// `h(S_0)` for a dispute about the initial state (`step = node = 0`).
        challenger_hash: [u8; 32],
        /// The defendant's claim, as `challenger_hash`.
        defendant_hash: [u8; 32],
        /// The referee's recomputed value, as `challenger_hash`.
        recomputed_hash: [u8; 32],
    },
    /// A party forfeited.
    Forfeit {
        /// The party at fault.
        offender: NodeId,
        /// What it did.
        fault: Fault,
    },
}

/// Referee → everyone: the dispute's outcome.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Verdict {
    /// The job.
    pub job: JobId,
    /// Who won.
    pub outcome: Outcome,
    /// Why.
    pub resolution: Resolution,
}
