//! The Anthropic Messages API: header and body validation, answers, event streams, errors and the
//! model list.

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
use super::tools::{self, Call, Tool, ToolChoice, Tools, Turn};
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
        let messages = messages
            .iter()
            .enumerate()
            .map(|(i, message)| check_message(i, message))
            .collect::<Result<Vec<_>, _>>()?;
        let offered = tools(fields.get("tools"))?;
        let (choice, parallel) = tool_choice(fields.get("tool_choice"), offered.as_deref())?;
        check_tool_sequence(&messages, offered.is_some())?;
        for message in &messages {
            if message.images + message.result_images > 0 && fault::text_only(&model) {
                return Err(bad(format!(
                    "messages.{}.content: {model} does not support image input.",
                    message.index
                )));
            }
            if message.role == "user" {
                prompt.last_user.clone_from(&message.text);
                prompt.images = message.images;
            }
            prompt.texts.push(message.text.clone());
            prompt.texts.extend(message.uses_json.clone());
            prompt
                .texts
                .extend(message.results.iter().map(|result| result.text.clone()));
        }
        prompt.turn = match messages.last() {
            Some(last) if last.role == "user" && !last.results.is_empty() => Turn::ToolResults(
                last.results
                    .iter()
                    .map(|result| result.text.clone())
                    .collect(),
            ),
            Some(last) if last.role == "user" => Turn::User,
            _ => Turn::Other,
        };
        if let Some(list) = offered {
            prompt
                .texts
                .extend(fields.get("tools").map(Value::to_string));
            prompt.tools = Some(Tools {
                list,
                choice,
                parallel,
            });
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
        let content = if !answer.calls.is_empty() {
            Value::Array(tool_uses(&answer.calls))
        } else if answer.text.is_empty() {
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
        // Each content block: its start and its deltas. Text streams `text_delta`s; a tool call
        // starts with an empty `input` and streams its JSON as `input_json_delta`s. A refusal
        // carries no content block at all.
        let blocks: Vec<(Value, Vec<Value>)> = if !answer.calls.is_empty() {
            tool_uses(&answer.calls)
                .into_iter()
                .zip(&answer.calls)
                .map(|(mut block, call)| {
                    block["input"] = json!({});
                    let deltas = tools::fragments(&call.arguments)
                        .into_iter()
                        .map(|part| json!({ "type": "input_json_delta", "partial_json": part }))
                        .collect();
                    (block, deltas)
                })
                .collect()
        } else if answer.finish == Finish::Filter {
            Vec::new()
        } else {
            let deltas = text::pieces(&answer.text)
                .into_iter()
                .map(|piece| json!({ "type": "text_delta", "text": piece }))
                .collect();
            vec![(json!({ "type": "text", "text": "" }), deltas)]
        };
        if blocks.is_empty() {
            frames.push(ping.clone());
        }
        for (index, (block, deltas)) in blocks.into_iter().enumerate() {
            frames.push(wire::event(
                "content_block_start",
                &json!({ "type": "content_block_start", "index": index, "content_block": block }),
            ));
            if index == 0 {
                frames.push(ping.clone());
            }
            let delta = |delta: Value| {
                wire::event(
                    "content_block_delta",
                    &json!({ "type": "content_block_delta", "index": index, "delta": delta }),
                )
            };
            if ending == Ending::MidstreamError {
                frames.extend(deltas.into_iter().take(2).map(delta));
                frames.push(overloaded());
                return (frames, End::Clean);
            }
            frames.extend(deltas.into_iter().map(delta));
            frames.push(wire::event(
                "content_block_stop",
                &json!({ "type": "content_block_stop", "index": index }),
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

/// One validated message, in the terms the answer needs.
struct Message {
    index: usize,
    role: String,
    /// Its text: the string, or its text blocks joined by newlines.
    text: String,
    /// Its image blocks.
    images: usize,
    /// Images inside its tool results.
    result_images: usize,
    /// An assistant message's `tool_use` ids.
    use_ids: Vec<String>,
    /// An assistant message's `tool_use` blocks, compact JSON, for the input token count.
    uses_json: Option<String>,
    /// A user message's `tool_result` blocks, in order.
    results: Vec<ToolResult>,
    /// How many blocks of a user message are `tool_result`s before any other block.
    leading_results: usize,
}

struct ToolResult {
    /// Its block's index in the message.
    block: usize,
    tool_use_id: String,
    /// Its content: the string, or its text blocks joined by newlines.
    text: String,
}

fn check_message(i: usize, message: &Value) -> Result<Message, Rejection> {
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
    let mut checked = Message {
        index: i,
        role: role.to_owned(),
        text: text::content_text(content),
        images: 0,
        result_images: 0,
        use_ids: Vec::new(),
        uses_json: None,
        results: Vec::new(),
        leading_results: 0,
    };
    match content {
        None => return Err(bad(format!("messages.{i}.content: Field required"))),
        Some(Value::String(_)) => {}
        Some(Value::Array(blocks)) => {
            let mut uses = Vec::new();
            let mut leading = true;
            for (j, block) in blocks.iter().enumerate() {
                let at = format!("messages.{i}.content.{j}");
                let kind = check_block(&at, block)?;
                leading &= kind == "tool_result";
                match kind {
                    "image" => checked.images += 1,
                    "tool_use" if role != "assistant" => {
                        return Err(bad(format!(
                            "{at}: `tool_use` blocks can only be in `assistant` messages"
                        )))
                    }
                    "tool_use" => {
                        checked.use_ids.push(check_tool_use(&at, block)?);
                        uses.push(block.clone());
                    }
                    "tool_result" if role != "user" => {
                        return Err(bad(format!(
                            "{at}: `tool_result` blocks can only be in `user` messages"
                        )))
                    }
                    "tool_result" => {
                        let (result, images) = check_tool_result(&at, j, block)?;
                        checked.results.push(result);
                        checked.result_images += images;
                        if leading {
                            checked.leading_results += 1;
                        }
                    }
                    _ => {}
                }
            }
            if !uses.is_empty() {
                checked.uses_json = Some(Value::Array(uses).to_string());
            }
        }
        Some(_) => {
            return Err(bad(format!(
                "messages.{i}.content: Input should be a valid string or a list of content \
                 blocks"
            )))
        }
    }
    Ok(checked)
}

/// The block's type, once the block is valid.
fn check_block<'a>(at: &str, block: &'a Value) -> Result<&'a str, Rejection> {
    let Value::Object(fields) = block else {
        return Err(bad(format!("{at}: Input should be a valid dictionary")));
    };
    match fields.get("type") {
        Some(Value::String(kind)) if BLOCK_TYPES.contains(&kind.as_str()) => {
            if kind == "text" && !fields.get("text").is_some_and(Value::is_string) {
                return Err(bad(format!("{at}.text: Field required")));
            }
            if kind == "image" {
                check_image(at, fields)?;
            }
            Ok(kind)
        }
        Some(Value::String(kind)) => Err(bad(format!(
            "{at}: Input tag '{kind}' found using 'type' does not match any of the expected tags"
        ))),
        _ => Err(bad(format!("{at}.type: Field required"))),
    }
}

/// `{type: image, source: {type: base64, media_type, data} | {type: url, url}}`.
fn check_image(at: &str, block: &Map<String, Value>) -> Result<(), Rejection> {
    let at = format!("{at}.image.source");
    let source = match block.get("source") {
        None => return Err(bad(format!("{at}: Field required"))),
        Some(Value::Object(source)) => source,
        Some(_) => return Err(bad(format!("{at}: Input should be a valid dictionary"))),
    };
    match source.get("type").and_then(Value::as_str) {
        Some("base64") => {
            match source.get("media_type") {
                None => return Err(bad(format!("{at}.base64.media_type: Field required"))),
                Some(Value::String(media_type))
                    if tools::IMAGE_TYPES.contains(&media_type.as_str()) => {}
                Some(_) => {
                    return Err(bad(format!(
                        "{at}.base64.media_type: Input should be 'image/jpeg', 'image/png', \
                         'image/gif' or 'image/webp'"
                    )))
                }
            }
            match source.get("data") {
                None => Err(bad(format!("{at}.base64.data: Field required"))),
                Some(Value::String(data)) if tools::is_base64(data) => Ok(()),
                Some(Value::String(_)) => Err(bad(format!(
                    "{at}.base64.data: The image data is not valid base64"
                ))),
                Some(_) => Err(bad(format!(
                    "{at}.base64.data: Input should be a valid string"
                ))),
            }
        }
        Some("url") => match source.get("url") {
            None => Err(bad(format!("{at}.url.url: Field required"))),
            Some(Value::String(url))
                if url.starts_with("https://") || url.starts_with("http://") =>
            {
                Ok(())
            }
            Some(_) => Err(bad(format!("{at}.url.url: Input should be a valid URL"))),
        },
        Some(kind) => Err(bad(format!(
            "{at}: Input tag '{kind}' found using 'type' does not match any of the expected \
             tags: 'base64', 'url'"
        ))),
        None => Err(bad(format!(
            "{at}: Unable to extract tag using discriminator 'type'"
        ))),
    }
}

/// `{type: tool_use, id, name, input}`; its id.
fn check_tool_use(at: &str, block: &Value) -> Result<String, Rejection> {
    let at = format!("{at}.tool_use");
    let string = |field: &str| match block.get(field) {
        None => Err(bad(format!("{at}.{field}: Field required"))),
        Some(Value::String(value)) => Ok(value.clone()),
        Some(_) => Err(bad(format!("{at}.{field}: Input should be a valid string"))),
    };
    let id = string("id")?;
    string("name")?;
    match block.get("input") {
        None => Err(bad(format!("{at}.input: Field required"))),
        Some(Value::Object(_)) => Ok(id),
        Some(_) => Err(bad(format!(
            "{at}.input: Input should be a valid dictionary"
        ))),
    }
}

/// `{type: tool_result, tool_use_id, content?: string | [text | image blocks], is_error?}`; the
/// result and the images in it.
fn check_tool_result(at: &str, j: usize, block: &Value) -> Result<(ToolResult, usize), Rejection> {
    let at = format!("{at}.tool_result");
    let tool_use_id = match block.get("tool_use_id") {
        None => return Err(bad(format!("{at}.tool_use_id: Field required"))),
        Some(Value::String(id)) => id.clone(),
        Some(_) => {
            return Err(bad(format!(
                "{at}.tool_use_id: Input should be a valid string"
            )))
        }
    };
    match block.get("is_error") {
        None | Some(Value::Null | Value::Bool(_)) => {}
        Some(_) => {
            return Err(bad(format!(
                "{at}.is_error: Input should be a valid boolean"
            )))
        }
    }
    let content = block.get("content");
    let mut images = 0;
    match content {
        None | Some(Value::Null | Value::String(_)) => {}
        Some(Value::Array(blocks)) => {
            for (k, inner) in blocks.iter().enumerate() {
                let at = format!("{at}.content.{k}");
                match check_block(&at, inner)? {
                    "text" | "search_result" | "document" => {}
                    "image" => images += 1,
                    kind => {
                        return Err(bad(format!(
                            "{at}: Input tag '{kind}' found using 'type' does not match any of \
                             the expected tags: 'text', 'image', 'search_result', 'document'"
                        )))
                    }
                }
            }
        }
        Some(_) => {
            return Err(bad(format!(
                "{at}.content: Input should be a valid string or a list of content blocks"
            )))
        }
    }
    let result = ToolResult {
        block: j,
        tool_use_id,
        text: text::content_text(content),
    };
    Ok((result, images))
}

/// Tool blocks need tools; a user message after `tool_use`s starts with a `tool_result` for each
/// of them; every `tool_result` answers a `tool_use` of the message right before.
fn check_tool_sequence(messages: &[Message], has_tools: bool) -> Result<(), Rejection> {
    let uses_tools = messages
        .iter()
        .any(|message| !message.use_ids.is_empty() || !message.results.is_empty());
    if uses_tools && !has_tools {
        return Err(bad(
            "Requests which include `tool_use` or `tool_result` blocks must define tools.",
        ));
    }
    for (i, message) in messages.iter().enumerate() {
        let previous: &[String] = match i.checked_sub(1).map(|p| &messages[p]) {
            Some(previous) if previous.role == "assistant" => &previous.use_ids,
            _ => &[],
        };
        if let Some(result) = message
            .results
            .iter()
            .find(|result| !previous.contains(&result.tool_use_id))
        {
            return Err(bad(format!(
                "messages.{i}.content.{}: unexpected `tool_use_id` found in `tool_result` \
                 blocks: {}. Each `tool_result` block must have a corresponding `tool_use` \
                 block in the previous message.",
                result.block, result.tool_use_id
            )));
        }
    }
    for (i, message) in messages.iter().enumerate() {
        if message.use_ids.is_empty() {
            continue;
        }
        let Some(next) = messages.get(i + 1) else {
            continue;
        };
        let unanswered: Vec<&str> = message
            .use_ids
            .iter()
            .filter(|id| !next.results.iter().any(|result| result.tool_use_id == **id))
            .map(String::as_str)
            .collect();
        if !unanswered.is_empty() {
            return Err(bad(format!(
                "messages.{i}: `tool_use` ids were found without `tool_result` blocks \
                 immediately after: {}. Each `tool_use` block must have a corresponding \
                 `tool_result` block in the next message.",
                unanswered.join(", ")
            )));
        }
        if next.leading_results < message.use_ids.len() {
            return Err(bad(format!(
                "messages.{}: Did not find {} tool_result block(s) at the beginning of this \
                 message. Messages following tool_use blocks must begin with a matching number \
                 of tool_result blocks.",
                i + 1,
                message.use_ids.len()
            )));
        }
    }
    Ok(())
}

/// `tools`: custom tools `{name, description?, input_schema: {type: object, …}}` with unique
/// names; an empty list is no tools.
fn tools(value: Option<&Value>) -> Result<Option<Vec<Tool>>, Rejection> {
    let list = match value {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(list)) => list,
        Some(_) => return Err(bad("tools: Input should be a valid list")),
    };
    let mut tools: Vec<Tool> = Vec::new();
    for (i, tool) in list.iter().enumerate() {
        let Value::Object(tool) = tool else {
            return Err(bad(format!(
                "tools.{i}: Input should be a valid dictionary"
            )));
        };
        match tool.get("type") {
            None | Some(Value::Null) => {}
            Some(Value::String(kind)) if kind == "custom" => {}
            Some(Value::String(kind)) => {
                return Err(bad(format!(
                    "tools.{i}: Input tag '{kind}' found using 'type' does not match any of the \
                     expected tags (aig-mock-providers takes custom tools only)"
                )))
            }
            Some(_) => {
                return Err(bad(format!(
                    "tools.{i}.type: Input should be a valid string"
                )))
            }
        }
        let at = format!("tools.{i}.custom");
        let name = match tool.get("name") {
            None => return Err(bad(format!("{at}.name: Field required"))),
            Some(Value::String(name)) if tools::valid_name(name) => name.clone(),
            Some(Value::String(_)) => {
                return Err(bad(format!(
                    "{at}.name: String should match pattern '^[a-zA-Z0-9_-]{{1,64}}$'"
                )))
            }
            Some(_) => return Err(bad(format!("{at}.name: Input should be a valid string"))),
        };
        match tool.get("description") {
            None | Some(Value::Null | Value::String(_)) => {}
            Some(_) => {
                return Err(bad(format!(
                    "{at}.description: Input should be a valid string"
                )))
            }
        }
        let schema = match tool.get("input_schema") {
            None => return Err(bad(format!("{at}.input_schema: Field required"))),
            Some(schema @ Value::Object(fields)) => {
                if fields.get("type").and_then(Value::as_str) != Some("object") {
                    return Err(bad(format!(
                        "{at}.input_schema.type: Input should be 'object'"
                    )));
                }
                schema.clone()
            }
            Some(_) => {
                return Err(bad(format!(
                    "{at}.input_schema: Input should be a valid dictionary"
                )))
            }
        };
        if tools.iter().any(|tool| tool.name == name) {
            return Err(bad("tools: Tool names must be unique."));
        }
        tools.push(Tool { name, schema });
    }
    Ok((!tools.is_empty()).then_some(tools))
}

/// `tool_choice`: `{type: auto|any|none}` or `{type: tool, name}`, with
/// `disable_parallel_tool_use` on all but none; only with tools. The choice, and whether calls
/// may be parallel.
fn tool_choice(
    value: Option<&Value>,
    offered: Option<&[Tool]>,
) -> Result<(ToolChoice, bool), Rejection> {
    let choice =
        match value {
            None | Some(Value::Null) => return Ok((ToolChoice::Auto, true)),
            Some(Value::Object(choice)) => choice,
            Some(_) => return Err(bad(
                "tool_choice: Input should be a valid dictionary or object to extract fields from",
            )),
        };
    let kind = match choice.get("type") {
        Some(Value::String(kind)) => kind.as_str(),
        _ => {
            return Err(bad(
                "tool_choice: Unable to extract tag using discriminator 'type'",
            ))
        }
    };
    let picked = match kind {
        "auto" => ToolChoice::Auto,
        "any" => ToolChoice::Required,
        "none" => ToolChoice::None,
        "tool" => match choice.get("name") {
            None => return Err(bad("tool_choice.tool.name: Field required")),
            Some(Value::String(name)) => ToolChoice::Named(name.clone()),
            Some(_) => return Err(bad("tool_choice.tool.name: Input should be a valid string")),
        },
        other => {
            return Err(bad(format!(
                "tool_choice: Input tag '{other}' found using 'type' does not match any of the \
                 expected tags: 'auto', 'any', 'tool', 'none'"
            )))
        }
    };
    let parallel = match choice.get("disable_parallel_tool_use") {
        None => true,
        Some(_) if kind == "none" => {
            return Err(bad(
                "tool_choice.none.disable_parallel_tool_use: Extra inputs are not permitted",
            ))
        }
        Some(Value::Bool(disable)) => !disable,
        Some(_) => {
            return Err(bad(format!(
                "tool_choice.{kind}.disable_parallel_tool_use: Input should be a valid boolean"
            )))
        }
    };
    let Some(offered) = offered else {
        return Err(bad(
            "tool_choice: tool_choice may only be specified while providing tools.",
        ));
    };
    if let ToolChoice::Named(name) = &picked {
        if !offered.iter().any(|tool| tool.name == *name) {
            return Err(bad(format!(
                "tool_choice.tool.name: Tool '{name}' not found in the provided tools."
            )));
        }
    }
    Ok((picked, parallel))
}

/// The answer's calls as `tool_use` blocks, ids `toolu_0`, `toolu_1`, ….
fn tool_uses(calls: &[Call]) -> Vec<Value> {
    calls
        .iter()
        .enumerate()
        .map(|(n, call)| {
            let input: Value =
                serde_json::from_str(&call.arguments).unwrap_or_else(|_| json!({}));
            json!({ "type": "tool_use", "id": format!("toolu_{n}"), "name": call.name, "input": input })
        })
        .collect()
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
        Finish::ToolCalls => "tool_use",
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
