//! `/billing`: the signed-in tenant's balance, recent ledger entries and the top-up form;
//! `POST /billing/checkout` creates a Stripe Checkout Session (payment mode, the amount in
//! USD cents, `metadata.tenant_id`) by calling `{STRIPE_API_BASE}/v1/checkout/sessions`
//! with plain reqwest, and redirects (303) to Stripe's page. The credit itself arrives
//! later through the webhook ([`crate::routes::webhooks`]).

use crate::auth::csrf;
use crate::auth::session::SignedIn;
use crate::db;
use crate::error::Error;
use crate::routes::pages::{render, Chrome, PageError};
use crate::state::AppState;
use aig_common::budget::MICROS_PER_CENT;
use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use secrecy::ExposeSecret;
use serde::Deserialize;
use std::sync::LazyLock;
use std::time::Duration;

/// The client that talks to Stripe (connection reuse across top-ups).
static HTTP: LazyLock<reqwest::Client> = LazyLock::new(reqwest::Client::new);

/// How long creating a Checkout Session may take.
const STRIPE_TIMEOUT: Duration = Duration::from_secs(15);
/// How many ledger entries the page shows.
const RECENT_ENTRIES: i64 = 20;

pub struct EntryView {
    pub when: String,
    pub kind: String,
    pub amount: String,
    pub reason: String,
}

/// Micro-USD as dollars with cents (`-0.0123` rounds toward zero to `-0.01`).
fn dollars(micros: i64) -> String {
    let cents = micros / MICROS_PER_CENT as i64;
    let sign = if cents < 0 { "-" } else { "" };
    format!("{sign}${}.{:02}", cents.abs() / 100, cents.abs() % 100)
}

/// `"25"`, `"25.5"`, `"25.50"` → 2550 cents; anything else `None`.
fn parse_dollars(raw: &str) -> Option<u64> {
    let raw = raw.trim().trim_start_matches('$');
    let (whole, frac) = raw.split_once('.').unwrap_or((raw, ""));
    if whole.is_empty()
        || frac.len() > 2
        || !whole
            .bytes()
            .chain(frac.bytes())
            .all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let whole: u64 = whole.parse().ok()?;
    let frac: u64 = format!("{frac:0<2}").parse().ok()?;
    whole.checked_mul(100)?.checked_add(frac)
}

#[derive(Template)]
#[template(path = "billing.html")]
struct BillingPage<'a> {
    chrome: Chrome,
    balance: String,
    entries: Vec<EntryView>,
    enabled: bool,
    min: String,
    max: String,
    notice: Option<&'a str>,
    error: Option<&'a str>,
}

async fn billing_page(
    state: &AppState,
    who: &SignedIn,
    csrf: &str,
    notice: Option<&str>,
    error: Option<&str>,
    status: StatusCode,
) -> Result<Response, PageError> {
    let balance = db::ledger_entry::balance(state.db(), who.tenant_id).await?;
    let rows = db::ledger_entry::recent(state.db(), who.tenant_id, RECENT_ENTRIES).await?;
    let entries = rows
        .into_iter()
        .map(|row| EntryView {
            when: row.created_at.format("%Y-%m-%d %H:%M UTC").to_string(),
            kind: row.kind.replace('_', " "),
            amount: dollars(row.amount_micros),
            reason: row.reason.unwrap_or_default(),
        })
        .collect();
    let config = state.config();
    let page = BillingPage {
        chrome: Chrome::signed_in(who, csrf, "billing"),
        balance: dollars(balance),
        entries,
        enabled: config.stripe_secret_key.is_some(),
        min: dollars(config.topup_min_cents as i64 * MICROS_PER_CENT as i64),
        max: dollars(config.topup_max_cents as i64 * MICROS_PER_CENT as i64),
        notice,
        error,
    };
    Ok(render(&page, status, &[]))
}

#[derive(Deserialize)]
pub struct PageQuery {
    #[serde(default)]
    checkout: Option<String>,
}

