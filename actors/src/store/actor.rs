//! The store actor: the [`Store`](super::Store) for async callers. Each operation runs on
//! tokio's blocking pool (file writes fsync), never on the runtime's worker threads; the
//! executor's thread uses the same [`SharedStore`] directly.

use pinpoint_train::Digest;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};

use super::{RefKey, SharedStore, StoreError, StoreStats};

/// The store actor.
#[derive(Debug, Clone, Copy, Default)]
pub struct StoreActor;

/// Messages of the store actor.
#[derive(Debug)]
pub enum StoreMsg {
    /// Store bytes under a ref ([`Store::put`](super::Store::put)).
    Put(RefKey, Vec<u8>, RpcReplyPort<Result<Digest, StoreError>>),
    /// The verified bytes a ref names ([`Store::get`](super::Store::get)).
    Get(RefKey, RpcReplyPort<Result<Option<Vec<u8>>, StoreError>>),
    /// A verified blob by hash ([`Store::get_blob`](super::Store::get_blob)).
    Blob(Digest, RpcReplyPort<Result<Option<Vec<u8>>, StoreError>>),
    /// The counters.
    Stats(RpcReplyPort<Result<StoreStats, StoreError>>),
}

/// Runs `f` on the store on the blocking pool. A panic there fails the actor.
async fn blocking<T: Send + 'static>(
    store: &SharedStore,
    f: impl FnOnce(&mut super::Store) -> Result<T, StoreError> + Send + 'static,
) -> Result<Result<T, StoreError>, ActorProcessingErr> {
    let store = store.clone();
    let r = tokio::task::spawn_blocking(move || {
        let mut s = store.lock()?;
        f(&mut s)
    })
    .await?;
    Ok(r)
}

impl Actor for StoreActor {
    type Msg = StoreMsg;
    type State = SharedStore;
    type Arguments = SharedStore;

    async fn pre_start(
        &self,
        _myself: ActorRef<StoreMsg>,
        store: SharedStore,
    ) -> Result<SharedStore, ActorProcessingErr> {
        Ok(store)
    }

    async fn handle(
        &self,
        _myself: ActorRef<StoreMsg>,
        msg: StoreMsg,
        store: &mut SharedStore,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            StoreMsg::Put(key, bytes, reply) => {
                let _ = reply.send(blocking(store, move |s| s.put(key, &bytes)).await?);
            }
            StoreMsg::Get(key, reply) => {
                let _ = reply.send(blocking(store, move |s| s.get(&key)).await?);
            }
            StoreMsg::Blob(digest, reply) => {
                let _ = reply.send(blocking(store, move |s| s.get_blob(&digest)).await?);
            }
            StoreMsg::Stats(reply) => {
                let _ = reply.send(blocking(store, |s| Ok(s.stats())).await?);
            }
        }
        Ok(())
    }
}
