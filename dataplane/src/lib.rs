//! AIgateway's data plane: OpenAI- and Anthropic-shaped chat ingress, streaming or not,
//! the fallback cascade across providers of every wire shape, API-key auth against Redis.

pub mod auth;
pub mod chain;
pub mod config;
pub mod error;
pub mod headers;
pub mod health;
pub mod metrics;
pub mod providers;
pub mod redis_conn;
pub mod routes;
pub mod shapes;
pub mod spend;
pub mod state;
pub mod telemetry;
pub mod usage;

use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, post};
use axum::Router;
pub use config::Config;
pub use state::AppState;

/// The whole data plane app; tests serve the same router on port 0.
pub fn router(state: AppState) -> Router {
    let body_limit = state.config().max_body_bytes;
    Router::new()
        .route(
            "/v1/chat/completions",
            post(routes::chat::create_chat_completion),
        )
        .route("/v1/models", get(routes::models::list_models))
        .route(
            "/anthropic/v1/messages",
            post(routes::messages::create_message),
        )
        .route(
            "/anthropic/v1/models",
            get(routes::models::list_models_anthropic),
        )
        .route(
            "/v1/budgets",
            get(routes::manage::forward).post(routes::manage::forward),
        )
        .route("/v1/budgets/{tag}", delete(routes::manage::forward))
        .route("/v1/usage", get(routes::manage::forward))
        .route("/v1/balance", get(routes::manage::forward))
        .route("/healthz", get(routes::health::healthz))
        .route("/metrics", get(routes::health::metrics))
        .fallback(routes::not_found)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(axum::middleware::from_fn(telemetry::log_server_errors))
        .with_state(state)
}
