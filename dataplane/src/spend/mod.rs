//! Spend control: before dispatch one atomic Redis step checks the tenant's status, prepaid
//! balance and monthly caps and reserves an estimate; after the answer one atomic step
//! settles the actual cost, releases the reservation and appends the usage event. While
//! Redis is unreachable, decisions use the last known counters plus local spend, and
//! settlements are spooled to a local file and replayed.

mod local;
mod spool;

use crate::error::Error;
use crate::state::AppState;
use aig_common::budget::{utc_month, MICROS_PER_CENT};
use aig_common::catalog::{Prices, TokenUsage};
use aig_common::usage::{UsageEvent, STREAM_MAX_LEN};
use local::LastKnown;
use redis::Script;
pub use spool::{Spool, SpoolEntry};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How long one Redis spend step may take before the request goes on without it.
const REDIS_TIMEOUT: Duration = Duration::from_millis(500);
/// A reservation outlives its request by at most this (an instance died mid-request).
const RESERVATION_TTL: Duration = Duration::from_secs(15 * 60);
/// Month spend hashes are kept this long after their last write.
const SPEND_TTL_SECS: u64 = 62 * 24 * 3600;
/// Window in which a replayed settlement of the same request id is recognised.
const DEDUP_TTL: Duration = Duration::from_secs(600);
/// Output tokens assumed for the estimate when the caller set no `max_tokens`.
const DEFAULT_OUTPUT_ESTIMATE: u64 = 4096;

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Caps and spend as they stood when a request was admitted, for
/// `x-aig-budget-remaining-cents`.
#[derive(Clone, Debug, Default)]
pub struct Admission {
    /// Monthly caps in cents: the tenant-wide `*` and the request's tag.
    pub cap_all: Option<u64>,
    pub cap_tag: Option<u64>,
    /// Micro-USD spent this month before this request.
    pub spent_all: i64,
    pub spent_tag: i64,
}

impl Admission {
    /// What is left this month of the cap that applies (the tag's, else `*`), given the
    /// spend after this request. `None` when neither has a cap.
    pub fn remaining_cents(&self, spent_all: i64, spent_tag: i64) -> Option<i64> {
        let (cap, spent) = match (self.cap_tag, self.cap_all) {
            (Some(cap), _) => (cap, spent_tag),
            (None, Some(cap)) => (cap, spent_all),
            (None, None) => return None,
        };
        let cap_micros = i64::try_from(cap.saturating_mul(MICROS_PER_CENT)).unwrap_or(i64::MAX);
        let per_cent = i64::try_from(MICROS_PER_CENT).unwrap_or(1);
        Some(cap_micros.saturating_sub(spent).max(0) / per_cent)
    }
}

/// An admitted request's reservation.
#[derive(Clone, Debug)]
pub struct Reservation {
    pub tenant_id: String,
    pub request_id: String,
    pub tag: Option<String>,
    /// `YYYY-MM` the request counts in.
    pub month: String,
    pub admission: Admission,
}

/// Counters in Redis right after a settle step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settled {
    /// The request id had already been settled: nothing was counted.
    pub duplicate: bool,
    /// Micro-USD spent this month in all and under the entry's tag.
    pub spent_all: i64,
    pub spent_tag: i64,
    /// The prepaid balance, when the tenant has one.
    pub balance: Option<i64>,
}

/// The reservation and settlement steps, with their outage fallbacks.
pub struct Spend {
    reserve: Script,
    settle: Script,
    /// Last counters seen per tenant, plus spend settled locally since.
    last_known: LastKnown,
    spool: Spool,
}

/// A worst-case estimate of a request's cost: the prompt (one token per four characters)
/// and `max_tokens` of output, at the dearest prices in the chain.
pub fn estimate_micros(prices: Prices, prompt_chars: usize, max_tokens: Option<u32>) -> u64 {
    let usage = TokenUsage {
        input: u64::try_from(prompt_chars.div_ceil(4)).unwrap_or(u64::MAX),
        output: max_tokens.map_or(DEFAULT_OUTPUT_ESTIMATE, u64::from),
        ..Default::default()
    };
    prices.cost(&usage).0.max(1)
}

