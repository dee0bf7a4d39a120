//! The models each mock provider lists, and `GET /{provider}/v1/models`, which health probes call.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::anthropic::Anthropic;
use super::chat::{status_code, Dialect};
use super::cohere::Cohere;
use super::fault::{self, Outcome, Plan};
use super::openai::OpenAi;
use super::state::MockState;
use super::wire;

/// `(provider, model id, display name)`, mirroring the repository's catalog.
const MODELS: &[(&str, &str, &str)] = &[
    ("anthropic", "claude-opus-4.7", "Claude Opus 4.7"),
    ("anthropic", "claude-sonnet-4-6", "Claude Sonnet 4.6"),
    ("anthropic", "claude-haiku-4-5", "Claude Haiku 4.5"),
    ("openai", "gpt-5.4", "GPT-5.4"),
    ("openai", "gpt-5-mini", "GPT-5 mini"),
    ("openai", "gpt-5-nano", "GPT-5 nano"),
    ("openai", "gpt-4.1", "GPT-4.1"),
    ("openai", "gpt-4o-mini", "GPT-4o mini"),
    ("moonshot", "kimi-k2.6", "Kimi K2.6"),
    ("moonshot", "kimi-k2-turbo-preview", "Kimi K2 Turbo"),
    ("cohere", "command-a", "Command A"),
    ("cohere", "command-r-plus", "Command R+"),
    ("cohere", "command-r", "Command R"),
    ("google", "gemini-2.5-pro", "Gemini 2.5 Pro"),
    ("google", "gemini-2.5-flash", "Gemini 2.5 Flash"),
    ("mistral", "mistral-large-latest", "Mistral Large"),
    ("mistral", "mistral-small-latest", "Mistral Small"),
    ("groq", "llama-3.3-70b-versatile", "Llama 3.3 70B"),
    ("deepseek", "deepseek-chat", "DeepSeek Chat"),
    ("xai", "grok-4", "Grok 4"),
    (
        "together",
        "meta-llama/Llama-3.3-70B-Instruct-Turbo",
        "Llama 3.3 70B Instruct Turbo",
    ),
];

/// `(id, display name)` of the provider's models; a provider the table does not know lists one
/// generic `mock-model`, as a real provider always lists at least one model.
pub(crate) fn list(provider: &str) -> impl Iterator<Item = (&'static str, &'static str)> + '_ {
    let known = MODELS.iter().any(|(p, _, _)| *p == provider);
    let generic = (!known).then_some(("mock-model", "Mock model"));
    MODELS
        .iter()
        .filter(move |(p, _, _)| *p == provider)
        .map(|(_, id, name)| (*id, *name))
        .chain(generic)
}

/// `GET /{provider}/v1/models`, failing like the provider's mode says.
pub(crate) async fn list_models(
    State(state): State<MockState>,
    Path(provider): Path<String>,
    headers: HeaderMap,
) -> Response {
    match provider.as_str() {
        "anthropic" => respond::<Anthropic>(&state, &provider, &headers).await,
        "cohere" => respond::<Cohere>(&state, &provider, &headers).await,
        _ => respond::<OpenAi>(&state, &provider, &headers).await,
    }
}

async fn respond<D: Dialect>(state: &MockState, provider: &str, headers: &HeaderMap) -> Response {
    state.note_models_list(provider);
    if let Err(rejection) = D::authorize(headers) {
        return rejection.into_response();
    }
    let plan = Plan::new(state.mode(provider), "");
    if let Some(delay) = plan.delay {
        tokio::time::sleep(delay).await;
    }
    match plan.outcome {
        Outcome::Fail(status) => D::error(status_code(status)),
        Outcome::EarlyError => D::error(StatusCode::INTERNAL_SERVER_ERROR),
        Outcome::Malformed => wire::malformed_json(),
        Outcome::MidstreamError => wire::truncated_json(&D::models(provider)),
        Outcome::Hang | Outcome::Stall => {
            fault::hang().await;
            wire::json(StatusCode::OK, D::models(provider))
        }
        Outcome::Answer | Outcome::Filter => wire::json(StatusCode::OK, D::models(provider)),
    }
}
