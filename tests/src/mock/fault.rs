//! Which fault a request gets: the provider's mode if set, else the markers in the model name.

use std::time::Duration;

use super::state::Mode;

/// What the mock does with a request once it is valid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    Answer,
    Fail(u16),
    Hang,
    Filter,
    Malformed,
    MidstreamError,
    EarlyError,
    Stall,
}

/// A delay before the outcome, the pause between stream frames when it is not the default, and
/// the outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Plan {
    pub delay: Option<Duration>,
    /// `-drip-<ms>`: this pause between frames, and a reply long enough for 20+ content frames.
    pub drip: Option<Duration>,
    pub outcome: Outcome,
}

impl Plan {
    /// A mode that is not [`Mode::Normal`] wins over the model name.
    pub(crate) fn new(mode: Mode, model: &str) -> Plan {
        let only = |outcome| Plan {
            delay: None,
            drip: None,
            outcome,
        };
        match mode {
            Mode::Normal => Plan::from_model(model),
            Mode::Fail(status) => only(Outcome::Fail(status)),
            Mode::Hang => only(Outcome::Hang),
            Mode::Slow(ms) => Plan {
                delay: Some(Duration::from_millis(ms)),
                drip: None,
                outcome: Outcome::Answer,
            },
            Mode::Filter => only(Outcome::Filter),
            Mode::Malformed => only(Outcome::Malformed),
            Mode::MidstreamError => only(Outcome::MidstreamError),
            Mode::EarlyError => only(Outcome::EarlyError),
            Mode::Stall => only(Outcome::Stall),
        }
    }

    /// `-slow-<ms>` and `-drip-<ms>` combine with any other marker; of the rest the first
    /// present in the order hang, stall, fail, malformed, early-error, midstream-error, filter
    /// wins.
    fn from_model(model: &str) -> Plan {
        let delay = number_after(model, "-slow-").map(Duration::from_millis);
        let drip = number_after(model, "-drip-").map(Duration::from_millis);
        let fail = number_after(model, "-fail-")
            .and_then(|status| u16::try_from(status).ok())
            .filter(|status| (400..=599).contains(status));
        let outcome = if has_marker(model, "-hang") {
            Outcome::Hang
        } else if has_marker(model, "-stall") {
            Outcome::Stall
        } else if let Some(status) = fail {
            Outcome::Fail(status)
        } else if has_marker(model, "-malformed") {
            Outcome::Malformed
        } else if has_marker(model, "-early-error") {
            Outcome::EarlyError
        } else if has_marker(model, "-midstream-error") {
            Outcome::MidstreamError
        } else if has_marker(model, "-filter") {
            Outcome::Filter
        } else {
            Outcome::Answer
        };
        Plan {
            delay,
            drip,
            outcome,
        }
    }
}

/// `-noimage` in the model name: a text-only model that refuses image input with a 400.
pub(crate) fn text_only(model: &str) -> bool {
    has_marker(model, "-noimage")
}

/// Long enough that every client gives up first; the handler is dropped when its client goes.
pub(crate) async fn hang() {
    tokio::time::sleep(Duration::from_secs(3600)).await;
}

/// `marker` followed by the end of the name or another `-` part.
fn has_marker(model: &str, marker: &str) -> bool {
    model
        .match_indices(marker)
        .any(|(at, _)| ends_part(&model[at + marker.len()..]))
}

/// The digits right after `prefix`, when they form a whole `-` part.
fn number_after(model: &str, prefix: &str) -> Option<u64> {
    model.match_indices(prefix).find_map(|(at, _)| {
        let rest = &model[at + prefix.len()..];
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if digits == 0 || !ends_part(&rest[digits..]) {
            return None;
        }
        rest[..digits].parse().ok()
    })
}

fn ends_part(rest: &str) -> bool {
    rest.is_empty() || rest.starts_with('-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(model: &str) -> Outcome {
        Plan::new(Mode::Normal, model).outcome
    }

    #[test]
    fn a_plain_model_is_answered() {
        assert_eq!(Plan::new(Mode::Normal, "gpt-5.4").outcome, Outcome::Answer);
        assert_eq!(Plan::new(Mode::Normal, "gpt-5.4").delay, None);
    }

    #[test]
    fn model_markers_select_the_fault() {
        assert_eq!(outcome("gpt-5.4-fail-429"), Outcome::Fail(429));
        assert_eq!(outcome("claude-fail-503-x"), Outcome::Fail(503));
        assert_eq!(outcome("m-hang"), Outcome::Hang);
        assert_eq!(outcome("m-filter"), Outcome::Filter);
        assert_eq!(outcome("m-malformed"), Outcome::Malformed);
        assert_eq!(outcome("m-midstream-error"), Outcome::MidstreamError);
        assert_eq!(outcome("m-early-error"), Outcome::EarlyError);
        assert_eq!(outcome("m-stall"), Outcome::Stall);
        assert_eq!(outcome("m-stalled"), Outcome::Answer);
        assert_eq!(outcome("m-early-errors"), Outcome::Answer);
        assert_eq!(outcome("m-hangover"), Outcome::Answer);
        assert_eq!(outcome("m-fail-200"), Outcome::Answer);
        assert_eq!(outcome("m-fail-4290"), Outcome::Answer);
    }

    #[test]
    fn noimage_marks_a_text_only_model() {
        assert!(text_only("gpt-5.4-noimage"));
        assert!(text_only("claude-noimage-fail-500"));
        assert!(!text_only("gpt-5.4-noimages"));
        assert!(!text_only("gpt-5.4"));
    }

    #[test]
    fn slow_combines_with_another_fault() {
        let plan = Plan::new(Mode::Normal, "gpt-5.4-slow-300-fail-500");
        assert_eq!(plan.delay, Some(Duration::from_millis(300)));
        assert_eq!(plan.outcome, Outcome::Fail(500));
    }

    #[test]
    fn drip_combines_with_another_fault_and_with_slow() {
        let plan = Plan::new(Mode::Normal, "gpt-5.4-drip-40-midstream-error-slow-10");
        assert_eq!(plan.drip, Some(Duration::from_millis(40)));
        assert_eq!(plan.delay, Some(Duration::from_millis(10)));
        assert_eq!(plan.outcome, Outcome::MidstreamError);
        assert_eq!(Plan::new(Mode::Normal, "m-drip-").drip, None);
        assert_eq!(Plan::new(Mode::Normal, "m-drip-5x").drip, None);
    }

    #[test]
    fn a_provider_mode_overrides_the_model_name() {
        let plan = Plan::new(Mode::Fail(503), "gpt-5.4-slow-300-drip-10-filter");
        assert_eq!(plan.delay, None);
        assert_eq!(plan.drip, None);
        assert_eq!(plan.outcome, Outcome::Fail(503));
        assert_eq!(
            Plan::new(Mode::EarlyError, "m").outcome,
            Outcome::EarlyError
        );
        assert_eq!(Plan::new(Mode::Stall, "m-fail-429").outcome, Outcome::Stall);
    }
}
