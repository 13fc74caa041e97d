//! The dispute [`Party`]: answers the referee's queries from a [`RunSource`], and
//! [`Answerer`], the same party signing its answers.

use pinpoint_kernels::graph::ValueRef;

use super::record::{RunRecord, RunSource, StepRecord, chain_of};
use crate::codec::BoundedVec;
use crate::error::{ProtocolError, Result};
use crate::id::{JobId, NodeId, NodeKey};
use crate::merkle::{PrefixChain, StepCommitment};
use crate::wire::{
    AgreedProof, ChainSegment, InputTransfer, Message, NodeAnswer, SignedMessage, StepAnswer,
    ValueBlob, WireProof, verify_message,
};

/// An honest dispute party answering from a [`RunSource`]. (Cheating parties are wrappers
/// around it, in [`super::strategy`] behind the `adversary` feature.)
#[derive(Debug)]
pub struct Party {
    source: Box<dyn RunSource>,
    commitment: StepCommitment,
    step: Option<(u64, StepRecord, PrefixChain)>,
}

impl Party {
    /// A party with `record`.
    pub fn new(record: RunRecord) -> Result<Self> {
        Self::from_source(Box::new(record))
    }

    /// A party answering from any [`RunSource`].
    pub fn from_source(source: Box<dyn RunSource>) -> Result<Self> {
        let commitment = StepCommitment::new(source.state_hashes())?;
        Ok(Self {
            source,
            commitment,
            step: None,
        })
    }

    /// A party that knows only its committed state hashes `h(S_0) … h(S_T)`: the record of
    /// the disputed step comes from its executor, through [`Party::start_node_phase`] (a
    /// [`Message::NodePhaseStart`] given to [`Party::handle`] is then an error). This is how a
    /// role machine holds a party without running the model inside `handle`.
    ///
    /// Errors: an empty or oversized hash list.
    pub fn from_hashes(state_hashes: Vec<[u8; 32]>) -> Result<Self> {
        Self::from_source(Box::new(HashesOnly(state_hashes)))
    }

    /// Starts the node phase at step `lo` with the record of step `lo → lo + 1` (computed by
    /// the caller): what [`Party::handle`] does for a [`Message::NodePhaseStart`] with a full
    /// run source.
    ///
    /// Errors: a record that does not fit the party's run.
    pub fn start_node_phase(&mut self, lo: u64, rec: StepRecord) -> Result<()> {
        let chain = chain_of(self.source.state_hashes(), lo, &rec)?;
        self.step = Some((lo, rec, chain));
        Ok(())
    }

    /// The root the party signed.
    pub fn root(&self) -> [u8; 32] {
        self.commitment.root()
    }

    /// `h(S_0) … h(S_T)` of the party's run.
    pub fn state_hashes(&self) -> &[[u8; 32]] {
        self.source.state_hashes()
    }

    fn proof(&self, p: crate::merkle::MerkleProof) -> Result<WireProof> {
        WireProof::new(p)
    }

    fn current(&self, what: &str) -> Result<&(u64, StepRecord, PrefixChain)> {
        self.step
            .as_ref()
            .ok_or_else(|| ProtocolError::InvalidArgument(format!("{what} before node phase")))
    }

    /// The party's answer to a referee message (`None` for notifications, or when silent).
    ///
    /// Errors: a query for something outside the run ([`ProtocolError::InvalidArgument`]).
    pub fn handle(&mut self, msg: &Message) -> Result<Option<Message>> {
        match msg {
            Message::StepQuery(q) => {
                let i = usize::try_from(q.step).unwrap_or(usize::MAX);
                let state_hash = *self.source.state_hashes().get(i).ok_or_else(|| {
                    ProtocolError::InvalidArgument(format!("no state {}", q.step))
                })?;
                let proof = self.proof(self.commitment.proof(q.step)?)?;
                Ok(Some(Message::StepAnswer(StepAnswer {
                    step: q.step,
                    state_hash,
                    proof,
                })))
            }
            Message::NodePhaseStart(s) => {
                let rec = self.source.step_record(s.lo)?;
                self.start_node_phase(s.lo, rec)?;
                Ok(None)
            }
            Message::NodeQuery(q) => {
                let (_, _, chain) = self.current("node query")?;
                let i = usize::try_from(q.index).unwrap_or(usize::MAX);
                let link = chain
                    .get(i)
                    .ok_or_else(|| ProtocolError::InvalidArgument(format!("no link {i}")))?;
                let proof = self.proof(chain.proof(i)?)?;
                Ok(Some(Message::NodeAnswer(NodeAnswer {
                    index: q.index,
                    link,
                    proof,
                    chain_root: Some(chain.commitment()),
                })))
            }
            Message::InputQuery(q) => self.inputs(q.index).map(Some),
            _ => Ok(None),
        }
    }

