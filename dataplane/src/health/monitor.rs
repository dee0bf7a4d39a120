//! The monitor's background tasks: flushing counts, writing Retry-After marks, refreshing the
//! local snapshot, and the leader's loop (election, evaluation of each window, expiry,
//! probes). Every Redis call is bounded by a timeout; a failure keeps the last snapshot and
//! is retried on the next turn, and never reaches a request.

use super::counters::{self, Tally};
use super::history;
use super::marks::{self, RETRY, TICK};
use super::{millis, now_ms, provider_of, Health, Thresholds};
use crate::state::{AppState, WeakState};
use aig_common::health::{ClearReason, HealthEvent, MarkReason};
use aig_common::provider::ProviderId;
use redis::Script;
use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::LazyLock;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::{Interval, MissedTickBehavior};

/// How often each instance writes its counts to Redis.
const FLUSH_INTERVAL: Duration = Duration::from_secs(1);
/// How often each instance reads the marks from Redis (a mark reaches every instance within
/// this, plus a round trip).
const SYNC_INTERVAL: Duration = Duration::from_millis(250);
/// Bound on every Redis call the monitor makes.
const REDIS_TIMEOUT: Duration = Duration::from_secs(1);
/// Pause before writing marks again after a failed write.
const RETRY_WRITE_AFTER: Duration = Duration::from_millis(500);
/// Bound on one probe (request and body).
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long after a window ends its counts are all in Redis: one flush, and slack.
const GRACE_MS: u64 = 1_500;
/// How long the marks hash outlives its latest write (longer than any mark).
const MARKS_TTL_EXTRA_MS: u64 = 120_000;

/// Sent with `EVAL` inside pipelines (Redis caches it): unlike `EVALSHA` it needs no
/// `SCRIPT LOAD` first, which a Redis Cluster pipeline cannot route.
const MARK: &str = include_str!("mark.lua");
static CLEAR: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("clear.lua")));
static EXPIRE: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("expire.lua")));
static LEAD: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("lead.lua")));
static RELEASE: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("release.lua")));
static CLAIM: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("claim.lua")));

impl Thresholds {
    /// The leader lock's TTL: three ticks, within 2–10 s. An instance that dies loses the
    /// lead this long after its last renewal.
    pub fn lock_ttl(&self) -> Duration {
        (self.tick * 3).clamp(Duration::from_secs(2), Duration::from_secs(10))
    }

    /// How often the leader loop runs: every tick, and at least four times per lock TTL.
    fn leader_period(&self) -> Duration {
        self.tick.min(self.lock_ttl() / 4)
    }

    /// How long a window's counts are kept: until well after their evaluation.
    fn window_ttl_ms(&self) -> u64 {
        2 * self.tick_ms() + GRACE_MS + 30_000
    }

    fn marks_ttl_ms(&self) -> u64 {
        2 * self.tick_ms() + MARKS_TTL_EXTRA_MS
    }
}

/// Whether a window's counts mark the subject degraded, and why.
pub(super) fn verdict(tally: &Tally, thresholds: &Thresholds) -> Option<MarkReason> {
    if tally.attempts >= thresholds.min_attempts
        && tally.failures.saturating_mul(100)
            >= thresholds.failure_ratio.saturating_mul(tally.attempts)
    {
        Some(MarkReason::FailureRatio)
    } else if tally.max_streak >= thresholds.consecutive_failures {
        Some(MarkReason::ConsecutiveFailures)
    } else {
        None
    }
}

/// Waits for the next period, unless the monitor is stopped or the state is gone.
struct Ticker {
    interval: Interval,
    stop: watch::Receiver<bool>,
    weak: WeakState,
}

impl Ticker {
    fn new(state: &AppState, period: Duration) -> Self {
        let mut interval = tokio::time::interval(period);
        interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
        Self {
            interval,
            stop: state.health().stop.subscribe(),
            weak: state.downgrade(),
        }
    }

    async fn next(&mut self) -> Option<AppState> {
        if *self.stop.borrow() {
            return None;
        }
        tokio::select! {
            // A change (only ever to true) or a dropped sender both mean stop.
            _ = self.stop.changed() => return None,
            _ = self.interval.tick() => {}
        }
        self.weak.upgrade()
    }
}

