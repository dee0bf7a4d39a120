//! Adapter for OpenAI and the OpenAI-compatible providers (Moonshot, Mistral, Groq, …).

use super::{join, Adapter};
use crate::shapes::stream::StreamParser;
use crate::shapes::{openai, ChatRequest, ChatResponse, Shape, UpstreamError};
use secrecy::SecretString;
use serde_json::Value;
use url::Url;

pub struct OpenAiAdapter;

impl Adapter for OpenAiAdapter {
    fn shape(&self) -> Shape {
        Shape::OpenAi
    }

    fn chat_url(&self, base: &Url) -> String {
        join(base, "/chat/completions")
    }

    fn models_url(&self, base: &Url) -> String {
        join(base, "/models")
    }

    fn authorize(
        &self,
        builder: reqwest::RequestBuilder,
        key: Option<&SecretString>,
    ) -> reqwest::RequestBuilder {
        super::bearer(builder, key)
    }

    fn request_body(&self, req: &ChatRequest, upstream_model: &str) -> Value {
        openai::upstream_body(req, upstream_model)
    }

    fn parse_response(&self, body: &[u8], _req: &ChatRequest) -> Result<ChatResponse, String> {
        openai::parse_upstream_response(body)
    }

    fn stream_parser(&self, _req: &ChatRequest) -> Box<dyn StreamParser> {
        Box::new(openai::UpstreamStreamParser::default())
    }

    fn parse_error(&self, body: &[u8]) -> Option<UpstreamError> {
        openai::parse_upstream_error(body)
    }
}
