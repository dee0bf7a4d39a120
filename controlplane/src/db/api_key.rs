//! `api_key`: tenants' keys, stored only as SHA-256 with a display prefix.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

#[derive(Clone, Debug)]
pub struct ApiKeyRow {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub name: String,
    /// Lower-case hex SHA-256 of the key.
    pub key_hash: String,
    pub display_prefix: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A key with its tenant's status, for authenticating a call.
#[derive(Clone, Debug)]
pub struct KeyOwner {
    pub key_id: Uuid,
    pub tenant_id: Uuid,
    pub revoked_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub tenant_status: String,
}

pub struct NewKey<'a> {
    pub tenant_id: Uuid,
    pub name: &'a str,
    pub key_hash: &'a str,
    pub display_prefix: &'a str,
}

pub async fn insert(e: impl PgExecutor<'_>, key: &NewKey<'_>) -> sqlx::Result<ApiKeyRow> {
    sqlx::query_as!(
        ApiKeyRow,
        "insert into api_key (tenant_id, name, key_hash, display_prefix)
         values ($1, $2, $3, $4)
         returning id, tenant_id, name, key_hash, display_prefix, created_at, last_used_at,
                   revoked_at",
        key.tenant_id,
        key.name,
        key.key_hash,
        key.display_prefix
    )
    .fetch_one(e)
    .await
}

pub async fn find_owner_by_hash(
    e: impl PgExecutor<'_>,
    key_hash: &str,
) -> sqlx::Result<Option<KeyOwner>> {
    sqlx::query_as!(
        KeyOwner,
        "select k.id as key_id, k.tenant_id, k.revoked_at, k.last_used_at,
                t.status as tenant_status
           from api_key k
           join tenant t on t.id = k.tenant_id
          where k.key_hash = $1",
        key_hash
    )
    .fetch_optional(e)
    .await
}

/// Records a use, at most once a minute per key (the write is skipped inside the minute).
pub async fn touch_last_used(e: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<()> {
    sqlx::query!(
        "update api_key set last_used_at = now()
          where id = $1
            and (last_used_at is null or last_used_at < now() - interval '1 minute')",
        id
    )
    .execute(e)
    .await
    .map(|_| ())
}

/// Every key of the tenant, revoked ones included (their records say so): active keys
/// first, each group oldest first.
pub async fn list_for_tenant(
    e: impl PgExecutor<'_>,
    tenant_id: Uuid,
) -> sqlx::Result<Vec<ApiKeyRow>> {
    sqlx::query_as!(
        ApiKeyRow,
        "select id, tenant_id, name, key_hash, display_prefix, created_at, last_used_at,
                revoked_at
           from api_key
          where tenant_id = $1
          order by revoked_at is not null, created_at, id",
        tenant_id
    )
    .fetch_all(e)
    .await
}

/// Revokes one of the tenant's keys (idempotent); `None` if the tenant has no such key.
pub async fn revoke(
    e: impl PgExecutor<'_>,
    tenant_id: Uuid,
    id: Uuid,
) -> sqlx::Result<Option<ApiKeyRow>> {
    sqlx::query_as!(
        ApiKeyRow,
        "update api_key
            set revoked_at = coalesce(revoked_at, now()), updated_at = now()
          where tenant_id = $1 and id = $2
      returning id, tenant_id, name, key_hash, display_prefix, created_at, last_used_at,
                revoked_at",
        tenant_id,
        id
    )
    .fetch_optional(e)
    .await
}

/// Records the tenant's keys' latest uses seen in a usage batch: `last_used_at` moves
/// forward to each key's time, never back (a redelivered batch changes nothing).
pub async fn record_uses(
    e: impl PgExecutor<'_>,
    tenant_id: Uuid,
    key_ids: &[Uuid],
    used_at: &[DateTime<Utc>],
) -> sqlx::Result<u64> {
    sqlx::query!(
        "update api_key k
            set last_used_at = greatest(k.last_used_at, u.used_at)
           from unnest($2::uuid[], $3::timestamptz[]) as u(key_id, used_at)
          where k.tenant_id = $1 and k.id = u.key_id
            and (k.last_used_at is null or k.last_used_at < u.used_at)",
        tenant_id,
        key_ids,
        used_at
    )
    .execute(e)
    .await
    .map(|r| r.rows_affected())
}
