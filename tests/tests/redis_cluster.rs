//! Both planes against a real three-node Redis Cluster the test starts itself: chat in
//! both modes, caps, balances, usage events, tenants on different nodes and the health
//! monitor all work, and the control plane publishes, ingests, adjusts, reconciles and
//! limits logins there, so every multi-key step keeps to one hash slot (a CROSSSLOT error,
//! or a pipeline or script sent to the wrong node, would fail these).
#![expect(
    clippy::expect_used,
    reason = "test helpers: a failed Redis read fails the test at once"
)]

use aig_common::api_key::ApiKey;
use aig_common::usage::UsageEvent;
use aig_tests::mock::Mode;
use aig_tests::{chat_body, seed, RedisCluster, TestApp, TestResponse};
use serde_json::json;
use std::time::{Duration, Instant};

const CHAT: &str = "/v1/chat/completions";
const GPT: &str = "openai/gpt-5.4";
const OPUS: &str = "anthropic/claude-opus-4.7";
const KIMI: &str = "moonshot/kimi-k2.6";

/// The node (client port) holding a tenant's records.
fn tenant_node(cluster: &RedisCluster, app: &TestApp, tenant_id: &str) -> u16 {
    cluster.owner(&app.state.redis_keys().tenant(tenant_id))
}

/// A fresh tenant id whose records live on another node than `not_on`, with a published key.
async fn tenant_elsewhere(cluster: &RedisCluster, app: &TestApp, not_on: u16) -> (String, ApiKey) {
    let tenant_id = std::iter::repeat_with(|| uuid::Uuid::new_v4().to_string())
        .find(|id| tenant_node(cluster, app, id) != not_on)
        .expect("some tenant id lands on another node");
    let mut redis = app.state.redis();
    let key = seed::publish_new_key(&mut redis, app.state.redis_keys(), &tenant_id, Some(3600))
        .await
        .expect("seed the key");
    (tenant_id, key)
}

