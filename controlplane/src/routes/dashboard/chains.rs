//! `GET /dashboard/chains?from=&to=`: how the tenant's fallback chains behaved over a range of
//! UTC days (default the last 7): per primary model its requests, how many the primary
//! served, the fallback rate, outcomes by provider, the top reasons for moving on and
//! latency percentiles, with a flow diagram from primaries to the slug that served.

use crate::auth::csrf;
use crate::auth::session::SignedIn;
use crate::chain_log::{self, Outcome};
use crate::charts::flow::{flow, Band};
use crate::charts::Svg;
use crate::db;
use crate::routes::pages::{render, with_cookie, Chrome, PageError};
use crate::state::AppState;
use crate::view;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::{Days, NaiveDate, Utc};
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};

/// How many primary models the page breaks down.
const PRIMARIES: i64 = 20;
/// How many distinct (primary, chain, served by) shapes are parsed for the breakdowns.
const SHAPES: i64 = 5_000;
/// How many fallback reasons are listed per primary.
const REASONS: usize = 5;
/// The longest range one page covers.
const MAX_DAYS: u64 = 366;
/// The default range: today and the six days before.
const DEFAULT_DAYS: u64 = 7;

#[derive(Deserialize)]
pub struct RangeQuery {
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
}

/// One provider's outcomes under a primary: `openai: 12×200, 3×429`.
pub struct ProviderOutcomes {
    pub provider: String,
    pub counts: String,
}

pub struct ReasonView {
    pub outcome: String,
    pub meaning: &'static str,
    pub count: String,
}

pub struct PrimaryView {
    pub model: String,
    pub requests: i64,
    pub requests_text: String,
    pub served_by_primary: i64,
    pub primary_share: String,
    pub fallbacks: String,
    pub fallback_rate: String,
    pub failed: String,
    pub p50: String,
    pub p95: String,
    pub outcomes: Vec<ProviderOutcomes>,
    pub reasons: Vec<ReasonView>,
}

#[derive(Template)]
#[template(path = "chains.html")]
struct ChainsPage {
    chrome: Chrome,
    from: String,
    to: String,
    error: Option<String>,
    primaries: Vec<PrimaryView>,
    chart: Svg,
    truncated: bool,
}

/// The range asked for, or the default with a message saying what was wrong.
fn parse_range(query: &RangeQuery, today: NaiveDate) -> (NaiveDate, NaiveDate, Option<String>) {
    let default_from = today - Days::new(DEFAULT_DAYS - 1);
    let parse = |raw: &str, default: NaiveDate| -> Result<NaiveDate, String> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Ok(default);
        }
        NaiveDate::parse_from_str(raw, "%Y-%m-%d").map_err(|_| {
            format!("“{raw}” is not a date (use YYYY-MM-DD); showing the last 7 days.")
        })
    };
    let (from, to) = match (parse(&query.from, default_from), parse(&query.to, today)) {
        (Ok(from), Ok(to)) => (from, to),
        (Err(e), _) | (_, Err(e)) => return (default_from, today, Some(e)),
    };
    if from > to {
        return (
            default_from,
            today,
            Some("The range starts after it ends; showing the last 7 days.".to_owned()),
        );
    }
    if to - from > chrono::TimeDelta::days(MAX_DAYS as i64) {
        return (
            default_from,
            today,
            Some(format!(
                "A range can cover at most {MAX_DAYS} days; showing the last 7 days."
            )),
        );
    }
    (from, to, None)
}

/// What the parsed chains of one primary add up to.
#[derive(Default)]
struct Breakdown {
    /// provider → outcome → requests.
    outcomes: BTreeMap<String, BTreeMap<Outcome, i64>>,
    reasons: BTreeMap<Outcome, i64>,
}

fn outcomes_text(counts: &BTreeMap<Outcome, i64>) -> String {
    let mut counts: Vec<(&Outcome, &i64)> = counts.iter().collect();
    counts.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    counts
        .iter()
        .map(|(outcome, n)| format!("{}×{outcome}", view::count(**n)))
        .collect::<Vec<_>>()
        .join(", ")
}