    /// The inputs of chain position `index` with their proof of agreed data.
    fn inputs(&self, index: u64) -> Result<Message> {
        let (_, rec, chain) = self.current("input query")?;
        let n = rec.graph.nodes.len() as u64;
        let bad = || ProtocolError::InvalidArgument(format!("no node {index}"));
        if index == 0 || index > n + 1 {
            return Err(bad());
        }
        // Values, and the earliest node (0-based) whose outputs they read.
        let (blobs, refs): (Vec<ValueBlob>, Vec<ValueRef>) = if index == n + 1 {
            let refs = rec
                .graph
                .outputs
                .iter()
                .filter(|(name, _)| name.starts_with("param:") || name.starts_with("optim:"))
                .map(|(_, r)| *r)
                .collect();
            (Vec::new(), refs)
        } else {
            let i = (index - 1) as usize;
            let trace = rec.traces.get(i).ok_or_else(bad)?;
            let blobs = trace
                .inputs
                .iter()
                .map(ValueBlob::from_value)
                .collect::<Result<Vec<_>>>()?;
            (blobs, rec.graph.nodes[i].inputs.clone())
        };
        let first = refs
            .iter()
            .filter_map(|r| match r {
                ValueRef::Node { node, .. } => Some(*node as u64 + 1),
                _ => None,
            })
            .min()
            .unwrap_or(index);
        let start = chain
            .get((first - 1) as usize)
            .ok_or_else(|| ProtocolError::InvalidArgument(format!("no link {}", first - 1)))?;
        let outputs = (first..index)
            .map(|pos| rec.outputs_of((pos - 1) as usize))
            .collect::<Result<Vec<_>>>()?;
        Ok(Message::InputTransfer(InputTransfer {
            index,
            inputs: BoundedVec::new(blobs)?,
            proof: AgreedProof {
                state: rec.before.clone(),
                chain: ChainSegment {
                    first,
                    start,
                    outputs: BoundedVec::new(outputs)?,
                },
            },
        }))
    }
}

/// A run known only by its state hashes (see [`Party::from_hashes`]).
#[derive(Debug)]
struct HashesOnly(Vec<[u8; 32]>);

impl RunSource for HashesOnly {
    fn state_hashes(&self) -> &[[u8; 32]] {
        &self.0
    }

    fn step_record(&mut self, lo: u64) -> Result<StepRecord> {
        Err(ProtocolError::InvalidArgument(format!(
            "the record of step {lo} comes from the executor (Party::start_node_phase)"
        )))
    }
}

/// A [`Party`] that signs its answers: it accepts only messages signed by the dispute's
/// referee for its job, and signs each answer with the query's round and its own increasing
/// sequence number.
#[derive(Debug)]
pub struct Answerer {
    key: NodeKey,
    job: JobId,
    referee: NodeId,
    seq: u64,
    party: Party,
}

impl Answerer {
    /// `party`, signing with `key`, answering `referee` in the dispute over `job`.
    pub fn new(key: NodeKey, job: JobId, referee: NodeId, party: Party) -> Self {
        Self {
            key,
            job,
            referee,
            seq: 0,
            party,
        }
    }

    /// The party's node id.
    pub fn id(&self) -> NodeId {
        self.key.node_id()
    }

    /// The signing key.
    pub fn key(&self) -> &NodeKey {
        &self.key
    }

    /// The job.
    pub fn job(&self) -> JobId {
        self.job
    }

    /// The answering party.
    pub fn party(&self) -> &Party {
        &self.party
    }

    /// The answering party, mutably (strategies build deviating answers from it).
    pub fn party_mut(&mut self) -> &mut Party {
        &mut self.party
    }

    /// Signs `msg` for `round` with the next sequence number.
    pub fn sign(&mut self, msg: Message, round: u32) -> Result<SignedMessage> {
        self.seq += 1;
        msg.sign(&self.key, self.job, round, self.seq)
    }

    /// The unsigned answer to a verified referee message (`Ok(None)`: nothing to say; an
    /// unverifiable or foreign message is also `Ok(None)`).
    pub fn answer(&mut self, msg: &SignedMessage) -> Result<Option<Message>> {
        if msg.signer != self.referee || msg.job != self.job || verify_message(msg).is_err() {
            return Ok(None);
        }
        self.party.handle(&msg.statement)
    }

    /// The signed answer to a referee message.
    pub fn respond(&mut self, msg: &SignedMessage) -> Result<Option<SignedMessage>> {
        match self.answer(msg)? {
            Some(a) => self.sign(a, msg.round).map(Some),
            None => Ok(None),
        }
    }
}
