//! `/signup`, `/login`, `/logout`: accounts for people. Sign-up creates the tenant, its
//! owner, the trial credit and a first key (shown once), then signs the person in.

use crate::accounts::{self, NewTenant};
use crate::auth::session::{self, SignedIn};
use crate::auth::{cookie, csrf, login_limit, password};
use crate::db;
use crate::error::Error;
use crate::routes::keys;
use crate::routes::pages::{render, Chrome, PageError};
use crate::state::AppState;
use askama::Template;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use secrecy::SecretString;
use serde::Deserialize;
use std::net::SocketAddr;

/// Shortest password sign-up accepts: the same rule as every other way to set one.
pub use crate::accounts::MIN_PASSWORD_LEN;
/// Said for every failed login, whichever of email or password was wrong.
const BAD_LOGIN: &str = "That email and password do not match an account.";

#[derive(Template)]
#[template(path = "signup.html")]
struct SignupPage<'a> {
    chrome: Chrome,
    error: Option<String>,
    org: &'a str,
    email: &'a str,
    min_password: usize,
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    chrome: Chrome,
    error: Option<&'a str>,
    email: &'a str,
}

#[derive(Template)]
#[template(path = "logout.html")]
struct LogoutPage {
    chrome: Chrome,
}

/// The fields of a sign-up form; missing fields are empty (and then refused by validation).
#[derive(Deserialize)]
pub struct SignupForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    org: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

/// A form carrying only its CSRF token.
#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    pub csrf: String,
}

/// The client's address for the per-address login limit. With `AIG_TRUSTED_PROXY_HOPS` = 0
/// (the default) it is the socket's peer: `X-Forwarded-For` can be forged by anyone. Behind
/// N proxies we run, it is the N-th `X-Forwarded-For` entry from the right — the address
/// our outermost proxy saw; entries further left are the client's own claims. Too few
/// entries fall back to the peer.
pub fn client_ip(
    connect: Option<&ConnectInfo<SocketAddr>>,
    headers: &HeaderMap,
    trusted_hops: usize,
) -> String {
    let peer = || connect.map_or_else(|| "unknown".to_owned(), |c| c.0.ip().to_string());
    if trusted_hops == 0 {
        return peer();
    }
    let forwarded: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .collect();
    forwarded
        .len()
        .checked_sub(trusted_hops)
        .and_then(|i| forwarded.get(i))
        .and_then(|ip| ip.parse::<std::net::IpAddr>().ok())
        .map_or_else(peer, |ip| ip.to_string())
}

pub async fn signup_page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let (token, set) = csrf::token(&state, &headers);
    let page = SignupPage {
        chrome: Chrome::public(&token),
        error: None,
        org: "",
        email: "",
        min_password: MIN_PASSWORD_LEN,
    };
    render(&page, StatusCode::OK, &set.into_iter().collect::<Vec<_>>())
}

pub async fn signup(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<SignupForm>,
) -> Result<Response, PageError> {
    let again = |error: String, status: StatusCode| {
        let page = SignupPage {
            chrome: Chrome::public(&form.csrf),
            error: Some(error),
            org: &form.org,
            email: &form.email,
            min_password: MIN_PASSWORD_LEN,
        };
        Ok(render(&page, status, &[]))
    };
    if form.password.chars().count() < MIN_PASSWORD_LEN {
        return again(
            format!("The password must be at least {MIN_PASSWORD_LEN} characters."),
            StatusCode::UNPROCESSABLE_ENTITY,
        );
    }
    let created = accounts::create_tenant(
        &state,
        NewTenant {
            org: form.org.clone(),
            email: form.email.clone(),
            password: Some(SecretString::from(form.password.clone())),
            platform_admin: false,
        },
    )
    .await;
    let created = match created {
        Ok(created) => created,
        Err(e @ (Error::InvalidRequest { .. } | Error::Conflict { .. })) => {
            let status = e.status_code();
            let mut message = e.to_string();
            if let Some(first) = message.get(..1) {
                message = first.to_uppercase() + &message[1..] + ".";
            }
            return again(message, status);
        }
        Err(e) => return Err(e.into()),
    };
    let token = session::issue(&state, created.user_id, created.tenant_id, 0)?;
    let who = SignedIn {
        user_id: created.user_id,
        tenant_id: created.tenant_id,
        email: form.email.trim().to_owned(),
        org: form.org.trim().to_owned(),
        role: "owner".to_owned(),
        is_platform_admin: false,
    };
    // The next page shows the key this once; reloading it does not show it again.
    let mut response = keys::keys_page(
        &state,
        &who,
        &form.csrf,
        Some((created.key.expose(), true)),
        None,
        StatusCode::CREATED,
    )
    .await?;
    append_cookie(&mut response, &session::set_cookie(&headers, &token));
    Ok(response)
}

