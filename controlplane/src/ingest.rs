//! Usage stream → Postgres. Each tenant's usage stream has a consumer group; this reads it in
//! batches and writes, in one transaction per batch, the request log, the daily rollups and
//! one ledger debit per event, idempotently by request id. An entry is acknowledged only
//! after its batch committed, so:
//!
//! - a crash or restart between commit and acknowledgement redelivers events that are then
//!   recognised and skipped (never counted twice);
//! - a Postgres outage leaves the batch unacknowledged; it is read again (this consumer's
//!   pending entries, from id `0`) until it commits (never lost);
//! - entries another consumer read and never acknowledged (it died) are claimed once they
//!   have been idle for `AIG_INGEST_CLAIM_IDLE_MS`.

use crate::db;
use crate::db::request_log::RequestRows;
use crate::db::usage_daily::RollupRows;
use crate::error::Error;
use crate::state::AppState;
use aig_common::redis_conn::RedisConn;
use aig_common::usage::{UsageEvent, STREAM_FIELD};
use chrono::{DateTime, NaiveDate, Utc};
use redis::Value;
use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// The consumer group every control plane instance reads the usage streams in.
pub const CONSUMER_GROUP: &str = "aig-controlplane";
/// Entries read per stream at a time: one transaction each.
const BATCH: usize = 200;
/// Streams named in one `XREADGROUP` (on a Redis Cluster: streams read at once, one
/// `XREADGROUP` each).
const STREAMS_PER_READ: usize = 100;
/// Pause between polls when nothing was waiting.
const IDLE_POLL: Duration = Duration::from_millis(200);
/// How often the tenant list is re-read from Postgres (new tenants' streams).
const TENANTS_REFRESH: Duration = Duration::from_secs(5);
/// Longest pause after repeated failures (Postgres or Redis down).
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// Creates the stream's consumer group (and the stream) if missing. New groups start at the
/// beginning of the stream: anything already there is ingested (or recognised as ingested).
pub async fn ensure_group(redis: &mut RedisConn, stream: &str) -> Result<(), Error> {
    let created: redis::RedisResult<()> = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(stream)
        .arg(CONSUMER_GROUP)
        .arg("0")
        .arg("MKSTREAM")
        .query_async(redis)
        .await;
    match created {
        Ok(()) => Ok(()),
        Err(e) if e.code() == Some("BUSYGROUP") => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// What one poll did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PollStats {
    /// Stream entries read (new, pending or claimed).
    pub read: usize,
    /// Events written to Postgres for the first time.
    pub ingested: usize,
    /// Events that were already in Postgres (redelivered), skipped.
    pub duplicates: usize,
    /// Entries that held no parsable event (acknowledged, logged).
    pub malformed: usize,
    /// Batches that failed and stay pending.
    pub failed_batches: usize,
}

impl std::ops::AddAssign for PollStats {
    fn add_assign(&mut self, o: Self) {
        self.read += o.read;
        self.ingested += o.ingested;
        self.duplicates += o.duplicates;
        self.malformed += o.malformed;
        self.failed_batches += o.failed_batches;
    }
}

/// One consumer of every tenant's usage stream.
pub struct Ingester {
    state: AppState,
    consumer: String,
    tenants: Vec<Uuid>,
    tenants_loaded: Option<Instant>,
    groups_ready: HashSet<Uuid>,
    /// Read this consumer's own pending entries (id `0`) before new ones: at start, and
    /// after a batch failed or could not be acknowledged.
    replay_pending: bool,
    last_claim: Option<Instant>,
}

/// One stream entry: its id and fields (`None` when the entry was trimmed since delivery).
type Entry = (String, Option<Vec<(String, String)>>);

impl Ingester {
    /// A consumer named by `AIG_INGEST_CONSUMER`.
    pub fn new(state: AppState) -> Self {
        let consumer = state.config().ingest_consumer.clone();
        Self::with_consumer(state, consumer)
    }

    pub fn with_consumer(state: AppState, consumer: impl Into<String>) -> Self {
        Self {
            state,
            consumer: consumer.into(),
            tenants: Vec::new(),
            tenants_loaded: None,
            groups_ready: HashSet::new(),
            replay_pending: true,
            last_claim: None,
        }
    }

    /// One pass over every tenant's stream: claims entries abandoned by dead consumers,
    /// re-reads this consumer's pending entries if needed, then new ones, and ingests them.
    pub async fn poll(&mut self) -> Result<PollStats, Error> {
        self.refresh_tenants().await?;
        let mut stats = PollStats::default();
        let claim_idle = self.state.config().ingest_claim_idle;
        let claim_due = self
            .last_claim
            .is_none_or(|t| t.elapsed() >= claim_idle.max(Duration::from_secs(1)) / 2);
        if claim_due {
            for tenant_id in self.tenants.clone() {
                stats += self.claim_abandoned(tenant_id, claim_idle).await?;
            }
            self.last_claim = Some(Instant::now());
        }

        if self.replay_pending {
            let replayed = self.read_and_ingest("0").await?;
            stats += replayed;
            if replayed.read > 0 || replayed.failed_batches > 0 {
                return Ok(stats);
            }
            self.replay_pending = false;
        }
        stats += self.read_and_ingest(">").await?;
        Ok(stats)
    }

    /// Reads every tenant's stream from `from` (`0`: this consumer's pending entries, `>`:
    /// new ones) and ingests what came.
    async fn read_and_ingest(&mut self, from: &str) -> Result<PollStats, Error> {
        let mut stats = PollStats::default();
        for chunk in self.tenants.clone().chunks(STREAMS_PER_READ) {
            for (tenant_id, entries) in self.read(chunk, from).await? {
                stats += self.ingest(tenant_id, entries).await;
            }
        }
        Ok(stats)
    }

    /// Polls until nothing is waiting; stops at the first poll with a failed batch.
    pub async fn drain(&mut self) -> Result<PollStats, Error> {
        let mut total = PollStats::default();
        loop {
            let stats = self.poll().await?;
            total += stats;
            if stats.failed_batches > 0 || stats.read == 0 {
                return Ok(total);
            }
        }
    }

    /// Polls until `shutdown` fires, backing off while Postgres or Redis fail.
    pub async fn run(mut self, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        let mut backoff = IDLE_POLL;
        loop {
            let pause = match self.poll().await {
                Ok(stats) if stats.failed_batches > 0 => {
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    backoff
                }
                Ok(stats) => {
                    backoff = IDLE_POLL;
                    if stats.read > 0 {
                        Duration::ZERO
                    } else {
                        IDLE_POLL
                    }
                }
                Err(e) => {
                    tracing::warn!("usage ingestion paused: {e}");
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    backoff
                }
            };
            tokio::select! {
                () = tokio::time::sleep(pause) => {}
                _ = shutdown.changed() => break,
            }
        }
    }

    async fn refresh_tenants(&mut self) -> Result<(), Error> {
        let stale = self
            .tenants_loaded
            .is_none_or(|t| t.elapsed() >= TENANTS_REFRESH);
        if stale {
            match db::tenant::list_ids(self.state.db()).await {
                Ok(ids) => {
                    self.tenants = ids;
                    self.tenants_loaded = Some(Instant::now());
                }
                // Keep reading the streams already known while Postgres is away: their
                // batches fail and stay pending, which is what an outage should do.
                Err(e) if !self.tenants.is_empty() => {
                    tracing::warn!("could not refresh the tenant list: {e}");
                }
                Err(e) => return Err(e.into()),
            }
        }
        let keys = self.state.redis_keys().clone();
        let mut redis = self.state.redis();
        for id in &self.tenants {
            if !self.groups_ready.contains(id) {
                ensure_group(&mut redis, &keys.usage_stream(&id.to_string())).await?;
                self.groups_ready.insert(*id);
            }
        }
        Ok(())
    }

    /// `XREADGROUP … STREAMS <streams> <from>…` for these tenants. On a Redis Cluster each
    /// tenant's stream lies in the tenant's own slot (usually on another node), and one
    /// command must keep to one slot: one `XREADGROUP` per stream there, sent together.
    async fn read(
        &mut self,
        tenants: &[Uuid],
        from: &str,
    ) -> Result<Vec<(Uuid, Vec<Entry>)>, Error> {
        let keys = self.state.redis_keys().clone();
        let redis = self.state.redis();
        let per_read = if redis.is_cluster() { 1 } else { tenants.len() };
        let reads: Vec<redis::Cmd> = tenants
            .chunks(per_read.max(1))
            .map(|streams| {
                let mut cmd = redis::cmd("XREADGROUP");
                cmd.arg("GROUP")
                    .arg(CONSUMER_GROUP)
                    .arg(&self.consumer)
                    .arg("COUNT")
                    .arg(BATCH)
                    .arg("STREAMS");
                for id in streams {
                    cmd.arg(keys.usage_stream(&id.to_string()));
                }
                for _ in streams {
                    cmd.arg(from);
                }
                cmd
            })
            .collect();
        let replies = futures_util::future::join_all(reads.iter().map(|cmd| {
            let mut redis = redis.clone();
            async move { cmd.query_async::<Value>(&mut redis).await }
        }))
        .await;
        let mut by_stream = Vec::new();
        let mut failed = None;
        for reply in replies {
            match reply {
                Ok(v) => by_stream
                    .extend(parse_read_reply(v).inspect_err(|_| self.replay_pending = true)?),
                // A stream deleted behind our back (Redis flushed): recreate groups next poll.
                Err(e) if e.code() == Some("NOGROUP") => self.groups_ready.clear(),
                Err(e) => failed = Some(e),
            }
        }
        if let Some(e) = failed {
            // Other streams' reads may have delivered entries: read them again from `0`.
            self.replay_pending = true;
            return Err(e.into());
        }
        let mut out = Vec::new();
        for id in tenants {
            let name = keys.usage_stream(&id.to_string());
            if let Some((_, entries)) = by_stream.iter().find(|(k, _)| *k == name) {
                out.push((*id, entries.clone()));
            }
        }
        Ok(out)
    }

    /// Takes over entries other consumers left unacknowledged for longer than `idle`.
    async fn claim_abandoned(
        &mut self,
        tenant_id: Uuid,
        idle: Duration,
    ) -> Result<PollStats, Error> {
        let stream = self.state.redis_keys().usage_stream(&tenant_id.to_string());
        let mut redis = self.state.redis();
        let mut stats = PollStats::default();
        let mut cursor = "0-0".to_owned();
        loop {
            let reply: Value = redis::cmd("XAUTOCLAIM")
                .arg(&stream)
                .arg(CONSUMER_GROUP)
                .arg(&self.consumer)
                .arg(u64::try_from(idle.as_millis()).unwrap_or(u64::MAX))
                .arg(&cursor)
                .arg("COUNT")
                .arg(BATCH)
                .query_async(&mut redis)
                .await?;
            let (next, entries, deleted) = parse_autoclaim_reply(reply)?;
            if !deleted.is_empty() {
                tracing::warn!(tenant = %tenant_id, count = deleted.len(),
                    "unacknowledged usage events were trimmed from the stream before ingestion");
            }
            if !entries.is_empty() {
                tracing::info!(tenant = %tenant_id, count = entries.len(),
                    "claimed usage events another consumer left unacknowledged");
                stats += self.ingest(tenant_id, entries).await;
            }
            if next == "0-0" {
                return Ok(stats);
            }
            cursor = next;
        }
    }

    /// Writes one tenant's batch and acknowledges it after the commit.
    async fn ingest(&mut self, tenant_id: Uuid, entries: Vec<Entry>) -> PollStats {
        let mut stats = PollStats {
            read: entries.len(),
            ..PollStats::default()
        };
        if entries.is_empty() {
            return stats;
        }
        let mut events = Vec::with_capacity(entries.len());
        for (id, fields) in &entries {
            let Some(fields) = fields else {
                continue; // trimmed before it could be read again; nothing left to ingest
            };
            let event = fields
                .iter()
                .find(|(k, _)| k == STREAM_FIELD)
                .ok_or_else(|| format!("no {STREAM_FIELD:?} field"))
                .and_then(|(_, json)| {
                    serde_json::from_str::<UsageEvent>(json).map_err(|e| e.to_string())
                });
            match event {
                Ok(event) => {
                    if event.tenant_id != tenant_id.to_string() {
                        tracing::warn!(tenant = %tenant_id, stream_id = %id,
                            "usage event names another tenant; charged to the stream's tenant");
                    }
                    events.push(event);
                }
                Err(e) => {
                    stats.malformed += 1;
                    self.state.metrics().events_malformed.inc();
                    tracing::error!(tenant = %tenant_id, stream_id = %id,
                        "usage event cannot be parsed and is skipped: {e}");
                }
            }
        }

        match write_batch(&self.state, tenant_id, &events).await {
            Ok(inserted) => {
                stats.ingested = inserted;
                stats.duplicates = events.len() - inserted;
                self.state.metrics().events_ingested.inc_by(inserted as u64);
                self.state
                    .metrics()
                    .events_duplicate
                    .inc_by(stats.duplicates as u64);
            }
            Err(e) => {
                stats.failed_batches = 1;
                self.replay_pending = true;
                self.state.metrics().ingest_failures.inc();
                tracing::warn!(tenant = %tenant_id, events = events.len(),
                    "usage batch not written, will retry: {e}");
                return stats;
            }
        }

        let stream = self.state.redis_keys().usage_stream(&tenant_id.to_string());
        let ids: Vec<&str> = entries.iter().map(|(id, _)| id.as_str()).collect();
        let mut redis = self.state.redis();
        let acked: redis::RedisResult<i64> = redis::cmd("XACK")
            .arg(&stream)
            .arg(CONSUMER_GROUP)
            .arg(&ids)
            .query_async(&mut redis)
            .await;
        if let Err(e) = acked {
            // Committed but not acknowledged: they come back and are recognised as ingested.
            self.replay_pending = true;
            tracing::warn!(tenant = %tenant_id, "could not acknowledge ingested usage: {e}");
        }
        stats
    }
}

/// One transaction: the request log rows that are new, their rollups and ledger debits.
/// Returns how many events were new.
async fn write_batch(
    state: &AppState,
    tenant_id: Uuid,
    events: &[UsageEvent],
) -> Result<usize, Error> {
    if events.is_empty() {
        return Ok(0);
    }
    let rows = request_rows(events);
    let mut tx = state.db().begin().await?;
    db::tenant::lock_balance(&mut *tx, tenant_id).await?;
    let inserted: HashSet<String> = db::request_log::insert_new(&mut *tx, tenant_id, &rows)
        .await?
        .into_iter()
        .collect();
    let new_events: Vec<&UsageEvent> = events
        .iter()
        .filter(|e| inserted.contains(&e.request_id))
        .collect();
    if !new_events.is_empty() {
        db::usage_daily::add(&mut *tx, tenant_id, &rollup_rows(&new_events)).await?;
        let request_ids: Vec<String> = new_events.iter().map(|e| e.request_id.clone()).collect();
        let costs: Vec<i64> = new_events.iter().map(|e| clamp(e.cost_micros)).collect();
        db::ledger_entry::append_usage_debits(&mut *tx, tenant_id, &request_ids, &costs).await?;
        let (key_ids, used_at) = last_uses(&new_events);
        db::api_key::record_uses(&mut *tx, tenant_id, &key_ids, &used_at).await?;
    }
    tx.commit().await?;
    Ok(new_events.len())
}

/// Each key's latest arrival in the batch (one row per key), for `api_key.last_used_at`.
fn last_uses(events: &[&UsageEvent]) -> (Vec<Uuid>, Vec<DateTime<Utc>>) {
    let mut latest: BTreeMap<Uuid, DateTime<Utc>> = BTreeMap::new();
    for event in events {
        let Ok(key_id) = Uuid::parse_str(&event.key_id) else {
            continue;
        };
        let at = arrived_at(event);
        latest
            .entry(key_id)
            .and_modify(|t| *t = (*t).max(at))
            .or_insert(at);
    }
    latest.into_iter().unzip()
}

fn clamp(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn arrived_at(event: &UsageEvent) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(clamp(event.ts_ms)).unwrap_or_else(Utc::now)
}

/// The model a request's usage is attributed to: the slug that served, else the primary.
fn attributed_model(event: &UsageEvent) -> &str {
    event.served_by.as_deref().unwrap_or(&event.requested_model)
}

fn request_rows(events: &[UsageEvent]) -> RequestRows {
    let mut rows = RequestRows::default();
    // A request id twice in one batch (a replayed settle that slipped past the data plane's
    // dedup window) would make the insert fail; the first occurrence wins.
    let mut seen = HashSet::new();
    for e in events.iter().filter(|e| seen.insert(e.request_id.as_str())) {
        rows.request_id.push(e.request_id.clone());
        rows.key_id.push(e.key_id.clone());
        rows.tag.push(e.tag.clone().unwrap_or_default());
        rows.ingress.push(e.ingress.clone());
        rows.requested_model.push(e.requested_model.clone());
        rows.served_by.push(e.served_by.clone().unwrap_or_default());
        rows.chain.push(e.chain.clone());
        rows.status.push(i32::from(e.status));
        rows.stream.push(e.stream);
        rows.latency_ms.push(clamp(e.latency_ms));
        rows.input_tokens.push(clamp(e.input_tokens));
        rows.cache_read_tokens.push(clamp(e.cache_read_tokens));
        rows.cache_write_tokens.push(clamp(e.cache_write_tokens));
        rows.output_tokens.push(clamp(e.output_tokens));
        rows.cost_micros.push(clamp(e.cost_micros));
        rows.usage_estimated.push(e.usage_estimated);
        rows.client_disconnected.push(e.client_disconnected);
        rows.ts.push(arrived_at(e));
    }
    rows
}

fn rollup_rows(events: &[&UsageEvent]) -> RollupRows {
    #[derive(Default)]
    struct Sums {
        requests: i64,
        fallbacks: i64,
        errors: i64,
        input: i64,
        cache_read: i64,
        cache_write: i64,
        output: i64,
        cost: i64,
    }
    let mut groups: BTreeMap<(NaiveDate, String, String), Sums> = BTreeMap::new();
    for e in events {
        let key = (
            arrived_at(e).date_naive(),
            e.tag.clone().unwrap_or_default(),
            attributed_model(e).to_owned(),
        );
        let s = groups.entry(key).or_default();
        s.requests += 1;
        s.fallbacks += i64::from(
            e.served_by
                .as_deref()
                .is_some_and(|served| served != e.requested_model),
        );
        s.errors += i64::from(e.status >= 400);
        s.input = s.input.saturating_add(clamp(e.input_tokens));
        s.cache_read = s.cache_read.saturating_add(clamp(e.cache_read_tokens));
        s.cache_write = s.cache_write.saturating_add(clamp(e.cache_write_tokens));
        s.output = s.output.saturating_add(clamp(e.output_tokens));
        s.cost = s.cost.saturating_add(clamp(e.cost_micros));
    }
    let mut rows = RollupRows::default();
    for ((day, tag, model), s) in groups {
        rows.day.push(day);
        rows.tag.push(tag);
        rows.model.push(model);
        rows.requests.push(s.requests);
        rows.fallbacks.push(s.fallbacks);
        rows.errors.push(s.errors);
        rows.input_tokens.push(s.input);
        rows.cache_read_tokens.push(s.cache_read);
        rows.cache_write_tokens.push(s.cache_write);
        rows.output_tokens.push(s.output);
        rows.cost_micros.push(s.cost);
    }
    rows
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::BulkString(b) => String::from_utf8(b.clone()).ok(),
        Value::SimpleString(s) => Some(s.clone()),
        _ => None,
    }
}

