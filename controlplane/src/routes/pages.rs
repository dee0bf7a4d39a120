//! What the HTML pages share: rendering askama templates (`web/templates`) inside the
//! [`Chrome`] frame, the stylesheet and script (`web/static`, compiled in), the security
//! headers of every response, and [`PageError`], the pages' errors as HTML pages.

use crate::auth::session::SignedIn;
use crate::error::{Error, ServerErrorDetail};
use askama::Template;
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use futures_util::FutureExt;
use std::panic::AssertUnwindSafe;

/// The pages' Content-Security-Policy: nothing but our own files — no inline script or
/// style, no framing. Charts are inline SVG, which needs no exception.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; base-uri 'none'; frame-ancestors 'none'";

/// Turns a handler's panic into the 500 page (or the API's JSON 500) instead of a dropped
/// connection; the detail goes to the log, never to the page.
pub async fn catch_panic(request: Request, next: Next) -> Response {
    let page = super::wants_page(request.uri().path(), request.headers());
    match AssertUnwindSafe(next.run(request)).catch_unwind().await {
        Ok(response) => response,
        Err(panic) => {
            let message = panic
                .downcast_ref::<&str>()
                .copied()
                .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
                .unwrap_or("(no message)");
            let error = Error::Internal(format!("handler panicked: {message}"));
            if page {
                PageError::Server(error).into_response()
            } else {
                error.into_response()
            }
        }
    }
}

/// Adds the security headers to every response: `nosniff` and a referrer policy everywhere;
/// on HTML pages also the CSP and `X-Frame-Options`.
pub async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let is_html = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if is_html {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        );
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    response
}

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

/// `GET /static/favicon.svg` (also answered at `/favicon.ico`, where browsers look first).
pub async fn favicon() -> Response {
    (
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        include_str!("../../../web/static/favicon.svg"),
    )
        .into_response()
}

/// `GET /static/app.js`: the little the pages do in the browser (copy buttons, confirmations).
pub async fn app_js() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../../web/static/app.js"),
    )
        .into_response()
}

/// This control plane's address for links that leave the page (Stripe's return URLs,
/// invitation links): `AIG_PUBLIC_URL`, else the host and scheme the browser reached.
pub fn public_base(public_url: Option<&str>, headers: &axum::http::HeaderMap) -> String {
    if let Some(url) = public_url {
        return url.to_owned();
    }
    let host = headers
        .get("x-forwarded-host")
        .or_else(|| headers.get(header::HOST))
        .and_then(|v| v.to_str().ok())
        .unwrap_or("localhost");
    let proto = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .filter(|p| *p == "https")
        .unwrap_or("http");
    format!("{proto}://{host}")
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
    for cookie in cookies {
        if let Ok(value) = HeaderValue::from_str(cookie) {
            headers.append(header::SET_COOKIE, value);
        }
    }
    response
}

/// What every page's frame (`base.html`) shows: who is signed in, the navigation with the
/// current section marked, and the CSRF token the logout form carries.
pub struct Chrome {
    /// The signed-in person's email; `None` on the public pages.
    pub user: Option<String>,
    /// The signed-in person's organisation.
    pub org: String,
    /// The CSRF token of this page's forms.
    pub csrf: String,
    /// Whether to show the platform admin's link.
    pub admin: bool,
    /// The navigation entry to mark as current (`"keys"`, `"usage"`, `"admin"`, …).
    pub section: &'static str,
}

impl Chrome {
    /// The frame of a dashboard page for `who`.
    pub fn signed_in(who: &SignedIn, csrf: &str, section: &'static str) -> Chrome {
        Chrome {
            user: Some(who.email.clone()),
            org: who.org.clone(),
            csrf: csrf.to_owned(),
            admin: who.is_platform_admin,
            section,
        }
    }

    /// The frame of a page for people who are not signed in.
    pub fn public(csrf: &str) -> Chrome {
        Chrome {
            user: None,
            org: String::new(),
            csrf: csrf.to_owned(),
            admin: false,
            section: "",
        }
    }

    /// Whether `section` is the current one (marks its navigation link).
    pub fn is(&self, section: &str) -> bool {
        self.section == section
    }
}

/// Appends the `Set-Cookie` a page's [`crate::auth::csrf::token`] asked for, if any.
pub fn with_cookie(mut response: Response, set: Option<String>) -> Response {
    if let Some(cookie) = set.and_then(|c| HeaderValue::from_str(&c).ok()) {
        response.headers_mut().append(header::SET_COOKIE, cookie);
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
    /// Signed in, but not allowed to do this (e.g. a member trying an owner's action): 403
    /// with the reason, nothing changed.
    Forbidden(&'static str),
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
    chrome: Chrome,
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
            PageError::Forbidden(why) => (
                StatusCode::FORBIDDEN,
                "Not allowed",
                format!("{why} Nothing was changed."),
                "/dashboard",
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
            chrome: Chrome::public(""),
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

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::get;
    use axum::Router;

    async fn boom() -> &'static str {
        panic!("password=hunter2")
    }

    /// Serves a router whose handlers panic, behind the same layers as the real app.
    async fn serve() -> std::net::SocketAddr {
        let app = Router::new()
            .route("/dashboard/boom", get(boom))
            .route("/v1/boom", get(boom))
            .layer(axum::middleware::from_fn(catch_panic))
            .layer(axum::middleware::from_fn(security_headers));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        addr
    }

    #[tokio::test]
    async fn a_panicking_page_is_the_500_page_and_an_api_call_the_json_500() {
        let addr = serve().await;
        let client = reqwest::Client::new();

        let page = client
            .get(format!("http://{addr}/dashboard/boom"))
            .header("accept", "text/html")
            .send()
            .await
            .unwrap();
        let api = client
            .get(format!("http://{addr}/v1/boom"))
            .header("accept", "text/html")
            .send()
            .await
            .unwrap();

        assert_eq!(page.status(), 500);
        assert!(page.headers()[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'"));
        let html = page.text().await.unwrap();
        assert!(html.contains("Something went wrong on our side"), "{html}");
        assert!(
            html.contains("/static/app.css"),
            "the 500 page has the site's look"
        );
        assert!(!html.contains("hunter2"), "internals stay in the log");
        assert_eq!(api.status(), 500);
        let body = api.text().await.unwrap();
        assert!(body.starts_with(r#"{"error""#), "{body}");
        assert!(!body.contains("hunter2"));
    }
}
