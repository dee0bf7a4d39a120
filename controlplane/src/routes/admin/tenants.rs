//! `/admin` and `/admin/tenants/{id}`: every tenant with its balance and month-to-date
//! spend (searchable, sortable, paginated), and one tenant's detail — members, keys, ledger,
//! the last 30 days of usage — with suspend/reinstate and credit adjustments.

use super::PlatformAdmin;
use crate::accounts;
use crate::auth::csrf;
use crate::charts::{self, Bar, Svg};
use crate::db;
use crate::db::tenant::AdminSort;
use crate::db::usage_daily::GroupBy;
use crate::routes::pages::{render, with_cookie, Chrome, PageError};
use crate::spend::Month;
use crate::state::AppState;
use crate::view;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use chrono::{Days, Utc};
use serde::Deserialize;
use uuid::Uuid;

/// Tenants per page of the list.
const PAGE_SIZE: i64 = 50;
/// Ledger entries the tenant page shows.
const LEDGER_ENTRIES: i64 = 50;
/// Days of usage the tenant page shows, today included.
const USAGE_DAYS: u64 = 30;
/// Longest reason accepted for an adjustment.
const MAX_REASON: usize = 500;

/// One row of the tenants table, formatted.
pub struct TenantRowView {
    pub id: Uuid,
    pub name: String,
    pub owner: String,
    pub suspended: bool,
    pub balance: String,
    pub negative: bool,
    pub spend: String,
    pub requests: String,
    pub created: String,
}

#[derive(Template)]
#[template(path = "admin_tenants.html")]
struct TenantsPage {
    chrome: Chrome,
    q: String,
    by_name: bool,
    rows: Vec<TenantRowView>,
    total: String,
    month: String,
    page: i64,
    pages: i64,
    prev: Option<String>,
    next: Option<String>,
    sort_spend: String,
    sort_name: String,
}

#[derive(Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    page: Option<String>,
    #[serde(default)]
    sort: Option<String>,
}

/// `/admin?q=…&sort=…&page=…` with the non-default parts only.
fn list_link(q: &str, sort: AdminSort, page: i64) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    if !q.is_empty() {
        query.append_pair("q", q);
    }
    if sort == AdminSort::Name {
        query.append_pair("sort", "name");
    }
    if page > 1 {
        query.append_pair("page", &page.to_string());
    }
    let query = query.finish();
    if query.is_empty() {
        "/admin".to_owned()
    } else {
        format!("/admin?{query}")
    }
}

/// `GET /admin`: every tenant, searchable by name, email or id.
pub async fn list(
    State(state): State<AppState>,
    PlatformAdmin(who): PlatformAdmin,
    headers: HeaderMap,
    Query(query): Query<ListQuery>,
) -> Result<Response, PageError> {
    let (token, set) = csrf::token(&state, &headers);
    let q = query.q.trim().chars().take(200).collect::<String>();
    let sort = match query.sort.as_deref() {
        Some("name") => AdminSort::Name,
        _ => AdminSort::Spend,
    };
    let page = query
        .page
        .as_deref()
        .and_then(|p| p.parse::<i64>().ok())
        .unwrap_or(1)
        .clamp(1, 1_000_000);
    let month = Month::current();
    let found = db::tenant::admin_list(
        state.db(),
        &q,
        month.first_day,
        sort,
        PAGE_SIZE,
        (page - 1) * PAGE_SIZE,
    )
    .await?;
    if found.is_empty() && page > 1 {
        // Past the last page (the list shrank, or a hand-made link): start over.
        return Ok(Redirect::to(&list_link(&q, sort, 1)).into_response());
    }
    let total = found.first().map_or(0, |r| r.total);
    let pages = (total + PAGE_SIZE - 1) / PAGE_SIZE;
    let rows = found
        .into_iter()
        .map(|r| TenantRowView {
            id: r.id,
            name: r.name,
            owner: r.owner_email.unwrap_or_default(),
            suspended: r.status == aig_common::budget::STATUS_SUSPENDED,
            balance: view::usd(r.balance_micros),
            negative: r.balance_micros < 0,
            spend: view::usd_fine(r.month_spend_micros),
            requests: view::count(r.month_requests),
            created: view::day(r.created_at.date_naive()),
        })
        .collect();
    let template = TenantsPage {
        chrome: Chrome::signed_in(&who, &token, "admin"),
        total: view::count(total),
        month: month.label.clone(),
        page,
        pages,
        prev: (page > 1).then(|| list_link(&q, sort, page - 1)),
        next: (page < pages).then(|| list_link(&q, sort, page + 1)),
        sort_spend: list_link(&q, AdminSort::Spend, 1),
        sort_name: list_link(&q, AdminSort::Name, 1),
        by_name: sort == AdminSort::Name,
        q,
        rows,
    };
    Ok(with_cookie(render(&template, StatusCode::OK, &[]), set))
}

