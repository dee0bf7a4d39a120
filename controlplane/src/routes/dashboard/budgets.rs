//! `/dashboard/budgets`: the tenant's monthly caps per `x-aig-tag` (`*` is all traffic)
//! with this month's spend against each; create or change a cap (`POST /dashboard/budgets`)
//! and delete one (`POST /dashboard/budgets/delete`). Writes go through the management
//! API's [`budgets::set_cap`]/[`budgets::remove_cap`], so the data plane enforces them
//! within a second.

use crate::auth::csrf;
use crate::auth::session::SignedIn;
use crate::db;
use crate::db::budget::Budget;
use crate::routes::budgets::{self, valid_tag, MAX_CAP_CENTS};
use crate::routes::dashboard::usage::spend_text;
use crate::routes::pages::{render, Chrome, PageError};
use crate::spend::{self, Month};
use crate::state::AppState;
use crate::view;
use aig_common::budget::ALL_TAGS;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;

/// A cap and this month's spend against it, written for the page.
#[derive(Clone, Debug)]
pub struct CapView {
    /// The tag as sent in `x-aig-tag` (`*` for all traffic), for the forms.
    pub tag: String,
    /// What the page calls it: the tag, or "All traffic".
    pub name: String,
    pub cap: String,
    /// The cap in dollars for the edit field: `"25.00"`.
    pub cap_input: String,
    pub spent: String,
    pub percent: String,
    /// The `<meter>`'s attributes, in cents: spend clamped to the cap, the cap, and the
    /// bounds past which the bar turns amber (75 %) and red (90 %).
    pub value: i64,
    pub max: i64,
    pub low: i64,
    pub high: i64,
    pub over: bool,
}

/// The tenant's caps with this month's spend, `*` first.
pub async fn cap_views(
    state: &AppState,
    who: &SignedIn,
    month: &Month,
) -> Result<Vec<CapView>, PageError> {
    let budgets = db::budget::list(state.db(), who.tenant_id).await?;
    let tags: Vec<&str> = budgets.iter().map(|b| b.tag.as_str()).collect();
    let spent = spend::month_to_date(state, who.tenant_id, month, &tags).await?;
    Ok(budgets
        .iter()
        .zip(spent)
        .map(|(b, s)| cap_view(b, s))
        .collect())
}

fn cap_view(budget: &Budget, spent_micros: i64) -> CapView {
    let cap = budget.monthly_cap_cents;
    let spent_cents = spend::cents_ceil(spent_micros);
    let max = cap.max(1);
    CapView {
        name: if budget.tag == ALL_TAGS {
            "All traffic".to_owned()
        } else {
            budget.tag.clone()
        },
        tag: budget.tag.clone(),
        cap: view::usd_cents(cap),
        cap_input: format!("{}.{:02}", cap / 100, cap % 100),
        spent: spend_text(spent_micros),
        // Exact, from micro-USD: a cent rounded up would show 0.2% of $5 for $0.0003.
        percent: view::percent(
            spent_micros,
            cap.saturating_mul(aig_common::budget::MICROS_PER_CENT as i64),
        ),
        value: spent_cents.clamp(0, max),
        max,
        low: max * 3 / 4,
        high: max * 9 / 10,
        over: spent_cents >= cap,
    }
}

/// A typed cap in cents: any [`view::parse_usd`] amount from 0 to [`MAX_CAP_CENTS`].
pub fn parse_cap_dollars(raw: &str) -> Option<i64> {
    view::parse_usd(raw).filter(|c| (0..=MAX_CAP_CENTS as i64).contains(c))
}

#[derive(Template)]
#[template(path = "budgets.html")]
struct BudgetsPage<'a> {
    chrome: Chrome,
    month: String,
    caps: Vec<CapView>,
    notice: Option<&'static str>,
    error: Option<&'a str>,
    /// What the create form held when it was refused.
    tag: &'a str,
    cap: &'a str,
}

struct Flash<'a> {
    notice: Option<&'static str>,
    error: Option<&'a str>,
    tag: &'a str,
    cap: &'a str,
}

async fn budgets_page(
    state: &AppState,
    who: &SignedIn,
    csrf: &str,
    flash: Flash<'_>,
    status: StatusCode,
    cookies: &[String],
) -> Result<Response, PageError> {
    let month = Month::current();
    let caps = cap_views(state, who, &month).await?;
    let page = BudgetsPage {
        chrome: Chrome::signed_in(who, csrf, "budgets"),
        month: month.label,
        caps,
        notice: flash.notice,
        error: flash.error,
        tag: flash.tag,
        cap: flash.cap,
    };
    Ok(render(&page, status, cookies))
}

#[derive(Deserialize)]
pub struct PageQuery {
    #[serde(default)]
    done: Option<String>,
}

