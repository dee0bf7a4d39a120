//! `/dashboard/usage?from=YYYY-MM-DD&to=YYYY-MM-DD&group=day|tag|model`: the tenant's usage
//! from the daily rollups (UTC days, both ends inclusive; default the last 30 days by day)
//! as a chart and a table with totals, and `/dashboard/usage.csv`, the same as a download.
//! Grouping and range rules are the management API's ([`crate::routes::usage`]).

use crate::auth::csrf;
use crate::auth::session::SignedIn;
use crate::charts::{self, Bar, Svg};
use crate::db;
use crate::db::usage_daily::{GroupBy, UsageGroup};
use crate::routes::pages::{render, Chrome, PageError};
use crate::routes::usage::{check_range, parse_date, Totals};
use crate::state::AppState;
use crate::view;
use askama::Template;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{Days, NaiveDate, Utc};

/// How many days the page shows unless asked otherwise (today included).
pub const DEFAULT_DAYS: u64 = 30;
/// What an untagged request's tag is called on the page.
const UNTAGGED: &str = "(untagged)";

/// The page's query, checked: a range and a grouping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Range {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub group: GroupBy,
}

/// The last [`DEFAULT_DAYS`] days up to `today`, by day.
fn default_range(today: NaiveDate) -> Range {
    Range {
        from: today
            .checked_sub_days(Days::new(DEFAULT_DAYS - 1))
            .unwrap_or(today),
        to: today,
        group: GroupBy::Day,
    }
}

/// Reads `from`, `to` and `group` (empty or missing values take the defaults; other
/// parameters are ignored, as a browser form may add some). The error is a sentence for the
/// page.
fn parse_range(raw: Option<&str>, today: NaiveDate) -> Result<Range, String> {
    let mut range = default_range(today);
    let (mut from, mut to) = (None, None);
    for (name, value) in url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
        let value = value.trim();
        if value.is_empty() {
            continue;
        }
        match name.as_ref() {
            "from" => from = Some(parse_date("from", value).map_err(|e| sentence(&e))?),
            "to" => to = Some(parse_date("to", value).map_err(|e| sentence(&e))?),
            "group" => {
                range.group = GroupBy::parse(value)
                    .ok_or_else(|| format!("Group by day, tag or model, not {value:?}."))?;
            }
            _ => {}
        }
    }
    match (from, to) {
        (Some(f), Some(t)) => (range.from, range.to) = (f, t),
        // One end given: keep the default's length around it.
        (Some(f), None) => {
            range.from = f;
            range.to = f
                .checked_add_days(Days::new(DEFAULT_DAYS - 1))
                .unwrap_or(f)
                .min(today.max(f));
        }
        (None, Some(t)) => {
            range.to = t;
            range.from = t.checked_sub_days(Days::new(DEFAULT_DAYS - 1)).unwrap_or(t);
        }
        (None, None) => {}
    }
    check_range(range.from, range.to).map_err(|e| sentence(&e))?;
    Ok(range)
}

/// An API error message as a sentence for a page.
fn sentence(e: &crate::error::Error) -> String {
    let message = e.to_string();
    let mut chars = message.chars();
    match chars.next() {
        Some(first) => format!("{}{}.", first.to_uppercase(), chars.as_str()),
        None => message,
    }
}

/// Every day from `from` to `to` with its totals, zero for days without usage. `groups` are
/// keyed `YYYY-MM-DD` (as [`GroupBy::Day`] answers).
pub fn fill_days(
    from: NaiveDate,
    to: NaiveDate,
    groups: &[UsageGroup],
) -> Vec<(NaiveDate, Totals)> {
    let by_day: std::collections::HashMap<&str, &UsageGroup> =
        groups.iter().map(|g| (g.key.as_str(), g)).collect();
    from.iter_days()
        .take_while(|d| *d <= to)
        .map(|d| {
            let totals = by_day
                .get(view::day(d).as_str())
                .map(|g| Totals::of(g))
                .unwrap_or_default();
            (d, totals)
        })
        .collect()
}

