//! OpenAI chat completions, as spoken by OpenAI and the OpenAI-compatible providers: validation,
//! answers, chunk streams, errors and the model list.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{json, Map, Value};

use super::chat::{self, kind, unix_now, Chat, Dialect, Ending, Rejection};
use super::models;
use super::state::MockState;
use super::text::{self, Answer, Finish, Prompt};
use super::wire::{self, End};

pub(crate) struct OpenAi;

/// Every top-level request field the Chat Completions API documents; anything else is a 400.
const PARAMS: &[&str] = &[
    "audio",
    "frequency_penalty",
    "function_call",
    "functions",
    "logit_bias",
    "logprobs",
    "max_completion_tokens",
    "max_tokens",
    "messages",
    "metadata",
    "modalities",
    "model",
    "n",
    "parallel_tool_calls",
    "prediction",
    "presence_penalty",
    "prompt_cache_key",
    "reasoning_effort",
    "response_format",
    "safety_identifier",
    "seed",
    "service_tier",
    "stop",
    "store",
    "stream",
    "stream_options",
    "temperature",
    "tool_choice",
    "tools",
    "top_logprobs",
    "top_p",
    "user",
    "verbosity",
    "web_search_options",
];

const ROLES: &[&str] = &["system", "developer", "user", "assistant", "tool"];

const FINGERPRINT: &str = "fp_aigmock";

/// `POST /{provider}/v1/chat/completions`, for every provider but anthropic and cohere.
pub(crate) async fn create_chat_completion(
    State(state): State<MockState>,
    Path(provider): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if matches!(provider.as_str(), "anthropic" | "cohere") {
        return StatusCode::NOT_FOUND.into_response();
    }
    chat::handle::<OpenAi>(&state, &provider, uri.path(), &headers, &body).await
}

impl Dialect for OpenAi {
    fn authorize(headers: &HeaderMap) -> Result<(), Rejection> {
        match chat::bearer(headers) {
            Some(_) => Ok(()),
            None => Err(Rejection::new(
                StatusCode::UNAUTHORIZED,
                error_body(
                    "You didn't provide an API key. You need to provide your API key in an \
                     Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
                    "invalid_request_error",
                    None,
                    None,
                ),
            )),
        }
    }

