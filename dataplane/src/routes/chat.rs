//! `POST /v1/chat/completions`: the OpenAI ingress.

use super::serve::{handle, CHAT_COMPLETIONS};
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use tracing::instrument;

#[instrument(skip_all, fields(request_id, tenant, model))]
pub async fn create_chat_completion(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    handle(state, CHAT_COMPLETIONS, headers, body).await
}
