//! The canonical chat request and response every ingress parses into and every provider
//! adapter renders from, plus the wire shapes of each API.

pub mod anthropic;
pub mod cohere;
pub mod openai;
pub mod stream;

use aig_common::catalog::TokenUsage;
use serde_json::{Map, Value};

/// The three wire shapes AIgateway speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    OpenAi,
    Anthropic,
    Cohere,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    System,
    User,
    Assistant,
}

impl Role {
    /// The role as OpenAI-compatible and Cohere messages write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
        }
    }
}

/// One turn of the conversation. System turns stay in place; adapters whose API wants a
/// single top-level system prompt hoist them.
#[derive(Clone, Debug, PartialEq)]
pub struct Message {
    pub role: Role,
    pub text: String,
}

/// A chat request, independent of the shape it arrived in.
#[derive(Clone, Debug, Default)]
pub struct ChatRequest {
    pub messages: Vec<Message>,
    pub max_tokens: Option<u32>,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub stop: Vec<String>,
    pub stream: bool,
    /// The caller's end-user id, forwarded where the upstream has a field for it.
    pub user: Option<String>,
    /// Fields the gateway does not interpret, forwarded verbatim to upstreams of the
    /// shape they arrived in and dropped for the others.
    pub passthrough: Option<Passthrough>,
}

#[derive(Clone, Debug)]
pub struct Passthrough {
    pub shape: Shape,
    pub fields: Map<String, Value>,
}

impl ChatRequest {
    /// Unknown fields to merge into a body of `shape`, if they came in that shape.
    pub fn passthrough_for(&self, shape: Shape) -> Option<&Map<String, Value>> {
        self.passthrough
            .as_ref()
            .filter(|p| p.shape == shape)
            .map(|p| &p.fields)
    }

    /// The system turns joined, for APIs with one top-level system prompt.
    pub fn system_text(&self) -> Option<String> {
        let parts: Vec<&str> = self
            .messages
            .iter()
            .filter(|m| m.role == Role::System)
            .map(|m| m.text.as_str())
            .collect();
        (!parts.is_empty()).then(|| parts.join("\n\n"))
    }

    /// The start of an upstream body for APIs whose turns are `{role, content}` messages
    /// (OpenAI-compatible, Cohere v2): passthrough fields, `model`, `messages`.
    pub fn body_start(&self, shape: Shape, model: &str) -> Map<String, Value> {
        let messages: Vec<Value> = self
            .messages
            .iter()
            .map(|m| serde_json::json!({ "role": m.role.as_str(), "content": m.text }))
            .collect();
        let mut body = self.passthrough_for(shape).cloned().unwrap_or_default();
        body.insert("model".into(), Value::from(model));
        body.insert("messages".into(), Value::Array(messages));
        body
    }

    /// Rough size of the prompt in characters (for estimates, not billing).
    pub fn prompt_chars(&self) -> usize {
        self.messages.iter().map(|m| m.text.len()).sum()
    }
}

/// Why generation stopped, in the gateway's own terms.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FinishReason {
    /// Natural end of the turn.
    Stop,
    /// One of the caller's stop sequences matched.
    StopSequence(Option<String>),
    /// `max_tokens` reached.
    Length,
    /// The provider's safety system withheld or cut the answer.
    ContentFilter,
    ToolCalls,
}

/// A finished, non-streaming answer.
#[derive(Clone, Debug)]
pub struct ChatResponse {
    /// The upstream's id for the answer.
    pub id: String,
    pub text: String,
    pub finish: FinishReason,
    pub usage: TokenUsage,
}

/// An upstream error, parsed from whichever shape it came in.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UpstreamError {
    /// The provider's error type (`rate_limit_error`, `invalid_request_error`, …).
    pub kind: Option<String>,
    pub message: String,
    pub code: Option<String>,
    pub param: Option<String>,
}

/// AIgateway's `provider` body object: keep or drop chain entries by provider slug.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderFilter {
    #[serde(default)]
    pub only: Vec<String>,
    #[serde(default)]
    pub ignore: Vec<String>,
}

/// What an ingress hands to the chain besides the canonical request.
#[derive(Debug)]
pub struct Ingress {
    /// The primary slug.
    pub model: String,
    /// The body's explicit chain after `model`.
    pub models: Vec<String>,
    pub provider: ProviderFilter,
    pub request: ChatRequest,
    /// The caller asked for OpenAI's usage chunk in a stream.
    pub include_usage: bool,
}

/// Turns a JSON body into `T`, naming the field that was wrong.
pub fn from_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        if path == "." || path.is_empty() {
            e.inner().to_string()
        } else {
            format!("{path}: {}", e.inner())
        }
    })
}