    fn parse(provider: &str, body: Option<Value>) -> Result<Chat, Rejection> {
        let body = body.ok_or_else(|| {
            bad(
                "We could not parse the JSON body of your request. The OpenAI API expects a JSON \
                 payload, but what was sent was not valid JSON.",
                None,
                None,
            )
        })?;
        let Value::Object(fields) = &body else {
            return Err(type_error("body", "an object", &body));
        };
        if let Some(key) = fields.keys().find(|key| !PARAMS.contains(&key.as_str())) {
            return Err(bad(
                format!("Unrecognized request argument supplied: {key}"),
                None,
                None,
            ));
        }
        let model = match fields.get("model") {
            None | Some(Value::Null) => {
                return Err(bad("you must provide a model parameter", None, None))
            }
            Some(Value::String(model)) => model.clone(),
            Some(other) => return Err(type_error("model", "a string", other)),
        };
        let messages = match fields.get("messages") {
            None | Some(Value::Null) => {
                return Err(bad(
                    "Missing required parameter: 'messages'.",
                    Some("messages"),
                    Some("missing_required_parameter"),
                ))
            }
            Some(Value::Array(messages)) => messages,
            Some(other) => return Err(type_error("messages", "an array", other)),
        };
        if messages.is_empty() {
            return Err(bad(
                "Invalid 'messages': empty array. Expected an array with minimum length 1, but \
                 got an empty array instead.",
                Some("messages"),
                Some("empty_array"),
            ));
        }

        let mut prompt = Prompt::default();
        for (i, message) in messages.iter().enumerate() {
            let (role, text) = check_message(i, message)?;
            if role == "user" {
                prompt.last_user.clone_from(&text);
            }
            prompt.texts.push(text);
        }
        let max_tokens = integer(fields, "max_tokens", 1)?;
        let max_completion_tokens = integer(fields, "max_completion_tokens", 1)?;
        prompt.max_tokens = match (max_tokens, max_completion_tokens) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        prompt.stop = stop(fields.get("stop"))?;
        number(fields, "temperature", 0.0, 2.0)?;
        number(fields, "top_p", 0.0, 1.0)?;
        number(fields, "presence_penalty", -2.0, 2.0)?;
        number(fields, "frequency_penalty", -2.0, 2.0)?;
        // Accepted like the real API, but the mock always answers with a single choice.
        integer(fields, "n", 1)?;

        let stream = match fields.get("stream") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(stream)) => *stream,
            Some(other) => return Err(type_error("stream", "a boolean", other)),
        };
        let include_usage = match fields.get("stream_options") {
            None | Some(Value::Null) => false,
            Some(Value::Object(_)) if !stream => {
                return Err(bad(
                    "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
                    Some("stream_options"),
                    None,
                ))
            }
            Some(Value::Object(options)) => match options.get("include_usage") {
                None | Some(Value::Null) => false,
                Some(Value::Bool(include)) => *include,
                Some(other) => {
                    return Err(type_error(
                        "stream_options.include_usage",
                        "a boolean",
                        other,
                    ))
                }
            },
            Some(other) => return Err(type_error("stream_options", "an object", other)),
        };
        Ok(Chat {
            provider: provider.to_owned(),
            model,
            prompt,
            stream,
            include_usage,
        })
    }

    fn error(status: StatusCode) -> Response {
        let (kind, code, message) = match status.as_u16() {
            401 => (
                "invalid_request_error",
                Some("invalid_api_key"),
                "Incorrect API key provided.",
            ),
            404 => (
                "invalid_request_error",
                Some("model_not_found"),
                "The model does not exist or you do not have access to it.",
            ),
            429 => (
                "requests",
                Some("rate_limit_exceeded"),
                "Rate limit reached for requests. Please try again in 1s.",
            ),
            400..=499 => ("invalid_request_error", None, "Invalid request."),
            500 => (
                "server_error",
                None,
                "The server had an error while processing your request. Sorry about that!",
            ),
            _ => (
                "server_error",
                None,
                "The server is overloaded or not ready yet.",
            ),
        };
        let message = format!("{message} (injected by aig-mock-providers)");
        wire::error(status, error_body(&message, kind, None, code))
    }

    fn completion(chat: &Chat, answer: &Answer) -> Value {
        json!({
            "id": completion_id(),
            "object": "chat.completion",
            "created": unix_now(),
            "model": chat.model,
            "choices": [{
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": answer.text,
                    "refusal": null,
                    "annotations": [],
                },
                "logprobs": null,
                "finish_reason": finish_reason(&answer.finish),
            }],
            "usage": usage(answer),
            "service_tier": "default",
            "system_fingerprint": FINGERPRINT,
        })
    }

    fn stream(chat: &Chat, answer: &Answer, ending: Ending) -> (Vec<String>, End) {
        let id = completion_id();
        let created = unix_now();
        let chunk = |choices: Value, usage: Option<Value>| {
            let mut chunk = json!({
                "id": id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": chat.model,
                "service_tier": "default",
                "system_fingerprint": FINGERPRINT,
                "choices": choices,
            });
            // With include_usage every chunk carries `usage`, null until the last one.
            if chat.include_usage {
                chunk["usage"] = usage.unwrap_or(Value::Null);
            }
            wire::data(&chunk)
        };
        let choice = |delta: Value, finish: Option<&str>| json!([{ "index": 0, "delta": delta, "logprobs": null, "finish_reason": finish }]);
        let content = |piece: &String| chunk(choice(json!({ "content": piece }), None), None);

        let mut frames = vec![chunk(
            choice(
                json!({ "role": "assistant", "content": "", "refusal": null }),
                None,
            ),
            None,
        )];
        let in_band_error = || {
            wire::data(&error_body(
                "The server had an error while processing your request. Sorry about that!",
                "server_error",
                None,
                None,
            ))
        };
        let pieces = text::pieces(&answer.text);
        match ending {
            Ending::Finished => {}
            Ending::Stall => return (frames, End::Stall),
            Ending::EarlyError => {
                frames.push(in_band_error());
                return (frames, End::Clean);
            }
            Ending::MidstreamError => {
                frames.extend(pieces.iter().take(2).map(content));
                frames.push(in_band_error());
                return (frames, End::Clean);
            }
        }
        frames.extend(pieces.iter().map(content));
        frames.push(chunk(
            choice(json!({}), Some(finish_reason(&answer.finish))),
            None,
        ));
        if chat.include_usage {
            frames.push(chunk(json!([]), Some(usage(answer))));
        }
        frames.push("data: [DONE]\n\n".to_owned());
        (frames, End::Clean)
    }

    fn models(provider: &str) -> Value {
        let created = unix_now();
        let data: Vec<Value> = models::list(provider)
            .map(|(id, _)| {
                json!({ "id": id, "object": "model", "created": created, "owned_by": provider })
            })
            .collect();
        json!({ "object": "list", "data": data })
    }
}

