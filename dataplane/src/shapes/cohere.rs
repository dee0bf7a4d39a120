//! Cohere v2 chat wire shapes, as the upstream side of the Cohere adapter speaks them.

use super::stream::{StreamEvent, StreamParser};
use super::{ChatRequest, ChatResponse, FinishReason, Role, Shape, UpstreamError};
use crate::providers::sse::SseFrame;
use aig_common::catalog::TokenUsage;
use serde::Deserialize;
use serde_json::{json, Map, Value};

/// The body sent to Cohere's `/v2/chat`.
pub fn upstream_body(req: &ChatRequest, model: &str) -> Value {
    let messages: Vec<Value> = req
        .messages
        .iter()
        .map(|m| {
            let role = match m.role {
                Role::System => "system",
                Role::User => "user",
                Role::Assistant => "assistant",
            };
            json!({ "role": role, "content": m.text })
        })
        .collect();
    let mut body = Map::new();
    if let Some(extra) = req.passthrough_for(Shape::Cohere) {
        body.extend(extra.clone());
    }
    body.insert("model".into(), json!(model));
    body.insert("messages".into(), Value::Array(messages));
    if let Some(n) = req.max_tokens {
        body.insert("max_tokens".into(), json!(n));
    }
    if let Some(t) = req.temperature {
        body.insert("temperature".into(), json!(t.clamp(0.0, 1.0)));
    }
    if let Some(p) = req.top_p {
        // Cohere accepts p in 0.01–0.99.
        body.insert("p".into(), json!(p.clamp(0.01, 0.99)));
    }
    if !req.stop.is_empty() {
        body.insert("stop_sequences".into(), json!(req.stop));
    }
    body.insert("stream".into(), json!(req.stream));
    Value::Object(body)
}

#[derive(Deserialize)]
struct WireResponse {
    #[serde(default)]
    id: String,
    finish_reason: Option<String>,
    message: WireMessage,
    #[serde(default)]
    usage: WireUsage,
}

#[derive(Deserialize)]
struct WireMessage {
    #[serde(default)]
    content: Vec<WireBlock>,
}

#[derive(Deserialize)]
struct WireBlock {
    #[serde(rename = "type")]
    kind: String,
    text: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct WireUsage {
    pub billed_units: Option<WireTokens>,
    pub tokens: Option<WireTokens>,
}

#[derive(Deserialize, Default, Clone, Copy)]
pub struct WireTokens {
    #[serde(default)]
    pub input_tokens: f64,
    #[serde(default)]
    pub output_tokens: f64,
}

impl WireUsage {
    /// Billed units are what Cohere charges for; raw token counts are the fallback.
    pub fn to_tokens(&self) -> TokenUsage {
        let t = self.billed_units.or(self.tokens).unwrap_or_default();
        // Cohere sends counts as JSON numbers that may carry a fraction part (e.g. 12.0).
        let whole = |x: f64| {
            if x.is_finite() && x > 0.0 {
                x.round() as u64
            } else {
                0
            }
        };
        TokenUsage {
            input: whole(t.input_tokens),
            cache_read: 0,
            cache_write: 0,
            output: whole(t.output_tokens),
        }
    }
}

pub fn parse_finish_reason(raw: Option<&str>) -> FinishReason {
    match raw {
        Some("MAX_TOKENS") => FinishReason::Length,
        Some("STOP_SEQUENCE") => FinishReason::StopSequence(None),
        Some("TOOL_CALL") => FinishReason::ToolCalls,
        Some("ERROR_TOXIC") | Some("CONTENT_BLOCKED") | Some("content_blocked") => {
            FinishReason::ContentFilter
        }
        _ => FinishReason::Stop,
    }
}

/// Parses Cohere's 200 body.
pub fn parse_upstream_response(body: &[u8]) -> Result<ChatResponse, String> {
    let wire: WireResponse = super::from_json(body)?;
    let text = wire
        .message
        .content
        .iter()
        .filter(|b| b.kind == "text")
        .filter_map(|b| b.text.as_deref())
        .collect::<String>();
    Ok(ChatResponse {
        id: wire.id,
        text,
        finish: parse_finish_reason(wire.finish_reason.as_deref()),
        usage: wire.usage.to_tokens(),
    })
}

#[derive(Deserialize)]
struct WireError {
    message: String,
}

/// Parses Cohere's `{"message": …}` error body; `None` when it is not one.
pub fn parse_upstream_error(body: &[u8]) -> Option<UpstreamError> {
    let wire: WireError = serde_json::from_slice(body).ok()?;
    Some(UpstreamError {
        message: wire.message,
        ..Default::default()
    })
}

#[derive(Deserialize)]
struct StreamFrame {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    id: Option<String>,
    delta: Option<StreamDelta>,
}

#[derive(Deserialize)]
struct StreamDelta {
    message: Option<StreamDeltaMessage>,
    finish_reason: Option<String>,
    usage: Option<WireUsage>,
}

#[derive(Deserialize)]
struct StreamDeltaMessage {
    content: Option<StreamDeltaContent>,
}

#[derive(Deserialize)]
struct StreamDeltaContent {
    text: Option<String>,
}

/// Reads Cohere v2 chat stream events.
#[derive(Default)]
pub struct UpstreamStreamParser;

impl StreamParser for UpstreamStreamParser {
    fn parse(&mut self, frame: &SseFrame) -> Result<Vec<StreamEvent>, String> {
        let f: StreamFrame =
            serde_json::from_str(&frame.data).map_err(|e| format!("malformed event: {e}"))?;
        let mut events = Vec::new();
        match f.kind.as_str() {
            "message-start" => events.push(StreamEvent::Start {
                id: f.id.unwrap_or_default(),
            }),
            "content-start" | "content-delta" => {
                let text = f
                    .delta
                    .and_then(|d| d.message)
                    .and_then(|m| m.content)
                    .and_then(|c| c.text)
                    .filter(|t| !t.is_empty());
                if let Some(text) = text {
                    events.push(StreamEvent::Text(text));
                }
            }
            "message-end" => {
                if let Some(d) = f.delta {
                    events.push(StreamEvent::Finish(parse_finish_reason(
                        d.finish_reason.as_deref(),
                    )));
                    if let Some(u) = d.usage {
                        events.push(StreamEvent::Usage(u.to_tokens().into()));
                    }
                }
                events.push(StreamEvent::Done);
            }
            // tool-plan, citation and other event types carry nothing we need here.
            _ => {}
        }
        Ok(events)
    }
}
