//! Adapter for Anthropic's Messages API.

use super::{join, Adapter};
use crate::shapes::stream::StreamParser;
use crate::shapes::{anthropic, ChatRequest, ChatResponse, Shape, UpstreamError};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use url::Url;

/// The API version this adapter speaks, whatever version the caller sent us.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";

pub struct AnthropicAdapter;

impl Adapter for AnthropicAdapter {
    fn shape(&self) -> Shape {
        Shape::Anthropic
    }

    fn chat_url(&self, base: &Url) -> String {
        join(base, "/v1/messages")
    }

    fn models_url(&self, base: &Url) -> String {
        join(base, "/v1/models")
    }

    fn authorize(
        &self,
        builder: reqwest::RequestBuilder,
        key: Option<&SecretString>,
    ) -> reqwest::RequestBuilder {
        let builder = builder.header("anthropic-version", ANTHROPIC_VERSION);
        match key {
            Some(k) => builder.header("x-api-key", k.expose_secret()),
            None => builder,
        }
    }

    fn request_body(&self, req: &ChatRequest, upstream_model: &str) -> Value {
        anthropic::upstream_body(req, upstream_model)
    }

    fn parse_response(&self, body: &[u8], req: &ChatRequest) -> Result<ChatResponse, String> {
        anthropic::parse_upstream_response(body, req)
    }

    fn stream_parser(&self, req: &ChatRequest) -> Box<dyn StreamParser> {
        Box::new(anthropic::UpstreamStreamParser::new(req))
    }

    fn parse_error(&self, body: &[u8]) -> Option<UpstreamError> {
        anthropic::parse_upstream_error(body)
    }
}
