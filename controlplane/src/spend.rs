//! Month-to-date spend as the management API reports it: the data plane's live Redis
//! counters (what budgets are enforced against), or — while Redis is away — the ingested
//! rollups, which lag them by at most the events not yet ingested.

use crate::db;
use crate::error::Error;
use crate::state::AppState;
use aig_common::budget::{utc_month, ALL_TAGS, MICROS_PER_CENT};
use chrono::{Datelike, NaiveDate, Utc};
use uuid::Uuid;

/// The current UTC calendar month.
#[derive(Clone, Debug)]
pub struct Month {
    /// `YYYY-MM`, as the data plane names its spend hashes.
    pub label: String,
    pub first_day: NaiveDate,
    pub today: NaiveDate,
}

impl Month {
    pub fn current() -> Self {
        let now = Utc::now();
        let today = now.date_naive();
        let ms = u64::try_from(now.timestamp_millis()).unwrap_or(0);
        Self {
            label: utc_month(ms),
            first_day: today.with_day(1).unwrap_or(today),
            today,
        }
    }
}

/// Micro-USD spent this month under each of `tags` (`*` for the tenant's total).
pub async fn month_to_date(
    state: &AppState,
    tenant_id: Uuid,
    month: &Month,
    tags: &[&str],
) -> Result<Vec<i64>, Error> {
    if tags.is_empty() {
        return Ok(Vec::new());
    }
    let key = state
        .redis_keys()
        .spend(&tenant_id.to_string(), &month.label);
    let mut redis = state.redis();
    let live: redis::RedisResult<Vec<Option<i64>>> = redis::cmd("HMGET")
        .arg(&key)
        .arg(tags)
        .query_async(&mut redis)
        .await;
    match live {
        Ok(values) => Ok(values.into_iter().map(|v| v.unwrap_or(0)).collect()),
        Err(e) => {
            tracing::warn!(tenant = %tenant_id, "live spend unavailable, using rollups: {e}");
            let mut out = Vec::with_capacity(tags.len());
            for tag in tags {
                let tag = (*tag != ALL_TAGS).then_some(*tag);
                out.push(
                    db::usage_daily::spend(
                        state.db(),
                        tenant_id,
                        month.first_day,
                        month.today,
                        tag,
                    )
                    .await?,
                );
            }
            Ok(out)
        }
    }
}

/// Whole cents, rounded up: a cent started is a cent spent.
pub fn cents_ceil(micros: i64) -> i64 {
    let per_cent = i64::try_from(MICROS_PER_CENT).unwrap_or(10_000);
    micros.div_euclid(per_cent) + i64::from(micros.rem_euclid(per_cent) != 0)
}

/// Whole cents, rounded down: what a balance can still pay in full.
pub fn cents_floor(micros: i64) -> i64 {
    micros.div_euclid(i64::try_from(MICROS_PER_CENT).unwrap_or(10_000))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spend_rounds_up_and_balances_round_down() {
        assert_eq!(cents_ceil(0), 0);
        assert_eq!(cents_ceil(1), 1);
        assert_eq!(cents_ceil(10_000), 1);
        assert_eq!(cents_ceil(10_001), 2);
        assert_eq!(cents_floor(19_999), 1);
        assert_eq!(cents_floor(-1), -1);
    }
}
