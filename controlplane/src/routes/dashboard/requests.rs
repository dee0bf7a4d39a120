//! `GET /dashboard/requests?q=&tag=&model=&status=&before=&after=`: the tenant's request log,
//! newest first, 50 a page with keyset pagination ("Older"/"Newer" keep the filters),
//! searchable by request id, tag, model (requested or served) and status (exact or a class
//! like `5xx`); each row opens to its fallback chain, step by step.

use crate::auth::csrf;
use crate::auth::session::SignedIn;
use crate::chain_log;
use crate::db;
use crate::db::request_log::{Cursor, LoggedRequest, Page, RequestFilter};
use crate::routes::pages::{render, with_cookie, Chrome, PageError};
use crate::state::AppState;
use crate::view;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::DateTime;
use serde::Deserialize;

/// Requests per page.
const PER_PAGE: usize = 50;
/// Longest request id or model slug a filter accepts.
const MAX_FILTER_LEN: usize = 200;

#[derive(Deserialize, Default)]
pub struct LogQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    tag: String,
    #[serde(default)]
    model: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    before: String,
    #[serde(default)]
    after: String,
}

/// One attempt (or skip) of a request's chain.
pub struct StepView {
    pub slug: String,
    pub outcome: String,
    pub meaning: &'static str,
    /// `served`, `skipped` or `failed`: the step's CSS class.
    pub class: &'static str,
}

pub struct RowView {
    /// `2026-11-22`.
    pub date: String,
    /// `14:05:09`.
    pub time: String,
    /// RFC 3339, for `<time datetime>`.
    pub datetime: String,
    pub request_id: String,
    pub tag: String,
    pub requested_model: String,
    /// Whether anything served.
    pub served: bool,
    /// The slug that served, when it was not the primary.
    pub fell_back_to: Option<String>,
    pub status: i32,
    pub status_class: &'static str,
    pub latency: String,
    pub tokens: String,
    pub tokens_detail: String,
    pub cost: String,
    pub steps: Vec<StepView>,
    pub stream: bool,
    pub estimated: bool,
    pub disconnected: bool,
}

#[derive(Template)]
#[template(path = "requests.html")]
struct RequestsPage {
    chrome: Chrome,
    q: String,
    tag: String,
    model: String,
    status: String,
    error: Option<String>,
    filtered: bool,
    rows: Vec<RowView>,
    newer: Option<String>,
    older: Option<String>,
}

/// `"200"` → exactly 200; `"4xx"` → 400..=499; empty → no filter.
fn parse_status(raw: &str) -> Result<Option<(i32, i32)>, String> {
    let raw = raw.trim().to_ascii_lowercase();
    if raw.is_empty() {
        return Ok(None);
    }
    let bad = || format!("“{raw}” is not a status; use one like 200 or 429, or a class like 5xx.");
    if let Some(class) = raw.strip_suffix("xx") {
        return match class.parse::<i32>() {
            Ok(c) if (1..=5).contains(&c) && class.len() == 1 => Ok(Some((c * 100, c * 100 + 99))),
            _ => Err(bad()),
        };
    }
    match raw.parse::<i32>() {
        Ok(s) if (100..=599).contains(&s) && raw.len() == 3 => Ok(Some((s, s))),
        _ => Err(bad()),
    }
}

/// A page link's cursor: `<microseconds since the epoch>.<row id>`.
fn cursor_text(c: Cursor) -> String {
    format!("{}.{}", c.ts.timestamp_micros(), c.id)
}

fn parse_cursor(raw: &str) -> Option<Cursor> {
    let (micros, id) = raw.trim().split_once('.')?;
    Some(Cursor {
        ts: DateTime::from_timestamp_micros(micros.parse().ok()?)?,
        id: id.parse().ok()?,
    })
}

/// What the query asks for, or what is wrong with it.
fn parse_query(query: &LogQuery) -> Result<(RequestFilter, Page), String> {
    let text = |raw: &str, what: &str| -> Result<Option<String>, String> {
        let raw = raw.trim();
        if raw.is_empty() {
            Ok(None)
        } else if raw.len() > MAX_FILTER_LEN || raw.chars().any(char::is_control) {
            Err(format!("That {what} is too long or has odd characters."))
        } else {
            Ok(Some(raw.to_owned()))
        }
    };
    let tag = text(&query.tag, "tag")?;
    if let Some(tag) = &tag {
        if !aig_common::budget::is_valid_tag(tag) {
            return Err(format!(
                "“{tag}” is not a tag: tags are up to 64 letters, digits and . _ : -"
            ));
        }
    }
    let filter = RequestFilter {
        request_id: text(&query.q, "request id")?,
        tag,
        model: text(&query.model, "model")?,
        status: parse_status(&query.status)?,
    };
    let bad_link =
        || "That page link is not valid; start again from the newest requests.".to_owned();
    let page = match (query.before.trim(), query.after.trim()) {
        ("", "") => Page::Newest,
        (before, "") => Page::Before(parse_cursor(before).ok_or_else(bad_link)?),
        ("", after) => Page::After(parse_cursor(after).ok_or_else(bad_link)?),
        _ => return Err(bad_link()),
    };
    Ok((filter, page))
}

