//! A trained job's result, for a client to check itself (`pinpoint job result`):
//! `GET /api/v1/jobs/{id}/result` gives the trainer's account, the state hashes
//! `h(S_0) … h(S_T)` of its run and the content hash of its checkpoint at `T` (the full final
//! state); `GET /api/v1/jobs/{id}/result/checkpoint` gives that checkpoint's bytes. The client
//! checks the Merkle root over the hashes against the trainer's root on chain, the bytes
//! against their hash, and the decoded state's hash against `h(S_T)`: it trusts no node.
//!
//! The executor keeps what this needs in the trainer's store, and retention never evicts it
//! (`store::retention`): the newest checkpoint of each job and the hash-log segments.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use pinpoint_chain::Address;
use pinpoint_train::Digest;

use crate::conduct::job_key;
use crate::store::{Kind, RefKey, SharedStore};

/// A trainer's result of one job.
#[derive(Debug, Clone)]
pub struct JobResult {
    /// The trainer's account (whose root on chain the hashes must give).
    pub account: Address,
    /// `T`.
    pub step: u64,
    /// `h(S_0) … h(S_T)`.
    pub hashes: Vec<Digest>,
    /// The checkpoint at `T` (the store's encoding; `pinpoint_train::checkpoint::decode`).
    pub checkpoint: Vec<u8>,
}

/// A future of a job's result: `None` when this node holds none.
pub type ResultFuture = Pin<Box<dyn Future<Output = Result<Option<JobResult>, String>> + Send>>;
/// Reads results by chain job id.
pub type ResultSource = Arc<dyn Fn(u64) -> ResultFuture + Send + Sync>;

/// The result of chain job `job` in `store`, if the executor trained it to the end there.
///
/// Errors: the store (a message).
pub fn read(
    store: &SharedStore,
    account: Address,
    chain_id: u64,
    market: Address,
    job: u64,
) -> Result<Option<JobResult>, String> {
    let key = job_key(chain_id, market, job);
    let mut s = store.lock().map_err(|e| e.to_string())?;
    let Some(step) = s.steps(&key, Kind::Checkpoint).into_iter().max() else {
        return Ok(None);
    };
    let Some(checkpoint) = s
        .get(&RefKey::checkpoint(key, step))
        .map_err(|e| e.to_string())?
    else {
        return Ok(None);
    };
    let decoded = pinpoint_train::checkpoint::decode(&checkpoint, None)
        .map_err(|e| format!("the checkpoint at step {step}: {e}"))?;
    let hashes = crate::executor::journal::hash_prefix(&mut s, &key, step, decoded.state_hash)
        .map_err(|e| e.to_string())?;
    Ok(hashes.map(|hashes| JobResult {
        account,
        step,
        hashes,
        checkpoint,
    }))
}

/// A [`ResultSource`] over one node's store (its account, the chain's id and market).
pub fn store_results(
    store: SharedStore,
    account: Address,
    chain_id: u64,
    market: Address,
) -> ResultSource {
    Arc::new(move |job| -> ResultFuture {
        let store = store.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || read(&store, account, chain_id, market, job))
                .await
                .map_err(|e| format!("reading the store: {e}"))?
        })
    })
}

/// A [`ResultSource`] over a devnet: the first trainer whose store holds the job's result
/// and which did not lose a dispute over it.
pub fn devnet_results<S: crate::devnet::DevChain + Send + Sync>(
    net: Arc<crate::devnet::Devnet<S>>,
) -> ResultSource {
    Arc::new(move |job| -> ResultFuture {
        let net = net.clone();
        Box::pin(async move {
            let market = net.chain.lock().await.addresses().market;
            let trainers: Vec<(SharedStore, Address)> = net
                .with_role(pinpoint_chain::Role::Trainer)
                .filter(|n| n.cheat.is_none())
                .map(|n| (n.assembly.store.clone(), n.account))
                .collect();
            let chain_id = net.chain_id;
            tokio::task::spawn_blocking(move || {
                for (store, account) in trainers {
                    if let Some(r) = read(&store, account, chain_id, market, job)? {
                        return Ok(Some(r));
                    }
                }
                Ok(None)
            })
            .await
            .map_err(|e| format!("reading the stores: {e}"))?
        })
    })
}
