//! `/billing`: the signed-in tenant's balance, recent ledger entries and the top-up form,
//! stating the platform fee (`AIG_TOPUP_FEE_PERCENT`) and what a top-up costs before paying;
//! `POST /billing/checkout` creates a Stripe Checkout Session (payment mode, USD, the credit
//! and the fee as two line items, `metadata.tenant_id`) with async-stripe's
//! `CheckoutSession::create` (the client in [`AppState::stripe`], pointed at
//! `STRIPE_API_BASE`), stores it in `checkout_session` and only then redirects (303) to
//! Stripe's page. The credit itself arrives later through the webhook
//! ([`crate::routes::webhooks`]), checked against the stored session.

use crate::auth::csrf;
use crate::auth::session::SignedIn;
use crate::db;
use crate::db::checkout_session::{NewSession, CURRENCY};
use crate::error::Error;
use crate::routes::pages::{public_base, render, Chrome, PageError};
use crate::state::AppState;
use crate::view::{self, usd_cents};
use ::stripe::{
    CheckoutSession, CheckoutSessionMode, CreateCheckoutSession, CreateCheckoutSessionLineItems,
    CreateCheckoutSessionLineItemsPriceData, CreateCheckoutSessionLineItemsPriceDataProductData,
    Currency,
};
use aig_common::budget::MICROS_PER_CENT;
use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;
use std::collections::HashMap;
use std::time::Duration;

/// How long creating a Checkout Session may take (async-stripe's client has no timeout).
const STRIPE_TIMEOUT: Duration = Duration::from_secs(15);
/// How many ledger entries the page shows.
const RECENT_ENTRIES: i64 = 20;

pub struct EntryView {
    pub when: String,
    pub kind: String,
    pub amount: String,
    pub reason: String,
}

/// The platform fee on a top-up of `credit_cents`: `fee_bp` basis points of it, rounded up
/// to the cent, in integers (`2500` at 250 bp → 63).
pub fn fee_cents(credit_cents: u64, fee_bp: u32) -> u64 {
    (credit_cents * u64::from(fee_bp)).div_ceil(10_000)
}

/// Basis points as a percentage without trailing zeros: 250 → `"2.5"`, 300 → `"3"`.
fn percent_of_bp(bp: u32) -> String {
    let frac = bp % 100;
    match frac {
        0 => format!("{}", bp / 100),
        f if f % 10 == 0 => format!("{}.{}", bp / 100, f / 10),
        f => format!("{}.{f:02}", bp / 100),
    }
}

/// The sentence the page shows about the fee, with an example top-up (`example_cents`).
fn fee_notice(fee_bp: u32, example_cents: u64) -> String {
    if fee_bp == 0 {
        return "No platform fee: you pay exactly the amount credited.".to_owned();
    }
    let total = example_cents + fee_cents(example_cents, fee_bp);
    format!(
        "A {}% platform fee is added at checkout: a {} top-up costs {}.",
        percent_of_bp(fee_bp),
        usd_cents(example_cents as i64),
        usd_cents(total as i64)
    )
}

/// The amount the fee sentence uses as its example: $25.00 when allowed.
const EXAMPLE_TOPUP_CENTS: u64 = 2_500;

