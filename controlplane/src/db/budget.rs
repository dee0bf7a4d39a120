//! `budget`: monthly caps per tag (or `*`), in cents.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

#[derive(Clone, Debug)]
pub struct Budget {
    pub tag: String,
    pub monthly_cap_cents: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Sets the tag's cap, creating the budget if needed.
pub async fn upsert(
    e: impl PgExecutor<'_>,
    tenant_id: Uuid,
    tag: &str,
    monthly_cap_cents: i64,
) -> sqlx::Result<Budget> {
    sqlx::query_as!(
        Budget,
        "insert into budget (tenant_id, tag, monthly_cap_cents) values ($1, $2, $3)
         on conflict on constraint budget_tenant_id_tag_key
         do update set monthly_cap_cents = excluded.monthly_cap_cents, updated_at = now()
         returning tag, monthly_cap_cents, created_at, updated_at",
        tenant_id,
        tag,
        monthly_cap_cents
    )
    .fetch_one(e)
    .await
}

/// The tenant's budgets, `*` first, then by tag.
pub async fn list(e: impl PgExecutor<'_>, tenant_id: Uuid) -> sqlx::Result<Vec<Budget>> {
    sqlx::query_as!(
        Budget,
        "select tag, monthly_cap_cents, created_at, updated_at
           from budget
          where tenant_id = $1
          order by tag <> '*', tag",
        tenant_id
    )
    .fetch_all(e)
    .await
}

/// Deletes the tag's budget; `None` if there was none.
pub async fn delete(
    e: impl PgExecutor<'_>,
    tenant_id: Uuid,
    tag: &str,
) -> sqlx::Result<Option<Budget>> {
    sqlx::query_as!(
        Budget,
        "delete from budget where tenant_id = $1 and tag = $2
         returning tag, monthly_cap_cents, created_at, updated_at",
        tenant_id,
        tag
    )
    .fetch_optional(e)
    .await
}
