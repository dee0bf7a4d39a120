//! What the HTML pages share: rendering askama templates (`web/templates`), the stylesheet
//! (`web/static`, compiled in), and [`PageError`], the pages' errors as HTML pages.

use crate::error::{Error, ServerErrorDetail};
use askama::Template;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};

/// `GET /static/app.css`.
pub async fn app_css() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../../web/static/app.css"),
    )
        .into_response()
}

/// Renders `template` as an HTML response with `status`, setting `cookies`. Pages are never
/// cached: some show a key once, all carry a CSRF token.
pub fn render(template: &impl Template, status: StatusCode, cookies: &[String]) -> Response {
    let html = match template.render() {
        Ok(html) => html,
        Err(e) => {
            return PageError::Server(Error::Internal(format!("template: {e}"))).into_response()
        }
    };
    let mut response = (status, axum::response::Html(html)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert("x-frame-options", HeaderValue::from_static("DENY"));
    for cookie in cookies {
        if let Ok(value) = HeaderValue::from_str(cookie) {
            headers.append(header::SET_COOKIE, value);
        }
    }
    response
}

/// A page's error, answered as an HTML page (or a redirect to the login page).
#[derive(Debug)]
pub enum PageError {
    /// No valid session: 303 to `/login`.
    SignedOut,
    /// The form's CSRF token was missing or wrong: 403, nothing was changed.
    Csrf,
    /// The tenant is suspended: 403.
    Suspended,
    /// Too many login attempts: 429.
    RateLimited,
    /// 404.
    NotFound,
    /// Anything else; 5xx details go to the log, never to the page.
    Server(Error),
}

impl From<Error> for PageError {
    fn from(e: Error) -> Self {
        match e {
            Error::NotFound { .. } => PageError::NotFound,
            Error::TenantSuspended => PageError::Suspended,
            e => PageError::Server(e),
        }
    }
}

impl From<sqlx::Error> for PageError {
    fn from(e: sqlx::Error) -> Self {
        PageError::Server(e.into())
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    user: Option<&'a str>,
    csrf: &'a str,
    heading: &'a str,
    message: String,
    back: &'a str,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, heading, message, back) = match &self {
            PageError::SignedOut => return Redirect::to("/login").into_response(),
            PageError::Csrf => (
                StatusCode::FORBIDDEN,
                "Form expired",
                "This form was missing its security token or it did not match, so nothing \
                 was changed. Reload the page and try again."
                    .to_owned(),
                "/login",
            ),
            PageError::Suspended => (
                StatusCode::FORBIDDEN,
                "Account suspended",
                "This organisation is suspended. Contact support to have it reinstated.".to_owned(),
                "/login",
            ),
            PageError::RateLimited => (
                StatusCode::TOO_MANY_REQUESTS,
                "Too many attempts",
                "Too many login attempts. Wait a few minutes and try again.".to_owned(),
                "/login",
            ),
            PageError::NotFound => (
                StatusCode::NOT_FOUND,
                "Not found",
                "There is nothing here.".to_owned(),
                "/dashboard",
            ),
            PageError::Server(e) => {
                let status = e.status_code();
                let message = if status.is_server_error() {
                    "Something went wrong on our side. Try again shortly.".to_owned()
                } else {
                    e.to_string()
                };
                (status, "Something went wrong", message, "/dashboard")
            }
        };
        let page = ErrorPage {
            user: None,
            csrf: "",
            heading,
            message,
            back,
        };
        let html = page
            .render()
            .unwrap_or_else(|_| format!("<h1>{}</h1>", status.as_u16()));
        let mut response = (status, axum::response::Html(html)).into_response();
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let PageError::Server(e) = &self {
            if status.is_server_error() {
                response
                    .extensions_mut()
                    .insert(ServerErrorDetail(e.to_string()));
            }
        }
        response
    }
}
