//! The breaker that skips Redis for a moment after it failed; the connection itself
//! ([`RedisConn`], single server or Redis Cluster) is shared with the control plane.

pub use aig_common::redis_conn::{connect, RedisConn};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// After a failed Redis step, how long callers skip Redis and decide locally.
const BREAKER_OPEN_FOR: Duration = Duration::from_secs(1);

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Skips Redis for a second after a failure, so a dead or hung Redis costs one timeout per
/// second rather than one per request. When the second is up, a single caller probes
/// Redis while the others keep skipping it until the probe succeeds or fails.
#[derive(Debug, Default)]
pub struct Breaker {
    /// Unix ms until which Redis is skipped; 0 when closed.
    open_until: AtomicU64,
}

impl Breaker {
    /// Whether this caller may use Redis now (the breaker is closed, or this caller is the
    /// probe). A caller that gets `true` reports back with [`Self::success`] or
    /// [`Self::failure`].
    pub fn allow(&self) -> bool {
        let until = self.open_until.load(Ordering::Acquire);
        if until == 0 {
            return true;
        }
        let now = now_ms();
        now >= until
            && self
                .open_until
                .compare_exchange(
                    until,
                    now + open_for_ms(),
                    Ordering::AcqRel,
                    Ordering::Acquire,
                )
                .is_ok()
    }

    pub fn success(&self) {
        self.open_until.store(0, Ordering::Release);
    }

    pub fn failure(&self) {
        self.open_until
            .store(now_ms() + open_for_ms(), Ordering::Release);
    }
}

fn open_for_ms() -> u64 {
    u64::try_from(BREAKER_OPEN_FOR.as_millis()).unwrap_or(1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_open_breaker_lets_one_probe_through_once_its_time_is_up() {
        let breaker = Breaker::default();
        assert!(breaker.allow() && breaker.allow(), "closed: everyone");

        breaker.failure();
        assert!(!breaker.allow(), "open: nobody");

        breaker.open_until.store(now_ms() - 1, Ordering::Release);
        assert!(breaker.allow(), "expired: one probe");
        assert!(!breaker.allow(), "the others wait for the probe");

        breaker.success();
        assert!(breaker.allow() && breaker.allow(), "closed again");
    }
}
