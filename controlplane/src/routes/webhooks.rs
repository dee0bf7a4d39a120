//! `POST /webhooks/stripe`: Stripe's deliveries, verified against `STRIPE_WEBHOOK_SECRET`
//! ([`crate::stripe::verify`]) before anything is read. A paid `checkout.session.completed`
//! is checked against the session we stored when creating it (`checkout_session`): only when
//! its `metadata.tenant_id`, currency and `amount_total` (credit + fee) match do we credit
//! the stored `credit_cents` — the amount the tenant typed, never the fee. It is credited once
//! per Checkout Session (the ledger entry's idempotency key is the session id, so a
//! redelivered or replayed event writes nothing), the session is marked completed in the same
//! transaction, and the published balance moves by the same amount. A bad signature is a 400
//! and changes nothing; an event that can never be credited (unknown session, other tenant,
//! currency or amount) is logged with the session id and answered 200 so Stripe stops
//! retrying; storage failures are 5xx so it retries.

use crate::db;
use crate::db::ledger_entry::{LedgerKind, NewEntry};
use crate::error::Error;
use crate::publish;
use crate::state::AppState;
use crate::stripe;
use aig_common::budget::MICROS_PER_CENT;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use secrecy::ExposeSecret;
use serde_json::{json, Value};
use uuid::Uuid;

/// What the webhook did with a verified event.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Credited { tenant_id: Uuid, cents: i64 },
    AlreadyCredited,
    Ignored(&'static str),
    Refused(String),
}

pub async fn stripe(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, Error> {
    let secret = state
        .config()
        .stripe_webhook_secret
        .as_ref()
        .ok_or(Error::BillingDisabled)?;
    let header = headers
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok());
    let now = chrono::Utc::now().timestamp();
    if let Err(e) = stripe::verify(secret.expose_secret(), header, &body, now) {
        tracing::warn!("Stripe webhook refused: {e}");
        return Err(Error::invalid(e.to_string(), Some("Stripe-Signature")));
    }
    let event: Value = serde_json::from_slice(&body)
        .map_err(|e| Error::invalid(format!("the event is not JSON: {e}"), None))?;
    let event_id = event["id"].as_str().unwrap_or("?").to_owned();
    let outcome = handle(&state, &event).await?;
    match &outcome {
        Outcome::Credited { tenant_id, cents } => {
            tracing::info!(event = %event_id, tenant = %tenant_id, cents, "Stripe top-up credited");
        }
        Outcome::AlreadyCredited => {
            tracing::info!(event = %event_id, "Stripe event for an already credited session");
        }
        Outcome::Ignored(why) => tracing::debug!(event = %event_id, "Stripe event ignored: {why}"),
        Outcome::Refused(why) => {
            tracing::error!(event = %event_id, "Stripe event not credited: {why}");
        }
    }
    let result = match outcome {
        Outcome::Credited { .. } => "credited",
        Outcome::AlreadyCredited => "already_credited",
        Outcome::Ignored(_) => "ignored",
        Outcome::Refused(_) => "not_credited",
    };
    Ok(Json(json!({ "received": true, "result": result })))
}

async fn handle(state: &AppState, event: &Value) -> Result<Outcome, Error> {
    if event["type"] != "checkout.session.completed" {
        return Ok(Outcome::Ignored("not checkout.session.completed"));
    }
    let session = &event["data"]["object"];
    if session["payment_status"] != "paid" {
        return Ok(Outcome::Ignored("the session is not paid"));
    }
    let Some(session_id) = session["id"].as_str().filter(|s| !s.is_empty()) else {
        return Ok(Outcome::Refused("the session has no id".into()));
    };
    let mut tx = state.db().begin().await?;
    let Some(stored) = db::checkout_session::find_for_update(&mut *tx, session_id).await? else {
        // 200, not 5xx: we store a session right after Stripe returns its id and before the
        // payer is redirected to its page, so a paid session's webhook cannot arrive before
        // its row is committed. A session we do not know was created by someone else on the
        // same Stripe account (or by hand); retrying cannot make it ours.
        return Ok(Outcome::Refused(format!(
            "session {session_id} was not created by this control plane"
        )));
    };
    let tenant_id = session["metadata"]["tenant_id"]
        .as_str()
        .and_then(|t| Uuid::parse_str(t).ok());
    if tenant_id != Some(stored.tenant_id) {
        return Ok(Outcome::Refused(format!(
            "session {session_id}: metadata.tenant_id {} is not the tenant it was created for",
            session["metadata"]["tenant_id"]
        )));
    }
    if session["currency"].as_str() != Some(stored.currency.as_str()) {
        return Ok(Outcome::Refused(format!(
            "session {session_id} is in {}, not {}",
            session["currency"], stored.currency
        )));
    }
    if session["amount_total"].as_i64() != Some(stored.amount_total_cents) {
        return Ok(Outcome::Refused(format!(
            "session {session_id} was paid {} cents, not the {} it was created for",
            session["amount_total"], stored.amount_total_cents
        )));
    }
    let cents = stored.credit_cents;
    let amount_micros = cents
        .checked_mul(MICROS_PER_CENT as i64)
        .ok_or_else(|| Error::Internal(format!("session {session_id}: credit overflows")))?;
    db::tenant::lock_balance(&mut *tx, stored.tenant_id).await?;
    let entry = NewEntry {
        tenant_id: stored.tenant_id,
        kind: LedgerKind::TopUp,
        amount_micros,
        reason: Some("Stripe Checkout top-up"),
        idempotency_key: session_id,
    };
    if db::ledger_entry::append(&mut *tx, &entry).await?.is_none() {
        return Ok(Outcome::AlreadyCredited);
    }
    db::checkout_session::mark_completed(&mut *tx, session_id).await?;
    publish::balance_delta(state, stored.tenant_id, amount_micros).await?;
    tx.commit().await?;
    Ok(Outcome::Credited {
        tenant_id: stored.tenant_id,
        cents,
    })
}
