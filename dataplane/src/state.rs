//! The data plane's shared state: configuration, provider registry, HTTP client, Redis.

use crate::auth::KeyCache;
use crate::config::Config;
use crate::health::Health;
use crate::metrics::Metrics;
use crate::providers::Registry;
use crate::redis_conn::{self, Breaker, RedisConn};
use crate::spend::{Spend, Spool};
use aig_common::catalog::Catalog;
use aig_common::redis_keys::RedisKeys;
use std::sync::{Arc, Weak};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("REDIS_URL: cannot connect to Redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("cannot build the HTTP client: {0}")]
    Http(#[from] reqwest::Error),
    #[error("AIG_SPOOL_DIR: {0}")]
    Spool(std::io::Error),
}

/// Cheap to clone; everything lives behind one `Arc`.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

struct Inner {
    /// Validated start-up configuration.
    config: Config,
    /// Endpoint, credential and adapter of every provider.
    registry: Registry,
    /// Pooled client for every upstream call.
    http: reqwest::Client,
    /// Multiplexed, auto-reconnecting Redis connection (single server or cluster).
    redis: RedisConn,
    /// Skips Redis for a moment after a failed step (auth and spend share it).
    redis_breaker: Breaker,
    /// Builds every Redis key name under the configured prefix.
    redis_keys: RedisKeys,
    /// Recent API-key lookups.
    key_cache: KeyCache,
    /// Prometheus registry.
    metrics: Metrics,
    /// Budget and balance reservation, settlement and the outage spool.
    spend: Spend,
    /// Provider health: attempt counters, the local snapshot of degraded marks, leadership.
    health: Health,
}

/// A handle that does not keep the state alive, for background tasks.
#[derive(Clone)]
pub struct WeakState(Weak<Inner>);

impl WeakState {
    pub fn upgrade(&self) -> Option<AppState> {
        self.0.upgrade().map(AppState)
    }
}

impl AppState {
    pub async fn new(config: Config) -> Result<Self, StartError> {
        let redis = redis_conn::connect(&config.redis_urls, config.redis_cluster).await?;
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .pool_idle_timeout(Duration::from_secs(90))
            .user_agent(concat!("aigateway/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let namespace = Spool::namespace(&config.redis_urls, &config.redis_prefix);
        let spool = Spool::open(config.spool_dir.clone(), &namespace).map_err(StartError::Spool)?;
        let spend = Spend::new(spool);
        let health = Health::new(&config);
        let state = Self(Arc::new(Inner {
            registry: Registry::new(&config.providers),
            redis_keys: RedisKeys::new(config.redis_prefix.clone()),
            config,
            http,
            redis,
            redis_breaker: Breaker::default(),
            key_cache: KeyCache::default(),
            metrics: Metrics::new(),
            spend,
            health,
        }));
        crate::spend::spawn_replayer(&state);
        crate::health::spawn(&state);
        Ok(state)
    }

    pub fn config(&self) -> &Config {
        &self.0.config
    }

    pub fn catalog(&self) -> &Catalog {
        &self.0.config.catalog
    }

    pub fn registry(&self) -> &Registry {
        &self.0.registry
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.0.http
    }

    /// A handle on the shared connection (clones are cheap and multiplex).
    pub fn redis(&self) -> RedisConn {
        self.0.redis.clone()
    }

    pub fn redis_breaker(&self) -> &Breaker {
        &self.0.redis_breaker
    }

    pub fn redis_keys(&self) -> &RedisKeys {
        &self.0.redis_keys
    }

    pub fn key_cache(&self) -> &KeyCache {
        &self.0.key_cache
    }

    pub fn metrics(&self) -> &Metrics {
        &self.0.metrics
    }

    pub fn spend(&self) -> &Spend {
        &self.0.spend
    }

    pub fn health(&self) -> &Health {
        &self.0.health
    }

    pub fn downgrade(&self) -> WeakState {
        WeakState(Arc::downgrade(&self.0))
    }
}