/// Spend per day as columns, labelled `MM-DD` about six times across the range.
pub fn spend_per_day(aria: &str, days: &[(NaiveDate, Totals)]) -> Svg {
    let bars: Vec<Bar> = days
        .iter()
        .map(|(d, t)| Bar {
            label: d.format("%m-%d").to_string(),
            value: t.cost_micros,
            text: format!(
                "{} · {} requests",
                spend_text(t.cost_micros),
                view::count(t.requests)
            ),
        })
        .collect();
    let max = days.iter().map(|(_, t)| t.cost_micros).max().unwrap_or(0);
    let every = days.len().div_ceil(6).max(1);
    charts::columns(aria, &bars, &spend_text(max), every)
}

/// Spend for people: cents, or the micro-USD of amounts under a cent (`$0.00` for none).
pub fn spend_text(micros: i64) -> String {
    if micros == 0 {
        view::usd(0)
    } else {
        view::usd_fine(micros)
    }
}

/// Micro-USD as an exact decimal USD string: `1_234_567` → `"1.234567"`.
pub fn usd_decimal(micros: i64) -> String {
    let sign = if micros < 0 { "-" } else { "" };
    let abs = micros.unsigned_abs();
    format!("{sign}{}.{:06}", abs / 1_000_000, abs % 1_000_000)
}

/// One CSV field of user data: a leading `=`, `+`, `-`, `@`, tab or carriage return (which
/// spreadsheets read as a formula) is neutralised with a `'`; a field holding a comma, quote
/// or line break is quoted, its quotes doubled.
pub fn csv_field(raw: &str) -> String {
    let mut text = String::with_capacity(raw.len() + 3);
    if raw.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        text.push('\'');
    }
    text.push_str(raw);
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

/// One table row, written for the page.
pub struct RowView {
    pub key: String,
    pub spend: String,
    pub requests: String,
    pub input_tokens: String,
    pub output_tokens: String,
    pub fallbacks: String,
    pub errors: String,
}

impl RowView {
    fn new(key: String, t: &Totals) -> RowView {
        RowView {
            key,
            spend: spend_text(t.cost_micros),
            requests: view::count(t.requests),
            input_tokens: view::count(t.input_tokens),
            output_tokens: view::count(t.output_tokens),
            fallbacks: view::count(t.fallbacks),
            errors: view::count(t.errors),
        }
    }
}

#[derive(Template)]
#[template(path = "usage.html")]
struct UsagePage {
    chrome: Chrome,
    from: String,
    to: String,
    group: &'static str,
    /// What the key column is called: Day, Tag or Model.
    heading: &'static str,
    error: Option<String>,
    chart: Svg,
    rows: Vec<RowView>,
    total: RowView,
    /// The query for the CSV link.
    csv_query: String,
}

/// The rows of `range`, in page order (days ascending, every day; tags and models by
/// spend), and their total.
async fn rows_of(
    state: &AppState,
    who: &SignedIn,
    range: &Range,
) -> Result<(Vec<(String, Totals)>, Totals), PageError> {
    let groups =
        db::usage_daily::summarize(state.db(), who.tenant_id, range.from, range.to, range.group)
            .await?;
    let mut total = Totals::default();
    for g in &groups {
        total.add(g);
    }
    if range.group == GroupBy::Day {
        let rows = fill_days(range.from, range.to, &groups)
            .into_iter()
            .map(|(d, t)| (view::day(d), t))
            .collect();
        return Ok((rows, total));
    }
    let mut rows: Vec<(String, Totals)> = groups
        .iter()
        .map(|g| (g.key.clone(), Totals::of(g)))
        .collect();
    rows.sort_by(|a, b| b.1.cost_micros.cmp(&a.1.cost_micros).then(a.0.cmp(&b.0)));
    Ok((rows, total))
}

