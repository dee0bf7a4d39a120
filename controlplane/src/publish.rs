//! Postgres → Redis: what the data plane reads — key records, tenant status, budgets and
//! the prepaid balance — written on every change, in full at start-up, and again for any
//! tenant whose records went missing (Redis came back empty). Every change is also announced
//! on the `tenant-changed` / `key-changed` channels.
//!
//! Balances are never overwritten here: the data plane decrements them live, so changes go
//! out as deltas ([`balance_delta`]) and a missing balance is set from the ledger by
//! [`crate::reconcile::sync`].

use crate::db;
use crate::db::api_key::ApiKeyRow;
use crate::error::Error;
use crate::reconcile;
use crate::state::AppState;
use aig_common::api_key::KeyHash;
use aig_common::budget::tenant_fields;
use aig_common::key_record::KeyRecord;
use redis::{AsyncCommands, Script};
use std::sync::LazyLock;
use std::time::Duration;
use uuid::Uuid;

/// How often [`spawn_watchdog`] looks for tenants whose Redis records are missing.
pub const WATCHDOG_EVERY: Duration = Duration::from_secs(30);

/// `HINCRBY` only when the balance is published; otherwise the next full publish sets it
/// from the ledger, which already holds this change.
static BALANCE_DELTA: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        "if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then \
           return redis.call('HINCRBY', KEYS[1], ARGV[1], ARGV[2]) \
         end \
         return false",
    )
});

/// Publishes each `(channel, message)`, after the write it announces. Never in the write's
/// pipeline: on a Redis Cluster a channel name hashes to a slot of its own.
async fn announce(state: &AppState, messages: &[(String, &str)]) -> Result<(), Error> {
    let publishes: Vec<redis::Cmd> = messages
        .iter()
        .map(|(channel, message)| redis::Cmd::publish(channel, *message))
        .collect();
    let _: Vec<i64> = state.redis().query_each(&publishes).await?;
    Ok(())
}

fn key_record(key: &ApiKeyRow) -> Result<(KeyHash, String), Error> {
    let hash = KeyHash::from_hex(&key.key_hash)
        .ok_or_else(|| Error::Internal(format!("api_key {} has a malformed hash", key.id)))?;
    let record = KeyRecord {
        key_id: key.id.to_string(),
        tenant_id: key.tenant_id.to_string(),
        revoked: key.revoked_at.is_some(),
    };
    let json = serde_json::to_string(&record).map_err(|e| Error::Internal(e.to_string()))?;
    Ok((hash, json))
}

/// Writes one key's record (revoked keys too: the data plane tells revoked from unknown)
/// and announces it.
pub async fn key(state: &AppState, key: &ApiKeyRow) -> Result<(), Error> {
    let keys = state.redis_keys();
    let (hash, json) = key_record(key)?;
    let mut redis = state.redis();
    let _: () = redis.set(keys.api_key(&hash), json).await?;
    announce(state, &[(keys.key_changed_channel(), hash.as_str())]).await
}

/// Writes the tenant's status (`active` or `suspended`) and announces it.
pub async fn tenant_status(state: &AppState, tenant_id: Uuid, status: &str) -> Result<(), Error> {
    let keys = state.redis_keys();
    let tenant = tenant_id.to_string();
    let mut redis = state.redis();
    let _: () = redis::pipe()
        .hset(keys.tenant(&tenant), tenant_fields::STATUS, status)
        .ignore()
        .query_async(&mut redis)
        .await?;
    announce(state, &[(keys.tenant_changed_channel(), &tenant)]).await
}

/// Sets the tag's (or `*`'s) monthly cap in cents and announces it.
pub async fn budget_set(
    state: &AppState,
    tenant_id: Uuid,
    tag: &str,
    monthly_cap_cents: i64,
) -> Result<(), Error> {
    let keys = state.redis_keys();
    let tenant = tenant_id.to_string();
    let mut redis = state.redis();
    let _: () = redis::pipe()
        .hset(keys.budgets(&tenant), tag, monthly_cap_cents)
        .ignore()
        .query_async(&mut redis)
        .await?;
    announce(state, &[(keys.tenant_changed_channel(), &tenant)]).await
}

/// Removes the tag's cap and announces it.
pub async fn budget_delete(state: &AppState, tenant_id: Uuid, tag: &str) -> Result<(), Error> {
    let keys = state.redis_keys();
    let tenant = tenant_id.to_string();
    let mut redis = state.redis();
    let _: () = redis::pipe()
        .hdel(keys.budgets(&tenant), tag)
        .ignore()
        .query_async(&mut redis)
        .await?;
    announce(state, &[(keys.tenant_changed_channel(), &tenant)]).await
}

