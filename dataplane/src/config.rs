//! Data plane configuration from the environment, validated at start-up; a bad value
//! names its variable.

use crate::providers::{default_base_url, ProviderConfig};
use aig_common::catalog::Catalog;
use aig_common::provider::ProviderId;
use aig_common::redis_keys::RedisKeys;
use secrecy::SecretString;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;
use url::Url;

/// Default request body limit (SPEC §4.4).
pub const DEFAULT_MAX_BODY_BYTES: usize = 10 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
#[error("{var}: {why}")]
pub struct ConfigError {
    pub var: String,
    pub why: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Human,
    Json,
}

/// Everything the data plane reads from its environment.
#[derive(Clone, Debug)]
pub struct Config {
    /// `AIG_DATAPLANE_ADDR`.
    pub addr: SocketAddr,
    /// `REDIS_URL`: one server, or comma-separated seed nodes of a Redis Cluster.
    pub redis_urls: Vec<String>,
    /// `AIG_REDIS_CLUSTER`: treat a single `REDIS_URL` as a cluster seed node.
    pub redis_cluster: bool,
    /// `AIG_REDIS_PREFIX`: namespace of every Redis key.
    pub redis_prefix: String,
    /// `AIG_CONTROLPLANE_URL`: where management calls are forwarded.
    pub controlplane_url: Url,
    /// `AIG_PROVIDER_<NAME>_BASE_URL` / `_API_KEY`, for every provider.
    pub providers: HashMap<ProviderId, ProviderConfig>,
    /// `AIG_HEALTH_TICK_MS`.
    pub health_tick: Duration,
    /// `AIG_HEALTH_MIN_ATTEMPTS`: attempts a window needs before its failure ratio counts.
    pub health_min_attempts: u64,
    /// `AIG_HEALTH_FAILURE_RATIO`: the failure percentage (1–100) that marks a provider or
    /// model degraded, given enough attempts.
    pub health_failure_ratio: u64,
    /// `AIG_HEALTH_CONSECUTIVE_FAILURES`: timeouts/5xx in a row that mark it degraded.
    pub health_consecutive_failures: u64,
    /// `AIG_MAX_BODY_BYTES`.
    pub max_body_bytes: usize,
    /// `AIG_LOG_FORMAT`: `human` (default) or `json`.
    pub log_format: LogFormat,
    /// `AIG_CATALOG_PATH`, or the catalog compiled in.
    pub catalog: Catalog,
    /// `AIG_SPOOL_DIR`: where settlements that could not reach Redis wait to be replayed.
    pub spool_dir: std::path::PathBuf,
}