pub(super) fn spawn(state: &AppState) {
    let thresholds = state.health().thresholds;

    let mut flush = Ticker::new(state, FLUSH_INTERVAL);
    tokio::spawn(async move {
        while let Some(state) = flush.next().await {
            flush_counts(&state).await;
        }
    });

    let mut sync = Ticker::new(state, SYNC_INTERVAL);
    tokio::spawn(async move {
        while let Some(state) = sync.next().await {
            refresh_marks(&state).await;
        }
    });

    let mut lead = Ticker::new(state, thresholds.leader_period());
    tokio::spawn(async move {
        let mut leading = Leading::default();
        while let Some(state) = lead.next().await {
            leader_step(&state, &mut leading).await;
        }
    });

    let wake = state.health().marks.wake();
    let mut stop = state.health().stop.subscribe();
    let weak = state.downgrade();
    tokio::spawn(async move {
        loop {
            if *stop.borrow() {
                return;
            }
            tokio::select! {
                _ = stop.changed() => return,
                () = wake.notified() => {}
            }
            let written = match weak.upgrade() {
                Some(state) => write_retry_marks(&state).await,
                None => return,
            };
            if !written {
                tokio::time::sleep(RETRY_WRITE_AFTER).await;
                wake.notify_one();
            }
        }
    });
}

/// Runs a Redis call within [`REDIS_TIMEOUT`].
async fn within<T>(call: impl Future<Output = redis::RedisResult<T>>) -> Result<T, String> {
    match tokio::time::timeout(REDIS_TIMEOUT, call).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {} ms", REDIS_TIMEOUT.as_millis())),
    }
}

impl Health {
    /// Logs a Redis failure once per outage, and the recovery, instead of every turn.
    fn note<T>(&self, what: &str, result: &Result<T, String>) {
        match result {
            Ok(_) => {
                if !self.redis_ok.swap(true, Ordering::Relaxed) {
                    tracing::info!("health monitor: Redis answers again");
                }
            }
            Err(e) => {
                if self.redis_ok.swap(false, Ordering::Relaxed) {
                    tracing::warn!(
                        "health monitor: cannot {what} in Redis ({e}); keeping the last marks \
                         and retrying"
                    );
                } else {
                    tracing::debug!("health monitor: cannot {what} in Redis ({e})");
                }
            }
        }
    }
}

/// Writes the counts gathered since the last flush, in one pipelined round trip.
async fn flush_counts(state: &AppState) {
    let health = state.health();
    let mut batch = health.counters.take();
    if batch.is_empty() {
        return;
    }
    let thresholds = health.thresholds;
    let mut pipe = redis::pipe();
    counters::write(
        &mut pipe,
        state.redis_keys(),
        &batch,
        thresholds.window_ttl_ms(),
    );
    let mut redis = state.redis();
    let result = within(pipe.query_async::<()>(&mut redis)).await;
    health.note("write the attempt counts", &result);
    if result.is_err() {
        // Counts of windows already past their evaluation would be written for nothing.
        let now = now_ms();
        let tick = thresholds.tick_ms();
        batch.retain(|window, _| window + tick + GRACE_MS > now);
        health.counters.restore(batch);
    }
}

/// Reads every mark into the local snapshot.
async fn refresh_marks(state: &AppState) {
    let health = state.health();
    let mut redis = state.redis();
    let read = within(
        redis::cmd("HGETALL")
            .arg(state.redis_keys().health_marks())
            .query_async::<HashMap<String, String>>(&mut redis),
    )
    .await;
    health.note("read the marks", &read);
    if let Ok(fields) = read {
        health.marks.replace(marks::parse(fields), now_ms());
    }
}

/// Adds a call of `mark.lua` to `pipe` (its answer: 1 when the subject is newly degraded).
#[expect(
    clippy::too_many_arguments,
    reason = "one argument per script parameter"
)]
fn add_mark(
    pipe: &mut redis::Pipeline,
    state: &AppState,
    kind: &str,
    subject: &str,
    until: u64,
    now: u64,
    event: &str,
    extend_only: bool,
) {
    let (this, other) = match kind {
        TICK => (marks::field(TICK, subject), marks::field(RETRY, subject)),
        _ => (marks::field(RETRY, subject), marks::field(TICK, subject)),
    };
    let keys = state.redis_keys();
    pipe.cmd("EVAL")
        .arg(MARK)
        .arg(2)
        .arg(keys.health_marks())
        .arg(keys.health_history(provider_of(subject)))
        .arg(this)
        .arg(other)
        .arg(until)
        .arg(now)
        .arg(event)
        .arg(history::cutoff(now))
        .arg(history::MAX_EVENTS)
        .arg(state.health().thresholds.marks_ttl_ms())
        .arg(history::KEY_TTL_MS)
        .arg(if extend_only { "1" } else { "0" });
}

