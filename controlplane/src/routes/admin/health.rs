//! `/admin/health`: each provider's health as the data plane's monitor keeps it in Redis —
//! degraded now or not (provider and provider/model marks), the counts of its last windows,
//! a 24-hour timeline of degraded periods and the latest state changes.

use super::PlatformAdmin;
use crate::auth::csrf;
use crate::charts::timeline::{self, Row, Span};
use crate::charts::Svg;
use crate::error::Error;
use crate::routes::pages::{render, with_cookie, Chrome, PageError};
use crate::state::AppState;
use crate::view;
use aig_common::catalog::Catalog;
use aig_common::health::{ClearReason, HealthEvent, MarkReason, HISTORY_RETENTION_MS};
use aig_common::provider::ProviderId;
use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, HashMap};
use std::sync::LazyLock;

/// State changes the events table shows.
const EVENTS_SHOWN: usize = 50;

/// The providers the catalog serves models from, in [`ProviderId::ALL`]'s order.
static CATALOG_PROVIDERS: LazyLock<Vec<ProviderId>> = LazyLock::new(|| {
    let catalog = Catalog::builtin().ok();
    ProviderId::ALL
        .into_iter()
        .filter(|p| {
            catalog
                .as_ref()
                .is_none_or(|c| c.models().iter().any(|m| m.provider == *p))
        })
        .collect()
});

/// A subject degraded now.
pub struct MarkView {
    pub subject: String,
    pub until: String,
    pub reason: String,
}

/// One provider's line of the page.
pub struct ProviderView {
    pub slug: String,
    pub degraded: bool,
    /// `until HH:MM:SS UTC (reason)` when the provider itself is degraded.
    pub detail: String,
    /// Its models degraded now (not the provider as a whole).
    pub models: Vec<MarkView>,
    /// The last evaluated window's counts, if any.
    pub last_window: String,
    /// The window being counted now, if readable.
    pub current_window: String,
}

/// A state change, formatted.
pub struct EventView {
    pub when: String,
    pub subject: String,
    pub degraded: bool,
    pub what: String,
}

#[derive(Template)]
#[template(path = "admin_health.html")]
struct HealthPage {
    chrome: Chrome,
    providers: Vec<ProviderView>,
    chart: Svg,
    events: Vec<EventView>,
    now: String,
    error: Option<&'static str>,
}

/// Epoch ms as `HH:MM:SS`.
fn clock(ms: u64) -> String {
    DateTime::<Utc>::from_timestamp_millis(i64::try_from(ms).unwrap_or(0))
        .map_or_else(String::new, |t| t.format("%H:%M:%S").to_string())
}

/// Epoch ms as `2026-11-22 14:05:09`.
fn moment(ms: u64) -> String {
    DateTime::<Utc>::from_timestamp_millis(i64::try_from(ms).unwrap_or(0))
        .map_or_else(String::new, view::when_precise)
}

pub fn mark_reason(reason: MarkReason) -> &'static str {
    match reason {
        MarkReason::FailureRatio => "failure ratio",
        MarkReason::ConsecutiveFailures => "consecutive failures",
        MarkReason::RetryAfter => "Retry-After",
    }
}

fn clear_reason(reason: ClearReason) -> &'static str {
    match reason {
        ClearReason::Probe => "probe succeeded",
        ClearReason::Expired => "mark ran out",
    }
}

/// What Redis holds about provider health.
struct Snapshot {
    /// subject → epoch ms until which it is marked (the later of its marks).
    marks: HashMap<String, u64>,
    /// provider → its events of the last 24 h, oldest first.
    history: HashMap<ProviderId, Vec<HealthEvent>>,
    /// provider → (attempts, failures) counted so far in the window being counted now.
    current: HashMap<ProviderId, (u64, u64)>,
}