fn check_message(i: usize, message: &Value) -> Result<(String, String), Rejection> {
    let at = format!("messages[{i}]");
    let Value::Object(message) = message else {
        return Err(type_error(&at, "an object", message));
    };
    let role = match message.get("role") {
        Some(Value::String(role)) => role.as_str(),
        None | Some(Value::Null) => return Err(missing(&format!("{at}.role"))),
        Some(other) => return Err(type_error(&format!("{at}.role"), "a string", other)),
    };
    if !ROLES.contains(&role) {
        return Err(bad(
            format!(
                "Invalid value: '{role}'. Supported values are: 'system', 'developer', 'user', \
                 'assistant', and 'tool'."
            ),
            Some(&format!("{at}.role")),
            Some("invalid_value"),
        ));
    }
    let part_types: &[&str] = match role {
        "user" => &["text", "image_url", "input_audio", "file"],
        "assistant" => &["text", "refusal"],
        _ => &["text"],
    };
    let content = message.get("content");
    match content {
        // An assistant turn that only calls tools has no content.
        None | Some(Value::Null) if role == "assistant" => {}
        None | Some(Value::Null) => return Err(missing(&format!("{at}.content"))),
        Some(Value::String(_)) => {}
        Some(Value::Array(parts)) => {
            for (j, part) in parts.iter().enumerate() {
                check_part(&format!("{at}.content[{j}]"), part, part_types)?;
            }
        }
        Some(other) => {
            return Err(type_error(
                &format!("{at}.content"),
                "a string or array",
                other,
            ))
        }
    }
    if role == "tool" && !matches!(message.get("tool_call_id"), Some(Value::String(_))) {
        return Err(bad(
            "Missing parameter 'tool_call_id': messages with role 'tool' must have a \
             'tool_call_id'.",
            Some(&format!("{at}.tool_call_id")),
            None,
        ));
    }
    Ok((role.to_owned(), text::content_text(content)))
}

fn check_part(at: &str, part: &Value, allowed: &[&str]) -> Result<(), Rejection> {
    let Value::Object(part) = part else {
        return Err(type_error(at, "an object", part));
    };
    let part_type = match part.get("type") {
        Some(Value::String(part_type)) => part_type.as_str(),
        None | Some(Value::Null) => return Err(missing(&format!("{at}.type"))),
        Some(other) => return Err(type_error(&format!("{at}.type"), "a string", other)),
    };
    if !allowed.contains(&part_type) {
        let supported = allowed
            .iter()
            .map(|t| format!("'{t}'"))
            .collect::<Vec<_>>()
            .join(", ");
        return Err(bad(
            format!("Invalid value: '{part_type}'. Supported values are: {supported}."),
            Some(&format!("{at}.type")),
            Some("invalid_value"),
        ));
    }
    let text_field = match part_type {
        "text" => Some("text"),
        "refusal" => Some("refusal"),
        _ => None,
    };
    if let Some(field) = text_field {
        match part.get(field) {
            Some(Value::String(_)) => {}
            None | Some(Value::Null) => return Err(missing(&format!("{at}.{field}"))),
            Some(other) => return Err(type_error(&format!("{at}.{field}"), "a string", other)),
        }
    }
    Ok(())
}