/// A person of the tenant, formatted.
pub struct MemberView {
    pub email: String,
    pub role: String,
    pub admin: bool,
    pub joined: String,
}

/// A key of the tenant, formatted.
pub struct KeyView {
    pub name: String,
    pub prefix: String,
    pub created: String,
    pub last_used: String,
    pub revoked: Option<String>,
}

/// A ledger entry, formatted.
pub struct EntryView {
    pub when: String,
    pub kind: String,
    pub amount: String,
    pub negative: bool,
    pub reason: String,
}

/// One model's usage over the last 30 days, formatted.
pub struct ModelView {
    pub model: String,
    pub requests: String,
    pub tokens: String,
    pub spend: String,
}

/// What the credit form shows again after a refused submission.
#[derive(Default)]
pub struct CreditValues {
    pub amount: String,
    pub reason: String,
}

#[derive(Template)]
#[template(path = "admin_tenant.html")]
struct TenantPage<'a> {
    chrome: Chrome,
    id: Uuid,
    name: String,
    suspended: bool,
    suspended_at: Option<String>,
    created: String,
    balance: String,
    negative: bool,
    month_spend: String,
    month: String,
    members: Vec<MemberView>,
    keys: Vec<KeyView>,
    entries: Vec<EntryView>,
    chart: Svg,
    models: Vec<ModelView>,
    usage_spend: String,
    /// A fresh idempotency key for the credit form: submitting it twice credits once.
    credit_key: String,
    credit: CreditValues,
    notice: Option<&'a str>,
    error: Option<&'a str>,
}

