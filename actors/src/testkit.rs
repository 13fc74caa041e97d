//! Test helpers, for the crate's own tests (compiled for unit tests and with the test-only
//! feature `fault-hooks`, which the integration tests enable).

use std::marker::PhantomData;

use ractor::{Actor, ActorProcessingErr, ActorRef};
use tokio::sync::mpsc;

/// An actor that hands every message it receives to a channel: a stand-in for the actor a
/// test wants to observe (an effects actor, a job's handler).
#[derive(Debug)]
pub struct Forward<M>(PhantomData<fn() -> M>);

impl<M: Send + 'static> Actor for Forward<M> {
    type Msg = M;
    type State = mpsc::UnboundedSender<M>;
    type Arguments = mpsc::UnboundedSender<M>;

    async fn pre_start(
        &self,
        _: ActorRef<M>,
        tx: Self::Arguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(tx)
    }

    async fn handle(
        &self,
        _: ActorRef<M>,
        msg: M,
        tx: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let _ = tx.send(msg);
        Ok(())
    }
}

/// Spawns a [`Forward`] actor; returns it and the receiving end of its channel.
///
/// Errors: ractor's spawn error.
pub async fn forward<M: Send + 'static>()
-> Result<(ActorRef<M>, mpsc::UnboundedReceiver<M>), ractor::SpawnErr> {
    let (tx, rx) = mpsc::unbounded_channel();
    let (actor, _) = Actor::spawn(None, Forward(PhantomData), tx).await?;
    Ok((actor, rx))
}
