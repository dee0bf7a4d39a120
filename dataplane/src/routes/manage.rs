//! Management API paths (`/v1/budgets`, `/v1/usage`, `/v1/balance`) forwarded to the
//! control plane, so one base URL serves chat and management alike.

use crate::error::Error;
use crate::state::AppState;
use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderName, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(15);
/// Request headers worth forwarding; everything else (hop-by-hop, cookies) stays here.
const FORWARDED: [HeaderName; 4] = [
    header::AUTHORIZATION,
    header::CONTENT_TYPE,
    header::ACCEPT,
    HeaderName::from_static("x-api-key"),
];

/// Forwards the call as it came (method, path, query, auth, body) and answers with the
/// control plane's status and body.
pub async fn forward(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(body) => body,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return Error::PayloadTooLarge {
                limit: state.config().max_body_bytes,
            }
            .into_response();
        }
        Err(rejection) => {
            return Error::invalid(format!("could not read the body: {rejection}"), None)
                .into_response();
        }
    };
    let path_and_query = uri.path_and_query().map_or(uri.path(), |pq| pq.as_str());
    let base = state
        .config()
        .controlplane_url
        .as_str()
        .trim_end_matches('/');
    let mut request = state
        .http()
        .request(method, format!("{base}{path_and_query}"))
        .timeout(TIMEOUT)
        .body(body);
    for name in FORWARDED {
        if let Some(value) = headers.get(&name) {
            request = request.header(name, value);
        }
    }
    let upstream = match request.send().await {
        Ok(response) => response,
        Err(e) => {
            return Error::Unavailable(format!("control plane unreachable: {e}")).into_response();
        }
    };
    let status = upstream.status();
    let content_type = upstream.headers().get(header::CONTENT_TYPE).cloned();
    let bytes = match upstream.bytes().await {
        Ok(bytes) => bytes,
        Err(e) => {
            return Error::Unavailable(format!("control plane answer cut short: {e}"))
                .into_response();
        }
    };
    let mut response = Response::new(Body::from(bytes));
    *response.status_mut() = status;
    if let Some(ct) = content_type {
        response.headers_mut().insert(header::CONTENT_TYPE, ct);
    }
    response
}
