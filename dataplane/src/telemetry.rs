//! Tracing set-up and the one place server errors are logged — including handler panics,
//! which become a 500 in the caller's shape instead of a dropped connection.

use crate::config::LogFormat;
use crate::error::{ApiError, Error, ServerErrorDetail};
use crate::shapes::Shape;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_util::FutureExt;
use std::any::Any;
use std::panic::AssertUnwindSafe;
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber: `RUST_LOG` filter (default `info`), human or JSON lines.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Human => builder.try_init(),
    };
}

/// Logs server-side errors once, from the detail handlers leave in the response. Request
/// bodies and headers (keys) are never logged. A handler that panics answers 500
/// `internal_error` in the caller's shape (Anthropic under `/anthropic/`).
pub async fn log_server_errors(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let response = match AssertUnwindSafe(next.run(request)).catch_unwind().await {
        Ok(response) => response,
        Err(panic) => {
            let shape = if path.starts_with("/anthropic/") {
                Shape::Anthropic
            } else {
                Shape::OpenAi
            };
            let detail = format!("handler panicked: {}", panic_message(panic.as_ref()));
            ApiError::new(Error::Internal(detail), shape).into_response()
        }
    };
    if let Some(ServerErrorDetail(detail)) = response.extensions().get::<ServerErrorDetail>() {
        tracing::error!(%method, %path, status = response.status().as_u16(), "{detail}");
    }
    response
}

/// The message a panic was raised with, when it is text.
pub fn panic_message(panic: &(dyn Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::get;
    use axum::Router;

    async fn call(path: &str) -> (u16, serde_json::Value) {
        async fn boom() -> &'static str {
            panic!("a bug")
        }
        let app = Router::new()
            .route("/v1/boom", get(boom))
            .route("/anthropic/v1/boom", get(boom))
            .layer(axum::middleware::from_fn(log_server_errors));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        let response = reqwest::get(format!("http://{addr}{path}")).await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap())
    }

    #[tokio::test]
    async fn a_panicking_handler_answers_500_in_the_callers_shape() {
        let (openai_status, openai) = call("/v1/boom").await;
        let (anthropic_status, anthropic) = call("/anthropic/v1/boom").await;

        assert_eq!(openai_status, 500);
        assert_eq!(openai["error"]["code"], "internal_error");
        assert!(
            !openai.to_string().contains("a bug"),
            "internals stay in the log"
        );
        assert_eq!(anthropic_status, 500);
        assert_eq!(anthropic["type"], "error");
        assert_eq!(anthropic["error"]["type"], "api_error");
    }

    #[test]
    fn panic_messages_are_read_from_str_and_string_payloads() {
        assert_eq!(panic_message(&"static"), "static");
        assert_eq!(panic_message(&String::from("owned")), "owned");
        assert_eq!(panic_message(&42_u8), "(no message)");
    }
}
