//! Anthropic Messages wire shapes, as the upstream side of the Anthropic adapter speaks them.

use super::openai::OutFrame;
use super::stream::{status_of_error, PartialUsage, StreamEvent, StreamParser, StreamTally};
use super::{
    ChatRequest, ChatResponse, FinishReason, Ingress, Message, Passthrough, ProviderFilter, Role,
    Shape, UpstreamError,
};
use crate::providers::sse::SseFrame;
use aig_common::catalog::TokenUsage;
use serde::Deserialize;
use serde_json::{json, Map, Value};

/// Gateway-only fields that must never be forwarded upstream.
const GATEWAY_FIELDS: [&str; 2] = ["models", "provider"];

// ---- caller side: the Anthropic ingress ----

/// `POST /anthropic/v1/messages` as callers send it.
#[derive(Deserialize)]
struct MessagesRequest {
    model: String,
    max_tokens: u32,
    messages: Vec<IngressMessage>,
    system: Option<Content>,
    #[serde(default)]
    models: Vec<String>,
    provider: Option<ProviderFilter>,
    stop_sequences: Option<Vec<String>>,
    temperature: Option<f64>,
    top_p: Option<f64>,
    metadata: Option<Metadata>,
    #[serde(default)]
    stream: bool,
    #[serde(flatten)]
    extra: Map<String, Value>,
}

#[derive(Deserialize)]
struct Metadata {
    user_id: Option<String>,
}

#[derive(Deserialize)]
struct IngressMessage {
    role: String,
    content: Content,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Content {
    Text(String),
    Blocks(Vec<Block>),
}

#[derive(Deserialize)]
struct Block {
    #[serde(rename = "type")]
    kind: String,
    text: Option<String>,
}

fn content_text(content: Content, at: &str) -> Result<String, String> {
    match content {
        Content::Text(t) => Ok(t),
        Content::Blocks(blocks) => {
            let mut texts = Vec::with_capacity(blocks.len());
            for (j, block) in blocks.into_iter().enumerate() {
                match (block.kind.as_str(), block.text) {
                    ("text", Some(t)) => texts.push(t),
                    ("text", None) => return Err(format!("{at}[{j}].text: is required")),
                    (other, _) => {
                        return Err(format!(
                            "{at}[{j}].type: {other:?} blocks are not supported; send text blocks"
                        ))
                    }
                }
            }
            Ok(texts.join("\n"))
        }
    }
}

/// Parses and validates a caller's Messages body.
pub fn parse_request(body: &[u8]) -> Result<Ingress, String> {
    let wire: MessagesRequest = super::from_json(body)?;
    if wire.model.trim().is_empty() {
        return Err("model: must not be empty".into());
    }
    if wire.max_tokens == 0 {
        return Err("max_tokens: must be at least 1".into());
    }
    if wire.messages.is_empty() {
        return Err("messages: must contain at least one message".into());
    }
    let mut messages = Vec::with_capacity(wire.messages.len() + 1);
    if let Some(system) = wire.system {
        let text = content_text(system, "system")?;
        if !text.is_empty() {
            messages.push(Message {
                role: Role::System,
                text,
            });
        }
    }
    for (i, m) in wire.messages.into_iter().enumerate() {
        let role = match m.role.as_str() {
            "user" => Role::User,
            "assistant" => Role::Assistant,
            other => {
                return Err(format!(
                    "messages[{i}].role: {other:?} is not supported; use user or assistant (system goes in the top-level system field)"
                ))
            }
        };
        let text = content_text(m.content, &format!("messages[{i}].content"))?;
        messages.push(Message { role, text });
    }
    if let Some(t) = wire.temperature {
        if !(0.0..=1.0).contains(&t) {
            return Err("temperature: must be between 0 and 1".into());
        }
    }
    if let Some(p) = wire.top_p {
        if !(0.0..=1.0).contains(&p) {
            return Err("top_p: must be between 0 and 1".into());
        }
    }
    let stop = wire.stop_sequences.unwrap_or_default();
    if stop.iter().any(String::is_empty) {
        return Err("stop_sequences: sequences must not be empty".into());
    }
    let mut extra = wire.extra;
    for field in GATEWAY_FIELDS {
        extra.remove(field);
    }
    Ok(Ingress {
        model: wire.model,
        models: wire.models,
        provider: wire.provider.unwrap_or_default(),
        include_usage: false,
        request: ChatRequest {
            messages,
            max_tokens: Some(wire.max_tokens),
            temperature: wire.temperature,
            top_p: wire.top_p,
            stop,
            stream: wire.stream,
            user: wire.metadata.and_then(|m| m.user_id),
            passthrough: (!extra.is_empty()).then_some(Passthrough {
                shape: Shape::Anthropic,
                fields: extra,
            }),
        },
    })
}

/// Anthropic's `stop_reason` and `stop_sequence` for a finish.
pub fn stop_reason(finish: &FinishReason) -> (&'static str, Option<&str>) {
    match finish {
        FinishReason::Stop => ("end_turn", None),
        FinishReason::StopSequence(seq) => ("stop_sequence", seq.as_deref()),
        FinishReason::Length => ("max_tokens", None),
        FinishReason::ContentFilter => ("refusal", None),
        FinishReason::ToolCalls => ("tool_use", None),
    }
}

fn usage_json(u: &TokenUsage) -> Value {
    json!({
        "input_tokens": u.input,
        "output_tokens": u.output,
        "cache_creation_input_tokens": u.cache_write,
        "cache_read_input_tokens": u.cache_read,
    })
}

/// The caller-facing answer: an Anthropic `message` with `model` set to the winner.
pub fn render_response(resp: &ChatResponse, id: &str, model: &str) -> Value {
    let (reason, sequence) = stop_reason(&resp.finish);
    let content: Vec<Value> = if resp.text.is_empty() {
        Vec::new()
    } else {
        vec![json!({ "type": "text", "text": resp.text })]
    };
    json!({
        "id": id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": reason,
        "stop_sequence": sequence,
        "usage": usage_json(&resp.usage),
    })
}

/// Renders the canonical stream as Anthropic Messages events. `message_start` waits for the
/// first content so it can carry the input tokens the upstream reported before it.
pub struct StreamRenderer {
    id: String,
    model: String,
    started: bool,
    block_open: bool,
}

impl StreamRenderer {
    pub fn new(id: String, model: String) -> Self {
        Self {
            id,
            model,
            started: false,
            block_open: false,
        }
    }

