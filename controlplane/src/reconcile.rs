//! The prepaid balance in Redis against the ledger in Postgres.
//!
//! The data plane decrements the Redis balance and appends the usage event in one atomic
//! step, and ingestion turns each event into a ledger debit, so at any moment
//! `Redis balance = ledger sum − cost of events not yet ingested`. This module computes the
//! right side exactly — under the tenant's balance lock (no ledger write can interleave) and
//! inside one Redis script (no settle can interleave) — to set a missing balance (start-up,
//! after a Redis flush) or to repair drift (reconciliation).

use crate::db;
use crate::error::Error;
use crate::ingest::{ensure_group, CONSUMER_GROUP};
use crate::state::AppState;
use redis::Script;
use std::collections::HashSet;
use std::sync::LazyLock;
use std::time::Duration;
use uuid::Uuid;

static SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("reconcile.lua")));

/// Most not-yet-ingested events looked at; beyond this ingestion is far behind and the
/// balance is left alone until it catches up.
const MAX_UNACKED: usize = 10_000;
/// How often [`spawn_reconciler`] compares every tenant's balance with its ledger.
pub const RECONCILE_EVERY: Duration = Duration::from_secs(60);

/// What [`sync`] may do to the Redis balance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Set it only if it is missing (`HSETNX`): a live balance is never overwritten.
    Init,
    /// Also overwrite it when it differs from the ledger (drift repair).
    Repair,
}

/// What [`sync`] found and did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The balance was missing and has been set to `expected`.
    Set { expected: i64 },
    /// The balance was `before`, off by `before − expected`, and has been set to `expected`.
    Repaired { before: i64, expected: i64 },
    /// The balance was left as it was (it matches, or `Init` mode found one).
    Kept { balance: i64, expected: i64 },
    /// More events await ingestion than [`MAX_UNACKED`]; nothing was checked.
    Behind,
}

/// Brings the tenant's Redis balance in line with its ledger as `mode` allows.
pub async fn sync(state: &AppState, tenant_id: Uuid, mode: Mode) -> Result<Outcome, Error> {
    let keys = state.redis_keys();
    let tenant = tenant_id.to_string();
    let stream = keys.usage_stream(&tenant);
    let mut redis = state.redis();
    ensure_group(&mut redis, &stream).await?;

    let mut tx = state.db().begin().await?;
    db::tenant::lock_balance(&mut *tx, tenant_id).await?;
    let ledger = db::ledger_entry::balance(&mut *tx, tenant_id).await?;

    // Events committed to Postgres but not yet acknowledged must not count as unacked.
    let listed: Vec<String> = invoke(state, &tenant, "list", ledger, &[]).await?;
    if listed.first().map(String::as_str) == Some("too_many") {
        return Ok(Outcome::Behind);
    }
    let pairs: Vec<(&String, &String)> = listed
        .get(1..)
        .unwrap_or_default()
        .chunks_exact(2)
        .map(|c| (&c[0], &c[1]))
        .collect();
    let request_ids: Vec<String> = pairs.iter().map(|(_, r)| (*r).clone()).collect();
    let ingested: HashSet<String> = if request_ids.is_empty() {
        HashSet::new()
    } else {
        db::request_log::ingested_among(&mut *tx, &request_ids)
            .await?
            .into_iter()
            .collect()
    };
    let ingested_ids: Vec<String> = pairs
        .iter()
        .filter(|(_, r)| ingested.contains(*r))
        .map(|(id, _)| (*id).clone())
        .collect();

    let mode_arg = match mode {
        Mode::Init => "init",
        Mode::Repair => "repair",
    };
    let reply: Vec<String> = invoke(state, &tenant, mode_arg, ledger, &ingested_ids).await?;
    tx.commit().await?;

    let number = |i: usize| -> Result<i64, Error> {
        reply
            .get(i)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| Error::Internal(format!("balance script replied {reply:?}")))
    };
    match reply.first().map(String::as_str) {
        Some("set") => Ok(Outcome::Set {
            expected: number(2)?,
        }),
        Some("repaired") => Ok(Outcome::Repaired {
            before: number(1)?,
            expected: number(2)?,
        }),
        Some("kept") => Ok(Outcome::Kept {
            balance: number(1)?,
            expected: number(2)?,
        }),
        Some("too_many") => Ok(Outcome::Behind),
        _ => Err(Error::Internal(format!("balance script replied {reply:?}"))),
    }
}

async fn invoke(
    state: &AppState,
    tenant: &str,
    mode: &str,
    ledger: i64,
    ingested_ids: &[String],
) -> Result<Vec<String>, Error> {
    let keys = state.redis_keys();
    let mut invocation = SCRIPT.prepare_invoke();
    invocation
        .key(keys.tenant(tenant))
        .key(keys.usage_stream(tenant))
        .arg(CONSUMER_GROUP)
        .arg(mode)
        .arg(ledger)
        .arg(MAX_UNACKED);
    for id in ingested_ids {
        invocation.arg(id);
    }
    let mut redis = state.redis();
    let reply: Vec<String> = invocation.invoke_async(&mut redis).await?;
    if reply.first().map(String::as_str) == Some("no_group") {
        return Err(Error::Internal(format!(
            "usage stream of tenant {tenant} has no consumer group"
        )));
    }
    Ok(reply)
}

/// Compares every tenant's Redis balance with its ledger; logs and repairs drift. Returns
/// how many balances were repaired.
pub async fn reconcile_all(state: &AppState) -> Result<usize, Error> {
    let mut repaired = 0;
    for tenant_id in db::tenant::list_ids(state.db()).await? {
        match sync(state, tenant_id, Mode::Repair).await {
            Ok(Outcome::Repaired { before, expected }) => {
                repaired += 1;
                state.metrics().balance_repairs.inc();
                tracing::warn!(
                    tenant = %tenant_id,
                    redis_balance_micros = before,
                    ledger_balance_micros = expected,
                    drift_micros = before - expected,
                    "Redis balance drifted from the ledger; repaired"
                );
            }
            Ok(Outcome::Set { expected }) => {
                tracing::info!(tenant = %tenant_id, balance_micros = expected,
                    "Redis balance was missing; set from the ledger");
            }
            Ok(Outcome::Behind) => {
                tracing::info!(tenant = %tenant_id,
                    "usage ingestion is behind; balance check skipped");
            }
            Ok(Outcome::Kept { .. }) => {}
            Err(e) => tracing::warn!(tenant = %tenant_id, "balance check failed: {e}"),
        }
    }
    Ok(repaired)
}

/// Runs [`reconcile_all`] every [`RECONCILE_EVERY`] until `shutdown` fires.
pub fn spawn_reconciler(
    state: AppState,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::select! {
                () = tokio::time::sleep(RECONCILE_EVERY) => {}
                _ = shutdown.changed() => break,
            }
            if let Err(e) = reconcile_all(&state).await {
                tracing::warn!("balance reconciliation failed: {e}");
            }
        }
    })
}
