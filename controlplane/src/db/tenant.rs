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

/// How the admin's tenant list is ordered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AdminSort {
    /// Month-to-date spend, largest first.
    Spend,
    /// Name, A to Z (case-insensitive).
    Name,
}

impl AdminSort {
    pub fn as_str(self) -> &'static str {
        match self {
            AdminSort::Spend => "spend",
            AdminSort::Name => "name",
        }
    }
}

/// One tenant as the platform admin's list shows it.
#[derive(Clone, Debug)]
pub struct AdminTenantRow {
    pub id: Uuid,
    pub name: String,
    /// `active` or `suspended`.
    pub status: String,
    pub created_at: DateTime<Utc>,
    /// The owner's email (the earliest owner; any user if the tenant has no owner).
    pub owner_email: Option<String>,
    /// The ledger sum, micro-USD.
    pub balance_micros: i64,
    /// Spend since `month_start` per the rollups, micro-USD.
    pub month_spend_micros: i64,
    /// Requests since `month_start` per the rollups.
    pub month_requests: i64,
    /// How many tenants match the search in all (the same on every row).
    pub total: i64,
}

/// `text` as a `LIKE` pattern matching it anywhere, its `%`, `_` and `\` taken literally.
pub fn contains_pattern(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// Every tenant matching `search` (case-insensitive, in the name, a user's email or the
/// tenant id; empty matches all) with its balance and its spend and requests since
/// `month_start`, in one query; `limit` rows from `offset`.
pub async fn admin_list(
    e: impl PgExecutor<'_>,
    search: &str,
    month_start: chrono::NaiveDate,
    sort: AdminSort,
    limit: i64,
    offset: i64,
) -> sqlx::Result<Vec<AdminTenantRow>> {
    let pattern = contains_pattern(search.trim());
    sqlx::query_as!(
        AdminTenantRow,
        r#"select t.id, t.name, t.status, t.created_at,
                  owner.email as "owner_email?",
                  coalesce(l.balance, 0)::bigint as "balance_micros!",
                  coalesce(u.spend, 0)::bigint as "month_spend_micros!",
                  coalesce(u.requests, 0)::bigint as "month_requests!",
                  count(*) over () as "total!"
             from tenant t
             left join lateral (
                  select email from app_user
                   where tenant_id = t.id
                   order by role <> 'owner', created_at, id
                   limit 1) owner on true
             left join (
                  select tenant_id, sum(amount_micros) as balance
                    from ledger_entry group by tenant_id) l on l.tenant_id = t.id
             left join (
                  select tenant_id, sum(cost_micros) as spend, sum(requests) as requests
                    from usage_daily where day >= $2 group by tenant_id) u
                  on u.tenant_id = t.id
            where $1 = '%%'
               or t.name ilike $1
               or t.id::text ilike $1
               or exists (select 1 from app_user m
                           where m.tenant_id = t.id and m.email ilike $1)
            order by case when $3 = 'name' then lower(t.name) end,
                     coalesce(u.spend, 0) desc,
                     lower(t.name), t.id
            limit $4 offset $5"#,
        pattern,
        month_start,
        sort.as_str(),
        limit,
        offset
    )
    .fetch_all(e)
    .await
}

/// A person of the tenant, for the admin's tenant page.
#[derive(Clone, Debug)]
pub struct MemberRow {
    pub email: String,
    /// `owner` or `member`.
    pub role: String,
    pub is_platform_admin: bool,
    pub created_at: DateTime<Utc>,
}

/// The tenant's people, owners first, then by when they joined.
pub async fn members(e: impl PgExecutor<'_>, tenant_id: Uuid) -> sqlx::Result<Vec<MemberRow>> {
    sqlx::query_as!(
        MemberRow,
        "select email, role, is_platform_admin, created_at
           from app_user
          where tenant_id = $1
          order by role <> 'owner', created_at, id",
        tenant_id
    )
    .fetch_all(e)
    .await
}
