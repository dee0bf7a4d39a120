//! The path every chat request takes, whatever the provider: record, authorize, validate, apply
//! the fault, answer in the provider's dialect.

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::Value;

use super::fault::{self, Outcome, Plan};
use super::state::{MockState, RecordedRequest};
use super::text::{self, Answer, Prompt};
use super::wire::{self, End, Pacing};

/// A valid chat request, in provider-neutral terms.
#[derive(Clone, Debug)]
pub(crate) struct Chat {
    pub provider: String,
    pub model: String,
    pub prompt: Prompt,
    pub stream: bool,
    /// OpenAI `stream_options.include_usage`.
    pub include_usage: bool,
}

/// How far a stream gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ending {
    /// Every frame, up to the provider's terminal one.
    Finished,
    /// The start frame and two content deltas, then the provider's in-band failure.
    MidstreamError,
    /// The provider's frames that carry no content yet, then its in-band failure (Cohere, which
    /// has none, cuts the connection).
    EarlyError,
    /// The provider's frames that carry no content yet, then silence.
    Stall,
}

/// A request refused before any fault applies: a status and a body in the provider's error shape.
#[derive(Clone, Debug)]
pub(crate) struct Rejection {
    status: StatusCode,
    body: Value,
}

impl Rejection {
    pub(crate) fn new(status: StatusCode, body: Value) -> Rejection {
        Rejection { status, body }
    }
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        wire::json(self.status, self.body)
    }
}

/// One provider API's wire shapes.
pub(crate) trait Dialect {
    /// Credentials and version headers the real API insists on.
    fn authorize(headers: &HeaderMap) -> Result<(), Rejection>;
    /// Validates the body like the real API; `None` is a body that was not JSON.
    fn parse(provider: &str, body: Option<Value>) -> Result<Chat, Rejection>;
    /// The API's error response for an HTTP status.
    fn error(status: StatusCode) -> Response;
    /// The non-streaming answer body.
    fn completion(chat: &Chat, answer: &Answer) -> Value;
    /// The streamed answer, frame by frame, and how the connection ends after them.
    fn stream(chat: &Chat, answer: &Answer, ending: Ending) -> (Vec<String>, End);
    /// The provider's list-models body.
    fn models(provider: &str) -> Value;
}

pub(crate) async fn handle<D: Dialect>(
    state: &MockState,
    provider: &str,
    path: &str,
    headers: &HeaderMap,
    raw: &Bytes,
) -> Response {
    let body = record(state, provider, path, headers, raw);
    if let Err(rejection) = D::authorize(headers) {
        return rejection.into_response();
    }
    match D::parse(provider, body) {
        Ok(chat) => respond::<D>(state, &chat).await,
        Err(rejection) => rejection.into_response(),
    }
}

/// Records the request before anything can fail, so failed attempts are counted too.
fn record(
    state: &MockState,
    provider: &str,
    path: &str,
    headers: &HeaderMap,
    raw: &Bytes,
) -> Option<Value> {
    let body: Option<Value> = serde_json::from_slice(raw).ok();
    let model = body
        .as_ref()
        .and_then(|b| b.get("model"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    tracing::debug!(provider, model, "chat request");
    state.record(
        provider,
        RecordedRequest {
            path: path.to_owned(),
            model,
            headers: headers
                .iter()
                .map(|(name, value)| {
                    let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
                    (name.as_str().to_owned(), value)
                })
                .collect(),
            body: body.clone().unwrap_or(Value::Null),
        },
    );
    body
}

async fn respond<D: Dialect>(state: &MockState, chat: &Chat) -> Response {
    let plan = Plan::new(state.mode(&chat.provider), &chat.model);
    if let Some(delay) = plan.delay {
        tokio::time::sleep(delay).await;
    }
    let pacing = Pacing::new(plan.drip.unwrap_or(wire::FRAME_GAP), state, &chat.provider);
    let answer = || {
        if plan.drip.is_some() {
            text::long_answer(&chat.provider, &chat.model, &chat.prompt)
        } else {
            text::answer(&chat.provider, &chat.model, &chat.prompt)
        }
    };
    let (answer, ending) = match plan.outcome {
        Outcome::Fail(status) => return D::error(status_code(status)),
        Outcome::Malformed if chat.stream => {
            let frames = vec![wire::MALFORMED_FRAME.to_owned()];
            return wire::event_stream(frames, End::Clean, pacing);
        }
        Outcome::Malformed => return wire::malformed_json(),
        Outcome::EarlyError if chat.stream => (answer(), Ending::EarlyError),
        Outcome::EarlyError => return D::error(StatusCode::INTERNAL_SERVER_ERROR),
        Outcome::MidstreamError if chat.stream => (answer(), Ending::MidstreamError),
        Outcome::MidstreamError => return wire::truncated_json(&D::completion(chat, &answer())),
        Outcome::Stall if chat.stream => (answer(), Ending::Stall),
        Outcome::Hang | Outcome::Stall => {
            fault::hang().await;
            (answer(), Ending::Finished)
        }
        Outcome::Filter => (text::filtered(&chat.prompt), Ending::Finished),
        Outcome::Answer => (answer(), Ending::Finished),
    };
    if chat.stream {
        let (frames, end) = D::stream(chat, &answer, ending);
        wire::event_stream(frames, end, pacing)
    } else {
        wire::json(StatusCode::OK, D::completion(chat, &answer))
    }
}

/// Statuses come from `Mode`/model names that only admit 400..=599.
pub(crate) fn status_code(status: u16) -> StatusCode {
    StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// How the real APIs name a JSON value's type in their messages.
pub(crate) fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "an integer",
        Value::Number(_) => "a decimal",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Seconds since the epoch, for `created` fields.
pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The token of an `Authorization: Bearer <token>` header, when it has one.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|token| !token.is_empty())
}
