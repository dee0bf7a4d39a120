//! `GET /v1/usage?from=YYYY-MM-DD&to=YYYY-MM-DD&group_by=tag|model|day`: spend, requests,
//! tokens and fallbacks from the daily rollups (UTC days, both ends inclusive; default this
//! month so far, grouped by day).

use crate::auth::api_key::KeyAuth;
use crate::db;
use crate::db::usage_daily::{GroupBy, UsageGroup};
use crate::error::Error;
use crate::spend::{self, Month};
use crate::state::AppState;
use axum::extract::{RawQuery, State};
use axum::Json;
use chrono::NaiveDate;
use serde::Serialize;
use serde_json::{json, Value};

/// Longest range one call may cover.
pub const MAX_DAYS: i64 = 366;

#[derive(Debug, PartialEq, Eq)]
struct UsageQuery {
    from: NaiveDate,
    to: NaiveDate,
    group_by: GroupBy,
}

/// A `YYYY-MM-DD` query value; the error names the parameter.
pub fn parse_date(name: &str, raw: &str) -> Result<NaiveDate, Error> {
    NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .ok()
        .filter(|_| raw.len() == 10)
        .ok_or_else(|| {
            Error::invalid(
                format!("{name} must be a date as YYYY-MM-DD, got {raw:?}"),
                Some(name),
            )
        })
}

fn parse_query(raw: Option<&str>, month: &Month) -> Result<UsageQuery, Error> {
    let (mut from, mut to, mut group_by) = (None, None, None);
    for (name, value) in url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
        match name.as_ref() {
            "from" => from = Some(parse_date("from", &value)?),
            "to" => to = Some(parse_date("to", &value)?),
            "group_by" => {
                group_by = Some(GroupBy::parse(&value).ok_or_else(|| {
                    Error::invalid(
                        format!("group_by must be tag, model or day, got {value:?}"),
                        Some("group_by"),
                    )
                })?)
            }
            other => {
                return Err(Error::invalid(
                    format!("unknown query parameter {other:?}; use from, to and group_by"),
                    Some(other),
                ))
            }
        }
    }
    let from = from.unwrap_or(month.first_day);
    let to = to.unwrap_or(month.today);
    check_range(from, to)?;
    Ok(UsageQuery {
        from,
        to,
        group_by: group_by.unwrap_or(GroupBy::Day),
    })
}

/// `from`..=`to` must run forward and cover at most [`MAX_DAYS`] days.
pub fn check_range(from: NaiveDate, to: NaiveDate) -> Result<(), Error> {
    if from > to {
        return Err(Error::invalid(
            format!("from ({from}) is after to ({to})"),
            Some("from"),
        ));
    }
    if (to - from).num_days() >= MAX_DAYS {
        return Err(Error::invalid(
            format!("the range may cover at most {MAX_DAYS} days"),
            Some("from"),
        ));
    }
    Ok(())
}

/// Usage groups added up (one group's, or a whole answer's).
#[derive(Clone, Debug, Default, Serialize)]
pub struct Totals {
    pub requests: i64,
    pub fallbacks: i64,
    pub errors: i64,
    pub input_tokens: i64,
    pub cache_read_tokens: i64,
    pub cache_write_tokens: i64,
    pub output_tokens: i64,
    pub cost_micros: i64,
    pub cost_cents: i64,
}

impl Totals {
    /// One group's totals.
    pub fn of(g: &UsageGroup) -> Totals {
        let mut one = Totals::default();
        one.add(g);
        one
    }

    pub fn add(&mut self, g: &UsageGroup) {
        self.requests += g.requests;
        self.fallbacks += g.fallbacks;
        self.errors += g.errors;
        self.input_tokens += g.input_tokens;
        self.cache_read_tokens += g.cache_read_tokens;
        self.cache_write_tokens += g.cache_write_tokens;
        self.output_tokens += g.output_tokens;
        self.cost_micros += g.cost_micros;
        self.cost_cents = spend::cents_ceil(self.cost_micros);
    }
}

/// `GET /v1/usage`.
#[tracing::instrument(skip_all, fields(tenant = %auth.tenant_id))]
pub async fn get_usage(
    State(state): State<AppState>,
    auth: KeyAuth,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, Error> {
    let q = parse_query(raw.as_deref(), &Month::current())?;
    let groups =
        db::usage_daily::summarize(state.db(), auth.tenant_id, q.from, q.to, q.group_by).await?;
    let mut total = Totals::default();
    let data: Vec<Value> = groups
        .iter()
        .map(|g| {
            total.add(g);
            let mut row = serde_json::to_value(Totals::of(g)).unwrap_or_default();
            // An untagged request is grouped under tag null.
            let key = match (q.group_by, g.key.as_str()) {
                (GroupBy::Tag, "") => Value::Null,
                (_, key) => Value::from(key),
            };
            if let Value::Object(fields) = &mut row {
                fields.insert(q.group_by.as_str().to_owned(), key);
            }
            row
        })
        .collect();
    Ok(Json(json!({
        "object": "usage",
        "from": q.from.to_string(),
        "to": q.to.to_string(),
        "group_by": q.group_by.as_str(),
        "data": data,
        "total": total,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn month() -> Month {
        Month {
            label: "2026-03".into(),
            first_day: NaiveDate::from_ymd_opt(2026, 3, 1).unwrap(),
            today: NaiveDate::from_ymd_opt(2026, 3, 17).unwrap(),
        }
    }

    fn param_of(raw: &str) -> Option<String> {
        match parse_query(Some(raw), &month()) {
            Err(Error::InvalidRequest { param, .. }) => param,
            other => panic!("expected a 400 for {raw}, got {other:?}"),
        }
    }

    #[test]
    fn defaults_to_this_month_by_day() {
        let q = parse_query(None, &month()).unwrap();
        assert_eq!(q.from.to_string(), "2026-03-01");
        assert_eq!(q.to.to_string(), "2026-03-17");
        assert_eq!(q.group_by, GroupBy::Day);
    }

    #[test]
    fn bad_parameters_are_named() {
        assert_eq!(param_of("from=2026-3-1").as_deref(), Some("from"));
        assert_eq!(param_of("to=yesterday").as_deref(), Some("to"));
        assert_eq!(param_of("group_by=week").as_deref(), Some("group_by"));
        assert_eq!(
            param_of("from=2026-03-10&to=2026-03-01").as_deref(),
            Some("from")
        );
        assert_eq!(
            param_of("from=2024-01-01&to=2026-01-01").as_deref(),
            Some("from")
        );
        assert_eq!(param_of("groupby=tag").as_deref(), Some("groupby"));
    }

    #[test]
    fn explicit_ranges_and_groupings_parse() {
        let q = parse_query(
            Some("from=2026-01-01&to=2026-01-31&group_by=model"),
            &month(),
        )
        .unwrap();
        assert_eq!(q.from.to_string(), "2026-01-01");
        assert_eq!(q.group_by, GroupBy::Model);
    }
}
