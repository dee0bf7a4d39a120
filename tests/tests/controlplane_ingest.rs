//! Usage ingestion: every event the real data plane wrote lands in the request log, the
//! rollups and the ledger exactly once — across redelivery, restarts and Postgres outages —
//! and the Redis balance reconciles with the ledger.

use aig_common::budget::tenant_fields;
use aig_controlplane::ingest::{Ingester, CONSUMER_GROUP};
use aig_controlplane::reconcile::{self, Mode, Outcome};
use aig_controlplane::AppState;
use aig_tests::chat_body;
use aig_tests::controlplane::{controlplane_config, DataPlane, TcpProxy, TestControlPlane};
use redis::AsyncCommands;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;
use std::time::Duration;
use uuid::Uuid;

const GPT: &str = "openai/gpt-5.4";

use support::{await_stream_len, booked, pending_count, redis_balance, spend, Booked};

#[expect(
    clippy::unwrap_used,
    reason = "test helpers: a failed query or request fails the test"
)]
mod support {
    use super::*;

    /// What Postgres holds for a tenant: request log rows, the sum of rollup requests, usage
    /// debits, and the ledger balance.
    #[derive(Debug, PartialEq, Eq)]
    pub struct Booked {
        pub logged: i64,
        pub rolled_up: i64,
        pub debits: i64,
        pub balance: i64,
    }

    pub async fn booked(pool: &PgPool, tenant: Uuid) -> Booked {
        let (logged, rolled_up, debits, balance): (i64, i64, i64, i64) = sqlx::query_as(
            "select (select count(*) from request_log where tenant_id = $1),
                    (select coalesce(sum(requests), 0)::bigint from usage_daily where tenant_id = $1),
                    (select count(*) from ledger_entry where tenant_id = $1 and kind = 'usage'),
                    (select coalesce(sum(amount_micros), 0)::bigint from ledger_entry
                      where tenant_id = $1)",
        )
        .bind(tenant)
        .fetch_one(pool)
        .await
        .unwrap();
        Booked {
            logged,
            rolled_up,
            debits,
            balance,
        }
    }

    /// Sends `n` requests and returns their total cost.
    pub async fn spend(dp: &DataPlane, key: &aig_common::api_key::ApiKey, n: usize) -> i64 {
        let mut costs = 0;
        for i in 0..n {
            let r = dp
                .chat(key, &chat_body(GPT, &format!("request {i}")), &[])
                .await;
            assert_eq!(r.status, 200, "{:?}", r.body);
            costs += r
                .header("x-aig-cost-micros")
                .unwrap()
                .parse::<i64>()
                .unwrap();
        }
        costs
    }

