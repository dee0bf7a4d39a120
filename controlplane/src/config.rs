//! Control plane configuration from the environment (SPEC §2), validated at start-up; a bad
//! value names its variable.

use aig_common::redis_keys::RedisKeys;
use secrecy::{ExposeSecret, SecretString};
use sqlx::postgres::PgConnectOptions;
use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

/// Shortest `AIG_JWT_SECRET` accepted: sessions are only as strong as their signing key.
const MIN_JWT_SECRET_LEN: usize = 32;
/// Largest `AIG_TRIAL_CREDIT_CENTS`: USD 100,000, far beyond any sensible trial.
const MAX_TRIAL_CREDIT_CENTS: u64 = 10_000_000;
/// Largest top-up bound (`AIG_TOPUP_MIN_CENTS`, `AIG_TOPUP_MAX_CENTS`): USD 100,000.
const MAX_TOPUP_CENTS: u64 = 10_000_000;
/// Largest `AIG_TOPUP_FEE_PERCENT`, in basis points: 50%.
const MAX_TOPUP_FEE_BP: u32 = 5_000;
/// The data plane's default listen address, shown in snippets unless configured.
const DEFAULT_GATEWAY_URL: &str = "http://127.0.0.1:8080";

#[derive(Debug, thiserror::Error)]
#[error("{var}: {why}")]
pub struct ConfigError {
    pub var: String,
    pub why: String,
}