    fn frame(name: &'static str, value: Value) -> OutFrame {
        OutFrame {
            event: Some(name),
            data: value.to_string(),
        }
    }

    fn start(&mut self, tally: &StreamTally, out: &mut Vec<OutFrame>) {
        if self.started {
            return;
        }
        self.started = true;
        out.push(Self::frame(
            "message_start",
            json!({
                "type": "message_start",
                "message": {
                    "id": self.id,
                    "type": "message",
                    "role": "assistant",
                    "model": self.model,
                    "content": [],
                    "stop_reason": null,
                    "stop_sequence": null,
                    "usage": {
                        "input_tokens": tally.usage.input.unwrap_or(0),
                        "output_tokens": 0,
                        "cache_creation_input_tokens": tally.usage.cache_write.unwrap_or(0),
                        "cache_read_input_tokens": tally.usage.cache_read.unwrap_or(0),
                    },
                },
            }),
        ));
        out.push(Self::frame("ping", json!({ "type": "ping" })));
    }

    pub fn event(&mut self, event: &StreamEvent, tally: &StreamTally) -> Vec<OutFrame> {
        let mut out = Vec::new();
        if let StreamEvent::Text(text) = event {
            if text.is_empty() {
                return out;
            }
            self.start(tally, &mut out);
            if !self.block_open {
                self.block_open = true;
                out.push(Self::frame(
                    "content_block_start",
                    json!({ "type": "content_block_start", "index": 0, "content_block": { "type": "text", "text": "" } }),
                ));
            }
            out.push(Self::frame(
                "content_block_delta",
                json!({ "type": "content_block_delta", "index": 0, "delta": { "type": "text_delta", "text": text } }),
            ));
        }
        out
    }

    /// The clean end: close the block, `message_delta` with the stop reason and usage,
    /// `message_stop`.
    pub fn end(&mut self, tally: &StreamTally, usage: &TokenUsage) -> Vec<OutFrame> {
        let mut out = Vec::new();
        self.start(tally, &mut out);
        if self.block_open {
            self.block_open = false;
            out.push(Self::frame(
                "content_block_stop",
                json!({ "type": "content_block_stop", "index": 0 }),
            ));
        }
        let finish = tally.finish.clone().unwrap_or(FinishReason::Stop);
        let (reason, sequence) = stop_reason(&finish);
        out.push(Self::frame(
            "message_delta",
            json!({
                "type": "message_delta",
                "delta": { "stop_reason": reason, "stop_sequence": sequence },
                "usage": usage_json(usage),
            }),
        ));
        out.push(Self::frame(
            "message_stop",
            json!({ "type": "message_stop" }),
        ));
        out
    }

