//! `GET /healthz` and `GET /metrics`.

use crate::state::AppState;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::Json;
use serde_json::json;
use std::time::Duration;

/// Liveness, with Redis reachability reported (the data plane keeps serving cached keys
/// while Redis is away, so this stays 200), and each provider as the health monitor sees
/// it from this instance: `ok` or `degraded`.
pub async fn healthz(State(state): State<AppState>) -> impl IntoResponse {
    let mut redis = state.redis();
    let ping = tokio::time::timeout(
        Duration::from_millis(500),
        redis::cmd("PING").query_async::<String>(&mut redis),
    )
    .await;
    let redis_ok = matches!(ping, Ok(Ok(_)));
    let providers: serde_json::Map<String, serde_json::Value> = state
        .health()
        .providers()
        .into_iter()
        .map(|(p, degraded)| {
            (
                p.slug().to_owned(),
                json!(if degraded { "degraded" } else { "ok" }),
            )
        })
        .collect();
    Json(json!({
        "status": "ok",
        "redis": if redis_ok { "ok" } else { "unreachable" },
        "providers": providers,
    }))
}

pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    for (provider, degraded) in state.health().providers() {
        state.metrics().set_provider_degraded(provider, degraded);
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics().render(),
    )
}
