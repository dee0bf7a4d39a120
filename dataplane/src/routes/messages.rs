//! `POST /anthropic/v1/messages`: the Anthropic ingress.

use super::serve::{handle, MESSAGES};
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use tracing::instrument;

#[instrument(skip_all, fields(request_id, tenant, model))]
pub async fn create_message(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    handle(state, MESSAGES, headers, body).await
}
