//! `checkout_session`: the Stripe Checkout Sessions this control plane created, with the
//! credit, fee and total each promised; `created` until its payment is credited, then
//! `completed`.

use sqlx::PgExecutor;
use uuid::Uuid;

/// The only currency top-ups are made in.
pub const CURRENCY: &str = "usd";

pub struct NewSession<'a> {
    pub id: &'a str,
    pub tenant_id: Uuid,
    pub credit_cents: i64,
    pub fee_cents: i64,
    pub currency: &'a str,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionRow {
    pub id: String,
    pub tenant_id: Uuid,
    pub credit_cents: i64,
    pub fee_cents: i64,
    pub amount_total_cents: i64,
    pub currency: String,
    pub status: String,
}

/// Records a session Stripe just created (total = credit + fee).
pub async fn insert(e: impl PgExecutor<'_>, new: &NewSession<'_>) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into checkout_session
             (id, tenant_id, credit_cents, fee_cents, amount_total_cents, currency)
         values ($1, $2, $3::int8, $4::int8, $3::int8 + $4::int8, $5)",
        new.id,
        new.tenant_id,
        new.credit_cents,
        new.fee_cents,
        new.currency
    )
    .execute(e)
    .await
    .map(|_| ())
}

/// The stored session, locked until the transaction ends (one webhook at a time per session).
pub async fn find_for_update(e: impl PgExecutor<'_>, id: &str) -> sqlx::Result<Option<SessionRow>> {
    sqlx::query_as!(
        SessionRow,
        "select id, tenant_id, credit_cents, fee_cents, amount_total_cents, currency, status
           from checkout_session where id = $1 for update",
        id
    )
    .fetch_optional(e)
    .await
}

/// Marks the session credited.
pub async fn mark_completed(e: impl PgExecutor<'_>, id: &str) -> sqlx::Result<()> {
    sqlx::query!(
        "update checkout_session set status = 'completed', updated_at = now()
          where id = $1",
        id
    )
    .execute(e)
    .await
    .map(|_| ())
}