fn err(var: &str, why: impl Into<String>) -> ConfigError {
    ConfigError {
        var: var.to_owned(),
        why: why.into(),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Human,
    Json,
}

/// Everything the control plane reads from its environment.
#[derive(Clone, Debug)]
pub struct Config {
    /// `DATABASE_URL` (may hold a password).
    pub database_url: SecretString,
    /// `REDIS_URL`: one server, or comma-separated seed nodes of a Redis Cluster (each may
    /// hold a password).
    pub redis_urls: Vec<SecretString>,
    /// `AIG_REDIS_CLUSTER`: treat a single `REDIS_URL` as a cluster seed node.
    pub redis_cluster: bool,
    /// `AIG_REDIS_PREFIX`: namespace of every Redis key; must match the data plane's.
    pub redis_prefix: String,
    /// `AIG_CONTROLPLANE_ADDR`.
    pub addr: SocketAddr,
    /// `AIG_TRIAL_CREDIT_CENTS`: credit granted to a new tenant.
    pub trial_credit_cents: u64,
    /// `AIG_JWT_SECRET`: signs dashboard sessions; see [`Config::jwt_secret`].
    jwt_secret: Option<SecretString>,
    /// `AIG_LOG_FORMAT`: `human` (default) or `json`.
    pub log_format: LogFormat,
    /// `AIG_INGEST_CONSUMER`: this instance's consumer name in the usage streams' consumer
    /// group. Stable across restarts (default: the host name) so a restarted instance picks
    /// up what it had read but not yet committed.
    pub ingest_consumer: String,
    /// `AIG_INGEST_CLAIM_IDLE_MS`: how long another consumer's unacknowledged usage events
    /// wait before this instance claims them (that consumer is presumed dead).
    pub ingest_claim_idle: Duration,
    /// `STRIPE_WEBHOOK_SECRET` (`whsec_…`): verifies `POST /webhooks/stripe`; unset, billing
    /// is off and the webhook answers 503 `billing_disabled`.
    pub stripe_webhook_secret: Option<SecretString>,
    /// `STRIPE_SECRET_KEY`: creates Checkout Sessions; unset, the top-up form is off.
    pub stripe_secret_key: Option<SecretString>,
    /// `STRIPE_API_BASE`: Stripe's API, or a local fake in dev and tests; an http(s) origin
    /// (no path), no trailing slash.
    pub stripe_api_base: String,
    /// `AIG_TOPUP_MIN_CENTS` / `AIG_TOPUP_MAX_CENTS`: bounds of one top-up.
    pub topup_min_cents: u64,
    pub topup_max_cents: u64,
    /// `AIG_TOPUP_FEE_PERCENT` in basis points (`"2.5"` → 250): the platform fee added on top
    /// of a top-up at checkout; the tenant is credited the amount they typed.
    pub topup_fee_bp: u32,
    /// `AIG_PUBLIC_URL`: where browsers reach this control plane (Stripe's success and cancel
    /// URLs); unset, the request's Host header is used. No trailing slash.
    pub public_url: Option<String>,
    /// `AIG_GATEWAY_PUBLIC_URL`: where tenants reach the data plane, as the dashboard's
    /// copy-paste snippets show it. No trailing slash.
    pub gateway_url: String,
    /// `AIG_TRUSTED_PROXY_HOPS`: how many proxies we run in front of the control plane (0:
    /// none, the socket peer is the client; see `routes::session::client_ip`).
    pub trusted_proxy_hops: usize,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads configuration through `get` (the environment, or a map in tests).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let var = |name: &str| get(name).filter(|v| !v.trim().is_empty());

        let database_url = var("DATABASE_URL").unwrap_or_else(|| "postgres://localhost/aig".into());
        if !database_url.starts_with("postgres://") && !database_url.starts_with("postgresql://") {
            return Err(err(
                "DATABASE_URL",
                "must be a postgres:// or postgresql:// URL",
            ));
        }
        PgConnectOptions::from_str(&database_url)
            .map_err(|e| err("DATABASE_URL", format!("not a usable Postgres URL: {e}")))?;

        let redis_urls = aig_common::redis_conn::parse_urls(
            &var("REDIS_URL").unwrap_or_else(|| aig_common::redis_conn::DEFAULT_URL.into()),
        )
        .map_err(|e| err("REDIS_URL", e))?;
        let redis_cluster =
            aig_common::redis_conn::parse_cluster_flag(var("AIG_REDIS_CLUSTER").as_deref())
                .map_err(|e| err("AIG_REDIS_CLUSTER", e))?;

        let redis_prefix = get("AIG_REDIS_PREFIX")
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| RedisKeys::DEFAULT_PREFIX.into());
        if redis_prefix.contains(['{', '}']) || redis_prefix.chars().any(char::is_whitespace) {
            return Err(err(
                "AIG_REDIS_PREFIX",
                format!("{redis_prefix:?} must not contain braces or whitespace"),
            ));
        }

        let raw_addr = var("AIG_CONTROLPLANE_ADDR").unwrap_or_else(|| "127.0.0.1:8081".into());
        let addr = raw_addr.trim().parse().map_err(|_| {
            err(
                "AIG_CONTROLPLANE_ADDR",
                format!("{raw_addr:?} is not a host:port address"),
            )
        })?;

        let trial_credit_cents = match var("AIG_TRIAL_CREDIT_CENTS") {
            None => 300,
            Some(raw) => raw
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|c| *c <= MAX_TRIAL_CREDIT_CENTS)
                .ok_or_else(|| {
                    err(
                        "AIG_TRIAL_CREDIT_CENTS",
                        format!(
                            "{raw:?} is not a whole number of cents from 0 to \
                             {MAX_TRIAL_CREDIT_CENTS}"
                        ),
                    )
                })?,
        };

        let jwt_secret = match get("AIG_JWT_SECRET").filter(|v| !v.is_empty()) {
            None => None,
            Some(secret) if secret.len() < MIN_JWT_SECRET_LEN => {
                return Err(err(
                    "AIG_JWT_SECRET",
                    format!("must be at least {MIN_JWT_SECRET_LEN} characters"),
                ))
            }
            Some(secret) => Some(SecretString::from(secret)),
        };

        let log_format = match var("AIG_LOG_FORMAT").as_deref().map(str::trim) {
            None | Some("human") => LogFormat::Human,
            Some("json") => LogFormat::Json,
            Some(other) => {
                return Err(err(
                    "AIG_LOG_FORMAT",
                    format!("{other:?}: use human or json"),
                ))
            }
        };

        let ingest_consumer = var("AIG_INGEST_CONSUMER")
            .map(|v| v.trim().to_owned())
            .unwrap_or_else(default_consumer);
        let ingest_claim_idle = match var("AIG_INGEST_CLAIM_IDLE_MS") {
            None => Duration::from_secs(60),
            Some(raw) => raw
                .trim()
                .parse::<u64>()
                .map(Duration::from_millis)
                .map_err(|_| {
                    err(
                        "AIG_INGEST_CLAIM_IDLE_MS",
                        format!("{raw:?} is not a number of milliseconds"),
                    )
                })?,
        };

        let stripe_webhook_secret = match get("STRIPE_WEBHOOK_SECRET").filter(|v| !v.is_empty()) {
            None => None,
            Some(secret)
                if !secret.starts_with("whsec_")
                    || secret.len() < 16
                    || secret.chars().any(char::is_whitespace) =>
            {
                return Err(err(
                    "STRIPE_WEBHOOK_SECRET",
                    "must be the endpoint's signing secret as Stripe shows it (whsec_…, \
                     no whitespace)",
                ))
            }
            Some(secret) => Some(SecretString::from(secret)),
        };

        let stripe_secret_key =
            var("STRIPE_SECRET_KEY").map(|k| SecretString::from(k.trim().to_owned()));
        let stripe_api_base = var("STRIPE_API_BASE")
            .map(|v| v.trim().trim_end_matches('/').to_owned())
            .unwrap_or_else(|| "https://api.stripe.com".into());
        // async-stripe replaces the URL's path with `/v1/…` (and panics on a URL it cannot
        // parse), so only a bare origin is accepted.
        match url::Url::parse(&stripe_api_base) {
            Ok(u)
                if matches!(u.scheme(), "http" | "https")
                    && u.host().is_some()
                    && u.path() == "/"
                    && u.query().is_none()
                    && u.fragment().is_none() => {}
            _ => {
                return Err(err(
                    "STRIPE_API_BASE",
                    format!(
                        "{stripe_api_base:?} is not an http(s) origin without path, query or \
                         fragment (e.g. https://api.stripe.com)"
                    ),
                ))
            }
        }
        let cents = |name: &str, default: u64| -> Result<u64, ConfigError> {
            match var(name) {
                None => Ok(default),
                Some(raw) => raw
                    .trim()
                    .parse::<u64>()
                    .ok()
                    .filter(|c| (1..=MAX_TOPUP_CENTS).contains(c))
                    .ok_or_else(|| {
                        err(name, format!("{raw:?} is not a whole number of cents from 1 to {MAX_TOPUP_CENTS}"))
                    }),
            }
        };
        let topup_min_cents = cents("AIG_TOPUP_MIN_CENTS", 500)?;
        let topup_max_cents = cents("AIG_TOPUP_MAX_CENTS", 100_000)?;
        if topup_max_cents < topup_min_cents {
            return Err(err(
                "AIG_TOPUP_MAX_CENTS",
                format!("{topup_max_cents} is below AIG_TOPUP_MIN_CENTS ({topup_min_cents})"),
            ));
        }

        let topup_fee_bp = match var("AIG_TOPUP_FEE_PERCENT") {
            None => 0,
            Some(raw) => parse_percent_bp(raw.trim())
                .filter(|bp| *bp <= MAX_TOPUP_FEE_BP)
                .ok_or_else(|| {
                    err(
                        "AIG_TOPUP_FEE_PERCENT",
                        format!(
                            "{raw:?} is not a percentage from 0 to 50 with at most two \
                             decimals (e.g. 2.5)"
                        ),
                    )
                })?,
        };

        let public_url = var("AIG_PUBLIC_URL")
            .map(|raw| base_url("AIG_PUBLIC_URL", &raw))
            .transpose()?;
        let gateway_url = base_url(
            "AIG_GATEWAY_PUBLIC_URL",
            &var("AIG_GATEWAY_PUBLIC_URL").unwrap_or_else(|| DEFAULT_GATEWAY_URL.to_owned()),
        )?;

        let trusted_proxy_hops = match var("AIG_TRUSTED_PROXY_HOPS") {
            None => 0,
            Some(raw) => raw
                .trim()
                .parse::<usize>()
                .ok()
                .filter(|n| *n <= 10)
                .ok_or_else(|| {
                    err(
                        "AIG_TRUSTED_PROXY_HOPS",
                        format!("{raw:?} is not a number of proxies from 0 to 10"),
                    )
                })?,
        };

        Ok(Config {
            trusted_proxy_hops,
            gateway_url,
            database_url: SecretString::from(database_url),
            redis_urls: redis_urls.into_iter().map(SecretString::from).collect(),
            redis_cluster,
            redis_prefix,
            addr,
            trial_credit_cents,
            jwt_secret,
            log_format,
            ingest_consumer,
            ingest_claim_idle,
            stripe_webhook_secret,
            stripe_secret_key,
            stripe_api_base,
            topup_min_cents,
            topup_max_cents,
            topup_fee_bp,
            public_url,
        })
    }

    /// The session signing key. Without `AIG_JWT_SECRET` only `--dev` may run, with a random
    /// key per process (sessions end when it restarts).
    pub fn jwt_secret(&self, dev: bool) -> Result<SecretString, ConfigError> {
        match (&self.jwt_secret, dev) {
            (Some(secret), _) => Ok(secret.clone()),
            (None, true) => Ok(SecretString::from(
                rand::distr::SampleString::sample_string(
                    &rand::distr::Alphanumeric,
                    &mut rand::rng(),
                    48,
                ),
            )),
            (None, false) => Err(err(
                "AIG_JWT_SECRET",
                format!(
                    "is required to serve (at least {MIN_JWT_SECRET_LEN} random characters); \
                     pass --dev to use an insecure development key"
                ),
            )),
        }
    }

    /// Postgres connection options from `DATABASE_URL` (validated when the config was read).
    pub fn pg_options(&self) -> Result<PgConnectOptions, ConfigError> {
        PgConnectOptions::from_str(self.database_url.expose_secret())
            .map_err(|e| err("DATABASE_URL", format!("not a usable Postgres URL: {e}")))
    }
}