fn redis_failed(e: impl std::fmt::Display) -> String {
    format!("Redis spend step failed: {e}")
}

impl Spend {
    pub fn new(spool: Spool) -> Self {
        Self {
            reserve: Script::new(include_str!("reserve.lua")),
            settle: Script::new(include_str!("settle.lua")),
            last_known: LastKnown::default(),
            spool,
        }
    }

    pub fn spool(&self) -> &Spool {
        &self.spool
    }

    /// Admits the request or refuses it with 402 / 403.
    pub async fn reserve(
        &self,
        state: &AppState,
        tenant_id: &str,
        request_id: &str,
        tag: Option<&str>,
        estimate: u64,
    ) -> Result<Reservation, Error> {
        let now = now_ms();
        let month = utc_month(now);
        let tag_arg = tag.unwrap_or_default();
        let breaker = state.redis_breaker();
        let reply = if breaker.allow() {
            let keys = state.redis_keys();
            let mut invocation = self.reserve.prepare_invoke();
            invocation
                .key(keys.tenant(tenant_id))
                .key(keys.budgets(tenant_id))
                .key(keys.spend(tenant_id, &month))
                .key(keys.reservations(tenant_id))
                .arg(now)
                .arg(request_id)
                .arg(tag_arg)
                .arg(estimate)
                .arg(now + u64::try_from(RESERVATION_TTL.as_millis()).unwrap_or(u64::MAX))
                .arg(now + 5_000);
            let mut redis = state.redis();
            match tokio::time::timeout(
                REDIS_TIMEOUT,
                invocation.invoke_async::<Vec<String>>(&mut redis),
            )
            .await
            {
                Ok(Ok(reply)) => {
                    breaker.success();
                    Some(reply)
                }
                Ok(Err(e)) => {
                    tracing::warn!("{}", redis_failed(e));
                    breaker.failure();
                    None
                }
                Err(_) => {
                    tracing::warn!("{}", redis_failed("timed out"));
                    breaker.failure();
                    None
                }
            }
        } else {
            None
        };
        let decision = match reply {
            Some(reply) => {
                let decision = local::Decision::from_reply(&reply);
                self.last_known.remember(tenant_id, tag_arg, &decision);
                decision
            }
            None => self.last_known.decide(tenant_id, tag_arg),
        };
        match decision.code.as_str() {
            "tenant_suspended" => Err(Error::TenantSuspended),
            "insufficient_credits" => Err(Error::InsufficientCredits),
            "budget_exceeded" => Err(Error::BudgetExceeded(decision.capped_tag.clone())),
            _ => Ok(Reservation {
                tenant_id: tenant_id.to_owned(),
                request_id: request_id.to_owned(),
                tag: tag.map(str::to_owned),
                month,
                admission: decision.admission,
            }),
        }
    }

    /// Settles a request (cost 0 for one that was not served) and records its usage event.
    /// Returns what is left of the applicable cap after it, if there is one.
    pub async fn settle(
        &self,
        state: &AppState,
        reservation: &Reservation,
        cost_micros: u64,
        event: &UsageEvent,
    ) -> Option<i64> {
        let entry = SpoolEntry {
            tenant_id: reservation.tenant_id.clone(),
            request_id: reservation.request_id.clone(),
            tag: reservation.tag.clone(),
            month: reservation.month.clone(),
            cost_micros,
            event: event.clone(),
        };
        let tag = reservation.tag.as_deref().unwrap_or_default();
        let breaker = state.redis_breaker();
        if breaker.allow() {
            match self.settle_in_redis(state, &entry).await {
                Ok(after) => {
                    breaker.success();
                    // The reserve reply predates this request: without its cost, an outage
                    // starting now would admit requests past a cap this one reached.
                    self.last_known.settled(&reservation.tenant_id, tag, &after);
                    return reservation
                        .admission
                        .remaining_cents(after.spent_all, after.spent_tag);
                }
                Err(e) => {
                    tracing::warn!(request_id = %entry.request_id, "{e}; spooling the settlement");
                    breaker.failure();
                }
            }
        }
        self.last_known
            .spent_locally(&reservation.tenant_id, tag, cost_micros);
        self.spool.append(&entry);
        let a = &reservation.admission;
        let cost = i64::try_from(cost_micros).unwrap_or(i64::MAX);
        a.remaining_cents(
            a.spent_all.saturating_add(cost),
            a.spent_tag.saturating_add(cost),
        )
    }

