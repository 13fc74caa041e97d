//! The devnet's live view: a progress bar per trainer, then the dispute's bisection as the
//! referee narrows it (step range, operator range, rounds), from the nodes' progress reports.
//! On a terminal the bars draw on stderr; otherwise every line goes to stderr as text, with
//! the training progress every few seconds.

use std::collections::{BTreeMap, BTreeSet};
use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use pinpoint_actors::conduct::{Cheat, Observed, Probe, Settled};
use pinpoint_chain::NodeId;

/// What the view knows of a node.
#[derive(Debug, Clone)]
pub(super) struct Member {
    /// `trainer-1`, …
    pub(super) name: String,
    /// Its NodeId.
    pub(super) node: NodeId,
    /// Whether it is a trainer.
    pub(super) trainer: bool,
    /// How it cheats.
    pub(super) cheat: Option<Cheat>,
}

/// One dispute as its committee's referees drive it: each runs the same bisection, so a
/// probe is shown once, from whichever referee gets there first.
#[derive(Debug)]
struct Followed {
    /// The latest round shown.
    round: u32,
    steps: Range,
    nodes: Range,
    /// Probes already shown (the referee asks both parties the same).
    shown: Vec<(u32, Probe)>,
}

/// A bisection range as the referee's successive probes reveal it: a probe above the last
/// one means the last was agreed (`lo` moves up), one below means it was disputed.
#[derive(Debug, Clone, Copy)]
struct Range {
    lo: u64,
    hi: u64,
    last: Option<u64>,
}

impl Range {
    fn new(hi: u64) -> Self {
        Self {
            lo: 0,
            hi,
            last: None,
        }
    }

    /// Narrows by the previous probe, given the next one `m`.
    fn probe(&mut self, m: u64) {
        if let Some(p) = self.last {
            if m > p {
                self.lo = p;
            } else if m < p {
                self.hi = p;
            }
        }
        self.last = Some(m);
    }
}

/// The live view.
pub(super) struct View {
    members: Vec<Member>,
    steps: u64,
    multi: Option<MultiProgress>,
    bars: BTreeMap<usize, ProgressBar>,
    last_line: BTreeMap<usize, Instant>,
    fetched: BTreeSet<usize>,
    disputes: BTreeMap<u64, Followed>,
    /// Query rounds each referee reported at its verdict, per dispute.
    rounds: BTreeMap<u64, u32>,
    lagged: u64,
    started: Instant,
}