/// Moves the published balance by `delta_micros` (a credit is positive). Call it inside the
/// transaction that wrote the ledger entry, after taking the tenant's balance lock
/// ([`db::tenant::lock_balance`]), so reconciliation never sees one without the other.
pub async fn balance_delta(
    state: &AppState,
    tenant_id: Uuid,
    delta_micros: i64,
) -> Result<(), Error> {
    let keys = state.redis_keys();
    let tenant = tenant_id.to_string();
    let mut redis = state.redis();
    let _: Option<i64> = BALANCE_DELTA
        .key(keys.tenant(&tenant))
        .arg(tenant_fields::BALANCE_MICROS)
        .arg(delta_micros)
        .invoke_async(&mut redis)
        .await?;
    announce(state, &[(keys.tenant_changed_channel(), &tenant)]).await
}

/// Publishes everything the data plane needs about one tenant: every key record, its status,
/// its budgets (replacing the published set), the usage stream's consumer group, and — if
/// missing — its balance from the ledger.
pub async fn tenant(state: &AppState, tenant_id: Uuid) -> Result<(), Error> {
    let Some(row) = db::tenant::find(state.db(), tenant_id).await? else {
        return Err(Error::not_found(
            format!("no tenant {tenant_id}"),
            "tenant_not_found",
        ));
    };
    let api_keys = db::api_key::list_for_tenant(state.db(), tenant_id).await?;
    let budgets = db::budget::list(state.db(), tenant_id).await?;

    let keys = state.redis_keys();
    let tenant = tenant_id.to_string();
    let redis = state.redis();
    // Key records are named by their hash, so each lies in a slot of its own on a Redis
    // Cluster: written one by one. The tenant's own keys share its slot: one transaction.
    let mut records = Vec::with_capacity(api_keys.len());
    for key in &api_keys {
        let (hash, json) = key_record(key)?;
        records.push(redis::Cmd::set(keys.api_key(&hash), json));
    }
    let _: Vec<()> = redis.query_each(&records).await?;
    let mut pipe = redis::pipe();
    pipe.atomic();
    pipe.del(keys.budgets(&tenant)).ignore();
    if !budgets.is_empty() {
        let caps: Vec<(&str, i64)> = budgets
            .iter()
            .map(|b| (b.tag.as_str(), b.monthly_cap_cents))
            .collect();
        pipe.hset_multiple(keys.budgets(&tenant), &caps).ignore();
    }
    pipe.hset(keys.tenant(&tenant), tenant_fields::STATUS, &row.status)
        .ignore();
    pipe.query_async::<()>(&mut redis.clone()).await?;

    reconcile::sync(state, tenant_id, reconcile::Mode::Init).await?;

    let mut messages = vec![(keys.tenant_changed_channel(), tenant.as_str())];
    for key in &api_keys {
        messages.push((keys.key_changed_channel(), key.key_hash.as_str()));
    }
    announce(state, &messages).await?;
    state.metrics().tenants_published.inc();
    Ok(())
}

/// Publishes every tenant; failures are logged and counted, the rest go on.
pub async fn all(state: &AppState) -> Result<(usize, usize), Error> {
    let (mut published, mut failed) = (0, 0);
    for tenant_id in db::tenant::list_ids(state.db()).await? {
        match tenant(state, tenant_id).await {
            Ok(()) => published += 1,
            Err(e) => {
                failed += 1;
                tracing::warn!(tenant = %tenant_id, "could not publish the tenant: {e}");
            }
        }
    }
    Ok((published, failed))
}

/// Publishes in full every tenant whose Redis tenant record is missing (a new tenant whose
/// first publish failed, or a Redis that came back empty). Returns how many.
pub async fn republish_missing(state: &AppState) -> Result<usize, Error> {
    let tenant_ids = db::tenant::list_ids(state.db()).await?;
    let keys = state.redis_keys();
    let redis = state.redis();
    let mut republished = 0;
    for chunk in tenant_ids.chunks(500) {
        // One EXISTS per tenant: on a Redis Cluster each tenant's keys lie in its own slot.
        let asks: Vec<redis::Cmd> = chunk
            .iter()
            .map(|id| redis::Cmd::exists(keys.tenant(&id.to_string())))
            .collect();
        let exists: Vec<bool> = redis.query_each(&asks).await?;
        for (id, _) in chunk.iter().zip(exists).filter(|(_, e)| !e) {
            match tenant(state, *id).await {
                Ok(()) => {
                    republished += 1;
                    tracing::warn!(tenant = %id, "tenant records were missing from Redis; republished");
                }
                Err(e) => tracing::warn!(tenant = %id, "could not republish the tenant: {e}"),
            }
        }
    }
    Ok(republished)
}

/// Runs [`republish_missing`] every [`WATCHDOG_EVERY`] until `shutdown` fires.
pub fn spawn_watchdog(
    state: AppState,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::select! {
                () = tokio::time::sleep(WATCHDOG_EVERY) => {}
                _ = shutdown.changed() => break,
            }
            if let Err(e) = republish_missing(&state).await {
                tracing::warn!("could not check Redis for missing tenants: {e}");
            }
        }
    })
}
