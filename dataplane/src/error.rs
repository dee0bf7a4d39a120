//! The data plane's one error type, rendered in the caller's shape with stable codes.

use crate::shapes::{openai, Shape, UpstreamError};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad body, header or slug. `param` names the offending field or header.
    #[error("{message}")]
    InvalidRequest {
        message: String,
        param: Option<String>,
    },
    #[error("{0}")]
    UnknownProvider(String),
    /// Anthropic's message threads keep the conversation on one provider's servers, which a
    /// fallback chain cannot continue; the SDKs then resend the whole conversation.
    #[error(
        "thread is not supported with fallback chains; send the full conversation without thread"
    )]
    ThreadUnsupported,
    #[error("{0}")]
    InvalidApiKey(&'static str),
    /// The tag's (or the tenant-wide `*`) monthly cap is reached; holds the tag.
    #[error("the monthly budget for tag {0:?} is used up")]
    BudgetExceeded(String),
    #[error("the prepaid balance is used up; top up to continue")]
    InsufficientCredits,
    #[error("this tenant is suspended")]
    TenantSuspended,
    #[error("request body is larger than the limit of {limit} bytes")]
    PayloadTooLarge { limit: usize },
    /// Every attempted entry failed with a cascading failure, or the retry budget ran out.
    #[error("{0}")]
    ProvidersDown(String),
    /// `x-aig-max-latency-ms` ran out.
    #[error("{0}")]
    LatencyBudgetExceeded(String),
    /// A non-cascading upstream failure, returned to the caller as it is.
    #[error("{slug}: {}", .error.message)]
    Upstream {
        slug: String,
        status: StatusCode,
        error: UpstreamError,
    },
    /// A non-cascading timeout.
    #[error("{0} did not answer within the timeout")]
    UpstreamTimeout(String),
    /// A non-cascading connection error or malformed answer.
    #[error("{slug}: {detail}")]
    UpstreamUnavailable { slug: String, detail: String },
    #[error("no route for {0}")]
    NotFound(String),
    /// A dependency (Redis) is unreachable; the detail is logged, never shown.
    #[error("the gateway cannot serve this request right now")]
    Unavailable(String),
    /// A bug: a handler panicked. The detail is logged, never shown.
    #[error("the gateway failed on this request; it has been logged")]
    Internal(String),
}

impl Error {
    pub fn invalid(message: impl Into<String>, param: Option<&str>) -> Self {
        Error::InvalidRequest {
            message: message.into(),
            param: param.map(str::to_owned),
        }
    }