fn malformed_reply(what: &str) -> Error {
    Error::Internal(format!("unexpected {what} reply from Redis"))
}

/// `[id, [field, value, …] | nil]`.
fn parse_entry(v: &Value) -> Result<Entry, Error> {
    let Value::Array(parts) = v else {
        return Err(malformed_reply("stream entry"));
    };
    let id = parts
        .first()
        .and_then(text)
        .ok_or_else(|| malformed_reply("stream entry id"))?;
    let fields = match parts.get(1) {
        Some(Value::Array(kv)) => Some(
            kv.chunks_exact(2)
                .filter_map(|p| Some((text(&p[0])?, text(&p[1])?)))
                .collect(),
        ),
        _ => None,
    };
    Ok((id, fields))
}

fn parse_entries(v: &Value) -> Result<Vec<Entry>, Error> {
    match v {
        Value::Array(entries) => entries.iter().map(parse_entry).collect(),
        Value::Nil => Ok(Vec::new()),
        _ => Err(malformed_reply("stream entries")),
    }
}

/// `XREADGROUP`'s reply: nil, or `[[stream, entries], …]` (RESP2) / `{stream: entries}` (RESP3).
fn parse_read_reply(v: Value) -> Result<Vec<(String, Vec<Entry>)>, Error> {
    match v {
        Value::Nil => Ok(Vec::new()),
        Value::Array(streams) => streams
            .iter()
            .map(|s| match s {
                Value::Array(pair) if pair.len() == 2 => Ok((
                    text(&pair[0]).ok_or_else(|| malformed_reply("XREADGROUP stream"))?,
                    parse_entries(&pair[1])?,
                )),
                _ => Err(malformed_reply("XREADGROUP")),
            })
            .collect(),
        Value::Map(streams) => streams
            .iter()
            .map(|(k, v)| {
                Ok((
                    text(k).ok_or_else(|| malformed_reply("XREADGROUP stream"))?,
                    parse_entries(v)?,
                ))
            })
            .collect(),
        _ => Err(malformed_reply("XREADGROUP")),
    }
}