/// Writes the Retry-After marks made since the last write. False when Redis failed (the
/// marks are kept for the next attempt).
async fn write_retry_marks(state: &AppState) -> bool {
    let health = state.health();
    let now = now_ms();
    let pending = health.marks.take_pending(now);
    if pending.is_empty() {
        return true;
    }
    let mut pipe = redis::pipe();
    let subjects: Vec<(&String, &u64)> = pending.iter().collect();
    for (subject, until) in &subjects {
        let event = HealthEvent::Degraded {
            at_ms: now,
            subject: (*subject).clone(),
            reason: MarkReason::RetryAfter,
            until_ms: **until,
        };
        add_mark(
            &mut pipe,
            state,
            RETRY,
            subject,
            **until,
            now,
            &history::member(&event),
            false,
        );
    }
    let mut redis = state.redis();
    let result = within(pipe.query_async::<Vec<i64>>(&mut redis)).await;
    health.note("write a Retry-After mark", &result);
    match result {
        Ok(newly) => {
            for ((subject, until), new) in subjects.iter().zip(newly) {
                if new == 1 {
                    tracing::warn!(
                        subject = %subject,
                        for_ms = until.saturating_sub(now),
                        "health: marked degraded by a 429's Retry-After"
                    );
                }
            }
            true
        }
        Err(_) => {
            health.marks.restore_pending(pending);
            false
        }
    }
}

/// The leader loop's memory between turns.
#[derive(Default)]
struct Leading {
    /// The last window this instance evaluated (or found already claimed).
    last_window: Option<u64>,
    /// Probes in flight, by provider.
    probes: HashMap<ProviderId, JoinHandle<()>>,
}

impl Leading {
    fn stand_down(&mut self) {
        self.last_window = None;
        for (_, probe) in self.probes.drain() {
            probe.abort();
        }
    }
}

impl Drop for Leading {
    fn drop(&mut self) {
        self.stand_down();
    }
}

/// One turn of the leader loop: take or keep the lock; if held, expire lapsed marks,
/// evaluate the windows completed since the last turn, and probe what is marked.
async fn leader_step(state: &AppState, leading: &mut Leading) {
    let health = state.health();
    let thresholds = health.thresholds;
    let elected = elect(state).await;
    health.note("renew the leader lock", &elected);
    let is_leader = elected == Ok(true);
    if health.leader.swap(is_leader, Ordering::Relaxed) != is_leader {
        tracing::info!(
            instance = %health.instance,
            "health monitor: {} the leader",
            if is_leader { "now" } else { "no longer" }
        );
    }
    if !is_leader {
        leading.stand_down();
        return;
    }

    let now = now_ms();
    if health.marks.any_lapsed(now) {
        expire_marks(state, now).await;
    }

    let tick = thresholds.tick_ms();
    let latest = now.saturating_sub(GRACE_MS + tick) / tick * tick;
    let first = match leading.last_window {
        None => latest,
        // After a slow turn, catch up on at most three windows.
        Some(last) => (last + tick).max(latest.saturating_sub(2 * tick)),
    };
    let mut window = first;
    while window <= latest {
        let evaluated = evaluate(state, window).await;
        health.note("evaluate a window", &evaluated);
        if evaluated.is_err() {
            break;
        }
        leading.last_window = Some(window);
        window += tick;
    }

    leading.probes.retain(|_, probe| !probe.is_finished());
    for subject in health.marks.tick_marked_providers(now_ms()) {
        let Ok(provider) = subject.parse::<ProviderId>() else {
            continue;
        };
        if leading.probes.contains_key(&provider) {
            continue;
        }
        let state = state.clone();
        let probe = tokio::spawn(async move { probe_and_settle(&state, provider).await });
        leading.probes.insert(provider, probe);
    }
}

/// Takes or renews the leader lock: true while this instance holds it.
async fn elect(state: &AppState) -> Result<bool, String> {
    let health = state.health();
    let mut call = LEAD.prepare_invoke();
    call.key(state.redis_keys().health_leader())
        .arg(&health.instance)
        .arg(millis(health.thresholds.lock_ttl()));
    let mut redis = state.redis();
    within(call.invoke_async::<i64>(&mut redis))
        .await
        .map(|held| held == 1)
}

