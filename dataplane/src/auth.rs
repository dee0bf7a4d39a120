//! API-key authentication: `sk-aig-` key → tenant, through a short-lived local cache in
//! front of the key records the control plane publishes to Redis.

use crate::error::Error;
use crate::state::AppState;
use aig_common::api_key::{ApiKey, KeyHash};
use aig_common::key_record::KeyRecord;
use axum::http::HeaderMap;
use redis::AsyncCommands;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a lookup is trusted: a revoked key stops working within this time.
const FRESH_FOR: Duration = Duration::from_millis(500);
/// How long a known-good record may be used while Redis is unreachable.
const STALE_FOR: Duration = Duration::from_secs(300);
/// Entries kept before the cache is pruned.
const MAX_ENTRIES: usize = 100_000;
const REDIS_TIMEOUT: Duration = Duration::from_millis(1000);

/// Who is calling.
#[derive(Clone, Debug)]
pub struct Caller {
    pub tenant_id: String,
    pub key_id: String,
}

struct Cached {
    fetched: Instant,
    record: Option<KeyRecord>,
}

/// Key lookups cached per data plane instance.
#[derive(Default)]
pub struct KeyCache {
    entries: Mutex<HashMap<KeyHash, Cached>>,
}

impl KeyCache {
    fn get(&self, hash: &KeyHash, max_age: Duration) -> Option<Option<KeyRecord>> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .get(hash)
            .filter(|c| c.fetched.elapsed() < max_age)
            .map(|c| c.record.clone())
    }

    fn put(&self, hash: KeyHash, record: Option<KeyRecord>) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= MAX_ENTRIES {
            entries.retain(|_, c| c.fetched.elapsed() < FRESH_FOR);
        }
        entries.insert(
            hash,
            Cached {
                fetched: Instant::now(),
                record,
            },
        );
    }
}

/// The presented key: `Authorization: Bearer sk-aig-…` or `x-api-key: sk-aig-…`.
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
        .filter(|k| k.starts_with(aig_common::api_key::PREFIX))
        .or(x_api_key)
        .or(bearer)
}

/// Resolves the caller's key or fails with 401 `invalid_api_key`.
pub async fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<Caller, Error> {
    let raw = presented_key(headers).ok_or(Error::InvalidApiKey(
        "no API key: send Authorization: Bearer sk-aig-… or x-api-key",
    ))?;
    let key = ApiKey::parse(raw).ok_or(Error::InvalidApiKey(
        "the API key is not a valid sk-aig- key",
    ))?;
    let hash = key.hash();
    let cache = state.key_cache();
    let breaker = state.redis_breaker();
    let record = match cache.get(&hash, FRESH_FOR) {
        Some(record) => record,
        None => {
            let fetched = if breaker.allow() {
                let fetched = fetch(state, &hash).await;
                match &fetched {
                    Err(Lookup::Redis(e)) => {
                        tracing::warn!("key lookup failed: {e}; cached keys go on for now");
                        breaker.failure();
                    }
                    Ok(_) | Err(Lookup::Malformed(_)) => breaker.success(),
                }
                fetched
            } else {
                Err(Lookup::Redis("skipped: Redis failed a moment ago".into()))
            };
            match fetched {
                Ok(record) => {
                    cache.put(hash, record.clone());
                    record
                }
                Err(e) => match cache.get(&hash, STALE_FOR) {
                    Some(record) => record,
                    None => return Err(Error::Unavailable(format!("key lookup failed: {e}"))),
                },
            }
        }
    };
    match record {
        Some(r) if !r.revoked => Ok(Caller {
            tenant_id: r.tenant_id,
            key_id: r.key_id,
        }),
        Some(_) => Err(Error::InvalidApiKey("the API key has been revoked")),
        None => Err(Error::InvalidApiKey("the API key is not known")),
    }
}

/// Why a key record could not be read.
#[derive(Debug, thiserror::Error)]
enum Lookup {
    #[error("{0}")]
    Redis(String),
    #[error("malformed key record: {0}")]
    Malformed(serde_json::Error),
}

async fn fetch(state: &AppState, hash: &KeyHash) -> Result<Option<KeyRecord>, Lookup> {
    let mut redis = state.redis();
    let name = state.redis_keys().api_key(hash);
    let raw: Option<String> = tokio::time::timeout(REDIS_TIMEOUT, redis.get(&name))
        .await
        .map_err(|_| Lookup::Redis("Redis did not answer in time".into()))?
        .map_err(|e| Lookup::Redis(e.to_string()))?;
    match raw {
        None => Ok(None),
        Some(json) => serde_json::from_str(&json)
            .map(Some)
            .map_err(Lookup::Malformed),
    }
}
