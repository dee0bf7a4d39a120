//! The Anthropic ingress: callers' Messages requests in, `message` answers and Messages
//! event streams out.

use super::{part_block, stop_reason, tool_input, usage_json, WireImageSource};
use crate::shapes::openai::OutFrame;
use crate::shapes::stream::{StreamEvent, StreamTally};
use crate::shapes::{
    from_json, ChatRequest, ChatResponse, FinishReason, Ingress, Message, Part, Passthrough,
    ProviderFilter, Role, Shape, Tool, ToolCall, ToolChoice,
};
use aig_common::catalog::TokenUsage;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::collections::HashMap;

/// Gateway-only fields that must never be forwarded upstream.
const GATEWAY_FIELDS: [&str; 2] = ["models", "provider"];

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
    tools: Option<Vec<WireTool>>,
    tool_choice: Option<WireToolChoice>,
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
    source: Option<WireImageSource>,
    id: Option<String>,
    name: Option<String>,
    input: Option<Value>,
    tool_use_id: Option<String>,
    content: Option<Content>,
    #[serde(default)]
    is_error: bool,
}

#[derive(Deserialize)]
struct WireTool {
    #[serde(rename = "type")]
    kind: Option<String>,
    name: String,
    description: Option<String>,
    input_schema: Option<Value>,
}

#[derive(Deserialize)]
struct WireToolChoice {
    #[serde(rename = "type")]
    kind: String,
    name: Option<String>,
    #[serde(default)]
    disable_parallel_tool_use: bool,
}

/// Text and image blocks (a system prompt, a tool result's content).
fn plain_parts(content: Content, at: &str) -> Result<Vec<Part>, String> {
    match content {
        Content::Text(t) => Ok(vec![Part::Text(t)]),
        Content::Blocks(blocks) => blocks
            .into_iter()
            .enumerate()
            .map(|(j, b)| match (b.kind.as_str(), b.text, b.source) {
                ("text", Some(t), _) => Ok(Part::Text(t)),
                ("image", _, Some(source)) => source
                    .to_image()
                    .map(Part::Image)
                    .map_err(|e| format!("{at}[{j}].{e}")),
                ("text", None, _) => Err(format!("{at}[{j}].text: is required")),
                ("image", _, None) => Err(format!("{at}[{j}].source: is required")),
                (other, _, _) => Err(format!(
                    "{at}[{j}].type: {other:?} blocks are not supported here"
                )),
            })
            .collect(),
    }
}

/// One caller turn as canonical messages: a user turn's `tool_result` blocks become tool
/// turns (in order, before the rest of the turn).
fn turns_from_wire(i: usize, m: IngressMessage, out: &mut Vec<Message>) -> Result<(), String> {
    let at = format!("messages[{i}].content");
    let role = match m.role.as_str() {
        "user" => Role::User,
        "assistant" => Role::Assistant,
        other => {
            return Err(format!(
                "messages[{i}].role: {other:?} is not supported; use user or assistant (system goes in the top-level system field)"
            ))
        }
    };
    let blocks = match m.content {
        Content::Text(t) => {
            out.push(Message::text(role, t));
            return Ok(());
        }
        Content::Blocks(blocks) => blocks,
    };
    let mut turn = Message {
        role,
        ..Default::default()
    };
    for (j, b) in blocks.into_iter().enumerate() {
        match (b.kind.as_str(), role) {
            ("text", _) => turn.parts.push(Part::Text(
                b.text
                    .ok_or_else(|| format!("{at}[{j}].text: is required"))?,
            )),
            ("image", Role::User) => {
                let source = b
                    .source
                    .ok_or_else(|| format!("{at}[{j}].source: is required"))?;
                turn.parts.push(Part::Image(
                    source.to_image().map_err(|e| format!("{at}[{j}].{e}"))?,
                ));
            }
            ("tool_use", Role::Assistant) => turn.tool_calls.push(ToolCall {
                id: b.id.ok_or_else(|| format!("{at}[{j}].id: is required"))?,
                name: b
                    .name
                    .ok_or_else(|| format!("{at}[{j}].name: is required"))?,
                arguments: b.input.unwrap_or_else(|| json!({})).to_string(),
            }),
            ("tool_result", Role::User) => {
                let id = b
                    .tool_use_id
                    .ok_or_else(|| format!("{at}[{j}].tool_use_id: is required"))?;
                let parts = match b.content {
                    Some(c) => plain_parts(c, &format!("{at}[{j}].content"))?,
                    None => Vec::new(),
                };
                out.push(Message {
                    role: Role::Tool,
                    parts,
                    tool_calls: Vec::new(),
                    tool_call_id: Some(id),
                    is_error: b.is_error,
                });
            }
            (other, _) => {
                return Err(format!(
                    "{at}[{j}].type: {other:?} blocks are not supported in {} turns",
                    m.role
                ))
            }
        }
    }
    if !turn.parts.is_empty() || !turn.tool_calls.is_empty() {
        out.push(turn);
    }
    Ok(())
}