    pub fn status_code(&self) -> StatusCode {
        match self {
            Error::InvalidRequest { .. } | Error::UnknownProvider(_) | Error::ThreadUnsupported => {
                StatusCode::BAD_REQUEST
            }
            Error::InvalidApiKey(_) => StatusCode::UNAUTHORIZED,
            Error::BudgetExceeded(_) | Error::InsufficientCredits => StatusCode::PAYMENT_REQUIRED,
            Error::TenantSuspended => StatusCode::FORBIDDEN,
            Error::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Error::ProvidersDown(_) | Error::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Error::LatencyBudgetExceeded(_) | Error::UpstreamTimeout(_) => {
                StatusCode::GATEWAY_TIMEOUT
            }
            Error::Upstream { status, .. } => *status,
            Error::UpstreamUnavailable { .. } => StatusCode::BAD_GATEWAY,
            Error::NotFound(_) => StatusCode::NOT_FOUND,
            Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable `code` callers can match on.
    pub fn code(&self) -> Option<String> {
        Some(
            match self {
                Error::InvalidRequest { .. } => "invalid_request",
                Error::UnknownProvider(_) => "unknown_provider",
                Error::ThreadUnsupported => "thread_unsupported_request",
                Error::InvalidApiKey(_) => "invalid_api_key",
                Error::BudgetExceeded(_) => "budget_exceeded",
                Error::InsufficientCredits => "insufficient_credits",
                Error::TenantSuspended => "tenant_suspended",
                Error::PayloadTooLarge { .. } => "payload_too_large",
                Error::ProvidersDown(_) => "providers_down",
                Error::LatencyBudgetExceeded(_) => "latency_budget_exceeded",
                Error::Upstream { error, .. } => return error.code.clone(),
                Error::UpstreamTimeout(_) => "upstream_timeout",
                Error::UpstreamUnavailable { .. } => "upstream_error",
                Error::NotFound(_) => "not_found",
                Error::Unavailable(_) => "service_unavailable",
                Error::Internal(_) => "internal_error",
            }
            .to_owned(),
        )
    }

    /// OpenAI's `error.type`.
    fn openai_type(&self) -> String {
        match self {
            Error::InvalidRequest { .. }
            | Error::UnknownProvider(_)
            | Error::ThreadUnsupported
            | Error::PayloadTooLarge { .. }
            | Error::NotFound(_) => "invalid_request_error".into(),
            Error::InvalidApiKey(_) => "authentication_error".into(),
            Error::BudgetExceeded(_) | Error::InsufficientCredits => "insufficient_quota".into(),
            Error::TenantSuspended => "permission_error".into(),
            Error::Upstream { error, status, .. } => error.kind.clone().unwrap_or_else(|| {
                if status.is_server_error() {
                    "api_error".into()
                } else {
                    "invalid_request_error".into()
                }
            }),
            Error::ProvidersDown(_)
            | Error::LatencyBudgetExceeded(_)
            | Error::UpstreamTimeout(_)
            | Error::UpstreamUnavailable { .. }
            | Error::Unavailable(_)
            | Error::Internal(_) => "api_error".into(),
        }
    }

    fn param(&self) -> Option<String> {
        match self {
            Error::InvalidRequest { param, .. } => param.clone(),
            Error::Upstream { error, .. } => error.param.clone(),
            _ => None,
        }
    }

    /// The body in the caller's shape.
    pub fn body(&self, shape: Shape) -> serde_json::Value {
        let message = self.to_string();
        match shape {
            Shape::OpenAi | Shape::Cohere => openai::error_body(
                &message,
                &self.openai_type(),
                self.code().as_deref(),
                self.param().as_deref(),
            ),
            Shape::Anthropic => {
                let mut body = serde_json::json!({
                    "type": "error",
                    "error": { "type": self.anthropic_type(), "message": message },
                });
                if let Error::ThreadUnsupported = self {
                    body["error"]["details"] = serde_json::json!({
                        "error_code": "thread_unsupported_request",
                        "unsupported": ["fallbacks"],
                    });
                }
                body
            }
        }
    }

    /// Anthropic's `error.type`.
    fn anthropic_type(&self) -> &'static str {
        match self.status_code().as_u16() {
            400 | 404 | 413 => "invalid_request_error",
            401 => "authentication_error",
            402 => "billing_error",
            403 => "permission_error",
            429 => "rate_limit_error",
            504 => "timeout_error",
            529 | 503 => "overloaded_error",
            _ => "api_error",
        }
    }
}

/// A server-side error's detail, left in the response extensions for the logging middleware.
#[derive(Clone, Debug)]
pub struct ServerErrorDetail(pub String);

/// An error on its way to the caller: the shape to speak and the `x-aig-*` headers
/// gathered so far.
#[derive(Debug)]
pub struct ApiError {
    pub error: Error,
    pub shape: Shape,
    pub headers: HeaderMap,
}

impl ApiError {
    pub fn new(error: Error, shape: Shape) -> Self {
        Self {
            error,
            shape,
            headers: HeaderMap::new(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.error.status_code();
        let mut response =
            (status, self.headers, Json(self.error.body(self.shape))).into_response();
        if let Error::Unavailable(detail) | Error::Internal(detail) = &self.error {
            response
                .extensions_mut()
                .insert(ServerErrorDetail(detail.clone()));
        }
        response
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        ApiError::new(self, Shape::OpenAi).into_response()
    }
}
