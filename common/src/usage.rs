//! The usage event: one per chat request, written by the data plane to a Redis stream and
//! ingested by the control plane.

use serde::{Deserialize, Serialize};

/// Field of the stream entry that holds the JSON event.
pub const STREAM_FIELD: &str = "event";
/// Approximate cap on each tenant's stream length (`XADD … MAXLEN ~`): the control plane
/// consumes far faster than this fills, so only events older than a tenant's last ~100,000
/// requests are ever trimmed.
pub const STREAM_MAX_LEN: usize = 100_000;

/// What one request did and cost.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageEvent {
    /// Also sent to the caller as `x-aig-request-id`.
    pub request_id: String,
    pub tenant_id: String,
    pub key_id: String,
    /// `x-aig-tag`, if any.
    pub tag: Option<String>,
    /// `openai` or `anthropic`: the shape the caller spoke.
    pub ingress: String,
    /// The primary slug.
    pub requested_model: String,
    /// `x-aig-chain` as sent.
    pub chain: String,
    /// The winning slug; `None` when nothing served.
    pub served_by: Option<String>,
    /// HTTP status returned to the caller.
    pub status: u16,
    pub stream: bool,
    pub latency_ms: u64,
    pub input_tokens: u64,
    pub cache_read_tokens: u64,
    pub cache_write_tokens: u64,
    pub output_tokens: u64,
    /// What the caller is charged, in micro-USD; 0 when nothing served.
    pub cost_micros: u64,
    /// Some token counts were estimated because the upstream never reported them (a
    /// stream the client left early).
    pub usage_estimated: bool,
    /// The client went away before the answer was complete.
    pub client_disconnected: bool,
    /// Unix time in milliseconds when the request arrived.
    pub ts_ms: u64,
}