    /// Waits until the tenant's stream holds `n` entries (the data plane appends them just after
    /// answering).
    pub async fn await_stream_len(cp: &TestControlPlane, tenant: Uuid, n: usize) {
        let stream = cp.keys().usage_stream(&tenant.to_string());
        let mut redis = cp.redis.clone();
        for _ in 0..250 {
            let len: usize = redis.xlen(&stream).await.unwrap();
            if len >= n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("the usage stream never reached {n} entries");
    }

    pub async fn pending_count(cp: &TestControlPlane, tenant: Uuid) -> usize {
        let mut redis = cp.redis.clone();
        let reply: redis::streams::StreamPendingReply = redis
            .xpending(cp.keys().usage_stream(&tenant.to_string()), CONSUMER_GROUP)
            .await
            .unwrap();
        reply.count()
    }

    pub async fn redis_balance(cp: &TestControlPlane, tenant: Uuid) -> i64 {
        let mut redis = cp.redis.clone();
        redis
            .hget(
                cp.keys().tenant(&tenant.to_string()),
                tenant_fields::BALANCE_MICROS,
            )
            .await
            .unwrap()
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn every_event_is_booked_once_in_the_log_rollups_and_ledger(pool: PgPool) {
    let cp = TestControlPlane::spawn(pool.clone()).await;
    let tenant = cp.create_tenant("Acme").await;
    let dp = cp.spawn_dataplane().await;

    let costs = spend(&dp, &tenant.key, 5).await;
    let stats = cp.ingest_at_least(5).await;

    assert_eq!(stats.ingested, 5);
    assert_eq!(stats.duplicates, 0);
    assert_eq!(
        booked(&pool, tenant.tenant_id).await,
        Booked {
            logged: 5,
            rolled_up: 5,
            debits: 5,
            balance: 3_000_000 - costs
        }
    );
    assert_eq!(
        pending_count(&cp, tenant.tenant_id).await,
        0,
        "all acknowledged"
    );
    let row: (String, Option<String>, i32, i64) = sqlx::query_as(
        "select requested_model, served_by, status, cost_micros from request_log
          where tenant_id = $1 order by ts limit 1",
    )
    .bind(tenant.tenant_id)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(row.0, GPT);
    assert_eq!(row.1.as_deref(), Some(GPT));
    assert_eq!(row.2, 200);
    assert!(row.3 > 0);
}

#[sqlx::test(migrations = "../migrations")]
async fn events_delivered_again_are_not_counted_twice(pool: PgPool) {
    let cp = TestControlPlane::spawn(pool.clone()).await;
    let tenant = cp.create_tenant("Acme").await;
    let dp = cp.spawn_dataplane().await;
    let costs = spend(&dp, &tenant.key, 4).await;
    cp.ingest_at_least(4).await;
    let once = booked(&pool, tenant.tenant_id).await;

    // As if every acknowledgement had been lost after its commit: the whole stream is
    // delivered again, to this consumer and to a freshly started one.
    let mut redis = cp.redis.clone();
    let _: () = redis::cmd("XGROUP")
        .arg("SETID")
        .arg(cp.keys().usage_stream(&tenant.tenant_id.to_string()))
        .arg(CONSUMER_GROUP)
        .arg("0")
        .query_async(&mut redis)
        .await
        .unwrap();
    let again = cp.ingest().await;
    let third = Ingester::with_consumer(cp.state.clone(), "restarted")
        .drain()
        .await
        .unwrap();

    assert_eq!(again.read, 4);
    assert_eq!(again.ingested, 0);
    assert_eq!(again.duplicates, 4);
    assert_eq!(third.ingested, 0);
    assert_eq!(booked(&pool, tenant.tenant_id).await, once);
    assert_eq!(once.balance, 3_000_000 - costs);
    assert_eq!(redis_balance(&cp, tenant.tenant_id).await, once.balance);
}

#[sqlx::test(migrations = "../migrations")]
async fn events_a_crashed_consumer_read_but_never_acknowledged_are_claimed_after_a_restart(
    pool: PgPool,
) {
    let cp = TestControlPlane::spawn_with(pool.clone(), &[("AIG_INGEST_CLAIM_IDLE_MS", "0")]).await;
    let tenant = cp.create_tenant("Acme").await;
    let dp = cp.spawn_dataplane().await;
    let costs = spend(&dp, &tenant.key, 3).await;
    await_stream_len(&cp, tenant.tenant_id, 3).await;

    // A consumer on another host reads the events, then dies before writing them.
    let mut redis = cp.redis.clone();
    let _: redis::Value = redis::cmd("XREADGROUP")
        .arg("GROUP")
        .arg(CONSUMER_GROUP)
        .arg("crashed-host")
        .arg("COUNT")
        .arg(100)
        .arg("STREAMS")
        .arg(cp.keys().usage_stream(&tenant.tenant_id.to_string()))
        .arg(">")
        .query_async(&mut redis)
        .await
        .unwrap();
    assert_eq!(pending_count(&cp, tenant.tenant_id).await, 3);

    let stats = Ingester::with_consumer(cp.state.clone(), "survivor")
        .drain()
        .await
        .unwrap();

    assert_eq!(stats.ingested, 3);
    assert_eq!(
        booked(&pool, tenant.tenant_id).await,
        Booked {
            logged: 3,
            rolled_up: 3,
            debits: 3,
            balance: 3_000_000 - costs
        }
    );
    assert_eq!(pending_count(&cp, tenant.tenant_id).await, 0);
}

#[sqlx::test(migrations = "../migrations")]
async fn a_postgres_outage_loses_nothing_and_ingestion_resumes_when_it_returns(pool: PgPool) {
    let cp = TestControlPlane::spawn(pool.clone()).await;
    let tenant = cp.create_tenant("Acme").await;
    let dp = cp.spawn_dataplane().await;

    // A control plane whose Postgres connections go through a proxy the test can cut.
    let direct = pool.connect_options();
    let target = tokio::net::lookup_host((direct.get_host(), direct.get_port()))
        .await
        .unwrap()
        .next()
        .unwrap();
    let proxy = TcpProxy::start(target).await;
    let through_proxy: PgConnectOptions =
        (*direct).clone().host("127.0.0.1").port(proxy.addr.port());
    let flaky_pool = PgPoolOptions::new()
        .acquire_timeout(Duration::from_secs(2))
        .connect_with(through_proxy)
        .await
        .unwrap();
    let state = AppState::from_parts(
        controlplane_config(&cp.prefix, &[]),
        flaky_pool,
        cp.redis.clone(),
    );
    let mut ingester = Ingester::with_consumer(state, "flaky");
    ingester.drain().await.unwrap(); // knows the tenants; nothing to ingest yet

    let costs = spend(&dp, &tenant.key, 4).await;
    await_stream_len(&cp, tenant.tenant_id, 4).await;
    proxy.cut();
    let during = ingester.poll().await.unwrap();
    let still_down = ingester.poll().await.unwrap();

    assert_eq!(during.read, 4);
    assert_eq!(during.failed_batches, 1);
    assert_eq!(still_down.failed_batches, 1, "the same batch is retried");
    assert_eq!(booked(&pool, tenant.tenant_id).await.logged, 0);
    assert_eq!(
        pending_count(&cp, tenant.tenant_id).await,
        4,
        "nothing acknowledged"
    );

    proxy.restore();
    let after = ingester.drain().await.unwrap();

    assert_eq!(after.ingested, 4);
    assert_eq!(
        booked(&pool, tenant.tenant_id).await,
        Booked {
            logged: 4,
            rolled_up: 4,
            debits: 4,
            balance: 3_000_000 - costs
        }
    );
    assert_eq!(pending_count(&cp, tenant.tenant_id).await, 0);
}

#[sqlx::test(migrations = "../migrations")]
async fn after_a_burst_the_ledger_and_the_redis_balance_are_the_trial_credit_minus_usage(
    pool: PgPool,
) {
    let cp = TestControlPlane::spawn(pool.clone()).await;
    let tenant = cp.create_tenant("Acme").await;
    let dp = std::sync::Arc::new(cp.spawn_dataplane().await);

    let mut handles = Vec::new();
    for i in 0..30 {
        let dp = dp.clone();
        let key = tenant.key.clone();
        handles.push(tokio::spawn(async move {
            let r = dp
                .chat(&key, &chat_body(GPT, &format!("burst {i}")), &[])
                .await;
            assert_eq!(r.status, 200);
            r.header("x-aig-cost-micros")
                .unwrap()
                .parse::<i64>()
                .unwrap()
        }));
    }
    let mut costs = 0;
    for h in handles {
        costs += h.await.unwrap();
    }
    // Ingest while the stream may still be filling, as the serve loop does.
    let stats = cp.ingest_at_least(30).await;

    assert_eq!(stats.ingested, 30);
    let b = booked(&pool, tenant.tenant_id).await;
    assert_eq!(b.debits, 30);
    assert_eq!(b.balance, 3_000_000 - costs);
    assert_eq!(redis_balance(&cp, tenant.tenant_id).await, b.balance);
    assert_eq!(
        reconcile::sync(&cp.state, tenant.tenant_id, Mode::Repair)
            .await
            .unwrap(),
        Outcome::Kept {
            balance: b.balance,
            expected: b.balance
        }
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn reconciliation_counts_usage_not_yet_ingested_and_repairs_real_drift(pool: PgPool) {
    let cp = TestControlPlane::spawn(pool.clone()).await;
    let tenant = cp.create_tenant("Acme").await;
    let dp = cp.spawn_dataplane().await;
    let ingested_costs = spend(&dp, &tenant.key, 2).await;
    cp.ingest_at_least(2).await;
    let waiting_costs = spend(&dp, &tenant.key, 3).await;
    await_stream_len(&cp, tenant.tenant_id, 5).await;

    // Three events are still waiting in the stream: the live balance is below the ledger by
    // exactly their cost, which is no drift.
    let in_line = reconcile::sync(&cp.state, tenant.tenant_id, Mode::Repair)
        .await
        .unwrap();
    let live = 3_000_000 - ingested_costs - waiting_costs;
    assert_eq!(
        in_line,
        Outcome::Kept {
            balance: live,
            expected: live
        }
    );

    // Something wrote the balance behind the ledger's back.
    let mut redis = cp.redis.clone();
    let _: i64 = redis
        .hincr(
            cp.keys().tenant(&tenant.tenant_id.to_string()),
            tenant_fields::BALANCE_MICROS,
            777_777,
        )
        .await
        .unwrap();
    let repaired = reconcile::reconcile_all(&cp.state).await.unwrap();

    assert_eq!(repaired, 1);
    assert_eq!(redis_balance(&cp, tenant.tenant_id).await, live);
    cp.ingest_at_least(3).await;
    assert_eq!(booked(&pool, tenant.tenant_id).await.balance, live);
    assert_eq!(redis_balance(&cp, tenant.tenant_id).await, live);
    assert_eq!(reconcile::reconcile_all(&cp.state).await.unwrap(), 0);
}

#[sqlx::test(migrations = "../migrations")]
async fn a_malformed_stream_entry_is_skipped_without_blocking_the_rest(pool: PgPool) {
    let cp = TestControlPlane::spawn(pool.clone()).await;
    let tenant = cp.create_tenant("Acme").await;
    let dp = cp.spawn_dataplane().await;
    let mut redis = cp.redis.clone();
    let _: String = redis
        .xadd(
            cp.keys().usage_stream(&tenant.tenant_id.to_string()),
            "*",
            &[("event", "{not json")],
        )
        .await
        .unwrap();
    spend(&dp, &tenant.key, 1).await;

    let stats = cp.ingest_at_least(1).await;

    assert_eq!(stats.malformed, 1);
    assert_eq!(stats.ingested, 1);
    assert_eq!(booked(&pool, tenant.tenant_id).await.logged, 1);
    assert_eq!(pending_count(&cp, tenant.tenant_id).await, 0);
}
