//! Dispute-cost report: disputes over the example transformer (`examples/addition.toml`) with
//! `T` overridden, between an honest trainer and a cheater, over signed messages.
//!
//! For each `T` it prints rounds, messages, bytes, the referee's CPU time (the whole driven
//! dispute minus the time spent inside the two parties' answers) and the time to re-run the
//! whole job on one thread, and their ratio.
//!
//! ```sh
//! cargo run --release -p pinpoint-protocol --example dispute_cost -- 64 1024
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used)]
// Dev-dependencies are shared by every test, bench and example target; each uses some.
#![allow(unused_crate_dependencies)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pinpoint_kernels::Cpu;
use pinpoint_protocol::dispute::driver::{Respond, run};
use pinpoint_protocol::dispute::strategy::{Cheater, Corruption, Deviation, Strategy};
use pinpoint_protocol::dispute::{
    Answerer, Deadlines, JobReexec, Party, Referee, Replayer, RunSource, StepRecord,
};
use pinpoint_protocol::id::{NodeId, NodeKey};
use pinpoint_protocol::wire::SignedMessage;
use pinpoint_train::LoadedSpec;
use pinpoint_train::fs::run::override_steps;

/// One honest run shared by both parties (the cheater corrupts its copy of the hashes).
#[derive(Debug, Clone)]
struct Shared(Arc<Mutex<Replayer>>, Vec<[u8; 32]>);

impl RunSource for Shared {
    fn state_hashes(&self) -> &[[u8; 32]] {
        &self.1
    }
    fn step_record(&mut self, lo: u64) -> pinpoint_protocol::Result<StepRecord> {
        self.0.lock().unwrap().step_record(lo)
    }
}

/// Times a party's answers.
struct Timed<'a>(&'a mut dyn Respond, Duration);

impl Respond for Timed<'_> {
    fn id(&self) -> NodeId {
        self.0.id()
    }
    fn respond(&mut self, msg: &SignedMessage) -> Vec<SignedMessage> {
        let t = Instant::now();
        let out = self.0.respond(msg);
        self.1 += t.elapsed();
        out
    }
}

fn main() {
    let steps: Vec<u64> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("T"))
        .collect();
    let steps = if steps.is_empty() {
        vec![64, 1024]
    } else {
        steps
    };
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/addition.toml");
    let text = std::fs::read_to_string(path).unwrap();
    println!(
        "| T | N | case | rounds | bound | messages | bytes | referee CPU ms | full re-run s | ratio |"
    );
    println!("|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|");
    for t in steps {
        let mut spec = LoadedSpec::from_toml_str(&text).unwrap().spec;
        override_steps(&mut spec, t).unwrap();
        let start = Instant::now();
        let replayer = Replayer::run(&spec, None, Cpu::single(), 64).unwrap();
        let full = start.elapsed();
        let hashes = replayer.state_hashes().to_vec();
        let shared = Shared(Arc::new(Mutex::new(replayer)), hashes);
        let n = shared.clone().step_record(0).unwrap().graph.nodes.len() as u64;
        let job = [9; 32];
        let referee_key = NodeKey::from_seed([100; 32]);
        let cases = [
            (
                "wrong node output",
                Corruption::WrongNode {
                    step: t / 2 + 1,
                    node: n / 2 + 1,
                },
            ),
            (
                "wrong state",
                Corruption::WrongStateFrom { step: t / 2 + 1 },
            ),
        ];
        for (name, corruption) in cases {
            let honest = Party::from_source(Box::new(shared.clone())).unwrap();
            let hr = honest.root();
            let mut honest = Answerer::new(
                NodeKey::from_seed([1; 32]),
                job,
                referee_key.node_id(),
                honest,
            );
            let strategy = Strategy {
                corruption,
                deviation: Deviation::None,
                salt: 0,
            };
            let mut cheat = Cheater::build(
                NodeKey::from_seed([2; 32]),
                job,
                referee_key.node_id(),
                Box::new(shared.clone()),
                strategy,
            )
            .unwrap();
            let cr = cheat.root();
            let begin = Instant::now();
            let reexec = JobReexec::new(&spec, None).unwrap();
            let (referee, actions) = Referee::new(
                job,
                (honest.id(), hr),
                (cheat.id(), cr),
                t,
                0,
                Deadlines::default(),
                reexec,
            )
            .unwrap();
            let mut a = Timed(&mut honest, Duration::ZERO);
            let mut b = Timed(&mut cheat, Duration::ZERO);
            let report = run(referee, actions, &referee_key, [&mut a, &mut b], 0).unwrap();
            let total = begin.elapsed();
            let referee_cpu = total - a.1 - b.1;
            assert!(matches!(
                report.verdict.outcome,
                pinpoint_protocol::wire::Outcome::Winner { winner, .. } if winner == honest.id()
            ));
            println!(
                "| {t} | {n} | {name} | {} | {} | {} | {} | {:.2} | {:.1} | {:.1e} |",
                report.rounds,
                pinpoint_protocol::dispute::round_bound(t, n),
                report.messages,
                report.bytes,
                referee_cpu.as_secs_f64() * 1e3,
                full.as_secs_f64(),
                referee_cpu.as_secs_f64() / full.as_secs_f64(),
            );
        }
    }
}
