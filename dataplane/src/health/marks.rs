//! The marks: a local snapshot the cascade reads (no Redis on the request path), replaced by
//! the Redis hash every 250 ms, plus the Retry-After marks this instance made itself.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use tokio::sync::Notify;

/// Field prefix of the marks the leader's evaluation makes.
pub(super) const TICK: &str = "tick";
/// Field prefix of the marks a 429's `Retry-After` makes.
pub(super) const RETRY: &str = "retry";
/// A Retry-After mark that moves the end of an existing one by less than this is not
/// written again: under a storm of 429s most of them change nothing.
const RETRY_SLACK_MS: u64 = 100;

/// A subject's marks, as epoch ms until which each holds (0: none).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Mark {
    pub tick_until: u64,
    pub retry_until: u64,
}

impl Mark {
    pub(super) fn until(&self) -> u64 {
        self.tick_until.max(self.retry_until)
    }

    fn active(&self, now: u64) -> bool {
        self.until() > now
    }
}

/// The marks this instance knows of.
#[derive(Default)]
pub(super) struct Marks {
    /// subject → marks, as last read from Redis plus what this instance marked since.
    snapshot: RwLock<HashMap<String, Mark>>,
    /// Retry-After marks made here, merged into every refresh until they run out, so a
    /// refresh that overtakes their write (or a Redis outage) cannot drop them.
    own: Mutex<HashMap<String, u64>>,
    /// Retry-After marks made here and not yet written to Redis.
    pending: Mutex<HashMap<String, u64>>,
    /// Wakes the task that writes `pending`.
    wake: Arc<Notify>,
}

impl Marks {
    /// Runs `f` with a predicate "is this subject degraded at `now`", under one read lock.
    pub(super) fn check<T>(&self, now: u64, f: impl FnOnce(&dyn Fn(&str) -> bool) -> T) -> T {
        let snapshot = self.snapshot.read().unwrap_or_else(PoisonError::into_inner);
        if snapshot.is_empty() {
            return f(&|_| false);
        }
        f(&|subject| snapshot.get(subject).is_some_and(|m| m.active(now)))
    }

    /// Subjects degraded at `now`, sorted.
    pub(super) fn active(&self, now: u64) -> Vec<String> {
        let snapshot = self.snapshot.read().unwrap_or_else(PoisonError::into_inner);
        let mut out: Vec<String> = snapshot
            .iter()
            .filter(|(_, m)| m.active(now))
            .map(|(s, _)| s.clone())
            .collect();
        out.sort();
        out
    }

    /// Providers (not models) with a tick mark at `now`: what the leader probes.
    pub(super) fn tick_marked_providers(&self, now: u64) -> Vec<String> {
        let snapshot = self.snapshot.read().unwrap_or_else(PoisonError::into_inner);
        snapshot
            .iter()
            .filter(|(s, m)| !s.contains('/') && m.tick_until > now)
            .map(|(s, _)| s.clone())
            .collect()
    }

    /// Whether any mark has run out but is still in the snapshot (and so in Redis).
    pub(super) fn any_lapsed(&self, now: u64) -> bool {
        let snapshot = self.snapshot.read().unwrap_or_else(PoisonError::into_inner);
        snapshot.values().any(|m| !m.active(now))
    }

    /// Marks `subject` degraded until `until` for a 429's `Retry-After`: in the snapshot at
    /// once, and queued for the writer.
    pub(super) fn mark_retry(&self, subject: &str, until: u64, now: u64) {
        {
            let mut own = lock(&self.own);
            let current = own.get(subject).copied().unwrap_or(0);
            if current > now && current + RETRY_SLACK_MS >= until {
                return;
            }
            own.retain(|_, u| *u > now);
            own.insert(subject.to_owned(), until);
        }
        lock(&self.pending)
            .entry(subject.to_owned())
            .and_modify(|u| *u = (*u).max(until))
            .or_insert(until);
        self.update(subject, |m| m.retry_until = m.retry_until.max(until));
        self.wake.notify_one();
    }

    /// The leader's own tick mark, in its snapshot before the next refresh.
    pub(super) fn set_tick(&self, subject: &str, until: u64) {
        self.update(subject, |m| m.tick_until = m.tick_until.max(until));
    }

    /// The leader's probe cleared `subject`'s tick mark.
    pub(super) fn clear_tick(&self, subject: &str) {
        self.update(subject, |m| m.tick_until = 0);
    }

    fn update(&self, subject: &str, f: impl FnOnce(&mut Mark)) {
        let mut snapshot = self
            .snapshot
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        f(snapshot.entry(subject.to_owned()).or_default());
    }

