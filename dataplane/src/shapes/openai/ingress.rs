//! The OpenAI ingress: callers' `chat.completions` requests in, answers and
//! `chat.completion.chunk` streams out.

use super::{tool_calls_json, usage_json, OutFrame, WireToolCall};
use crate::shapes::stream::{StreamEvent, StreamTally};
use crate::shapes::{
    from_json, ChatRequest, ChatResponse, FinishReason, Image, Ingress, Message, Part, Passthrough,
    ProviderFilter, ResponseFormat, Role, Shape, Tool, ToolChoice,
};
use aig_common::catalog::TokenUsage;
use serde::Deserialize;
use serde_json::{json, Map, Value};

/// Gateway-only fields that must never be forwarded upstream.
const GATEWAY_FIELDS: [&str; 2] = ["models", "provider"];

/// `POST /v1/chat/completions` as callers send it.
#[derive(Debug, Deserialize)]
struct CompletionRequest {
    model: String,
    messages: Vec<WireMessage>,
    /// AIgateway: the explicit chain after `model`.
    #[serde(default)]
    models: Vec<String>,
    /// AIgateway: keep or drop chain entries by provider.
    provider: Option<ProviderFilter>,
    max_tokens: Option<u32>,
    max_completion_tokens: Option<u32>,
    temperature: Option<f64>,
    top_p: Option<f64>,
    stop: Option<Stop>,
    #[serde(default)]
    stream: bool,
    stream_options: Option<StreamOptions>,
    user: Option<String>,
    tools: Option<Vec<WireTool>>,
    tool_choice: Option<Value>,
    parallel_tool_calls: Option<bool>,
    response_format: Option<WireResponseFormat>,
    #[serde(flatten)]
    extra: Map<String, Value>,
}

#[derive(Debug, Deserialize)]
struct StreamOptions {
    #[serde(default)]
    include_usage: bool,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Stop {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Deserialize)]
