//! Provider health as both planes see it in Redis: the events of a provider's health history
//! (written by the data plane's monitor, read by the admin dashboard).

use serde::{Deserialize, Serialize};

/// How long a provider's history is kept.
pub const HISTORY_RETENTION_MS: u64 = 24 * 60 * 60 * 1000;

/// Why a provider or provider/model was marked degraded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MarkReason {
    /// Enough attempts in a window, and a failure ratio at or above the threshold.
    FailureRatio,
    /// Several timeouts or 5xx in a row.
    ConsecutiveFailures,
    /// A 429 carrying `Retry-After`: degraded until then (at most 60 s).
    RetryAfter,
}

/// Why a mark ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClearReason {
    /// The active probe (listing models) succeeded.
    Probe,
    /// The mark ran out.
    Expired,
}

/// One entry of a provider's health history: a sorted-set member (JSON) scored by `at_ms`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum HealthEvent {
    /// The counts of one evaluated window, all the provider's models together.
    Tick {
        at_ms: u64,
        window_start_ms: u64,
        window_ms: u64,
        attempts: u64,
        /// 429, 5xx, timeouts and connection errors.
        failures: u64,
        /// The longest run of timeouts/5xx one instance saw.
        consecutive_failures: u64,
    },
    /// `subject` (`provider` or `provider/model`) became degraded.
    Degraded {
        at_ms: u64,
        subject: String,
        reason: MarkReason,
        until_ms: u64,
    },
    /// `subject` is no longer degraded.
    Cleared {
        at_ms: u64,
        subject: String,
        reason: ClearReason,
    },
}

impl HealthEvent {
    pub fn at_ms(&self) -> u64 {
        match self {
            HealthEvent::Tick { at_ms, .. }
            | HealthEvent::Degraded { at_ms, .. }
            | HealthEvent::Cleared { at_ms, .. } => *at_ms,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_tagged_json() {
        let event = HealthEvent::Degraded {
            at_ms: 5,
            subject: "openai/gpt-5.4".into(),
            reason: MarkReason::RetryAfter,
            until_ms: 1005,
        };
        let json = serde_json::to_string(&event).unwrap();
        assert_eq!(
            json,
            r#"{"event":"degraded","at_ms":5,"subject":"openai/gpt-5.4","reason":"retry_after","until_ms":1005}"#
        );
        assert_eq!(serde_json::from_str::<HealthEvent>(&json).unwrap(), event);
    }
}
