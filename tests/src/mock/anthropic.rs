//! The Anthropic Messages API: header and body validation, answers, event streams, errors and the
//! model list.

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

pub(crate) struct Anthropic;

/// Every top-level field the Messages API documents; anything else is a 400.
const PARAMS: &[&str] = &[
    "container",
    "context_management",
    "max_tokens",
    "mcp_servers",
    "messages",
    "metadata",
    "model",
    "service_tier",
    "stop_sequences",
    "stream",
    "system",
    "temperature",
    "thinking",
    "tool_choice",
    "tools",
    "top_k",
    "top_p",
];

const BLOCK_TYPES: &[&str] = &[
    "text",
    "image",
    "document",
    "search_result",
    "tool_use",
    "tool_result",
    "thinking",
    "redacted_thinking",
    "server_tool_use",
    "web_search_tool_result",
    "container_upload",
];

/// `POST /anthropic/v1/messages`.
pub(crate) async fn create_message(
    State(state): State<MockState>,
    Path(provider): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if provider != "anthropic" {
        return StatusCode::NOT_FOUND.into_response();
    }
    chat::handle::<Anthropic>(&state, &provider, uri.path(), &headers, &body).await
}

impl Dialect for Anthropic {
    fn authorize(headers: &HeaderMap) -> Result<(), Rejection> {
        let present = |name: &str| {
            headers
                .get(name)
                .and_then(|value| value.to_str().ok())
                .is_some_and(|value| !value.trim().is_empty())
        };
        if !present("x-api-key") {
            return Err(Rejection::new(
                StatusCode::UNAUTHORIZED,
                error_body("authentication_error", "x-api-key header is required"),
            ));
        }
        if !present("anthropic-version") {
            return Err(bad("anthropic-version: header is required"));
        }
        Ok(())
    }

