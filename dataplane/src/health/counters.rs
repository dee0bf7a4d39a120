//! Attempt outcomes aggregated in memory per window and subject, swapped out once a second
//! and written to Redis in one pipelined round trip.

use crate::chain::outcome::Outcome;
use aig_common::redis_keys::RedisKeys;
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

/// Most distinct provider/model subjects held between flushes (and most failing ones whose
/// streak is followed): made-up model names cannot grow memory or Redis without bound.
/// Providers are always counted.
const MAX_MODEL_SUBJECTS: usize = 4096;

/// What an outcome says about the provider's health.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Class {
    /// It answered: a success, a content filter or a client error. Ends a streak.
    Answered,
    /// A 429: a failure, but not one of the consecutive timeouts/5xx.
    RateLimited,
    /// A 5xx, a timeout, a connection error or a malformed answer.
    Broken,
}

impl Class {
    pub(super) fn of(outcome: Outcome) -> Self {
        match outcome {
            Outcome::Status(429) => Class::RateLimited,
            Outcome::Status(s) if s >= 500 => Class::Broken,
            Outcome::Timeout | Outcome::Error => Class::Broken,
            Outcome::Status(_) | Outcome::Filter | Outcome::Degraded | Outcome::Unsupported => {
                Class::Answered
            }
        }
    }
}

/// One subject's counts in one window.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Tally {
    pub attempts: u64,
    pub failures: u64,
    /// The longest run of timeouts/5xx seen during the window (runs span windows).
    pub max_streak: u64,
}

impl Tally {
    fn merge(&mut self, other: Tally) {
        self.attempts += other.attempts;
        self.failures += other.failures;
        self.max_streak = self.max_streak.max(other.max_streak);
    }
}

/// Window start (epoch ms) → subject → counts.
pub(super) type Batch = HashMap<u64, HashMap<String, Tally>>;

#[derive(Default)]
struct Local {
    windows: Batch,
    /// Model subjects in `windows`.
    models: usize,
    /// The current run of timeouts/5xx per subject; absent when none.
    streaks: HashMap<String, u64>,
}

/// This instance's unflushed counts.
#[derive(Default)]
pub(super) struct Counters {
    local: Mutex<Local>,
}

impl Counters {
    /// Counts one attempt under each subject (its provider and its provider/model).
    pub(super) fn record(&self, window: u64, subjects: &[&str], class: Class) {
        let mut local = self.lock();
        let Local {
            windows,
            models,
            streaks,
        } = &mut *local;
        let tallies = windows.entry(window).or_default();
        for subject in subjects {
            let is_model = subject.contains('/');
            let streak = match class {
                Class::Answered => {
                    streaks.remove(*subject);
                    0
                }
                Class::RateLimited => streaks.get(*subject).copied().unwrap_or(0),
                Class::Broken => {
                    let full = streaks.len() >= MAX_MODEL_SUBJECTS;
                    match streaks.get_mut(*subject) {
                        Some(run) => {
                            *run += 1;
                            *run
                        }
                        None if is_model && full => 0,
                        None => {
                            streaks.insert((*subject).to_owned(), 1);
                            1
                        }
                    }
                }
            };
            let tally = match tallies.get_mut(*subject) {
                Some(tally) => tally,
                None if is_model && *models >= MAX_MODEL_SUBJECTS => continue,
                None => {
                    *models += usize::from(is_model);
                    tallies.entry((*subject).to_owned()).or_default()
                }
            };
            tally.attempts += 1;
            tally.failures += u64::from(class != Class::Answered);
            tally.max_streak = tally.max_streak.max(streak);
        }
    }

    /// Swaps out everything counted since the last call.
    pub(super) fn take(&self) -> Batch {
        let mut local = self.lock();
        local.models = 0;
        std::mem::take(&mut local.windows)
    }

