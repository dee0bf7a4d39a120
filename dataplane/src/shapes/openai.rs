//! OpenAI chat-completions wire shapes: the caller-facing request and response, and the
//! body OpenAI-compatible upstreams speak.

use super::stream::{status_of_error, StreamEvent, StreamParser, StreamTally};
use super::{
    ChatRequest, ChatResponse, FinishReason, Ingress, Message, Passthrough, ProviderFilter, Role,
    Shape, UpstreamError,
};
use crate::providers::sse::SseFrame;
use aig_common::catalog::TokenUsage;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

/// Gateway-only fields that must never be forwarded upstream.
const GATEWAY_FIELDS: [&str; 2] = ["models", "provider"];

/// `POST /v1/chat/completions` as callers send it.
#[derive(Debug, Deserialize)]
pub struct CompletionRequest {
    pub model: String,
    pub messages: Vec<WireMessage>,
    /// AIgateway: the explicit chain after `model`.
    #[serde(default)]
    pub models: Vec<String>,
    /// AIgateway: keep or drop chain entries by provider.
    pub provider: Option<ProviderFilter>,
    pub max_tokens: Option<u32>,
    pub max_completion_tokens: Option<u32>,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub stop: Option<Stop>,
    #[serde(default)]
    pub stream: bool,
    pub stream_options: Option<StreamOptions>,
    pub user: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Deserialize)]
pub struct StreamOptions {
    #[serde(default)]
    pub include_usage: bool,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Stop {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Deserialize, Serialize)]
pub struct WireMessage {
    pub role: String,
    #[serde(default)]
    pub content: Option<Content>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(untagged)]
pub enum Content {
    Text(String),
    Parts(Vec<ContentPart>),
}

#[derive(Debug, Deserialize, Serialize)]
pub struct ContentPart {
    #[serde(rename = "type")]
    pub kind: String,
    pub text: Option<String>,
}

/// Parses and validates a caller's body.
pub fn parse_request(body: &[u8]) -> Result<Ingress, String> {
    let wire: CompletionRequest = super::from_json(body)?;
    if wire.model.trim().is_empty() {
        return Err("model: must not be empty".into());
    }
    if wire.messages.is_empty() {
        return Err("messages: must contain at least one message".into());
    }
    let mut messages = Vec::with_capacity(wire.messages.len());
    for (i, m) in wire.messages.into_iter().enumerate() {
        messages.push(message_from_wire(i, m)?);
    }
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
            passthrough: (!extra.is_empty()).then_some(Passthrough {
                shape: Shape::OpenAi,
                fields: extra,
            }),
        },
    })
}

fn message_from_wire(i: usize, m: WireMessage) -> Result<Message, String> {
    let role = match m.role.as_str() {
        "system" | "developer" => Role::System,
        "user" => Role::User,
        "assistant" => Role::Assistant,
        other => {
            return Err(format!(
                "messages[{i}].role: {other:?} is not supported; use system, developer, user or assistant"
            ))
        }
    };
    let text = match m.content {
        None => return Err(format!("messages[{i}].content: is required")),
        Some(Content::Text(t)) => t,
        Some(Content::Parts(parts)) => {
            let mut text = String::new();
            for (j, part) in parts.into_iter().enumerate() {
                match (part.kind.as_str(), part.text) {
                    ("text", Some(t)) => text.push_str(&t),
                    ("text", None) => {
                        return Err(format!("messages[{i}].content[{j}].text: is required"))
                    }
                    (other, _) => {
                        return Err(format!(
                            "messages[{i}].content[{j}].type: {other:?} content is not supported; send text parts"
                        ))
                    }
                }
            }
            text
        }
    };
    Ok(Message { role, text })
}

