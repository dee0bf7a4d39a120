//! Cohere v2 chat wire shapes, as the upstream side of the Cohere adapter speaks them.

use super::openai::{message_json, tools_json, WireToolCall};
use super::stream::{StreamEvent, StreamParser};
use super::{
    from_json, ChatRequest, ChatResponse, FinishReason, Message, ResponseFormat, Role, Shape,
    ToolChoice, UpstreamError,
};
use crate::providers::sse::SseFrame;
use aig_common::catalog::TokenUsage;
use serde::Deserialize;
use serde_json::{json, Value};

/// A turn as Cohere v2 writes it: the OpenAI form, except that an assistant turn with
/// tool calls carries its text as `tool_plan`.
fn cohere_message(m: &Message) -> Value {
    let mut v = message_json(m);
    if m.role == Role::Assistant && !m.tool_calls.is_empty() {
        if let Some(obj) = v.as_object_mut() {
            let plan = obj.remove("content").filter(|c| !c.is_null());
            if let Some(plan) = plan {
                obj.insert("tool_plan".into(), plan);
            }
        }
    }
    v
}

/// The body sent to Cohere's `/v2/chat`. Cohere has no named tool choice: a named tool
/// becomes `REQUIRED` with only that tool offered, which asks for the same thing.
pub fn upstream_body(req: &ChatRequest, model: &str) -> Value {
    let mut body = req
        .passthrough_for(Shape::Cohere)
        .cloned()
        .unwrap_or_default();
    body.insert("model".into(), json!(model));
    body.insert(
        "messages".into(),
        Value::Array(req.messages.iter().map(cohere_message).collect()),
    );
    if !req.tools.is_empty() {
        let (tools, choice) = match &req.tool_choice {
            Some(ToolChoice::Named(name)) => (
                req.tools
                    .iter()
                    .filter(|t| &t.name == name)
                    .cloned()
                    .collect::<Vec<_>>(),
                Some("REQUIRED"),
            ),
            Some(ToolChoice::Required) => (req.tools.clone(), Some("REQUIRED")),
            Some(ToolChoice::None) => (req.tools.clone(), Some("NONE")),
            Some(ToolChoice::Auto) | None => (req.tools.clone(), None),
        };
        body.insert("tools".into(), tools_json(&tools));
        if let Some(choice) = choice {
            body.insert("tool_choice".into(), json!(choice));
        }
    }
    match &req.response_format {
        Some(ResponseFormat::JsonObject) => {
            body.insert("response_format".into(), json!({ "type": "json_object" }));
        }
        Some(ResponseFormat::JsonSchema { schema, .. }) => {
            body.insert(
                "response_format".into(),
                json!({ "type": "json_object", "json_schema": schema }),
            );
        }
        None => {}
    }
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
    #[serde(default)]
    tool_calls: Vec<WireToolCall>,
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
    let wire: WireResponse = from_json(body)?;
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
        tool_calls: wire
            .message
            .tool_calls
            .into_iter()
            .map(Into::into)
            .collect(),
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
    /// An object with `text` in content events; other events carry other shapes here.
    content: Option<Value>,
    /// One tool call (an object, not a list) in tool-call events.
    tool_calls: Option<Value>,
}

/// Reads Cohere v2 chat stream events.
#[derive(Default)]
pub struct UpstreamStreamParser {
    /// Tool calls started so far (Cohere's `index` counts content items, not calls).
    tool_calls: usize,
}

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
                    .and_then(|c| c.get("text").and_then(Value::as_str).map(str::to_owned))
                    .filter(|t| !t.is_empty());
                if let Some(text) = text {
                    events.push(StreamEvent::Text(text));
                }
            }
            "tool-call-start" | "tool-call-delta" => {
                let call = f.delta.and_then(|d| d.message).and_then(|m| m.tool_calls);
                let Some(call) = call else { return Ok(events) };
                let function = call.get("function");
                let arguments = function
                    .and_then(|f| f.get("arguments"))
                    .and_then(Value::as_str)
                    .filter(|a| !a.is_empty())
                    .map(str::to_owned);
                if f.kind == "tool-call-start" {
                    self.tool_calls += 1;
                    events.push(StreamEvent::ToolCallStart {
                        index: self.tool_calls - 1,
                        id: call
                            .get("id")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_owned(),
                        name: function
                            .and_then(|f| f.get("name"))
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_owned(),
                    });
                }
                if let (Some(fragment), Some(index)) = (arguments, self.tool_calls.checked_sub(1)) {
                    events.push(StreamEvent::ToolArgs { index, fragment });
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_v2_stream_parses_into_start_text_finish_usage_done() {
        let frames = [
            r#"{"type":"message-start","id":"m1","delta":{"message":{"role":"assistant","content":[],"tool_calls":[]}}}"#,
            r#"{"type":"content-start","index":0,"delta":{"message":{"content":{"type":"text","text":""}}}}"#,
            r#"{"type":"content-delta","index":0,"delta":{"message":{"content":{"text":"Hi"}}}}"#,
            r#"{"type":"content-end","index":0}"#,
            r#"{"type":"message-end","delta":{"finish_reason":"MAX_TOKENS","usage":{"billed_units":{"input_tokens":3,"output_tokens":1}}}}"#,
        ];
        let mut parser = UpstreamStreamParser::default();
        let events: Vec<StreamEvent> = frames
            .iter()
            .flat_map(|data| {
                parser
                    .parse(&SseFrame {
                        event: None,
                        data: (*data).into(),
                    })
                    .unwrap()
            })
            .collect();
        assert_eq!(events[0], StreamEvent::Start { id: "m1".into() });
        assert_eq!(events[1], StreamEvent::Text("Hi".into()));
        assert_eq!(events[2], StreamEvent::Finish(FinishReason::Length));
        assert!(
            matches!(events[3], StreamEvent::Usage(u) if u.input == Some(3) && u.output == Some(1))
        );
        assert_eq!(events[4], StreamEvent::Done);
    }
}
