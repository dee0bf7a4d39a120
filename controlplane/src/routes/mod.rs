//! HTTP handlers, one file per resource, and what they share: a JSON body extractor that
//! ignores `Content-Type` and fallbacks that answer in the API's error shape.

pub mod admin;
pub mod balance;
pub mod billing;
pub mod budgets;
pub mod dashboard;
pub mod health;
pub mod invite;
pub mod keys;
pub mod pages;
pub mod session;
pub mod usage;
pub mod webhooks;

use crate::error::Error;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{header, HeaderMap, Uri};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

/// A JSON request body, whatever the `Content-Type` says: `curl -d '{…}'` sends
/// `application/x-www-form-urlencoded` and must work as written. A body that is not JSON is
/// a 400 naming the field that failed.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = Error;

    async fn from_request(req: Request, state: &S) -> Result<Self, Error> {
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e| Error::invalid(format!("could not read the body: {e}"), None))?;
        let mut de = serde_json::Deserializer::from_slice(&bytes);
        let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let path = e.path().to_string();
            let param = (path != ".").then_some(path);
            Error::InvalidRequest {
                message: format!("the body is not valid JSON for this call: {e}"),
                param,
            }
        })?;
        de.end()
            .map_err(|e| Error::invalid(format!("the body is not valid JSON: {e}"), None))?;
        Ok(JsonBody(value))
    }
}

/// Paths of the API (key-authenticated, JSON) and of machine callers (Stripe's webhook,
/// probes): no pages, no cookies, no CSRF tokens.
pub fn is_api_path(path: &str) -> bool {
    ["/v1/", "/webhooks/", "/healthz", "/metrics"]
        .iter()
        .any(|p| path.starts_with(p))
}

/// Whether a request should be answered with an HTML page rather than the API's JSON: a
/// browser asking (`Accept: text/html`) for anything but an API path.
pub fn wants_page(path: &str, headers: &HeaderMap) -> bool {
    let api = is_api_path(path);
    let html = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"));
    html && !api
}

/// An unknown path: the HTML 404 page for a browser, the API's JSON error for anything else
/// (API paths always answer JSON).
pub async fn not_found(uri: Uri, headers: HeaderMap) -> Response {
    if wants_page(uri.path(), &headers) {
        return pages::PageError::NotFound.into_response();
    }
    Error::not_found(format!("no route for {}", uri.path()), "not_found").into_response()
}

pub async fn method_not_allowed() -> Error {
    Error::MethodNotAllowed
}
