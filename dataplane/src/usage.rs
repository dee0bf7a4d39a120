//! Emits usage events of requests refused before a reservation (402/403) to the tenant's
//! Redis stream, off the request path. Every other request's event is appended by the
//! settle step (`spend`).

use crate::state::AppState;
use aig_common::usage::{UsageEvent, STREAM_FIELD, STREAM_MAX_LEN};
use std::time::Duration;

const REDIS_TIMEOUT: Duration = Duration::from_secs(2);

/// Appends the event without blocking the caller. A failure is logged with the whole
/// event so the charge can be recovered from the logs.
pub fn emit(state: &AppState, event: UsageEvent) {
    let state = state.clone();
    tokio::spawn(async move {
        let json = match serde_json::to_string(&event) {
            Ok(json) => json,
            Err(e) => {
                tracing::error!(request_id = %event.request_id, "usage event not serializable: {e}");
                return;
            }
        };
        let mut redis = state.redis();
        let stream = state.redis_keys().usage_stream(&event.tenant_id);
        let mut cmd = redis::cmd("XADD");
        cmd.arg(&stream)
            .arg("MAXLEN")
            .arg("~")
            .arg(STREAM_MAX_LEN)
            .arg("*")
            .arg(STREAM_FIELD)
            .arg(&json);
        let add = cmd.query_async::<String>(&mut redis);
        match tokio::time::timeout(REDIS_TIMEOUT, add).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                tracing::error!(usage_event = %json, "usage event not written to Redis: {e}")
            }
            Err(_) => {
                tracing::error!(usage_event = %json, "usage event not written: Redis timed out")
            }
        }
    });
}
