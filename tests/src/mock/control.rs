//! The control API under `/_mock`: flip a provider's mode, read what it received, reset.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{json, Value};

use super::state::{MockState, Mode};
use super::wire;

#[derive(Deserialize)]
struct ModeBody {
    mode: String,
}

/// `PUT /_mock/providers/{provider}/mode` with `{"mode": "fail-429"}`: 204, or 400 naming the
/// problem.
pub(crate) async fn set_mode(
    State(state): State<MockState>,
    Path(provider): Path<String>,
    body: Bytes,
) -> Response {
    let Ok(ModeBody { mode }) = serde_json::from_slice(&body) else {
        return wire::json(
            StatusCode::BAD_REQUEST,
            json!({ "error": "expected a JSON body like {\"mode\": \"fail-429\"}" }),
        );
    };
    match mode.parse::<Mode>() {
        Ok(mode) => {
            state.set_mode(&provider, mode);
            tracing::info!(provider, %mode, "provider mode set");
            StatusCode::NO_CONTENT.into_response()
        }
        Err(unknown) => wire::json(
            StatusCode::BAD_REQUEST,
            json!({ "error": unknown.to_string() }),
        ),
    }
}

/// `GET /_mock/providers/{provider}/mode` → `{"mode": "normal"}`.
pub(crate) async fn get_mode(
    State(state): State<MockState>,
    Path(provider): Path<String>,
) -> Json<Value> {
    Json(json!({ "mode": state.mode(&provider).to_string() }))
}

/// `GET /_mock/providers/{provider}/requests` → `{"count": N, "cancelled": N, "requests": [...]}`,
/// `cancelled` counting the streamed responses whose client went away before the last frame.
pub(crate) async fn list_requests(
    State(state): State<MockState>,
    Path(provider): Path<String>,
) -> Json<Value> {
    let requests = state.requests(&provider);
    let cancelled = state.cancelled_count(&provider);
    Json(json!({ "count": requests.len(), "cancelled": cancelled, "requests": requests }))
}

/// `POST /_mock/reset`: every mode back to normal, every record and cancellation count gone.
pub(crate) async fn reset_state(State(state): State<MockState>) -> StatusCode {
    state.reset();
    tracing::info!("mock state reset");
    StatusCode::NO_CONTENT
}
