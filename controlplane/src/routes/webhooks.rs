//! `POST /webhooks/stripe`: Stripe's deliveries, verified against `STRIPE_WEBHOOK_SECRET`
//! ([`crate::stripe::verify`]) before anything is read. A paid `checkout.session.completed`
//! credits the tenant in `metadata.tenant_id` with `amount_total` cents, once per Checkout
//! Session (the ledger entry's idempotency key is the session id, so a redelivered or
//! replayed event — same session — writes nothing), and moves the published balance by the
//! same amount. A bad signature is a 400 and changes nothing; an event that can never be
//! credited (unknown tenant, other currency, no amount) is logged and answered 200 so Stripe
//! stops retrying; storage failures are 5xx so it retries.

use crate::accounts;
use crate::db;
use crate::db::ledger_entry::{LedgerKind, NewEntry};
use crate::error::Error;
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
    let Some(tenant_id) = session["metadata"]["tenant_id"]
        .as_str()
        .and_then(|t| Uuid::parse_str(t).ok())
    else {
        return Ok(Outcome::Refused(format!(
            "session {session_id} has no valid metadata.tenant_id"
        )));
    };
    if session["currency"] != "usd" {
        return Ok(Outcome::Refused(format!(
            "session {session_id} is in {}, not usd",
            session["currency"]
        )));
    }
    let micros = session["amount_total"]
        .as_i64()
        .filter(|c| *c > 0)
        .and_then(|c| c.checked_mul(MICROS_PER_CENT as i64).map(|m| (c, m)));
    let Some((cents, amount_micros)) = micros else {
        return Ok(Outcome::Refused(format!(
            "session {session_id} has no usable amount_total ({})",
            session["amount_total"]
        )));
    };
    if db::tenant::find(state.db(), tenant_id).await?.is_none() {
        return Ok(Outcome::Refused(format!(
            "session {session_id} names unknown tenant {tenant_id}"
        )));
    }
    let new = accounts::post_ledger_entry(
        state,
        &NewEntry {
            tenant_id,
            kind: LedgerKind::TopUp,
            amount_micros,
            reason: Some("Stripe Checkout top-up"),
            idempotency_key: session_id,
        },
    )
    .await?;
    Ok(if new {
        Outcome::Credited { tenant_id, cents }
    } else {
        Outcome::AlreadyCredited
    })
}
