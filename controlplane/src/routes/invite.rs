//! `/invite/{token}`: accepting an invitation. The page names the organisation and asks for a
//! password; the POST creates the user in that tenant with the invited role, uses up the
//! invitation in the same transaction (a link works once, even under concurrent POSTs) and
//! signs the person in. Unknown links are 404, used, revoked or expired ones 410.

use crate::auth::{csrf, password, session};
use crate::db;
use crate::db::app_user::{NewUser, EMAIL_UNIQUE};
use crate::db::invitation::Invitation;
use crate::routes::dashboard::team::token_hash;
use crate::routes::pages::{render, Chrome, PageError};
use crate::routes::session::MIN_PASSWORD_LEN;
use crate::state::AppState;
use askama::Template;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use secrecy::SecretString;
use serde::Deserialize;

/// The form, or why there is none.
pub enum InviteState {
    /// The link works: ask for a password.
    Open {
        org: String,
        email: String,
        role: String,
        expires: String,
    },
    /// The link cannot be used (any more).
    Closed {
        heading: &'static str,
        message: &'static str,
    },
}

#[derive(Template)]
#[template(path = "invite.html")]
struct InvitePage {
    chrome: Chrome,
    token: String,
    invite: InviteState,
    error: Option<String>,
    min_password: usize,
}

const UNKNOWN: InviteState = InviteState::Closed {
    heading: "Invitation not found",
    message: "This invitation link is not valid. Check that you copied all of it, or ask \
              whoever invited you for a new one.",
};
const USED: InviteState = InviteState::Closed {
    heading: "Invitation already used",
    message: "This invitation link has been used. If it was you, log in with your email \
              and password.",
};
const ENDED: InviteState = InviteState::Closed {
    heading: "Invitation no longer valid",
    message: "This invitation link has expired or was withdrawn. Ask whoever invited you \
              for a new one.",
};
const TAKEN: InviteState = InviteState::Closed {
    heading: "You already have an account",
    message: "An account with this email already exists, and an email belongs to one \
              organisation only. Log in instead, or ask for an invitation to another address.",
};

/// The page for this link's state, with its status.
fn state_of(found: Option<Invitation>) -> (InviteState, StatusCode) {
    match found {
        None => (UNKNOWN, StatusCode::NOT_FOUND),
        Some(i) if i.used_at.is_some() => (USED, StatusCode::GONE),
        Some(i) if !i.is_open(chrono::Utc::now()) => (ENDED, StatusCode::GONE),
        Some(i) => (
            InviteState::Open {
                org: i.tenant_name,
                email: i.email,
                role: i.role,
                expires: crate::view::when(i.expires_at),
            },
            StatusCode::OK,
        ),
    }
}

/// A token that cannot be ours is not looked up (it is as unknown as a wrong one).
fn looks_like_token(token: &str) -> bool {
    token.len() == 64 && token.bytes().all(|b| b.is_ascii_hexdigit())
}

async fn find(state: &AppState, token: &str) -> Result<Option<Invitation>, PageError> {
    if !looks_like_token(token) {
        return Ok(None);
    }
    Ok(db::invitation::find_by_hash(state.db(), &token_hash(token)).await?)
}

fn page(
    csrf: &str,
    token: String,
    invite: InviteState,
    error: Option<String>,
    status: StatusCode,
    cookies: &[String],
) -> Response {
    let page = InvitePage {
        chrome: Chrome::public(csrf),
        token,
        invite,
        error,
        min_password: MIN_PASSWORD_LEN,
    };
    render(&page, status, cookies)
}

/// `GET /invite/{token}`.
pub async fn show_invitation(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(token): Path<String>,
) -> Result<Response, PageError> {
    let (csrf_token, set) = csrf::token(&state, &headers);
    let (invite, status) = state_of(find(&state, &token).await?);
    Ok(page(
        &csrf_token,
        token,
        invite,
        None,
        status,
        &set.into_iter().collect::<Vec<_>>(),
    ))
}

#[derive(Deserialize)]
pub struct AcceptForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    password: String,
}

/// `POST /invite/{token}`: creates the account and signs it in.
pub async fn accept_invitation(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(token): Path<String>,
    Form(form): Form<AcceptForm>,
) -> Result<Response, PageError> {
    let (invite, status) = state_of(find(&state, &token).await?);
    if !matches!(invite, InviteState::Open { .. }) {
        return Ok(page(&form.csrf, token, invite, None, status, &[]));
    }
    if form.password.chars().count() < MIN_PASSWORD_LEN {
        let error = format!("The password must be at least {MIN_PASSWORD_LEN} characters.");
        return Ok(page(
            &form.csrf,
            token,
            invite,
            Some(error),
            StatusCode::UNPROCESSABLE_ENTITY,
            &[],
        ));
    }
    let password_hash = password::hash(SecretString::from(form.password.clone())).await?;

    let mut tx = state.db().begin().await?;
    // The check above was only for the page: this update is what decides, once.
    let Some(accepted) = db::invitation::mark_used(&mut *tx, &token_hash(&token)).await? else {
        drop(tx);
        let (invite, status) = state_of(find(&state, &token).await?);
        return Ok(page(&form.csrf, token, invite, None, status, &[]));
    };
    let inserted = db::app_user::insert(
        &mut *tx,
        &NewUser {
            tenant_id: accepted.tenant_id,
            email: &accepted.email,
            password_hash: &password_hash,
            role: &accepted.role,
            is_platform_admin: false,
        },
    )
    .await;
    let user_id = match inserted {
        Ok(id) => id,
        // The email got an account since the invitation was made (emails are global).
        Err(sqlx::Error::Database(e)) if e.constraint() == Some(EMAIL_UNIQUE) => {
            drop(tx); // the invitation stays unused
            return Ok(page(
                &form.csrf,
                token,
                TAKEN,
                None,
                StatusCode::CONFLICT,
                &[],
            ));
        }
        Err(e) => return Err(e.into()),
    };
    tx.commit().await?;
    tracing::info!(tenant = %accepted.tenant_id, user = %user_id, invitation = %accepted.id,
        "invitation accepted");

    let session_token = session::issue(&state, user_id, accepted.tenant_id, 0)?;
    let mut response = Redirect::to("/dashboard").into_response();
    if let Ok(value) = HeaderValue::from_str(&session::set_cookie(&headers, &session_token)) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    Ok(response)
}
