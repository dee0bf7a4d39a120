//! The canonical chat request and response every ingress parses into and every provider
//! adapter renders from, plus the wire shapes of each API.

pub mod anthropic;
mod chat;
pub mod cohere;
pub mod openai;
pub mod stream;

pub use chat::{
    ChatRequest, ChatResponse, FinishReason, Image, Message, Part, Passthrough, ResponseFormat,
    Role, Tool, ToolCall, ToolChoice, JSON_OUTPUT_TOOL,
};

/// The three wire shapes AIgateway speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    OpenAi,
    Anthropic,
    Cohere,
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
