//! `GET /v1/balance`: the prepaid balance and this month's spend.

use crate::auth::api_key::KeyAuth;
use crate::db;
use crate::error::Error;
use crate::spend::{self, Month};
use crate::state::AppState;
use aig_common::budget::{tenant_fields, ALL_TAGS};
use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};
use uuid::Uuid;

/// The tenant's balance: `live` is the one the data plane enforces (the ledger minus usage
/// not yet ingested), or the ledger's while Redis is away; `ledger` is what Postgres has
/// booked so far.
#[derive(Clone, Copy, Debug)]
pub struct Balances {
    pub live: i64,
    pub ledger: i64,
}

/// Reads both balances in micro-USD (the API and the dashboard's overview).
pub async fn balances(state: &AppState, tenant_id: Uuid) -> Result<Balances, Error> {
    let ledger = db::ledger_entry::balance(state.db(), tenant_id).await?;
    let mut redis = state.redis();
    let live: Option<i64> = match redis::cmd("HGET")
        .arg(state.redis_keys().tenant(&tenant_id.to_string()))
        .arg(tenant_fields::BALANCE_MICROS)
        .query_async(&mut redis)
        .await
    {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!("live balance unavailable, answering from the ledger: {e}");
            None
        }
    };
    Ok(Balances {
        live: live.unwrap_or(ledger),
        ledger,
    })
}

#[tracing::instrument(skip_all, fields(tenant = %auth.tenant_id))]
pub async fn get_balance(
    State(state): State<AppState>,
    auth: KeyAuth,
) -> Result<Json<Value>, Error> {
    let Balances {
        live: balance,
        ledger,
    } = balances(&state, auth.tenant_id).await?;
    let month = Month::current();
    let spent = spend::month_to_date(&state, auth.tenant_id, &month, &[ALL_TAGS])
        .await?
        .first()
        .copied()
        .unwrap_or(0);
    Ok(Json(json!({
        "object": "balance",
        "balance_micros": balance,
        "balance_cents": spend::cents_floor(balance),
        "ledger_balance_micros": ledger,
        "month": month.label,
        "month_to_date_spend_micros": spent,
        "month_to_date_spend_cents": spend::cents_ceil(spent),
    })))
}