/// `stop`: null, one string, or up to 4 strings.
fn stop(value: Option<&Value>) -> Result<Vec<String>, Rejection> {
    match value {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(seq)) => Ok(vec![seq.clone()]),
        Some(Value::Array(seqs)) => {
            if seqs.len() > 4 {
                return Err(bad(
                    format!(
                        "Invalid 'stop': array too long. Expected an array with maximum length 4, \
                         but got an array with length {} instead.",
                        seqs.len()
                    ),
                    Some("stop"),
                    Some("array_above_max_length"),
                ));
            }
            seqs.iter()
                .enumerate()
                .map(|(i, seq)| match seq {
                    Value::String(seq) => Ok(seq.clone()),
                    other => Err(type_error(&format!("stop[{i}]"), "a string", other)),
                })
                .collect()
        }
        Some(other) => Err(type_error("stop", "a string or array", other)),
    }
}

fn integer(fields: &Map<String, Value>, name: &str, min: u64) -> Result<Option<u64>, Rejection> {
    match fields.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) if n.is_u64() || n.is_i64() => match n.as_u64() {
            Some(value) if value >= min => Ok(Some(value)),
            _ => Err(bad(
                format!(
                    "Invalid '{name}': integer below minimum value. Expected a value >= {min}, \
                     but got {n} instead."
                ),
                Some(name),
                Some("integer_below_min_value"),
            )),
        },
        Some(other) => Err(type_error(name, "an integer", other)),
    }
}

fn number(fields: &Map<String, Value>, name: &str, min: f64, max: f64) -> Result<(), Rejection> {
    match fields.get(name) {
        None | Some(Value::Null) => Ok(()),
        Some(Value::Number(n)) => {
            let value = n.as_f64().unwrap_or(f64::NAN);
            if value < min {
                Err(bad(
                    format!(
                        "Invalid '{name}': decimal below minimum value. Expected a value >= \
                         {min}, but got {n} instead."
                    ),
                    Some(name),
                    Some("decimal_below_min_value"),
                ))
            } else if value > max {
                Err(bad(
                    format!(
                        "Invalid '{name}': decimal above maximum value. Expected a value <= \
                         {max}, but got {n} instead."
                    ),
                    Some(name),
                    Some("decimal_above_max_value"),
                ))
            } else {
                Ok(())
            }
        }
        Some(other) => Err(type_error(name, "a decimal", other)),
    }
}

fn finish_reason(finish: &Finish) -> &'static str {
    match finish {
        Finish::Complete | Finish::StopSequence(_) => "stop",
        Finish::Length => "length",
        Finish::Filter => "content_filter",
    }
}

fn usage(answer: &Answer) -> Value {
    json!({
        "prompt_tokens": answer.input_tokens,
        "completion_tokens": answer.output_tokens,
        "total_tokens": answer.input_tokens + answer.output_tokens,
        "prompt_tokens_details": { "cached_tokens": 0, "audio_tokens": 0 },
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    })
}

fn completion_id() -> String {
    format!("chatcmpl-{}", uuid::Uuid::new_v4().simple())
}

fn error_body(message: &str, kind: &str, param: Option<&str>, code: Option<&str>) -> Value {
    json!({ "error": { "message": message, "type": kind, "param": param, "code": code } })
}

fn bad(message: impl AsRef<str>, param: Option<&str>, code: Option<&str>) -> Rejection {
    Rejection::new(
        StatusCode::BAD_REQUEST,
        error_body(message.as_ref(), "invalid_request_error", param, code),
    )
}

fn missing(param: &str) -> Rejection {
    bad(
        format!("Missing required parameter: '{param}'."),
        Some(param),
        Some("missing_required_parameter"),
    )
}

fn type_error(param: &str, expected: &str, got: &Value) -> Rejection {
    bad(
        format!(
            "Invalid type for '{param}': expected {expected}, but got {} instead.",
            kind(got)
        ),
        Some(param),
        Some("invalid_type"),
    )
}
