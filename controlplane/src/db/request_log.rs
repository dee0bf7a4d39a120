//! `request_log`: one row per ingested usage event, unique by request id.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

/// A batch of one tenant's events, column by column (inserted in one statement). Absent
/// tags and serving slugs are empty strings.
#[derive(Debug, Default)]
pub struct RequestRows {
    pub request_id: Vec<String>,
    pub key_id: Vec<String>,
    pub tag: Vec<String>,
    pub ingress: Vec<String>,
    pub requested_model: Vec<String>,
    pub served_by: Vec<String>,
    pub chain: Vec<String>,
    pub status: Vec<i32>,
    pub stream: Vec<bool>,
    pub latency_ms: Vec<i64>,
    pub input_tokens: Vec<i64>,
    pub cache_read_tokens: Vec<i64>,
    pub cache_write_tokens: Vec<i64>,
    pub output_tokens: Vec<i64>,
    pub cost_micros: Vec<i64>,
    pub usage_estimated: Vec<bool>,
    pub client_disconnected: Vec<bool>,
    pub ts: Vec<DateTime<Utc>>,
}

/// Inserts the rows whose request id is new; returns those request ids.
pub async fn insert_new(
    e: impl PgExecutor<'_>,
    tenant_id: Uuid,
    rows: &RequestRows,
) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar!(
        "insert into request_log (
             request_id, tenant_id, key_id, tag, ingress, requested_model, served_by, chain,
             status, stream, latency_ms, input_tokens, cache_read_tokens, cache_write_tokens,
             output_tokens, cost_micros, usage_estimated, client_disconnected, ts)
         select u.request_id, $1, u.key_id, nullif(u.tag, ''), u.ingress, u.requested_model,
                nullif(u.served_by, ''), u.chain, u.status, u.stream, u.latency_ms,
                u.input_tokens, u.cache_read_tokens, u.cache_write_tokens, u.output_tokens,
                u.cost_micros, u.usage_estimated, u.client_disconnected, u.ts
           from unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                       $8::text[], $9::int4[], $10::bool[], $11::int8[], $12::int8[],
                       $13::int8[], $14::int8[], $15::int8[], $16::int8[], $17::bool[],
                       $18::bool[], $19::timestamptz[])
                as u(request_id, key_id, tag, ingress, requested_model, served_by, chain,
                     status, stream, latency_ms, input_tokens, cache_read_tokens,
                     cache_write_tokens, output_tokens, cost_micros, usage_estimated,
                     client_disconnected, ts)
         on conflict on constraint request_log_request_id_key do nothing
         returning request_id",
        tenant_id,
        &rows.request_id,
        &rows.key_id,
        &rows.tag,
        &rows.ingress,
        &rows.requested_model,
        &rows.served_by,
        &rows.chain,
        &rows.status,
        &rows.stream,
        &rows.latency_ms,
        &rows.input_tokens,
        &rows.cache_read_tokens,
        &rows.cache_write_tokens,
        &rows.output_tokens,
        &rows.cost_micros,
        &rows.usage_estimated,
        &rows.client_disconnected,
        &rows.ts
    )
    .fetch_all(e)
    .await
}

/// Which of these request ids are already in the log.
pub async fn ingested_among(
    e: impl PgExecutor<'_>,
    request_ids: &[String],
) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar!(
        "select request_id from request_log where request_id = any($1::text[])",
        request_ids
    )
    .fetch_all(e)
    .await
}

/// One primary model's requests in a time range.
#[derive(Debug)]
pub struct PrimaryStats {
    pub requested_model: String,
    pub requests: i64,
    /// Served by the primary itself.
    pub served_by_primary: i64,
    /// Served by another slug of the chain.
    pub served_by_fallback: i64,
    /// Nothing served.
    pub failed: i64,
    pub latency_p50_ms: i64,
    pub latency_p95_ms: i64,
}

/// Per primary model (`requested_model`) in `[from, to)`, most requests first, at most
/// `limit` models.
pub async fn primary_stats(
    e: impl PgExecutor<'_>,
    tenant_id: Uuid,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    limit: i64,
) -> sqlx::Result<Vec<PrimaryStats>> {
    sqlx::query_as!(
        PrimaryStats,
        r#"select requested_model,
                  count(*) as "requests!",
                  count(*) filter (where served_by = requested_model) as "served_by_primary!",
                  count(*) filter (where served_by <> requested_model) as "served_by_fallback!",
                  count(*) filter (where served_by is null) as "failed!",
                  percentile_disc(0.5) within group (order by latency_ms) as "latency_p50_ms!",
                  percentile_disc(0.95) within group (order by latency_ms) as "latency_p95_ms!"
             from request_log
            where tenant_id = $1 and ts >= $2 and ts < $3
            group by requested_model
            order by count(*) desc, requested_model
            limit $4"#,
        tenant_id,
        from,
        to,
        limit
    )
    .fetch_all(e)
    .await
}

