//! The mock's shared state: each provider's failure mode and the chat requests it received.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use serde::{Deserialize, Serialize};

/// A whole-provider failure mode, set through [`MockState::set_mode`] or the control API.
///
/// Spelled `normal`, `fail-<status>`, `hang`, `slow-<ms>`, `filter`, `malformed`,
/// `midstream-error`, `early-error` or `stall`, the same words a model name may carry.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    /// Answer normally (faults may still come from the model name).
    #[default]
    Normal,
    /// Answer every request with this HTTP status (400..=599) in the provider's error shape.
    Fail(u16),
    /// Never answer.
    Hang,
    /// Wait this many milliseconds, then answer normally.
    Slow(u64),
    /// Answer 200 with a content-filter outcome.
    Filter,
    /// Answer 200 with a body that is not valid for the provider's API.
    Malformed,
    /// Start answering, then fail: an in-band stream error or a truncated body.
    MidstreamError,
    /// Streaming: 200 and the provider's first no-content frame(s), then its in-band error before
    /// any content (Cohere, which has none, cuts the connection). Not streaming: a 500.
    EarlyError,
    /// Streaming: 200 and the provider's first no-content frame(s), then nothing for an hour.
    /// Not streaming: like [`Mode::Hang`].
    Stall,
}

impl FromStr for Mode {
    type Err = UnknownMode;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let unknown = || UnknownMode(s.to_owned());
        match s {
            "normal" => Ok(Mode::Normal),
            "hang" => Ok(Mode::Hang),
            "filter" => Ok(Mode::Filter),
            "malformed" => Ok(Mode::Malformed),
            "midstream-error" => Ok(Mode::MidstreamError),
            "early-error" => Ok(Mode::EarlyError),
            "stall" => Ok(Mode::Stall),
            _ => {
                if let Some(status) = s.strip_prefix("fail-") {
                    let status: u16 = status.parse().map_err(|_| unknown())?;
                    if (400..=599).contains(&status) {
                        Ok(Mode::Fail(status))
                    } else {
                        Err(unknown())
                    }
                } else if let Some(ms) = s.strip_prefix("slow-") {
                    ms.parse().map(Mode::Slow).map_err(|_| unknown())
                } else {
                    Err(unknown())
                }
            }
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mode::Normal => f.write_str("normal"),
            Mode::Fail(status) => write!(f, "fail-{status}"),
            Mode::Hang => f.write_str("hang"),
            Mode::Slow(ms) => write!(f, "slow-{ms}"),
            Mode::Filter => f.write_str("filter"),
            Mode::Malformed => f.write_str("malformed"),
            Mode::MidstreamError => f.write_str("midstream-error"),
            Mode::EarlyError => f.write_str("early-error"),
            Mode::Stall => f.write_str("stall"),
        }
    }
}

/// A mode string that does not parse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownMode(pub String);

impl fmt::Display for UnknownMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown mode {:?}: expected normal, fail-<400..599>, hang, slow-<ms>, filter, \
             malformed, midstream-error, early-error or stall",
            self.0
        )
    }
}

impl std::error::Error for UnknownMode {}

/// One chat request as the mock received it, recorded before any fault was applied.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecordedRequest {
    /// Request path, e.g. `/openai/v1/chat/completions`.
    pub path: String,
    /// The body's `model`, or empty when there was none.
    pub model: String,
    /// Every header, names lower-case, values lossily decoded.
    pub headers: Vec<(String, String)>,
    /// The parsed JSON body, `null` when it did not parse.
    pub body: serde_json::Value,
}

impl RecordedRequest {
    /// The value of the first header with this (lower-case) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Modes, recorded requests and cancelled streams, shared by the router and the test that started
/// the mock.
#[derive(Clone, Debug, Default)]
pub struct MockState {
    /// Everything mutable, behind one lock: the mock is never busy enough to contend.
    inner: Arc<Mutex<Inner>>,
}

#[derive(Debug, Default)]
struct Inner {
    /// Providers whose mode is not [`Mode::Normal`].
    modes: HashMap<String, Mode>,
    /// Chat requests per provider slug, in arrival order.
    requests: HashMap<String, Vec<RecordedRequest>>,
    /// Streamed responses per provider slug whose client went away before the last frame.
    cancelled: HashMap<String, usize>,
    /// `GET /{provider}/v1/models` requests per provider slug (health probes list models).
    model_lists: HashMap<String, usize>,
}

impl MockState {
    /// Puts a whole provider into a failure mode; [`Mode::Normal`] clears it.
    pub fn set_mode(&self, provider: &str, mode: Mode) {
        let mut inner = self.lock();
        if mode == Mode::Normal {
            inner.modes.remove(provider);
        } else {
            inner.modes.insert(provider.to_owned(), mode);
        }
    }

    /// The provider's current mode.
    pub fn mode(&self, provider: &str) -> Mode {
        self.lock().modes.get(provider).copied().unwrap_or_default()
    }

    /// How many chat requests the provider received, failed ones included.
    pub fn request_count(&self, provider: &str) -> usize {
        self.lock().requests.get(provider).map_or(0, Vec::len)
    }

    /// The provider's chat requests, in arrival order.
    pub fn requests(&self, provider: &str) -> Vec<RecordedRequest> {
        self.lock()
            .requests
            .get(provider)
            .cloned()
            .unwrap_or_default()
    }

    /// How many of the provider's streaming responses were dropped before their last frame was
    /// sent, i.e. whose client (the gateway) went away mid-stream.
    pub fn cancelled_count(&self, provider: &str) -> usize {
        self.lock().cancelled.get(provider).copied().unwrap_or(0)
    }

    /// How many times the provider's model list was requested (not counted in
    /// [`MockState::request_count`], which counts chat requests).
    pub fn models_list_count(&self, provider: &str) -> usize {
        self.lock().model_lists.get(provider).copied().unwrap_or(0)
    }

    /// Clears every mode, every recorded request and every cancellation count.
    pub fn reset(&self) {
        let mut inner = self.lock();
        inner.modes.clear();
        inner.requests.clear();
        inner.cancelled.clear();
        inner.model_lists.clear();
    }

    pub(crate) fn record(&self, provider: &str, request: RecordedRequest) {
        self.lock()
            .requests
            .entry(provider.to_owned())
            .or_default()
            .push(request);
    }

    pub(crate) fn note_models_list(&self, provider: &str) {
        *self
            .lock()
            .model_lists
            .entry(provider.to_owned())
            .or_default() += 1;
    }

    pub(crate) fn note_cancelled(&self, provider: &str) {
        *self
            .lock()
            .cancelled
            .entry(provider.to_owned())
            .or_default() += 1;
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the maps half-updated.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_mode_round_trips_through_its_name() {
        for name in [
            "normal",
            "fail-429",
            "fail-500",
            "fail-400",
            "hang",
            "slow-250",
            "filter",
            "malformed",
            "midstream-error",
            "early-error",
            "stall",
        ] {
            let mode: Mode = name.parse().unwrap();
            assert_eq!(mode.to_string(), name);
        }
    }

    #[test]
    fn nonsense_modes_are_rejected() {
        for name in [
            "", "fail", "fail-200", "fail-abc", "slow-", "slow-x", "explode", "stalled", "drip-5",
        ] {
            assert!(name.parse::<Mode>().is_err(), "{name} parsed");
        }
    }
}
