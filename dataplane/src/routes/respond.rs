//! The `x-aig-*` response headers every chat answer carries, success or failure.

use crate::chain::outcome::{chain_header, fallback_reason, ChainEntry};
use crate::headers;
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use std::time::Instant;

/// Collects the reporting headers of one request.
pub struct ReportHeaders {
    pub request_id: String,
    pub started: Instant,
}

impl ReportHeaders {
    /// Headers describing the cascade; `served_by` is the winning slug, if any.
    pub fn build(&self, entries: &[ChainEntry], served_by: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        put(&mut h, headers::REQUEST_ID, &self.request_id);
        if !entries.is_empty() {
            put(&mut h, headers::CHAIN, &chain_header(entries));
            let primary_served =
                served_by.is_some_and(|s| entries.len() == 1 && entries[0].slug == s);
            if let Some(reason) = fallback_reason(entries, primary_served) {
                put(&mut h, headers::FALLBACK_REASON, &reason);
            }
        }
        if let Some(slug) = served_by {
            put(&mut h, headers::SERVED_BY, slug);
        }
        self.stamp_latency(&mut h);
        h
    }

    pub fn stamp_latency(&self, h: &mut HeaderMap) {
        put(
            h,
            headers::LATENCY_MS,
            &self.started.elapsed().as_millis().to_string(),
        );
    }
}

/// Sets a header; values are raw UTF-8 bytes (the chain's `→` is not ASCII). Slugs are
/// validated free of control characters before they get here.
pub fn put(h: &mut HeaderMap, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_bytes(value.as_bytes()) {
        h.insert(HeaderName::from_static(name), v);
    }
}
