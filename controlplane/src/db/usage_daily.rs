//! `usage_daily`: per tenant, UTC day, tag and model, what the requests did and cost.

use chrono::NaiveDate;
use sqlx::PgExecutor;
use uuid::Uuid;

/// Increments to add, one element per (day, tag, model); `''` is the untagged tag.
#[derive(Debug, Default)]
pub struct RollupRows {
    pub day: Vec<NaiveDate>,
    pub tag: Vec<String>,
    pub model: Vec<String>,
    pub requests: Vec<i64>,
    pub fallbacks: Vec<i64>,
    pub errors: Vec<i64>,
    pub input_tokens: Vec<i64>,
    pub cache_read_tokens: Vec<i64>,
    pub cache_write_tokens: Vec<i64>,
    pub output_tokens: Vec<i64>,
    pub cost_micros: Vec<i64>,
}

/// Adds the increments to the tenant's rollups. (day, tag, model) must be unique in `rows`.
pub async fn add(e: impl PgExecutor<'_>, tenant_id: Uuid, rows: &RollupRows) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into usage_daily (
             tenant_id, day, tag, model, requests, fallbacks, errors, input_tokens,
             cache_read_tokens, cache_write_tokens, output_tokens, cost_micros)
         select $1, u.*
           from unnest($2::date[], $3::text[], $4::text[], $5::int8[], $6::int8[], $7::int8[],
                       $8::int8[], $9::int8[], $10::int8[], $11::int8[], $12::int8[]) as u
         on conflict on constraint usage_daily_pkey do update set
             requests = usage_daily.requests + excluded.requests,
             fallbacks = usage_daily.fallbacks + excluded.fallbacks,
             errors = usage_daily.errors + excluded.errors,
             input_tokens = usage_daily.input_tokens + excluded.input_tokens,
             cache_read_tokens = usage_daily.cache_read_tokens + excluded.cache_read_tokens,
             cache_write_tokens = usage_daily.cache_write_tokens + excluded.cache_write_tokens,
             output_tokens = usage_daily.output_tokens + excluded.output_tokens,
             cost_micros = usage_daily.cost_micros + excluded.cost_micros,
             updated_at = now()",
        tenant_id,
        &rows.day,
        &rows.tag,
        &rows.model,
        &rows.requests,
        &rows.fallbacks,
        &rows.errors,
        &rows.input_tokens,
        &rows.cache_read_tokens,
        &rows.cache_write_tokens,
        &rows.output_tokens,
        &rows.cost_micros
    )
    .execute(e)
    .await
    .map(|_| ())
}

/// How usage is grouped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupBy {
    Tag,
    Model,
    Day,
}

impl GroupBy {
    /// `"tag"`, `"model"` or `"day"`; anything else `None`.
    pub fn parse(raw: &str) -> Option<GroupBy> {
        match raw {
            "tag" => Some(GroupBy::Tag),
            "model" => Some(GroupBy::Model),
            "day" => Some(GroupBy::Day),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            GroupBy::Tag => "tag",
            GroupBy::Model => "model",
            GroupBy::Day => "day",
        }
    }
}

/// One group's totals. `key` is the tag (`''` untagged), the model, or `YYYY-MM-DD`.
#[derive(Clone, Debug)]
pub struct UsageGroup {
    pub key: String,
    pub requests: i64,
    pub fallbacks: i64,
    pub errors: i64,
    pub input_tokens: i64,
    pub cache_read_tokens: i64,
    pub cache_write_tokens: i64,
    pub output_tokens: i64,
    pub cost_micros: i64,
}

/// The tenant's usage from `from` to `to` (inclusive UTC days), grouped, ordered by key.
pub async fn summarize(
    e: impl PgExecutor<'_>,
    tenant_id: Uuid,
    from: NaiveDate,
    to: NaiveDate,
    group_by: GroupBy,
) -> sqlx::Result<Vec<UsageGroup>> {
    sqlx::query_as!(
        UsageGroup,
        r#"select case $4
                      when 'tag' then tag
                      when 'model' then model
                      else to_char(day, 'YYYY-MM-DD')
                  end as "key!",
                  sum(requests)::bigint as "requests!",
                  sum(fallbacks)::bigint as "fallbacks!",
                  sum(errors)::bigint as "errors!",
                  sum(input_tokens)::bigint as "input_tokens!",
                  sum(cache_read_tokens)::bigint as "cache_read_tokens!",
                  sum(cache_write_tokens)::bigint as "cache_write_tokens!",
                  sum(output_tokens)::bigint as "output_tokens!",
                  sum(cost_micros)::bigint as "cost_micros!"
             from usage_daily
            where tenant_id = $1 and day between $2 and $3
            group by 1
            order by 1"#,
        tenant_id,
        from,
        to,
        group_by.as_str()
    )
    .fetch_all(e)
    .await
}

/// Micro-USD spent from `from` to `to` (inclusive), under `tag` or in total (`None`).
pub async fn spend(
    e: impl PgExecutor<'_>,
    tenant_id: Uuid,
    from: NaiveDate,
    to: NaiveDate,
    tag: Option<&str>,
) -> sqlx::Result<i64> {
    sqlx::query_scalar!(
        r#"select coalesce(sum(cost_micros), 0)::bigint as "spend!"
             from usage_daily
            where tenant_id = $1 and day between $2 and $3
              and ($4::text is null or tag = $4)"#,
        tenant_id,
        from,
        to,
        tag
    )
    .fetch_one(e)
    .await
}
