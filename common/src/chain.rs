//! The `x-aig-chain` header (SPEC §4.3), which the data plane writes and the control plane
//! reads back from the request log: `slug:outcome` entries joined by `→`, e.g.
//! `anthropic/claude-opus-4.7:429→openai/gpt-5.4:200`. The outcome tokens and the
//! `x-aig-fallback-reason` words live here only.

/// Between two entries of a chain.
pub const SEPARATOR: &str = "→";

/// What one chain entry came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Outcome {
    /// An HTTP status: 200 for a served answer, else the upstream's failure status.
    Status(u16),
    /// No response headers (or, for a stream, no first chunk) within the attempt's time.
    Timeout,
    /// Connection error or malformed response.
    Error,
    /// A content-filter result.
    Filter,
    /// Skipped without an attempt: the health monitor marks the provider or model degraded.
    Degraded,
    /// Skipped without an attempt: the model cannot honour what the request needs (image
    /// input, tools, JSON output), per the catalog.
    Unsupported,
}

impl Outcome {
    /// As written in `x-aig-chain`.
    pub fn token(self) -> String {
        match self {
            Outcome::Status(s) => s.to_string(),
            Outcome::Timeout => "timeout".into(),
            Outcome::Error => "error".into(),
            Outcome::Filter => "filter".into(),
            Outcome::Degraded => "degraded".into(),
            Outcome::Unsupported => "unsupported".into(),
        }
    }

    /// A token as [`Outcome::token`] writes it; `None` for anything else.
    pub fn parse(token: &str) -> Option<Outcome> {
        Some(match token {
            "timeout" => Outcome::Timeout,
            "error" => Outcome::Error,
            "filter" => Outcome::Filter,
            "degraded" => Outcome::Degraded,
            "unsupported" => Outcome::Unsupported,
            t => match t.parse::<u16>() {
                Ok(status) if (100..1000).contains(&status) => Outcome::Status(status),
                _ => return None,
            },
        })
    }

    /// As written in `x-aig-fallback-reason` after the provider slug.
    pub fn reason(self) -> &'static str {
        match self {
            Outcome::Status(429) => "rate_limit",
            Outcome::Status(s) if s >= 500 => "server_error",
            Outcome::Status(_) => "client_error",
            Outcome::Timeout => "timeout",
            Outcome::Error => "connection_error",
            Outcome::Filter => "content_filter",
            Outcome::Degraded => "degraded",
            Outcome::Unsupported => "unsupported",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_token_parses_back_to_its_outcome() {
        for outcome in [
            Outcome::Status(200),
            Outcome::Status(429),
            Outcome::Status(503),
            Outcome::Timeout,
            Outcome::Error,
            Outcome::Filter,
            Outcome::Degraded,
            Outcome::Unsupported,
        ] {
            assert_eq!(Outcome::parse(&outcome.token()), Some(outcome));
        }
        for unknown in ["", "later", "42", "1000", "ok"] {
            assert_eq!(Outcome::parse(unknown), None, "{unknown}");
        }
    }
}
