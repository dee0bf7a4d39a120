//! Each provider's health history in Redis for the admin dashboard: state changes and
//! per-tick counts in a sorted set scored by time, trimmed to the last 24 hours.

use aig_common::health::{HealthEvent, HISTORY_RETENTION_MS};
use aig_common::provider::ProviderId;
use aig_common::redis_keys::RedisKeys;
use redis::aio::ConnectionLike;

/// Most events kept per provider, whatever the tick (24 h of 30-second ticks is 2,880).
pub const MAX_EVENTS: u64 = 20_000;
/// TTL of a history key: an hour past its retention, refreshed on every write.
pub(super) const KEY_TTL_MS: u64 = HISTORY_RETENTION_MS + 60 * 60 * 1000;

/// The JSON member of an event.
pub(super) fn member(event: &HealthEvent) -> String {
    // Serializing a plain enum of strings and integers cannot fail.
    serde_json::to_string(event).unwrap_or_default()
}

/// The oldest score kept at `now`.
pub(super) fn cutoff(now: u64) -> u64 {
    now.saturating_sub(HISTORY_RETENTION_MS)
}

/// Adds the commands that append `event` to the provider's history and trim it.
pub(super) fn append(
    pipe: &mut redis::Pipeline,
    keys: &RedisKeys,
    provider: &str,
    event: &HealthEvent,
    now: u64,
) {
    let key = keys.health_history(provider);
    pipe.cmd("ZADD")
        .arg(&key)
        .arg(event.at_ms())
        .arg(member(event))
        .ignore();
    trim(pipe, &key, now);
}

/// Drops events older than 24 h and all but the newest [`MAX_EVENTS`], and refreshes the TTL.
fn trim(pipe: &mut redis::Pipeline, key: &str, now: u64) {
    pipe.cmd("ZREMRANGEBYSCORE")
        .arg(key)
        .arg("-inf")
        .arg(format!("({}", cutoff(now)))
        .ignore();
    pipe.cmd("ZREMRANGEBYRANK")
        .arg(key)
        .arg(0)
        .arg(-(MAX_EVENTS as i64) - 1)
        .ignore();
    pipe.cmd("PEXPIRE").arg(key).arg(KEY_TTL_MS).ignore();
}

/// The provider's health events at or after `since_ms` (epoch ms), oldest first. Entries
/// that do not parse (written by a newer version) are skipped.
pub async fn read(
    redis: &mut impl ConnectionLike,
    keys: &RedisKeys,
    provider: ProviderId,
    since_ms: u64,
) -> redis::RedisResult<Vec<HealthEvent>> {
    let members: Vec<String> = redis::cmd("ZRANGEBYSCORE")
        .arg(keys.health_history(provider.slug()))
        .arg(since_ms)
        .arg("+inf")
        .query_async(redis)
        .await?;
    Ok(members
        .iter()
        .filter_map(|m| serde_json::from_str(m).ok())
        .collect())
}
