//! Anthropic Messages wire shapes, as the upstream side of the Anthropic adapter speaks them.

use super::{ChatRequest, ChatResponse, FinishReason, Role, Shape, UpstreamError};
use aig_common::catalog::TokenUsage;
use serde::Deserialize;
use serde_json::{json, Map, Value};

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