/// The page's URL with the filters and one cursor.
fn link(query: &LogQuery, cursor: (&str, Cursor)) -> String {
    let mut params = url::form_urlencoded::Serializer::new(String::new());
    for (name, value) in [
        ("q", &query.q),
        ("tag", &query.tag),
        ("model", &query.model),
        ("status", &query.status),
    ] {
        if !value.trim().is_empty() {
            params.append_pair(name, value.trim());
        }
    }
    params.append_pair(cursor.0, &cursor_text(cursor.1));
    format!("/dashboard/requests?{}", params.finish())
}

fn row_view(row: LoggedRequest) -> RowView {
    let steps = chain_log::parse(&row.chain)
        .into_iter()
        .map(|step| {
            let served =
                row.served_by.as_deref() == Some(step.slug.as_str()) && step.outcome.is_success();
            StepView {
                class: if served {
                    "served"
                } else if step.outcome.is_skip() {
                    "skipped"
                } else {
                    "failed"
                },
                meaning: step.outcome.meaning(),
                outcome: step.outcome.to_string(),
                slug: step.slug,
            }
        })
        .collect();
    let tokens =
        row.input_tokens + row.cache_read_tokens + row.cache_write_tokens + row.output_tokens;
    RowView {
        date: row.ts.format("%Y-%m-%d").to_string(),
        time: row.ts.format("%H:%M:%S").to_string(),
        datetime: row.ts.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        served: row.served_by.is_some(),
        fell_back_to: row.served_by.filter(|s| *s != row.requested_model),
        request_id: row.request_id,
        tag: row.tag.unwrap_or_default(),
        requested_model: row.requested_model,
        status: row.status,
        status_class: match row.status {
            200..=299 => "ok",
            400..=499 => "warn",
            _ => "bad",
        },
        latency: view::millis(row.latency_ms),
        tokens: view::count(tokens),
        tokens_detail: format!(
            "{} in · {} cache read · {} cache write · {} out",
            view::count(row.input_tokens),
            view::count(row.cache_read_tokens),
            view::count(row.cache_write_tokens),
            view::count(row.output_tokens)
        ),
        cost: view::usd_fine(row.cost_micros),
        steps,
        stream: row.stream,
        estimated: row.usage_estimated,
        disconnected: row.client_disconnected,
    }
}

pub async fn page(
    State(state): State<AppState>,
    who: SignedIn,
    headers: HeaderMap,
    Query(query): Query<LogQuery>,
) -> Result<Response, PageError> {
    let (token, set) = csrf::token(&state, &headers);
    let (rows, newer, older, error) = match parse_query(&query) {
        Err(message) => (Vec::new(), None, None, Some(message)),
        Ok((filter, page)) => {
            let limit = i64::try_from(PER_PAGE + 1).unwrap_or(i64::MAX);
            let mut rows =
                db::request_log::search(state.db(), who.tenant_id, &filter, page, limit).await?;
            // One row more than a page tells whether there is more in that direction.
            let more = rows.len() > PER_PAGE;
            if more {
                match page {
                    Page::After(_) => rows.remove(0),
                    Page::Newest | Page::Before(_) => rows.remove(PER_PAGE),
                };
            }
            let first = rows.first().map(|r| Cursor { ts: r.ts, id: r.id });
            let last = rows.last().map(|r| Cursor { ts: r.ts, id: r.id });
            let (has_newer, has_older) = match page {
                Page::Newest => (false, more),
                Page::Before(_) => (true, more),
                Page::After(_) => (more, true),
            };
            let newer = first
                .filter(|_| has_newer)
                .map(|c| link(&query, ("after", c)));
            let older = last
                .filter(|_| has_older)
                .map(|c| link(&query, ("before", c)));
            (rows, newer, older, None)
        }
    };
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let page = RequestsPage {
        chrome: Chrome::signed_in(&who, &token, "requests"),
        filtered: [&query.q, &query.tag, &query.model, &query.status]
            .iter()
            .any(|v| !v.trim().is_empty()),
        q: query.q.trim().to_owned(),
        tag: query.tag.trim().to_owned(),
        model: query.model.trim().to_owned(),
        status: query.status.trim().to_owned(),
        error,
        rows: rows.into_iter().map(row_view).collect(),
        newer,
        older,
    };
    Ok(with_cookie(render(&page, status, &[]), set))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_exact_codes_or_classes() {
        assert_eq!(parse_status(""), Ok(None));
        assert_eq!(parse_status("429"), Ok(Some((429, 429))));
        assert_eq!(parse_status("5XX"), Ok(Some((500, 599))));
        for bad in ["abc", "99", "600", "0429", "6xx", "xx", "45xx"] {
            assert!(parse_status(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn cursors_round_trip_and_garbage_is_rejected() {
        let c = Cursor {
            ts: DateTime::from_timestamp_micros(1_763_800_000_123_456).unwrap_or_default(),
            id: 42,
        };
        assert_eq!(parse_cursor(&cursor_text(c)), Some(c));
        assert_eq!(parse_cursor("nope"), None);
        assert_eq!(parse_cursor("1.x"), None);
    }

    #[test]
    fn page_links_keep_the_filters() {
        let query = LogQuery {
            tag: "a b".into(),
            status: "5xx".into(),
            ..LogQuery::default()
        };
        let c = Cursor {
            ts: DateTime::from_timestamp_micros(5).unwrap_or_default(),
            id: 7,
        };
        assert_eq!(
            link(&query, ("before", c)),
            "/dashboard/requests?tag=a+b&status=5xx&before=5.7"
        );
    }
}