    fn parse(provider: &str, body: Option<Value>) -> Result<Chat, Rejection> {
        let body = body.ok_or_else(|| bad("There was an error parsing the body: invalid JSON"))?;
        let Value::Object(fields) = &body else {
            return Err(bad("Input should be a valid dictionary"));
        };
        if let Some(key) = fields.keys().find(|key| !PARAMS.contains(&key.as_str())) {
            return Err(bad(format!("{key}: Extra inputs are not permitted")));
        }
        let model = match fields.get("model") {
            None => return Err(bad("model: Field required")),
            Some(Value::String(model)) => model.clone(),
            Some(_) => return Err(bad("model: Input should be a valid string")),
        };
        let max_tokens = match fields.get("max_tokens") {
            None => return Err(bad("max_tokens: Field required")),
            Some(Value::Number(n)) if n.is_i64() || n.is_u64() => match n.as_u64() {
                Some(max) if max >= 1 => max,
                _ => {
                    return Err(bad(
                        "max_tokens: Input should be greater than or equal to 1",
                    ))
                }
            },
            Some(_) => return Err(bad("max_tokens: Input should be a valid integer")),
        };
        let messages = match fields.get("messages") {
            None => return Err(bad("messages: Field required")),
            Some(Value::Array(messages)) => messages,
            Some(_) => return Err(bad("messages: Input should be a valid list")),
        };
        if messages.is_empty() {
            return Err(bad(
                "messages: List should have at least 1 item after validation, not 0",
            ));
        }

        let mut prompt = Prompt {
            max_tokens: Some(max_tokens),
            ..Prompt::default()
        };
        if let Some(system) = system_text(fields.get("system"))? {
            prompt.texts.push(system);
        }
        for (i, message) in messages.iter().enumerate() {
            let (role, text) = check_message(i, message)?;
            if role == "user" {
                prompt.last_user.clone_from(&text);
            }
            prompt.texts.push(text);
        }
        prompt.stop = match fields.get("stop_sequences") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(seqs)) => seqs
                .iter()
                .enumerate()
                .map(|(i, seq)| match seq {
                    Value::String(seq) => Ok(seq.clone()),
                    _ => Err(bad(format!(
                        "stop_sequences.{i}: Input should be a valid string"
                    ))),
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(bad("stop_sequences: Input should be a valid list")),
        };
        number(fields, "temperature", 0.0, 1.0)?;
        number(fields, "top_p", 0.0, 1.0)?;
        match fields.get("top_k") {
            None | Some(Value::Null) => {}
            Some(Value::Number(n)) if n.is_u64() => {}
            Some(Value::Number(n)) if n.is_i64() => {
                return Err(bad("top_k: Input should be greater than or equal to 0"))
            }
            Some(_) => return Err(bad("top_k: Input should be a valid integer")),
        }
        let stream = match fields.get("stream") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(stream)) => *stream,
            Some(_) => return Err(bad("stream: Input should be a valid boolean")),
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
        let (kind, message) = match status.as_u16() {
            401 => ("authentication_error", "invalid x-api-key"),
            402 => ("billing_error", "Your credit balance is too low."),
            403 => (
                "permission_error",
                "Your API key does not have permission to use the specified resource.",
            ),
            404 => ("not_found_error", "The requested resource was not found."),
            413 => ("request_too_large", "Request exceeds the maximum size"),
            429 => (
                "rate_limit_error",
                "Number of requests has exceeded your per-minute rate limit",
            ),
            529 => ("overloaded_error", "Overloaded"),
            400..=499 => ("invalid_request_error", "Invalid request"),
            _ => ("api_error", "Internal server error"),
        };
        let message = format!("{message} (injected by aig-mock-providers)");
        wire::error(status, error_body(kind, &message))
    }

    fn completion(chat: &Chat, answer: &Answer) -> Value {
        let content = if answer.text.is_empty() {
            json!([])
        } else {
            json!([{ "type": "text", "text": answer.text }])
        };
        json!({
            "id": message_id(),
            "type": "message",
            "role": "assistant",
            "model": chat.model,
            "content": content,
            "stop_reason": stop_reason(&answer.finish),
            "stop_sequence": stop_sequence(&answer.finish),
            "usage": {
                "input_tokens": answer.input_tokens,
                "output_tokens": answer.output_tokens,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
            },
        })
    }

    fn stream(chat: &Chat, answer: &Answer, ending: Ending) -> (Vec<String>, End) {
        let mut frames = vec![wire::event(
            "message_start",
            &json!({
                "type": "message_start",
                "message": {
                    "id": message_id(),
                    "type": "message",
                    "role": "assistant",
                    "model": chat.model,
                    "content": [],
                    "stop_reason": null,
                    "stop_sequence": null,
                    "usage": {
                        "input_tokens": answer.input_tokens,
                        "output_tokens": 1,
                        "cache_creation_input_tokens": 0,
                        "cache_read_input_tokens": 0,
                    },
                },
            }),
        )];
        let ping = wire::event("ping", &json!({ "type": "ping" }));
        let overloaded = || {
            wire::event(
                "error",
                &json!({
                    "type": "error",
                    "error": { "type": "overloaded_error", "message": "Overloaded" },
                }),
            )
        };
        match ending {
            Ending::Finished | Ending::MidstreamError => {}
            Ending::Stall => {
                frames.push(ping);
                return (frames, End::Stall);
            }
            Ending::EarlyError => {
                frames.push(ping);
                frames.push(overloaded());
                return (frames, End::Clean);
            }
        }
        // A refusal carries no content block at all.
        if answer.finish == Finish::Filter {
            frames.push(ping);
        } else {
            frames.push(wire::event(
                "content_block_start",
                &json!({
                    "type": "content_block_start",
                    "index": 0,
                    "content_block": { "type": "text", "text": "" },
                }),
            ));
            frames.push(ping);
            let delta = |piece: &String| {
                wire::event(
                    "content_block_delta",
                    &json!({
                        "type": "content_block_delta",
                        "index": 0,
                        "delta": { "type": "text_delta", "text": piece },
                    }),
                )
            };
            let pieces = text::pieces(&answer.text);
            if ending == Ending::MidstreamError {
                frames.extend(pieces.iter().take(2).map(delta));
                frames.push(overloaded());
                return (frames, End::Clean);
            }
            frames.extend(pieces.iter().map(delta));
            frames.push(wire::event(
                "content_block_stop",
                &json!({ "type": "content_block_stop", "index": 0 }),
            ));
        }
        frames.push(wire::event(
            "message_delta",
            &json!({
                "type": "message_delta",
                "delta": {
                    "stop_reason": stop_reason(&answer.finish),
                    "stop_sequence": stop_sequence(&answer.finish),
                },
                "usage": { "output_tokens": answer.output_tokens },
            }),
        ));
        frames.push(wire::event(
            "message_stop",
            &json!({ "type": "message_stop" }),
        ));
        (frames, End::Clean)
    }

    fn models(provider: &str) -> Value {
        let data: Vec<Value> = models::list(provider)
            .map(|(id, name)| {
                json!({
                    "type": "model",
                    "id": id,
                    "display_name": name,
                    "created_at": "2025-05-14T00:00:00Z",
                })
            })
            .collect();
        let first = data.first().map(|m| m["id"].clone());
        let last = data.last().map(|m| m["id"].clone());
        json!({ "data": data, "has_more": false, "first_id": first, "last_id": last })
    }
}

