//! The Anthropic Messages API as the upstream side speaks it: the request we send (with
//! JSON output emulated by a forced tool), answers, error bodies and event streams.

use super::{part_block, tool_input};
use crate::providers::sse::SseFrame;
use crate::shapes::stream::{status_of_error, PartialUsage, StreamEvent, StreamParser};
use crate::shapes::{
    from_json, ChatRequest, ChatResponse, FinishReason, Message, Part, Role, Shape, ToolCall,
    ToolChoice, UpstreamError, JSON_OUTPUT_TOOL,
};
use aig_common::catalog::TokenUsage;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::collections::HashMap;

/// Anthropic requires `max_tokens`; this is sent when the caller gave none.
pub const DEFAULT_MAX_TOKENS: u32 = 4096;

/// A turn as Anthropic content blocks: a tool result is a user turn's `tool_result` block.
fn blocks(m: &Message) -> Vec<Value> {
    match m.role {
        Role::Tool => {
            let mut block = Map::new();
            block.insert("type".into(), json!("tool_result"));
            block.insert(
                "tool_use_id".into(),
                json!(m.tool_call_id.clone().unwrap_or_default()),
            );
            block.insert("content".into(), json!(m.joined_text()));
            if m.is_error {
                block.insert("is_error".into(), json!(true));
            }
            vec![Value::Object(block)]
        }
        _ => {
            let mut out: Vec<Value> = m
                .parts
                .iter()
                .filter(|p| !matches!(p, Part::Text(t) if t.is_empty()))
                .map(part_block)
                .collect();
            out.extend(m.tool_calls.iter().map(|c| {
                json!({ "type": "tool_use", "id": c.id, "name": c.name, "input": tool_input(&c.arguments) })
            }));
            out
        }
    }
}

/// A merged turn's content: a plain string when it is only text (joined by blank lines),
/// else the blocks.
fn content(blocks: Vec<Value>) -> Value {
    let texts: Option<Vec<&str>> = blocks
        .iter()
        .map(|b| (b["type"] == "text").then(|| b["text"].as_str()).flatten())
        .collect();
    match texts {
        Some(texts) if !texts.is_empty() => json!(texts.join("\n\n")),
        _ => Value::Array(blocks),
    }
}