struct WireMessage {
    role: String,
    #[serde(default)]
    content: Option<Content>,
    tool_calls: Option<Vec<WireToolCall>>,
    tool_call_id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Content {
    Text(String),
    Parts(Vec<WirePart>),
}

#[derive(Debug, Deserialize)]
struct WirePart {
    #[serde(rename = "type")]
    kind: String,
    text: Option<String>,
    image_url: Option<WireImageUrl>,
}

#[derive(Debug, Deserialize)]
struct WireImageUrl {
    url: String,
}

#[derive(Debug, Deserialize)]
struct WireTool {
    #[serde(rename = "type")]
    kind: String,
    function: WireFunction,
}

#[derive(Debug, Deserialize)]
struct WireFunction {
    name: String,
    description: Option<String>,
    parameters: Option<Value>,
    strict: Option<bool>,
}

#[derive(Debug, Deserialize)]
struct WireResponseFormat {
    #[serde(rename = "type")]
    kind: String,
    json_schema: Option<WireJsonSchema>,
}

#[derive(Debug, Deserialize)]
struct WireJsonSchema {
    name: String,
    schema: Option<Value>,
    strict: Option<bool>,
}

fn parts_from_wire(content: Content, at: &str) -> Result<Vec<Part>, String> {
    match content {
        Content::Text(t) => Ok(vec![Part::Text(t)]),
        Content::Parts(parts) => parts
            .into_iter()
            .enumerate()
            .map(|(j, part)| match (part.kind.as_str(), part.text, part.image_url) {
                ("text", Some(t), _) => Ok(Part::Text(t)),
                ("text", None, _) => Err(format!("{at}[{j}].text: is required")),
                ("image_url", _, Some(image)) => Image::from_url(&image.url)
                    .map(Part::Image)
                    .map_err(|e| format!("{at}[{j}].image_url.url: {e}")),
                ("image_url", _, None) => Err(format!("{at}[{j}].image_url: is required")),
                (other, _, _) => Err(format!(
                    "{at}[{j}].type: {other:?} content is not supported; send text or image_url parts"
                )),
            })
            .collect(),
    }
}

fn message_from_wire(i: usize, m: WireMessage) -> Result<Message, String> {
    let at = format!("messages[{i}].content");
    let role = match m.role.as_str() {
        "system" | "developer" => Role::System,
        "user" => Role::User,
        "assistant" => Role::Assistant,
        "tool" => Role::Tool,
        other => {
            return Err(format!(
                "messages[{i}].role: {other:?} is not supported; use system, developer, user, assistant or tool"
            ))
        }
    };
    let tool_calls: Vec<_> = m
        .tool_calls
        .unwrap_or_default()
        .into_iter()
        .map(Into::into)
        .collect();
    let parts = match m.content {
        Some(content) => parts_from_wire(content, &at)?,
        None if role == Role::Assistant && !tool_calls.is_empty() => Vec::new(),
        None => return Err(format!("{at}: is required")),
    };
    if role == Role::Tool && m.tool_call_id.as_deref().is_none_or(str::is_empty) {
        return Err(format!(
            "messages[{i}].tool_call_id: is required for tool messages"
        ));
    }
    if role != Role::User && parts.iter().any(|p| matches!(p, Part::Image(_))) {
        return Err(format!("{at}: images are only allowed in user messages"));
    }
    Ok(Message {
        role,
        parts,
        tool_calls,
        tool_call_id: m.tool_call_id,
        is_error: false,
    })
}

fn tool_choice_from_wire(v: Value) -> Result<ToolChoice, String> {
    match &v {
        Value::String(s) if s == "auto" => Ok(ToolChoice::Auto),
        Value::String(s) if s == "none" => Ok(ToolChoice::None),
        Value::String(s) if s == "required" => Ok(ToolChoice::Required),
        Value::Object(o) => o
            .get("function")
            .and_then(|f| f.get("name"))
            .and_then(Value::as_str)
            .map(|name| ToolChoice::Named(name.to_owned()))
            .ok_or_else(|| "tool_choice: an object must name a function".to_string()),
        _ => Err("tool_choice: use auto, none, required or {\"type\":\"function\",\"function\":{\"name\":…}}".into()),
    }
}

fn response_format_from_wire(w: WireResponseFormat) -> Result<Option<ResponseFormat>, String> {
    match w.kind.as_str() {
        "text" => Ok(None),
        "json_object" => Ok(Some(ResponseFormat::JsonObject)),
        "json_schema" => {
            let js = w
                .json_schema
                .ok_or("response_format.json_schema: is required for type json_schema")?;
            Ok(Some(ResponseFormat::JsonSchema {
                name: js.name,
                schema: js.schema.unwrap_or_else(|| json!({ "type": "object" })),
                strict: js.strict,
            }))
        }
        other => Err(format!(
            "response_format.type: {other:?} is not supported; use text, json_object or json_schema"
        )),
    }
}

/// Parses and validates a caller's body.
pub fn parse_request(body: &[u8]) -> Result<Ingress, String> {
    let wire: CompletionRequest = from_json(body)?;
    if wire.model.trim().is_empty() {
        return Err("model: must not be empty".into());
    }
    if wire.messages.is_empty() {
        return Err("messages: must contain at least one message".into());
    }
    let messages = wire
        .messages
        .into_iter()
        .enumerate()
        .map(|(i, m)| message_from_wire(i, m))
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(t) = wire.temperature {
        if !(0.0..=2.0).contains(&t) {
            return Err("temperature: must be between 0 and 2".into());
        }
    }
    if let Some(p) = wire.top_p {
        if !(0.0..=1.0).contains(&p) {
            return Err("top_p: must be between 0 and 1".into());
        }
    }
    let max_tokens = wire.max_completion_tokens.or(wire.max_tokens);
    if max_tokens == Some(0) {
        return Err("max_tokens: must be at least 1".into());
    }
    let stop = match wire.stop {
        None => Vec::new(),
        Some(Stop::One(s)) => vec![s],
        Some(Stop::Many(v)) => v,
    };
    if stop.len() > 4 || stop.iter().any(String::is_empty) {
        return Err("stop: at most 4 non-empty sequences".into());
    }
    let mut tools = Vec::new();
    for (i, t) in wire.tools.unwrap_or_default().into_iter().enumerate() {
        if t.kind != "function" {
            return Err(format!(
                "tools[{i}].type: only function tools are supported"
            ));
        }
        if t.function.name.is_empty() {
            return Err(format!("tools[{i}].function.name: must not be empty"));
        }
        tools.push(Tool {
            name: t.function.name,
            description: t.function.description,
            parameters: t
                .function
                .parameters
                .unwrap_or_else(|| json!({ "type": "object", "properties": {} })),
            strict: t.function.strict,
        });
    }
    let tool_choice = wire.tool_choice.map(tool_choice_from_wire).transpose()?;
    if let Some(ToolChoice::Named(name)) = &tool_choice {
        if !tools.iter().any(|t| &t.name == name) {
            return Err(format!(
                "tool_choice: names {name:?}, which is not in tools"
            ));
        }
    }
    let response_format = match wire.response_format {
        Some(w) => response_format_from_wire(w)?,
        None => None,
    };
    let mut extra = wire.extra;
    for field in GATEWAY_FIELDS {
        extra.remove(field);
    }
    Ok(Ingress {
        model: wire.model,
        models: wire.models,
        provider: wire.provider.unwrap_or_default(),
        include_usage: wire.stream_options.is_some_and(|o| o.include_usage),
        request: ChatRequest {
            messages,
            max_tokens,
            temperature: wire.temperature,
            top_p: wire.top_p,
            stop,
            stream: wire.stream,
            user: wire.user,
            tools,
            tool_choice,
            parallel_tool_calls: wire.parallel_tool_calls,
            response_format,
            passthrough: (!extra.is_empty()).then_some(Passthrough {
                shape: Shape::OpenAi,
                fields: extra,
            }),
        },
    })
}

pub fn finish_reason(f: &FinishReason) -> &'static str {
    match f {
        FinishReason::Stop | FinishReason::StopSequence(_) => "stop",
        FinishReason::Length => "length",
        FinishReason::ContentFilter => "content_filter",
        FinishReason::ToolCalls => "tool_calls",
    }
}

