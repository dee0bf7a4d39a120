//! The control plane's shared state: configuration, the Postgres pool, Redis, metrics and the
//! Stripe client.

use crate::config::Config;
use crate::error::Error;
use crate::metrics::Metrics;
use aig_common::redis_conn::RedisConn;
use aig_common::redis_keys::RedisKeys;
use secrecy::{ExposeSecret, SecretString};
use sqlx::postgres::{PgPool, PgPoolOptions};
use std::sync::Arc;
use std::time::Duration;

/// How long a request waits for a Postgres connection before answering 503.
const PG_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// Cheap to clone; everything lives behind one `Arc`.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

struct Inner {
    /// Validated start-up configuration.
    config: Config,
    /// The source of truth: tenants, keys, budgets, ledger, request log, rollups.
    db: PgPool,
    /// Multiplexed connection to the Redis (one server or a Redis Cluster) the data plane
    /// reads.
    redis: RedisConn,
    /// Builds every Redis key name under the configured prefix.
    redis_keys: RedisKeys,
    /// Prometheus registry.
    metrics: Metrics,
    /// Signs session JWTs and CSRF tokens (`AIG_JWT_SECRET`, else random per process).
    session_key: SecretString,
    /// Creates Checkout Sessions at `STRIPE_API_BASE`; `None` without `STRIPE_SECRET_KEY`.
    stripe: Option<::stripe::Client>,
}

impl AppState {
    /// Connects to Postgres and Redis as configured.
    pub async fn connect(config: Config) -> Result<Self, Error> {
        let db = PgPoolOptions::new()
            .max_connections(10)
            .acquire_timeout(PG_ACQUIRE_TIMEOUT)
            .connect_with(config.pg_options()?)
            .await
            .map_err(|source| Error::Connect {
                target: "DATABASE_URL".into(),
                source,
            })?;
        let redis = connect_redis(&config).await?;
        Ok(Self::from_parts(config, db, redis))
    }

    /// Builds the state around existing connections (tests hand in their own database).
    /// Without `AIG_JWT_SECRET` sessions are signed with a random key of this process (`serve`
    /// refuses to start that way outside `--dev`).
    pub fn from_parts(config: Config, db: PgPool, redis: RedisConn) -> Self {
        let session_key = match config.jwt_secret(false) {
            Ok(secret) => secret,
            Err(_) => config
                .jwt_secret(true)
                .unwrap_or_else(|_| SecretString::from("")),
        };
        let stripe = stripe_client(&config);
        Self(Arc::new(Inner {
            session_key,
            stripe,
            redis_keys: RedisKeys::new(config.redis_prefix.clone()),
            config,
            db,
            redis,
            metrics: Metrics::new(),
        }))
    }

    pub fn config(&self) -> &Config {
        &self.0.config
    }

    pub fn db(&self) -> &PgPool {
        &self.0.db
    }

    /// A handle on the shared connection (clones are cheap and multiplex).
    pub fn redis(&self) -> RedisConn {
        self.0.redis.clone()
    }

    pub fn redis_keys(&self) -> &RedisKeys {
        &self.0.redis_keys
    }

    pub fn metrics(&self) -> &Metrics {
        &self.0.metrics
    }

    /// The Stripe client, when `STRIPE_SECRET_KEY` is set.
    pub fn stripe(&self) -> Option<&::stripe::Client> {
        self.0.stripe.as_ref()
    }

    /// The key sessions and CSRF tokens are signed with.
    pub fn session_key(&self) -> &[u8] {
        self.0.session_key.expose_secret().as_bytes()
    }
}

/// One Stripe client for the process, pointed at `STRIPE_API_BASE`. `Client::from_url` panics
/// on a URL it cannot parse: config validated it, and it is parsed again here so that can
/// never happen (an unparsable base leaves billing off).
fn stripe_client(config: &Config) -> Option<::stripe::Client> {
    let key = config.stripe_secret_key.as_ref()?;
    url::Url::parse(&config.stripe_api_base).ok()?;
    Some(::stripe::Client::from_url(
        config.stripe_api_base.as_str(),
        key.expose_secret(),
    ))
}

/// The configured Redis — one server, or a Redis Cluster through its seed nodes — with
/// bounded connect and command times.
pub async fn connect_redis(config: &Config) -> Result<RedisConn, Error> {
    let urls: Vec<String> = config
        .redis_urls
        .iter()
        .map(|u| u.expose_secret().to_owned())
        .collect();
    aig_common::redis_conn::connect(&urls, config.redis_cluster)
        .await
        .map_err(Error::RedisConnect)
}
