//! Request controls (body and `x-aig-*` headers) turned into an ordered, validated plan.

use super::outcome::FallbackOn;
use crate::error::Error;
use crate::headers;
use aig_common::catalog::{Catalog, ResolvedModel, SlugError};
use aig_common::provider::ProviderId;
use axum::http::HeaderMap;
use std::time::Duration;

/// Most entries a chain may have.
pub const MAX_CHAIN: usize = 10;
/// Per-attempt timeout when `x-aig-timeout-ms` is absent.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(30_000);
/// Longest per-attempt timeout or latency budget accepted (10 minutes).
const MAX_MS: u64 = 600_000;
const MAX_TAG_LEN: usize = 64;
const MAX_SLUG_LEN: usize = 256;

/// The header controls of one request.
#[derive(Clone, Debug, PartialEq)]
pub struct Controls {
    pub fallback: Vec<String>,
    pub timeout: Duration,
    pub retry_budget: Option<u32>,
    pub max_latency: Option<Duration>,
    pub fallback_on: FallbackOn,
    pub tag: Option<String>,
}

/// Provider filter from the body's `provider` object.
#[derive(Clone, Debug, Default)]
pub struct ProviderFilter {
    pub only: Vec<String>,
    pub ignore: Vec<String>,
}

/// Everything the cascade needs to run.
#[derive(Clone, Debug)]
pub struct Plan {
    pub entries: Vec<ResolvedModel>,
    pub timeout: Duration,
    /// Retries allowed after the first attempt: at most `retry_budget + 1` attempts.
    pub retry_budget: u32,
    pub max_latency: Option<Duration>,
    pub fallback_on: FallbackOn,
    pub tag: Option<String>,
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Result<Option<&'a str>, Error> {
    match headers.get(name) {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .map(|s| Some(s.trim()))
            .map_err(|_| invalid_header(name, "is not visible ASCII")),
    }
}

fn invalid_header(name: &str, why: &str) -> Error {
    Error::invalid(format!("header {name} {why}"), Some(name))
}

fn millis(headers: &HeaderMap, name: &str) -> Result<Option<Duration>, Error> {
    let Some(raw) = header(headers, name)? else {
        return Ok(None);
    };
    match raw.parse::<u64>() {
        Ok(ms) if (1..=MAX_MS).contains(&ms) => Ok(Some(Duration::from_millis(ms))),
        _ => Err(invalid_header(
            name,
            &format!("must be a whole number of milliseconds from 1 to {MAX_MS}, got {raw:?}"),
        )),
    }
}

/// Reads and validates every `x-aig-*` request control.
pub fn parse_controls(headers: &HeaderMap) -> Result<Controls, Error> {
    let fallback = match header(headers, headers::FALLBACK)? {
        None => Vec::new(),
        Some(raw) => {
            let slugs: Vec<String> = raw.split(',').map(|s| s.trim().to_owned()).collect();
            if slugs.iter().any(String::is_empty) {
                return Err(invalid_header(
                    headers::FALLBACK,
                    "must be comma-separated provider/model slugs with no empty entries",
                ));
            }
            slugs
        }
    };
    let timeout = millis(headers, headers::TIMEOUT_MS)?.unwrap_or(DEFAULT_TIMEOUT);
    let max_latency = millis(headers, headers::MAX_LATENCY_MS)?;
    let retry_budget = match header(headers, headers::RETRY_BUDGET)? {
        None => None,
        Some(raw) => Some(raw.parse::<u32>().map_err(|_| {
            invalid_header(
                headers::RETRY_BUDGET,
                &format!("must be a non-negative whole number, got {raw:?}"),
            )
        })?),
    };
    let fallback_on = match header(headers, headers::FALLBACK_ON)? {
        None => FallbackOn::default(),
        Some(raw) => {
            FallbackOn::parse(raw).map_err(|why| invalid_header(headers::FALLBACK_ON, &why))?
        }
    };
    let tag = match header(headers, headers::TAG)? {
        None => None,
        Some(raw) => {
            let ok = !raw.is_empty()
                && raw.len() <= MAX_TAG_LEN
                && raw
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'));
            if !ok {
                return Err(invalid_header(
                    headers::TAG,
                    "must be 1 to 64 characters of A-Z a-z 0-9 . _ : -",
                ));
            }
            Some(raw.to_owned())
        }
    };
    Ok(Controls {
        fallback,
        timeout,
        retry_budget,
        max_latency,
        fallback_on,
        tag,
    })
}

fn resolve(catalog: &Catalog, slug: &str, param: &str) -> Result<ResolvedModel, Error> {
    if slug.len() > MAX_SLUG_LEN || slug.chars().any(char::is_control) {
        return Err(Error::invalid(
            format!("{param}: model slug is longer than {MAX_SLUG_LEN} characters or has control characters"),
            Some(param),
        ));
    }
    catalog.resolve(slug).map_err(|e| match e {
        SlugError::UnknownProvider { .. } => Error::UnknownProvider(format!("{param}: {e}")),
        SlugError::Malformed(_) | SlugError::Unpriced { .. } => {
            Error::invalid(format!("{param}: {e}"), Some(param))
        }
    })
}

