//! Response bodies beyond plain JSON: SSE frames paced over time, dropped connections, broken JSON,
//! and the count of streams whose client left before the end.

use std::io;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use serde_json::Value;

use super::state::MockState;

/// Default pause before each frame, so clients see a stream rather than one burst.
pub(crate) const FRAME_GAP: Duration = Duration::from_millis(5);

/// How long a stalled stream stays silent before the mock gives up and cuts it.
const STALL: Duration = Duration::from_secs(3600);

/// How a streamed body ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum End {
    /// The body completes normally.
    Clean,
    /// The connection is cut: the client sees an incomplete body, not a clean end.
    Drop,
    /// Nothing more is sent for an hour (the body is dropped when the client goes first), then
    /// the connection is cut.
    Stall,
}

/// How a stream is sent: the pause between frames, and whom to tell when the client leaves early.
#[derive(Clone, Debug)]
pub(crate) struct Pacing {
    gap: Duration,
    state: MockState,
    provider: String,
}

impl Pacing {
    /// `gap` between frames (the first goes out after [`FRAME_GAP`], or `gap` if shorter); a
    /// body dropped before its last frame was sent counts in `state` as one cancelled stream of
    /// `provider`.
    pub(crate) fn new(gap: Duration, state: &MockState, provider: &str) -> Pacing {
        Pacing {
            gap,
            state: state.clone(),
            provider: provider.to_owned(),
        }
    }
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

/// A 200 `text/event-stream` sending `frames` one by one, paced, then ending as `end` says.
pub(crate) fn event_stream(frames: Vec<String>, end: End, pacing: Pacing) -> Response {
    let frames = frames.into_iter().map(Bytes::from).collect();
    let mut response = paced(frames, end, Some(pacing)).into_response();
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
    let chunk = Bytes::from(text[..cut].to_owned());
    let mut response = paced(vec![chunk], End::Drop, None).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// The one frame of a streamed answer that is not valid JSON.
pub(crate) const MALFORMED_FRAME: &str = "data: {\"id\": this is not JSON\n\n";

/// A 200 that claims to be the provider's JSON answer but is not JSON.
pub(crate) fn malformed_json() -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        "<html><body>this is not JSON {\"id\":</body></html>",
    )
        .into_response()
}

/// Counts the stream as cancelled when dropped before `finished` is set.
struct Watch {
    pacing: Option<Pacing>,
    finished: bool,
}

impl Watch {
    /// The last item was handed over: dropping the body from now on is no cancellation.
    fn finish(&mut self) {
        self.finished = true;
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        if let Some(pacing) = self.pacing.as_ref().filter(|_| !self.finished) {
            tracing::debug!(provider = pacing.provider, "client left mid-stream");
            pacing.state.note_cancelled(&pacing.provider);
        }
    }
}

/// What the body stream carries from one frame to the next.
struct Paced {
    chunks: std::vec::IntoIter<Bytes>,
    end: End,
    first_gap: Duration,
    gap: Duration,
    sent_any: bool,
    watch: Watch,
}

impl Paced {
    fn pause(&mut self) -> Duration {
        if std::mem::replace(&mut self.sent_any, true) {
            self.gap
        } else {
            self.first_gap
        }
    }
}

/// Sends `chunks` with a pause before each ([`FRAME_GAP`] unless `pacing` says otherwise), then
/// ends as `end` says. `pacing`, when given, is told when the body is dropped before its last
/// item was handed over.
fn paced(chunks: Vec<Bytes>, end: End, pacing: Option<Pacing>) -> Body {
    let gap = pacing.as_ref().map_or(FRAME_GAP, |pacing| pacing.gap);
    let state = Paced {
        chunks: chunks.into_iter(),
        end,
        first_gap: gap.min(FRAME_GAP),
        gap,
        sent_any: false,
        watch: Watch {
            pacing,
            finished: false,
        },
    };
    let stream = futures_util::stream::unfold(state, |mut state| async move {
        if state.watch.finished {
            return None;
        }
        let pause = state.pause();
        if let Some(chunk) = state.chunks.next() {
            tokio::time::sleep(pause).await;
            if state.chunks.len() == 0 && state.end == End::Clean {
                state.watch.finish();
            }
            return Some((Ok(chunk), state));
        }
        match state.end {
            End::Clean => {
                state.watch.finish();
                None
            }
            End::Drop | End::Stall => {
                let pause = if state.end == End::Stall {
                    STALL
                } else {
                    pause
                };
                tokio::time::sleep(pause).await;
                state.watch.finish();
                let cut = io::Error::new(
                    io::ErrorKind::ConnectionAborted,
                    "aig-mock-providers cut the connection on purpose",
                );
                Some((Err::<Bytes, io::Error>(cut), state))
            }
        }
    });
    Body::from_stream(stream)
}