/// Reads the marks hash and every provider's history (as the data plane's monitor writes
/// them), then the counts of each provider's current window.
async fn read_snapshot(state: &AppState, now: u64) -> Result<Snapshot, Error> {
    let keys = state.redis_keys();
    let mut redis = state.redis();
    let since = now.saturating_sub(HISTORY_RETENTION_MS);
    let mut pipe = redis::pipe();
    pipe.cmd("HGETALL").arg(keys.health_marks());
    for provider in ProviderId::ALL {
        pipe.cmd("ZRANGEBYSCORE")
            .arg(keys.health_history(provider.slug()))
            .arg(since)
            .arg("+inf");
    }
    let (fields, members): (HashMap<String, String>, Vec<Vec<String>>) = {
        let mut all: Vec<redis::Value> = pipe.query_async(&mut redis).await?;
        let rest = all.split_off(1);
        let fields = redis::from_redis_value(&all.pop().unwrap_or(redis::Value::Nil))?;
        let members = rest
            .iter()
            .map(redis::from_redis_value)
            .collect::<redis::RedisResult<Vec<Vec<String>>>>()?;
        (fields, members)
    };
    let mut marks: HashMap<String, u64> = HashMap::new();
    for (field, until) in fields {
        let (Some((_kind, subject)), Ok(until)) = (field.split_once(':'), until.parse::<u64>())
        else {
            continue;
        };
        let entry = marks.entry(subject.to_owned()).or_default();
        *entry = (*entry).max(until);
    }
    let history: HashMap<ProviderId, Vec<HealthEvent>> = ProviderId::ALL
        .into_iter()
        .zip(members)
        .map(|(p, members)| {
            let events = members
                .iter()
                .filter_map(|m| serde_json::from_str(m).ok())
                .collect();
            (p, events)
        })
        .collect();

    // The window being counted now, with the length of the last evaluated one.
    let mut current = HashMap::new();
    let mut pipe = redis::pipe();
    let mut asked = Vec::new();
    for (provider, events) in &history {
        let Some(window_ms) = events.iter().rev().find_map(|e| match e {
            HealthEvent::Tick { window_ms, .. } => Some(*window_ms),
            _ => None,
        }) else {
            continue;
        };
        let start = now - now % window_ms.max(1);
        pipe.cmd("HMGET")
            .arg(keys.health_window(start))
            .arg(format!("n:{}", provider.slug()))
            .arg(format!("f:{}", provider.slug()));
        asked.push(*provider);
    }
    if !asked.is_empty() {
        let counts: Vec<(Option<u64>, Option<u64>)> = pipe.query_async(&mut redis).await?;
        for (provider, (n, f)) in asked.into_iter().zip(counts) {
            current.insert(provider, (n.unwrap_or(0), f.unwrap_or(0)));
        }
    }
    Ok(Snapshot {
        marks,
        history,
        current,
    })
}

/// The reason of the subject's latest `Degraded` event, if the history has one.
fn latest_reason(events: &[HealthEvent], subject: &str) -> Option<MarkReason> {
    events.iter().rev().find_map(|e| match e {
        HealthEvent::Degraded {
            subject: s, reason, ..
        } if s == subject => Some(*reason),
        _ => None,
    })
}

/// The provider's degraded periods (its own and its models') within the last 24 h.
fn spans(events: &[HealthEvent], marks: &HashMap<String, u64>, now: u64, from: u64) -> Vec<Span> {
    let mut open: BTreeMap<String, (u64, u64, MarkReason)> = BTreeMap::new();
    let mut out = Vec::new();
    let title = |subject: &str, reason: MarkReason, start: u64, end: Option<u64>| match end {
        Some(end) => format!(
            "{subject} degraded ({}) {} to {} UTC",
            mark_reason(reason),
            clock(start),
            clock(end)
        ),
        None => format!(
            "{subject} degraded ({}) since {} UTC",
            mark_reason(reason),
            clock(start)
        ),
    };
    for event in events {
        match event {
            HealthEvent::Degraded {
                at_ms,
                subject,
                reason,
                until_ms,
            } => {
                open.entry(subject.clone())
                    .or_insert((*at_ms, *until_ms, *reason));
            }
            HealthEvent::Cleared { at_ms, subject, .. } => {
                if let Some((start, _, reason)) = open.remove(subject) {
                    out.push(Span {
                        start_ms: start,
                        end_ms: *at_ms,
                        title: title(subject, reason, start, Some(*at_ms)),
                    });
                }
            }
            HealthEvent::Tick { .. } => {}
        }
    }
    for (subject, (start, until, reason)) in open {
        let marked = marks.get(&subject).is_some_and(|u| *u > now);
        let (end, end_text) = if marked {
            (now, None)
        } else {
            let end = until.clamp(start, now);
            (end, Some(end))
        };
        out.push(Span {
            start_ms: start.max(from),
            end_ms: end,
            title: title(&subject, reason, start, end_text),
        });
    }
    out
}

