//! Adapter for Cohere's v2 chat API.

use super::{join, Adapter};
use crate::shapes::stream::StreamParser;
use crate::shapes::{cohere, ChatRequest, ChatResponse, Shape, UpstreamError};
use secrecy::SecretString;
use serde_json::Value;
use url::Url;

pub struct CohereAdapter;

impl Adapter for CohereAdapter {
    fn shape(&self) -> Shape {
        Shape::Cohere
    }

    fn chat_url(&self, base: &Url) -> String {
        join(base, "/v2/chat")
    }

    fn models_url(&self, base: &Url) -> String {
        join(base, "/v1/models")
    }

    fn authorize(
        &self,
        builder: reqwest::RequestBuilder,
        key: Option<&SecretString>,
    ) -> reqwest::RequestBuilder {
        super::bearer(builder, key)
    }

    fn request_body(&self, req: &ChatRequest, upstream_model: &str) -> Value {
        cohere::upstream_body(req, upstream_model)
    }

    fn parse_response(&self, body: &[u8], _req: &ChatRequest) -> Result<ChatResponse, String> {
        cohere::parse_upstream_response(body)
    }

    fn stream_parser(&self, _req: &ChatRequest) -> Box<dyn StreamParser> {
        Box::new(cohere::UpstreamStreamParser::default())
    }

    fn parse_error(&self, body: &[u8]) -> Option<UpstreamError> {
        cohere::parse_upstream_error(body)
    }
}