impl View {
    /// A view of `members` training a job of `steps` steps.
    pub(super) fn new(members: Vec<Member>, steps: u64) -> Self {
        let multi = std::io::stderr()
            .is_terminal()
            .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()));
        Self {
            members,
            steps,
            multi,
            bars: BTreeMap::new(),
            last_line: BTreeMap::new(),
            fetched: BTreeSet::new(),
            disputes: BTreeMap::new(),
            rounds: BTreeMap::new(),
            lagged: 0,
            started: Instant::now(),
        }
    }

    /// Prints a line above the bars (or to stderr), after the seconds since the job was
    /// posted.
    pub(super) fn line(&self, text: impl AsRef<str>) {
        let t = self.started.elapsed().as_secs_f64();
        let text = format!("{t:>6.1}s {}", text.as_ref());
        match &self.multi {
            Some(m) => {
                let _ = m.println(text);
            }
            None => eprintln!("{text}"),
        }
    }

    fn name(&self, index: usize) -> &str {
        self.members.get(index).map_or("?", |m| m.name.as_str())
    }

    fn name_of(&self, node: &NodeId) -> String {
        self.members
            .iter()
            .find(|m| m.node == *node)
            .map_or_else(|| node.to_string(), |m| m.name.clone())
    }

    /// Adds a bar per trainer (the cheater's is a spinner: its run reports no steps).
    pub(super) fn start_training(&mut self) {
        let Some(multi) = &self.multi else {
            return;
        };
        let width = self.members.iter().map(|m| m.name.len()).max().unwrap_or(9);
        for (i, m) in self.members.iter().enumerate().filter(|(_, m)| m.trainer) {
            let bar = match m.cheat {
                None => {
                    let b = multi.add(ProgressBar::new(self.steps));
                    let t = format!("{{prefix:{width}}} {{bar:30}} step {{pos}}/{{len}} {{msg}}");
                    b.set_style(
                        ProgressStyle::with_template(&t)
                            .unwrap_or_else(|_| ProgressStyle::default_bar()),
                    );
                    b
                }
                Some(c) => {
                    let b = multi.add(ProgressBar::new_spinner());
                    let t = format!("{{prefix:{width}}} {{spinner}} {{msg}}");
                    b.set_style(
                        ProgressStyle::with_template(&t)
                            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                    );
                    b.set_message(format!(
                        "CHEATS: computes its run with operator {} of step {} corrupted",
                        c.node, c.step
                    ));
                    b.enable_steady_tick(Duration::from_millis(200));
                    b
                }
            };
            bar.set_prefix(m.name.clone());
            self.bars.insert(i, bar);
        }
    }

    /// Clears the bars (before the summary).
    pub(super) fn finish(&mut self) {
        for b in self.bars.values() {
            b.finish();
        }
        if self.lagged > 0 {
            self.line(format!(
                "({} progress reports were dropped: the view fell behind)",
                self.lagged
            ));
        }
    }

    /// Counts reports lost to a slow view.
    pub(super) fn lagged(&mut self, n: u64) {
        self.lagged += n;
    }

    /// Query rounds per dispute as its referees reported them at their verdicts.
    pub(super) fn rounds(&self) -> BTreeMap<u64, u32> {
        self.rounds.clone()
    }

    /// Shows one progress report of node `index`.
    pub(super) fn on(&mut self, index: usize, e: &Observed) {
        match e {
            Observed::SpecFetched { steps, .. } => {
                if self.fetched.insert(index) {
                    self.line(format!(
                        "{}: fetched the job's spec over QUIC ({steps} steps)",
                        self.name(index)
                    ));
                }
            }
            Observed::Step { step, total, .. } => self.step(index, *step, *total),
            Observed::Trained { root, .. } => {
                let root = short(root);
                match self.bars.get(&index) {
                    Some(b) => b.finish_with_message(format!("trained, root {root}")),
                    None => self.line(format!("{}: trained, root {root}", self.name(index))),
                }
            }
            Observed::Tx { call, ok } => {
                // Failed transactions are mostly harmless races (two nodes closing the same
                // window); only the ones that went through tell the story.
                let name = call_name(call);
                if *ok && name != "DisputeNext" {
                    self.line(format!("{}: {name} (on chain)", self.name(index)));
                }
            }
            Observed::Refereeing {
                dispute,
                job,
                challenger,
                defendant,
            } => {
                let name = self.name(index).to_string();
                if self.disputes.contains_key(dispute) {
                    self.line(format!("{name}: also referees dispute #{dispute}"));
                    return;
                }
                self.disputes.insert(
                    *dispute,
                    Followed {
                        round: 0,
                        steps: Range::new(self.steps),
                        nodes: Range::new(0),
                        shown: Vec::new(),
                    },
                );
                let (c, d) = (self.name_of(challenger), self.name_of(defendant));
                self.line(format!(
                    "dispute #{dispute} on job {job}: {c} (challenger) vs {d} (defendant); \
                     {name} referees"
                ));
            }
            Observed::Query {
                dispute,
                round,
                probe,
                ..
            } => self.query(*dispute, *round, *probe),
            Observed::Verdict {
                dispute,
                ruling,
                step,
                node,
                rounds,
                settled,
            } => {
                let r = self.rounds.entry(*dispute).or_insert(0);
                *r = (*r).max(*rounds);
                let how = match settled {
                    Settled::Recomputed => format!("step {step} → {}, operator {node}", step + 1),
                    forfeit => forfeit.describe(),
                };
                self.line(format!(
                    "{}: votes on dispute #{dispute}: {} ({how}, {rounds} rounds)",
                    self.name(index),
                    ruling_text(*ruling),
                ));
            }
            Observed::Withdrawn { dispute, rounds } => self.line(format!(
                "{}: withdrew from dispute #{dispute} after {rounds} rounds: the chain decided it \
                 first (no vote)",
                self.name(index),
            )),
        }
    }

    fn step(&mut self, index: usize, step: u64, total: u64) {
        if let Some(b) = self.bars.get(&index) {
            b.set_length(total);
            b.set_position(step);
            return;
        }
        let now = Instant::now();
        let due = self
            .last_line
            .get(&index)
            .is_none_or(|t| now.duration_since(*t) >= Duration::from_secs(5));
        if due || step == total {
            self.last_line.insert(index, now);
            self.line(format!("{}: step {step}/{total}", self.name(index)));
        }
    }

    fn query(&mut self, dispute: u64, round: u32, probe: Probe) {
        let Some(f) = self.disputes.get_mut(&dispute) else {
            return;
        };
        if round < f.round || f.shown.contains(&(round, probe)) {
            return;
        }
        f.round = round;
        f.shown.push((round, probe));
        let text = match probe {
            Probe::Step(m) => {
                let first = f.steps.last.is_none();
                f.steps.probe(m);
                if first {
                    format!(
                        "  round {round:>2}  steps [0, {}]: asks both for h(S_{m}) (their final state)",
                        f.steps.hi
                    )
                } else {
                    format!(
                        "  round {round:>2}  steps [{}, {}]: asks h(S_{m})",
                        f.steps.lo, f.steps.hi
                    )
                }
            }
            Probe::NodePhase { lo, nodes } => {
                f.nodes = Range::new(nodes);
                format!(
                    "  step found: they agree on S_{lo} and differ on S_{}; bisecting the {} \
                     operators of step {lo} → {} (position {nodes} is the state assembly)",
                    lo + 1,
                    nodes.saturating_sub(1),
                    lo + 1
                )
            }
            Probe::Node(i) => {
                f.nodes.probe(i);
                format!(
                    "  round {round:>2}  operators [{}, {}]: asks the prefix-chain link c_{i}",
                    f.nodes.lo, f.nodes.hi
                )
            }
            Probe::Inputs => {
                "  operator found: fetches its inputs (checked against the agreed hashes) and \
                 re-runs it"
                    .to_string()
            }
        };
        self.line(text);
    }
}

