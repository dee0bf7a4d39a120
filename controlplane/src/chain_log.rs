//! Reading the `x-aig-chain` string the data plane logs with every request (SPEC §4.3):
//! `slug:outcome` entries joined by `→`, e.g. `anthropic/claude-opus-4.7:429→openai/gpt-5.4:200`.
//! One parser for every page that shows chains (chain statistics, the request log).

use aig_common::chain;
use std::fmt;

/// What one chain entry came to: [`chain::Outcome`], the tokens both planes agree on, plus
/// whatever token a newer data plane might write.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Outcome {
    /// An HTTP status: 200 served, anything else the upstream's failure.
    Status(u16),
    /// No response headers within the attempt's time.
    Timeout,
    /// Connection error or malformed response.
    Error,
    /// A content-filter result.
    Filter,
    /// Skipped without an attempt: the health monitor marked it degraded.
    Degraded,
    /// Skipped without an attempt: the model cannot honour the request.
    Unsupported,
    /// A token this control plane does not know (a newer data plane), kept as written.
    Other(String),
}

impl Outcome {
    fn parse(token: &str) -> Outcome {
        chain::Outcome::parse(token).map_or_else(|| Outcome::Other(token.to_owned()), Outcome::from)
    }

    /// The shared outcome this is, unless the token was unknown.
    fn known(&self) -> Option<chain::Outcome> {
        Some(match self {
            Outcome::Status(s) => chain::Outcome::Status(*s),
            Outcome::Timeout => chain::Outcome::Timeout,
            Outcome::Error => chain::Outcome::Error,
            Outcome::Filter => chain::Outcome::Filter,
            Outcome::Degraded => chain::Outcome::Degraded,
            Outcome::Unsupported => chain::Outcome::Unsupported,
            Outcome::Other(_) => return None,
        })
    }

    /// Whether this entry answered (a 2xx).
    pub fn is_success(&self) -> bool {
        matches!(self, Outcome::Status(s) if (200..300).contains(s))
    }

    /// Whether the entry was skipped without sending anything upstream.
    pub fn is_skip(&self) -> bool {
        matches!(self, Outcome::Degraded | Outcome::Unsupported)
    }

    /// What the outcome means, for people: `rate limited`, `server error`, `timed out`….
    pub fn meaning(&self) -> &'static str {
        match self {
            Outcome::Status(s) if (200..300).contains(s) => "answered",
            Outcome::Status(429) => "rate limited",
            Outcome::Status(s) if *s >= 500 => "server error",
            Outcome::Status(_) => "client error",
            Outcome::Timeout => "timed out",
            Outcome::Error => "connection error",
            Outcome::Filter => "content filter",
            Outcome::Degraded => "skipped: degraded",
            Outcome::Unsupported => "skipped: unsupported",
            Outcome::Other(_) => "unknown outcome",
        }
    }
}

impl From<chain::Outcome> for Outcome {
    fn from(outcome: chain::Outcome) -> Self {
        match outcome {
            chain::Outcome::Status(s) => Outcome::Status(s),
            chain::Outcome::Timeout => Outcome::Timeout,
            chain::Outcome::Error => Outcome::Error,
            chain::Outcome::Filter => Outcome::Filter,
            chain::Outcome::Degraded => Outcome::Degraded,
            chain::Outcome::Unsupported => Outcome::Unsupported,
        }
    }
}

impl fmt::Display for Outcome {
    /// The token as written in the chain: `200`, `429`, `timeout`, `degraded`….
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Outcome::Other(token) = self {
            return f.write_str(token);
        }
        f.write_str(&self.known().map(chain::Outcome::token).unwrap_or_default())
    }
}

/// One entry of a chain: the slug the cascade considered and what came of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    pub slug: String,
    pub outcome: Outcome,
}

impl Step {
    /// The provider part of the slug (`openai` of `openai/gpt-5.4`); the whole slug if it
    /// has none.
    pub fn provider(&self) -> &str {
        self.slug
            .split_once('/')
            .map_or(self.slug.as_str(), |(provider, _)| provider)
    }
}

/// The entries of a logged chain, in order. Tolerates spaces around the arrows and slugs
/// that contain `:` themselves (the outcome is after the last one); an empty chain has no
/// entries and an entry without an outcome gets [`Outcome::Other`] with an empty token.
pub fn parse(chain: &str) -> Vec<Step> {
    chain
        .split(chain::SEPARATOR)
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(|entry| match entry.rsplit_once(':') {
            Some((slug, token)) => Step {
                slug: slug.trim().to_owned(),
                outcome: Outcome::parse(token.trim()),
            },
            None => Step {
                slug: entry.to_owned(),
                outcome: Outcome::Other(String::new()),
            },
        })
        .collect()
}

