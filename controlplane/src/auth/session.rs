//! Sessions for people: an HS256 JWT (signed with `AIG_JWT_SECRET`) in the `aig_session`
//! cookie — HttpOnly, SameSite=Lax, Secure over https — valid for [`SESSION_HOURS`]. Every
//! request checks the signature and expiry, then that the user still exists and its tenant
//! is not suspended.

use crate::auth::cookie;
use crate::db;
use crate::routes::pages::PageError;
use crate::state::AppState;
use aig_common::budget::STATUS_SUSPENDED;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::HeaderMap;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub const COOKIE: &str = "aig_session";
/// How long a sign-in lasts.
pub const SESSION_HOURS: i64 = 12;

/// What the session cookie's JWT says.
#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    /// The user's id.
    pub sub: Uuid,
    /// The user's tenant.
    pub tid: Uuid,
    /// Issued at, Unix seconds.
    pub iat: i64,
    /// Expires at, Unix seconds.
    pub exp: i64,
    /// The user's session epoch at sign-in; logging out moves it on, ending this session.
    #[serde(default)]
    pub ep: i32,
}

/// A signed session token for the user, valid for [`SESSION_HOURS`] from now.
pub fn issue(
    state: &AppState,
    user_id: Uuid,
    tenant_id: Uuid,
    epoch: i32,
) -> Result<String, PageError> {
    let now = chrono::Utc::now().timestamp();
    let claims = Claims {
        sub: user_id,
        tid: tenant_id,
        iat: now,
        exp: now + SESSION_HOURS * 3600,
        ep: epoch,
    };
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(state.session_key()),
    )
    .map_err(|e| PageError::Server(crate::Error::Internal(format!("signing a session: {e}"))))
}

/// The claims of a token we signed that has not expired (no leeway), else `None`.
pub fn decode(state: &AppState, token: &str) -> Option<Claims> {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.leeway = 0;
    validation.set_required_spec_claims(&["exp", "sub"]);
    jsonwebtoken::decode::<Claims>(
        token,
        &DecodingKey::from_secret(state.session_key()),
        &validation,
    )
    .ok()
    .map(|data| data.claims)
}

/// `Set-Cookie` for a new session.
pub fn set_cookie(headers: &HeaderMap, token: &str) -> String {
    cookie::set(headers, COOKIE, token, Some(SESSION_HOURS * 3600))
}

/// `Set-Cookie` that ends the session.
pub fn clear_cookie(headers: &HeaderMap) -> String {
    cookie::set(headers, COOKIE, "", Some(0))
}

/// A signed-in person. Extracting it from a request without a valid session redirects to
/// `/login`; a suspended tenant's session is refused with 403, except for a platform admin,
/// who must be able to reinstate tenants whatever became of their own.
#[derive(Clone, Debug)]
pub struct SignedIn {
    pub user_id: Uuid,
    pub tenant_id: Uuid,
    pub email: String,
    pub org: String,
    /// `owner` or `member` of the tenant.
    pub role: String,
    /// May use `/admin`.
    pub is_platform_admin: bool,
}

impl SignedIn {
    /// Owners manage the team; members do everything else.
    pub fn is_owner(&self) -> bool {
        self.role == "owner"
    }
}

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, PageError> {
        let claims = cookie::get(&parts.headers, COOKIE)
            .and_then(|token| decode(state, token))
            .ok_or(PageError::SignedOut)?;
        let user = db::app_user::find_session_user(state.db(), claims.sub)
            .await
            .map_err(|e| PageError::Server(e.into()))?
            .filter(|u| u.tenant_id == claims.tid && u.session_epoch == claims.ep)
            .ok_or(PageError::SignedOut)?;
        if user.tenant_status == STATUS_SUSPENDED && !user.is_platform_admin {
            return Err(PageError::Suspended);
        }
        Ok(SignedIn {
            user_id: user.user_id,
            tenant_id: user.tenant_id,
            email: user.email,
            org: user.tenant_name,
            role: user.role,
            is_platform_admin: user.is_platform_admin,
        })
    }
}