    /// A failure after content was sent: `event: error`.
    pub fn error(&mut self, message: &str, kind: &str) -> Vec<OutFrame> {
        vec![Self::frame(
            "error",
            json!({ "type": "error", "error": { "type": kind, "message": message } }),
        )]
    }
}

// ---- upstream side ----

/// Anthropic requires `max_tokens`; this is sent when the caller gave none.
pub const DEFAULT_MAX_TOKENS: u32 = 4096;

/// The body sent to Anthropic's `/v1/messages`: system turns hoisted to `system`,
/// consecutive turns of one role merged (the API wants them alternating), temperature
/// clamped to Anthropic's 0–1 range.
pub fn upstream_body(req: &ChatRequest, model: &str) -> Value {
    let mut messages: Vec<(Role, String)> = Vec::new();
    for m in req.messages.iter().filter(|m| m.role != Role::System) {
        match messages.last_mut() {
            Some((role, text)) if *role == m.role => {
                text.push_str("\n\n");
                text.push_str(&m.text);
            }
            _ => messages.push((m.role, m.text.clone())),
        }
    }
    let messages: Vec<Value> = messages
        .into_iter()
        .map(|(role, text)| {
            let role = if role == Role::Assistant {
                "assistant"
            } else {
                "user"
            };
            json!({ "role": role, "content": text })
        })
        .collect();
    let mut body = Map::new();
    if let Some(extra) = req.passthrough_for(Shape::Anthropic) {
        body.extend(extra.clone());
    }
    body.insert("model".into(), json!(model));
    body.insert("messages".into(), Value::Array(messages));
    body.insert(
        "max_tokens".into(),
        json!(req.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS)),
    );
    if let Some(system) = req.system_text() {
        body.insert("system".into(), json!(system));
    }
    if let Some(t) = req.temperature {
        body.insert("temperature".into(), json!(t.clamp(0.0, 1.0)));
    }
    if let Some(p) = req.top_p {
        body.insert("top_p".into(), json!(p));
    }
    if !req.stop.is_empty() {
        body.insert("stop_sequences".into(), json!(req.stop));
    }
    if let Some(u) = &req.user {
        body.insert("metadata".into(), json!({ "user_id": u }));
    }
    if req.stream {
        body.insert("stream".into(), json!(true));
    }
    Value::Object(body)
}

#[derive(Deserialize)]
struct WireMessage {
    #[serde(default)]
    id: String,
    content: Vec<WireBlock>,
    stop_reason: Option<String>,
    stop_sequence: Option<String>,
    #[serde(default)]
    usage: WireUsage,
}

