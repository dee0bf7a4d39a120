//! `ledger_entry`: the append-only credit ledger. A tenant's balance is the sum of its
//! entries, in micro-USD.

use sqlx::PgExecutor;
use uuid::Uuid;

/// What an entry records; the `kind` column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LedgerKind {
    /// Granted at sign-up (positive).
    TrialCredit,
    /// Paid through Stripe (positive).
    TopUp,
    /// One ingested request's cost (negative).
    Usage,
    /// An operator's correction, with a reason (either sign).
    Adjustment,
}

impl LedgerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LedgerKind::TrialCredit => "trial_credit",
            LedgerKind::TopUp => "top_up",
            LedgerKind::Usage => "usage",
            LedgerKind::Adjustment => "adjustment",
        }
    }
}

pub struct NewEntry<'a> {
    pub tenant_id: Uuid,
    pub kind: LedgerKind,
    pub amount_micros: i64,
    pub reason: Option<&'a str>,
    /// Unique across the ledger: the same credit written twice is written once.
    pub idempotency_key: &'a str,
}

/// The idempotency key of a request's usage debit.
pub fn usage_idempotency_key(request_id: &str) -> String {
    format!("usage:{request_id}")
}

/// Appends an entry; `None` when its idempotency key was already used (nothing written).
pub async fn append(e: impl PgExecutor<'_>, entry: &NewEntry<'_>) -> sqlx::Result<Option<Uuid>> {
    sqlx::query_scalar!(
        "insert into ledger_entry (tenant_id, kind, amount_micros, reason, idempotency_key)
         values ($1, $2, $3, $4, $5)
         on conflict on constraint ledger_entry_idempotency_key_key do nothing
         returning id",
        entry.tenant_id,
        entry.kind.as_str(),
        entry.amount_micros,
        entry.reason,
        entry.idempotency_key
    )
    .fetch_optional(e)
    .await
}

/// Debits each request's cost (positive micro-USD in `costs`), once per request id.
pub async fn append_usage_debits(
    e: impl PgExecutor<'_>,
    tenant_id: Uuid,
    request_ids: &[String],
    costs: &[i64],
) -> sqlx::Result<u64> {
    sqlx::query!(
        "insert into ledger_entry (tenant_id, kind, amount_micros, idempotency_key)
         select $1, 'usage', -u.cost, 'usage:' || u.request_id
           from unnest($2::text[], $3::int8[]) as u(request_id, cost)
          where u.cost > 0
         on conflict on constraint ledger_entry_idempotency_key_key do nothing",
        tenant_id,
        request_ids,
        costs
    )
    .execute(e)
    .await
    .map(|r| r.rows_affected())
}

/// The tenant's balance: the sum of its entries.
pub async fn balance(e: impl PgExecutor<'_>, tenant_id: Uuid) -> sqlx::Result<i64> {
    sqlx::query_scalar!(
        r#"select coalesce(sum(amount_micros), 0)::bigint as "balance!"
             from ledger_entry where tenant_id = $1"#,
        tenant_id
    )
    .fetch_one(e)
    .await
}

/// One entry as the billing page shows it.
pub struct EntryRow {
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub kind: String,
    pub amount_micros: i64,
    pub reason: Option<String>,
}

/// The tenant's latest `limit` entries, newest first.
pub async fn recent(
    e: impl PgExecutor<'_>,
    tenant_id: Uuid,
    limit: i64,
) -> sqlx::Result<Vec<EntryRow>> {
    sqlx::query_as!(
        EntryRow,
        "select created_at, kind, amount_micros, reason from ledger_entry
          where tenant_id = $1 order by created_at desc, id desc limit $2",
        tenant_id,
        limit
    )
    .fetch_all(e)
    .await
}
