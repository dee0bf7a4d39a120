//! The canonical chat request and answer: what every ingress parses into and every adapter
//! renders from — turns with text, images, tool calls and tool results; tool definitions;
//! structured-output requests.

use super::Shape;
use aig_common::catalog::TokenUsage;
use serde_json::{Map, Value};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Role {
    System,
    #[default]
    User,
    Assistant,
    /// A tool's result, answering one of the assistant's tool calls.
    Tool,
}

impl Role {
    /// The role as OpenAI-compatible and Cohere messages write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::Tool => "tool",
        }
    }
}

/// An image in a user turn.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Image {
    /// An `http(s)://` URL the provider fetches.
    Url(String),
    /// Inline bytes, base64-encoded.
    Base64 { media_type: String, data: String },
}

impl Image {
    /// As an OpenAI `image_url.url`: the URL, or a `data:` URL for inline bytes.
    pub fn to_url(&self) -> String {
        match self {
            Image::Url(url) => url.clone(),
            Image::Base64 { media_type, data } => format!("data:{media_type};base64,{data}"),
        }
    }

    /// Reads an OpenAI `image_url.url`: `data:<type>;base64,<data>` or an http(s) URL.
    pub fn from_url(url: &str) -> Result<Self, String> {
        if let Some(rest) = url.strip_prefix("data:") {
            let (media_type, data) = rest
                .split_once(";base64,")
                .ok_or("a data: URL must be data:<media type>;base64,<data>")?;
            if !media_type.starts_with("image/") || data.is_empty() {
                return Err("a data: URL must carry base64 image bytes".into());
            }
            return Ok(Image::Base64 {
                media_type: media_type.into(),
                data: data.into(),
            });
        }
        if url.starts_with("https://") || url.starts_with("http://") {
            return Ok(Image::Url(url.into()));
        }
        Err("an image URL must be http(s):// or a data: URL".into())
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Part {
    Text(String),
    Image(Image),
}

/// A tool the assistant called; `arguments` is the JSON text exactly as the model wrote it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    pub arguments: String,
}

/// One turn of the conversation. System turns stay in place; adapters whose API wants a
/// single top-level system prompt hoist them.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Message {
    pub role: Role,
    pub parts: Vec<Part>,
    /// Assistant turns: the tools it called.
    pub tool_calls: Vec<ToolCall>,
    /// Tool turns: the call this answers.
    pub tool_call_id: Option<String>,
    /// Tool turns: the tool failed (Anthropic `is_error`).
    pub is_error: bool,
}

impl Message {
    pub fn new(role: Role, parts: Vec<Part>) -> Self {
        Self {
            role,
            parts,
            ..Default::default()
        }
    }

    pub fn text(role: Role, text: impl Into<String>) -> Self {
        Self::new(role, vec![Part::Text(text.into())])
    }

    /// The text parts joined by newlines (images left out), for APIs that want one string.
    pub fn joined_text(&self) -> String {
        self.parts
            .iter()
            .filter_map(|p| match p {
                Part::Text(t) => Some(t.as_str()),
                Part::Image(_) => None,
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    pub fn has_images(&self) -> bool {
        self.parts.iter().any(|p| matches!(p, Part::Image(_)))
    }
}

/// A function the model may call.
#[derive(Clone, Debug, PartialEq)]
pub struct Tool {
    pub name: String,
    pub description: Option<String>,
    /// JSON Schema of the arguments.
    pub parameters: Value,
    /// OpenAI strict mode: arguments must follow the schema exactly (forwarded to
    /// OpenAI-shaped upstreams; the others have no such switch).
    pub strict: Option<bool>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ToolChoice {
    Auto,
    None,
    /// Some tool must be called.
    Required,
    /// This tool must be called.
    Named(String),
}

/// A request for JSON output.
#[derive(Clone, Debug, PartialEq)]
pub enum ResponseFormat {
    JsonObject,
    JsonSchema {
        name: String,
        schema: Value,
        strict: Option<bool>,
    },
}

impl ResponseFormat {
    /// The schema the answer must follow (`{"type":"object"}` for plain JSON objects).
    pub fn schema(&self) -> Value {
        match self {
            ResponseFormat::JsonObject => serde_json::json!({ "type": "object" }),
            ResponseFormat::JsonSchema { schema, .. } => schema.clone(),
        }
    }
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
    pub tools: Vec<Tool>,
    pub tool_choice: Option<ToolChoice>,
    /// `false` asks for at most one tool call per turn.
    pub parallel_tool_calls: Option<bool>,
    pub response_format: Option<ResponseFormat>,
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
        let parts: Vec<String> = self
            .messages
            .iter()
            .filter(|m| m.role == Role::System)
            .map(Message::joined_text)
            .collect();
        (!parts.is_empty()).then(|| parts.join("\n\n"))
    }

    pub fn has_images(&self) -> bool {
        self.messages.iter().any(Message::has_images)
    }

    /// Rough size of the prompt in characters (for estimates, not billing).
    pub fn prompt_chars(&self) -> usize {
        let turns: usize = self
            .messages
            .iter()
            .map(|m| {
                m.joined_text().len()
                    + m.tool_calls
                        .iter()
                        .map(|c| c.arguments.len() + c.name.len())
                        .sum::<usize>()
            })
            .sum();
        let tools: usize = self
            .tools
            .iter()
            .map(|t| t.parameters.to_string().len())
            .sum();
        turns + tools
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
    pub tool_calls: Vec<ToolCall>,
    pub finish: FinishReason,
    pub usage: TokenUsage,
}

/// The name of the tool the gateway adds to make a provider without a JSON mode answer
/// in JSON (its input is the answer).
pub const JSON_OUTPUT_TOOL: &str = "json_output";
