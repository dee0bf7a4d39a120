//! The provider health monitor (SPEC §5): every attempt's outcome counted in memory and
//! flushed to Redis once a second, one elected instance evaluating each window and probing
//! what it marked, and a local snapshot of the marks that the cascade reads without Redis.
//!
//! Subjects are a provider (`openai`) or a provider/model (`openai/gpt-5.4`, the model as
//! the provider knows it, i.e. after catalog aliases). A subject is degraded while it has a
//! mark in the future: a `tick` mark from the leader's evaluation (one tick long, extended
//! while the provider's probe still fails, cleared early when it succeeds) or a `retry`
//! mark from a 429's `Retry-After` (written at once by the instance that saw it, never
//! cleared early: the provider said when to come back).

mod counters;
pub mod history;
mod marks;
mod monitor;

use crate::chain::outcome::Outcome;
use crate::config::Config;
use crate::state::AppState;
use aig_common::catalog::ResolvedModel;
use aig_common::provider::ProviderId;
use counters::{Class, Counters};
use marks::Marks;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::watch;

/// What marks a subject degraded, from the configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Thresholds {
    /// `AIG_HEALTH_TICK_MS`: window length, evaluation period and mark length.
    pub tick: Duration,
    /// `AIG_HEALTH_MIN_ATTEMPTS`.
    pub min_attempts: u64,
    /// `AIG_HEALTH_FAILURE_RATIO`, in percent.
    pub failure_ratio: u64,
    /// `AIG_HEALTH_CONSECUTIVE_FAILURES`.
    pub consecutive_failures: u64,
}

impl Thresholds {
    pub fn from_config(config: &Config) -> Self {
        Self {
            tick: config.health_tick,
            min_attempts: config.health_min_attempts,
            failure_ratio: config.health_failure_ratio,
            consecutive_failures: config.health_consecutive_failures,
        }
    }

    fn tick_ms(&self) -> u64 {
        millis(self.tick).max(1)
    }
}

/// This instance's side of the monitor; lives in [`AppState`].
pub struct Health {
    thresholds: Thresholds,
    /// This instance's id, the value of the leader lock while it leads.
    instance: String,
    /// Outcomes not yet flushed.
    counters: Counters,
    /// The local snapshot of every mark.
    marks: Marks,
    /// Whether this instance held the leader lock at its last election step.
    leader: AtomicBool,
    /// Whether the monitor's last Redis call succeeded (failures are logged once per outage).
    redis_ok: AtomicBool,
    /// Set to stop the background tasks.
    stop: watch::Sender<bool>,
}

impl Health {
    pub fn new(config: &Config) -> Self {
        Self {
            thresholds: Thresholds::from_config(config),
            instance: uuid::Uuid::new_v4().simple().to_string(),
            counters: Counters::default(),
            marks: Marks::default(),
            leader: AtomicBool::new(false),
            redis_ok: AtomicBool::new(true),
            stop: watch::Sender::new(false),
        }
    }

    pub fn thresholds(&self) -> &Thresholds {
        &self.thresholds
    }

    /// Counts one real attempt; a 429 with `Retry-After` also marks its provider degraded
    /// until then, here at once and in Redis right after (off the request path).
    pub fn record(&self, model: &ResolvedModel, outcome: Outcome, retry_after: Option<Duration>) {
        let now = now_ms();
        let tick = self.thresholds.tick_ms();
        let window = now - now % tick;
        let model_subject = model_subject(model);
        self.counters.record(
            window,
            &[model.provider.slug(), &model_subject],
            Class::of(outcome),
        );
        if let (Outcome::Status(429), Some(after)) = (outcome, retry_after) {
            if !after.is_zero() {
                self.marks
                    .mark_retry(model.provider.slug(), now + millis(after), now);
            }
        }
    }

    /// For each entry, whether its provider or provider/model is degraded now.
    pub fn degraded(&self, entries: &[ResolvedModel]) -> Vec<bool> {
        let now = now_ms();
        self.marks.check(now, |is_marked| {
            entries
                .iter()
                .map(|m| is_marked(m.provider.slug()) || is_marked(&model_subject(m)))
                .collect()
        })
    }

    /// Every provider and whether it (the provider itself, not one of its models) is
    /// degraded now.
    pub fn providers(&self) -> Vec<(ProviderId, bool)> {
        let now = now_ms();
        self.marks.check(now, |is_marked| {
            ProviderId::ALL
                .into_iter()
                .map(|p| (p, is_marked(p.slug())))
                .collect()
        })
    }

    /// Subjects (providers and provider/models) degraded now, sorted.
    pub fn degraded_subjects(&self) -> Vec<String> {
        self.marks.active(now_ms())
    }

    /// Whether this instance leads the monitor (held the lock at its last election step).
    pub fn is_leader(&self) -> bool {
        self.leader.load(Ordering::Relaxed)
    }

    pub fn instance_id(&self) -> &str {
        &self.instance
    }

    /// Stops the background tasks at once, as if the process died: nothing is flushed and
    /// the leader lock is left to expire.
    pub fn stop(&self) {
        self.stop.send_replace(true);
    }

    /// Stops the background tasks, writes what is left (counts, marks) and gives up the
    /// leader lock so another instance takes over without waiting for it to expire.
    pub async fn shutdown(&self, state: &AppState) {
        self.stop();
        monitor::final_flush(state).await;
    }
}

/// Starts the monitor's background tasks. They hold the state weakly and end when it is
/// dropped or on [`Health::stop`] / [`Health::shutdown`].
pub fn spawn(state: &AppState) {
    monitor::spawn(state);
}

/// `provider/model` as the provider knows the model.
pub fn model_subject(model: &ResolvedModel) -> String {
    format!("{}/{}", model.provider, model.upstream)
}

/// The provider part of a subject.
fn provider_of(subject: &str) -> &str {
    subject.split('/').next().unwrap_or(subject)
}

/// Epoch milliseconds: the unit of windows and marks in Redis.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
