//! [`ChildSpec`]: how the supervisor (re)starts one child, and [`ChildRef`]: the child's
//! current [`ActorRef`], which changes on every restart.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use ractor::{Actor, ActorCell, ActorId, ActorRef, SpawnErr};
use tokio::sync::watch;

type SpawnFuture = Pin<Box<dyn Future<Output = Result<ActorCell, SpawnErr>> + Send>>;
type SpawnFn = Arc<dyn Fn(ActorCell) -> SpawnFuture + Send + Sync>;

/// A child of the supervisor: its name (for logs and errors; never registered globally) and
/// how to spawn it, again on every restart.
#[derive(Clone)]
pub struct ChildSpec {
    name: String,
    spawn: SpawnFn,
}

impl std::fmt::Debug for ChildSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChildSpec")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl ChildSpec {
    /// A child spawned from `make()` (called for the first start and for every restart), and
    /// the handle through which other actors reach its current incarnation.
    pub fn new<A, F>(name: impl Into<String>, make: F) -> (Self, ChildRef<A::Msg>)
    where
        A: Actor,
        F: Fn() -> (A, A::Arguments) + Send + Sync + 'static,
    {
        let (tx, rx) = watch::channel(None);
        let tx = Arc::new(tx);
        let spawn: SpawnFn = Arc::new(move |supervisor: ActorCell| {
            let (actor, args) = make();
            let tx = Arc::clone(&tx);
            Box::pin(async move {
                let (actor_ref, _join) = A::spawn_linked(None, actor, args, supervisor).await?;
                let cell = actor_ref.get_cell();
                tx.send_replace(Some(actor_ref));
                Ok(cell)
            })
        });
        (
            Self {
                name: name.into(),
                spawn,
            },
            ChildRef { rx },
        )
    }

    /// The child's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub(super) fn spawn(&self, supervisor: ActorCell) -> SpawnFuture {
        (self.spawn)(supervisor)
    }
}

/// The current [`ActorRef`] of a supervised child (updated by each restart).
#[derive(Debug)]
pub struct ChildRef<M> {
    rx: watch::Receiver<Option<ActorRef<M>>>,
}

// Not derived: a handle is cloneable whatever the message type.
impl<M> Clone for ChildRef<M> {
    fn clone(&self) -> Self {
        Self {
            rx: self.rx.clone(),
        }
    }
}

impl<M> ChildRef<M> {
    /// The child's current incarnation (`None` before its first start).
    pub fn get(&self) -> Option<ActorRef<M>> {
        self.rx.borrow().clone()
    }

    /// Waits until the child runs as an incarnation other than `previous` (`None`: any) and
    /// returns it; `None` when the supervisor is gone.
    pub async fn started_after(&mut self, previous: Option<ActorId>) -> Option<ActorRef<M>> {
        let current = self
            .rx
            .wait_for(|v| v.as_ref().is_some_and(|r| Some(r.get_id()) != previous))
            .await
            .ok()?;
        current.clone()
    }
}
