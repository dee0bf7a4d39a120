//! `/admin`: the platform admin's pages — every tenant with its balance and spend, one
//! tenant's detail with suspend/reinstate and credit adjustments, and provider health — for
//! platform-admin users only. Anyone else gets the 404 page: `/admin` does not reveal that
//! it exists.

pub mod health;
pub mod tenants;

use crate::auth::session::SignedIn;
use crate::routes::pages::PageError;
use crate::state::AppState;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;

/// A signed-in platform admin. Signed out: 303 to `/login`; signed in without the flag: 404.
pub struct PlatformAdmin(pub SignedIn);

impl FromRequestParts<AppState> for PlatformAdmin {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, PageError> {
        let who = SignedIn::from_request_parts(parts, state).await?;
        if !who.is_platform_admin {
            return Err(PageError::NotFound);
        }
        Ok(PlatformAdmin(who))
    }
}
