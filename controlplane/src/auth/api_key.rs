//! The management API's caller: an `sk-aig-` key (`Authorization: Bearer …` or
//! `x-api-key`) resolved to its tenant in Postgres. Unknown or revoked keys are 401
//! `invalid_api_key`; a suspended tenant is 403 `tenant_suspended`.

use crate::db;
use crate::error::Error;
use crate::state::AppState;
use aig_common::api_key::{ApiKey, PREFIX};
use aig_common::budget::STATUS_SUSPENDED;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::HeaderMap;
use chrono::{TimeDelta, Utc};
use uuid::Uuid;

/// A key's last use is written at most this often.
const LAST_USED_RESOLUTION: TimeDelta = TimeDelta::minutes(1);

/// The tenant (and key) a management call acts for.
#[derive(Clone, Copy, Debug)]
pub struct KeyAuth {
    pub tenant_id: Uuid,
    pub key_id: Uuid,
}

/// The presented key: a Bearer token that looks like ours, else `x-api-key`, else any
/// Bearer token (which then fails as malformed).
fn presented_key(headers: &HeaderMap) -> Option<&str> {
    let bearer = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        });
    let x_api_key = headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim);
    bearer
        .filter(|k| k.starts_with(PREFIX))
        .or(x_api_key)
        .or(bearer)
}

impl FromRequestParts<AppState> for KeyAuth {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Error> {
        let raw = presented_key(&parts.headers).ok_or(Error::InvalidApiKey(
            "no API key: send Authorization: Bearer sk-aig-… or x-api-key",
        ))?;
        let key = ApiKey::parse(raw).ok_or(Error::InvalidApiKey(
            "the API key is not a valid sk-aig- key",
        ))?;
        let owner = db::api_key::find_owner_by_hash(state.db(), key.hash().as_str())
            .await?
            .ok_or(Error::InvalidApiKey("the API key is not known"))?;
        if owner.revoked_at.is_some() {
            return Err(Error::InvalidApiKey("the API key has been revoked"));
        }
        if owner.tenant_status == STATUS_SUSPENDED {
            return Err(Error::TenantSuspended);
        }
        let stale = owner
            .last_used_at
            .is_none_or(|t| Utc::now() - t >= LAST_USED_RESOLUTION);
        if stale {
            if let Err(e) = db::api_key::touch_last_used(state.db(), owner.key_id).await {
                tracing::warn!(key_id = %owner.key_id, "could not record the key's last use: {e}");
            }
        }
        Ok(KeyAuth {
            tenant_id: owner.tenant_id,
            key_id: owner.key_id,
        })
    }
}
