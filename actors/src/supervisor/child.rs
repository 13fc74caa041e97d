//! [`ChildSpec`]: how the supervisor (re)starts one child, [`ChildRef`]: the child's
//! current [`ActorRef`], which changes on every restart, and [`Sink`]: where an actor sends
//! one kind of message, whether the receiver is a fixed actor or a supervised child.
//!
//! Two children that must reach each other (the executor reports to the conductor, the
//! conductor drives the executor) are built from [`ChildSlot`]s: [`child_slot`] hands out
//! the [`ChildRef`] before the child's spawn function exists.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use ractor::{Actor, ActorCell, ActorId, ActorRef, DerivedActorRef, Message, SpawnErr};
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

/// The writing end of a [`ChildRef`]: turned into a [`ChildSpec`] by [`ChildSpec::in_slot`].
#[derive(Debug)]
pub struct ChildSlot<M> {
    tx: watch::Sender<Option<ActorRef<M>>>,
}

/// A slot for a child not specified yet, and the handle that will reach it.
pub fn child_slot<M>() -> (ChildSlot<M>, ChildRef<M>) {
    let (tx, rx) = watch::channel(None);
    (ChildSlot { tx }, ChildRef { rx })
}

impl ChildSpec {
    /// A child spawned from `make()` (called for the first start and for every restart), and
    /// the handle through which other actors reach its current incarnation.
    pub fn new<A, F>(name: impl Into<String>, make: F) -> (Self, ChildRef<A::Msg>)
    where
        A: Actor,
        F: Fn() -> (A, A::Arguments) + Send + Sync + 'static,
    {
        let (slot, child) = child_slot();
        (Self::in_slot(name, slot, make), child)
    }

    /// A child spawned from `make()` whose incarnations are published through `slot` (to the
    /// [`ChildRef`]s taken from [`child_slot`]).
    pub fn in_slot<A, F>(name: impl Into<String>, slot: ChildSlot<A::Msg>, make: F) -> Self
    where
        A: Actor,
        F: Fn() -> (A, A::Arguments) + Send + Sync + 'static,
    {
        let tx = Arc::new(slot.tx);
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
        Self {
            name: name.into(),
            spawn,
        }
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
    /// A handle that always reaches `actor` (an unsupervised actor, e.g. in tests).
    pub fn fixed(actor: ActorRef<M>) -> Self {
        let (_tx, rx) = watch::channel(Some(actor));
        Self { rx }
    }

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

impl<M: Message> ChildRef<M> {
    /// A [`Sink`] of `T` into the child's current incarnation.
    pub fn sink<T>(&self) -> Sink<T>
    where
        M: From<T>,
    {
        let child = self.clone();
        Sink(Arc::new(move |v: T| {
            child
                .get()
                .is_some_and(|a| a.send_message(M::from(v)).is_ok())
        }))
    }
}

/// Where an actor sends messages of type `T`: a fixed actor ([`From`] a `DerivedActorRef`) or
/// the current incarnation of a supervised child ([`ChildRef::sink`]), so that the sender
/// keeps reaching a receiver that was restarted.
pub struct Sink<T>(Arc<dyn Fn(T) -> bool + Send + Sync>);

impl<T> Sink<T> {
    /// Sends `v`; `false` when the receiver is gone (or not started yet): `v` is dropped.
    pub fn send(&self, v: T) -> bool {
        (self.0)(v)
    }
}

impl<T> Clone for Sink<T> {
    fn clone(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

impl<T> std::fmt::Debug for Sink<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sink")
    }
}

impl<T: Message> From<DerivedActorRef<T>> for Sink<T> {
    fn from(r: DerivedActorRef<T>) -> Self {
        Self(Arc::new(move |v: T| r.send_message(v).is_ok()))
    }
}
