//! `/dashboard/team`: the tenant's people and pending invitations. Everyone sees the list;
//! owners invite (a one-time link shown once, valid [`INVITATION_DAYS`] days), revoke
//! invitations, change roles and remove members — never leaving the tenant without an
//! owner. A member's POST is a 403 page and changes nothing.

use crate::auth::csrf;
use crate::auth::session::SignedIn;
use crate::db;
use crate::db::invitation::NewInvitation;
use crate::routes::pages::{public_base, render, with_cookie, Chrome, PageError};
use crate::routes::session::CsrfForm;
use crate::state::AppState;
use crate::view;
use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// How long an invitation link works.
pub const INVITATION_DAYS: i64 = 7;
/// The roles a person can have in a tenant.
const ROLES: [&str; 2] = ["owner", "member"];

/// One row of the members table.
pub struct MemberView {
    pub id: Uuid,
    pub email: String,
    pub role: String,
    pub joined: String,
    /// The signed-in person's own row.
    pub is_you: bool,
}

/// One row of the pending invitations table.
pub struct InvitationView {
    pub id: Uuid,
    pub email: String,
    pub role: String,
    pub invited_by: String,
    pub expires: String,
}

/// A link just created, shown this once.
pub struct NewLink {
    pub url: String,
    pub email: String,
}

#[derive(Template)]
#[template(path = "team.html")]
struct TeamPage {
    chrome: Chrome,
    owner: bool,
    members: Vec<MemberView>,
    invitations: Vec<InvitationView>,
    link: Option<NewLink>,
    error: Option<String>,
    /// What the invite form had, to keep it after an error.
    email: String,
    days: i64,
}

/// Why a member's attempt at an owner's action is refused.
const OWNERS_ONLY: &str = "Only the organisation's owners can manage the team; ask an owner if \
                           you need this done.";

/// Lower-case hex SHA-256 of an invitation token: what the table stores.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A fresh invitation token: 256 random bits as hex.
fn new_token() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

/// The absolute link for `token`: on `AIG_PUBLIC_URL`, else the host the owner is using.
fn invitation_url(state: &AppState, headers: &HeaderMap, token: &str) -> String {
    let base = public_base(state.config().public_url.as_deref(), headers);
    format!("{base}/invite/{token}")
}

async fn team_page(
    state: &AppState,
    who: &SignedIn,
    csrf: &str,
    link: Option<NewLink>,
    error: Option<(String, String)>,
    status: StatusCode,
) -> Result<Response, PageError> {
    let members = db::app_user::list_for_tenant(state.db(), who.tenant_id)
        .await?
        .into_iter()
        .map(|m| MemberView {
            is_you: m.id == who.user_id,
            id: m.id,
            email: m.email,
            role: m.role,
            joined: view::when(m.created_at),
        })
        .collect();
    let invitations = db::invitation::list_pending(state.db(), who.tenant_id)
        .await?
        .into_iter()
        .map(|i| InvitationView {
            id: i.id,
            email: i.email,
            role: i.role,
            invited_by: i.invited_by.unwrap_or_else(|| "a former member".to_owned()),
            expires: view::when(i.expires_at),
        })
        .collect();
    let (error, email) = match error {
        Some((message, email)) => (Some(message), email),
        None => (None, String::new()),
    };
    let page = TeamPage {
        chrome: Chrome::signed_in(who, csrf, "team"),
        owner: who.is_owner(),
        members,
        invitations,
        link,
        error,
        email,
        days: INVITATION_DAYS,
    };
    Ok(render(&page, status, &[]))
}

/// `GET /dashboard/team`.
pub async fn show_team(
    State(state): State<AppState>,
    who: SignedIn,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let (token, set) = csrf::token(&state, &headers);
    let response = team_page(&state, &who, &token, None, None, StatusCode::OK).await?;
    Ok(with_cookie(response, set))
}

#[derive(Deserialize)]
pub struct InviteForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    role: String,
}

/// Whether `email` looks like an address (the same shape sign-up accepts).
fn is_email(email: &str) -> bool {
    email.len() <= 254
        && !email.chars().any(char::is_whitespace)
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && domain.contains('.') && !domain.contains('@')
        })
}

