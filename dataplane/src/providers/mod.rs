//! Upstream providers: the adapter trait, one adapter per wire shape, and the registry
//! that maps each provider slug to its endpoint, credential and adapter.

mod anthropic;
mod cohere;
mod openai;
pub mod sse;
pub mod stream;

use crate::shapes::stream::StreamParser;
use crate::shapes::{ChatRequest, ChatResponse, Shape, UpstreamError};
use aig_common::provider::ProviderId;
use secrecy::SecretString;
use serde_json::Value;
use std::collections::HashMap;
use url::Url;

/// How to talk to one wire shape. Adapters are pure: the cascade does the HTTP.
pub trait Adapter: Send + Sync {
    fn shape(&self) -> Shape;
    /// The chat endpoint under the provider's base URL.
    fn chat_url(&self, base: &Url) -> String;
    /// The list-models endpoint (used by health probes; costs no tokens).
    fn models_url(&self, base: &Url) -> String;
    /// Adds the credential and any protocol headers.
    fn authorize(
        &self,
        builder: reqwest::RequestBuilder,
        key: Option<&SecretString>,
    ) -> reqwest::RequestBuilder;
    fn request_body(&self, req: &ChatRequest, upstream_model: &str) -> Value;
    /// Parses a 200 body; `req` is the request it answers (some translations depend on it).
    fn parse_response(&self, body: &[u8], req: &ChatRequest) -> Result<ChatResponse, String>;
    fn parse_error(&self, body: &[u8]) -> Option<UpstreamError>;
    /// A fresh parser for this shape's stream frames, answering `req`.
    fn stream_parser(&self, req: &ChatRequest) -> Box<dyn StreamParser>;
}

/// The public endpoint of each provider, used when `AIG_PROVIDER_<NAME>_BASE_URL` is unset.
pub fn default_base_url(id: ProviderId) -> &'static str {
    match id {
        ProviderId::Openai => "https://api.openai.com/v1",
        ProviderId::Anthropic => "https://api.anthropic.com",
        ProviderId::Moonshot => "https://api.moonshot.ai/v1",
        ProviderId::Cohere => "https://api.cohere.com",
        ProviderId::Google => "https://generativelanguage.googleapis.com/v1beta/openai",
        ProviderId::Mistral => "https://api.mistral.ai/v1",
        ProviderId::Groq => "https://api.groq.com/openai/v1",
        ProviderId::Deepseek => "https://api.deepseek.com/v1",
        ProviderId::Xai => "https://api.x.ai/v1",
        ProviderId::Together => "https://api.together.xyz/v1",
    }
}

pub fn adapter_for(id: ProviderId) -> &'static dyn Adapter {
    match id {
        ProviderId::Anthropic => &anthropic::AnthropicAdapter,
        ProviderId::Cohere => &cohere::CohereAdapter,
        _ => &openai::OpenAiAdapter,
    }
}

/// Where and how one provider is reached.
#[derive(Clone, Debug)]
pub struct ProviderConfig {
    pub base_url: Url,
    pub api_key: Option<SecretString>,
}

/// One provider, ready to call.
pub struct Endpoint {
    pub id: ProviderId,
    pub base_url: Url,
    pub api_key: Option<SecretString>,
    pub adapter: &'static dyn Adapter,
}

/// Every provider's endpoint.
pub struct Registry {
    endpoints: HashMap<ProviderId, Endpoint>,
}

impl Registry {
    pub fn new(configs: &HashMap<ProviderId, ProviderConfig>) -> Self {
        let endpoints = ProviderId::ALL
            .into_iter()
            .map(|id| {
                let cfg = configs.get(&id);
                let base_url = cfg
                    .map(|c| c.base_url.clone())
                    .unwrap_or_else(|| default_url(id));
                let endpoint = Endpoint {
                    id,
                    base_url,
                    api_key: cfg.and_then(|c| c.api_key.clone()),
                    adapter: adapter_for(id),
                };
                (id, endpoint)
            })
            .collect();
        Self { endpoints }
    }

    pub fn get(&self, id: ProviderId) -> &Endpoint {
        // Registry::new fills every ProviderId.
        &self.endpoints[&id]
    }
}

#[expect(
    clippy::expect_used,
    reason = "the default base URLs are constants that parse"
)]
pub fn default_url(id: ProviderId) -> Url {
    Url::parse(default_base_url(id)).expect("default base URL parses")
}

/// Adds `Authorization: Bearer <key>` (OpenAI-compatible providers, Cohere).
pub fn bearer(
    builder: reqwest::RequestBuilder,
    key: Option<&SecretString>,
) -> reqwest::RequestBuilder {
    match key {
        Some(k) => builder.bearer_auth(secrecy::ExposeSecret::expose_secret(k)),
        None => builder,
    }
}

/// Joins a path onto a base URL, keeping the base's own path (`…/v1` + `/chat/completions`).
pub fn join(base: &Url, path: &str) -> String {
    format!("{}{}", base.as_str().trim_end_matches('/'), path)
}