/// How many requests of one chain shape there were.
#[derive(Debug)]
pub struct ChainCount {
    pub requested_model: String,
    pub chain: String,
    pub served_by: Option<String>,
    pub requests: i64,
}

/// Requests in `[from, to)` counted by (primary, chain, serving slug), most common first, at
/// most `limit` shapes: the chains are parsed by the caller, so this bounds that work.
pub async fn chain_counts(
    e: impl PgExecutor<'_>,
    tenant_id: Uuid,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    limit: i64,
) -> sqlx::Result<Vec<ChainCount>> {
    sqlx::query_as!(
        ChainCount,
        r#"select requested_model, chain, served_by, count(*) as "requests!"
             from request_log
            where tenant_id = $1 and ts >= $2 and ts < $3
            group by requested_model, chain, served_by
            order by count(*) desc, requested_model, chain
            limit $4"#,
        tenant_id,
        from,
        to,
        limit
    )
    .fetch_all(e)
    .await
}

/// One request as the request log page shows it.
#[derive(Debug, sqlx::FromRow)]
pub struct LoggedRequest {
    pub id: i64,
    pub request_id: String,
    pub tag: Option<String>,
    pub requested_model: String,
    pub served_by: Option<String>,
    pub chain: String,
    pub status: i32,
    pub stream: bool,
    pub latency_ms: i64,
    pub input_tokens: i64,
    pub cache_read_tokens: i64,
    pub cache_write_tokens: i64,
    pub output_tokens: i64,
    pub cost_micros: i64,
    pub usage_estimated: bool,
    pub client_disconnected: bool,
    pub ts: DateTime<Utc>,
}

/// A position in the log's order (newest first: `ts` descending, then `id` descending).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub ts: DateTime<Utc>,
    pub id: i64,
}

/// Which requests of a tenant to list; every filter is optional.
#[derive(Debug, Default)]
pub struct RequestFilter {
    /// Exactly this request id.
    pub request_id: Option<String>,
    pub tag: Option<String>,
    /// Requested or served by this slug.
    pub model: Option<String>,
    /// Status within this inclusive range.
    pub status: Option<(i32, i32)>,
}

/// Which page of the log.
#[derive(Debug, Clone, Copy)]
pub enum Page {
    /// The newest requests.
    Newest,
    /// The requests just older than the cursor.
    Before(Cursor),
    /// The requests just newer than the cursor.
    After(Cursor),
}

/// Up to `limit` of the tenant's requests matching `filter`, on `page`, newest first. The
/// filter's shape varies, hence a query builder.
pub async fn search(
    e: impl PgExecutor<'_>,
    tenant_id: Uuid,
    filter: &RequestFilter,
    page: Page,
    limit: i64,
) -> sqlx::Result<Vec<LoggedRequest>> {
    let mut q = sqlx::QueryBuilder::new(
        "select id, request_id, tag, requested_model, served_by, chain, status, stream,
                latency_ms, input_tokens, cache_read_tokens, cache_write_tokens, output_tokens,
                cost_micros, usage_estimated, client_disconnected, ts
           from request_log where tenant_id = ",
    );
    q.push_bind(tenant_id);
    if let Some(request_id) = &filter.request_id {
        q.push(" and request_id = ").push_bind(request_id.clone());
    }
    if let Some(tag) = &filter.tag {
        q.push(" and tag = ").push_bind(tag.clone());
    }
    if let Some(model) = &filter.model {
        q.push(" and (requested_model = ")
            .push_bind(model.clone())
            .push(" or served_by = ")
            .push_bind(model.clone())
            .push(")");
    }
    if let Some((low, high)) = filter.status {
        q.push(" and status between ")
            .push_bind(low)
            .push(" and ")
            .push_bind(high);
    }
    let ascending = match page {
        Page::Newest => false,
        Page::Before(c) => {
            q.push(" and (ts, id) < (")
                .push_bind(c.ts)
                .push(", ")
                .push_bind(c.id)
                .push(")");
            false
        }
        Page::After(c) => {
            q.push(" and (ts, id) > (")
                .push_bind(c.ts)
                .push(", ")
                .push_bind(c.id)
                .push(")");
            true
        }
    };
    q.push(if ascending {
        " order by ts, id limit "
    } else {
        " order by ts desc, id desc limit "
    });
    q.push_bind(limit);
    let mut rows: Vec<LoggedRequest> = q.build_query_as().fetch_all(e).await?;
    if ascending {
        rows.reverse();
    }
    Ok(rows)
}