/// Deletes the marks that ran out and records the subjects they cleared.
async fn expire_marks(state: &AppState, now: u64) {
    let keys = state.redis_keys();
    let mut call = EXPIRE.prepare_invoke();
    call.key(keys.health_marks()).arg(now);
    let mut redis = state.redis();
    let cleared = within(call.invoke_async::<Vec<String>>(&mut redis)).await;
    state.health().note("expire marks", &cleared);
    let Ok(cleared) = cleared else { return };
    if cleared.is_empty() {
        return;
    }
    let mut pipe = redis::pipe();
    for subject in &cleared {
        tracing::info!(subject = %subject, "health: mark ran out");
        let event = HealthEvent::Cleared {
            at_ms: now,
            subject: subject.clone(),
            reason: ClearReason::Expired,
        };
        history::append(&mut pipe, keys, provider_of(subject), &event, now);
    }
    let written = within(pipe.query_async::<()>(&mut redis)).await;
    state.health().note("record expired marks", &written);
}

/// Evaluates one window, once across all instances: marks the subjects over a threshold
/// for one tick and records each provider's counts in its history.
async fn evaluate(state: &AppState, window: u64) -> Result<(), String> {
    let health = state.health();
    let thresholds = health.thresholds;
    let keys = state.redis_keys();
    let mut redis = state.redis();

    let mut claim = CLAIM.prepare_invoke();
    claim
        .key(keys.health_evaluated())
        .arg(window)
        .arg(thresholds.window_ttl_ms());
    if within(claim.invoke_async::<i64>(&mut redis)).await? == 0 {
        return Ok(());
    }

    let (fields, streaks): (HashMap<String, u64>, Vec<(String, f64)>) = within(
        redis::pipe()
            .cmd("HGETALL")
            .arg(keys.health_window(window))
            .cmd("ZRANGE")
            .arg(keys.health_streaks(window))
            .arg(0)
            .arg(-1)
            .arg("WITHSCORES")
            .query_async(&mut redis),
    )
    .await?;
    let tallies = counters::parse_window(fields, streaks);
    if tallies.is_empty() {
        return Ok(());
    }

    let now = now_ms();
    let until = now + thresholds.tick_ms();
    let mut pipe = redis::pipe();
    let mut marked = Vec::new();
    for (subject, tally) in &tallies {
        if let Some(reason) = verdict(tally, &thresholds) {
            let event = HealthEvent::Degraded {
                at_ms: now,
                subject: subject.clone(),
                reason,
                until_ms: until,
            };
            let event = history::member(&event);
            add_mark(&mut pipe, state, TICK, subject, until, now, &event, false);
            marked.push((subject, reason, tally));
        }
        if !subject.contains('/') && tally.attempts > 0 {
            let event = HealthEvent::Tick {
                at_ms: now,
                window_start_ms: window,
                window_ms: thresholds.tick_ms(),
                attempts: tally.attempts,
                failures: tally.failures,
                consecutive_failures: tally.max_streak,
            };
            history::append(&mut pipe, keys, subject, &event, now);
        }
    }
    let newly: Vec<i64> = within(pipe.query_async(&mut redis)).await?;
    for ((subject, reason, tally), new) in marked.into_iter().zip(newly) {
        health.marks.set_tick(subject, until);
        if new == 1 {
            tracing::warn!(
                subject = %subject,
                ?reason,
                attempts = tally.attempts,
                failures = tally.failures,
                consecutive = tally.max_streak,
                "health: marked degraded for one tick"
            );
        }
    }
    Ok(())
}

/// What a probe said about a provider.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Probe {
    /// It listed its models.
    Healthy,
    /// A 429 or 5xx, a timeout or a connection error: still down.
    Down,
    /// Any other answer (401, 404 …) says nothing about its health.
    Inconclusive,
}

/// Lists the provider's models: a request that costs no tokens.
async fn probe(state: &AppState, provider: ProviderId) -> Probe {
    let endpoint = state.registry().get(provider);
    let adapter = endpoint.adapter;
    let request = adapter.authorize(
        state.http().get(adapter.models_url(&endpoint.base_url)),
        endpoint.api_key.as_ref(),
    );
    let exchange = async {
        let response = request.send().await.ok()?;
        let status = response.status();
        response.bytes().await.ok()?;
        Some(status)
    };
    match tokio::time::timeout(PROBE_TIMEOUT, exchange).await {
        Ok(Some(status)) if status.is_success() => Probe::Healthy,
        Ok(Some(status)) if status.as_u16() == 429 || status.is_server_error() => Probe::Down,
        Ok(Some(_)) => Probe::Inconclusive,
        Ok(None) | Err(_) => Probe::Down,
    }
}