#[derive(Deserialize)]
struct WireBlock {
    #[serde(rename = "type")]
    kind: String,
    text: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct WireUsage {
    #[serde(default)]
    pub input_tokens: u64,
    #[serde(default)]
    pub output_tokens: u64,
    #[serde(default)]
    pub cache_creation_input_tokens: Option<u64>,
    #[serde(default)]
    pub cache_read_input_tokens: Option<u64>,
}

impl WireUsage {
    pub fn to_tokens(&self) -> TokenUsage {
        TokenUsage {
            input: self.input_tokens,
            cache_read: self.cache_read_input_tokens.unwrap_or(0),
            cache_write: self.cache_creation_input_tokens.unwrap_or(0),
            output: self.output_tokens,
        }
    }
}

pub fn parse_stop_reason(raw: Option<&str>, stop_sequence: Option<String>) -> FinishReason {
    match raw {
        Some("max_tokens") | Some("model_context_window_exceeded") => FinishReason::Length,
        Some("stop_sequence") => FinishReason::StopSequence(stop_sequence),
        Some("refusal") => FinishReason::ContentFilter,
        Some("tool_use") => FinishReason::ToolCalls,
        _ => FinishReason::Stop,
    }
}

/// Parses Anthropic's 200 body.
pub fn parse_upstream_response(body: &[u8]) -> Result<ChatResponse, String> {
    let wire: WireMessage = super::from_json(body)?;
    let text = wire
        .content
        .iter()
        .filter(|b| b.kind == "text")
        .filter_map(|b| b.text.as_deref())
        .collect::<String>();
    Ok(ChatResponse {
        id: wire.id,
        text,
        finish: parse_stop_reason(wire.stop_reason.as_deref(), wire.stop_sequence),
        usage: wire.usage.to_tokens(),
    })
}

#[derive(Deserialize)]
struct WireErrorBody {
    error: WireError,
}

#[derive(Deserialize)]
struct WireError {
    #[serde(rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    message: String,
}

/// Parses Anthropic's `{"type":"error","error":{…}}`; `None` when it is not one.
pub fn parse_upstream_error(body: &[u8]) -> Option<UpstreamError> {
    let wire: WireErrorBody = serde_json::from_slice(body).ok()?;
    Some(UpstreamError {
        kind: wire.error.kind,
        message: wire.error.message,
        code: None,
        param: None,
    })
}

#[derive(Deserialize)]
struct StreamFrame {
    #[serde(rename = "type")]
    kind: String,
    message: Option<StreamMessage>,
    content_block: Option<WireBlock>,
    delta: Option<StreamDelta>,
    usage: Option<StreamUsage>,
    error: Option<WireError>,
}

#[derive(Deserialize)]
struct StreamMessage {
    #[serde(default)]
    id: String,
    #[serde(default)]
    usage: Option<StreamUsage>,
}

#[derive(Deserialize)]
struct StreamDelta {
    #[serde(rename = "type")]
    kind: Option<String>,
    text: Option<String>,
    stop_reason: Option<String>,
    stop_sequence: Option<String>,
}

#[derive(Deserialize)]
struct StreamUsage {
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
    cache_creation_input_tokens: Option<u64>,
    cache_read_input_tokens: Option<u64>,
}

impl From<StreamUsage> for PartialUsage {
    fn from(u: StreamUsage) -> Self {
        PartialUsage {
            input: u.input_tokens,
            cache_read: u.cache_read_input_tokens,
            cache_write: u.cache_creation_input_tokens,
            output: u.output_tokens,
        }
    }
}

/// Reads Anthropic Messages stream events.
#[derive(Default)]
pub struct UpstreamStreamParser;

impl StreamParser for UpstreamStreamParser {
    fn parse(&mut self, frame: &SseFrame) -> Result<Vec<StreamEvent>, String> {
        let f: StreamFrame =
            serde_json::from_str(&frame.data).map_err(|e| format!("malformed event: {e}"))?;
        let mut events = Vec::new();
        match f.kind.as_str() {
            "message_start" => {
                if let Some(m) = f.message {
                    events.push(StreamEvent::Start { id: m.id });
                    if let Some(u) = m.usage {
                        events.push(StreamEvent::Usage(u.into()));
                    }
                }
            }
            "content_block_start" => {
                if let Some(WireBlock {
                    kind,
                    text: Some(text),
                }) = f.content_block
                {
                    if kind == "text" && !text.is_empty() {
                        events.push(StreamEvent::Text(text));
                    }
                }
            }
            "content_block_delta" => {
                if let Some(StreamDelta {
                    kind: Some(kind),
                    text: Some(text),
                    ..
                }) = f.delta
                {
                    if kind == "text_delta" && !text.is_empty() {
                        events.push(StreamEvent::Text(text));
                    }
                }
            }
            "message_delta" => {
                if let Some(d) = f.delta {
                    if d.stop_reason.is_some() {
                        events.push(StreamEvent::Finish(parse_stop_reason(
                            d.stop_reason.as_deref(),
                            d.stop_sequence,
                        )));
                    }
                }
                if let Some(u) = f.usage {
                    events.push(StreamEvent::Usage(u.into()));
                }
            }
            "message_stop" => events.push(StreamEvent::Done),
            "error" => {
                let e = f.error.unwrap_or(WireError {
                    kind: None,
                    message: String::new(),
                });
                let error = UpstreamError {
                    kind: e.kind,
                    message: e.message,
                    code: None,
                    param: None,
                };
                events.push(StreamEvent::Error {
                    status: status_of_error(&error),
                    error,
                });
            }
            // ping, content_block_stop and event types added later carry nothing we need.
            _ => {}
        }
        Ok(events)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shapes::Message;

    #[test]
    fn system_turns_are_hoisted_and_same_role_turns_merged() {
        let req = ChatRequest {
            messages: vec![
                Message {
                    role: Role::System,
                    text: "be brief".into(),
                },
                Message {
                    role: Role::User,
                    text: "a".into(),
                },
                Message {
                    role: Role::User,
                    text: "b".into(),
                },
                Message {
                    role: Role::System,
                    text: "no emojis".into(),
                },
            ],
            temperature: Some(1.7),
            ..Default::default()
        };
        let body = upstream_body(&req, "claude-opus-4-7");
        assert_eq!(body["system"], "be brief\n\nno emojis");
        assert_eq!(
            body["messages"],
            json!([{"role":"user","content":"a\n\nb"}])
        );
        assert_eq!(body["max_tokens"], DEFAULT_MAX_TOKENS);
        assert_eq!(body["temperature"], 1.0);
    }
}