fn err(var: &str, why: impl Into<String>) -> ConfigError {
    ConfigError {
        var: var.to_owned(),
        why: why.into(),
    }
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads configuration through `get` (the environment, or a map in tests).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let var = |name: &str| get(name).filter(|v| !v.trim().is_empty());
        let addr = |name: &str, default: &str| -> Result<SocketAddr, ConfigError> {
            let raw = var(name).unwrap_or_else(|| default.to_owned());
            raw.parse()
                .map_err(|_| err(name, format!("{raw:?} is not a host:port address")))
        };
        let url = |name: &str, default: &str| -> Result<Url, ConfigError> {
            let raw = var(name).unwrap_or_else(|| default.to_owned());
            let parsed = Url::parse(&raw).map_err(|e| err(name, format!("{raw:?}: {e}")))?;
            if !matches!(parsed.scheme(), "http" | "https") {
                return Err(err(name, format!("{raw:?} must be an http or https URL")));
            }
            Ok(parsed)
        };

        let redis_urls = aig_common::redis_conn::parse_urls(
            &var("REDIS_URL").unwrap_or_else(|| aig_common::redis_conn::DEFAULT_URL.into()),
        )
        .map_err(|e| err("REDIS_URL", e))?;
        let redis_cluster =
            aig_common::redis_conn::parse_cluster_flag(var("AIG_REDIS_CLUSTER").as_deref())
                .map_err(|e| err("AIG_REDIS_CLUSTER", e))?;

        let mut providers = HashMap::new();
        for id in ProviderId::ALL {
            let name = id.env_name();
            let base_var = format!("AIG_PROVIDER_{name}_BASE_URL");
            let key_var = format!("AIG_PROVIDER_{name}_API_KEY");
            providers.insert(
                id,
                ProviderConfig {
                    base_url: url(&base_var, default_base_url(id))?,
                    api_key: var(&key_var).map(SecretString::from),
                },
            );
        }

        let health_tick = match var("AIG_HEALTH_TICK_MS") {
            None => Duration::from_millis(30_000),
            Some(raw) => match raw.trim().parse::<u64>() {
                Ok(ms) if ms >= 100 => Duration::from_millis(ms),
                _ => {
                    return Err(err(
                        "AIG_HEALTH_TICK_MS",
                        format!("{raw:?} is not a number of milliseconds ≥ 100"),
                    ))
                }
            },
        };
        let count = |name: &str, default: u64, range: std::ops::RangeInclusive<u64>| {
            let Some(raw) = var(name) else {
                return Ok(default);
            };
            raw.trim()
                .parse::<u64>()
                .ok()
                .filter(|n| range.contains(n))
                .ok_or_else(|| {
                    let (lo, hi) = (range.start(), range.end());
                    err(
                        name,
                        format!("{raw:?} is not a whole number from {lo} to {hi}"),
                    )
                })
        };
        let health_min_attempts = count("AIG_HEALTH_MIN_ATTEMPTS", 20, 1..=1_000_000)?;
        let health_failure_ratio = count("AIG_HEALTH_FAILURE_RATIO", 50, 1..=100)?;
        let health_consecutive_failures =
            count("AIG_HEALTH_CONSECUTIVE_FAILURES", 5, 1..=1_000_000)?;
        let max_body_bytes = match var("AIG_MAX_BODY_BYTES") {
            None => DEFAULT_MAX_BODY_BYTES,
            Some(raw) => raw
                .trim()
                .parse::<usize>()
                .ok()
                .filter(|n| *n >= 1024)
                .ok_or_else(|| {
                    err(
                        "AIG_MAX_BODY_BYTES",
                        format!("{raw:?} is not a byte count ≥ 1024"),
                    )
                })?,
        };
        let log_format = match var("AIG_LOG_FORMAT").as_deref() {
            None | Some("human") => LogFormat::Human,
            Some("json") => LogFormat::Json,
            Some(other) => {
                return Err(err(
                    "AIG_LOG_FORMAT",
                    format!("{other:?}: use human or json"),
                ))
            }
        };
        let catalog = match var("AIG_CATALOG_PATH") {
            None => Catalog::builtin()
                .map_err(|e| err("AIG_CATALOG_PATH", format!("built-in catalog: {e}")))?,
            Some(path) => {
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| err("AIG_CATALOG_PATH", format!("{path}: {e}")))?;
                Catalog::from_toml(&text)
                    .map_err(|e| err("AIG_CATALOG_PATH", format!("{path}: {e}")))?
            }
        };

        Ok(Config {
            addr: addr("AIG_DATAPLANE_ADDR", "127.0.0.1:8080")?,
            redis_urls,
            redis_cluster,
            redis_prefix: var("AIG_REDIS_PREFIX")
                .unwrap_or_else(|| RedisKeys::DEFAULT_PREFIX.into()),
            controlplane_url: url("AIG_CONTROLPLANE_URL", "http://127.0.0.1:8081")?,
            providers,
            health_tick,
            health_min_attempts,
            health_failure_ratio,
            health_consecutive_failures,
            max_body_bytes,
            log_format,
            catalog,
            spool_dir: var("AIG_SPOOL_DIR")
                .map(std::path::PathBuf::from)
                .unwrap_or_else(|| std::env::temp_dir().join("aig-spool")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_follow_the_spec() {
        let c = from(&[]).unwrap();
        assert_eq!(c.addr.to_string(), "127.0.0.1:8080");
        assert_eq!(c.health_tick, Duration::from_millis(30_000));
        assert_eq!(c.health_min_attempts, 20);
        assert_eq!(c.health_failure_ratio, 50);
        assert_eq!(c.health_consecutive_failures, 5);
        assert_eq!(
            c.providers[&ProviderId::Anthropic].base_url.as_str(),
            "https://api.anthropic.com/"
        );
        assert!(c.providers[&ProviderId::Openai].api_key.is_none());
    }

    #[test]
    fn bad_values_name_their_variable() {
        for (var, value) in [
            ("AIG_PROVIDER_ANTHROPIC_BASE_URL", "not a url"),
            ("AIG_PROVIDER_OPENAI_BASE_URL", "ftp://x"),
            ("AIG_HEALTH_TICK_MS", "soon"),
            ("AIG_DATAPLANE_ADDR", "localhost"),
            ("REDIS_URL", "http://x"),
            ("AIG_LOG_FORMAT", "xml"),
            ("AIG_MAX_BODY_BYTES", "big"),
            ("AIG_HEALTH_MIN_ATTEMPTS", "0"),
            ("AIG_HEALTH_FAILURE_RATIO", "101"),
            ("AIG_HEALTH_FAILURE_RATIO", "half"),
            ("AIG_HEALTH_CONSECUTIVE_FAILURES", "-1"),
        ] {
            let e = from(&[(var, value)]).unwrap_err();
            assert_eq!(e.var, var, "{e}");
        }
    }
}
