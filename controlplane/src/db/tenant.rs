//! `tenant`: organisations, their status, and the per-tenant lock that orders balance work.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

#[derive(Clone, Debug)]
pub struct Tenant {
    pub id: Uuid,
    pub name: String,
    /// `active` or `suspended`.
    pub status: String,
    pub suspended_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

pub async fn insert(e: impl PgExecutor<'_>, name: &str) -> sqlx::Result<Uuid> {
    sqlx::query_scalar!("insert into tenant (name) values ($1) returning id", name)
        .fetch_one(e)
        .await
}

pub async fn find(e: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<Option<Tenant>> {
    sqlx::query_as!(
        Tenant,
        "select id, name, status, suspended_at, created_at from tenant where id = $1",
        id
    )
    .fetch_optional(e)
    .await
}

/// Every tenant's id, oldest first.
pub async fn list_ids(e: impl PgExecutor<'_>) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar!("select id from tenant order by created_at, id")
        .fetch_all(e)
        .await
}

/// Suspends or reinstates; `None` if there is no such tenant.
pub async fn set_status(
    e: impl PgExecutor<'_>,
    id: Uuid,
    suspended: bool,
) -> sqlx::Result<Option<Tenant>> {
    sqlx::query_as!(
        Tenant,
        "update tenant
            set status = case when $2 then 'suspended' else 'active' end,
                suspended_at = case when $2 then coalesce(suspended_at, now()) end,
                updated_at = now()
          where id = $1
      returning id, name, status, suspended_at, created_at",
        id,
        suspended
    )
    .fetch_optional(e)
    .await
}

/// Takes the tenant's balance lock until the transaction ends. Everything that changes the
/// ledger or reads it against Redis (usage ingestion, credits, publishing the balance,
/// reconciliation) holds it, so a ledger sum and the Redis balance are compared at one
/// consistent point, whichever control plane instance does the work.
pub async fn lock_balance(e: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<()> {
    sqlx::query!(
        "select pg_advisory_xact_lock(hashtextextended('balance:' || $1::text, 0))",
        id.to_string()
    )
    .execute(e)
    .await
    .map(|_| ())
}