/// The variant name of a `Call`'s debug form (`Commit { … }` → `Commit`).
fn call_name(call: &str) -> &str {
    let end = call.find([' ', '{', '(']).unwrap_or(call.len());
    &call[..end]
}

/// `0x` and the first 8 hex digits.
pub(super) fn short(h: &[u8; 32]) -> String {
    let hex: String = h[..4].iter().map(|b| format!("{b:02x}")).collect();
    format!("0x{hex}…")
}

/// A ruling as the contract numbers it.
pub(super) fn ruling_text(ruling: u8) -> &'static str {
    match ruling {
        0 => "defendant wins",
        1 => "challenger wins",
        2 => "both lose",
        _ => "unknown ruling",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_range_narrows_by_the_direction_of_the_next_probe() {
        // T = 16: S_16 first, then 8 (S_8 agreed), 12 (S_12 disputed), 10, 11.
        let mut r = Range::new(16);
        r.probe(16);
        assert_eq!((r.lo, r.hi), (0, 16));
        r.probe(8);
        assert_eq!((r.lo, r.hi), (0, 16));
        r.probe(12);
        assert_eq!((r.lo, r.hi), (8, 16));
        r.probe(10);
        assert_eq!((r.lo, r.hi), (8, 12));
        r.probe(11);
        assert_eq!((r.lo, r.hi), (10, 12));
    }

    #[test]
    fn call_names_are_the_variant() {
        assert_eq!(call_name("Commit { job: 1 }"), "Commit");
        assert_eq!(call_name("PostJob(JobParams { .. })"), "PostJob");
        assert_eq!(call_name("Finalize"), "Finalize");
    }
}