/// `"2.5"` → 250 basis points; up to two decimals, no sign, no exponent; integers only.
/// An http(s) base URL without query or fragment, its trailing slash dropped; else an error
/// naming `name`.
fn base_url(name: &str, raw: &str) -> Result<String, ConfigError> {
    let trimmed = raw.trim().trim_end_matches('/');
    match url::Url::parse(trimmed) {
        Ok(u)
            if matches!(u.scheme(), "http" | "https")
                && u.host().is_some()
                && u.query().is_none()
                && u.fragment().is_none() =>
        {
            Ok(trimmed.to_owned())
        }
        _ => Err(err(
            name,
            format!(
                "{raw:?} is not an http(s) URL without query or fragment \
                 (e.g. https://gateway.example.com)"
            ),
        )),
    }
}

fn parse_percent_bp(raw: &str) -> Option<u32> {
    let raw = raw.strip_suffix('%').unwrap_or(raw).trim();
    let (whole, frac) = raw.split_once('.').unwrap_or((raw, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || whole.len() > 3 || frac.len() > 2 || !digits(whole) || !digits(frac) {
        return None;
    }
    let whole: u32 = whole.parse().ok()?;
    let frac: u32 = format!("{frac:0<2}").parse().ok()?;
    Some(whole * 100 + frac)
}

/// The host name, so one host's control plane keeps its consumer name across restarts.
fn default_consumer() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "controlplane".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_follow_the_spec() {
        let c = config(&[]).unwrap();
        assert_eq!(c.addr.to_string(), "127.0.0.1:8081");
        assert_eq!(c.redis_prefix, "aig:");
        assert_eq!(c.trial_credit_cents, 300);
        assert_eq!(c.database_url.expose_secret(), "postgres://localhost/aig");
        assert!(
            c.stripe_webhook_secret.is_none(),
            "billing is off by default"
        );
        assert_eq!(c.stripe_api_base, "https://api.stripe.com");
        assert_eq!((c.topup_min_cents, c.topup_max_cents), (500, 100_000));
        assert_eq!(c.topup_fee_bp, 0, "no fee unless configured");
        assert_eq!(c.public_url, None);
        assert_eq!(c.gateway_url, "http://127.0.0.1:8080");
    }

    #[test]
    fn the_fee_parses_to_basis_points_and_the_public_url_loses_its_slash() {
        for (raw, bp) in [
            ("2.5", 250),
            ("0", 0),
            ("2.55", 255),
            ("50", 5_000),
            (" 3% ", 300),
        ] {
            let c = config(&[("AIG_TOPUP_FEE_PERCENT", raw)]).unwrap();
            assert_eq!(c.topup_fee_bp, bp, "{raw}");
        }
        let c = config(&[("AIG_PUBLIC_URL", "https://gw.example.com/")]).unwrap();
        assert_eq!(c.public_url.as_deref(), Some("https://gw.example.com"));
        let c = config(&[("AIG_GATEWAY_PUBLIC_URL", "https://api.example.com/")]).unwrap();
        assert_eq!(c.gateway_url, "https://api.example.com");
        let c = config(&[("STRIPE_API_BASE", "http://127.0.0.1:12111/")]).unwrap();
        assert_eq!(c.stripe_api_base, "http://127.0.0.1:12111");
    }

    #[test]
    fn several_redis_urls_or_the_cluster_flag_select_a_redis_cluster() {
        let c = config(&[("REDIS_URL", "redis://a:6379, redis://b:6379")]).unwrap();
        let urls: Vec<&str> = c.redis_urls.iter().map(|u| u.expose_secret()).collect();
        assert_eq!(urls, ["redis://a:6379", "redis://b:6379"]);
        let c = config(&[
            ("REDIS_URL", "redis://a:6379"),
            ("AIG_REDIS_CLUSTER", "true"),
        ])
        .unwrap();
        assert!(c.redis_cluster);
        assert!(!config(&[]).unwrap().redis_cluster);
    }

    #[test]
    fn bad_values_name_their_variable() {
        for (var, value) in [
            ("AIG_CONTROLPLANE_ADDR", "nowhere"),
            ("AIG_TRIAL_CREDIT_CENTS", "-5"),
            ("AIG_TRIAL_CREDIT_CENTS", "3.5"),
            ("REDIS_URL", "http://localhost"),
            ("REDIS_URL", "redis://a:6379,http://b:6379"),
            ("AIG_REDIS_CLUSTER", "yes"),
            ("DATABASE_URL", "mysql://x"),
            ("AIG_JWT_SECRET", "short"),
            ("AIG_LOG_FORMAT", "xml"),
            ("AIG_REDIS_PREFIX", "a{b}:"),
            ("STRIPE_WEBHOOK_SECRET", "not-a-whsec-secret"),
            ("STRIPE_WEBHOOK_SECRET", "whsec_"),
            ("STRIPE_API_BASE", "ftp://stripe"),
            ("AIG_GATEWAY_PUBLIC_URL", "gateway:8080"),
            ("AIG_TRUSTED_PROXY_HOPS", "-1"),
            ("AIG_TRUSTED_PROXY_HOPS", "many"),
            ("STRIPE_API_BASE", "api.stripe.com"),
            ("STRIPE_API_BASE", "http://127.0.0.1:12111/stripe"),
            ("STRIPE_API_BASE", "https://api.stripe.com/?x=1"),
            ("AIG_TOPUP_MIN_CENTS", "0"),
            ("AIG_TOPUP_MAX_CENTS", "ten"),
            ("AIG_TOPUP_MAX_CENTS", "100"),
            ("AIG_TOPUP_FEE_PERCENT", "50.01"),
            ("AIG_TOPUP_FEE_PERCENT", "-1"),
            ("AIG_TOPUP_FEE_PERCENT", "2.555"),
            ("AIG_TOPUP_FEE_PERCENT", "abc"),
            ("AIG_TOPUP_FEE_PERCENT", "1e1"),
            ("AIG_PUBLIC_URL", "gw.example.com"),
            ("AIG_PUBLIC_URL", "ftp://gw.example.com"),
            ("AIG_PUBLIC_URL", "https://gw.example.com/?x=1"),
        ] {
            let e = config(&[(var, value)]).unwrap_err();
            assert_eq!(e.var, var, "{var}={value}");
            assert!(e.to_string().starts_with(var));
        }
    }

    #[test]
    fn serving_needs_a_jwt_secret_unless_dev() {
        let c = config(&[]).unwrap();
        assert_eq!(c.jwt_secret(false).unwrap_err().var, "AIG_JWT_SECRET");
        assert!(c.jwt_secret(true).is_ok());

        let secret = "s".repeat(40);
        let c = config(&[("AIG_JWT_SECRET", &secret)]).unwrap();
        assert_eq!(c.jwt_secret(false).unwrap().expose_secret(), secret);
    }

    #[test]
    fn debug_never_shows_urls_with_passwords() {
        let c = config(&[("DATABASE_URL", "postgres://u:hunter2@db/aig")]).unwrap();
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