/// A typed top-up in cents: any positive [`view::parse_usd`] amount.
fn parse_dollars(raw: &str) -> Option<u64> {
    view::parse_usd(raw).and_then(|c| u64::try_from(c).ok())
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
    fee: String,
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
            amount: view::usd(row.amount_micros),
            reason: row.reason.unwrap_or_default(),
        })
        .collect();
    let config = state.config();
    let page = BillingPage {
        chrome: Chrome::signed_in(who, csrf, "billing"),
        balance: view::usd(balance),
        entries,
        enabled: state.stripe().is_some(),
        min: view::usd(config.topup_min_cents as i64 * MICROS_PER_CENT as i64),
        max: view::usd(config.topup_max_cents as i64 * MICROS_PER_CENT as i64),
        fee: fee_notice(
            config.topup_fee_bp,
            EXAMPLE_TOPUP_CENTS.clamp(config.topup_min_cents, config.topup_max_cents),
        ),
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

/// One `quantity: 1` line item of `cents` US cents named `name`.
fn line_item(cents: u64, name: String) -> CreateCheckoutSessionLineItems {
    CreateCheckoutSessionLineItems {
        price_data: Some(CreateCheckoutSessionLineItemsPriceData {
            currency: Currency::USD,
            unit_amount: Some(cents as i64),
            product_data: Some(CreateCheckoutSessionLineItemsPriceDataProductData {
                name,
                ..Default::default()
            }),
            ..Default::default()
        }),
        quantity: Some(1),
        ..Default::default()
    }
}

/// Why no Checkout Session came back.
#[derive(Debug, thiserror::Error)]
enum CreateError {
    #[error("no answer within {STRIPE_TIMEOUT:?}")]
    Timeout,
    #[error("{0:?}")]
    Stripe(::stripe::StripeError),
    #[error("the session has no url")]
    NoUrl,
}

pub async fn checkout(
    State(state): State<AppState>,
    who: SignedIn,
    headers: HeaderMap,
    Form(form): Form<CheckoutForm>,
) -> Result<Response, PageError> {
    let config = state.config();
    let Some(client) = state.stripe() else {
        return Err(PageError::Server(Error::BillingDisabled));
    };
    let cents = parse_dollars(&form.amount)
        .filter(|c| (config.topup_min_cents..=config.topup_max_cents).contains(c));
    let Some(cents) = cents else {
        let message = format!(
            "Enter an amount from {} to {}.",
            view::usd(config.topup_min_cents as i64 * MICROS_PER_CENT as i64),
            view::usd(config.topup_max_cents as i64 * MICROS_PER_CENT as i64)
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
    let base = public_base(config.public_url.as_deref(), &headers);
    let fee = fee_cents(cents, config.topup_fee_bp);
    let mut line_items = vec![line_item(cents, format!("AIgateway credit ({})", who.org))];
    if fee > 0 {
        line_items.push(line_item(
            fee,
            format!("Platform fee ({}%)", percent_of_bp(config.topup_fee_bp)),
        ));
    }
    let tenant = who.tenant_id.to_string();
    let success_url = format!("{base}/billing?checkout=success");
    let cancel_url = format!("{base}/billing?checkout=cancel");
    let mut params = CreateCheckoutSession::new();
    params.mode = Some(CheckoutSessionMode::Payment);
    params.line_items = Some(line_items);
    params.metadata = Some(HashMap::from([
        ("tenant_id".to_owned(), tenant.clone()),
        ("credit_cents".to_owned(), cents.to_string()),
    ]));
    params.client_reference_id = Some(&tenant);
    params.success_url = Some(&success_url);
    params.cancel_url = Some(&cancel_url);
    let created =
        match tokio::time::timeout(STRIPE_TIMEOUT, CheckoutSession::create(client, params)).await {
            Err(_) => Err(CreateError::Timeout),
            Ok(Err(e)) => Err(CreateError::Stripe(e)),
            Ok(Ok(session)) => match session.url {
                Some(url) => Ok((session.id.to_string(), url)),
                None => Err(CreateError::NoUrl),
            },
        };
    let (session_id, session_url) = match created {
        Ok(created) => created,
        Err(e) => {
            tracing::error!(tenant = %who.tenant_id, "could not create a Checkout Session: {e}");
            return billing_page(
                &state,
                &who,
                &form.csrf,
                None,
                Some("Stripe could not be reached; nothing was charged. Try again shortly."),
                StatusCode::BAD_GATEWAY,
            )
            .await;
        }
    };
    // Stored (committed) before the payer is sent to Stripe's page, so a paid session's
    // webhook always finds its row. If storing fails the payer never sees the page and the
    // unpaid session expires at Stripe.
    let stored = db::checkout_session::insert(
        state.db(),
        &NewSession {
            id: &session_id,
            tenant_id: who.tenant_id,
            credit_cents: cents as i64,
            fee_cents: fee as i64,
            currency: CURRENCY,
        },
    )
    .await;
    if let Err(e) = stored {
        tracing::error!(tenant = %who.tenant_id, session = %session_id, "could not store the Checkout Session: {e}");
        return billing_page(
            &state,
            &who,
            &form.csrf,
            None,
            Some("The top-up could not be started; nothing was charged. Try again shortly."),
            StatusCode::SERVICE_UNAVAILABLE,
        )
        .await;
    }
    tracing::info!(tenant = %who.tenant_id, session = %session_id, cents, fee_cents = fee, "Checkout Session created");
    Ok(Redirect::to(&session_url).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stripe_is_asked_for_the_currency_the_session_row_stores() {
        assert_eq!(Currency::USD.to_string(), CURRENCY);
    }

    #[test]
    fn amounts_parse_as_dollars_and_cents() {
        assert_eq!(parse_dollars("25"), Some(2500));
        assert_eq!(parse_dollars("$25.5"), Some(2550));
        assert_eq!(parse_dollars(" 25.05 "), Some(2505));
        for bad in ["", "abc", "1.234", "-5", ".5", "1e3"] {
            assert_eq!(parse_dollars(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_fee_rounds_up_to_the_cent_and_is_stated_with_an_example() {
        assert_eq!(fee_cents(2_500, 250), 63, "62.5 cents round up");
        assert_eq!(fee_cents(2_000, 250), 50);
        assert_eq!(fee_cents(1, 1), 1);
        assert_eq!(fee_cents(10_000_000, 5_000), 5_000_000);
        assert_eq!(fee_cents(2_500, 0), 0);
        assert_eq!(percent_of_bp(250), "2.5");
        assert_eq!(percent_of_bp(300), "3");
        assert_eq!(percent_of_bp(255), "2.55");
        assert_eq!(percent_of_bp(5), "0.05");
        assert_eq!(
            fee_notice(250, 2_500),
            "A 2.5% platform fee is added at checkout: a $25.00 top-up costs $25.63."
        );
        assert!(fee_notice(0, 2_500).starts_with("No platform fee"));
    }
}