/// `system` is top-level: a string or an array of text blocks.
fn system_text(system: Option<&Value>) -> Result<Option<String>, Rejection> {
    let invalid = || bad("system: Input should be a valid string or a list of text blocks");
    match system {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(Value::Array(blocks)) => {
            let all_text = blocks.iter().all(|block| {
                block.get("type").and_then(Value::as_str) == Some("text")
                    && block.get("text").is_some_and(Value::is_string)
            });
            if all_text {
                Ok(Some(text::content_text(system)))
            } else {
                Err(invalid())
            }
        }
        Some(_) => Err(invalid()),
    }
}

fn check_message(i: usize, message: &Value) -> Result<(String, String), Rejection> {
    let Value::Object(message) = message else {
        return Err(bad(format!(
            "messages.{i}: Input should be a valid dictionary"
        )));
    };
    let role = match message.get("role") {
        None => return Err(bad(format!("messages.{i}.role: Field required"))),
        Some(Value::String(role)) if role == "user" || role == "assistant" => role.as_str(),
        Some(Value::String(role)) if role == "system" => {
            return Err(bad(format!(
                "messages.{i}.role: Unexpected role \"system\". The Messages API accepts a \
                 top-level `system` parameter, not \"system\" as an input message role."
            )))
        }
        Some(_) => {
            return Err(bad(format!(
                "messages.{i}.role: Input should be 'user' or 'assistant'"
            )))
        }
    };
    let content = message.get("content");
    match content {
        None => return Err(bad(format!("messages.{i}.content: Field required"))),
        Some(Value::String(_)) => {}
        Some(Value::Array(blocks)) => {
            for (j, block) in blocks.iter().enumerate() {
                check_block(&format!("messages.{i}.content.{j}"), block)?;
            }
        }
        Some(_) => {
            return Err(bad(format!(
                "messages.{i}.content: Input should be a valid string or a list of content \
                 blocks"
            )))
        }
    }
    Ok((role.to_owned(), text::content_text(content)))
}

fn check_block(at: &str, block: &Value) -> Result<(), Rejection> {
    let Value::Object(block) = block else {
        return Err(bad(format!("{at}: Input should be a valid dictionary")));
    };
    match block.get("type") {
        Some(Value::String(kind)) if BLOCK_TYPES.contains(&kind.as_str()) => {
            if kind == "text" && !block.get("text").is_some_and(Value::is_string) {
                return Err(bad(format!("{at}.text: Field required")));
            }
            Ok(())
        }
        Some(Value::String(kind)) => Err(bad(format!(
            "{at}: Input tag '{kind}' found using 'type' does not match any of the expected tags"
        ))),
        _ => Err(bad(format!("{at}.type: Field required"))),
    }
}

fn number(fields: &Map<String, Value>, name: &str, min: f64, max: f64) -> Result<(), Rejection> {
    match fields.get(name) {
        None | Some(Value::Null) => Ok(()),
        Some(Value::Number(n)) => {
            let value = n.as_f64().unwrap_or(f64::NAN);
            if value < min {
                Err(bad(format!(
                    "{name}: Input should be greater than or equal to {min}"
                )))
            } else if value > max {
                Err(bad(format!(
                    "{name}: Input should be less than or equal to {max}"
                )))
            } else {
                Ok(())
            }
        }
        Some(_) => Err(bad(format!("{name}: Input should be a valid number"))),
    }
}

fn stop_reason(finish: &Finish) -> &'static str {
    match finish {
        Finish::Complete => "end_turn",
        Finish::Length => "max_tokens",
        Finish::StopSequence(_) => "stop_sequence",
        Finish::Filter => "refusal",
    }
}

fn stop_sequence(finish: &Finish) -> Option<&str> {
    match finish {
        Finish::StopSequence(seq) => Some(seq),
        _ => None,
    }
}

fn message_id() -> String {
    let random: String = uuid::Uuid::new_v4()
        .simple()
        .to_string()
        .chars()
        .take(22)
        .collect();
    format!("msg_01{random}")
}

fn error_body(kind: &str, message: &str) -> Value {
    json!({
        "type": "error",
        "error": { "type": kind, "message": message },
        "request_id": format!("req_{}", uuid::Uuid::new_v4().simple()),
    })
}

fn bad(message: impl AsRef<str>) -> Rejection {
    Rejection::new(
        StatusCode::BAD_REQUEST,
        error_body("invalid_request_error", message.as_ref()),
    )
}
