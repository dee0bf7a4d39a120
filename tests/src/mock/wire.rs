//! Response bodies beyond plain JSON: SSE frames paced over time, dropped connections, broken JSON.

use std::io;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use futures_util::StreamExt;
use serde_json::Value;

/// Pause before each frame, so clients see a stream rather than one burst.
const FRAME_GAP: Duration = Duration::from_millis(5);

/// How a streamed body ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum End {
    /// The body completes normally.
    Clean,
    /// The connection is cut: the client sees an incomplete body, not a clean end.
    Drop,
}

/// `data: <json>` and a blank line.
pub(crate) fn data(value: &Value) -> String {
    format!("data: {value}\n\n")
}

/// `event: <name>`, `data: <json>` and a blank line.
pub(crate) fn event(name: &str, value: &Value) -> String {
    format!("event: {name}\ndata: {value}\n\n")
}

pub(crate) fn json(status: StatusCode, value: Value) -> Response {
    (status, Json(value)).into_response()
}

/// An error body; a 429 also says when to come back, as the real APIs do.
pub(crate) fn error(status: StatusCode, value: Value) -> Response {
    let mut response = json(status, value);
    if status == StatusCode::TOO_MANY_REQUESTS {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    response
}

/// A 200 `text/event-stream` sending `frames` one by one, then ending as `end` says.
pub(crate) fn event_stream(frames: Vec<String>, end: End) -> Response {
    let mut response = paced(frames.into_iter().map(Bytes::from).collect(), end).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// A 200 JSON answer whose body stops halfway and whose connection is then cut.
pub(crate) fn truncated_json(value: &Value) -> Response {
    let text = value.to_string();
    let half = text.len() / 2;
    // Serialized JSON is ASCII outside strings; back off to a char boundary to stay valid UTF-8.
    let cut = (0..=half)
        .rev()
        .find(|at| text.is_char_boundary(*at))
        .unwrap_or(0);
    let mut response = paced(vec![Bytes::from(text[..cut].to_owned())], End::Drop).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// A 200 that claims to be the provider's answer but is not valid JSON.
pub(crate) fn malformed(stream: bool) -> Response {
    if stream {
        event_stream(
            vec!["data: {\"id\": this is not JSON\n\n".to_owned()],
            End::Clean,
        )
    } else {
        (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            "<html><body>this is not JSON {\"id\":</body></html>",
        )
            .into_response()
    }
}

fn paced(chunks: Vec<Bytes>, end: End) -> Body {
    let mut items: Vec<io::Result<Bytes>> = chunks.into_iter().map(Ok).collect();
    if end == End::Drop {
        items.push(Err(io::Error::new(
            io::ErrorKind::ConnectionAborted,
            "aig-mock-providers cut the connection on purpose",
        )));
    }
    let stream = futures_util::stream::iter(items).then(|item| async move {
        tokio::time::sleep(FRAME_GAP).await;
        item
    });
    Body::from_stream(stream)
}
