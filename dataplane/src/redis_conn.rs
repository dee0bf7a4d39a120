//! One Redis handle for either deployment: a single server (auto-reconnecting connection
//! manager) or a Redis Cluster (every multi-key step keeps to one tenant's hash slot); and
//! the breaker that skips Redis for a moment after it failed.

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisFuture, RedisResult, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How long connecting, and each command, may take before it fails (never a hang).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);

/// Cheap to clone; clones share the underlying multiplexed connection(s).
#[derive(Clone)]
pub enum RedisConn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

/// Connects to one server, or — with `cluster` or several URLs — to a Redis Cluster
/// through the given seed nodes.
pub async fn connect(urls: &[String], cluster: bool) -> RedisResult<RedisConn> {
    if cluster || urls.len() > 1 {
        let client = redis::cluster::ClusterClientBuilder::new(urls.to_vec())
            .connection_timeout(CONNECT_TIMEOUT)
            .response_timeout(RESPONSE_TIMEOUT)
            .build()?;
        return Ok(RedisConn::Cluster(client.get_async_connection().await?));
    }
    let url = urls
        .first()
        .map_or("redis://127.0.0.1:6379", String::as_str);
    // One connection attempt per reconnect, no back-off: the default backs off from one
    // second to a minute between attempts, and every command waits on the pending attempt,
    // so a Redis that was down for a few seconds stayed unused for minutes after it came
    // back (and start-up against a dead Redis took minutes to fail). Without retries a
    // command during an outage fails at once and the next one tries to connect again.
    let config = ConnectionManagerConfig::new()
        .set_number_of_retries(0)
        .set_connection_timeout(CONNECT_TIMEOUT)
        .set_response_timeout(RESPONSE_TIMEOUT);
    let manager = redis::Client::open(url)?
        .get_connection_manager_with_config(config)
        .await?;
    Ok(RedisConn::Single(manager))
}

impl ConnectionLike for RedisConn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            RedisConn::Single(c) => c.req_packed_command(cmd),
            RedisConn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            RedisConn::Single(c) => c.req_packed_commands(cmd, offset, count),
            RedisConn::Cluster(c) => c.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            RedisConn::Single(c) => c.get_db(),
            RedisConn::Cluster(c) => c.get_db(),
        }
    }
}

/// After a failed Redis step, how long callers skip Redis and decide locally.
const BREAKER_OPEN_FOR: Duration = Duration::from_secs(1);

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Skips Redis for a second after a failure, so a dead or hung Redis costs one timeout per
/// second rather than one per request. When the second is up, a single caller probes
/// Redis while the others keep skipping it until the probe succeeds or fails.
#[derive(Debug, Default)]
pub struct Breaker {
    /// Unix ms until which Redis is skipped; 0 when closed.
    open_until: AtomicU64,
}

impl Breaker {
    /// Whether this caller may use Redis now (the breaker is closed, or this caller is the
    /// probe). A caller that gets `true` reports back with [`Self::success`] or
    /// [`Self::failure`].
    pub fn allow(&self) -> bool {
        let until = self.open_until.load(Ordering::Acquire);
        if until == 0 {
            return true;
        }
        let now = now_ms();
        now >= until
            && self
                .open_until
                .compare_exchange(
                    until,
                    now + open_for_ms(),
                    Ordering::AcqRel,
                    Ordering::Acquire,
                )
                .is_ok()
    }

    pub fn success(&self) {
        self.open_until.store(0, Ordering::Release);
    }

    pub fn failure(&self) {
        self.open_until
            .store(now_ms() + open_for_ms(), Ordering::Release);
    }
}

fn open_for_ms() -> u64 {
    u64::try_from(BREAKER_OPEN_FOR.as_millis()).unwrap_or(1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_open_breaker_lets_one_probe_through_once_its_time_is_up() {
        let breaker = Breaker::default();
        assert!(breaker.allow() && breaker.allow(), "closed: everyone");

        breaker.failure();
        assert!(!breaker.allow(), "open: nobody");

        breaker.open_until.store(now_ms() - 1, Ordering::Release);
        assert!(breaker.allow(), "expired: one probe");
        assert!(!breaker.allow(), "the others wait for the probe");

        breaker.success();
        assert!(breaker.allow() && breaker.allow(), "closed again");
    }
}
