//! Cohere's v2 chat API: validation, answers, event streams, errors and the model list.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{json, Map, Value};

use super::chat::{self, Chat, Dialect, Ending, Rejection};
use super::models;
use super::state::MockState;
use super::text::{self, Answer, Finish, Prompt};
use super::wire::{self, End};

pub(crate) struct Cohere;

/// Every top-level field v2 chat documents; anything else is a 400.
const PARAMS: &[&str] = &[
    "citation_options",
    "documents",
    "frequency_penalty",
    "k",
    "logprobs",
    "max_tokens",
    "messages",
    "model",
    "p",
    "presence_penalty",
    "priority",
    "response_format",
    "safety_mode",
    "seed",
    "stop_sequences",
    "stream",
    "strict_tools",
    "temperature",
    "thinking",
    "tool_choice",
    "tools",
];

const ROLES: &[&str] = &["system", "user", "assistant", "tool"];

/// `POST /cohere/v2/chat`.
pub(crate) async fn chat(
    State(state): State<MockState>,
    Path(provider): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if provider != "cohere" {
        return StatusCode::NOT_FOUND.into_response();
    }
    chat::handle::<Cohere>(&state, &provider, uri.path(), &headers, &body).await
}

impl Dialect for Cohere {
    fn authorize(headers: &HeaderMap) -> Result<(), Rejection> {
        match chat::bearer(headers) {
            Some(_) => Ok(()),
            None => Err(Rejection::new(
                StatusCode::UNAUTHORIZED,
                json!({ "message": "no api key supplied" }),
            )),
        }
    }

    fn parse(provider: &str, body: Option<Value>) -> Result<Chat, Rejection> {
        let body = body.ok_or_else(|| bad("invalid request: body is not valid JSON"))?;
        let Value::Object(fields) = &body else {
            return Err(bad("invalid request: body must be a JSON object"));
        };
        if let Some(key) = fields.keys().find(|key| !PARAMS.contains(&key.as_str())) {
            return Err(bad(format!(
                "invalid request: unknown field: parameter {key} is not a valid field"
            )));
        }
        let model = match fields.get("model") {
            None | Some(Value::Null) => {
                return Err(bad(
                    "invalid request: a model parameter is required for this endpoint.",
                ))
            }
            Some(Value::String(model)) => model.clone(),
            Some(_) => return Err(bad("invalid request: model must be a string")),
        };
        let messages = match fields.get("messages") {
            None | Some(Value::Null) => {
                return Err(bad("invalid request: messages must not be empty"))
            }
            Some(Value::Array(messages)) => messages,
            Some(_) => return Err(bad("invalid request: messages must be a list")),
        };
        if messages.is_empty() {
            return Err(bad("invalid request: messages must not be empty"));
        }

        let mut prompt = Prompt::default();
        for (i, message) in messages.iter().enumerate() {
            let (role, text) = check_message(i, message)?;
            if role == "user" {
                prompt.last_user.clone_from(&text);
            }
            prompt.texts.push(text);
        }
        prompt.max_tokens = match fields.get("max_tokens") {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) if n.as_u64().is_some_and(|max| max >= 1) => n.as_u64(),
            Some(_) => {
                return Err(bad(
                    "invalid request: max_tokens must be a positive integer",
                ))
            }
        };
        prompt.stop = match fields.get("stop_sequences") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(seqs)) if seqs.len() <= 5 && seqs.iter().all(Value::is_string) => {
                seqs.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            }
            Some(_) => {
                return Err(bad(
                    "invalid request: stop_sequences must be a list of at most 5 strings",
                ))
            }
        };
        number(fields, "temperature", 0.0, f64::INFINITY)?;
        number(fields, "p", 0.01, 0.99)?;
        number(fields, "frequency_penalty", 0.0, 1.0)?;
        number(fields, "presence_penalty", 0.0, 1.0)?;
        match fields.get("k") {
            None | Some(Value::Null) => {}
            Some(Value::Number(n)) if n.as_u64().is_some_and(|k| k <= 500) => {}
            Some(_) => {
                return Err(bad(
                    "invalid request: k must be an integer between 0 and 500, inclusive",
                ))
            }
        }
        let stream = match fields.get("stream") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(stream)) => *stream,
            Some(_) => return Err(bad("invalid request: stream must be a boolean")),
        };
        Ok(Chat {
            provider: provider.to_owned(),
            model,
            prompt,
            stream,
            include_usage: false,
        })
    }

    fn error(status: StatusCode) -> Response {
        let message = match status.as_u16() {
            401 => "invalid api token",
            402 => "Please add or update your payment method to continue.",
            404 => "model not found",
            429 => "You are past the per minute request limit, please wait and try again later.",
            499 => "request cancelled",
            400..=499 => "invalid request",
            503 => "service unavailable",
            504 => "gateway timeout",
            _ => "internal server error, this has been reported to our developers",
        };
        wire::error(
            status,
            json!({ "message": format!("{message} (injected by aig-mock-providers)") }),
        )
    }

    fn completion(_chat: &Chat, answer: &Answer) -> Value {
        let content = if answer.text.is_empty() {
            json!([])
        } else {
            json!([{ "type": "text", "text": answer.text }])
        };
        json!({
            "id": uuid::Uuid::new_v4().to_string(),
            "message": { "role": "assistant", "content": content },
            "finish_reason": finish_reason(&answer.finish),
            "usage": usage(answer),
        })
    }

    fn stream(_chat: &Chat, answer: &Answer, ending: Ending) -> (Vec<String>, End) {
        let id = uuid::Uuid::new_v4().to_string();
        let mut frames = vec![wire::event(
            "message-start",
            &json!({
                "id": id,
                "type": "message-start",
                "delta": { "message": {
                    "role": "assistant",
                    "content": [],
                    "tool_plan": "",
                    "tool_calls": [],
                    "citations": [],
                } },
            }),
        )];
        match ending {
            Ending::Finished | Ending::MidstreamError => {}
            Ending::Stall => return (frames, End::Stall),
            // Cohere has no in-band error event: the stream just stops.
            Ending::EarlyError => return (frames, End::Drop),
        }
        if answer.finish != Finish::Filter {
            frames.push(wire::event(
                "content-start",
                &json!({
                    "type": "content-start",
                    "index": 0,
                    "delta": { "message": { "content": { "type": "text", "text": "" } } },
                }),
            ));
            let delta = |piece: &String| {
                wire::event(
                    "content-delta",
                    &json!({
                        "type": "content-delta",
                        "index": 0,
                        "delta": { "message": { "content": { "text": piece } } },
                    }),
                )
            };
            let pieces = text::pieces(&answer.text);
            if ending == Ending::MidstreamError {
                // Cohere has no in-band error event: the stream just stops short of message-end.
                frames.extend(pieces.iter().take(2).map(delta));
                return (frames, End::Drop);
            }
            frames.extend(pieces.iter().map(delta));
            frames.push(wire::event(
                "content-end",
                &json!({ "type": "content-end", "index": 0 }),
            ));
        }
        frames.push(wire::event(
            "message-end",
            &json!({
                "id": id,
                "type": "message-end",
                "delta": {
                    "finish_reason": finish_reason(&answer.finish),
                    "usage": usage(answer),
                },
            }),
        ));
        (frames, End::Clean)
    }

    fn models(provider: &str) -> Value {
        let models: Vec<Value> = models::list(provider)
            .map(|(id, _)| {
                json!({
                    "name": id,
                    "endpoints": ["chat"],
                    "finetuned": false,
                    "context_length": 256000,
                    "tokenizer_url": null,
                    "default_endpoints": [],
                    "features": ["tools", "strict_tools"],
                })
            })
            .collect();
        json!({ "models": models })
    }
}

