//! Emits usage events of requests refused before a reservation (402/403) to the tenant's
//! Redis stream, off the request path. Every other request's event is appended by the
//! settle step (`spend`).

use crate::spend::SpoolEntry;
use crate::state::AppState;
use aig_common::budget::utc_month;
use aig_common::usage::UsageEvent;

/// Appends the event without blocking the caller, through the settle step with nothing to
/// charge: the same exactly-once marker, and while Redis is unreachable the same spool,
/// so the event reaches the stream when the spool is replayed.
pub fn emit(state: &AppState, event: UsageEvent) {
    let state = state.clone();
    tokio::spawn(async move {
        let entry = SpoolEntry {
            tenant_id: event.tenant_id.clone(),
            request_id: event.request_id.clone(),
            tag: event.tag.clone(),
            month: utc_month(event.ts_ms),
            cost_micros: 0,
            event,
        };
        let spend = state.spend();
        let breaker = state.redis_breaker();
        if breaker.allow() {
            match spend.settle_in_redis(&state, &entry).await {
                Ok(_) => {
                    breaker.success();
                    return;
                }
                Err(e) => {
                    tracing::warn!(request_id = %entry.request_id, "usage event: {e}; spooling it");
                    breaker.failure();
                }
            }
        }
        spend.spool().append(&entry);
    });
}
