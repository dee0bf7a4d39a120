//! `GET /healthz` and `GET /metrics`.

use crate::state::AppState;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::Json;
use serde_json::json;
use std::time::Duration;

const PROBE_TIMEOUT: Duration = Duration::from_millis(1000);

/// Liveness, with Postgres and Redis reachability reported (the process answers 200 while
/// either is away: it is alive, and keeps retrying its background work).
pub async fn healthz(State(state): State<AppState>) -> impl IntoResponse {
    let postgres = tokio::time::timeout(
        PROBE_TIMEOUT,
        sqlx::query_scalar::<_, i32>("select 1").fetch_one(state.db()),
    )
    .await;
    let mut redis = state.redis();
    let ping = tokio::time::timeout(
        PROBE_TIMEOUT,
        redis::cmd("PING").query_async::<String>(&mut redis),
    )
    .await;
    let word = |ok: bool| if ok { "ok" } else { "unreachable" };
    Json(json!({
        "status": "ok",
        "postgres": word(matches!(postgres, Ok(Ok(_)))),
        "redis": word(matches!(ping, Ok(Ok(_)))),
    }))
}

pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics().render(),
    )
}