pub async fn page(
    State(state): State<AppState>,
    who: SignedIn,
    headers: HeaderMap,
    axum::extract::Query(query): axum::extract::Query<PageQuery>,
) -> Result<Response, PageError> {
    let (token, set) = csrf::token(&state, &headers);
    let notice = match query.checkout.as_deref() {
        Some("success") => {
            Some("Payment received: your balance updates as soon as Stripe confirms it.")
        }
        Some("cancel") => Some("Top-up cancelled; nothing was charged."),
        _ => None,
    };
    let mut response = billing_page(&state, &who, &token, notice, None, StatusCode::OK).await?;
    if let Some(cookie) = set.and_then(|c| axum::http::HeaderValue::from_str(&c).ok()) {
        response
            .headers_mut()
            .append(axum::http::header::SET_COOKIE, cookie);
    }
    Ok(response)
}

#[derive(Deserialize)]
pub struct CheckoutForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    amount: String,
}

#[derive(Deserialize)]
struct CreatedSession {
    id: String,
    url: String,
}

/// Where Stripe sends the payer back: this control plane as the browser reached it.
fn own_base(headers: &HeaderMap) -> String {
    let host = headers
        .get("x-forwarded-host")
        .or_else(|| headers.get(axum::http::header::HOST))
        .and_then(|v| v.to_str().ok())
        .unwrap_or("localhost");
    let proto = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .filter(|p| *p == "https")
        .unwrap_or("http");
    format!("{proto}://{host}")
}

pub async fn checkout(
    State(state): State<AppState>,
    who: SignedIn,
    headers: HeaderMap,
    Form(form): Form<CheckoutForm>,
) -> Result<Response, PageError> {
    if !csrf::verify(&state, &headers, &form.csrf) {
        return Err(PageError::Csrf);
    }
    let config = state.config();
    let Some(secret_key) = config.stripe_secret_key.as_ref() else {
        return Err(PageError::Server(Error::BillingDisabled));
    };
    let cents = parse_dollars(&form.amount)
        .filter(|c| (config.topup_min_cents..=config.topup_max_cents).contains(c));
    let Some(cents) = cents else {
        let message = format!(
            "Enter an amount from {} to {}.",
            dollars(config.topup_min_cents as i64 * MICROS_PER_CENT as i64),
            dollars(config.topup_max_cents as i64 * MICROS_PER_CENT as i64)
        );
        return billing_page(
            &state,
            &who,
            &form.csrf,
            None,
            Some(&message),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    };
    let base = own_base(&headers);
    let params = [
        ("mode", "payment".to_owned()),
        ("line_items[0][price_data][currency]", "usd".to_owned()),
        ("line_items[0][price_data][unit_amount]", cents.to_string()),
        (
            "line_items[0][price_data][product_data][name]",
            format!("AIgateway credit ({})", who.org),
        ),
        ("line_items[0][quantity]", "1".to_owned()),
        ("metadata[tenant_id]", who.tenant_id.to_string()),
        ("client_reference_id", who.tenant_id.to_string()),
        ("success_url", format!("{base}/billing?checkout=success")),
        ("cancel_url", format!("{base}/billing?checkout=cancel")),
    ];
    let url = format!(
        "{}/v1/checkout/sessions",
        config.stripe_api_base.trim_end_matches('/')
    );
    let created = async {
        let response = HTTP
            .post(&url)
            .bearer_auth(secret_key.expose_secret())
            .form(&params)
            .timeout(STRIPE_TIMEOUT)
            .send()
            .await?
            .error_for_status()?;
        response.json::<CreatedSession>().await
    }
    .await;
    match created {
        Ok(session) => {
            tracing::info!(tenant = %who.tenant_id, session = %session.id, cents, "Checkout Session created");
            Ok(Redirect::to(&session.url).into_response())
        }
        Err(e) => {
            tracing::error!(tenant = %who.tenant_id, "could not create a Checkout Session: {e}");
            billing_page(
                &state,
                &who,
                &form.csrf,
                None,
                Some("Stripe could not be reached; nothing was charged. Try again shortly."),
                StatusCode::BAD_GATEWAY,
            )
            .await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_parse_as_dollars_and_cents() {
        assert_eq!(parse_dollars("25"), Some(2500));
        assert_eq!(parse_dollars("$25.5"), Some(2550));
        assert_eq!(parse_dollars(" 25.05 "), Some(2505));
        for bad in ["", "abc", "1.234", "-5", ".5", "1e3"] {
            assert_eq!(parse_dollars(bad), None, "{bad}");
        }
        assert_eq!(dollars(30_000_000), "$30.00");
        assert_eq!(dollars(-12_345), "-$0.01");
    }
}
