//! `aig-mock-providers`: offline stand-ins for the LLM providers' APIs in their real wire shapes,
//! with faults scripted by model name or provider mode, and a control API.
//!
//! Routes: `POST /{provider}/v1/chat/completions` (OpenAI shape, every provider but anthropic and
//! cohere), `POST /anthropic/v1/messages`, `POST /cohere/v2/chat`, `GET /{provider}/v1/models`,
//! and under `/_mock`: `PUT|GET providers/{provider}/mode`, `GET providers/{provider}/requests`,
//! `POST reset`.
//!
//! Each shape also takes tools (answering with deterministic tool calls, streamed as the real
//! API streams them), structured output (`response_format`) and image inputs; see `tools.rs` and
//! `text.rs` for the rules. A model named `…-noimage` refuses images like a text-only model.

mod anthropic;
mod chat;
mod cohere;
mod control;
mod fault;
mod models;
mod openai;
mod state;
mod text;
mod tools;
mod wire;

use std::io;
use std::net::{Ipv4Addr, SocketAddr};

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post, put};
use axum::Router;
use tokio::net::TcpListener;

pub use state::{MockState, Mode, RecordedRequest, UnknownMode};

/// Anthropic's own request limit, the largest of the three.
const BODY_LIMIT: usize = 32 * 1024 * 1024;

/// A running mock on `127.0.0.1:<random port>`, spawned on the current tokio runtime.
#[derive(Clone, Debug)]
pub struct MockProviders {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its modes and recorded requests, shared with the running server.
    pub state: MockState,
}

impl MockProviders {
    /// Binds `127.0.0.1:0` and serves [`router`] in a background task until the runtime ends.
    pub async fn start() -> io::Result<MockProviders> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let state = MockState::default();
        let app = router(state.clone());
        tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, app).await {
                tracing::error!(%error, "mock providers stopped");
            }
        });
        Ok(MockProviders { addr, state })
    }

    /// The base URL the gateway is configured with for `provider`: it appends `/v1/messages`
    /// for anthropic, `/v2/chat` for cohere and `/chat/completions` for everyone else.
    pub fn base_url(&self, provider: &str) -> String {
        let addr = self.addr;
        match provider {
            "anthropic" | "cohere" => format!("http://{addr}/{provider}"),
            _ => format!("http://{addr}/{provider}/v1"),
        }
    }
}

/// Every provider route and the control API over one shared state.
pub fn router(state: MockState) -> Router {
    Router::new()
        .route(
            "/{provider}/v1/chat/completions",
            post(openai::create_chat_completion),
        )
        .route("/{provider}/v1/messages", post(anthropic::create_message))
        .route("/{provider}/v2/chat", post(cohere::chat))
        .route("/{provider}/v1/models", get(models::list_models))
        .route(
            "/_mock/providers/{provider}/mode",
            put(control::set_mode).get(control::get_mode),
        )
        .route(
            "/_mock/providers/{provider}/requests",
            get(control::list_requests),
        )
        .route("/_mock/reset", post(control::reset_state))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state)
}