pub async fn page(
    State(state): State<AppState>,
    who: SignedIn,
    headers: HeaderMap,
    Query(query): Query<RangeQuery>,
) -> Result<Response, PageError> {
    let (token, set) = csrf::token(&state, &headers);
    let (from, to, error) = parse_range(&query, Utc::now().date_naive());
    let start = from.and_time(chrono::NaiveTime::MIN).and_utc();
    let end = (to + Days::new(1))
        .and_time(chrono::NaiveTime::MIN)
        .and_utc();

    let stats =
        db::request_log::primary_stats(state.db(), who.tenant_id, start, end, PRIMARIES).await?;
    let shapes =
        db::request_log::chain_counts(state.db(), who.tenant_id, start, end, SHAPES).await?;

    let mut breakdowns: HashMap<&str, Breakdown> = HashMap::new();
    // (primary, served by or "failed") → requests, in the order first seen (most common).
    let mut flows: Vec<(String, String, i64)> = Vec::new();
    for shape in &shapes {
        let steps = chain_log::parse(&shape.chain);
        let b = breakdowns
            .entry(shape.requested_model.as_str())
            .or_default();
        for step in &steps {
            *b.outcomes
                .entry(step.provider().to_owned())
                .or_default()
                .entry(step.outcome.clone())
                .or_default() += shape.requests;
        }
        for reason in chain_log::fallback_reasons(&steps) {
            *b.reasons.entry(reason.clone()).or_default() += shape.requests;
        }
        let to = shape.served_by.as_deref().unwrap_or("failed");
        match flows
            .iter_mut()
            .find(|(f, t, _)| *f == shape.requested_model && t == to)
        {
            Some((_, _, n)) => *n += shape.requests,
            None => flows.push((shape.requested_model.clone(), to.to_owned(), shape.requests)),
        }
    }

    let primaries: Vec<PrimaryView> = stats
        .iter()
        .map(|s| {
            let b = breakdowns
                .remove(s.requested_model.as_str())
                .unwrap_or_default();
            let mut reasons: Vec<(Outcome, i64)> = b.reasons.into_iter().collect();
            reasons.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            PrimaryView {
                model: s.requested_model.clone(),
                requests: s.requests,
                requests_text: view::count(s.requests),
                served_by_primary: s.served_by_primary,
                primary_share: view::percent(s.served_by_primary, s.requests),
                fallbacks: view::count(s.served_by_fallback),
                fallback_rate: view::percent(s.served_by_fallback, s.requests),
                failed: view::count(s.failed),
                p50: view::millis(s.latency_p50_ms),
                p95: view::millis(s.latency_p95_ms),
                outcomes: b
                    .outcomes
                    .iter()
                    .map(|(provider, counts)| ProviderOutcomes {
                        provider: provider.clone(),
                        counts: outcomes_text(counts),
                    })
                    .collect(),
                reasons: reasons
                    .into_iter()
                    .take(REASONS)
                    .map(|(outcome, n)| ReasonView {
                        meaning: outcome.meaning(),
                        outcome: outcome.to_string(),
                        count: view::count(n),
                    })
                    .collect(),
            }
        })
        .collect();

    let mut bands: Vec<Band> = flows
        .into_iter()
        .filter(|(from, _, _)| primaries.iter().any(|p| &p.model == from))
        .map(|(from, to, count)| {
            let kind = if to == "failed" {
                "failed"
            } else if to == from {
                ""
            } else {
                "fallback"
            };
            Band {
                from,
                to,
                count,
                kind,
            }
        })
        .collect();
    // Keep each primary's bands together, in the table's order.
    bands.sort_by_key(|b| primaries.iter().position(|p| p.model == b.from));

    let status = if error.is_none() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    let page = ChainsPage {
        chrome: Chrome::signed_in(&who, &token, "chains"),
        from: view::day(from),
        to: view::day(to),
        error,
        chart: flow(
            "Requests from each primary model to the model that served them",
            &bands,
        ),
        primaries,
        truncated: i64::try_from(shapes.len()).unwrap_or(i64::MAX) >= SHAPES,
    };
    Ok(with_cookie(render(&page, status, &[]), set))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(from: &str, to: &str) -> RangeQuery {
        RangeQuery {
            from: from.to_owned(),
            to: to.to_owned(),
        }
    }

    #[test]
    fn the_default_range_is_the_last_seven_days_and_bad_dates_say_why() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 22).unwrap_or_default();
        let week = NaiveDate::from_ymd_opt(2026, 11, 16).unwrap_or_default();

        assert_eq!(parse_range(&range("", ""), today), (week, today, None));
        let (_, _, bad) = parse_range(&range("yesterday", ""), today);
        let (_, _, backwards) = parse_range(&range("2026-11-20", "2026-11-01"), today);

        assert!(bad.is_some_and(|m| m.contains("yesterday")));
        assert!(backwards.is_some());
        assert_eq!(
            parse_range(&range("2026-11-01", "2026-11-02"), today).0,
            NaiveDate::from_ymd_opt(2026, 11, 1).unwrap_or_default()
        );
    }

    #[test]
    fn outcome_counts_read_most_common_first() {
        let counts = BTreeMap::from([(Outcome::Status(429), 3), (Outcome::Status(200), 12)]);
        assert_eq!(outcomes_text(&counts), "12×200, 3×429");
    }
}