/// A chat request with the given key.
async fn chat_as(
    app: &TestApp,
    key: &ApiKey,
    model: &str,
    headers: &[(&str, &str)],
) -> TestResponse {
    let mut req = app
        .client
        .post(app.url(CHAT))
        .bearer_auth(key.expose())
        .json(&chat_body(model, "hello cluster"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    TestApp::read(req.send().await.expect("request reaches the gateway")).await
}

/// The usage events on a tenant's stream, read through the app's cluster connection.
async fn usage_events_of(app: &TestApp, tenant_id: &str, at_least: usize) -> Vec<UsageEvent> {
    use redis::AsyncCommands;
    let mut redis = app.state.redis();
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let entries: redis::streams::StreamRangeReply = redis
            .xrange_all(app.state.redis_keys().usage_stream(tenant_id))
            .await
            .expect("XRANGE the usage stream");
        let events: Vec<UsageEvent> = entries
            .ids
            .iter()
            .filter_map(|e| e.get::<String>(aig_common::usage::STREAM_FIELD))
            .map(|json| serde_json::from_str(&json).expect("usage event JSON"))
            .collect();
        if events.len() >= at_least || Instant::now() > deadline {
            return events;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_data_plane_on_a_cluster_serves_chat_enforces_caps_and_balances_and_writes_usage() {
    // Arrange
    let cluster = RedisCluster::start(3).await;
    let app = TestApp::spawn_on(&cluster.urls(), &[]).await;
    app.set_budget("cluster.tag", 1).await;

    // Act
    let plain = app.chat(&chat_body(GPT, "hello cluster"), &[]).await;
    let streamed = app
        .stream(
            CHAT,
            &json!({ "model": GPT, "stream": true,
                     "messages": [{ "role": "user", "content": "stream over the cluster" }] }),
            &[],
        )
        .await;
    let tagged = [("x-aig-tag", "cluster.tag")];
    let mut served_under_cap = 0;
    let over_cap = loop {
        let res = app.chat(&chat_body(GPT, "spend a little"), &tagged).await;
        if res.status != 200 {
            break res;
        }
        served_under_cap += 1;
        assert!(served_under_cap < 200, "the cap never tripped");
    };
    app.set_balance(1_000).await;
    let mut served_on_credit = 0;
    let out_of_credit = loop {
        let res = app.chat(&chat_body(OPUS, "use my credit"), &[]).await;
        if res.status != 200 {
            break res;
        }
        served_on_credit += 1;
        assert!(served_on_credit < 200, "the balance never ran out");
    };
    let served = 2 + served_under_cap + served_on_credit;
    let events = app.usage_events(served).await;

    // Assert
    assert_eq!(plain.status, 200, "{:?}", plain.body);
    assert!(
        plain.content().contains("hello cluster"),
        "{:?}",
        plain.body
    );
    assert_eq!(streamed.status, 200);
    assert!(
        streamed.openai_text().contains("stream over the cluster"),
        "{:?}",
        streamed.frames
    );
    assert_eq!(over_cap.status, 402, "{:?}", over_cap.body);
    assert_eq!(over_cap.error_code(), Some("budget_exceeded"));
    assert!(
        app.spent("cluster.tag").await >= 10_000,
        "the 1-cent cap was used up"
    );
    assert_eq!(out_of_credit.status, 402, "{:?}", out_of_credit.body);
    assert_eq!(out_of_credit.error_code(), Some("insufficient_credits"));
    assert!(app.balance().await.expect("a balance") <= 0);

    let ok: Vec<&UsageEvent> = events.iter().filter(|e| e.status == 200).collect();
    assert_eq!(ok.len(), served, "one event per served request: {events:?}");
    assert!(events.iter().all(|e| e.tenant_id == app.tenant_id));
    assert_eq!(ok.iter().filter(|e| e.stream).count(), 1, "{events:?}");
    assert!(ok.iter().all(|e| e.cost_micros > 0));

    assert!(
        app.spool_files().is_empty(),
        "nothing was spooled for lack of Redis"
    );
    let keys = app.state.redis_keys();
    let mut redis = app.state.redis();
    let swept: Option<u64> = redis::cmd("HGET")
        .arg(keys.reservations(&app.tenant_id))
        .arg("sweep_at")
        .query_async(&mut redis)
        .await
        .expect("HGET the reservations");
    assert!(swept.is_some(), "the reserve step ran in Redis");
    let node = tenant_node(&cluster, &app, &app.tenant_id);
    let month = aig_common::budget::utc_month(events[0].ts_ms);
    for key in [
        keys.budgets(&app.tenant_id),
        keys.spend(&app.tenant_id, &month),
        keys.reservations(&app.tenant_id),
        keys.usage_stream(&app.tenant_id),
    ] {
        assert_eq!(cluster.owner(&key), node, "{key} lives with its tenant");
    }
}

#[tokio::test]
async fn tenants_whose_records_live_on_different_nodes_are_both_served_and_charged() {
    // Arrange
    let cluster = RedisCluster::start(3).await;
    let app = TestApp::spawn_on(&cluster.urls(), &[]).await;
    let first_node = tenant_node(&cluster, &app, &app.tenant_id);
    let (other, other_key) = tenant_elsewhere(&cluster, &app, first_node).await;
    let mut redis = app.state.redis();
    seed::set_budget(&mut redis, app.state.redis_keys(), &other, "*", 5000)
        .await
        .expect("set a budget");
    app.set_budget("*", 5000).await;

    // Act
    let first = app.chat(&chat_body(GPT, "first tenant"), &[]).await;
    let second = chat_as(&app, &other_key, GPT, &[]).await;
    let second_stream = app
        .client
        .post(app.url(CHAT))
        .bearer_auth(other_key.expose())
        .json(&json!({ "model": GPT, "stream": true,
                       "messages": [{ "role": "user", "content": "second streams" }] }))
        .send()
        .await
        .expect("request reaches the gateway");
    let second_stream_status = second_stream.status().as_u16();
    let second_stream_body = second_stream.text().await.unwrap_or_default();

    // Assert
    assert_ne!(tenant_node(&cluster, &app, &other), first_node);
    assert_eq!(first.status, 200, "{:?}", first.body);
    assert_eq!(second.status, 200, "{:?}", second.body);
    assert!(second.header("x-aig-budget-remaining-cents").is_some());
    assert_eq!(second_stream_status, 200);
    assert!(
        second_stream_body.contains("[DONE]"),
        "{second_stream_body}"
    );
    let first_events = app.usage_events(1).await;
    let other_events = usage_events_of(&app, &other, 2).await;
    assert_eq!(first_events.len(), 1, "{first_events:?}");
    assert_eq!(other_events.len(), 2, "{other_events:?}");
    assert!(other_events.iter().all(|e| e.tenant_id == other));
    assert!(app.spent("*").await > 0);
}

#[tokio::test]
async fn the_health_monitor_on_a_cluster_marks_a_failing_provider_degraded_and_skips_it() {
    // Arrange
    let cluster = RedisCluster::start(3).await;
    let app = TestApp::spawn_on(
        &cluster.urls(),
        &[
            ("AIG_HEALTH_TICK_MS", "300"),
            ("AIG_HEALTH_MIN_ATTEMPTS", "4"),
            ("AIG_HEALTH_FAILURE_RATIO", "50"),
            ("AIG_HEALTH_CONSECUTIVE_FAILURES", "1000"),
        ],
    )
    .await;
    app.mock.state.set_mode("openai", Mode::Fail(500));
    let fallback = [("x-aig-fallback", KIMI)];

    // Act
    for _ in 0..8 {
        let res = app.chat(&chat_body(GPT, "hi"), &fallback).await;
        assert_eq!(
            res.header("x-aig-chain"),
            Some(format!("{GPT}:500→{KIMI}:200"))
        );
    }
    let started = Instant::now();
    let skipped = loop {
        let res = app.chat(&chat_body(GPT, "hi"), &fallback).await;
        if res.header("x-aig-chain") == Some(format!("{GPT}:degraded→{KIMI}:200")) {
            break res;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "openai was not marked degraded: {:?}",
            res.header("x-aig-chain")
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };

    // Assert
    assert_eq!(skipped.status, 200, "{:?}", skipped.body);
    assert_eq!(skipped.header("x-aig-served-by").as_deref(), Some(KIMI));
    let subjects = app.state.health().degraded_subjects();
    assert!(subjects.contains(&"openai".to_owned()), "{subjects:?}");
}

#[tokio::test]
async fn one_seed_node_with_the_cluster_flag_reaches_tenants_on_every_node() {
    // Arrange
    let cluster = RedisCluster::start(3).await;
    let seed_port = cluster.ports()[0];
    let seed_url = cluster.node_urls()[0].clone();
    let app = TestApp::spawn_on(&seed_url, &[("AIG_REDIS_CLUSTER", "true")]).await;
    let (other, other_key) = tenant_elsewhere(&cluster, &app, seed_port).await;
    let mut redis = app.state.redis();
    seed::set_budget(&mut redis, app.state.redis_keys(), &other, "seed.tag", 1)
        .await
        .expect("set a budget");

    // Act
    let mine = app.chat(&chat_body(GPT, "through the seed"), &[]).await;
    let tagged = [("x-aig-tag", "seed.tag")];
    let mut served = 0;
    let refused = loop {
        let res = chat_as(&app, &other_key, GPT, &tagged).await;
        if res.status != 200 {
            break res;
        }
        served += 1;
        assert!(served < 200, "the cap never tripped");
    };

    // Assert
    assert_eq!(mine.status, 200, "{:?}", mine.body);
    assert_ne!(tenant_node(&cluster, &app, &other), seed_port);
    assert!(served >= 1);
    assert_eq!(refused.status, 402, "{:?}", refused.body);
    assert_eq!(refused.error_code(), Some("budget_exceeded"));
    let events = usage_events_of(&app, &other, served).await;
    assert_eq!(
        events.iter().filter(|e| e.status == 200).count(),
        served,
        "{events:?}"
    );
}

#[tokio::test]
async fn two_data_planes_on_one_cluster_share_a_tag_cap() {
    // Arrange
    let cluster = RedisCluster::start(3).await;
    let first = TestApp::spawn_on(&cluster.urls(), &[]).await;
    let second = first.spawn_sibling(&[]).await;
    first.set_budget("shared.tag", 1).await;
    let tagged = [("x-aig-tag", "shared.tag")];

    // Act: alternate between the instances until one refuses
    let mut served = 0;
    let refused = loop {
        let app = if served % 2 == 0 { &first } else { &second };
        let res = app.chat(&chat_body(GPT, "spend together"), &tagged).await;
        if res.status != 200 {
            break res;
        }
        served += 1;
        assert!(served < 200, "the cap never tripped");
    };
    let first_again = first.chat(&chat_body(GPT, "more"), &tagged).await;
    let second_again = second.chat(&chat_body(GPT, "more"), &tagged).await;

    // Assert
    assert!(
        served >= 2,
        "both instances served before the cap: {served}"
    );
    assert_eq!(refused.error_code(), Some("budget_exceeded"));
    assert_eq!(first_again.status, 402);
    assert_eq!(second_again.status, 402);
    let events = first.usage_events(served).await;
    assert_eq!(
        events.iter().filter(|e| e.status == 200).count(),
        served,
        "{events:?}"
    );
    assert!(first.spool_files().is_empty() && second.spool_files().is_empty());
}

/// The control plane on the same cluster: publishing, the management API, ingestion,
/// adjustments, reconciliation and login limits, with tenants on different nodes.
mod controlplane {
    use super::GPT;
    use aig_common::budget::tenant_fields;
    use aig_controlplane::accounts::{self, CreatedTenant};
    use aig_controlplane::publish;
    use aig_controlplane::reconcile::{self, Mode, Outcome};
    use aig_tests::controlplane::{DataPlane, TestControlPlane};
    use aig_tests::{chat_body, RedisCluster};
    use redis::AsyncCommands;
    use serde_json::json;
    use sqlx::PgPool;
    use uuid::Uuid;

    async fn on_cluster(cluster: &RedisCluster, pool: PgPool) -> TestControlPlane {
        TestControlPlane::spawn_with(pool, &[("REDIS_URL", &cluster.urls())]).await
    }

    fn node_of(cluster: &RedisCluster, cp: &TestControlPlane, tenant: Uuid) -> u16 {
        cluster.owner(&cp.keys().tenant(&tenant.to_string()))
    }

    /// Sends `n` chat requests and returns their total cost (micro-USD).
    async fn spend(dp: &DataPlane, tenant: &CreatedTenant, n: usize) -> i64 {
        let mut cost = 0;
        for i in 0..n {
            let r = dp
                .chat(&tenant.key, &chat_body(GPT, &format!("request {i}")), &[])
                .await;
            assert_eq!(r.status, 200, "{:?}", r.body);
            cost += r
                .header("x-aig-cost-micros")
                .and_then(|c| c.parse::<i64>().ok())
                .expect("a cost header");
        }
        cost
    }

    async fn logged_requests(pool: &PgPool, tenant: Uuid) -> i64 {
        sqlx::query_scalar("select count(*) from request_log where tenant_id = $1")
            .bind(tenant)
            .fetch_one(pool)
            .await
            .expect("count the request log")
    }

    #[sqlx::test(migrations = "../migrations")]
    async fn a_tenant_created_by_a_control_plane_on_a_cluster_is_served_and_its_budget_enforced(
        pool: PgPool,
    ) {
        // Arrange
        let cluster = RedisCluster::start(3).await;
        let cp = on_cluster(&cluster, pool).await;
        let tenant = cp.create_tenant("Cluster Co").await;
        let dp = cp.spawn_dataplane().await;

        // Act
        let first = dp
            .chat(&tenant.key, &chat_body(GPT, "hello cluster"), &[])
            .await;
        let budget = cp
            .post_json(
                &tenant.key,
                "/v1/budgets",
                &json!({ "tag": "cluster.tag", "monthly_cap_cents": 1 }),
            )
            .await;
        let tagged = [("x-aig-tag", "cluster.tag")];
        let mut served = 0;
        let refused = loop {
            let r = dp
                .chat(&tenant.key, &chat_body(GPT, "spend"), &tagged)
                .await;
            if r.status != 200 {
                break r;
            }
            served += 1;
            assert!(served < 200, "the cap never tripped");
        };
        let mut redis = cp.redis.clone();
        let _: () = redis
            .del(cp.keys().tenant(&tenant.tenant_id.to_string()))
            .await
            .expect("DEL the tenant record");
        let republished = publish::republish_missing(&cp.state)
            .await
            .expect("republish");
        let after_republish = dp.chat(&tenant.key, &chat_body(GPT, "back"), &[]).await;
        let health = cp
            .client
            .get(cp.url("/healthz"))
            .send()
            .await
            .expect("healthz answers")
            .json::<serde_json::Value>()
            .await
            .expect("healthz JSON");

        // Assert
        assert!(tenant.published, "published to the cluster at creation");
        assert_eq!(first.status, 200, "{:?}", first.body);
        assert!(
            first.content().contains("hello cluster"),
            "{:?}",
            first.body
        );
        assert!(budget.status < 300, "{:?}", budget.body);
        assert_eq!(refused.status, 402, "{:?}", refused.body);
        assert_eq!(refused.error_code(), Some("budget_exceeded"));
        assert_eq!(republished, 1);
        assert_eq!(after_republish.status, 200, "{:?}", after_republish.body);
        assert_eq!(health["redis"], "ok", "{health}");
        let key_node = cluster.owner(&cp.keys().api_key(&tenant.key.hash()));
        let budgets_node = cluster.owner(&cp.keys().budgets(&tenant.tenant_id.to_string()));
        assert_eq!(budgets_node, node_of(&cluster, &cp, tenant.tenant_id));
        assert!(
            cluster.ports().contains(&key_node),
            "the key record is on the cluster"
        );
    }

    #[sqlx::test(migrations = "../migrations")]
    async fn usage_of_tenants_on_different_nodes_is_ingested_once_and_balances_reconcile(
        pool: PgPool,
    ) {
        // Arrange
        let cluster = RedisCluster::start(3).await;
        let cp = on_cluster(&cluster, pool.clone()).await;
        let first = cp.create_tenant("First").await;
        let first_node = node_of(&cluster, &cp, first.tenant_id);
        let mut second = cp.create_tenant("Second").await;
        for i in 0..20 {
            if node_of(&cluster, &cp, second.tenant_id) != first_node {
                break;
            }
            second = cp.create_tenant(&format!("Second {i}")).await;
        }
        let dp = cp.spawn_dataplane().await;

        // Act
        let first_cost = spend(&dp, &first, 3).await;
        let second_cost = spend(&dp, &second, 2).await;
        let ingested = cp.ingest_at_least(5).await;
        let again = cp.ingest().await;
        let adjusted =
            accounts::adjust_credit(&cp.state, second.tenant_id, 250, "goodwill", Some("gw-1"))
                .await
                .expect("adjust the credit");
        let balance = cp.get(&second.key, "/v1/balance").await;
        let repaired = reconcile::reconcile_all(&cp.state)
            .await
            .expect("reconcile");
        let first_sync = reconcile::sync(&cp.state, first.tenant_id, Mode::Repair)
            .await
            .expect("sync the first tenant");

        // Assert
        assert_ne!(node_of(&cluster, &cp, second.tenant_id), first_node);
        assert_eq!(ingested.ingested, 5, "{ingested:?}");
        assert_eq!(again.read, 0, "nothing left: {again:?}");
        assert_eq!(logged_requests(&pool, first.tenant_id).await, 3);
        assert_eq!(logged_requests(&pool, second.tenant_id).await, 2);
        assert!(adjusted, "a new adjustment");
        let trial = 3_000_000;
        assert_eq!(balance.status, 200, "{:?}", balance.body);
        assert_eq!(
            balance.body["balance_micros"],
            trial - second_cost + 2_500_000
        );
        assert_eq!(
            balance.body["ledger_balance_micros"],
            trial - second_cost + 2_500_000
        );
        assert_eq!(repaired, 0, "nothing drifted");
        assert_eq!(
            first_sync,
            Outcome::Kept {
                balance: trial - first_cost,
                expected: trial - first_cost
            }
        );
        let mut redis = cp.redis.clone();
        let live: i64 = redis
            .hget(
                cp.keys().tenant(&second.tenant_id.to_string()),
                tenant_fields::BALANCE_MICROS,
            )
            .await
            .expect("HGET the balance");
        assert_eq!(live, trial - second_cost + 2_500_000);
    }

    #[sqlx::test(migrations = "../migrations")]
    async fn login_attempts_on_a_cluster_are_counted_and_a_right_password_signs_in(pool: PgPool) {
        // Arrange
        let cluster = RedisCluster::start(3).await;
        let cp = on_cluster(&cluster, pool).await;
        let email = format!("owner-{}@example.com", Uuid::new_v4().simple());
        cp.browser()
            .sign_up("Login Co", &email, "correct horse battery staple")
            .await;

        // Act
        let wrong = cp.browser().log_in(&email, "not the password").await;
        let right = cp
            .browser()
            .log_in(&email, "correct horse battery staple")
            .await;

        // Assert
        assert_ne!(wrong.status, 500, "{}", wrong.html);
        assert_ne!(wrong.status, 303, "a wrong password does not sign in");
        assert_eq!(right.status, 303, "{}", right.html);
    }
}
