//! Test helpers: a tiny job, a node config in a temp dir, an event collector actor.

use std::path::Path;

use pinpoint_actors::config::NodeConfig;
use pinpoint_actors::executor::{ComputeOutput, ExecutorMsg};
use pinpoint_actors::executor::{ComputeRequest, ExecEvent, FaultPlan, TrainJob, TrainResult};
use pinpoint_actors::node::{Node, NodeDeps};
use pinpoint_train::{JobSpec, LoadedSpec};
use ractor::{Actor, ActorProcessingErr, ActorRef};
use tokio::sync::mpsc;

/// [`spec`]`(6)`'s TOML text.
pub(crate) const SPEC_TOML_6: &str = "seed = 3\nsteps = 6\ncheckpoint_every = 3\nbatch_size = 8\n\
     [model]\nkind = \"mlp\"\ninput = 2\nhidden = [8]\nclasses = 3\nactivation = \"relu\"\n\
     [data]\nkind = \"spirals\"\nclasses = 3\nturns = 1.0\nnoise = 0.05\n\
     [optimizer]\nkind = \"sgd\"\nlr = 0.05\nmomentum = 0.9\nweight_decay = 0.0\n\
     [eval]\nevery = 6\nbatches = 1\nbatch_size = 16\n";

/// A small MLP job: `steps` steps, a checkpoint every 3.
pub(crate) fn spec(steps: u64) -> JobSpec {
    let text = format!(
        "seed = 3\nsteps = {steps}\ncheckpoint_every = 3\nbatch_size = 8\n\
         [model]\nkind = \"mlp\"\ninput = 2\nhidden = [8]\nclasses = 3\nactivation = \"relu\"\n\
         [data]\nkind = \"spirals\"\nclasses = 3\nturns = 1.0\nnoise = 0.05\n\
         [optimizer]\nkind = \"sgd\"\nlr = 0.05\nmomentum = 0.9\nweight_decay = 0.0\n\
         [eval]\nevery = {steps}\nbatches = 1\nbatch_size = 16\n"
    );
    LoadedSpec::from_toml_str(&text).expect("valid spec").spec
}

pub(crate) const JOB: [u8; 32] = [5; 32];

pub(crate) fn train(steps: u64) -> ComputeRequest {
    ComputeRequest::Train(TrainJob {
        job: JOB,
        spec: spec(steps),
        text: None,
    })
}

pub(crate) fn config(dir: &Path, max_restarts: u32) -> NodeConfig {
    let text = format!(
        "[node]\ndata_dir = \"data\"\n[roles.trainer]\nstake_pin = 1\n\
         [supervision]\nmax_restarts = {max_restarts}\nwindow_s = 3600\n"
    );
    NodeConfig::from_toml_str(&text, dir, "test").expect("config")
}

/// Forwards executor events to a channel.
pub(crate) struct Collector;

impl Actor for Collector {
    type Msg = ExecEvent;
    type State = mpsc::UnboundedSender<ExecEvent>;
    type Arguments = mpsc::UnboundedSender<ExecEvent>;

    async fn pre_start(
        &self,
        _me: ActorRef<ExecEvent>,
        tx: Self::Arguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(tx)
    }

    async fn handle(
        &self,
        _me: ActorRef<ExecEvent>,
        msg: ExecEvent,
        tx: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let _ = tx.send(msg);
        Ok(())
    }
}

/// A node over `dir` with an event collector.
pub(crate) async fn node(
    dir: &Path,
    max_restarts: u32,
    fault: Option<FaultPlan>,
) -> (
    Node,
    mpsc::UnboundedReceiver<ExecEvent>,
    ActorRef<ExecEvent>,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    let (collector, _) = Collector::spawn(None, Collector, tx)
        .await
        .expect("collector");
    let deps = NodeDeps {
        executor_events: collector.get_derived().into(),
        fault,
        inbound: None,
        store: None,
    };
    let node = Node::spawn(&config(dir, max_restarts), deps)
        .await
        .expect("node starts");
    (node, rx, collector)
}

pub(crate) fn executor(node: &Node) -> ActorRef<ExecutorMsg> {
    node.executor.get().expect("the executor is running")
}

pub(crate) async fn submit(node: &Node, req: ComputeRequest) {
    ractor::call!(executor(node), ExecutorMsg::Submit, req)
        .expect("the executor answers")
        .expect("accepted");
}

/// Waits for the job's result, collecting the other events.
pub(crate) async fn done(
    rx: &mut mpsc::UnboundedReceiver<ExecEvent>,
) -> (TrainResult, Vec<ExecEvent>) {
    let mut seen = Vec::new();
    while let Some(e) = rx.recv().await {
        match e {
            ExecEvent::Done(ComputeOutput::Trained(r)) => return (r, seen),
            ExecEvent::Failed { error, .. } => panic!("job failed: {error}"),
            other => seen.push(other),
        }
    }
    panic!("events ended before the job finished: {seen:?}");
}
