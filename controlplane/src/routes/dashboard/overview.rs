//! `GET /dashboard`: the tenant at a glance — balance, this month's spend against its caps,
//! requests, fallback and error rates, spend per day over the last 30 UTC days and the top
//! models this month; a new tenant is shown how to make a first request instead.

use crate::auth::csrf;
use crate::auth::session::SignedIn;
use crate::charts::Svg;
use crate::db;
use crate::db::usage_daily::GroupBy;
use crate::routes::balance;
use crate::routes::dashboard::budgets::{cap_views, CapView};
use crate::routes::dashboard::usage::{fill_days, spend_per_day, spend_text, DEFAULT_DAYS};
use crate::routes::pages::{render, Chrome, PageError};
use crate::routes::usage::Totals;
use crate::spend::Month;
use crate::state::AppState;
use crate::view;
use aig_common::budget::ALL_TAGS;
use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::Days;

/// How many models the table lists.
const TOP_MODELS: usize = 5;

pub struct ModelView {
    pub model: String,
    pub spend: String,
    pub requests: String,
    pub share: String,
}

#[derive(Template)]
#[template(path = "overview.html")]
struct OverviewPage {
    chrome: Chrome,
    month: String,
    balance: String,
    low_balance: bool,
    spend: String,
    /// The `*` cap, shown under the spend.
    all_traffic: Option<CapView>,
    caps: Vec<CapView>,
    requests: String,
    fallback_rate: String,
    fallbacks: String,
    errors: String,
    error_rate: String,
    chart: Svg,
    models: Vec<ModelView>,
    /// No usage in the last 30 days nor this month (ingested or live): show how to start.
    empty: bool,
    /// The prefix of the tenant's newest active key, for the first-request snippet.
    key_prefix: Option<String>,
    /// `AIG_GATEWAY_PUBLIC_URL`, where the snippet sends requests.
    gateway: String,
}

/// `GET /dashboard`.
#[tracing::instrument(skip_all, fields(tenant = %who.tenant_id))]
pub async fn page(
    State(state): State<AppState>,
    who: SignedIn,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let (token, set) = csrf::token(&state, &headers);
    let month = Month::current();
    let today = month.today;
    let from = today
        .checked_sub_days(Days::new(DEFAULT_DAYS - 1))
        .unwrap_or(today);

    let balances = balance::balances(&state, who.tenant_id).await?;
    let caps = cap_views(&state, &who, &month).await?;
    let spent = crate::spend::month_to_date(&state, who.tenant_id, &month, &[ALL_TAGS])
        .await?
        .first()
        .copied()
        .unwrap_or(0);

    let by_model = db::usage_daily::summarize(
        state.db(),
        who.tenant_id,
        month.first_day,
        today,
        GroupBy::Model,
    )
    .await?;
    let mut this_month = Totals::default();
    for g in &by_model {
        this_month.add(g);
    }
    let by_day =
        db::usage_daily::summarize(state.db(), who.tenant_id, from, today, GroupBy::Day).await?;
    let days = fill_days(from, today, &by_day);
    let recent_requests: i64 = days.iter().map(|(_, t)| t.requests).sum();

    let mut top = by_model.clone();
    top.sort_by(|a, b| {
        b.cost_micros
            .cmp(&a.cost_micros)
            .then(b.requests.cmp(&a.requests))
    });
    let models = top
        .iter()
        .take(TOP_MODELS)
        .map(|g| ModelView {
            model: g.key.clone(),
            spend: spend_text(g.cost_micros),
            requests: view::count(g.requests),
            share: view::percent(g.cost_micros, this_month.cost_micros),
        })
        .collect();

    // Spend is live while rollups wait for ingestion: either shows the tenant has started.
    let empty = this_month.requests == 0 && recent_requests == 0 && spent == 0;
    let key_prefix = if empty {
        db::api_key::list_for_tenant(state.db(), who.tenant_id)
            .await?
            .into_iter()
            .rev()
            .find(|k| k.revoked_at.is_none())
            .map(|k| k.display_prefix)
    } else {
        None
    };

    let page = OverviewPage {
        chrome: Chrome::signed_in(&who, &token, "overview"),
        month: month.label,
        balance: view::usd(balances.live),
        low_balance: balances.live <= 0,
        spend: spend_text(spent),
        all_traffic: caps.iter().find(|c| c.tag == ALL_TAGS).cloned(),
        caps,
        requests: view::count(this_month.requests),
        fallback_rate: view::percent(this_month.fallbacks, this_month.requests),
        fallbacks: view::count(this_month.fallbacks),
        errors: view::count(this_month.errors),
        error_rate: view::percent(this_month.errors, this_month.requests),
        chart: spend_per_day("Spend per day, last 30 days (UTC)", &days),
        models,
        empty,
        key_prefix,
        gateway: state.config().gateway_url.clone(),
    };
    Ok(render(
        &page,
        StatusCode::OK,
        &set.into_iter().collect::<Vec<_>>(),
    ))
}