/// `GET /admin/health`.
pub async fn page(
    State(state): State<AppState>,
    PlatformAdmin(who): PlatformAdmin,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let (token, set) = csrf::token(&state, &headers);
    let now = u64::try_from(Utc::now().timestamp_millis()).unwrap_or(0);
    let from = now.saturating_sub(HISTORY_RETENTION_MS);
    let (snapshot, error) = match read_snapshot(&state, now).await {
        Ok(s) => (s, None),
        Err(e) => {
            tracing::warn!("could not read provider health from Redis: {e}");
            let empty = Snapshot {
                marks: HashMap::new(),
                history: HashMap::new(),
                current: HashMap::new(),
            };
            (
                empty,
                Some("Redis could not be read: the state below is unknown."),
            )
        }
    };

    let shown: Vec<ProviderId> = ProviderId::ALL
        .into_iter()
        .filter(|p| {
            CATALOG_PROVIDERS.contains(p)
                || snapshot.history.get(p).is_some_and(|h| !h.is_empty())
                || snapshot
                    .marks
                    .keys()
                    .any(|s| s.split('/').next() == Some(p.slug()))
        })
        .collect();

    let no_events = Vec::new();
    let mut providers = Vec::new();
    let mut rows = Vec::new();
    let mut events = Vec::new();
    for provider in shown {
        let slug = provider.slug();
        let history = snapshot.history.get(&provider).unwrap_or(&no_events);
        let reason_of =
            |subject: &str| latest_reason(history, subject).map_or("marked", mark_reason);
        let until = snapshot.marks.get(slug).copied().filter(|u| *u > now);
        let mut models: Vec<MarkView> = snapshot
            .marks
            .iter()
            .filter(|(s, u)| **u > now && s.split_once('/').is_some_and(|(p, _)| p == slug))
            .map(|(s, u)| MarkView {
                subject: s.clone(),
                until: clock(*u),
                reason: reason_of(s).to_owned(),
            })
            .collect();
        models.sort_by(|a, b| a.subject.cmp(&b.subject));
        let last_window = history
            .iter()
            .rev()
            .find_map(|e| match e {
                HealthEvent::Tick {
                    window_start_ms,
                    window_ms,
                    attempts,
                    failures,
                    ..
                } => Some(format!(
                    "{} attempts, {} failed ({}) in {}–{}",
                    view::count(i64::try_from(*attempts).unwrap_or(i64::MAX)),
                    view::count(i64::try_from(*failures).unwrap_or(i64::MAX)),
                    view::percent(
                        i64::try_from(*failures).unwrap_or(0),
                        i64::try_from(*attempts).unwrap_or(0)
                    ),
                    clock(*window_start_ms),
                    clock(window_start_ms + window_ms)
                )),
                _ => None,
            })
            .unwrap_or_else(|| "no window evaluated yet".to_owned());
        let current_window = snapshot.current.get(&provider).map_or_else(
            || "–".to_owned(),
            |(n, f)| {
                format!(
                    "{} attempts, {} failed so far",
                    view::count(i64::try_from(*n).unwrap_or(i64::MAX)),
                    view::count(i64::try_from(*f).unwrap_or(i64::MAX))
                )
            },
        );
        providers.push(ProviderView {
            slug: slug.to_owned(),
            degraded: until.is_some(),
            detail: until.map_or_else(String::new, |u| {
                format!("until {} UTC ({})", clock(u), reason_of(slug))
            }),
            models,
            last_window,
            current_window,
        });
        rows.push(Row {
            label: slug.to_owned(),
            spans: spans(history, &snapshot.marks, now, from),
        });
        for event in history {
            match event {
                HealthEvent::Degraded {
                    at_ms,
                    subject,
                    reason,
                    until_ms,
                } => events.push((
                    *at_ms,
                    EventView {
                        when: moment(*at_ms),
                        subject: subject.clone(),
                        degraded: true,
                        what: format!(
                            "degraded ({}) until {} UTC",
                            mark_reason(*reason),
                            clock(*until_ms)
                        ),
                    },
                )),
                HealthEvent::Cleared {
                    at_ms,
                    subject,
                    reason,
                } => events.push((
                    *at_ms,
                    EventView {
                        when: moment(*at_ms),
                        subject: subject.clone(),
                        degraded: false,
                        what: format!("healthy again ({})", clear_reason(*reason)),
                    },
                )),
                HealthEvent::Tick { .. } => {}
            }
        }
    }
    events.sort_by_key(|e| std::cmp::Reverse(e.0));
    let events = events
        .into_iter()
        .take(EVENTS_SHOWN)
        .map(|(_, e)| e)
        .collect();
    let chart = timeline::timeline(
        "Degraded periods per provider, last 24 hours",
        &rows,
        from,
        now,
    );
    let template = HealthPage {
        chrome: Chrome::signed_in(&who, &token, "admin"),
        providers,
        chart,
        events,
        now: moment(now),
        error,
    };
    Ok(with_cookie(render(&template, StatusCode::OK, &[]), set))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cleared_mark_is_one_span_and_an_open_one_runs_to_now() {
        // Arrange
        let events = vec![
            HealthEvent::Degraded {
                at_ms: 1_000,
                subject: "openai".into(),
                reason: MarkReason::FailureRatio,
                until_ms: 31_000,
            },
            HealthEvent::Cleared {
                at_ms: 5_000,
                subject: "openai".into(),
                reason: ClearReason::Probe,
            },
            HealthEvent::Degraded {
                at_ms: 8_000,
                subject: "openai/gpt-5.4".into(),
                reason: MarkReason::ConsecutiveFailures,
                until_ms: 9_000,
            },
        ];
        let marks = HashMap::from([("openai/gpt-5.4".to_owned(), 20_000)]);

        // Act
        let spans = spans(&events, &marks, 10_000, 0);

        // Assert
        assert_eq!(spans.len(), 2);
        assert_eq!((spans[0].start_ms, spans[0].end_ms), (1_000, 5_000));
        assert!(spans[0].title.contains("failure ratio"));
        assert_eq!((spans[1].start_ms, spans[1].end_ms), (8_000, 10_000));
        assert!(spans[1].title.contains("since"), "{}", spans[1].title);
    }
}