    /// Puts back a batch that could not be written, to go with the next flush.
    pub(super) fn restore(&self, batch: Batch) {
        let mut local = self.lock();
        let Local {
            windows, models, ..
        } = &mut *local;
        for (window, tallies) in batch {
            let into = windows.entry(window).or_default();
            for (subject, tally) in tallies {
                let is_model = subject.contains('/');
                if let Some(existing) = into.get_mut(&subject) {
                    existing.merge(tally);
                } else if !is_model || *models < MAX_MODEL_SUBJECTS {
                    *models += usize::from(is_model);
                    into.insert(subject, tally);
                }
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, Local> {
        // Every update leaves the maps consistent, so a panic elsewhere cannot poison them.
        self.local.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Adds the commands that write `batch` to `pipe`: `HINCRBY` of attempts and failures into
/// each window's hash, `ZADD GT` of streaks (the longest any instance saw wins), and TTLs.
pub(super) fn write(pipe: &mut redis::Pipeline, keys: &RedisKeys, batch: &Batch, ttl_ms: u64) {
    for (window, tallies) in batch {
        if tallies.is_empty() {
            continue;
        }
        let hash = keys.health_window(*window);
        let streaks = keys.health_streaks(*window);
        let mut any_streak = false;
        for (subject, tally) in tallies {
            pipe.cmd("HINCRBY")
                .arg(&hash)
                .arg(format!("n:{subject}"))
                .arg(tally.attempts)
                .ignore();
            if tally.failures > 0 {
                pipe.cmd("HINCRBY")
                    .arg(&hash)
                    .arg(format!("f:{subject}"))
                    .arg(tally.failures)
                    .ignore();
            }
            if tally.max_streak > 0 {
                any_streak = true;
                pipe.cmd("ZADD")
                    .arg(&streaks)
                    .arg("GT")
                    .arg(tally.max_streak)
                    .arg(subject)
                    .ignore();
            }
        }
        pipe.cmd("PEXPIRE").arg(&hash).arg(ttl_ms).ignore();
        if any_streak {
            pipe.cmd("PEXPIRE").arg(&streaks).arg(ttl_ms).ignore();
        }
    }
}

/// A window as read back from Redis: its `HGETALL` and its streaks.
pub(super) fn parse_window(
    fields: HashMap<String, u64>,
    streaks: Vec<(String, f64)>,
) -> HashMap<String, Tally> {
    let mut out: HashMap<String, Tally> = HashMap::new();
    for (field, value) in fields {
        if let Some(subject) = field.strip_prefix("n:") {
            out.entry(subject.to_owned()).or_default().attempts = value;
        } else if let Some(subject) = field.strip_prefix("f:") {
            out.entry(subject.to_owned()).or_default().failures = value;
        }
    }
    for (subject, score) in streaks {
        if score.is_finite() && score > 0.0 {
            // Scores are whole run lengths written by ZADD, far below 2^53.
            let run = score as u64;
            out.entry(subject).or_default().max_streak = run;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPENAI: &str = "openai";
    const GPT: &str = "openai/gpt-5.4";

    #[test]
    fn failures_are_429_5xx_timeouts_and_connection_errors_only() {
        assert_eq!(Class::of(Outcome::Status(200)), Class::Answered);
        assert_eq!(Class::of(Outcome::Status(400)), Class::Answered);
        assert_eq!(Class::of(Outcome::Filter), Class::Answered);
        assert_eq!(Class::of(Outcome::Status(429)), Class::RateLimited);
        assert_eq!(Class::of(Outcome::Status(503)), Class::Broken);
        assert_eq!(Class::of(Outcome::Timeout), Class::Broken);
        assert_eq!(Class::of(Outcome::Error), Class::Broken);
    }

    #[test]
    fn counts_are_kept_per_window_and_subject_and_swapped_out() {
        let counters = Counters::default();
        counters.record(0, &[OPENAI, GPT], Class::Broken);
        counters.record(0, &[OPENAI, GPT], Class::Answered);
        counters.record(0, &[OPENAI], Class::RateLimited);
        counters.record(100, &[OPENAI], Class::Answered);

        let batch = counters.take();

        assert_eq!(
            batch[&0][OPENAI],
            Tally {
                attempts: 3,
                failures: 2,
                max_streak: 1
            }
        );
        assert_eq!(batch[&0][GPT].attempts, 2);
        assert_eq!(batch[&100][OPENAI].attempts, 1);
        assert!(counters.take().is_empty());
    }

    #[test]
    fn a_streak_of_timeouts_and_5xx_spans_flushes_and_a_429_does_not_break_it() {
        let counters = Counters::default();
        counters.record(0, &[OPENAI], Class::Broken);
        counters.record(0, &[OPENAI], Class::Broken);
        let _ = counters.take();
        counters.record(10, &[OPENAI], Class::RateLimited);
        counters.record(10, &[OPENAI], Class::Broken);
        assert_eq!(counters.take()[&10][OPENAI].max_streak, 3);

        counters.record(20, &[OPENAI], Class::Answered);
        counters.record(20, &[OPENAI], Class::Broken);
        assert_eq!(counters.take()[&20][OPENAI].max_streak, 1);
    }

    #[test]
    fn model_subjects_are_capped_but_providers_always_count() {
        let counters = Counters::default();
        for i in 0..MAX_MODEL_SUBJECTS + 10 {
            counters.record(0, &[OPENAI, &format!("openai/m{i}")], Class::Answered);
        }
        let batch = counters.take();
        assert_eq!(batch[&0].len(), MAX_MODEL_SUBJECTS + 1);
        assert_eq!(batch[&0][OPENAI].attempts, (MAX_MODEL_SUBJECTS + 10) as u64);
    }

    #[test]
    fn a_restored_batch_merges_with_new_counts() {
        let counters = Counters::default();
        counters.record(0, &[OPENAI], Class::Broken);
        let batch = counters.take();
        counters.record(0, &[OPENAI], Class::Broken);
        counters.restore(batch);
        assert_eq!(
            counters.take()[&0][OPENAI],
            Tally {
                attempts: 2,
                failures: 2,
                max_streak: 2
            }
        );
    }

    #[test]
    fn a_window_reads_back_from_its_hash_and_streaks() {
        let fields = HashMap::from([
            ("n:openai".to_owned(), 7),
            ("f:openai".to_owned(), 3),
            ("n:openai/gpt-5.4".to_owned(), 2),
        ]);
        let window = parse_window(fields, vec![("openai".into(), 4.0)]);
        assert_eq!(
            window["openai"],
            Tally {
                attempts: 7,
                failures: 3,
                max_streak: 4
            }
        );
        assert_eq!(window["openai/gpt-5.4"].failures, 0);
    }
}
