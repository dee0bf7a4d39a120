//! `/dashboard/keys`: the signed-in tenant's keys — list, create (the key shown once) and
//! revoke (every data plane refuses it within a second).

use crate::accounts;
use crate::auth::csrf;
use crate::auth::session::SignedIn;
use crate::db;
use crate::error::Error;
use crate::routes::pages::{render, with_cookie, Chrome, PageError};
use crate::state::AppState;
use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use uuid::Uuid;

/// One row of the keys table, formatted for the page.
pub struct KeyView {
    pub id: Uuid,
    pub name: String,
    pub display_prefix: String,
    pub created: String,
    pub last_used: String,
    pub revoked: Option<String>,
}

fn when(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

#[derive(Template)]
#[template(path = "keys.html")]
struct KeysPage<'a> {
    chrome: Chrome,
    keys: Vec<KeyView>,
    /// A key just created, shown this once.
    new_key: Option<&'a str>,
    /// The new key is the first, made at sign-up.
    welcome: bool,
    error: Option<&'a str>,
}

/// The keys page for `who`, optionally revealing a just-created key (`(key, welcome)`).
pub async fn keys_page(
    state: &AppState,
    who: &SignedIn,
    csrf: &str,
    new_key: Option<(&str, bool)>,
    error: Option<&str>,
    status: StatusCode,
) -> Result<Response, PageError> {
    let keys = db::api_key::list_for_tenant(state.db(), who.tenant_id)
        .await?
        .into_iter()
        .map(|k| KeyView {
            id: k.id,
            name: k.name,
            display_prefix: k.display_prefix,
            created: when(k.created_at),
            last_used: k.last_used_at.map_or_else(|| "never".to_owned(), when),
            revoked: k.revoked_at.map(when),
        })
        .collect();
    let page = KeysPage {
        chrome: Chrome::signed_in(who, csrf, "keys"),
        keys,
        new_key: new_key.map(|(k, _)| k),
        welcome: new_key.is_some_and(|(_, w)| w),
        error,
    };
    Ok(render(&page, status, &[]))
}

pub async fn list(
    State(state): State<AppState>,
    who: SignedIn,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let (token, set) = csrf::token(&state, &headers);
    let response = keys_page(&state, &who, &token, None, None, StatusCode::OK).await?;
    Ok(with_cookie(response, set))
}

#[derive(Deserialize)]
pub struct CreateForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
}

pub async fn create(
    State(state): State<AppState>,
    who: SignedIn,
    Form(form): Form<CreateForm>,
) -> Result<Response, PageError> {
    match accounts::create_key(&state, who.tenant_id, &form.name).await {
        Ok((key, row)) => {
            tracing::info!(tenant = %who.tenant_id, key_id = %row.id, "key created");
            keys_page(
                &state,
                &who,
                &form.csrf,
                Some((key.expose(), false)),
                None,
                StatusCode::CREATED,
            )
            .await
        }
        Err(Error::InvalidRequest { .. }) => {
            keys_page(
                &state,
                &who,
                &form.csrf,
                None,
                Some("A key name must be 1-200 characters."),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn revoke(
    State(state): State<AppState>,
    who: SignedIn,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    // Another tenant's key id is as unknown as a made-up one.
    let id = Uuid::parse_str(&id).map_err(|_| PageError::NotFound)?;
    let row = accounts::revoke_key(&state, who.tenant_id, id).await?;
    tracing::info!(tenant = %who.tenant_id, key_id = %row.id, "key revoked");
    Ok(Redirect::to("/dashboard/keys").into_response())
}