/// The outcomes that moved the cascade on: every entry but the last, when it did not answer
/// (a request served by its primary has none; one where everything failed has all but the
/// final failure).
pub fn fallback_reasons(steps: &[Step]) -> impl Iterator<Item = &Outcome> {
    let moved_on = steps.len().saturating_sub(1);
    steps[..moved_on]
        .iter()
        .map(|s| &s.outcome)
        .filter(|o| !o.is_success())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(slug: &str, outcome: Outcome) -> Step {
        Step {
            slug: slug.to_owned(),
            outcome,
        }
    }

    #[test]
    fn a_fallback_chain_parses_into_its_entries_in_order() {
        let steps = parse("anthropic/claude-opus-4.7:429→openai/gpt-5.4:200");

        assert_eq!(
            steps,
            vec![
                step("anthropic/claude-opus-4.7", Outcome::Status(429)),
                step("openai/gpt-5.4", Outcome::Status(200)),
            ]
        );
        assert_eq!(steps[0].provider(), "anthropic");
        assert!(steps[1].outcome.is_success());
    }

    #[test]
    fn every_outcome_the_data_plane_writes_is_recognised() {
        let chain = "anthropic/claude-opus-4.7-fail-500:500→openai/gpt-5.4-hang:timeout\
                     →moonshot/kimi-k2.6:error→cohere/command-a:degraded\
                     →openai/gpt-5.4-filter:filter→openai/gpt-image:unsupported\
                     →openai/gpt-x:400→openai/gpt-5.4:200";

        let outcomes: Vec<String> = parse(chain).iter().map(|s| s.outcome.to_string()).collect();

        assert_eq!(
            parse(chain)
                .iter()
                .map(|s| s.outcome.clone())
                .collect::<Vec<_>>(),
            vec![
                Outcome::Status(500),
                Outcome::Timeout,
                Outcome::Error,
                Outcome::Degraded,
                Outcome::Filter,
                Outcome::Unsupported,
                Outcome::Status(400),
                Outcome::Status(200),
            ]
        );
        assert_eq!(
            outcomes.join(","),
            "500,timeout,error,degraded,filter,unsupported,400,200",
            "tokens are written back as the data plane wrote them"
        );
        assert!(Outcome::Degraded.is_skip() && Outcome::Unsupported.is_skip());
        assert!(!Outcome::Timeout.is_skip());
        assert_eq!(Outcome::Status(429).meaning(), "rate limited");
        assert_eq!(Outcome::Status(503).meaning(), "server error");
    }

    #[test]
    fn spaced_arrows_colons_in_slugs_and_odd_entries_are_tolerated() {
        let steps = parse(" ollama/llama3:8b:timeout → openai/gpt-5.4:200 ");
        assert_eq!(steps[0], step("ollama/llama3:8b", Outcome::Timeout));
        assert_eq!(steps[1], step("openai/gpt-5.4", Outcome::Status(200)));

        assert!(parse("").is_empty());
        assert_eq!(
            parse("openai/gpt-5.4"),
            vec![step("openai/gpt-5.4", Outcome::Other(String::new()))]
        );
        assert_eq!(
            parse("x/y:later").first().map(|s| s.outcome.clone()),
            Some(Outcome::Other("later".into()))
        );
        assert_eq!(step("bare", Outcome::Error).provider(), "bare");
    }

    #[test]
    fn fallback_reasons_are_the_failures_that_moved_the_cascade_on() {
        let fell_back = parse("a/x:429→b/y:degraded→c/z:timeout→d/w:200");
        let all_failed = parse("a/x:500→b/y:503");
        let primary = parse("a/x:200");

        let reasons: Vec<String> = fallback_reasons(&fell_back)
            .map(|o| o.to_string())
            .collect();

        assert_eq!(reasons, vec!["429", "degraded", "timeout"]);
        assert_eq!(
            fallback_reasons(&all_failed).collect::<Vec<_>>(),
            vec![&Outcome::Status(500)],
            "the final failure did not move anything on"
        );
        assert_eq!(fallback_reasons(&primary).count(), 0);
        assert_eq!(fallback_reasons(&[]).count(), 0);
    }
}