/// Probes a marked provider: a success clears its tick mark, a failure extends it by a tick.
async fn probe_and_settle(state: &AppState, provider: ProviderId) {
    let result = probe(state, provider).await;
    let health = state.health();
    let subject = provider.slug();
    let now = now_ms();
    let mut redis = state.redis();
    match result {
        Probe::Healthy => {
            let keys = state.redis_keys();
            let event = HealthEvent::Cleared {
                at_ms: now,
                subject: subject.to_owned(),
                reason: ClearReason::Probe,
            };
            let mut call = CLEAR.prepare_invoke();
            call.key(keys.health_marks())
                .key(keys.health_history(subject))
                .arg(marks::field(TICK, subject))
                .arg(marks::field(RETRY, subject))
                .arg(now)
                .arg(history::member(&event))
                .arg(history::cutoff(now))
                .arg(history::MAX_EVENTS)
                .arg(history::KEY_TTL_MS);
            let cleared = within(call.invoke_async::<i64>(&mut redis)).await;
            health.note("clear a mark", &cleared);
            if cleared.is_ok() {
                health.marks.clear_tick(subject);
                tracing::info!(provider = %subject, "health: probe succeeded, mark cleared");
            }
        }
        Probe::Down => {
            let until = now + health.thresholds.tick_ms();
            let mut pipe = redis::pipe();
            add_mark(&mut pipe, state, TICK, subject, until, now, "", true);
            let extended = within(pipe.query_async::<Vec<i64>>(&mut redis)).await;
            health.note("extend a mark", &extended);
            if extended.is_ok() {
                health.marks.set_tick(subject, until);
                tracing::debug!(provider = %subject, "health: probe failed, mark extended");
            }
        }
        Probe::Inconclusive => {
            tracing::debug!(provider = %subject, "health: probe inconclusive");
        }
    }
}

/// On shutdown: write what is left and give up the lead.
pub(super) async fn final_flush(state: &AppState) {
    flush_counts(state).await;
    write_retry_marks(state).await;
    let health = state.health();
    if health.leader.swap(false, Ordering::Relaxed) {
        let mut call = RELEASE.prepare_invoke();
        call.key(state.redis_keys().health_leader())
            .arg(&health.instance);
        let mut redis = state.redis();
        let released = within(call.invoke_async::<i64>(&mut redis)).await;
        health.note("release the leader lock", &released);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn thresholds() -> Thresholds {
        Thresholds {
            tick: Duration::from_secs(30),
            min_attempts: 20,
            failure_ratio: 50,
            consecutive_failures: 5,
        }
    }

    fn tally(attempts: u64, failures: u64, max_streak: u64) -> Tally {
        Tally {
            attempts,
            failures,
            max_streak,
        }
    }

    #[test]
    fn a_failure_ratio_at_the_threshold_marks_only_with_enough_attempts() {
        let t = thresholds();
        assert_eq!(
            verdict(&tally(20, 10, 0), &t),
            Some(MarkReason::FailureRatio)
        );
        assert_eq!(verdict(&tally(20, 9, 0), &t), None);
        assert_eq!(verdict(&tally(19, 19, 0), &t), None);
    }

    #[test]
    fn consecutive_timeouts_or_5xx_mark_whatever_the_attempts() {
        let t = thresholds();
        assert_eq!(
            verdict(&tally(5, 5, 5), &t),
            Some(MarkReason::ConsecutiveFailures)
        );
        assert_eq!(verdict(&tally(5, 5, 4), &t), None);
    }

    #[test]
    fn the_lock_outlives_several_leader_turns() {
        let mut t = thresholds();
        assert_eq!(t.lock_ttl(), Duration::from_secs(10));
        assert_eq!(t.leader_period(), Duration::from_millis(2500));
        t.tick = Duration::from_millis(200);
        assert_eq!(t.lock_ttl(), Duration::from_secs(2));
        assert_eq!(t.leader_period(), Duration::from_millis(200));
    }
}