/// `XAUTOCLAIM`'s reply: `[next cursor, entries, deleted ids]`.
fn parse_autoclaim_reply(v: Value) -> Result<(String, Vec<Entry>, Vec<String>), Error> {
    let Value::Array(parts) = v else {
        return Err(malformed_reply("XAUTOCLAIM"));
    };
    let next = parts
        .first()
        .and_then(text)
        .ok_or_else(|| malformed_reply("XAUTOCLAIM cursor"))?;
    let entries = parts.get(1).map_or(Ok(Vec::new()), parse_entries)?;
    let deleted = match parts.get(2) {
        Some(Value::Array(ids)) => ids.iter().filter_map(text).collect(),
        _ => Vec::new(),
    };
    // Claimed entries that were trimmed meanwhile come back as nil; keep only real ones.
    let entries = entries.into_iter().filter(|(_, f)| f.is_some()).collect();
    Ok((next, entries, deleted))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(request_id: &str, served_by: Option<&str>, status: u16, cost: u64) -> UsageEvent {
        UsageEvent {
            request_id: request_id.into(),
            tenant_id: "t".into(),
            key_id: "k".into(),
            tag: Some("summarize".into()),
            ingress: "openai".into(),
            requested_model: "anthropic/claude-opus-4.7".into(),
            chain: String::new(),
            served_by: served_by.map(str::to_owned),
            status,
            stream: false,
            latency_ms: 5,
            input_tokens: 10,
            cache_read_tokens: 0,
            cache_write_tokens: 0,
            output_tokens: 20,
            cost_micros: cost,
            usage_estimated: false,
            client_disconnected: false,
            ts_ms: 1_767_225_600_000, // 2026-01-01T00:00:00Z
        }
    }

    #[test]
    fn rollups_count_fallbacks_and_errors_per_model_that_served() {
        let direct = event("a", Some("anthropic/claude-opus-4.7"), 200, 100);
        let fallback = event("b", Some("openai/gpt-5.4"), 200, 40);
        let failed = event("c", None, 503, 0);

        let rows = rollup_rows(&[&direct, &fallback, &failed]);

        assert_eq!(rows.model, ["anthropic/claude-opus-4.7", "openai/gpt-5.4"]);
        assert_eq!(rows.requests, [2, 1]);
        assert_eq!(rows.fallbacks, [0, 1]);
        assert_eq!(rows.errors, [1, 0]);
        assert_eq!(rows.cost_micros, [100, 40]);
        assert_eq!(rows.day[0].to_string(), "2026-01-01");
    }

    #[test]
    fn a_request_id_twice_in_a_batch_is_written_once() {
        let rows = request_rows(&[event("a", None, 503, 0), event("a", None, 503, 0)]);
        assert_eq!(rows.request_id, ["a"]);
    }

    #[test]
    fn read_replies_keep_trimmed_entries_as_none() {
        let reply = Value::Array(vec![Value::Array(vec![
            Value::BulkString(b"s".to_vec()),
            Value::Array(vec![
                Value::Array(vec![
                    Value::BulkString(b"1-0".to_vec()),
                    Value::Array(vec![
                        Value::BulkString(b"event".to_vec()),
                        Value::BulkString(b"{}".to_vec()),
                    ]),
                ]),
                Value::Array(vec![Value::BulkString(b"2-0".to_vec()), Value::Nil]),
            ]),
        ])]);

        let parsed = parse_read_reply(reply).unwrap();

        assert_eq!(parsed[0].0, "s");
        assert_eq!(
            parsed[0].1,
            vec![
                (
                    "1-0".to_owned(),
                    Some(vec![("event".to_owned(), "{}".to_owned())])
                ),
                ("2-0".to_owned(), None),
            ]
        );
    }
}