fn tool_choice_from_wire(w: WireToolChoice) -> Result<(ToolChoice, Option<bool>), String> {
    let choice = match (w.kind.as_str(), w.name) {
        ("auto", _) => ToolChoice::Auto,
        ("any", _) => ToolChoice::Required,
        ("none", _) => ToolChoice::None,
        ("tool", Some(name)) => ToolChoice::Named(name),
        ("tool", None) => return Err("tool_choice.name: is required for type tool".into()),
        (other, _) => {
            return Err(format!(
                "tool_choice.type: {other:?}; use auto, any, tool or none"
            ))
        }
    };
    Ok((choice, w.disable_parallel_tool_use.then_some(false)))
}

/// Parses and validates a caller's Messages body.
pub fn parse_request(body: &[u8]) -> Result<Ingress, String> {
    let wire: MessagesRequest = from_json(body)?;
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
        let parts = plain_parts(system, "system")?;
        if parts.iter().any(|p| matches!(p, Part::Image(_))) {
            return Err("system: only text blocks are allowed".into());
        }
        let system = Message::new(Role::System, parts);
        if !system.joined_text().is_empty() {
            messages.push(system);
        }
    }
    for (i, m) in wire.messages.into_iter().enumerate() {
        turns_from_wire(i, m, &mut messages)?;
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
    let mut tools = Vec::new();
    for (i, t) in wire.tools.unwrap_or_default().into_iter().enumerate() {
        if let Some(kind) = t.kind.filter(|k| k != "custom") {
            return Err(format!(
                "tools[{i}].type: {kind:?} server tools are not supported; define custom tools"
            ));
        }
        tools.push(Tool {
            name: t.name,
            description: t.description,
            parameters: t
                .input_schema
                .ok_or_else(|| format!("tools[{i}].input_schema: is required"))?,
            strict: None,
        });
    }
    let (tool_choice, parallel_tool_calls) = match wire.tool_choice {
        Some(w) => {
            let (choice, parallel) = tool_choice_from_wire(w)?;
            (Some(choice), parallel)
        }
        None => (None, None),
    };
    if let Some(ToolChoice::Named(name)) = &tool_choice {
        if !tools.iter().any(|t| &t.name == name) {
            return Err(format!("tool_choice.name: {name:?} is not in tools"));
        }
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
            tools,
            tool_choice,
            parallel_tool_calls,
            response_format: None,
            passthrough: (!extra.is_empty()).then_some(Passthrough {
                shape: Shape::Anthropic,
                fields: extra,
            }),
        },
    })
}

