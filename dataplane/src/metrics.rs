//! Prometheus metrics with low-cardinality labels: requests by status, attempts by provider
//! and outcome, fallbacks, request latency, and which providers are degraded.

use crate::chain::outcome::Outcome;
use aig_common::provider::ProviderId;
use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::time::Duration;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AttemptLabels {
    provider: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProviderLabels {
    provider: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FallbackLabels {
    primary_provider: String,
}

/// The data plane's metrics registry.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    attempts: Family<AttemptLabels, Counter>,
    fallbacks: Family<FallbackLabels, Counter>,
    latency: Histogram,
    provider_degraded: Family<ProviderLabels, Gauge>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("aig_dataplane");
        let requests = Family::<RequestLabels, Counter>::default();
        let attempts = Family::<AttemptLabels, Counter>::default();
        let fallbacks = Family::<FallbackLabels, Counter>::default();
        let latency = Histogram::new(exponential_buckets(0.005, 2.0, 15));
        let provider_degraded = Family::<ProviderLabels, Gauge>::default();
        registry.register(
            "requests",
            "Chat requests answered, by route and HTTP status",
            requests.clone(),
        );
        registry.register(
            "attempts",
            "Upstream attempts, by provider and outcome",
            attempts.clone(),
        );
        registry.register(
            "fallbacks",
            "Requests the primary did not serve, by primary provider",
            fallbacks.clone(),
        );
        registry.register(
            "request_duration_seconds",
            "Time from request to response headers",
            latency.clone(),
        );
        registry.register(
            "provider_degraded",
            "1 while the health monitor marks the provider degraded, else 0",
            provider_degraded.clone(),
        );
        Self {
            registry,
            requests,
            attempts,
            fallbacks,
            latency,
            provider_degraded,
        }
    }

    pub fn record_request(&self, route: &str, status: u16, elapsed: Duration) {
        self.requests
            .get_or_create(&RequestLabels {
                route: route.to_owned(),
                status: status.to_string(),
            })
            .inc();
        self.latency.observe(elapsed.as_secs_f64());
    }

    pub fn record_attempt(&self, provider: ProviderId, outcome: Outcome) {
        self.attempts
            .get_or_create(&AttemptLabels {
                provider: provider.slug().to_owned(),
                outcome: crate::chain::outcome::metric_label(outcome).to_owned(),
            })
            .inc();
    }

    pub fn record_fallback(&self, primary: ProviderId) {
        self.fallbacks
            .get_or_create(&FallbackLabels {
                primary_provider: primary.slug().to_owned(),
            })
            .inc();
    }

    pub fn set_provider_degraded(&self, provider: ProviderId, degraded: bool) {
        self.provider_degraded
            .get_or_create(&ProviderLabels {
                provider: provider.slug().to_owned(),
            })
            .set(i64::from(degraded));
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
