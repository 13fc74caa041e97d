//! The node's Prometheus metrics: one [`Registry`] per node (never a global one, so many nodes
//! share a process), updated from a conductor [`Snapshot`] on each scrape and encoded as
//! OpenMetrics text by prometheus-client.
//!
//! Names (prefix `pinpoint_`): `jobs{state}` (gauge: the chain's jobs by state, as this node's
//! book holds them), `transactions_ok_total`, `transactions_failed_total`,
//! `messages_sent_total`, `sent_bytes_total`, `sends_failed_total`, `verdicts_total`,
//! `trained_jobs_total`, `unplaced_messages_total` (counters), `peers` (gauge: peers the
//! transport can address), `chain_time_seconds` (gauge), `observed_events_lost_total`.

use std::sync::Mutex;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::conduct::Snapshot;

use super::view::{STATES, state_name};

/// The job-state label set.
type StateLabels = Vec<(String, String)>;

/// One node's registry and its metrics.
#[derive(Debug)]
pub struct NodeMetrics {
    registry: Registry,
    jobs: Family<StateLabels, Gauge>,
    tx_ok: Counter,
    tx_failed: Counter,
    sent: Counter,
    bytes_sent: Counter,
    send_failed: Counter,
    verdicts: Counter,
    trained: Counter,
    unplaced: Counter,
    lost: Counter,
    peers: Gauge,
    chain_time: Gauge,
    /// Serializes updates (a counter is moved to a snapshot's value by its difference).
    update: Mutex<()>,
}

impl Default for NodeMetrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Moves a counter up to `value` (counters only rise; a lower value leaves it).
fn raise(c: &Counter, value: u64) {
    let now = c.get();
    if value > now {
        c.inc_by(value - now);
    }
}

fn gauge_of(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl NodeMetrics {
    /// A fresh registry with every metric registered.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("pinpoint");
        let m = Self {
            registry: Registry::default(),
            jobs: Family::default(),
            tx_ok: Counter::default(),
            tx_failed: Counter::default(),
            sent: Counter::default(),
            bytes_sent: Counter::default(),
            send_failed: Counter::default(),
            verdicts: Counter::default(),
            trained: Counter::default(),
            unplaced: Counter::default(),
            lost: Counter::default(),
            peers: Gauge::default(),
            chain_time: Gauge::default(),
            update: Mutex::new(()),
        };
        registry.register(
            "jobs",
            "The chain's jobs by state, as this node's book holds them",
            m.jobs.clone(),
        );
        let counters: [(&str, &str, &Counter); 9] = [
            (
                "transactions_ok",
                "Transactions sent and included",
                &m.tx_ok,
            ),
            (
                "transactions_failed",
                "Transactions reverted or not sent",
                &m.tx_failed,
            ),
            ("messages_sent", "Messages sent to peers", &m.sent),
            (
                "sent_bytes",
                "Encoded bytes of the messages sent to peers",
                &m.bytes_sent,
            ),
            ("sends_failed", "Sends to peers that failed", &m.send_failed),
            (
                "verdicts",
                "Verdicts this node posted as an arbiter",
                &m.verdicts,
            ),
            (
                "trained_jobs",
                "Jobs this node trained to the end",
                &m.trained,
            ),
            (
                "unplaced_messages",
                "Peer messages the node could not place",
                &m.unplaced,
            ),
            (
                "observed_events_lost",
                "Progress events the API missed (its collector lagged)",
                &m.lost,
            ),
        ];
        for (name, help, c) in counters {
            registry.register(name, help, c.clone());
        }
        registry.register("peers", "Peers the transport can address", m.peers.clone());
        registry.register(
            "chain_time_seconds",
            "The chain's clock at the node's last tick",
            m.chain_time.clone(),
        );
        Self { registry, ..m }
    }

    /// Brings every metric to `s` (and the API's lost-event count).
    pub fn update(&self, s: &Snapshot, lost_events: u64) {
        let _serial = self.update.lock().unwrap_or_else(|p| p.into_inner());
        let c = &s.status;
        raise(&self.tx_ok, c.tx_ok);
        raise(&self.tx_failed, c.tx_failed);
        raise(&self.sent, c.sent);
        raise(&self.bytes_sent, c.bytes_sent);
        raise(&self.send_failed, c.send_failed);
        raise(&self.verdicts, c.verdicts);
        raise(&self.trained, c.trained);
        raise(&self.unplaced, c.unplaced);
        raise(&self.lost, lost_events);
        for state in STATES {
            let n = s.jobs.values().filter(|j| j.state == state).count();
            self.jobs
                .get_or_create(&vec![("state".to_owned(), state_name(state).to_owned())])
                .set(gauge_of(n as u64));
        }
        self.peers.set(gauge_of(s.peers.len() as u64));
        self.chain_time.set(gauge_of(s.chain_time));
    }

    /// The OpenMetrics text.
    ///
    /// Errors: the encoder's (a formatting error).
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        encode(&mut out, &self.registry)?;
        Ok(out)
    }
}
