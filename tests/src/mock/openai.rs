//! OpenAI chat completions, as spoken by OpenAI and the OpenAI-compatible providers: validation,
//! answers, chunk streams, errors and the model list.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{json, Map, Value};

use super::chat::{self, kind, unix_now, Chat, Dialect, Ending, Rejection};
use super::fault;
use super::models;
use super::state::MockState;
use super::text::{self, Answer, Finish, Prompt};
use super::tools::{self, BadImage, Call, Format, Tool, ToolChoice, Tools, Turn};
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

        let messages = messages
            .iter()
            .enumerate()
            .map(|(i, message)| check_message(i, message))
            .collect::<Result<Vec<_>, _>>()?;
        check_tool_sequence(&messages)?;
        let mut prompt = Prompt::default();
        for message in &messages {
            if message.images > 0 && fault::text_only(&model) {
                return Err(bad(
                    format!(
                        "Invalid content type. image_url is only supported by certain models: \
                         {model} does not support image input."
                    ),
                    Some(&format!("messages[{}].content", message.index)),
                    Some("invalid_value"),
                ));
            }
            if message.role == "user" {
                prompt.last_user.clone_from(&message.text);
                prompt.images = message.images;
            }
            prompt.texts.push(message.text.clone());
            prompt.texts.extend(message.calls_json.clone());
        }
        prompt.turn = last_turn(&messages);
        let offered = tools(fields)?;
        let choice = tool_choice(fields.get("tool_choice"), offered.as_deref())?;
        let parallel = match fields.get("parallel_tool_calls") {
            None | Some(Value::Null) => true,
            Some(Value::Bool(_)) if offered.is_none() => {
                return Err(bad(
                    "Invalid value for 'parallel_tool_calls': 'parallel_tool_calls' is only \
                     allowed when 'tools' are specified.",
                    Some("parallel_tool_calls"),
                    None,
                ))
            }
            Some(Value::Bool(parallel)) => *parallel,
            Some(other) => return Err(type_error("parallel_tool_calls", "a boolean", other)),
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
        prompt.format = response_format(fields.get("response_format"), &messages)?;
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
        let message = if answer.calls.is_empty() {
            json!({
                "role": "assistant",
                "content": answer.text,
                "refusal": null,
                "annotations": [],
            })
        } else {
            json!({
                "role": "assistant",
                "content": null,
                "refusal": null,
                "annotations": [],
                "tool_calls": tool_calls(&answer.calls),
            })
        };
        json!({
            "id": completion_id(),
            "object": "chat.completion",
            "created": unix_now(),
            "model": chat.model,
            "choices": [{
                "index": 0,
                "message": message,
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

        // A tool-calling answer starts with `content: null`, then streams each call: its id and
        // name with empty arguments, then the arguments in fragments.
        let first_content = if answer.calls.is_empty() {
            json!("")
        } else {
            Value::Null
        };
        let mut frames = vec![chunk(
            choice(
                json!({ "role": "assistant", "content": first_content, "refusal": null }),
                None,
            ),
            None,
        )];
        let content_frames: Vec<String> = if answer.calls.is_empty() {
            text::pieces(&answer.text).iter().map(content).collect()
        } else {
            let mut call_frames = Vec::new();
            for (index, call) in tool_calls(&answer.calls).iter().enumerate() {
                let mut start = call.clone();
                start["index"] = json!(index);
                start["function"]["arguments"] = json!("");
                call_frames.push(chunk(choice(json!({ "tool_calls": [start] }), None), None));
                let arguments = call["function"]["arguments"].as_str().unwrap_or_default();
                for fragment in tools::fragments(arguments) {
                    let delta = json!({ "tool_calls": [{
                        "index": index,
                        "function": { "arguments": fragment },
                    }] });
                    call_frames.push(chunk(choice(delta, None), None));
                }
            }
            call_frames
        };
        let in_band_error = || {
            wire::data(&error_body(
                "The server had an error while processing your request. Sorry about that!",
                "server_error",
                None,
                None,
            ))
        };
        match ending {
            Ending::Finished => {}
            Ending::Stall => return (frames, End::Stall),
            Ending::EarlyError => {
                frames.push(in_band_error());
                return (frames, End::Clean);
            }
            Ending::MidstreamError => {
                frames.extend(content_frames.into_iter().take(2));
                frames.push(in_band_error());
                return (frames, End::Clean);
            }
        }
        frames.extend(content_frames);
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

/// One validated message, in the terms the answer needs.
struct Message {
    index: usize,
    role: String,
    /// Its text parts (a tool message: its result).
    text: String,
    /// Its `image_url` parts.
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
    let mut images = 0;
    match content {
        // An assistant turn that only calls tools has no content.
        None | Some(Value::Null) if role == "assistant" => {}
        None | Some(Value::Null) => return Err(missing(&format!("{at}.content"))),
        Some(Value::String(_)) => {}
        Some(Value::Array(parts)) => {
            for (j, part) in parts.iter().enumerate() {
                if check_part(&format!("{at}.content[{j}]"), part, part_types)? == "image_url" {
                    images += 1;
                }
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
    let (call_ids, calls_json) = match message.get("tool_calls") {
        None | Some(Value::Null) => (Vec::new(), None),
        Some(_) if role != "assistant" => {
            return Err(bad(
                format!(
                    "Invalid parameter: only messages with role 'assistant' can have \
                     'tool_calls', but {at} has role '{role}'."
                ),
                Some(&format!("{at}.tool_calls")),
                None,
            ))
        }
        Some(calls) => (
            check_tool_calls(&format!("{at}.tool_calls"), calls)?,
            Some(calls.to_string()),
        ),
    };
    let tool_call_id = if role == "tool" {
        match message.get("tool_call_id") {
            Some(Value::String(id)) => Some(id.clone()),
            _ => {
                return Err(bad(
                    "Missing parameter 'tool_call_id': messages with role 'tool' must have a \
                     'tool_call_id'.",
                    Some(&format!("{at}.tool_call_id")),
                    None,
                ))
            }
        }
    } else {
        None
    };
    Ok(Message {
        index: i,
        role: role.to_owned(),
        text: text::content_text(content),
        images,
        call_ids,
        calls_json,
        tool_call_id,
    })
}

/// An assistant message's `tool_calls`; their ids.
fn check_tool_calls(at: &str, calls: &Value) -> Result<Vec<String>, Rejection> {
    let Value::Array(calls) = calls else {
        return Err(type_error(at, "an array", calls));
    };
    if calls.is_empty() {
        return Err(empty_array(at));
    }
    let mut ids = Vec::new();
    for (k, call) in calls.iter().enumerate() {
        let at = format!("{at}[{k}]");
        let Value::Object(call) = call else {
            return Err(type_error(&at, "an object", call));
        };
        let id = required_str(call, &at, "id")?;
        let kind = required_str(call, &at, "type")?;
        if kind != "function" {
            return Err(invalid_value(&format!("{at}.type"), kind, "'function'"));
        }
        let function = required_object(call, &at, "function")?;
        required_str(function, &format!("{at}.function"), "name")?;
        required_str(function, &format!("{at}.function"), "arguments")?;
        ids.push(id.to_owned());
    }
    Ok(ids)
}

/// Every `tool` message answers a call of the assistant message before it (only tool messages
/// between them), and every call of an assistant message is answered before the next message
/// that is not a tool result.
fn check_tool_sequence(messages: &[Message]) -> Result<(), Rejection> {
    let unanswered = |at: usize, pending: &[String]| {
        bad(
            format!(
                "An assistant message with 'tool_calls' must be followed by tool messages \
                 responding to each 'tool_call_id'. The following tool_call_ids did not have \
                 response messages: {}",
                pending.join(", ")
            ),
            Some(&format!("messages.[{at}].role")),
            None,
        )
    };
    // The open assistant message: its index, its call ids, those not answered yet.
    let mut open: Option<(usize, &[String], Vec<String>)> = None;
    for message in messages {
        if message.role == "tool" {
            let id = message.tool_call_id.as_deref().unwrap_or_default();
            let Some((_, ids, pending)) = open.as_mut() else {
                return Err(bad(
                    format!(
                        "Invalid parameter: messages with role 'tool' must be a response to a \
                         preceeding message with 'tool_calls' (no tool call has the id '{id}')."
                    ),
                    Some(&format!("messages.[{}].role", message.index)),
                    None,
                ));
            };
            if !ids.iter().any(|call| call == id) {
                return Err(bad(
                    format!(
                        "Invalid parameter: 'tool_call_id' of '{id}' not found in 'tool_calls' \
                         of previous message."
                    ),
                    Some(&format!("messages.[{}].tool_call_id", message.index)),
                    None,
                ));
            }
            pending.retain(|call| call != id);
            continue;
        }
        if let Some((at, _, pending)) = open.take() {
            if !pending.is_empty() {
                return Err(unanswered(at, &pending));
            }
        }
        if !message.call_ids.is_empty() {
            open = Some((message.index, &message.call_ids, message.call_ids.clone()));
        }
    }
    match open {
        Some((at, _, pending)) if !pending.is_empty() => Err(unanswered(at, &pending)),
        _ => Ok(()),
    }
}

/// A user message last asks for an answer; trailing tool messages are tool results.
fn last_turn(messages: &[Message]) -> Turn {
    match messages.last().map(|message| message.role.as_str()) {
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
    }
}

/// The part's type, once the part is valid for its role.
fn check_part<'a>(at: &str, part: &'a Value, allowed: &[&str]) -> Result<&'a str, Rejection> {
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
    if part_type == "image_url" {
        check_image(at, part)?;
    }
    Ok(part_type)
}

/// `{type: image_url, image_url: {url, detail?}}` with an http(s) URL or a base64 image data URL.
fn check_image(at: &str, part: &Map<String, Value>) -> Result<(), Rejection> {
    let image = required_object(part, at, "image_url")?;
    let at = format!("{at}.image_url");
    let url = required_str(image, &at, "url")?;
    match image.get("detail") {
        None | Some(Value::Null) => {}
        Some(Value::String(detail)) if ["auto", "low", "high"].contains(&detail.as_str()) => {}
        Some(Value::String(detail)) => {
            return Err(invalid_value(
                &format!("{at}.detail"),
                detail,
                "'auto', 'low', and 'high'",
            ))
        }
        Some(other) => return Err(type_error(&format!("{at}.detail"), "a string", other)),
    }
    tools::check_image_url(url).map_err(|problem| match problem {
        BadImage::MediaType(media_type) => bad(
            format!(
                "Invalid MIME type '{media_type}' in '{at}.url'. You uploaded an unsupported \
                 image. Please make sure your image has of one the following formats: ['png', \
                 'jpeg', 'gif', 'webp']."
            ),
            Some(&format!("{at}.url")),
            Some("invalid_image_format"),
        ),
        BadImage::NotAUrl | BadImage::NotBase64 => bad(
            format!(
                "Invalid '{at}.url'. Expected a valid URL or a base64-encoded data URL with an \
                 image MIME type (e.g. 'data:image/png;base64,aW1nIGJ5dGVzIGhlcmU='), but got a \
                 value with an invalid format."
            ),
            Some(&format!("{at}.url")),
            Some("invalid_value"),
        ),
    })
}

/// `tools`: absent, or a non-empty array of `{type: function, function: {name, description?,
/// parameters?, strict?}}`.
fn tools(fields: &Map<String, Value>) -> Result<Option<Vec<Tool>>, Rejection> {
    let list = match fields.get("tools") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(list)) => list,
        Some(other) => return Err(type_error("tools", "an array", other)),
    };
    if list.is_empty() {
        return Err(empty_array("tools"));
    }
    let mut tools = Vec::new();
    for (i, tool) in list.iter().enumerate() {
        let at = format!("tools[{i}]");
        let Value::Object(tool) = tool else {
            return Err(type_error(&at, "an object", tool));
        };
        let kind = required_str(tool, &at, "type")?;
        if kind != "function" {
            return Err(invalid_value(&format!("{at}.type"), kind, "'function'"));
        }
        let function = required_object(tool, &at, "function")?;
        let at = format!("{at}.function");
        let name = required_str(function, &at, "name")?;
        if !tools::valid_name(name) {
            return Err(bad(
                format!(
                    "Invalid '{at}.name': string does not match pattern. Expected a string that \
                     matches the pattern '^[a-zA-Z0-9_-]{{1,64}}$'."
                ),
                Some(&format!("{at}.name")),
                Some("invalid_value"),
            ));
        }
        match function.get("description") {
            None | Some(Value::Null | Value::String(_)) => {}
            Some(other) => return Err(type_error(&format!("{at}.description"), "a string", other)),
        }
        match function.get("strict") {
            None | Some(Value::Null | Value::Bool(_)) => {}
            Some(other) => return Err(type_error(&format!("{at}.strict"), "a boolean", other)),
        }
        let schema = match function.get("parameters") {
            None | Some(Value::Null) => json!({}),
            Some(schema @ Value::Object(_)) => schema.clone(),
            Some(other) => return Err(type_error(&format!("{at}.parameters"), "an object", other)),
        };
        tools.push(Tool {
            name: name.to_owned(),
            schema,
        });
    }
    Ok(Some(tools))
}

/// `tool_choice`: "auto", "none", "required" or `{type: function, function: {name}}` naming one
/// of the tools; only with tools.
fn tool_choice(value: Option<&Value>, offered: Option<&[Tool]>) -> Result<ToolChoice, Rejection> {
    let choice = match value {
        None | Some(Value::Null) => return Ok(ToolChoice::Auto),
        Some(Value::String(choice)) => match choice.as_str() {
            "auto" => ToolChoice::Auto,
            "none" => ToolChoice::None,
            "required" => ToolChoice::Required,
            other => {
                return Err(invalid_value(
                    "tool_choice",
                    other,
                    "'none', 'auto', and 'required'",
                ))
            }
        },
        Some(Value::Object(choice)) => {
            let kind = required_str(choice, "tool_choice", "type")?;
            if kind != "function" {
                return Err(invalid_value("tool_choice.type", kind, "'function'"));
            }
            let function = required_object(choice, "tool_choice", "function")?;
            ToolChoice::Named(required_str(function, "tool_choice.function", "name")?.to_owned())
        }
        Some(other) => return Err(type_error("tool_choice", "a string or object", other)),
    };
    let Some(offered) = offered else {
        return Err(bad(
            "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are \
             specified.",
            Some("tool_choice"),
            None,
        ));
    };
    if let ToolChoice::Named(name) = &choice {
        if !offered.iter().any(|tool| tool.name == *name) {
            return Err(bad(
                format!(
                    "Invalid value for 'tool_choice': no function named '{name}' was specified \
                     in the 'tools' parameter."
                ),
                Some("tool_choice.function.name"),
                Some("invalid_value"),
            ));
        }
    }
    Ok(choice)
}

/// `response_format`: `{type: text}`, `{type: json_object}` (the messages must say "json"), or
/// `{type: json_schema, json_schema: {name, schema?, strict?, description?}}`.
fn response_format(value: Option<&Value>, messages: &[Message]) -> Result<Format, Rejection> {
    let format = match value {
        None | Some(Value::Null) => return Ok(Format::Text),
        Some(Value::Object(format)) => format,
        Some(other) => return Err(type_error("response_format", "an object", other)),
    };
    match required_str(format, "response_format", "type")? {
        "text" => Ok(Format::Text),
        "json_object" => {
            let says_json = messages
                .iter()
                .any(|message| message.text.to_lowercase().contains("json"));
            if says_json {
                Ok(Format::JsonObject)
            } else {
                Err(bad(
                    "'messages' must contain the word 'json' in some form, to use \
                     'response_format' of type 'json_object'.",
                    Some("messages"),
                    None,
                ))
            }
        }
        "json_schema" => {
            let at = "response_format.json_schema";
            let spec = required_object(format, "response_format", "json_schema")?;
            let name = required_str(spec, at, "name")?;
            if !tools::valid_name(name) {
                return Err(bad(
                    format!(
                        "Invalid '{at}.name': string does not match pattern. Expected a string \
                         that matches the pattern '^[a-zA-Z0-9_-]{{1,64}}$'."
                    ),
                    Some(&format!("{at}.name")),
                    Some("invalid_value"),
                ));
            }
            match spec.get("strict") {
                None | Some(Value::Null | Value::Bool(_)) => {}
                Some(other) => return Err(type_error(&format!("{at}.strict"), "a boolean", other)),
            }
            match spec.get("schema") {
                None | Some(Value::Null) => Ok(Format::JsonSchema(json!({}))),
                Some(schema @ Value::Object(_)) => Ok(Format::JsonSchema(schema.clone())),
                Some(other) => Err(type_error(&format!("{at}.schema"), "an object", other)),
            }
        }
        other => Err(invalid_value(
            "response_format.type",
            other,
            "'text', 'json_object', and 'json_schema'",
        )),
    }
}

/// The answer's calls in the `tool_calls` shape, ids `call_0`, `call_1`, ….
fn tool_calls(calls: &[Call]) -> Vec<Value> {
    calls
        .iter()
        .enumerate()
        .map(|(n, call)| {
            json!({
                "id": format!("call_{n}"),
                "type": "function",
                "function": { "name": call.name, "arguments": call.arguments },
            })
        })
        .collect()
}

fn required_str<'a>(
    object: &'a Map<String, Value>,
    at: &str,
    field: &str,
) -> Result<&'a str, Rejection> {
    match object.get(field) {
        Some(Value::String(value)) => Ok(value),
        None | Some(Value::Null) => Err(missing(&format!("{at}.{field}"))),
        Some(other) => Err(type_error(&format!("{at}.{field}"), "a string", other)),
    }
}

fn required_object<'a>(
    object: &'a Map<String, Value>,
    at: &str,
    field: &str,
) -> Result<&'a Map<String, Value>, Rejection> {
    match object.get(field) {
        Some(Value::Object(value)) => Ok(value),
        None | Some(Value::Null) => Err(missing(&format!("{at}.{field}"))),
        Some(other) => Err(type_error(&format!("{at}.{field}"), "an object", other)),
    }
}

fn invalid_value(param: &str, got: &str, supported: &str) -> Rejection {
    bad(
        format!("Invalid value: '{got}'. Supported values are: {supported}."),
        Some(param),
        Some("invalid_value"),
    )
}

fn empty_array(param: &str) -> Rejection {
    bad(
        format!(
            "Invalid '{param}': empty array. Expected an array with minimum length 1, but got \
             an empty array instead."
        ),
        Some(param),
        Some("empty_array"),
    )
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
        Finish::ToolCalls => "tool_calls",
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