fn check_message(i: usize, message: &Value) -> Result<(String, String), Rejection> {
    let at = format!("messages[{i}]");
    let Value::Object(message) = message else {
        return Err(bad(format!("invalid request: {at} must be an object")));
    };
    let role = match message.get("role") {
        Some(Value::String(role)) if ROLES.contains(&role.as_str()) => role.as_str(),
        Some(Value::String(role)) => {
            return Err(bad(format!(
                "invalid request: {at}.role must be one of system, user, assistant, tool; got \
                 '{role}'"
            )))
        }
        _ => return Err(bad(format!("invalid request: {at}.role is required"))),
    };
    let block_types: &[&str] = match role {
        "user" => &["text", "image_url", "document"],
        "assistant" => &["text", "thinking"],
        "tool" => &["text", "document"],
        _ => &["text"],
    };
    let content = message.get("content");
    match content {
        // An assistant turn that only calls tools has no content.
        None | Some(Value::Null) if role == "assistant" => {}
        None | Some(Value::Null) => {
            return Err(bad(format!("invalid request: {at}.content is required")))
        }
        Some(Value::String(_)) => {}
        Some(Value::Array(blocks)) => {
            for (j, block) in blocks.iter().enumerate() {
                let kind = block
                    .get("type")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                if !block_types.contains(&kind) {
                    return Err(bad(format!(
                        "invalid request: {at}.content[{j}].type must be one of {}",
                        block_types.join(", ")
                    )));
                }
                if kind == "text" && !block.get("text").is_some_and(Value::is_string) {
                    return Err(bad(format!(
                        "invalid request: {at}.content[{j}].text is required"
                    )));
                }
            }
        }
        Some(_) => {
            return Err(bad(format!(
                "invalid request: {at}.content must be a string or a list of content objects"
            )))
        }
    }
    if role == "tool" && !message.get("tool_call_id").is_some_and(Value::is_string) {
        return Err(bad(format!(
            "invalid request: {at}.tool_call_id is required for tool messages"
        )));
    }
    Ok((role.to_owned(), text::content_text(content)))
}

fn number(fields: &Map<String, Value>, name: &str, min: f64, max: f64) -> Result<(), Rejection> {
    let in_range = match fields.get(name) {
        None | Some(Value::Null) => true,
        Some(Value::Number(n)) => n.as_f64().is_some_and(|v| (min..=max).contains(&v)),
        Some(_) => false,
    };
    if in_range {
        Ok(())
    } else if max.is_finite() {
        Err(bad(format!(
            "invalid request: {name} must be a number between {min} and {max}, inclusive"
        )))
    } else {
        Err(bad(format!(
            "invalid request: {name} must be a number >= {min}"
        )))
    }
}

/// v2 documents COMPLETE, STOP_SEQUENCE, MAX_TOKENS, TOOL_CALL, ERROR and TIMEOUT, none of them a
/// content filter (an early v2 spec had `content_blocked`). The filter outcome uses v1's
/// `ERROR_TOXIC`, the one Cohere value that names it; the gateway should read both as a filter.
fn finish_reason(finish: &Finish) -> &'static str {
    match finish {
        Finish::Complete => "COMPLETE",
        Finish::Length => "MAX_TOKENS",
        Finish::StopSequence(_) => "STOP_SEQUENCE",
        Finish::Filter => "ERROR_TOXIC",
    }
}

fn usage(answer: &Answer) -> Value {
    let counts = json!({
        "input_tokens": answer.input_tokens,
        "output_tokens": answer.output_tokens,
    });
    json!({ "billed_units": counts, "tokens": counts })
}

fn bad(message: impl AsRef<str>) -> Rejection {
    Rejection::new(
        StatusCode::BAD_REQUEST,
        json!({ "message": message.as_ref() }),
    )
}