#[expect(
    clippy::too_many_arguments,
    reason = "the page's parts, as billing_page takes them"
)]
async fn tenant_page(
    state: &AppState,
    who: &crate::auth::session::SignedIn,
    csrf: &str,
    id: Uuid,
    credit: CreditValues,
    notice: Option<&str>,
    error: Option<&str>,
    status: StatusCode,
) -> Result<Response, PageError> {
    let tenant = db::tenant::find(state.db(), id)
        .await?
        .ok_or(PageError::NotFound)?;
    let month = Month::current();
    let balance = db::ledger_entry::balance(state.db(), id).await?;
    let month_spend =
        db::usage_daily::spend(state.db(), id, month.first_day, month.today, None).await?;
    let members = db::tenant::members(state.db(), id)
        .await?
        .into_iter()
        .map(|m| MemberView {
            email: m.email,
            role: m.role,
            admin: m.is_platform_admin,
            joined: view::day(m.created_at.date_naive()),
        })
        .collect();
    let keys = db::api_key::list_for_tenant(state.db(), id)
        .await?
        .into_iter()
        .map(|k| KeyView {
            name: k.name,
            prefix: k.display_prefix,
            created: view::when(k.created_at),
            last_used: k
                .last_used_at
                .map_or_else(|| "never".to_owned(), view::when),
            revoked: k.revoked_at.map(view::when),
        })
        .collect();
    let entries = db::ledger_entry::recent(state.db(), id, LEDGER_ENTRIES)
        .await?
        .into_iter()
        .map(|e| EntryView {
            when: view::when(e.created_at),
            kind: e.kind.replace('_', " "),
            amount: view::usd_fine(e.amount_micros),
            negative: e.amount_micros < 0,
            reason: e.reason.unwrap_or_default(),
        })
        .collect();

    let today = Utc::now().date_naive();
    let from = today
        .checked_sub_days(Days::new(USAGE_DAYS - 1))
        .unwrap_or(today);
    let by_day = db::usage_daily::summarize(state.db(), id, from, today, GroupBy::Day).await?;
    let mut bars = Vec::new();
    let mut day = from;
    while day <= today {
        let label = view::day(day);
        let micros = by_day
            .iter()
            .find(|g| g.key == label)
            .map_or(0, |g| g.cost_micros);
        bars.push(Bar {
            label: day.format("%m-%d").to_string(),
            value: micros,
            text: view::usd_fine(micros),
        });
        let Some(next) = day.succ_opt() else { break };
        day = next;
    }
    let max = bars.iter().map(|b| b.value).max().unwrap_or(0);
    let chart = charts::columns("Spend per day, last 30 days", &bars, &view::usd(max), 5);
    let mut by_model =
        db::usage_daily::summarize(state.db(), id, from, today, GroupBy::Model).await?;
    by_model.sort_by_key(|g| std::cmp::Reverse(g.cost_micros));
    let usage_spend = view::usd(by_model.iter().map(|g| g.cost_micros).sum());
    let models = by_model
        .into_iter()
        .map(|g| ModelView {
            model: g.key,
            requests: view::count(g.requests),
            tokens: view::count(
                g.input_tokens + g.cache_read_tokens + g.cache_write_tokens + g.output_tokens,
            ),
            spend: view::usd_fine(g.cost_micros),
        })
        .collect();

    let page = TenantPage {
        chrome: Chrome::signed_in(who, csrf, "admin"),
        id,
        suspended: tenant.status == aig_common::budget::STATUS_SUSPENDED,
        suspended_at: tenant.suspended_at.map(view::when),
        created: view::when(tenant.created_at),
        name: tenant.name,
        balance: view::usd(balance),
        negative: balance < 0,
        month_spend: view::usd_fine(month_spend),
        month: month.label,
        members,
        keys,
        entries,
        chart,
        models,
        usage_spend,
        credit_key: Uuid::new_v4().to_string(),
        credit,
        notice,
        error,
    };
    Ok(render(&page, status, &[]))
}

/// A tenant id from the path; anything else is as unknown as a missing tenant.
fn tenant_id(raw: &str) -> Result<Uuid, PageError> {
    Uuid::parse_str(raw).map_err(|_| PageError::NotFound)
}

#[derive(Deserialize)]
pub struct DetailQuery {
    #[serde(default)]
    done: Option<String>,
}

/// `GET /admin/tenants/{id}`.
pub async fn detail(
    State(state): State<AppState>,
    PlatformAdmin(who): PlatformAdmin,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(query): Query<DetailQuery>,
) -> Result<Response, PageError> {
    let id = tenant_id(&id)?;
    let (token, set) = csrf::token(&state, &headers);
    let notice = match query.done.as_deref() {
        Some("suspended") => Some("Suspended: the gateway refuses this tenant's keys."),
        Some("reinstated") => Some("Reinstated: the gateway serves this tenant's keys again."),
        Some("credited") => Some("Adjustment recorded in the ledger and the live balance."),
        Some("repeated") => Some("That adjustment was already recorded; nothing changed."),
        _ => None,
    };
    let response = tenant_page(
        &state,
        &who,
        &token,
        id,
        CreditValues::default(),
        notice,
        None,
        StatusCode::OK,
    )
    .await?;
    Ok(with_cookie(response, set))
}