fn display_key(group: GroupBy, key: &str) -> String {
    match (group, key) {
        (GroupBy::Tag, "") => UNTAGGED.to_owned(),
        _ => key.to_owned(),
    }
}

fn heading(group: GroupBy) -> &'static str {
    match group {
        GroupBy::Day => "Day",
        GroupBy::Tag => "Tag",
        GroupBy::Model => "Model",
    }
}

fn query_of(range: &Range) -> String {
    format!(
        "from={}&to={}&group={}",
        range.from,
        range.to,
        range.group.as_str()
    )
}

/// `GET /dashboard/usage`.
#[tracing::instrument(skip_all, fields(tenant = %who.tenant_id))]
pub async fn page(
    State(state): State<AppState>,
    who: SignedIn,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, PageError> {
    let (token, set) = csrf::token(&state, &headers);
    let chrome = Chrome::signed_in(&who, &token, "usage");
    let today = Utc::now().date_naive();
    let cookies: Vec<String> = set.into_iter().collect();
    let range = match parse_range(raw.as_deref(), today) {
        Ok(range) => range,
        Err(message) => {
            // Keep what was typed in the form so it can be corrected.
            let field = |name: &str| {
                url::form_urlencoded::parse(raw.as_deref().unwrap_or_default().as_bytes())
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_default()
            };
            let group = GroupBy::parse(&field("group")).unwrap_or(GroupBy::Day);
            let page = UsagePage {
                chrome,
                from: field("from"),
                to: field("to"),
                group: group.as_str(),
                heading: heading(group),
                error: Some(message),
                chart: Svg::default(),
                rows: Vec::new(),
                total: RowView::new(String::new(), &Totals::default()),
                csv_query: String::new(),
            };
            return Ok(render(&page, StatusCode::BAD_REQUEST, &cookies));
        }
    };
    let (rows, total) = rows_of(&state, &who, &range).await?;
    let chart = if total.requests == 0 {
        Svg::default()
    } else if range.group == GroupBy::Day {
        let days: Vec<(NaiveDate, Totals)> = rows
            .iter()
            .filter_map(|(k, t)| {
                NaiveDate::parse_from_str(k, "%Y-%m-%d")
                    .ok()
                    .map(|d| (d, t.clone()))
            })
            .collect();
        spend_per_day("Spend per day", &days)
    } else {
        let bars: Vec<Bar> = rows
            .iter()
            .take(20)
            .map(|(k, t)| Bar {
                label: display_key(range.group, k),
                value: t.cost_micros,
                text: spend_text(t.cost_micros),
            })
            .collect();
        charts::rows(&format!("Spend by {}", range.group.as_str()), &bars)
    };
    let page = UsagePage {
        chrome,
        from: range.from.to_string(),
        to: range.to.to_string(),
        group: range.group.as_str(),
        heading: heading(range.group),
        error: None,
        chart,
        rows: rows
            .iter()
            .map(|(k, t)| RowView::new(display_key(range.group, k), t))
            .collect(),
        total: RowView::new("Total".to_owned(), &total),
        csv_query: query_of(&range),
    };
    Ok(render(&page, StatusCode::OK, &cookies))
}

/// `GET /dashboard/usage.csv`: the page's table as CSV (a 400 in plain text for a bad query).
#[tracing::instrument(skip_all, fields(tenant = %who.tenant_id))]
pub async fn csv(
    State(state): State<AppState>,
    who: SignedIn,
    RawQuery(raw): RawQuery,
) -> Result<Response, PageError> {
    let range = match parse_range(raw.as_deref(), Utc::now().date_naive()) {
        Ok(range) => range,
        Err(message) => {
            return Ok((
                StatusCode::BAD_REQUEST,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                message,
            )
                .into_response())
        }
    };
    let (rows, _) = rows_of(&state, &who, &range).await?;
    let mut body = format!(
        "{},spend_usd,requests,input_tokens,output_tokens,cache_read_tokens,\
         cache_write_tokens,fallbacks,errors\r\n",
        range.group.as_str()
    );
    for (key, t) in &rows {
        body.push_str(&format!(
            "{},{},{},{},{},{},{},{},{}\r\n",
            csv_field(key),
            usd_decimal(t.cost_micros),
            t.requests,
            t.input_tokens,
            t.output_tokens,
            t.cache_read_tokens,
            t.cache_write_tokens,
            t.fallbacks,
            t.errors
        ));
    }
    let filename = format!(
        "attachment; filename=\"usage-{}-{}-{}.csv\"",
        range.from,
        range.to,
        range.group.as_str()
    );
    let mut response = (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/csv; charset=utf-8")],
        body,
    )
        .into_response();
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&filename) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn group(key: &str, cost: i64) -> UsageGroup {
        UsageGroup {
            key: key.to_owned(),
            requests: 1,
            fallbacks: 0,
            errors: 0,
            input_tokens: 10,
            cache_read_tokens: 0,
            cache_write_tokens: 0,
            output_tokens: 5,
            cost_micros: cost,
        }
    }

    #[test]
    fn csv_fields_are_quoted_and_formulas_neutralised() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field(""), "");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("two\nlines"), "\"two\nlines\"");
        assert_eq!(csv_field("=cmd,\"x\""), "\"'=cmd,\"\"x\"\"\"");
        assert_eq!(csv_field("-2+3"), "'-2+3");
        assert_eq!(csv_field("+1"), "'+1");
        assert_eq!(csv_field("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(csv_field("openai/gpt-5.4"), "openai/gpt-5.4");
    }

    #[test]
    fn micros_are_written_as_exact_dollars() {
        assert_eq!(usd_decimal(0), "0.000000");
        assert_eq!(usd_decimal(1), "0.000001");
        assert_eq!(usd_decimal(1_234_567), "1.234567");
        assert_eq!(usd_decimal(-25_000), "-0.025000");
        assert_eq!(usd_decimal(i64::MIN), "-9223372036854.775808");
    }

    #[test]
    fn every_day_of_the_range_is_present_with_zeroes_between() {
        let days = fill_days(
            date("2026-02-27"),
            date("2026-03-02"),
            &[group("2026-02-28", 300), group("2026-03-02", 7)],
        );
        let costs: Vec<(String, i64)> = days
            .iter()
            .map(|(d, t)| (d.to_string(), t.cost_micros))
            .collect();
        assert_eq!(
            costs,
            [
                ("2026-02-27".to_owned(), 0),
                ("2026-02-28".to_owned(), 300),
                ("2026-03-01".to_owned(), 0),
                ("2026-03-02".to_owned(), 7),
            ]
        );
    }

    #[test]
    fn the_default_range_is_the_last_thirty_days_by_day() {
        let r = parse_range(None, date("2026-03-17")).unwrap();
        assert_eq!(
            r,
            parse_range(Some("from=&to=&group="), date("2026-03-17")).unwrap()
        );
        assert_eq!(
            (r.from, r.to, r.group),
            (date("2026-02-16"), date("2026-03-17"), GroupBy::Day)
        );
    }

    #[test]
    fn bad_queries_give_sentences() {
        let today = date("2026-03-17");
        let bad = |q: &str| parse_range(Some(q), today).unwrap_err();
        assert!(
            bad("from=yesterday").starts_with("From must be a date"),
            "{}",
            bad("from=yesterday")
        );
        assert!(bad("from=2026-03-10&to=2026-03-01").contains("is after"));
        assert!(bad("from=2020-01-01&to=2026-01-01").contains("at most 366 days"));
        assert!(bad("group=week").contains("day, tag or model"));
        let ok = parse_range(Some("from=2026-01-01&to=2026-01-31&group=model&x=1"), today).unwrap();
        assert_eq!(
            (ok.from, ok.to, ok.group),
            (date("2026-01-01"), date("2026-01-31"), GroupBy::Model)
        );
    }
}
