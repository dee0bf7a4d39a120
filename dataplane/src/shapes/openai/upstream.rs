//! The body OpenAI-compatible upstreams (OpenAI, Moonshot, Mistral, Groq, …) speak: the
//! request we send, their answers, their error bodies and their chunk streams.

use super::{message_json, tools_json, WireToolCall};
use crate::providers::sse::SseFrame;
use crate::shapes::stream::{status_of_error, StreamEvent, StreamParser};
use crate::shapes::{
    from_json, ChatRequest, ChatResponse, FinishReason, ResponseFormat, Shape, ToolChoice,
    UpstreamError,
};
use aig_common::catalog::TokenUsage;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::HashSet;

fn tool_choice_json(choice: &ToolChoice) -> Value {
    match choice {
        ToolChoice::Auto => json!("auto"),
        ToolChoice::None => json!("none"),
        ToolChoice::Required => json!("required"),
        ToolChoice::Named(name) => json!({ "type": "function", "function": { "name": name } }),
    }
}

fn response_format_json(format: &ResponseFormat) -> Value {
    match format {
        ResponseFormat::JsonObject => json!({ "type": "json_object" }),
        ResponseFormat::JsonSchema {
            name,
            schema,
            strict,
        } => {
            let mut js = serde_json::Map::new();
            js.insert("name".into(), json!(name));
            js.insert("schema".into(), schema.clone());
            if let Some(strict) = strict {
                js.insert("strict".into(), json!(strict));
            }
            json!({ "type": "json_schema", "json_schema": js })
        }
    }
}

/// The body sent to an OpenAI-compatible upstream.
pub fn upstream_body(req: &ChatRequest, model: &str) -> Value {
    let mut body = req
        .passthrough_for(Shape::OpenAi)
        .cloned()
        .unwrap_or_default();
    body.insert("model".into(), json!(model));
    body.insert(
        "messages".into(),
        Value::Array(req.messages.iter().map(message_json).collect()),
    );
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
    if !req.tools.is_empty() {
        body.insert("tools".into(), tools_json(&req.tools));
        if let Some(choice) = &req.tool_choice {
            body.insert("tool_choice".into(), tool_choice_json(choice));
        }
        if let Some(parallel) = req.parallel_tool_calls {
            body.insert("parallel_tool_calls".into(), json!(parallel));
        }
    }
    if let Some(format) = &req.response_format {
        body.insert("response_format".into(), response_format_json(format));
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
    tool_calls: Option<Vec<WireToolCall>>,
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
    let wire: UpstreamCompletion = from_json(body)?;
    let choice = wire
        .choices
        .into_iter()
        .next()
        .ok_or_else(|| "choices: empty".to_string())?;
    let refused = choice.message.refusal.is_some_and(|r| !r.is_empty());
    let finish = if refused {
        FinishReason::ContentFilter
    } else {
        parse_finish_reason(choice.finish_reason.as_deref())
    };
    Ok(ChatResponse {
        id: wire.id,
        text: choice.message.content.unwrap_or_default(),
        tool_calls: choice
            .message
            .tool_calls
            .unwrap_or_default()
            .into_iter()
            .map(Into::into)
            .collect(),
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
    tool_calls: Option<Vec<UpstreamToolCallDelta>>,
}

#[derive(Deserialize)]
struct UpstreamToolCallDelta {
    #[serde(default)]
    index: usize,
    id: Option<String>,
    function: Option<UpstreamFunctionDelta>,
}

#[derive(Deserialize)]
struct UpstreamFunctionDelta {
    name: Option<String>,
    arguments: Option<String>,
}

/// Reads `chat.completion.chunk` frames from an OpenAI-compatible upstream.
#[derive(Default)]
pub struct UpstreamStreamParser {
    started: bool,
    refused: bool,
    /// Tool-call indexes already announced.
    tool_calls: HashSet<usize>,
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
            for call in choice.delta.tool_calls.unwrap_or_default() {
                let (name, arguments) = match call.function {
                    Some(f) => (f.name, f.arguments),
                    None => (None, None),
                };
                if self.tool_calls.insert(call.index) {
                    events.push(StreamEvent::ToolCallStart {
                        index: call.index,
                        id: call.id.unwrap_or_default(),
                        name: name.unwrap_or_default(),
                    });
                }
                if let Some(fragment) = arguments.filter(|a| !a.is_empty()) {
                    events.push(StreamEvent::ToolArgs {
                        index: call.index,
                        fragment,
                    });
                }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shapes::{Message, Part, Role, Tool, ToolCall};

    #[test]
    fn unknown_fields_pass_through_but_gateway_fields_do_not() {
        let body = br#"{"model":"openai/gpt-5.4","models":["openai/gpt-5-mini"],
            "provider":{"only":["openai"]},"seed":7,"messages":[{"role":"user","content":"x"}]}"#;
        let ingress = super::super::parse_request(body).unwrap();
        let up = upstream_body(&ingress.request, "gpt-5.4");
        assert_eq!(up["seed"], 7);
        assert!(up.get("models").is_none());
        assert!(up.get("provider").is_none());
        assert_eq!(up["model"], "gpt-5.4");
    }

    #[test]
    fn tool_turns_render_in_openai_form() {
        let req = ChatRequest {
            messages: vec![
                Message {
                    role: Role::Assistant,
                    tool_calls: vec![ToolCall {
                        id: "toolu_1".into(),
                        name: "f".into(),
                        arguments: "{}".into(),
                    }],
                    ..Default::default()
                },
                Message {
                    role: Role::Tool,
                    parts: vec![Part::Text("42".into())],
                    tool_call_id: Some("toolu_1".into()),
                    ..Default::default()
                },
            ],
            tools: vec![Tool {
                name: "f".into(),
                description: None,
                parameters: json!({"type":"object"}),
                strict: None,
            }],
            tool_choice: Some(ToolChoice::Named("f".into())),
            ..Default::default()
        };
        let body = upstream_body(&req, "m");
        assert_eq!(body["messages"][0]["content"], Value::Null);
        assert_eq!(
            body["messages"][0]["tool_calls"][0]["function"]["name"],
            "f"
        );
        assert_eq!(
            body["messages"][1],
            json!({"role":"tool","tool_call_id":"toolu_1","content":"42"})
        );
        assert_eq!(body["tool_choice"]["function"]["name"], "f");
    }
}
