//! CSRF protection for every form: signed double-submit. A token is `<nonce>.<HMAC(nonce)>`
//! in the `aig_csrf` cookie and in each form's hidden `csrf` field; a POST must carry the
//! same, validly signed token in both, or it is refused with 403 and nothing changes. The
//! signature stops a token planted by a sibling domain; SameSite=Lax cookies do the rest.
//! [`require_token`] checks every POST outside the API before any handler runs, so a new
//! form is protected without its handler doing anything.

use crate::auth::cookie;
use crate::routes::is_api_path;
use crate::routes::pages::PageError;
use crate::state::AppState;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rand::distr::{Alphanumeric, SampleString};
use ring::hmac;

pub const COOKIE: &str = "aig_csrf";

fn mac(state: &AppState, nonce: &str) -> hmac::Tag {
    let key = hmac::Key::new(hmac::HMAC_SHA256, state.session_key());
    hmac::sign(&key, format!("csrf:{nonce}").as_bytes())
}

fn is_valid(state: &AppState, token: &str) -> bool {
    let Some((nonce, tag)) = token.split_once('.') else {
        return false;
    };
    let Ok(tag) = hex::decode(tag) else {
        return false;
    };
    let key = hmac::Key::new(hmac::HMAC_SHA256, state.session_key());
    nonce.len() == 32 && hmac::verify(&key, format!("csrf:{nonce}").as_bytes(), &tag).is_ok()
}

/// The token for the forms of this page: the request's own if valid, else a new one with
/// the `Set-Cookie` that stores it.
pub fn token(state: &AppState, headers: &HeaderMap) -> (String, Option<String>) {
    if let Some(existing) = cookie::get(headers, COOKIE).filter(|t| is_valid(state, t)) {
        return (existing.to_owned(), None);
    }
    let nonce = Alphanumeric.sample_string(&mut rand::rng(), 32);
    let token = format!("{nonce}.{}", hex::encode(mac(state, &nonce).as_ref()));
    let set = cookie::set(headers, COOKIE, &token, None);
    (token, Some(set))
}

/// Whether the submitted form token matches the cookie and is ours.
pub fn verify(state: &AppState, headers: &HeaderMap, submitted: &str) -> bool {
    let Some(cookie) = cookie::get(headers, COOKIE) else {
        return false;
    };
    // A plain comparison is fine: a cross-site attacker can neither read the cookie nor
    // time this answer, and the token must still carry our signature.
    cookie == submitted && is_valid(state, cookie)
}

/// The largest form body read to find its token (the pages' forms are a few fields).
const MAX_FORM_BYTES: usize = 64 * 1024;

/// Refuses (403, nothing changed) every POST outside the API whose form lacks the page's
/// CSRF token; the body is handed on to the handler untouched.
pub async fn require_token(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    if request.method() != Method::POST || is_api_path(request.uri().path()) {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_FORM_BYTES).await else {
        return PageError::Csrf.into_response();
    };
    let submitted = url::form_urlencoded::parse(&bytes)
        .find(|(name, _)| name == "csrf")
        .map(|(_, value)| value.into_owned())
        .unwrap_or_default();
    if !verify(&state, &parts.headers, &submitted) {
        return PageError::Csrf.into_response();
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}
