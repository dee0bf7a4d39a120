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