    /// Replaces the snapshot with the marks read from Redis, keeping own marks not there yet.
    pub(super) fn replace(&self, mut from_redis: HashMap<String, Mark>, now: u64) {
        {
            let mut own = lock(&self.own);
            own.retain(|_, until| *until > now);
            for (subject, until) in own.iter() {
                let mark = from_redis.entry(subject.clone()).or_default();
                mark.retry_until = mark.retry_until.max(*until);
            }
        }
        *self
            .snapshot
            .write()
            .unwrap_or_else(PoisonError::into_inner) = from_redis;
    }

    /// Takes the Retry-After marks still to be written (dropping any that ran out).
    pub(super) fn take_pending(&self, now: u64) -> HashMap<String, u64> {
        let mut pending = std::mem::take(&mut *lock(&self.pending));
        pending.retain(|_, until| *until > now);
        pending
    }

    /// Puts back marks whose write failed, for the next attempt.
    pub(super) fn restore_pending(&self, marks: HashMap<String, u64>) {
        let mut pending = lock(&self.pending);
        for (subject, until) in marks {
            let entry = pending.entry(subject).or_insert(until);
            *entry = (*entry).max(until);
        }
    }

    pub(super) fn wake(&self) -> Arc<Notify> {
        self.wake.clone()
    }
}

/// The marks hash (`<kind>:<subject>` → until) as snapshot entries; unknown fields and
/// values that are not epoch milliseconds are skipped.
pub(super) fn parse(fields: HashMap<String, String>) -> HashMap<String, Mark> {
    let mut out: HashMap<String, Mark> = HashMap::new();
    for (field, until) in fields {
        let (Some((kind, subject)), Ok(until)) = (field.split_once(':'), until.parse::<u64>())
        else {
            continue;
        };
        match kind {
            TICK => out.entry(subject.to_owned()).or_default().tick_until = until,
            RETRY => out.entry(subject.to_owned()).or_default().retry_until = until,
            _ => {}
        }
    }
    out
}

/// The marks-hash field of a subject's mark of one kind.
pub(super) fn field(kind: &str, subject: &str) -> String {
    format!("{kind}:{subject}")
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Each update is a single map operation, so a panic elsewhere cannot leave them torn.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn degraded(marks: &Marks, now: u64, subject: &str) -> bool {
        marks.check(now, |is| is(subject))
    }

    #[test]
    fn a_retry_mark_holds_locally_until_it_runs_out_even_across_a_refresh() {
        let marks = Marks::default();
        marks.mark_retry("anthropic", 2_000, 1_000);

        assert!(degraded(&marks, 1_500, "anthropic"));
        marks.replace(HashMap::new(), 1_500);
        assert!(degraded(&marks, 1_999, "anthropic"));
        assert!(!degraded(&marks, 2_000, "anthropic"));
        assert!(!degraded(&marks, 1_500, "openai"));
        assert_eq!(
            marks.take_pending(1_500),
            HashMap::from([("anthropic".to_owned(), 2_000)])
        );
        assert!(marks.take_pending(1_500).is_empty());
    }

    #[test]
    fn a_retry_mark_that_barely_moves_is_not_queued_again() {
        let marks = Marks::default();
        marks.mark_retry("anthropic", 2_000, 1_000);
        let _ = marks.take_pending(1_000);
        marks.mark_retry("anthropic", 2_050, 1_050);
        assert!(marks.take_pending(1_050).is_empty());
        marks.mark_retry("anthropic", 3_000, 1_100);
        assert_eq!(marks.take_pending(1_100)["anthropic"], 3_000);
    }

    #[test]
    fn the_redis_hash_parses_by_kind_and_subject() {
        let parsed = parse(fields(&[
            ("tick:openai", "10"),
            ("retry:openai", "20"),
            ("tick:openai/ft:gpt-4o:org", "30"),
            ("junk", "40"),
            ("tick:cohere", "soon"),
        ]));
        assert_eq!(
            parsed["openai"],
            Mark {
                tick_until: 10,
                retry_until: 20
            }
        );
        assert_eq!(parsed["openai/ft:gpt-4o:org"].tick_until, 30);
        assert_eq!(parsed.len(), 2);
    }

    #[test]
    fn only_providers_with_tick_marks_are_probed() {
        let marks = Marks::default();
        marks.replace(
            parse(fields(&[
                ("tick:openai", "100"),
                ("tick:cohere", "5"),
                ("retry:anthropic", "100"),
                ("tick:moonshot/kimi-k2.6", "100"),
            ])),
            10,
        );
        assert_eq!(marks.tick_marked_providers(10), vec!["openai".to_owned()]);
        assert!(marks.any_lapsed(10));
        marks.clear_tick("openai");
        assert!(marks.tick_marked_providers(10).is_empty());
    }
}