pub async fn login_page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if cookie::get(&headers, session::COOKIE)
        .and_then(|t| session::decode(&state, t))
        .is_some()
    {
        return Redirect::to("/dashboard").into_response();
    }
    let (token, set) = csrf::token(&state, &headers);
    let page = LoginPage {
        chrome: Chrome::public(&token),
        error: None,
        email: "",
    };
    render(&page, StatusCode::OK, &set.into_iter().collect::<Vec<_>>())
}

pub async fn login(
    State(state): State<AppState>,
    connect: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Result<Response, PageError> {
    let ip = client_ip(
        connect.as_ref().map(|c| &c.0),
        &headers,
        state.config().trusted_proxy_hops,
    );
    if !login_limit::attempt(&state, &form.email, &ip).await? {
        tracing::warn!(%ip, "login rate limit reached");
        return Err(PageError::RateLimited);
    }
    let credentials = db::app_user::find_credentials(state.db(), form.email.trim()).await?;
    let (hash, who) = match credentials {
        Some(c) => (
            Some(c.password_hash),
            Some((c.user_id, c.tenant_id, c.session_epoch)),
        ),
        None => (None, None),
    };
    let matches =
        password::verify_or_dummy(SecretString::from(form.password.clone()), hash).await?;
    let Some((user_id, tenant_id, epoch)) = who.filter(|_| matches) else {
        let page = LoginPage {
            chrome: Chrome::public(&form.csrf),
            error: Some(BAD_LOGIN),
            email: &form.email,
        };
        return Ok(render(&page, StatusCode::UNAUTHORIZED, &[]));
    };
    if let Err(e) = login_limit::succeeded(&state, &form.email).await {
        tracing::warn!("could not clear the login counter: {e}");
    }
    let token = session::issue(&state, user_id, tenant_id, epoch)?;
    tracing::info!(tenant = %tenant_id, user = %user_id, "signed in");
    let mut response = Redirect::to("/dashboard").into_response();
    append_cookie(&mut response, &session::set_cookie(&headers, &token));
    Ok(response)
}

/// `GET /logout`: a confirmation form (logging out changes state, so it is a POST).
pub async fn logout_page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let (token, set) = csrf::token(&state, &headers);
    let page = LogoutPage {
        chrome: Chrome::public(&token),
    };
    render(&page, StatusCode::OK, &set.into_iter().collect::<Vec<_>>())
}

pub async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    // Ends the session everywhere, copies of the cookie included, not just in this browser.
    if let Some(claims) =
        cookie::get(&headers, session::COOKIE).and_then(|t| session::decode(&state, t))
    {
        db::app_user::end_sessions(state.db(), claims.sub).await?;
        tracing::info!(user = %claims.sub, "signed out");
    }
    let mut response = Redirect::to("/login").into_response();
    append_cookie(&mut response, &session::clear_cookie(&headers));
    Ok(response)
}

fn append_cookie(response: &mut Response, cookie: &str) {
    if let Ok(value) = axum::http::HeaderValue::from_str(cookie) {
        response
            .headers_mut()
            .append(axum::http::header::SET_COOKIE, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn peer() -> ConnectInfo<SocketAddr> {
        ConnectInfo(SocketAddr::from(([10, 0, 0, 1], 443)))
    }

    fn forwarded(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn without_trusted_proxies_the_socket_peer_counts_whatever_the_headers_claim() {
        let headers = forwarded("1.2.3.4");
        assert_eq!(client_ip(Some(&peer()), &headers, 0), "10.0.0.1");
    }

    #[test]
    fn behind_trusted_proxies_the_address_the_outermost_one_saw_counts() {
        // The client forged 6.6.6.6; our one proxy appended the address it saw.
        let headers = forwarded("6.6.6.6, 203.0.113.7");
        assert_eq!(client_ip(Some(&peer()), &headers, 1), "203.0.113.7");
        let two = forwarded("6.6.6.6, 203.0.113.7, 10.0.0.2");
        assert_eq!(client_ip(Some(&peer()), &two, 2), "203.0.113.7");
        // Too few entries or garbage: the peer.
        assert_eq!(client_ip(Some(&peer()), &headers, 3), "10.0.0.1");
        let garbage = forwarded("not-an-ip");
        assert_eq!(client_ip(Some(&peer()), &garbage, 1), "10.0.0.1");
    }
}
