//! `POST /v1/budgets` (upsert by tag), `GET /v1/budgets`, `DELETE /v1/budgets/{tag}`:
//! monthly caps in cents per `x-aig-tag`, or `*` for all of the tenant's traffic. Written to
//! Postgres and published to Redis in one step, so the data plane enforces a cap within a
//! second of the answer.

use crate::auth::api_key::KeyAuth;
use crate::db;
use crate::db::budget::Budget;
use crate::error::Error;
use crate::publish;
use crate::routes::JsonBody;
use crate::spend::{self, Month};
use crate::state::AppState;
use aig_common::budget::{is_valid_tag, ALL_TAGS, MICROS_PER_CENT};
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

/// Largest cap accepted: USD 10 billion, far beyond any real budget, well inside `i64`.
pub const MAX_CAP_CENTS: u64 = 1_000_000_000_000;

/// A budget as the API answers it, with this month's spend against it.
#[derive(Debug, Serialize)]
pub struct BudgetView {
    pub object: &'static str,
    pub tag: String,
    pub monthly_cap_cents: i64,
    /// `YYYY-MM` (UTC) the spend figures are for.
    pub month: String,
    /// Spent under this tag (all traffic for `*`) this month, rounded up to whole cents.
    pub spent_cents: i64,
    pub spent_micros: i64,
    /// What is left of the cap this month, in whole cents (never below 0).
    pub remaining_cents: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

fn view(budget: Budget, month: &Month, spent_micros: i64) -> BudgetView {
    let per_cent = i64::try_from(MICROS_PER_CENT).unwrap_or(10_000);
    let cap_micros = budget.monthly_cap_cents.saturating_mul(per_cent);
    BudgetView {
        object: "budget",
        remaining_cents: cap_micros.saturating_sub(spent_micros).max(0) / per_cent,
        spent_cents: spend::cents_ceil(spent_micros),
        spent_micros,
        month: month.label.clone(),
        tag: budget.tag,
        monthly_cap_cents: budget.monthly_cap_cents,
        created_at: budget.created_at,
        updated_at: budget.updated_at,
    }
}

/// `tag`: `*`, or the `x-aig-tag` rule.
pub fn valid_tag(tag: &str) -> bool {
    tag == ALL_TAGS || is_valid_tag(tag)
}

pub const TAG_RULE: &str =
    "tag must be 1-64 characters of A-Z a-z 0-9 . _ : - (as sent in x-aig-tag), or * for all traffic";

/// The body `{"tag": …, "monthly_cap_cents": …}`, checked field by field.
fn parse_budget_body(body: &Value) -> Result<(String, i64), Error> {
    let Value::Object(fields) = body else {
        return Err(Error::invalid(
            "the body must be a JSON object with tag and monthly_cap_cents",
            None,
        ));
    };
    let tag = match fields.get("tag") {
        None | Some(Value::Null) => return Err(Error::invalid("tag is required", Some("tag"))),
        Some(Value::String(tag)) if valid_tag(tag) => tag.clone(),
        Some(_) => return Err(Error::invalid(TAG_RULE, Some("tag"))),
    };
    let cap = match fields.get("monthly_cap_cents") {
        None | Some(Value::Null) => {
            return Err(Error::invalid(
                "monthly_cap_cents is required",
                Some("monthly_cap_cents"),
            ))
        }
        Some(v) => v
            .as_u64()
            .filter(|c| *c <= MAX_CAP_CENTS)
            .and_then(|c| i64::try_from(c).ok())
            .ok_or_else(|| {
                Error::invalid(
                    format!(
                        "monthly_cap_cents must be a whole number of cents from 0 to \
                         {MAX_CAP_CENTS}"
                    ),
                    Some("monthly_cap_cents"),
                )
            })?,
    };
    Ok((tag, cap))
}

/// `POST /v1/budgets`: sets the tag's monthly cap, creating the budget if needed.
#[tracing::instrument(skip_all, fields(tenant = %auth.tenant_id))]
pub async fn upsert_budget(
    State(state): State<AppState>,
    auth: KeyAuth,
    JsonBody(body): JsonBody<Value>,
) -> Result<Json<BudgetView>, Error> {
    let (tag, cap) = parse_budget_body(&body)?;
    let budget = set_cap(&state, auth.tenant_id, &tag, cap).await?;

    let month = Month::current();
    let spent = spend::month_to_date(&state, auth.tenant_id, &month, &[&tag]).await?;
    Ok(Json(view(
        budget,
        &month,
        spent.first().copied().unwrap_or(0),
    )))
}

/// `GET /v1/budgets`: the tenant's budgets with this month's spend, `*` first.
#[tracing::instrument(skip_all, fields(tenant = %auth.tenant_id))]
pub async fn list_budgets(
    State(state): State<AppState>,
    auth: KeyAuth,
) -> Result<Json<Value>, Error> {
    let budgets = db::budget::list(state.db(), auth.tenant_id).await?;
    let month = Month::current();
    let tags: Vec<&str> = budgets.iter().map(|b| b.tag.as_str()).collect();
    let spent = spend::month_to_date(&state, auth.tenant_id, &month, &tags).await?;
    let data: Vec<BudgetView> = budgets
        .into_iter()
        .zip(spent)
        .map(|(b, s)| view(b, &month, s))
        .collect();
    Ok(Json(serde_json::json!({ "object": "list", "data": data })))
}

/// `DELETE /v1/budgets/{tag}`: removes the cap; 404 if the tag has none.
#[tracing::instrument(skip_all, fields(tenant = %auth.tenant_id))]
pub async fn delete_budget(
    State(state): State<AppState>,
    auth: KeyAuth,
    tag: Result<Path<String>, PathRejection>,
) -> Result<StatusCode, Error> {
    let Path(tag) = tag.map_err(|e| Error::invalid(e.body_text(), Some("tag")))?;
    if !valid_tag(&tag) {
        return Err(Error::invalid(TAG_RULE, Some("tag")));
    }
    if remove_cap(&state, auth.tenant_id, &tag).await?.is_none() {
        return Err(Error::not_found(
            format!("no budget for tag {tag:?}"),
            "budget_not_found",
        ));
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Sets `tag`'s monthly cap (a checked tag and cap) in Postgres and Redis in one step, so
/// the data plane enforces it within a second; the API and the budgets page both write here.
pub async fn set_cap(
    state: &AppState,
    tenant_id: Uuid,
    tag: &str,
    monthly_cap_cents: i64,
) -> Result<Budget, Error> {
    let mut tx = state.db().begin().await?;
    let budget = db::budget::upsert(&mut *tx, tenant_id, tag, monthly_cap_cents).await?;
    publish::budget_set(state, tenant_id, tag, monthly_cap_cents).await?;
    tx.commit().await?;
    Ok(budget)
}

/// Removes `tag`'s cap from Postgres and Redis in one step; `None` if it had none (and
/// nothing was published).
pub async fn remove_cap(
    state: &AppState,
    tenant_id: Uuid,
    tag: &str,
) -> Result<Option<Budget>, Error> {
    let mut tx = state.db().begin().await?;
    let Some(budget) = db::budget::delete(&mut *tx, tenant_id, tag).await? else {
        return Ok(None);
    };
    publish::budget_delete(state, tenant_id, tag).await?;
    tx.commit().await?;
    Ok(Some(budget))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn param_of(body: Value) -> Option<String> {
        match parse_budget_body(&body) {
            Err(Error::InvalidRequest { param, .. }) => param,
            other => panic!("expected a 400, got {other:?}"),
        }
    }

    #[test]
    fn bodies_are_checked_field_by_field() {
        assert_eq!(
            parse_budget_body(&json!({"tag": "summarize.fallback", "monthly_cap_cents": 5000}))
                .unwrap(),
            ("summarize.fallback".to_owned(), 5000)
        );
        assert_eq!(
            parse_budget_body(&json!({"tag": "*", "monthly_cap_cents": 0})).unwrap(),
            ("*".to_owned(), 0)
        );
        assert_eq!(
            param_of(json!({"monthly_cap_cents": 1})).as_deref(),
            Some("tag")
        );
        assert_eq!(
            param_of(json!({"tag": "a b", "monthly_cap_cents": 1})).as_deref(),
            Some("tag")
        );
        assert_eq!(
            param_of(json!({"tag": 5, "monthly_cap_cents": 1})).as_deref(),
            Some("tag")
        );
        for cap in [json!(-1), json!(1.5), json!("100"), json!(null)] {
            assert_eq!(
                param_of(json!({"tag": "x", "monthly_cap_cents": cap})).as_deref(),
                Some("monthly_cap_cents")
            );
        }
        assert_eq!(param_of(json!([1, 2])), None);
    }
}
