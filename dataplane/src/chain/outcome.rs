//! What one attempt came to, whether it cascades, and how the chain is reported
//! (`x-aig-chain`, `x-aig-fallback-reason`).

use crate::shapes::{ChatResponse, UpstreamError};
pub use aig_common::chain::Outcome;
use aig_common::chain::SEPARATOR;
use aig_common::provider::ProviderId;
use std::time::Duration;

/// Why an attempt did not produce a usable answer.
#[derive(Debug)]
pub enum Failure {
    /// The upstream answered with a non-2xx status.
    Http {
        status: u16,
        error: UpstreamError,
        retry_after: Option<Duration>,
    },
    /// No response headers within the attempt's time.
    Timeout,
    /// Connection refused/reset, or a response that could not be read or parsed.
    Connection(String),
}

impl Failure {
    /// A 4xx the provider's safety system raised (Azure-style `content_filter` codes).
    pub fn is_content_filter(&self) -> bool {
        match self {
            Failure::Http { status, error, .. } if (400..500).contains(status) => {
                matches!(
                    error.code.as_deref(),
                    Some("content_filter") | Some("content_policy_violation")
                )
            }
            _ => false,
        }
    }
}

/// What a failed attempt counts as.
pub fn of_failure(f: &Failure) -> Outcome {
    if f.is_content_filter() {
        return Outcome::Filter;
    }
    match f {
        Failure::Http { status, .. } => Outcome::Status(*status),
        Failure::Timeout => Outcome::Timeout,
        Failure::Connection(_) => Outcome::Error,
    }
}

/// What an answer counts as: served, unless the provider's filter cut it.
pub fn of_response(r: &ChatResponse) -> Outcome {
    if r.finish == crate::shapes::FinishReason::ContentFilter {
        Outcome::Filter
    } else {
        Outcome::Status(200)
    }
}

/// A low-cardinality label for metrics.
pub fn metric_label(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Status(200) => "ok",
        Outcome::Status(429) => "rate_limited",
        Outcome::Status(s) if s >= 500 => "server_error",
        Outcome::Status(_) => "client_error",
        Outcome::Timeout => "timeout",
        Outcome::Error => "error",
        Outcome::Filter => "filter",
        Outcome::Degraded => "degraded",
        Outcome::Unsupported => "unsupported",
    }
}

/// Which failures move the cascade on (`x-aig-fallback-on`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FallbackOn {
    pub client_errors: bool,
    pub server_errors: bool,
    pub rate_limits: bool,
    pub timeouts: bool,
    pub filter: bool,
}

impl Default for FallbackOn {
    /// `429,5xx,timeout`.
    fn default() -> Self {
        Self {
            client_errors: false,
            server_errors: true,
            rate_limits: true,
            timeouts: true,
            filter: false,
        }
    }
}

impl FallbackOn {
    /// Parses `4xx,5xx,429,timeout,filter` (any subset, any order, case-insensitive).
    /// `4xx` includes 429.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let mut set = Self {
            client_errors: false,
            server_errors: false,
            rate_limits: false,
            timeouts: false,
            filter: false,
        };
        for token in raw.split(',').map(str::trim) {
            match token.to_ascii_lowercase().as_str() {
                "4xx" => {
                    set.client_errors = true;
                    set.rate_limits = true;
                }
                "5xx" => set.server_errors = true,
                "429" => set.rate_limits = true,
                "timeout" => set.timeouts = true,
                "filter" => set.filter = true,
                "" => return Err("has an empty entry".into()),
                other => {
                    return Err(format!(
                        "has unknown trigger {other:?}; use any of 4xx, 5xx, 429, timeout, filter"
                    ))
                }
            }
        }
        Ok(set)
    }

    /// Connection errors and malformed responses count as 5xx.
    pub fn cascades(&self, outcome: Outcome) -> bool {
        match outcome {
            Outcome::Status(429) => self.rate_limits,
            Outcome::Status(s) if s >= 500 => self.server_errors,
            Outcome::Status(s) if s >= 400 => self.client_errors,
            Outcome::Status(_) => false,
            Outcome::Timeout => self.timeouts,
            Outcome::Error => self.server_errors,
            Outcome::Filter => self.filter,
            // A skip always moves on; it is not an attempt.
            Outcome::Degraded | Outcome::Unsupported => true,
        }
    }
}

/// One entry the cascade considered.
#[derive(Clone, Debug)]
pub struct ChainEntry {
    pub slug: String,
    pub provider: ProviderId,
    pub outcome: Outcome,
}

/// `x-aig-chain`: `slug:outcome` joined by `→`.
pub fn chain_header(entries: &[ChainEntry]) -> String {
    entries
        .iter()
        .map(|e| format!("{}:{}", e.slug, e.outcome.token()))
        .collect::<Vec<_>>()
        .join(SEPARATOR)
}

/// `x-aig-fallback-reason`: the first failure, when the primary did not serve.
pub fn fallback_reason(entries: &[ChainEntry], primary_served: bool) -> Option<String> {
    if primary_served {
        return None;
    }
    entries
        .iter()
        .find(|e| e.outcome != Outcome::Status(200))
        .map(|e| format!("{}_{}", e.provider, e.outcome.reason()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_triggers_are_429_5xx_and_timeout() {
        let on = FallbackOn::default();
        assert!(on.cascades(Outcome::Status(429)));
        assert!(on.cascades(Outcome::Status(503)));
        assert!(on.cascades(Outcome::Timeout));
        assert!(on.cascades(Outcome::Error));
        assert!(!on.cascades(Outcome::Status(400)));
        assert!(!on.cascades(Outcome::Filter));
    }

    #[test]
    fn fallback_on_parses_every_trigger_and_rejects_others() {
        let on = FallbackOn::parse("4xx, 5xx,timeout,FILTER").unwrap();
        assert!(on.cascades(Outcome::Status(400)) && on.cascades(Outcome::Status(429)));
        assert!(on.cascades(Outcome::Filter));
        assert!(FallbackOn::parse("5xx,teapot")
            .unwrap_err()
            .contains("teapot"));
        assert!(FallbackOn::parse("").is_err());
    }

    #[test]
    fn the_chain_header_joins_entries_with_an_arrow() {
        let entries = vec![
            ChainEntry {
                slug: "anthropic/claude-opus-4.7".into(),
                provider: ProviderId::Anthropic,
                outcome: Outcome::Status(429),
            },
            ChainEntry {
                slug: "openai/gpt-5.4".into(),
                provider: ProviderId::Openai,
                outcome: Outcome::Status(200),
            },
        ];
        assert_eq!(
            chain_header(&entries),
            "anthropic/claude-opus-4.7:429→openai/gpt-5.4:200"
        );
        assert_eq!(
            fallback_reason(&entries, false).as_deref(),
            Some("anthropic_rate_limit")
        );
        assert_eq!(fallback_reason(&entries[1..], true), None);
    }

    #[test]
    fn a_degraded_primary_is_the_fallback_reason() {
        let entries = vec![
            ChainEntry {
                slug: "anthropic/claude-opus-4.7".into(),
                provider: ProviderId::Anthropic,
                outcome: Outcome::Degraded,
            },
            ChainEntry {
                slug: "openai/gpt-5.4".into(),
                provider: ProviderId::Openai,
                outcome: Outcome::Status(200),
            },
        ];
        assert_eq!(
            chain_header(&entries),
            "anthropic/claude-opus-4.7:degraded→openai/gpt-5.4:200"
        );
        assert_eq!(
            fallback_reason(&entries, false).as_deref(),
            Some("anthropic_degraded")
        );
    }
}