/// `GET /dashboard/budgets`.
#[tracing::instrument(skip_all, fields(tenant = %who.tenant_id))]
pub async fn page(
    State(state): State<AppState>,
    who: SignedIn,
    headers: HeaderMap,
    Query(query): Query<PageQuery>,
) -> Result<Response, PageError> {
    let (token, set) = csrf::token(&state, &headers);
    let notice = match query.done.as_deref() {
        Some("saved") => Some("Cap saved: the gateway enforces it from now on."),
        Some("deleted") => Some("Cap deleted."),
        _ => None,
    };
    let flash = Flash {
        notice,
        error: None,
        tag: "",
        cap: "",
    };
    let cookies: Vec<String> = set.into_iter().collect();
    budgets_page(&state, &who, &token, flash, StatusCode::OK, &cookies).await
}

#[derive(Deserialize)]
pub struct SaveForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    tag: String,
    #[serde(default)]
    cap: String,
}

/// `POST /dashboard/budgets`: creates the tag's cap or changes it.
#[tracing::instrument(skip_all, fields(tenant = %who.tenant_id))]
pub async fn save(
    State(state): State<AppState>,
    who: SignedIn,
    Form(form): Form<SaveForm>,
) -> Result<Response, PageError> {
    let tag = form.tag.trim();
    let refuse = |message: &'static str| {
        let flash = Flash {
            notice: None,
            error: Some(message),
            tag: &form.tag,
            cap: &form.cap,
        };
        budgets_page(
            &state,
            &who,
            &form.csrf,
            flash,
            StatusCode::UNPROCESSABLE_ENTITY,
            &[],
        )
    };
    if !valid_tag(tag) {
        return refuse(
            "A tag is 1-64 characters of A-Z a-z 0-9 . _ : - (as sent in the x-aig-tag \
             header), or * for all traffic.",
        )
        .await;
    }
    let Some(cents) = parse_cap_dollars(&form.cap) else {
        return refuse("Enter the monthly cap in dollars, like 25 or 25.50.").await;
    };
    budgets::set_cap(&state, who.tenant_id, tag, cents).await?;
    tracing::info!(tag, cents, "budget saved from the dashboard");
    Ok(Redirect::to("/dashboard/budgets?done=saved").into_response())
}

#[derive(Deserialize)]
pub struct DeleteForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    tag: String,
}

/// `POST /dashboard/budgets/delete`: removes the tag's cap.
#[tracing::instrument(skip_all, fields(tenant = %who.tenant_id))]
pub async fn delete(
    State(state): State<AppState>,
    who: SignedIn,
    Form(form): Form<DeleteForm>,
) -> Result<Response, PageError> {
    let removed = if valid_tag(&form.tag) {
        budgets::remove_cap(&state, who.tenant_id, &form.tag).await?
    } else {
        None
    };
    if removed.is_none() {
        let flash = Flash {
            notice: None,
            error: Some("There is no cap for that tag (it may have been deleted already)."),
            tag: "",
            cap: "",
        };
        return budgets_page(&state, &who, &form.csrf, flash, StatusCode::NOT_FOUND, &[]).await;
    }
    tracing::info!(tag = %form.tag, "budget deleted from the dashboard");
    Ok(Redirect::to("/dashboard/budgets?done=deleted").into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    #[test]
    fn caps_parse_as_dollars_and_cents() {
        assert_eq!(parse_cap_dollars("25"), Some(2500));
        assert_eq!(parse_cap_dollars("25.50"), Some(2550));
        assert_eq!(parse_cap_dollars(" $25.5 "), Some(2550));
        assert_eq!(parse_cap_dollars("0.01"), Some(1));
        assert_eq!(parse_cap_dollars("0"), Some(0));
        assert_eq!(parse_cap_dollars("1,000"), Some(100_000));
        assert_eq!(parse_cap_dollars("10000000000"), Some(1_000_000_000_000));
        for bad in [
            "",
            "abc",
            "1.234",
            "-5",
            ".5",
            "1e3",
            "5.-1",
            "10000000000.01",
            "99999999999999",
        ] {
            assert_eq!(parse_cap_dollars(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_meter_turns_amber_then_red_and_stays_within_the_cap() {
        let budget = |cap| Budget {
            tag: ALL_TAGS.to_owned(),
            monthly_cap_cents: cap,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        };
        let v = cap_view(&budget(1000), 12_000_000);
        assert_eq!((v.value, v.max, v.low, v.high), (1000, 1000, 750, 900));
        assert!(v.over);
        assert_eq!(v.name, "All traffic");
        assert_eq!(v.cap_input, "10.00");
        let zero = cap_view(&budget(0), 0);
        assert_eq!((zero.value, zero.max), (0, 1));
        assert!(zero.over, "a zero cap refuses everything");
    }
}
