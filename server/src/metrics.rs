//! What `/metrics` on the web port reports, in the Prometheus text format.
//!
//! [`Metrics`] owns the registry and a handle on each metric. Every metric with labels has its
//! few label values created up front and kept as handles, so that counting is one atomic
//! operation: no lock, no lookup, no allocation on the paths that count (the accept loop, the
//! login, the hub's fan-out). The one exception is the store's commit histogram, which takes
//! the client library's mutex once per committed batch, on the writer thread, beside an fsync.
//!
//! | metric | type | meaning |
//! |---|---|---|
//! | `chatterbox_connections{transport}` | gauge | open connections speaking the chat protocol: `native` (TLS, and the plaintext debugging port) after the TLS handshake, `websocket` after the upgrade |
//! | `chatterbox_logins_total{result}` | counter | logins `accepted` or `refused` (taken name, reservation, ban, wrong password, invalid name, too many attempts) |
//! | `chatterbox_deliveries_total` | counter | messages queued to a recipient's outbox (a broadcast to N others counts N) |
//! | `chatterbox_outbox_disconnects_total` | counter | connections dropped because their outbox was full (slow readers) |
//! | `chatterbox_store_commit_seconds` | histogram | time to commit one batch of the store's writes, retries included |
//! | `chatterbox_jetstream_consumer_lag` | gauge | events in the cluster's stream this node has not applied yet (the stream's last sequence minus the last one the hub applied, measured every few seconds); 0 outside cluster mode |

use prometheus_client::encoding::prometheus_text;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

/// The `Content-Type` of [`Metrics::encode`]'s output (Prometheus text format 0.0.4).
pub const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

/// The smallest bucket of the commit histogram, in seconds: 100 µs, about a batch committed
/// to a disk cache that acknowledges at once.
const COMMIT_BUCKET_START: f64 = 0.000_1;

/// Buckets of the commit histogram, each twice the one before: 100 µs to 3.3 s, from a fast
/// SSD's fsync to a disk so slow that delivery visibly stalls (messages wait for their commit).
const COMMIT_BUCKETS: u16 = 16;

/// A histogram with the buckets of `chatterbox_store_commit_seconds` (also for a store opened
/// outside a server, as benchmarks and tests do, where nobody reads it).
pub fn commit_histogram() -> Histogram {
    Histogram::new(exponential_buckets(COMMIT_BUCKET_START, 2.0, COMMIT_BUCKETS))
}

/// One label (name, value): few and fixed, so `&'static str` is enough.
type Label = [(&'static str, &'static str); 1];

/// The transport a chat connection arrived on, as `/metrics` labels it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionKind {
    /// The native protocol (over TLS, or on the plaintext debugging port).
    Native,
    /// A WebSocket of the web gateway.
    WebSocket,
}

/// The server's metrics and the registry that reports them.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    connections_native: Gauge,
    connections_websocket: Gauge,
    /// Logins accepted.
    pub logins_accepted: Counter,
    /// Logins refused, for whatever reason.
    pub logins_refused: Counter,
    /// Messages queued to recipients' outboxes.
    pub deliveries: Counter,
    /// Connections dropped because their outbox was full.
    pub outbox_disconnects: Counter,
    /// Seconds each batch commit of the store took.
    pub store_commit_seconds: Histogram,
    /// Events of the cluster's stream this node has not applied yet. Nothing sets it outside
    /// cluster mode, where it stays 0; in cluster mode a task of the hub's sets it every
    /// [`crate::hub::cluster::LAG_INTERVAL`].
    pub jetstream_consumer_lag: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// Every metric at zero, registered under the prefix `chatterbox_`.
    pub fn new() -> Metrics {
        let connections = Family::<Label, Gauge>::default();
        let logins = Family::<Label, Counter>::default();
        let mut m = Metrics {
            registry: Registry::with_prefix("chatterbox"),
            connections_native: connections.get_or_create_owned(&[("transport", "native")]),
            connections_websocket: connections.get_or_create_owned(&[("transport", "websocket")]),
            logins_accepted: logins.get_or_create_owned(&[("result", "accepted")]),
            logins_refused: logins.get_or_create_owned(&[("result", "refused")]),
            deliveries: Counter::default(),
            outbox_disconnects: Counter::default(),
            store_commit_seconds: commit_histogram(),
            jetstream_consumer_lag: Gauge::default(),
        };
        let r = &mut m.registry;
        r.register(
            "connections",
            "Open connections speaking the chat protocol, by transport",
            connections,
        );
        r.register("logins", "Logins, by result (accepted or refused)", logins);
        r.register("deliveries", "Messages queued to recipients' outboxes", m.deliveries.clone());
        r.register(
            "outbox_disconnects",
            "Connections dropped because their outbox was full (slow readers)",
            m.outbox_disconnects.clone(),
        );
        r.register_with_unit(
            "store_commit",
            "Time to commit one batch of the store's writes, retries included",
            Unit::Seconds,
            m.store_commit_seconds.clone(),
        );
        r.register(
            "jetstream_consumer_lag",
            "Events of the cluster's stream this node has not applied yet (0 outside cluster mode)",
            m.jetstream_consumer_lag.clone(),
        );
        m
    }

    /// Counts a connection of `kind` as open until the returned guard is dropped.
    pub fn open_connection(&self, kind: ConnectionKind) -> OpenConnection {
        let gauge = match kind {
            ConnectionKind::Native => &self.connections_native,
            ConnectionKind::WebSocket => &self.connections_websocket,
        };
        gauge.inc();
        OpenConnection(gauge.clone())
    }

    /// Counts a login's outcome.
    pub fn login(&self, accepted: bool) {
        if accepted { &self.logins_accepted } else { &self.logins_refused }.inc();
    }

    /// Every metric in the Prometheus text format ([`CONTENT_TYPE`]).
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail, and every metric here encodes.
        if let Err(e) = prometheus_text::encode(&mut out, &self.registry) {
            tracing::error!(error = %e, "encoding the metrics");
        }
        out
    }
}

/// An open connection, counted in `chatterbox_connections` until dropped.
#[derive(Debug)]
pub struct OpenConnection(Gauge);

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_metric_is_reported_and_connections_count_down_when_closed() {
        let m = Metrics::new();
        let open = m.open_connection(ConnectionKind::WebSocket);
        let _native = m.open_connection(ConnectionKind::Native);
        let _again = m.open_connection(ConnectionKind::Native);
        m.login(true);
        m.login(false);
        m.login(false);
        m.deliveries.inc_by(3);
        m.store_commit_seconds.observe(0.002);
        let text = m.encode();
        for line in [
            "chatterbox_connections{transport=\"native\"} 2",
            "chatterbox_connections{transport=\"websocket\"} 1",
            "chatterbox_logins_total{result=\"accepted\"} 1",
            "chatterbox_logins_total{result=\"refused\"} 2",
            "chatterbox_deliveries_total 3",
            "chatterbox_outbox_disconnects_total 0",
            "chatterbox_store_commit_seconds_count 1",
            "chatterbox_jetstream_consumer_lag 0",
            "# TYPE chatterbox_store_commit_seconds histogram",
        ] {
            assert!(text.lines().any(|l| l == line), "{line:?} missing from\n{text}");
        }
        drop(open);
        assert!(m.encode().contains("chatterbox_connections{transport=\"websocket\"} 0"));
    }
}