fn providers(list: &[String], param: &str) -> Result<Vec<ProviderId>, Error> {
    list.iter()
        .map(|p| {
            p.parse::<ProviderId>()
                .map_err(|e| Error::UnknownProvider(format!("{param}: {e}")))
        })
        .collect()
}

/// The chain is `[model] + models + x-aig-fallback`, duplicates dropped, then filtered by
/// provider. Budgets default to "try every entry once".
pub fn build_plan(
    catalog: &Catalog,
    model: &str,
    body_models: &[String],
    filter: &ProviderFilter,
    controls: Controls,
) -> Result<Plan, Error> {
    let mut entries: Vec<ResolvedModel> = Vec::new();
    let candidates = std::iter::once((model, "model".to_owned()))
        .chain(
            body_models
                .iter()
                .enumerate()
                .map(|(i, m)| (m.as_str(), format!("models[{i}]"))),
        )
        .chain(
            controls
                .fallback
                .iter()
                .map(|m| (m.as_str(), headers::FALLBACK.to_owned())),
        );
    for (slug, param) in candidates {
        let resolved = resolve(catalog, slug, &param)?;
        if !entries.iter().any(|e| e.slug == resolved.slug) {
            entries.push(resolved);
        }
    }
    if entries.len() > MAX_CHAIN {
        return Err(Error::invalid(
            format!(
                "the chain has {} entries; at most {MAX_CHAIN} are allowed",
                entries.len()
            ),
            Some("models"),
        ));
    }
    let only = providers(&filter.only, "provider.only")?;
    let ignore = providers(&filter.ignore, "provider.ignore")?;
    entries.retain(|e| {
        (only.is_empty() || only.contains(&e.provider)) && !ignore.contains(&e.provider)
    });
    if entries.is_empty() {
        return Err(Error::invalid(
            "provider.only / provider.ignore removed every entry of the chain",
            Some("provider"),
        ));
    }
    let max_retries = u32::try_from(entries.len() - 1).unwrap_or(u32::MAX);
    Ok(Plan {
        retry_budget: controls
            .retry_budget
            .unwrap_or(max_retries)
            .min(max_retries),
        entries,
        timeout: controls.timeout,
        max_latency: controls.max_latency,
        fallback_on: controls.fallback_on,
        tag: controls.tag,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn the_chain_is_model_then_body_models_then_the_header_without_duplicates() {
        let catalog = Catalog::builtin().unwrap();
        let controls = parse_controls(&headers(&[(
            "x-aig-fallback",
            "openai/gpt-5.4, moonshot/kimi-k2.6",
        )]))
        .unwrap();
        let plan = build_plan(
            &catalog,
            "anthropic/claude-opus-4.7",
            &["openai/gpt-5.4".into(), "cohere/command-a".into()],
            &ProviderFilter::default(),
            controls,
        )
        .unwrap();
        let slugs: Vec<_> = plan.entries.iter().map(|e| e.slug.as_str()).collect();
        assert_eq!(
            slugs,
            [
                "anthropic/claude-opus-4.7",
                "openai/gpt-5.4",
                "cohere/command-a",
                "moonshot/kimi-k2.6"
            ]
        );
        assert_eq!(plan.retry_budget, 3);
        assert_eq!(plan.timeout, DEFAULT_TIMEOUT);
    }

    #[test]
    fn each_malformed_header_is_named() {
        for (name, value) in [
            ("x-aig-timeout-ms", "soon"),
            ("x-aig-timeout-ms", "0"),
            ("x-aig-retry-budget", "-1"),
            ("x-aig-max-latency-ms", "1.5"),
            ("x-aig-fallback-on", "5xx,sometimes"),
            ("x-aig-tag", "has space"),
            ("x-aig-fallback", "openai/gpt-5.4,,"),
        ] {
            let err = parse_controls(&headers(&[(name, value)])).unwrap_err();
            assert!(err.to_string().contains(name), "{name}: {err}");
        }
    }

    #[test]
    fn provider_filters_keep_and_drop_entries() {
        let catalog = Catalog::builtin().unwrap();
        let plan = build_plan(
            &catalog,
            "anthropic/claude-opus-4.7",
            &["openai/gpt-5.4".into(), "moonshot/kimi-k2.6".into()],
            &ProviderFilter {
                only: vec![],
                ignore: vec!["openai".into()],
            },
            parse_controls(&HeaderMap::new()).unwrap(),
        )
        .unwrap();
        assert_eq!(plan.entries.len(), 2);
        let err = build_plan(
            &catalog,
            "anthropic/claude-opus-4.7",
            &[],
            &ProviderFilter {
                only: vec!["acme".into()],
                ignore: vec![],
            },
            parse_controls(&HeaderMap::new()).unwrap(),
        )
        .unwrap_err();
        assert!(matches!(err, Error::UnknownProvider(_)));
    }
}