    /// Runs the settle script for one entry: the counters after it. Settling an entry whose
    /// request id was settled within the dedup window changes nothing.
    pub async fn settle_in_redis(
        &self,
        state: &AppState,
        entry: &SpoolEntry,
    ) -> Result<Settled, String> {
        let keys = state.redis_keys();
        let tenant = entry.tenant_id.as_str();
        let event = serde_json::to_string(&entry.event).map_err(|e| e.to_string())?;
        let mut invocation = self.settle.prepare_invoke();
        invocation
            .key(keys.tenant(tenant))
            .key(keys.spend(tenant, &entry.month))
            .key(keys.reservations(tenant))
            .key(keys.settled(tenant, &entry.request_id))
            .key(keys.usage_stream(tenant))
            .arg(&entry.request_id)
            .arg(entry.tag.as_deref().unwrap_or_default())
            .arg(entry.cost_micros)
            .arg(event)
            .arg(STREAM_MAX_LEN)
            .arg(SPEND_TTL_SECS)
            .arg(u64::try_from(DEDUP_TTL.as_millis()).unwrap_or(u64::MAX));
        let mut redis = state.redis();
        let reply: Vec<String> =
            tokio::time::timeout(REDIS_TIMEOUT, invocation.invoke_async(&mut redis))
                .await
                .map_err(|_| redis_failed("timed out"))?
                .map_err(redis_failed)?;
        let number = |i: usize| reply.get(i).and_then(|v| v.parse::<i64>().ok());
        Ok(Settled {
            duplicate: reply.first().is_some_and(|code| code == "duplicate"),
            spent_all: number(1).unwrap_or(0),
            spent_tag: number(2).unwrap_or(0),
            balance: number(3),
        })
    }
}

impl Spend {
    /// Applies this deployment's spooled settlements to Redis, file by file; stops at the
    /// first failure and keeps what is left spooled. Returns how many were applied (an
    /// entry already settled within the dedup window counts, but changes nothing).
    pub async fn replay_spool(&self, state: &AppState) -> usize {
        let breaker = state.redis_breaker();
        if self.spool.files().is_empty() && !self.spool.writing() {
            return 0;
        }
        if !breaker.allow() {
            return 0;
        }
        self.spool.rotate();
        let (mut applied, mut duplicates) = (0, 0);
        let mut files = self.spool.files();
        files.sort();
        for path in files {
            let Some(claimed) = Spool::claim(&path) else {
                continue;
            };
            let mut failed_at = None;
            for (i, entry) in claimed.entries.iter().enumerate() {
                match self.settle_in_redis(state, entry).await {
                    Ok(settled) => {
                        breaker.success();
                        applied += 1;
                        duplicates += usize::from(settled.duplicate);
                    }
                    Err(e) => {
                        tracing::warn!("spool replay paused: {e}");
                        breaker.failure();
                        failed_at = Some(i);
                        break;
                    }
                }
            }
            match failed_at {
                None => claimed.finish(),
                // Nothing applied: the file stays as it is (rewriting it on every failed
                // attempt of a long outage would copy the whole spool each second).
                Some(0) => break,
                Some(i) => {
                    for entry in &claimed.entries[i..] {
                        self.spool.append(entry);
                    }
                    claimed.finish();
                    break;
                }
            }
        }
        if applied > 0 {
            tracing::info!(
                applied,
                already_settled = duplicates,
                "spooled settlements replayed to Redis"
            );
        }
        applied
    }
}

/// Replays the spool every second while the state lives.
pub fn spawn_replayer(state: &AppState) {
    let weak = state.downgrade();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let Some(state) = weak.upgrade() else { break };
            state.spend().replay_spool(&state).await;
        }
    });
}
