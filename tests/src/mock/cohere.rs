//! Cohere's v2 chat API: validation, answers, event streams, errors and the model list.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{json, Map, Value};

use super::chat::{self, Chat, Dialect, Ending, Rejection};
use super::fault;
use super::models;
use super::state::MockState;
use super::text::{self, Answer, Finish, Prompt};
use super::tools::{self, BadImage, Call, Format, Tool, ToolChoice, Tools, Turn};
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

        let messages = messages
            .iter()
            .enumerate()
            .map(|(i, message)| check_message(i, message))
            .collect::<Result<Vec<_>, _>>()?;
        let mut prompt = Prompt::default();
        let mut call_ids: Vec<&str> = Vec::new();
        for message in &messages {
            if let Some(id) = &message.tool_call_id {
                if !call_ids.contains(&id.as_str()) {
                    return Err(bad(format!(
                        "invalid request: messages[{}].tool_call_id '{id}' does not match the id \
                         of any tool call of a previous assistant message",
                        message.index
                    )));
                }
            }
            call_ids.extend(message.call_ids.iter().map(String::as_str));
            if message.images > 0 && fault::text_only(&model) {
                return Err(bad(format!(
                    "invalid request: messages[{}].content: {model} does not support image input",
                    message.index
                )));
            }
            if message.role == "user" {
                prompt.last_user.clone_from(&message.text);
                prompt.images = message.images;
            }
            prompt.texts.push(message.text.clone());
            prompt.texts.extend(message.calls_json.clone());
        }
        prompt.turn = match messages.last().map(|message| message.role.as_str()) {
            Some("user") => Turn::User,
            Some("tool") => {
                let mut results: Vec<String> = messages
                    .iter()
                    .rev()
                    .take_while(|message| message.role == "tool")
                    .map(|message| message.text.clone())
                    .collect();
                results.reverse();
                Turn::ToolResults(results)
            }
            _ => Turn::Other,
        };
        let offered = tools(fields.get("tools"))?;
        let choice = match fields.get("tool_choice") {
            None | Some(Value::Null) => ToolChoice::Auto,
            Some(_) if offered.is_none() => {
                return Err(bad(
                    "invalid request: tool_choice can only be specified together with tools",
                ))
            }
            Some(Value::String(choice)) if choice == "REQUIRED" => ToolChoice::Required,
            Some(Value::String(choice)) if choice == "NONE" => ToolChoice::None,
            Some(_) => {
                return Err(bad(
                    "invalid request: tool_choice must be one of REQUIRED, NONE",
                ))
            }
        };
        match fields.get("strict_tools") {
            None | Some(Value::Null | Value::Bool(_)) => {}
            Some(_) => return Err(bad("invalid request: strict_tools must be a boolean")),
        }
        if let Some(list) = offered {
            prompt
                .texts
                .extend(fields.get("tools").map(Value::to_string));
            prompt.tools = Some(Tools {
                list,
                choice,
                parallel: true,
            });
        }
        prompt.format = response_format(fields.get("response_format"))?;
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
        let message = if !answer.calls.is_empty() {
            json!({
                "role": "assistant",
                "tool_plan": tool_plan(&answer.calls),
                "tool_calls": tool_calls(&answer.calls),
            })
        } else if answer.text.is_empty() {
            json!({ "role": "assistant", "content": [] })
        } else {
            json!({ "role": "assistant", "content": [{ "type": "text", "text": answer.text }] })
        };
        json!({
            "id": uuid::Uuid::new_v4().to_string(),
            "message": message,
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
        if !answer.calls.is_empty() {
            frames.extend(
                text::pieces(&tool_plan(&answer.calls))
                    .into_iter()
                    .map(|piece| {
                        wire::event(
                            "tool-plan-delta",
                            &json!({
                                "type": "tool-plan-delta",
                                "delta": { "message": { "tool_plan": piece } },
                            }),
                        )
                    }),
            );
            for (index, (mut call, plain)) in tool_calls(&answer.calls)
                .into_iter()
                .zip(&answer.calls)
                .enumerate()
            {
                call["function"]["arguments"] = json!("");
                frames.push(wire::event(
                    "tool-call-start",
                    &json!({
                        "type": "tool-call-start",
                        "index": index,
                        "delta": { "message": { "tool_calls": call } },
                    }),
                ));
                let delta = |fragment: String| {
                    wire::event(
                        "tool-call-delta",
                        &json!({
                            "type": "tool-call-delta",
                            "index": index,
                            "delta": { "message": { "tool_calls": {
                                "function": { "arguments": fragment },
                            } } },
                        }),
                    )
                };
                let fragments = tools::fragments(&plain.arguments);
                if ending == Ending::MidstreamError {
                    frames.extend(fragments.into_iter().take(2).map(delta));
                    return (frames, End::Drop);
                }
                frames.extend(fragments.into_iter().map(delta));
                frames.push(wire::event(
                    "tool-call-end",
                    &json!({ "type": "tool-call-end", "index": index }),
                ));
            }
        } else if answer.finish != Finish::Filter {
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

/// One validated message, in the terms the answer needs.
struct Message {
    index: usize,
    role: String,
    /// Its text: the string, or its text (and, for a tool result, document) items joined by
    /// newlines.
    text: String,
    /// Its `image_url` items.
    images: usize,
    /// An assistant message's tool call ids.
    call_ids: Vec<String>,
    /// An assistant message's `tool_calls`, compact JSON, for the input token count.
    calls_json: Option<String>,
    /// A tool message's `tool_call_id`.
    tool_call_id: Option<String>,
}

fn check_message(i: usize, message: &Value) -> Result<Message, Rejection> {
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
    let mut images = 0;
    let mut texts = Vec::new();
    match content {
        // An assistant turn that only calls tools has no content.
        None | Some(Value::Null) if role == "assistant" => {}
        None | Some(Value::Null) => {
            return Err(bad(format!("invalid request: {at}.content is required")))
        }
        Some(Value::String(text)) => texts.push(text.clone()),
        Some(Value::Array(blocks)) => {
            for (j, block) in blocks.iter().enumerate() {
                let at = format!("{at}.content[{j}]");
                let kind = block
                    .get("type")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                if !block_types.contains(&kind) {
                    return Err(bad(format!(
                        "invalid request: {at}.type must be one of {}",
                        block_types.join(", ")
                    )));
                }
                match kind {
                    "text" => match block.get("text") {
                        Some(Value::String(text)) => texts.push(text.clone()),
                        _ => return Err(bad(format!("invalid request: {at}.text is required"))),
                    },
                    "image_url" => {
                        check_image(&at, block)?;
                        images += 1;
                    }
                    "document" if role == "tool" => texts.push(document_text(&at, block)?),
                    _ => {}
                }
            }
        }
        Some(_) => {
            return Err(bad(format!(
                "invalid request: {at}.content must be a string or a list of content objects"
            )))
        }
    }
    let (call_ids, calls_json) = match message.get("tool_calls") {
        None | Some(Value::Null) => (Vec::new(), None),
        Some(_) if role != "assistant" => {
            return Err(bad(format!(
                "invalid request: {at}.tool_calls is only allowed in assistant messages"
            )))
        }
        Some(calls) => (
            check_tool_calls(&format!("{at}.tool_calls"), calls)?,
            Some(calls.to_string()),
        ),
    };
    match message.get("tool_plan") {
        None | Some(Value::Null) => {}
        Some(Value::String(_)) if role == "assistant" => {}
        Some(_) => {
            return Err(bad(format!(
                "invalid request: {at}.tool_plan must be a string, in an assistant message"
            )))
        }
    }
    let tool_call_id = match message.get("tool_call_id") {
        Some(Value::String(id)) if role == "tool" => Some(id.clone()),
        _ if role == "tool" => {
            return Err(bad(format!(
                "invalid request: {at}.tool_call_id is required for tool messages"
            )))
        }
        _ => None,
    };
    // A user or assistant message's text is its text items; a tool result's also its documents.
    let text = if role == "tool" {
        texts.join("\n")
    } else {
        text::content_text(content)
    };
    Ok(Message {
        index: i,
        role: role.to_owned(),
        text,
        images,
        call_ids,
        calls_json,
        tool_call_id,
    })
}

/// `{type: image_url, image_url: {url, detail?}}` with an http(s) URL or a base64 image data URL.
fn check_image(at: &str, block: &Value) -> Result<(), Rejection> {
    let Some(Value::String(url)) = block.get("image_url").and_then(|image| image.get("url")) else {
        return Err(bad(format!(
            "invalid request: {at}.image_url.url is required"
        )));
    };
    match block.get("image_url").and_then(|image| image.get("detail")) {
        None | Some(Value::Null) => {}
        Some(Value::String(detail)) if ["auto", "low", "high"].contains(&detail.as_str()) => {}
        Some(_) => {
            return Err(bad(format!(
                "invalid request: {at}.image_url.detail must be one of auto, low, high"
            )))
        }
    }
    tools::check_image_url(url).map_err(|problem| match problem {
        BadImage::MediaType(media_type) => bad(format!(
            "invalid request: {at}.image_url.url: unsupported image type '{media_type}'; \
             supported types are image/jpeg, image/png, image/gif and image/webp"
        )),
        BadImage::NotAUrl | BadImage::NotBase64 => bad(format!(
            "invalid request: {at}.image_url.url must be an http(s) URL or a base64 data URL \
             (data:image/<type>;base64,<data>)"
        )),
    })
}

/// A tool result's `{type: document, document: {data, id?}}`: its data if a string, else the
/// data (or the whole document) as compact JSON.
fn document_text(at: &str, block: &Value) -> Result<String, Rejection> {
    match block.get("document") {
        Some(Value::String(text)) => Ok(text.clone()),
        Some(document @ Value::Object(fields)) => Ok(match fields.get("data") {
            Some(Value::String(data)) => data.clone(),
            Some(data) => data.to_string(),
            None => document.to_string(),
        }),
        _ => Err(bad(format!("invalid request: {at}.document is required"))),
    }
}

/// An assistant message's `tool_calls`: `[{id, type: function, function: {name, arguments}}]`;
/// their ids.
fn check_tool_calls(at: &str, calls: &Value) -> Result<Vec<String>, Rejection> {
    let Value::Array(calls) = calls else {
        return Err(bad(format!("invalid request: {at} must be a list")));
    };
    let mut ids = Vec::new();
    for (k, call) in calls.iter().enumerate() {
        let at = format!("{at}[{k}]");
        let string = |value: Option<&Value>, field: &str| match value {
            Some(Value::String(value)) => Ok(value.clone()),
            _ => Err(bad(format!(
                "invalid request: {at}.{field} is required and must be a string"
            ))),
        };
        let id = string(call.get("id"), "id")?;
        match call.get("type") {
            None | Some(Value::Null) => {}
            Some(Value::String(kind)) if kind == "function" => {}
            Some(_) => return Err(bad(format!("invalid request: {at}.type must be function"))),
        }
        let function = call.get("function");
        string(function.and_then(|f| f.get("name")), "function.name")?;
        string(
            function.and_then(|f| f.get("arguments")),
            "function.arguments",
        )?;
        ids.push(id);
    }
    Ok(ids)
}

/// `tools`: `[{type: function, function: {name, description?, parameters?}}]`; an empty list is
/// no tools.
fn tools(value: Option<&Value>) -> Result<Option<Vec<Tool>>, Rejection> {
    let list = match value {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(list)) => list,
        Some(_) => return Err(bad("invalid request: tools must be a list")),
    };
    let mut tools = Vec::new();
    for (i, tool) in list.iter().enumerate() {
        let at = format!("tools[{i}]");
        match tool.get("type") {
            None | Some(Value::Null) => {}
            Some(Value::String(kind)) if kind == "function" => {}
            Some(_) => return Err(bad(format!("invalid request: {at}.type must be function"))),
        }
        let Some(Value::Object(function)) = tool.get("function") else {
            return Err(bad(format!(
                "invalid request: {at}.function is required and must be an object"
            )));
        };
        let name = match function.get("name") {
            Some(Value::String(name)) if tools::valid_name(name) => name.clone(),
            Some(Value::String(name)) => {
                return Err(bad(format!(
                    "invalid request: {at}.function.name '{name}' must match \
                     ^[a-zA-Z0-9_-]{{1,64}}$"
                )))
            }
            _ => {
                return Err(bad(format!(
                    "invalid request: {at}.function.name is required"
                )))
            }
        };
        match function.get("description") {
            None | Some(Value::Null | Value::String(_)) => {}
            Some(_) => {
                return Err(bad(format!(
                    "invalid request: {at}.function.description must be a string"
                )))
            }
        }
        let schema = match function.get("parameters") {
            None | Some(Value::Null) => json!({}),
            Some(schema @ Value::Object(_)) => schema.clone(),
            Some(_) => {
                return Err(bad(format!(
                    "invalid request: {at}.function.parameters must be an object"
                )))
            }
        };
        tools.push(Tool { name, schema });
    }
    Ok((!tools.is_empty()).then_some(tools))
}

/// `response_format`: `{type: text}` or `{type: json_object, json_schema?}` (v1's `schema`
/// spelling, which the v2 guides still show, is taken too).
fn response_format(value: Option<&Value>) -> Result<Format, Rejection> {
    let format = match value {
        None | Some(Value::Null) => return Ok(Format::Text),
        Some(Value::Object(format)) => format,
        Some(_) => return Err(bad("invalid request: response_format must be an object")),
    };
    let schema = match format.get("json_schema").or_else(|| format.get("schema")) {
        None | Some(Value::Null) => None,
        Some(schema @ Value::Object(_)) => Some(schema.clone()),
        Some(_) => {
            return Err(bad(
                "invalid request: response_format.json_schema must be an object",
            ))
        }
    };
    match format.get("type").and_then(Value::as_str) {
        Some("text") if schema.is_some() => Err(bad(
            "invalid request: response_format.json_schema must not be specified when type is \
             text",
        )),
        Some("text") => Ok(Format::Text),
        Some("json_object") => Ok(schema.map_or(Format::JsonObject, Format::JsonSchema)),
        _ => Err(bad(
            "invalid request: response_format.type must be one of text, json_object",
        )),
    }
}

/// `I will call <tool names, comma-separated>.`
fn tool_plan(calls: &[Call]) -> String {
    let names: Vec<&str> = calls.iter().map(|call| call.name.as_str()).collect();
    format!("I will call {}.", names.join(", "))
}

/// The answer's calls in the `tool_calls` shape, ids `<tool name>_0`, `<tool name>_1`, … by
/// position in the answer.
fn tool_calls(calls: &[Call]) -> Vec<Value> {
    calls
        .iter()
        .enumerate()
        .map(|(n, call)| {
            json!({
                "id": format!("{}_{n}", call.name),
                "type": "function",
                "function": { "name": call.name, "arguments": call.arguments },
            })
        })
        .collect()
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
        Finish::ToolCalls => "TOOL_CALL",
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
