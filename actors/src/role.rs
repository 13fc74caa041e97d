//! The role shell: one generic actor around any protocol role machine
//! ([`pinpoint_protocol::role::Machine`]; DESIGN §3, "Actor rules"). It makes no protocol
//! decision: it feeds the machine its inputs, hands every action, in order, to the node's
//! effects actor (which sends, computes, calls the chain or stores), and arms one timer for
//! the machine's next deadline. Time is tokio's clock, in milliseconds since the shell
//! started, so a paused runtime drives it deterministically.
//!
//! An input the machine refuses (a peer's replay, a message for no known dispute, …) is
//! counted and logged; it never fails the actor. Its work runs in a `tracing` span with the
//! `role` and `node` fields.

use std::marker::PhantomData;
use std::time::Duration;

use pinpoint_protocol::role::Machine;
use ractor::{Actor, ActorProcessingErr, ActorRef, DerivedActorRef, RpcReplyPort};
use tokio::time::Instant;

/// The role shell's actor (one per enabled role of a node).
#[derive(Debug)]
pub struct RoleShell<M>(PhantomData<fn() -> M>);

impl<M> Default for RoleShell<M> {
    fn default() -> Self {
        Self(PhantomData)
    }
}

/// Messages of a [`RoleShell`].
#[derive(Debug)]
pub enum RoleMsg<I> {
    /// An input for the machine: a chain event, an authenticated peer message or a compute
    /// result.
    Input(I),
    /// The armed timer fired.
    Timeout,
    /// The shell's counters.
    Stats(RpcReplyPort<RoleStats>),
}

/// What a role shell counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RoleStats {
    /// Inputs the machine took.
    pub inputs: u64,
    /// Inputs the machine refused.
    pub refused: u64,
    /// Actions handed to the effects actor.
    pub actions: u64,
    /// Timeouts handled.
    pub timeouts: u64,
}

/// What a role shell is spawned with.
#[derive(Debug)]
pub struct RoleArgs<M: Machine> {
    /// The role machine.
    pub machine: M,
    /// Where its actions go.
    pub effects: DerivedActorRef<M::Action>,
    /// The role's name, for logs.
    pub role: &'static str,
    /// The node's id (e.g. its `NodeId` in hex), for logs.
    pub node: String,
}

/// A role shell's state.
#[derive(Debug)]
pub struct RoleState<M: Machine> {
    machine: M,
    effects: DerivedActorRef<M::Action>,
    role: &'static str,
    node: String,
    start: Instant,
    /// The deadline the armed timer is for.
    armed: Option<u64>,
    stats: RoleStats,
}

impl<M: Machine> RoleState<M> {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Hands the machine's actions to the effects actor, then arms the timer.
    fn drain(&mut self, myself: &ActorRef<RoleMsg<M::Input>>) -> Result<(), ActorProcessingErr>
    where
        M::Input: Send + 'static,
        M::Action: Send + 'static,
    {
        while let Some(a) = self.machine.poll_action() {
            self.stats.actions += 1;
            self.effects.send_message(a)?;
        }
        let next = self.machine.next_deadline();
        if let Some(at) = next
            && self.armed != Some(at)
        {
            self.armed = Some(at);
            let wait = Duration::from_millis(at.saturating_sub(self.now_ms()));
            myself.send_after(wait, || RoleMsg::Timeout);
        }
        Ok(())
    }
}

impl<M> Actor for RoleShell<M>
where
    M: Machine + Send + 'static,
    M::Input: Send + 'static,
    M::Action: Send + 'static,
{
    type Msg = RoleMsg<M::Input>;
    type State = RoleState<M>;
    type Arguments = RoleArgs<M>;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        args: RoleArgs<M>,
    ) -> Result<RoleState<M>, ActorProcessingErr> {
        Ok(RoleState {
            machine: args.machine,
            effects: args.effects,
            role: args.role,
            node: args.node,
            start: Instant::now(),
            armed: None,
            stats: RoleStats::default(),
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut RoleState<M>,
    ) -> Result<(), ActorProcessingErr> {
        // Every log line of the machine's work carries the role and the node (DESIGN §3).
        let span = tracing::info_span!("role", role = state.role, node = %state.node);
        let _entered = span.enter();
        match msg {
            RoleMsg::Input(input) => {
                let now = state.now_ms();
                match state.machine.handle(now, input) {
                    Ok(()) => state.stats.inputs += 1,
                    Err(e) => {
                        state.stats.refused += 1;
                        tracing::warn!(error = %e, "input refused");
                    }
                }
            }
            RoleMsg::Timeout => {
                state.armed = None;
                state.stats.timeouts += 1;
                let now = state.now_ms();
                state.machine.handle_timeout(now);
            }
            RoleMsg::Stats(reply) => {
                let _ = reply.send(state.stats);
                return Ok(());
            }
        }
        state.drain(&myself)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pinpoint_protocol::id::NodeKey;
    use pinpoint_protocol::role::adversary::{CheatingTrainer, TrainerCheat};
    use pinpoint_protocol::role::trainer::{TrainerAction, TrainerInput, TrainerRole};

    const JOB: [u8; 32] = [3; 32];

    fn trained() -> TrainerInput {
        TrainerInput::Trained {
            job: JOB,
            state_hashes: (0u8..9).map(|i| [i; 32]).collect(),
            committed: false,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_shell_feeds_the_machine_carries_out_its_actions_and_fires_its_timer() {
        let (effects, mut rx) = crate::testkit::forward::<TrainerAction>()
            .await
            .expect("effects");
        let machine =
            CheatingTrainer::new(TrainerRole::new(), TrainerCheat::Stall { hold_ms: 500 });
        let args = RoleArgs {
            machine,
            effects: effects.get_derived(),
            role: "trainer",
            node: "test".into(),
        };
        let (shell, _) = Actor::spawn(None, RoleShell::default(), args)
            .await
            .expect("shell");
        shell.send_message(RoleMsg::Input(trained())).expect("send");
        assert!(matches!(
            rx.recv().await,
            Some(TrainerAction::Commit { .. })
        ));
        // A second completion of the same run is refused and counted, not fatal.
        shell.send_message(RoleMsg::Input(trained())).expect("send");
        let from = NodeKey::from_seed([9; 32]).node_id();
        let request = TrainerInput::OpeningRequest {
            from,
            job: JOB,
            step: 2,
        };
        shell.send_message(RoleMsg::Input(request)).expect("send");
        // The staller holds the opening: nothing before its deadline, the opening after.
        tokio::time::sleep(Duration::from_millis(499)).await;
        assert!(rx.try_recv().is_err());
        let a = tokio::time::timeout(Duration::from_millis(10), rx.recv()).await;
        assert!(
            matches!(a, Ok(Some(TrainerAction::SendOpening { .. }))),
            "{a:?}"
        );
        let stats = ractor::call!(shell, RoleMsg::Stats).expect("stats");
        assert_eq!(
            stats,
            RoleStats {
                inputs: 2,
                refused: 1,
                actions: 2,
                timeouts: 1
            }
        );
    }
}
