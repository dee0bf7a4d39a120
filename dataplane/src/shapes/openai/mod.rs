//! OpenAI chat-completions wire shapes: the caller-facing side (`ingress`), the body
//! OpenAI-compatible upstreams speak (`upstream`), and the pieces both share — the message,
//! tool and tool-call formats (Cohere v2 reuses them).

mod ingress;
mod upstream;

pub use ingress::{finish_reason, parse_request, render_response, StreamRenderer};
pub use upstream::{
    parse_finish_reason, parse_upstream_error, parse_upstream_response, upstream_body,
    UpstreamStreamParser, UpstreamUsage,
};

use super::{Message, Part, Role, Tool, ToolCall};
use aig_common::catalog::TokenUsage;
use serde::Deserialize;
use serde_json::{json, Value};

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

/// The caller-facing error body.
pub fn error_body(message: &str, kind: &str, code: Option<&str>, param: Option<&str>) -> Value {
    json!({ "error": { "message": message, "type": kind, "code": code, "param": param } })
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

/// `tool_calls` as OpenAI (and Cohere v2) write them.
pub fn tool_calls_json(calls: &[ToolCall]) -> Value {
    Value::Array(
        calls
            .iter()
            .map(|c| {
                json!({
                    "id": c.id,
                    "type": "function",
                    "function": { "name": c.name, "arguments": c.arguments },
                })
            })
            .collect(),
    )
}

/// `tools` as OpenAI (and Cohere v2) define them.
pub fn tools_json(tools: &[Tool]) -> Value {
    Value::Array(
        tools
            .iter()
            .map(|t| {
                let mut function = serde_json::Map::new();
                function.insert("name".into(), json!(t.name));
                if let Some(d) = &t.description {
                    function.insert("description".into(), json!(d));
                }
                function.insert("parameters".into(), t.parameters.clone());
                if let Some(strict) = t.strict {
                    function.insert("strict".into(), json!(strict));
                }
                json!({ "type": "function", "function": function })
            })
            .collect(),
    )
}

/// A content value: a plain string for a single text part, else typed parts (so separate
/// text blocks stay separate).
pub fn content_json(parts: &[Part]) -> Value {
    match parts {
        [] => return json!(""),
        [Part::Text(text)] => return json!(text),
        _ => {}
    }
    Value::Array(
        parts
            .iter()
            .map(|p| match p {
                Part::Text(t) => json!({ "type": "text", "text": t }),
                Part::Image(image) => {
                    json!({ "type": "image_url", "image_url": { "url": image.to_url() } })
                }
            })
            .collect(),
    )
}

/// One turn as OpenAI-compatible (and Cohere v2) messages write it.
pub fn message_json(m: &Message) -> Value {
    match m.role {
        Role::Tool => json!({
            "role": "tool",
            "tool_call_id": m.tool_call_id.clone().unwrap_or_default(),
            "content": m.joined_text(),
        }),
        Role::Assistant if !m.tool_calls.is_empty() => {
            let text = m.joined_text();
            json!({
                "role": "assistant",
                "content": if text.is_empty() { Value::Null } else { json!(text) },
                "tool_calls": tool_calls_json(&m.tool_calls),
            })
        }
        role => json!({ "role": role.as_str(), "content": content_json(&m.parts) }),
    }
}

#[derive(Debug, Deserialize)]
pub struct WireToolCall {
    #[serde(default)]
    pub id: String,
    pub function: WireFunctionCall,
}

#[derive(Debug, Deserialize)]
pub struct WireFunctionCall {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub arguments: String,
}

impl From<WireToolCall> for ToolCall {
    fn from(w: WireToolCall) -> Self {
        ToolCall {
            id: w.id,
            name: w.function.name,
            arguments: w.function.arguments,
        }
    }
}
