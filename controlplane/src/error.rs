//! The control plane's one error type: start-up and CLI failures, and API errors rendered as
//! `{"error": {"message", "type", "code", "param"}}` with stable codes. 5xx bodies never show
//! internals; their detail rides in the response extensions to be logged once
//! ([`crate::telemetry::log_server_errors`]).

use crate::config::ConfigError;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// Everything that can stop a control plane command or an API call.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("configuration error: {0}")]
    Config(#[from] ConfigError),

    #[error("DATABASE_URL is not a usable Postgres URL: {0}")]
    InvalidDatabaseUrl(#[source] sqlx::Error),

    #[error("could not connect to Postgres at {target} (DATABASE_URL): {source}")]
    Connect {
        target: String,
        #[source]
        source: sqlx::Error,
    },

    #[error("timed out after {seconds}s connecting to Postgres at {target} (DATABASE_URL)")]
    ConnectTimeout { target: String, seconds: u64 },

    #[error("could not create database {database} on {target}: {source}")]
    CreateDatabase {
        database: String,
        target: String,
        #[source]
        source: sqlx::Error,
    },

    #[error("migration failed on {target}: {source}")]
    Migrate {
        target: String,
        #[source]
        source: sqlx::migrate::MigrateError,
    },

    #[error("REDIS_URL: cannot connect to Redis: {0}")]
    RedisConnect(#[source] redis::RedisError),

    /// Bad input; `param` names the offending field or parameter.
    #[error("{message}")]
    InvalidRequest {
        message: String,
        param: Option<String>,
    },

    #[error("{0}")]
    InvalidApiKey(&'static str),

    #[error("this tenant is suspended")]
    TenantSuspended,

    /// `code` is specific (`budget_not_found`, `not_found`).
    #[error("{message}")]
    NotFound { message: String, code: &'static str },

    #[error("method not allowed")]
    MethodNotAllowed,

    /// A unique constraint said no (`email_taken`).
    #[error("{message}")]
    Conflict { message: String, code: &'static str },

    /// `STRIPE_WEBHOOK_SECRET` is not set.
    #[error("billing is not configured on this control plane (STRIPE_WEBHOOK_SECRET)")]
    BillingDisabled,

    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),

    #[error("Redis error: {0}")]
    Redis(#[from] redis::RedisError),

    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    pub fn invalid(message: impl Into<String>, param: Option<&str>) -> Self {
        Error::InvalidRequest {
            message: message.into(),
            param: param.map(str::to_owned),
        }
    }

    pub fn not_found(message: impl Into<String>, code: &'static str) -> Self {
        Error::NotFound {
            message: message.into(),
            code,
        }
    }

    pub fn status_code(&self) -> StatusCode {
        match self {
            Error::InvalidRequest { .. } => StatusCode::BAD_REQUEST,
            Error::InvalidApiKey(_) => StatusCode::UNAUTHORIZED,
            Error::TenantSuspended => StatusCode::FORBIDDEN,
            Error::NotFound { .. } => StatusCode::NOT_FOUND,
            Error::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Error::Conflict { .. } => StatusCode::CONFLICT,
            Error::BillingDisabled
            | Error::Redis(_)
            | Error::RedisConnect(_)
            | Error::ConnectTimeout { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Error::Database(e) if is_unavailable(e) => StatusCode::SERVICE_UNAVAILABLE,
            Error::Config(_)
            | Error::InvalidDatabaseUrl(_)
            | Error::Connect { .. }
            | Error::CreateDatabase { .. }
            | Error::Migrate { .. }
            | Error::Database(_)
            | Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable `error.code` callers can match on.
    pub fn code(&self) -> &'static str {
        match self {
            Error::InvalidRequest { .. } => "invalid_request",
            Error::InvalidApiKey(_) => "invalid_api_key",
            Error::TenantSuspended => "tenant_suspended",
            Error::NotFound { code, .. } | Error::Conflict { code, .. } => code,
            Error::MethodNotAllowed => "method_not_allowed",
            Error::BillingDisabled => "billing_disabled",
            _ if self.status_code() == StatusCode::SERVICE_UNAVAILABLE => "service_unavailable",
            _ => "internal_error",
        }
    }

    /// OpenAI-style `error.type`.
    fn kind(&self) -> &'static str {
        match self.status_code().as_u16() {
            400 | 405 => "invalid_request_error",
            401 => "authentication_error",
            403 => "permission_error",
            404 => "not_found_error",
            409 => "conflict_error",
            _ => "api_error",
        }
    }

    /// What the caller may read: the message for 4xx, a generic sentence for 5xx.
    fn public_message(&self) -> String {
        match self.status_code() {
            _ if matches!(self, Error::BillingDisabled) => self.to_string(),
            StatusCode::SERVICE_UNAVAILABLE => {
                "the control plane cannot reach its storage right now; try again shortly".into()
            }
            s if s.is_server_error() => "internal error".into(),
            _ => self.to_string(),
        }
    }

    fn param(&self) -> Option<&str> {
        match self {
            Error::InvalidRequest { param, .. } => param.as_deref(),
            _ => None,
        }
    }

    /// Maps a violation of the named unique constraint to `f()`; other errors pass through.
    pub fn on_constraint(self, constraint: &str, f: impl FnOnce() -> Error) -> Error {
        match &self {
            Error::Database(sqlx::Error::Database(db)) if db.constraint() == Some(constraint) => {
                f()
            }
            _ => self,
        }
    }
}

/// Postgres is down or the pool is exhausted, rather than a query being wrong.
fn is_unavailable(e: &sqlx::Error) -> bool {
    matches!(
        e,
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed
    )
}

/// A server-side error's detail, left in the response extensions for the logging middleware.
#[derive(Clone, Debug)]
pub struct ServerErrorDetail(pub String);

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = self.status_code();
        let body = json!({
            "error": {
                "message": self.public_message(),
                "type": self.kind(),
                "code": self.code(),
                "param": self.param(),
            }
        });
        let mut response = (status, axum::Json(body)).into_response();
        if status.is_server_error() {
            response
                .extensions_mut()
                .insert(ServerErrorDetail(self.to_string()));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_errors_hide_their_detail() {
        let e = Error::Internal("password=hunter2 at db.internal".into());
        let response = e.into_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let detail = response.extensions().get::<ServerErrorDetail>().unwrap();
        assert!(detail.0.contains("hunter2"));
    }

    #[test]
    fn client_errors_have_stable_codes() {
        assert_eq!(Error::invalid("x", Some("tag")).code(), "invalid_request");
        assert_eq!(Error::InvalidApiKey("no").code(), "invalid_api_key");
        assert_eq!(Error::TenantSuspended.code(), "tenant_suspended");
        assert_eq!(
            Error::Database(sqlx::Error::PoolTimedOut).code(),
            "service_unavailable"
        );
        assert_eq!(
            Error::Database(sqlx::Error::RowNotFound).code(),
            "internal_error"
        );
    }
}