/// The caller-facing answer: OpenAI's `chat.completion` with `model` set to the winner.
pub fn render_response(resp: &ChatResponse, id: &str, model: &str, created: u64) -> Value {
    let mut message = Map::new();
    message.insert("role".into(), json!("assistant"));
    let content = if resp.text.is_empty() && !resp.tool_calls.is_empty() {
        Value::Null
    } else {
        json!(resp.text)
    };
    message.insert("content".into(), content);
    message.insert("refusal".into(), Value::Null);
    if !resp.tool_calls.is_empty() {
        message.insert("tool_calls".into(), tool_calls_json(&resp.tool_calls));
    }
    json!({
        "id": id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [{
            "index": 0,
            "message": message,
            "logprobs": null,
            "finish_reason": finish_reason(&resp.finish),
        }],
        "usage": usage_json(&resp.usage),
    })
}

/// Renders the canonical stream as OpenAI `chat.completion.chunk` frames.
pub struct StreamRenderer {
    id: String,
    model: String,
    created: u64,
    include_usage: bool,
    started: bool,
    finished: bool,
}

impl StreamRenderer {
    pub fn new(id: String, model: String, created: u64, include_usage: bool) -> Self {
        Self {
            id,
            model,
            created,
            include_usage,
            started: false,
            finished: false,
        }
    }

