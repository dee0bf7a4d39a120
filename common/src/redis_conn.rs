//! One Redis handle for both planes and either deployment: a single server (an
//! auto-reconnecting connection manager) or a Redis Cluster, chosen the same way by both:
//! several comma-separated `REDIS_URL`s, or `AIG_REDIS_CLUSTER=true`. Callers keep every
//! multi-key step (pipeline, transaction, script) within one hash slot.

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, FromRedisValue, Pipeline, RedisFuture, RedisResult, Value};
use std::time::Duration;

/// How long connecting, and each command, may take before it fails (never a hang).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);

/// `REDIS_URL` when unset.
pub const DEFAULT_URL: &str = "redis://127.0.0.1:6379";

/// Cheap to clone; clones share the underlying multiplexed connection(s).
#[derive(Clone)]
pub enum RedisConn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl RedisConn {
    /// Whether keys of different hash slots may live on different nodes (so one command,
    /// pipeline or script must not name keys of more than one slot).
    pub fn is_cluster(&self) -> bool {
        matches!(self, RedisConn::Cluster(_))
    }

    /// Runs commands whose keys (or channels) may hash to different slots, each on its
    /// own: one pipeline must keep to one slot on a Redis Cluster. They are sent together,
    /// so a multiplexed connection still pipelines them. Replies in order; the first error
    /// fails the whole (the other commands may have run).
    pub async fn query_each<T: FromRedisValue>(&self, cmds: &[Cmd]) -> RedisResult<Vec<T>> {
        futures_util::future::try_join_all(cmds.iter().map(|cmd| {
            let mut conn = self.clone();
            async move { cmd.query_async::<T>(&mut conn).await }
        }))
        .await
    }
}

/// `REDIS_URL`: one URL, or comma-separated seed nodes of a Redis Cluster. The error does
/// not repeat the URL (it may hold a password).
pub fn parse_urls(raw: &str) -> Result<Vec<String>, String> {
    let mut urls = Vec::new();
    for (i, url) in raw.split(',').map(str::trim).enumerate() {
        let which = if raw.contains(',') {
            format!("URL {} of the list: ", i + 1)
        } else {
            String::new()
        };
        let parsed = url::Url::parse(url).map_err(|e| format!("{which}not a URL: {e}"))?;
        if !matches!(parsed.scheme(), "redis" | "rediss" | "unix") {
            return Err(format!("{which}must be a redis:// or rediss:// URL"));
        }
        urls.push(url.to_owned());
    }
    Ok(urls)
}

/// `AIG_REDIS_CLUSTER`: treat a single `REDIS_URL` as a cluster seed node.
pub fn parse_cluster_flag(raw: Option<&str>) -> Result<bool, String> {
    match raw.map(str::trim) {
        None | Some("" | "false" | "0") => Ok(false),
        Some("true" | "1") => Ok(true),
        Some(other) => Err(format!("{other:?}: use true or false")),
    }
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
    let url = urls.first().map_or(DEFAULT_URL, String::as_str);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn several_urls_parse_one_by_one_and_a_bad_one_is_named_by_position() {
        assert_eq!(
            parse_urls("redis://a:6379, redis://b:6379").unwrap(),
            vec!["redis://a:6379", "redis://b:6379"]
        );
        let bad = parse_urls("redis://a:6379,http://b").unwrap_err();
        assert!(bad.contains("URL 2"), "{bad}");
        assert!(!bad.contains("http://b"), "{bad}");
    }

    #[test]
    fn the_cluster_flag_takes_true_or_false_only() {
        assert_eq!(parse_cluster_flag(None), Ok(false));
        assert_eq!(parse_cluster_flag(Some("true")), Ok(true));
        assert_eq!(parse_cluster_flag(Some("0")), Ok(false));
        assert!(parse_cluster_flag(Some("yes")).is_err());
    }
}
