//! AIgateway's control plane: tenants, keys, budgets and the credit ledger in Postgres,
//! published to Redis for the data plane; usage ingested from the data plane's streams; the
//! management API (`/v1/budgets`, `/v1/usage`, `/v1/balance`); sign-up, login and the keys
//! page for people.

pub mod accounts;
pub mod auth;
pub mod chain_log;
pub mod charts;
pub mod cli;
pub mod config;
pub mod db;
pub mod error;
pub mod ingest;
pub mod metrics;
pub mod migrate;
pub mod publish;
pub mod reconcile;
pub mod routes;
pub mod serve;
pub mod spend;
pub mod state;
pub mod stripe;
pub mod telemetry;
pub mod view;

use axum::routing::{delete, get, post};
use axum::Router;
pub use config::Config;
pub use error::Error;
pub use state::AppState;

/// The whole control plane app; tests serve the same router on port 0.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route(
            "/v1/budgets",
            get(routes::budgets::list_budgets).post(routes::budgets::upsert_budget),
        )
        .route("/v1/budgets/{tag}", delete(routes::budgets::delete_budget))
        .route("/v1/usage", get(routes::usage::get_usage))
        .route("/v1/balance", get(routes::balance::get_balance))
        .route(
            "/signup",
            get(routes::session::signup_page).post(routes::session::signup),
        )
        .route(
            "/login",
            get(routes::session::login_page).post(routes::session::login),
        )
        .route(
            "/logout",
            get(routes::session::logout_page).post(routes::session::logout),
        )
        .route("/dashboard", get(routes::dashboard::overview::page))
        .route(
            "/dashboard/budgets",
            get(routes::dashboard::budgets::page).post(routes::dashboard::budgets::save),
        )
        .route(
            "/dashboard/budgets/delete",
            post(routes::dashboard::budgets::delete),
        )
        .route("/dashboard/usage", get(routes::dashboard::usage::page))
        .route("/dashboard/usage.csv", get(routes::dashboard::usage::csv))
        .route(
            "/dashboard/keys",
            get(routes::keys::list).post(routes::keys::create),
        )
        .route("/dashboard/keys/{id}/revoke", post(routes::keys::revoke))
        .route("/dashboard/team", get(routes::dashboard::team::show_team))
        .route(
            "/dashboard/team/invitations",
            post(routes::dashboard::team::invite_member),
        )
        .route(
            "/dashboard/team/invitations/{id}/revoke",
            post(routes::dashboard::team::revoke_invitation),
        )
        .route(
            "/dashboard/team/members/{id}/role",
            post(routes::dashboard::team::change_role),
        )
        .route(
            "/dashboard/team/members/{id}/remove",
            post(routes::dashboard::team::remove_member),
        )
        .route(
            "/invite/{token}",
            get(routes::invite::show_invitation).post(routes::invite::accept_invitation),
        )
        .route("/dashboard/chains", get(routes::dashboard::chains::page))
        .route(
            "/dashboard/requests",
            get(routes::dashboard::requests::page),
        )
        .route("/billing", get(routes::billing::page))
        .route("/billing/checkout", post(routes::billing::checkout))
        .route("/webhooks/stripe", post(routes::webhooks::stripe))
        .route("/admin", get(routes::admin::tenants::list))
        .route("/admin/health", get(routes::admin::health::page))
        .route("/admin/tenants/{id}", get(routes::admin::tenants::detail))
        .route(
            "/admin/tenants/{id}/suspend",
            post(routes::admin::tenants::suspend),
        )
        .route(
            "/admin/tenants/{id}/reinstate",
            post(routes::admin::tenants::reinstate),
        )
        .route(
            "/admin/tenants/{id}/credit",
            post(routes::admin::tenants::credit),
        )
        .route("/static/app.css", get(routes::pages::app_css))
        .route("/static/app.js", get(routes::pages::app_js))
        .route("/static/favicon.svg", get(routes::pages::favicon))
        .route("/favicon.ico", get(routes::pages::favicon))
        .route("/healthz", get(routes::health::healthz))
        .route("/metrics", get(routes::health::metrics))
        .fallback(routes::not_found)
        .method_not_allowed_fallback(routes::method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::csrf::require_token,
        ))
        .layer(axum::middleware::from_fn(routes::pages::catch_panic))
        .layer(axum::middleware::from_fn(routes::pages::security_headers))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            telemetry::observe,
        ))
        .with_state(state)
}