    fn chunk(&self, delta: Value, finish_reason: Option<&str>) -> OutFrame {
        OutFrame::data(&json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{ "index": 0, "delta": delta, "logprobs": null, "finish_reason": finish_reason }],
        }))
    }

    fn start(&mut self, out: &mut Vec<OutFrame>) {
        if !self.started {
            self.started = true;
            out.push(self.chunk(json!({ "role": "assistant", "content": "" }), None));
        }
    }

    pub fn event(&mut self, event: &StreamEvent, _tally: &StreamTally) -> Vec<OutFrame> {
        let mut out = Vec::new();
        match event {
            StreamEvent::Start { .. } => self.start(&mut out),
            StreamEvent::Text(text) if !text.is_empty() => {
                self.start(&mut out);
                out.push(self.chunk(json!({ "content": text }), None));
            }
            StreamEvent::ToolCallStart { index, id, name } => {
                self.start(&mut out);
                let call = json!({
                    "index": index, "id": id, "type": "function",
                    "function": { "name": name, "arguments": "" },
                });
                out.push(self.chunk(json!({ "tool_calls": [call] }), None));
            }
            StreamEvent::ToolArgs { index, fragment } => {
                self.start(&mut out);
                let call = json!({ "index": index, "function": { "arguments": fragment } });
                out.push(self.chunk(json!({ "tool_calls": [call] }), None));
            }
            StreamEvent::Finish(finish) if !self.finished => {
                self.start(&mut out);
                self.finished = true;
                out.push(self.chunk(json!({}), Some(finish_reason(finish))));
            }
            _ => {}
        }
        out
    }

    /// The clean end: a finish chunk if none was sent, the usage chunk when asked, `[DONE]`.
    pub fn end(&mut self, tally: &StreamTally, usage: &TokenUsage) -> Vec<OutFrame> {
        let mut out = Vec::new();
        self.start(&mut out);
        if !self.finished {
            self.finished = true;
            let finish = tally.finish.clone().unwrap_or(FinishReason::Stop);
            out.push(self.chunk(json!({}), Some(finish_reason(&finish))));
        }
        if self.include_usage {
            out.push(OutFrame::data(&json!({
                "id": self.id,
                "object": "chat.completion.chunk",
                "created": self.created,
                "model": self.model,
                "choices": [],
                "usage": usage_json(usage),
            })));
        }
        out.push(OutFrame {
            event: None,
            data: "[DONE]".into(),
        });
        out
    }

    /// A failure after content was sent: an `error` object, and no `[DONE]`.
    pub fn error(&mut self, message: &str, kind: &str) -> Vec<OutFrame> {
        vec![OutFrame::data(&super::error_body(
            message,
            kind,
            Some("upstream_stream_error"),
            None,
        ))]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_and_developer_messages_become_system_turns() {
        let body = br#"{"model":"openai/gpt-5.4","messages":[
            {"role":"developer","content":"be brief"},
            {"role":"user","content":[{"type":"text","text":"hi "},{"type":"text","text":"there"}]}]}"#;
        let ingress = parse_request(body).unwrap();
        assert_eq!(ingress.request.messages[0].role, Role::System);
        assert_eq!(ingress.request.messages[1].joined_text(), "hi \nthere");
    }

    #[test]
    fn bad_fields_are_named_in_the_error() {
        let err = parse_request(br#"{"model":"a/b","messages":[{"role":"user","content":5}]}"#)
            .unwrap_err();
        assert!(err.contains("messages[0].content"), "{err}");
        let err = parse_request(br#"{"messages":[]}"#).unwrap_err();
        assert!(err.contains("model"), "{err}");
        let err = parse_request(br#"{"model":"a/b","messages":[{"role":"bot","content":"x"}]}"#)
            .unwrap_err();
        assert!(err.contains("messages[0].role"), "{err}");
        let err = parse_request(
            br#"{"model":"a/b","messages":[{"role":"user","content":"x"}],"tool_choice":{"type":"function","function":{"name":"nope"}}}"#,
        )
        .unwrap_err();
        assert!(err.contains("tool_choice"), "{err}");
    }

    #[test]
    fn tool_turns_images_and_response_formats_are_read() {
        let body = br#"{"model":"a/b","messages":[
            {"role":"user","content":[{"type":"text","text":"look"},{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBO"}}]},
            {"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"f","arguments":"{\"a\":1}"}}]},
            {"role":"tool","tool_call_id":"call_1","content":"42"}],
            "tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}],
            "tool_choice":"required","response_format":{"type":"json_object"}}"#;
        let r = parse_request(body).unwrap().request;
        assert_eq!(
            r.messages[0].parts[1],
            Part::Image(Image::Base64 {
                media_type: "image/png".into(),
                data: "iVBO".into()
            })
        );
        assert_eq!(r.messages[1].tool_calls[0].arguments, r#"{"a":1}"#);
        assert_eq!(r.messages[2].tool_call_id.as_deref(), Some("call_1"));
        assert_eq!(r.tool_choice, Some(ToolChoice::Required));
        assert_eq!(r.response_format, Some(ResponseFormat::JsonObject));
        assert!(r.passthrough.is_none());
    }
}