/// The body sent to Anthropic's `/v1/messages`: system turns hoisted to `system`, tool
/// results as `tool_result` blocks of user turns, consecutive turns of one side merged (the
/// API wants them alternating), temperature clamped to 0–1, and a requested JSON output
/// emulated with a forced `json_output` tool whose input schema is the wanted schema.
pub fn upstream_body(req: &ChatRequest, model: &str) -> Value {
    let mut turns: Vec<(&str, Vec<Value>)> = Vec::new();
    for m in req.messages.iter().filter(|m| m.role != Role::System) {
        let side = if m.role == Role::Assistant {
            "assistant"
        } else {
            "user"
        };
        let new = blocks(m);
        match turns.last_mut() {
            Some((last, existing)) if *last == side => existing.extend(new),
            _ => turns.push((side, new)),
        }
    }
    let messages: Vec<Value> = turns
        .into_iter()
        .map(|(role, blocks)| json!({ "role": role, "content": content(blocks) }))
        .collect();
    let mut body = req
        .passthrough_for(Shape::Anthropic)
        .cloned()
        .unwrap_or_default();
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
    let mut tools: Vec<Value> = req
        .tools
        .iter()
        .map(|t| {
            let mut tool = Map::new();
            tool.insert("name".into(), json!(t.name));
            if let Some(d) = &t.description {
                tool.insert("description".into(), json!(d));
            }
            tool.insert("input_schema".into(), t.parameters.clone());
            Value::Object(tool)
        })
        .collect();
    let mut choice = req.tool_choice.as_ref().map(|c| match c {
        ToolChoice::Auto => json!({ "type": "auto" }),
        ToolChoice::None => json!({ "type": "none" }),
        ToolChoice::Required => json!({ "type": "any" }),
        ToolChoice::Named(name) => json!({ "type": "tool", "name": name }),
    });
    if let Some(format) = &req.response_format {
        tools.push(json!({
            "name": JSON_OUTPUT_TOOL,
            "description": "Give the answer as this tool's input: a JSON object that follows its schema.",
            "input_schema": format.schema(),
        }));
        choice = Some(json!({ "type": "tool", "name": JSON_OUTPUT_TOOL }));
    }
    if req.parallel_tool_calls == Some(false) && !tools.is_empty() {
        let mut c = choice.unwrap_or_else(|| json!({ "type": "auto" }));
        c["disable_parallel_tool_use"] = json!(true);
        choice = Some(c);
    }
    if !tools.is_empty() {
        body.insert("tools".into(), Value::Array(tools));
        if let Some(c) = choice {
            body.insert("tool_choice".into(), c);
        }
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
    id: Option<String>,
    name: Option<String>,
    input: Option<Value>,
}

#[derive(Deserialize, Default)]
struct WireUsage {
    #[serde(default)]
    input_tokens: u64,
    #[serde(default)]
    output_tokens: u64,
    #[serde(default)]
    cache_creation_input_tokens: Option<u64>,
    #[serde(default)]
    cache_read_input_tokens: Option<u64>,
}

impl WireUsage {
    fn to_tokens(&self) -> TokenUsage {
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

/// Parses Anthropic's 200 body. When JSON output was emulated, the forced tool's input is
/// the answer's text.
pub fn parse_upstream_response(body: &[u8], req: &ChatRequest) -> Result<ChatResponse, String> {
    let wire: WireMessage = from_json(body)?;
    let emulated = req.response_format.is_some();
    let mut text = String::new();
    let mut tool_calls = Vec::new();
    for block in wire.content {
        match block.kind.as_str() {
            "text" => text.push_str(block.text.as_deref().unwrap_or_default()),
            "tool_use" => {
                let input = block.input.unwrap_or_else(|| json!({}));
                let name = block.name.unwrap_or_default();
                if emulated && name == JSON_OUTPUT_TOOL {
                    text = input.to_string();
                } else {
                    tool_calls.push(ToolCall {
                        id: block.id.unwrap_or_default(),
                        name,
                        arguments: input.to_string(),
                    });
                }
            }
            _ => {}
        }
    }
    let mut finish = parse_stop_reason(wire.stop_reason.as_deref(), wire.stop_sequence);
    if finish == FinishReason::ToolCalls && tool_calls.is_empty() {
        finish = FinishReason::Stop;
    }
    Ok(ChatResponse {
        id: wire.id,
        text,
        tool_calls,
        finish,
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
    #[serde(default)]
    index: usize,
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
    partial_json: Option<String>,
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

/// What a content block of the upstream stream carries.
#[derive(Clone, Copy)]
enum BlockKind {
    Text,
    /// A tool call, with its canonical index.
    Tool(usize),
    /// The emulated JSON-output tool: its input is answer text.
    JsonOutput,
}

/// Reads Anthropic Messages stream events.
pub struct UpstreamStreamParser {
    json_emulated: bool,
    blocks: HashMap<usize, BlockKind>,
    tool_calls: usize,
}

impl UpstreamStreamParser {
    pub fn new(req: &ChatRequest) -> Self {
        Self {
            json_emulated: req.response_format.is_some(),
            blocks: HashMap::new(),
            tool_calls: 0,
        }
    }
}

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
                let Some(block) = f.content_block else {
                    return Ok(events);
                };
                match block.kind.as_str() {
                    "tool_use"
                        if self.json_emulated
                            && block.name.as_deref() == Some(JSON_OUTPUT_TOOL) =>
                    {
                        self.blocks.insert(f.index, BlockKind::JsonOutput);
                    }
                    "tool_use" => {
                        let index = self.tool_calls;
                        self.tool_calls += 1;
                        self.blocks.insert(f.index, BlockKind::Tool(index));
                        events.push(StreamEvent::ToolCallStart {
                            index,
                            id: block.id.unwrap_or_default(),
                            name: block.name.unwrap_or_default(),
                        });
                    }
                    _ => {
                        self.blocks.insert(f.index, BlockKind::Text);
                        if let Some(text) = block.text.filter(|t| !t.is_empty()) {
                            events.push(StreamEvent::Text(text));
                        }
                    }
                }
            }
            "content_block_delta" => {
                let Some(delta) = f.delta else {
                    return Ok(events);
                };
                let kind = self
                    .blocks
                    .get(&f.index)
                    .copied()
                    .unwrap_or(BlockKind::Text);
                match (delta.kind.as_deref(), kind) {
                    (Some("text_delta"), _) => {
                        if let Some(text) = delta.text.filter(|t| !t.is_empty()) {
                            events.push(StreamEvent::Text(text));
                        }
                    }
                    (Some("input_json_delta"), BlockKind::Tool(index)) => {
                        if let Some(fragment) = delta.partial_json.filter(|t| !t.is_empty()) {
                            events.push(StreamEvent::ToolArgs { index, fragment });
                        }
                    }
                    (Some("input_json_delta"), BlockKind::JsonOutput) => {
                        if let Some(text) = delta.partial_json.filter(|t| !t.is_empty()) {
                            events.push(StreamEvent::Text(text));
                        }
                    }
                    _ => {}
                }
            }
            "message_delta" => {
                if let Some(d) = f.delta {
                    if d.stop_reason.is_some() {
                        let mut finish =
                            parse_stop_reason(d.stop_reason.as_deref(), d.stop_sequence);
                        if finish == FinishReason::ToolCalls && self.tool_calls == 0 {
                            finish = FinishReason::Stop;
                        }
                        events.push(StreamEvent::Finish(finish));
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
    use crate::shapes::{ResponseFormat, Tool};

    #[test]
    fn system_turns_are_hoisted_and_same_role_turns_merged() {
        let req = ChatRequest {
            messages: vec![
                Message::text(Role::System, "be brief"),
                Message::text(Role::User, "a"),
                Message::text(Role::User, "b"),
                Message::text(Role::System, "no emojis"),
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

    #[test]
    fn tool_results_and_calls_become_blocks_and_json_output_a_forced_tool() {
        let req = ChatRequest {
            messages: vec![
                Message::text(Role::User, "weather?"),
                Message {
                    role: Role::Assistant,
                    tool_calls: vec![ToolCall {
                        id: "call_1".into(),
                        name: "w".into(),
                        arguments: r#"{"city":"Paris"}"#.into(),
                    }],
                    ..Default::default()
                },
                Message {
                    role: Role::Tool,
                    parts: vec![Part::Text("sunny".into())],
                    tool_call_id: Some("call_1".into()),
                    ..Default::default()
                },
                Message::text(Role::User, "and tomorrow?"),
            ],
            tools: vec![Tool {
                name: "w".into(),
                description: None,
                parameters: json!({"type":"object"}),
                strict: None,
            }],
            response_format: Some(ResponseFormat::JsonObject),
            ..Default::default()
        };
        let body = upstream_body(&req, "m");
        assert_eq!(
            body["messages"][1]["content"][0],
            json!({"type":"tool_use","id":"call_1","name":"w","input":{"city":"Paris"}})
        );
        assert_eq!(body["messages"][2]["content"][0]["type"], "tool_result");
        assert_eq!(
            body["messages"][2]["content"][1],
            json!({"type":"text","text":"and tomorrow?"})
        );
        assert_eq!(body["tools"][1]["name"], JSON_OUTPUT_TOOL);
        assert_eq!(
            body["tool_choice"],
            json!({"type":"tool","name":JSON_OUTPUT_TOOL})
        );
    }
}