/// The caller-facing answer: an Anthropic `message` with `model` set to the winner.
pub fn render_response(resp: &ChatResponse, id: &str, model: &str) -> Value {
    let (reason, sequence) = stop_reason(&resp.finish);
    let mut content: Vec<Value> = Vec::new();
    if !resp.text.is_empty() {
        content.push(part_block(&Part::Text(resp.text.clone())));
    }
    for call in &resp.tool_calls {
        content.push(json!({
            "type": "tool_use", "id": call.id, "name": call.name, "input": tool_input(&call.arguments),
        }));
    }
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

#[derive(Clone, Copy, PartialEq, Eq)]
enum OpenBlock {
    Text(usize),
    Tool(usize),
}

/// Renders the canonical stream as Anthropic Messages events: one content block per text
/// run or tool call, in order. `message_start` waits for the first content so it can carry
/// the input tokens the upstream reported before it.
pub struct StreamRenderer {
    id: String,
    model: String,
    started: bool,
    open: Option<OpenBlock>,
    next_block: usize,
    /// Canonical tool-call index → content block index.
    tool_blocks: HashMap<usize, usize>,
}

impl StreamRenderer {
    pub fn new(id: String, model: String) -> Self {
        Self {
            id,
            model,
            started: false,
            open: None,
            next_block: 0,
            tool_blocks: HashMap::new(),
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

    fn close(&mut self, out: &mut Vec<OutFrame>) {
        if let Some(OpenBlock::Text(i) | OpenBlock::Tool(i)) = self.open.take() {
            out.push(Self::frame(
                "content_block_stop",
                json!({ "type": "content_block_stop", "index": i }),
            ));
        }
    }

    fn open(&mut self, block: Value, out: &mut Vec<OutFrame>) -> usize {
        self.close(out);
        let index = self.next_block;
        self.next_block += 1;
        out.push(Self::frame(
            "content_block_start",
            json!({ "type": "content_block_start", "index": index, "content_block": block }),
        ));
        index
    }

    pub fn event(&mut self, event: &StreamEvent, tally: &StreamTally) -> Vec<OutFrame> {
        let mut out = Vec::new();
        match event {
            StreamEvent::Text(text) if !text.is_empty() => {
                self.start(tally, &mut out);
                let index = match self.open {
                    Some(OpenBlock::Text(i)) => i,
                    _ => {
                        let i = self.open(json!({ "type": "text", "text": "" }), &mut out);
                        self.open = Some(OpenBlock::Text(i));
                        i
                    }
                };
                out.push(Self::frame(
                    "content_block_delta",
                    json!({ "type": "content_block_delta", "index": index, "delta": { "type": "text_delta", "text": text } }),
                ));
            }
            StreamEvent::ToolCallStart { index, id, name } => {
                self.start(tally, &mut out);
                let block = self.open(
                    json!({ "type": "tool_use", "id": id, "name": name, "input": {} }),
                    &mut out,
                );
                self.open = Some(OpenBlock::Tool(block));
                self.tool_blocks.insert(*index, block);
            }
            StreamEvent::ToolArgs { index, fragment } => {
                if let Some(block) = self.tool_blocks.get(index).copied() {
                    out.push(Self::frame(
                        "content_block_delta",
                        json!({ "type": "content_block_delta", "index": block, "delta": { "type": "input_json_delta", "partial_json": fragment } }),
                    ));
                }
            }
            _ => {}
        }
        out
    }

    /// The clean end: close the open block, `message_delta` with the stop reason and
    /// usage, `message_stop`.
    pub fn end(&mut self, tally: &StreamTally, usage: &TokenUsage) -> Vec<OutFrame> {
        let mut out = Vec::new();
        self.start(tally, &mut out);
        self.close(&mut out);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_results_become_tool_turns_before_the_rest_of_the_user_turn() {
        let body = br#"{"model":"a/b","max_tokens":10,"messages":[
            {"role":"user","content":"weather?"},
            {"role":"assistant","content":[{"type":"text","text":"checking"},{"type":"tool_use","id":"toolu_1","name":"w","input":{"city":"Paris"}}]},
            {"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":"sunny"},{"type":"text","text":"thanks"}]}],
            "tools":[{"name":"w","input_schema":{"type":"object"}}],
            "tool_choice":{"type":"any","disable_parallel_tool_use":true}}"#;
        let r = parse_request(body).unwrap().request;
        assert_eq!(r.messages.len(), 4);
        assert_eq!(r.messages[1].tool_calls[0].arguments, r#"{"city":"Paris"}"#);
        assert_eq!(r.messages[2].role, Role::Tool);
        assert_eq!(r.messages[2].tool_call_id.as_deref(), Some("toolu_1"));
        assert_eq!(r.messages[3].joined_text(), "thanks");
        assert_eq!(r.tool_choice, Some(ToolChoice::Required));
        assert_eq!(r.parallel_tool_calls, Some(false));
    }
}