/// The caller-facing answer: OpenAI's `chat.completion` with `model` set to the winner.
pub fn render_response(resp: &ChatResponse, id: &str, model: &str, created: u64) -> Value {
    json!({
        "id": id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [{
            "index": 0,
            "message": { "role": "assistant", "content": resp.text, "refusal": null },
            "logprobs": null,
            "finish_reason": finish_reason(&resp.finish),
        }],
        "usage": usage_json(&resp.usage),
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

pub fn usage_json(u: &TokenUsage) -> Value {
    let prompt = u.input + u.cache_read + u.cache_write;
    json!({
        "prompt_tokens": prompt,
        "completion_tokens": u.output,
        "total_tokens": prompt + u.output,
        "prompt_tokens_details": { "cached_tokens": u.cache_read },
    })
}

/// The caller-facing error body.
pub fn error_body(message: &str, kind: &str, code: Option<&str>, param: Option<&str>) -> Value {
    json!({ "error": { "message": message, "type": kind, "code": code, "param": param } })
}

// ---- upstream side: OpenAI-compatible providers ----

/// The body sent to an OpenAI-compatible upstream.
pub fn upstream_body(req: &ChatRequest, model: &str) -> Value {
    let mut body = req.body_start(Shape::OpenAi, model);
    if let Some(n) = req.max_tokens {
        body.insert("max_tokens".into(), json!(n));
    }
    if let Some(t) = req.temperature {
        body.insert("temperature".into(), json!(t));
    }
    if let Some(p) = req.top_p {
        body.insert("top_p".into(), json!(p));
    }
    if !req.stop.is_empty() {
        body.insert("stop".into(), json!(req.stop));
    }
    if let Some(u) = &req.user {
        body.insert("user".into(), json!(u));
    }
    body.insert("stream".into(), json!(req.stream));
    if req.stream {
        body.insert("stream_options".into(), json!({ "include_usage": true }));
    }
    Value::Object(body)
}

#[derive(Deserialize)]
struct UpstreamCompletion {
    #[serde(default)]
    id: String,
    choices: Vec<UpstreamChoice>,
    usage: Option<UpstreamUsage>,
}

#[derive(Deserialize)]
struct UpstreamChoice {
    message: UpstreamMessage,
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct UpstreamMessage {
    content: Option<String>,
    refusal: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct UpstreamUsage {
    #[serde(default)]
    pub prompt_tokens: u64,
    #[serde(default)]
    pub completion_tokens: u64,
    pub prompt_tokens_details: Option<PromptDetails>,
}

#[derive(Deserialize, Default)]
pub struct PromptDetails {
    #[serde(default)]
    pub cached_tokens: Option<u64>,
}

impl UpstreamUsage {
    pub fn to_tokens(&self) -> TokenUsage {
        let cached = self
            .prompt_tokens_details
            .as_ref()
            .and_then(|d| d.cached_tokens)
            .unwrap_or(0)
            .min(self.prompt_tokens);
        TokenUsage {
            input: self.prompt_tokens - cached,
            cache_read: cached,
            cache_write: 0,
            output: self.completion_tokens,
        }
    }
}

pub fn parse_finish_reason(raw: Option<&str>) -> FinishReason {
    match raw {
        Some("length") => FinishReason::Length,
        Some("content_filter") => FinishReason::ContentFilter,
        Some("tool_calls") | Some("function_call") => FinishReason::ToolCalls,
        _ => FinishReason::Stop,
    }
}

/// Parses an OpenAI-compatible upstream's 200 body.
pub fn parse_upstream_response(body: &[u8]) -> Result<ChatResponse, String> {
    let wire: UpstreamCompletion = super::from_json(body)?;
    let choice = wire
        .choices
        .into_iter()
        .next()
        .ok_or_else(|| "choices: empty".to_string())?;
    let refused = choice.message.refusal.is_some();
    let finish = if refused {
        FinishReason::ContentFilter
    } else {
        parse_finish_reason(choice.finish_reason.as_deref())
    };
    Ok(ChatResponse {
        id: wire.id,
        text: choice.message.content.unwrap_or_default(),
        finish,
        usage: wire.usage.unwrap_or_default().to_tokens(),
    })
}

#[derive(Deserialize)]
struct UpstreamErrorBody {
    error: UpstreamErrorDetail,
}

#[derive(Deserialize)]
struct UpstreamErrorDetail {
    #[serde(default)]
    message: String,
    #[serde(rename = "type")]
    kind: Option<String>,
    code: Option<Value>,
    param: Option<String>,
}

/// Parses an OpenAI-shaped error body; `None` when it is not one.
pub fn parse_upstream_error(body: &[u8]) -> Option<UpstreamError> {
    let wire: UpstreamErrorBody = serde_json::from_slice(body).ok()?;
    Some(error_from_detail(wire.error))
}

fn error_from_detail(detail: UpstreamErrorDetail) -> UpstreamError {
    UpstreamError {
        kind: detail.kind,
        message: detail.message,
        code: detail.code.and_then(|c| match c {
            Value::String(s) => Some(s),
            Value::Null => None,
            other => Some(other.to_string()),
        }),
        param: detail.param,
    }
}

// ---- streams ----

#[derive(Deserialize)]
struct UpstreamChunk {
    #[serde(default)]
    id: String,
    #[serde(default)]
    choices: Vec<UpstreamChunkChoice>,
    usage: Option<UpstreamUsage>,
    error: Option<UpstreamErrorDetail>,
}

#[derive(Deserialize)]
struct UpstreamChunkChoice {
    #[serde(default)]
    delta: UpstreamDelta,
    finish_reason: Option<String>,
}

#[derive(Deserialize, Default)]
struct UpstreamDelta {
    content: Option<String>,
    refusal: Option<String>,
}

/// Reads `chat.completion.chunk` frames from an OpenAI-compatible upstream.
#[derive(Default)]
pub struct UpstreamStreamParser {
    started: bool,
    refused: bool,
}

impl StreamParser for UpstreamStreamParser {
    fn parse(&mut self, frame: &SseFrame) -> Result<Vec<StreamEvent>, String> {
        if frame.data.trim() == "[DONE]" {
            return Ok(vec![StreamEvent::Done]);
        }
        let chunk: UpstreamChunk =
            serde_json::from_str(&frame.data).map_err(|e| format!("malformed chunk: {e}"))?;
        if let Some(detail) = chunk.error {
            let error = error_from_detail(detail);
            return Ok(vec![StreamEvent::Error {
                status: status_of_error(&error),
                error,
            }]);
        }
        let mut events = Vec::new();
        if !self.started {
            self.started = true;
            events.push(StreamEvent::Start { id: chunk.id });
        }
        if let Some(choice) = chunk.choices.into_iter().next() {
            if choice.delta.refusal.is_some_and(|r| !r.is_empty()) {
                self.refused = true;
            }
            if let Some(text) = choice.delta.content.filter(|t| !t.is_empty()) {
                events.push(StreamEvent::Text(text));
            }
            if let Some(reason) = choice.finish_reason {
                let finish = if self.refused {
                    FinishReason::ContentFilter
                } else {
                    parse_finish_reason(Some(&reason))
                };
                events.push(StreamEvent::Finish(finish));
            }
        }
        if let Some(usage) = chunk.usage {
            events.push(StreamEvent::Usage(usage.to_tokens().into()));
        }
        Ok(events)
    }
}

/// One SSE frame to send to the caller.
#[derive(Clone, Debug, PartialEq)]
pub struct OutFrame {
    pub event: Option<&'static str>,
    pub data: String,
}

impl OutFrame {
    pub fn data(value: &Value) -> Self {
        Self {
            event: None,
            data: value.to_string(),
        }
    }
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
        vec![OutFrame::data(&error_body(
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
        assert_eq!(ingress.request.messages[1].text, "hi there");
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
    }

    #[test]
    fn unknown_fields_pass_through_but_gateway_fields_do_not() {
        let body = br#"{"model":"openai/gpt-5.4","models":["openai/gpt-5-mini"],
            "provider":{"only":["openai"]},"seed":7,"messages":[{"role":"user","content":"x"}]}"#;
        let ingress = parse_request(body).unwrap();
        let up = upstream_body(&ingress.request, "gpt-5.4");
        assert_eq!(up["seed"], 7);
        assert!(up.get("models").is_none());
        assert!(up.get("provider").is_none());
        assert_eq!(up["model"], "gpt-5.4");
    }
}
