//! Prometheus metrics with low-cardinality labels: API requests by route and status, usage
//! ingestion, publishing and balance reconciliation.

use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    status: String,
}

/// The control plane's metrics registry.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    /// Usage events written to the request log, rollups and ledger.
    pub events_ingested: Counter,
    /// Usage events delivered again after they had been ingested (skipped).
    pub events_duplicate: Counter,
    /// Usage events that could not be parsed (acknowledged and logged).
    pub events_malformed: Counter,
    /// Ingestion batches that failed and will be retried.
    pub ingest_failures: Counter,
    /// Tenants published to Redis in full (start-up, missing records, creation).
    pub tenants_published: Counter,
    /// Redis balances found out of line with the ledger and repaired.
    pub balance_repairs: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("aig_controlplane");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "requests",
            "API requests answered, by route and HTTP status",
            requests.clone(),
        );
        let mut counter = |name: &str, help: &str| {
            let c = Counter::default();
            registry.register(name, help, c.clone());
            c
        };
        let events_ingested = counter(
            "usage_events_ingested",
            "Usage events written to the request log, rollups and ledger",
        );
        let events_duplicate = counter(
            "usage_events_duplicate",
            "Usage events delivered again after being ingested, skipped",
        );
        let events_malformed = counter(
            "usage_events_malformed",
            "Usage events that could not be parsed",
        );
        let ingest_failures = counter(
            "ingest_failures",
            "Ingestion batches that failed and will be retried",
        );
        let tenants_published = counter("tenants_published", "Tenants published to Redis in full");
        let balance_repairs = counter(
            "balance_repairs",
            "Redis balances found out of line with the ledger and repaired",
        );
        Self {
            registry,
            requests,
            events_ingested,
            events_duplicate,
            events_malformed,
            ingest_failures,
            tenants_published,
            balance_repairs,
        }
    }

    pub fn record_request(&self, route: &str, status: u16) {
        self.requests
            .get_or_create(&RequestLabels {
                route: route.to_owned(),
                status: status.to_string(),
            })
            .inc();
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}