/// `POST /dashboard/team/invitations`: an owner invites an email with a role; the page shows
/// the link once. A new invitation for the same email replaces the pending ones.
pub async fn invite_member(
    State(state): State<AppState>,
    who: SignedIn,
    headers: HeaderMap,
    Form(form): Form<InviteForm>,
) -> Result<Response, PageError> {
    if !who.is_owner() {
        return Err(PageError::Forbidden(OWNERS_ONLY));
    }
    let email = form.email.trim();
    let again = |message: String, status: StatusCode| {
        team_page(
            &state,
            &who,
            &form.csrf,
            None,
            Some((message, email.to_owned())),
            status,
        )
    };
    if !is_email(email) {
        return again(
            format!("{email:?} is not an email address."),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
    if !ROLES.contains(&form.role.as_str()) {
        return again(
            "Choose a role: owner or member.".to_owned(),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
    if db::app_user::email_taken(state.db(), email).await? {
        return again(
            format!(
                "{email} already has an AIgateway account. An email belongs to one \
                 organisation only: invite another address, or ask them to use one."
            ),
            StatusCode::CONFLICT,
        )
        .await;
    }
    let token = new_token();
    let mut tx = state.db().begin().await?;
    db::invitation::revoke_pending_for_email(&mut *tx, who.tenant_id, email).await?;
    let id = db::invitation::insert(
        &mut *tx,
        &NewInvitation {
            tenant_id: who.tenant_id,
            email,
            role: &form.role,
            token_hash: &token_hash(&token),
            invited_by: who.user_id,
            expires_at: chrono::Utc::now() + chrono::Duration::days(INVITATION_DAYS),
        },
    )
    .await?;
    tx.commit().await?;
    tracing::info!(tenant = %who.tenant_id, invitation = %id, role = %form.role, "invitation created");
    let link = NewLink {
        url: invitation_url(&state, &headers, &token),
        email: email.to_owned(),
    };
    team_page(
        &state,
        &who,
        &form.csrf,
        Some(link),
        None,
        StatusCode::CREATED,
    )
    .await
}

/// An id in the path; anything that is not one of the tenant's is 404.
fn parse_id(raw: &str) -> Result<Uuid, PageError> {
    Uuid::parse_str(raw).map_err(|_| PageError::NotFound)
}

/// `POST /dashboard/team/invitations/{id}/revoke`.
pub async fn revoke_invitation(
    State(state): State<AppState>,
    who: SignedIn,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    if !who.is_owner() {
        return Err(PageError::Forbidden(OWNERS_ONLY));
    }
    let id = parse_id(&id)?;
    if !db::invitation::revoke(state.db(), who.tenant_id, id).await? {
        return Err(PageError::NotFound);
    }
    tracing::info!(tenant = %who.tenant_id, invitation = %id, "invitation revoked");
    Ok(Redirect::to("/dashboard/team").into_response())
}

#[derive(Deserialize)]
pub struct RoleForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    role: String,
}

/// Whether demoting or removing `target` (now `target_role`) would leave no owner.
fn leaves_no_owner(owners: &[Uuid], target: Uuid, target_role: &str) -> bool {
    target_role == "owner" && owners.iter().all(|o| *o == target)
}

/// `POST /dashboard/team/members/{id}/role`: makes a member an owner or an owner a member;
/// the last owner cannot be made a member.
pub async fn change_role(
    State(state): State<AppState>,
    who: SignedIn,
    Path(id): Path<String>,
    Form(form): Form<RoleForm>,
) -> Result<Response, PageError> {
    if !who.is_owner() {
        return Err(PageError::Forbidden(OWNERS_ONLY));
    }
    let id = parse_id(&id)?;
    if !ROLES.contains(&form.role.as_str()) {
        return team_page(
            &state,
            &who,
            &form.csrf,
            None,
            Some(("Choose a role: owner or member.".to_owned(), String::new())),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
    let mut tx = state.db().begin().await?;
    let owners = db::app_user::lock_owners(&mut *tx, who.tenant_id).await?;
    if !owners.contains(&who.user_id) {
        return Err(PageError::Forbidden(OWNERS_ONLY)); // demoted by another owner since this request began
    }
    let current = db::app_user::find_role(&mut *tx, who.tenant_id, id)
        .await?
        .ok_or(PageError::NotFound)?;
    if form.role == "member" && leaves_no_owner(&owners, id, &current) {
        drop(tx);
        return team_page(
            &state,
            &who,
            &form.csrf,
            None,
            Some((
                "The organisation needs at least one owner: make someone else an owner first."
                    .to_owned(),
                String::new(),
            )),
            StatusCode::CONFLICT,
        )
        .await;
    }
    db::app_user::set_role(&mut *tx, who.tenant_id, id, &form.role).await?;
    tx.commit().await?;
    tracing::info!(tenant = %who.tenant_id, user = %id, role = %form.role, "role changed");
    Ok(Redirect::to("/dashboard/team").into_response())
}

/// `POST /dashboard/team/members/{id}/remove`: deletes the person from the tenant (their
/// sessions stop working at once); the last owner cannot be removed, not even by themself.
pub async fn remove_member(
    State(state): State<AppState>,
    who: SignedIn,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, PageError> {
    if !who.is_owner() {
        return Err(PageError::Forbidden(OWNERS_ONLY));
    }
    let id = parse_id(&id)?;
    let mut tx = state.db().begin().await?;
    let owners = db::app_user::lock_owners(&mut *tx, who.tenant_id).await?;
    if !owners.contains(&who.user_id) {
        return Err(PageError::Forbidden(OWNERS_ONLY)); // demoted by another owner since this request began
    }
    let current = db::app_user::find_role(&mut *tx, who.tenant_id, id)
        .await?
        .ok_or(PageError::NotFound)?;
    if leaves_no_owner(&owners, id, &current) {
        drop(tx);
        return team_page(
            &state,
            &who,
            &form.csrf,
            None,
            Some((
                "The last owner cannot be removed: make someone else an owner first.".to_owned(),
                String::new(),
            )),
            StatusCode::CONFLICT,
        )
        .await;
    }
    db::app_user::delete(&mut *tx, who.tenant_id, id).await?;
    tx.commit().await?;
    tracing::info!(tenant = %who.tenant_id, user = %id, "member removed");
    // Removing yourself ends your own session: the next page is the login.
    let next = if id == who.user_id {
        "/login"
    } else {
        "/dashboard/team"
    };
    Ok(Redirect::to(next).into_response())
}
