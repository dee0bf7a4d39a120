//! Writes tenants' key records into Redis through `common`, the way the control plane
//! publishes them (used by tests and by `scripts/dev` until the control plane issues keys).
//! Generic over the connection: a single server's `ConnectionManager` or a Redis Cluster
//! connection (`aig_dataplane::redis_conn::RedisConn`).

use aig_common::api_key::ApiKey;
use aig_common::key_record::KeyRecord;
use aig_common::redis_keys::RedisKeys;
use redis::aio::ConnectionLike;
use redis::AsyncCommands;

/// Creates a fresh key for `tenant_id` and publishes its record. `ttl_secs` bounds how
/// long the record lives (tests), `None` keeps it.
pub async fn publish_new_key<C: ConnectionLike + Send + Sync>(
    redis: &mut C,
    keys: &RedisKeys,
    tenant_id: &str,
    ttl_secs: Option<u64>,
) -> redis::RedisResult<ApiKey> {
    let key = ApiKey::generate();
    let record = KeyRecord {
        key_id: uuid::Uuid::new_v4().to_string(),
        tenant_id: tenant_id.to_owned(),
        revoked: false,
    };
    write_record(redis, keys, &key, &record, ttl_secs).await?;
    Ok(key)
}

/// Marks a key revoked in Redis.
pub async fn revoke_key<C: ConnectionLike + Send + Sync>(
    redis: &mut C,
    keys: &RedisKeys,
    key: &ApiKey,
    tenant_id: &str,
) -> redis::RedisResult<()> {
    let record = KeyRecord {
        key_id: String::new(),
        tenant_id: tenant_id.to_owned(),
        revoked: true,
    };
    write_record(redis, keys, key, &record, Some(3600)).await
}

async fn write_record<C: ConnectionLike + Send + Sync>(
    redis: &mut C,
    keys: &RedisKeys,
    key: &ApiKey,
    record: &KeyRecord,
    ttl_secs: Option<u64>,
) -> redis::RedisResult<()> {
    let name = keys.api_key(&key.hash());
    let json = serde_json::to_string(record).map_err(|e| {
        redis::RedisError::from((redis::ErrorKind::TypeError, "key record", e.to_string()))
    })?;
    match ttl_secs {
        Some(ttl) => redis.set_ex(name, json, ttl).await,
        None => redis.set(name, json).await,
    }
}

/// Sets a tag's (or `*`'s) monthly cap in cents, as the control plane publishes budgets.
pub async fn set_budget<C: ConnectionLike + Send + Sync>(
    redis: &mut C,
    keys: &RedisKeys,
    tenant_id: &str,
    tag: &str,
    cap_cents: u64,
) -> redis::RedisResult<()> {
    redis.hset(keys.budgets(tenant_id), tag, cap_cents).await
}

/// Sets the tenant's prepaid balance in micro-USD.
pub async fn set_balance<C: ConnectionLike + Send + Sync>(
    redis: &mut C,
    keys: &RedisKeys,
    tenant_id: &str,
    balance_micros: i64,
) -> redis::RedisResult<()> {
    redis
        .hset(
            keys.tenant(tenant_id),
            aig_common::budget::tenant_fields::BALANCE_MICROS,
            balance_micros,
        )
        .await
}

/// Sets the tenant's status (`active` or `suspended`).
pub async fn set_status<C: ConnectionLike + Send + Sync>(
    redis: &mut C,
    keys: &RedisKeys,
    tenant_id: &str,
    status: &str,
) -> redis::RedisResult<()> {
    redis
        .hset(
            keys.tenant(tenant_id),
            aig_common::budget::tenant_fields::STATUS,
            status,
        )
        .await
}