async fn set_suspended(
    state: &AppState,
    who: &crate::auth::session::SignedIn,
    id: &str,
    suspended: bool,
) -> Result<Response, PageError> {
    let id = tenant_id(id)?;
    accounts::set_suspended(state, id, suspended).await?;
    let done = if suspended { "suspended" } else { "reinstated" };
    tracing::info!(admin = %who.user_id, tenant = %id, "tenant {done} by a platform admin");
    Ok(Redirect::to(&format!("/admin/tenants/{id}?done={done}")).into_response())
}

/// `POST /admin/tenants/{id}/suspend`: the data planes refuse the tenant's keys within a
/// second.
pub async fn suspend(
    State(state): State<AppState>,
    PlatformAdmin(who): PlatformAdmin,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    set_suspended(&state, &who, &id, true).await
}

/// `POST /admin/tenants/{id}/reinstate`.
pub async fn reinstate(
    State(state): State<AppState>,
    PlatformAdmin(who): PlatformAdmin,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    set_suspended(&state, &who, &id, false).await
}

#[derive(Deserialize)]
pub struct CreditForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    amount: String,
    #[serde(default)]
    reason: String,
    /// The form's idempotency key, rendered with it.
    #[serde(default)]
    key: String,
}

/// A typed adjustment in cents: any [`view::parse_usd`] amount but zero.
pub fn parse_signed_cents(raw: &str) -> Option<i64> {
    view::parse_usd(raw).filter(|c| *c != 0)
}

/// `POST /admin/tenants/{id}/credit`: an `adjustment` ledger entry of `amount` dollars (may
/// be negative) with its required reason, once per form.
pub async fn credit(
    State(state): State<AppState>,
    PlatformAdmin(who): PlatformAdmin,
    Path(id): Path<String>,
    Form(form): Form<CreditForm>,
) -> Result<Response, PageError> {
    let id = tenant_id(&id)?;
    let reason = form.reason.trim();
    let cents = parse_signed_cents(&form.amount);
    let problem = match cents {
        None => Some("Enter a non-zero amount in dollars, such as 12.50 or -5.00."),
        Some(_) if reason.is_empty() => Some("Give a reason: it is kept in the ledger."),
        Some(_) if reason.chars().count() > MAX_REASON => {
            Some("Keep the reason under 500 characters.")
        }
        Some(_) => None,
    };
    let (Some(cents), None) = (cents, problem) else {
        let values = CreditValues {
            amount: form.amount.clone(),
            reason: form.reason.clone(),
        };
        return tenant_page(
            &state,
            &who,
            &form.csrf,
            id,
            values,
            None,
            problem,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    };
    // The form's key makes a double submit one adjustment; a key that is not the form's own
    // (a uuid) is replaced rather than trusted as written.
    let key = Uuid::parse_str(form.key.trim()).ok().map(|k| k.to_string());
    let new = accounts::adjust_credit(&state, id, cents, reason, key.as_deref()).await?;
    if new {
        tracing::info!(admin = %who.user_id, tenant = %id, cents, "credit adjusted by a platform admin");
    }
    let done = if new { "credited" } else { "repeated" };
    Ok(Redirect::to(&format!("/admin/tenants/{id}?done={done}")).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_dollar_amounts_parse_to_cents() {
        assert_eq!(parse_signed_cents("12.5"), Some(1250));
        assert_eq!(parse_signed_cents("-5.00"), Some(-500));
        assert_eq!(parse_signed_cents(" +3 "), Some(300));
        assert_eq!(parse_signed_cents("$7.05"), Some(705));
        assert_eq!(parse_signed_cents("-$0.01"), Some(-1));
        for bad in ["", "0", "-0.00", "abc", "1.234", "--5", ".5", "1e3", "-"] {
            assert_eq!(parse_signed_cents(bad), None, "{bad}");
        }
    }

    #[test]
    fn list_links_keep_the_search_and_sort() {
        assert_eq!(list_link("", AdminSort::Spend, 1), "/admin");
        assert_eq!(
            list_link("a&b %", AdminSort::Name, 2),
            "/admin?q=a%26b+%25&sort=name&page=2"
        );
    }
}
