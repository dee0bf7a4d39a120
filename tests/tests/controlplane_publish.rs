//! What the control plane publishes to Redis, held to what the real data plane does with it:
//! a new tenant's key works, budgets set through the API are enforced, revocation and
//! suspension stop traffic within a second, and a Redis that came back empty is refilled.

use aig_common::budget::tenant_fields;
use aig_controlplane::accounts;
use aig_controlplane::publish;
use aig_tests::chat_body;
use aig_tests::controlplane::TestControlPlane;
use redis::AsyncCommands;
use serde_json::json;
use sqlx::PgPool;
use std::time::Duration;

const GPT: &str = "openai/gpt-5.4";
/// The data plane trusts a key lookup for one second; allow scheduling slack on top.
const WITHIN_A_SECOND: Duration = Duration::from_millis(1500);

#[sqlx::test(migrations = "../migrations")]
async fn a_new_tenants_key_is_served_by_the_data_plane_and_charged_to_its_trial_credit(
    pool: PgPool,
) {
    let cp = TestControlPlane::spawn(pool).await;
    let tenant = cp.create_tenant("Acme").await;
    let dp = cp.spawn_dataplane().await;

    let answer = dp.chat(&tenant.key, &chat_body(GPT, "hello"), &[]).await;

    assert_eq!(answer.status, 200, "{:?}", answer.body);
    assert_eq!(answer.header("x-aig-served-by").as_deref(), Some(GPT));
    let cost: i64 = answer.header("x-aig-cost-micros").unwrap().parse().unwrap();
    assert!(cost > 0);
    let mut redis = cp.redis.clone();
    let balance: i64 = redis
        .hget(
            cp.keys().tenant(&tenant.tenant_id.to_string()),
            tenant_fields::BALANCE_MICROS,
        )
        .await
        .unwrap();
    assert_eq!(
        balance,
        3_000_000 - cost,
        "the 300-cent trial minus the request"
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn the_published_records_have_the_shape_the_data_plane_reads(pool: PgPool) {
    let cp = TestControlPlane::spawn(pool).await;
    let tenant = cp.create_tenant("Acme").await;
    let keys = cp.keys();
    let mut redis = cp.redis.clone();

    let record: String = redis.get(keys.api_key(&tenant.key.hash())).await.unwrap();
    let fields: std::collections::HashMap<String, String> = redis
        .hgetall(keys.tenant(&tenant.tenant_id.to_string()))
        .await
        .unwrap();

    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&record).unwrap(),
        json!({
            "key_id": tenant.key_id.to_string(),
            "tenant_id": tenant.tenant_id.to_string(),
            "revoked": false,
        })
    );
    assert_eq!(fields["status"], "active");
    assert_eq!(fields["balance_micros"], "3000000");
}

#[sqlx::test(migrations = "../migrations")]
async fn a_budget_set_through_the_api_stops_tagged_traffic_within_a_second(pool: PgPool) {
    let cp = TestControlPlane::spawn(pool).await;
    let tenant = cp.create_tenant("Acme").await;
    let dp = cp.spawn_dataplane().await;
    // ~10,000 input tokens: one request costs more than the one-cent cap.
    let big = chat_body(GPT, &"x".repeat(40_000));
    let tagged = [("x-aig-tag", "summarize.fallback")];

    let set = cp
        .post_raw(
            &tenant.key,
            "/v1/budgets",
            r#"{ "tag": "summarize.fallback", "monthly_cap_cents": 1 }"#,
        )
        .await;
    let first = dp.chat(&tenant.key, &big, &tagged).await;
    let second = dp.chat(&tenant.key, &big, &tagged).await;
    let untagged = dp.chat(&tenant.key, &big, &[]).await;

    assert_eq!(set.status, 200, "{:?}", set.body);
    assert_eq!(first.status, 200, "{:?}", first.body);
    assert_eq!(
        first.header("x-aig-budget-remaining-cents").as_deref(),
        Some("0")
    );
    assert_eq!(second.status, 402);
    assert_eq!(second.error_code(), Some("budget_exceeded"));
    assert_eq!(untagged.status, 200, "other tags are not capped");

    let listed = cp.get(&tenant.key, "/v1/budgets").await;
    let spent = listed.body["data"][0]["spent_cents"].as_i64().unwrap();
    assert!(
        spent >= 2,
        "the live counter shows the tagged spend, got {spent}"
    );

    let raised = cp
        .post_json(
            &tenant.key,
            "/v1/budgets",
            &json!({"tag": "summarize.fallback", "monthly_cap_cents": 5000}),
        )
        .await;
    let (again, took) = dp
        .chat_until(&tenant.key, &big, &tagged, 200, WITHIN_A_SECOND)
        .await;
    assert_eq!(raised.status, 200);
    assert_eq!(again.status, 200, "a raised cap lets traffic through again");
    assert!(took < WITHIN_A_SECOND);
}

#[sqlx::test(migrations = "../migrations")]
async fn a_star_budget_caps_all_of_the_tenants_traffic_and_deleting_it_lifts_the_cap(pool: PgPool) {
    let cp = TestControlPlane::spawn(pool).await;
    let tenant = cp.create_tenant("Acme").await;
    let dp = cp.spawn_dataplane().await;
    let body = chat_body(GPT, "hello");

    let set = cp
        .post_json(
            &tenant.key,
            "/v1/budgets",
            &json!({"tag": "*", "monthly_cap_cents": 0}),
        )
        .await;
    let capped = dp
        .chat(&tenant.key, &body, &[("x-aig-tag", "any.tag")])
        .await;
    let deleted = cp.delete(&tenant.key, "/v1/budgets/*").await;
    let (after, _) = dp
        .chat_until(&tenant.key, &body, &[], 200, WITHIN_A_SECOND)
        .await;

    assert_eq!(set.status, 200);
    assert_eq!(capped.status, 402);
    assert_eq!(capped.error_code(), Some("budget_exceeded"));
    assert_eq!(deleted.status, 204);
    assert_eq!(after.status, 200);
}

#[sqlx::test(migrations = "../migrations")]
async fn a_revoked_key_is_refused_by_the_data_plane_within_a_second(pool: PgPool) {
    let cp = TestControlPlane::spawn(pool).await;
    let tenant = cp.create_tenant("Acme").await;
    let (other_key, _) = accounts::create_key(&cp.state, tenant.tenant_id, "ci")
        .await
        .unwrap();
    let dp = cp.spawn_dataplane().await;
    let body = chat_body(GPT, "hello");
    assert_eq!(dp.chat(&tenant.key, &body, &[]).await.status, 200);

    accounts::revoke_key(&cp.state, tenant.tenant_id, tenant.key_id)
        .await
        .unwrap();
    let (refused, took) = dp
        .chat_until(&tenant.key, &body, &[], 401, Duration::from_secs(3))
        .await;

    assert_eq!(refused.status, 401);
    assert_eq!(refused.error_code(), Some("invalid_api_key"));
    assert!(took < WITHIN_A_SECOND, "took {took:?}");
    assert_eq!(
        dp.chat(&other_key, &body, &[]).await.status,
        200,
        "the tenant's other key still works"
    );
    let mgmt = cp.get(&tenant.key, "/v1/balance").await;
    assert_eq!(mgmt.status, 401);
}

#[sqlx::test(migrations = "../migrations")]
async fn a_suspended_tenant_is_refused_within_a_second_and_served_again_when_reinstated(
    pool: PgPool,
) {
    let cp = TestControlPlane::spawn(pool).await;
    let tenant = cp.create_tenant("Acme").await;
    let dp = cp.spawn_dataplane().await;
    let body = chat_body(GPT, "hello");

    accounts::set_suspended(&cp.state, tenant.tenant_id, true)
        .await
        .unwrap();
    let (refused, took) = dp
        .chat_until(&tenant.key, &body, &[], 403, Duration::from_secs(3))
        .await;
    accounts::set_suspended(&cp.state, tenant.tenant_id, false)
        .await
        .unwrap();
    let (served, _) = dp
        .chat_until(&tenant.key, &body, &[], 200, Duration::from_secs(3))
        .await;

    assert_eq!(refused.status, 403);
    assert_eq!(refused.error_code(), Some("tenant_suspended"));
    assert!(took < WITHIN_A_SECOND, "took {took:?}");
    assert_eq!(served.status, 200);
}

#[sqlx::test(migrations = "../migrations")]
async fn changes_are_announced_on_the_invalidation_channels(pool: PgPool) {
    let cp = TestControlPlane::spawn(pool).await;
    let tenant = cp.create_tenant("Acme").await;
    let keys = cp.keys();
    let client = redis::Client::open(aig_tests::app::redis_url()).unwrap();
    let mut pubsub = client.get_async_pubsub().await.unwrap();
    pubsub
        .subscribe(&[keys.tenant_changed_channel(), keys.key_changed_channel()])
        .await
        .unwrap();

    cp.post_json(
        &tenant.key,
        "/v1/budgets",
        &json!({"tag": "a", "monthly_cap_cents": 10}),
    )
    .await;
    accounts::revoke_key(&cp.state, tenant.tenant_id, tenant.key_id)
        .await
        .unwrap();

    use futures_util::StreamExt;
    let mut messages = pubsub.on_message();
    let mut got = Vec::new();
    for _ in 0..2 {
        let msg = tokio::time::timeout(Duration::from_secs(2), messages.next())
            .await
            .expect("a message within two seconds")
            .unwrap();
        got.push((
            msg.get_channel_name().to_owned(),
            msg.get_payload::<String>().unwrap(),
        ));
    }
    assert_eq!(
        got,
        [
            (keys.tenant_changed_channel(), tenant.tenant_id.to_string()),
            (
                keys.key_changed_channel(),
                tenant.key.hash().as_str().to_owned()
            ),
        ]
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn a_redis_that_came_back_empty_is_refilled_from_postgres(pool: PgPool) {
    let cp = TestControlPlane::spawn(pool).await;
    let tenant = cp.create_tenant("Acme").await;
    cp.post_json(
        &tenant.key,
        "/v1/budgets",
        &json!({"tag": "batch", "monthly_cap_cents": 0}),
    )
    .await;
    let dp = cp.spawn_dataplane().await;
    let first = dp.chat(&tenant.key, &chat_body(GPT, "hello"), &[]).await;
    assert_eq!(first.status, 200);
    cp.ingest().await;
    let cost: i64 = first.header("x-aig-cost-micros").unwrap().parse().unwrap();

    // Everything under the prefix is gone, as after a Redis that lost its data.
    let mut redis = cp.redis.clone();
    let names: Vec<String> = redis.keys(format!("{}*", cp.prefix)).await.unwrap();
    let _: () = redis.del(names).await.unwrap();
    let republished = publish::republish_missing(&cp.state).await.unwrap();

    assert_eq!(republished, 1);
    let tenant_key = cp.keys().tenant(&tenant.tenant_id.to_string());
    let balance: i64 = redis
        .hget(&tenant_key, tenant_fields::BALANCE_MICROS)
        .await
        .unwrap();
    assert_eq!(
        balance,
        3_000_000 - cost,
        "the ledger: trial credit minus usage"
    );
    let cap: i64 = redis
        .hget(cp.keys().budgets(&tenant.tenant_id.to_string()), "batch")
        .await
        .unwrap();
    assert_eq!(cap, 0);
    let (served, _) = dp
        .chat_until(
            &tenant.key,
            &chat_body(GPT, "again"),
            &[],
            200,
            Duration::from_secs(3),
        )
        .await;
    assert_eq!(served.status, 200);
    let capped = dp
        .chat(&tenant.key, &chat_body(GPT, "x"), &[("x-aig-tag", "batch")])
        .await;
    assert_eq!(capped.status, 402);
    assert_eq!(
        publish::republish_missing(&cp.state).await.unwrap(),
        0,
        "nothing is missing any more"
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn publishing_at_start_up_never_overwrites_a_live_balance(pool: PgPool) {
    let cp = TestControlPlane::spawn(pool).await;
    let tenant = cp.create_tenant("Acme").await;
    let tenant_key = cp.keys().tenant(&tenant.tenant_id.to_string());
    let mut redis = cp.redis.clone();
    // The data plane spent some of it since (its settle step decrements the live balance).
    let _: i64 = redis
        .hincr(&tenant_key, tenant_fields::BALANCE_MICROS, -1234)
        .await
        .unwrap();

    let (published, failed) = publish::all(&cp.state).await.unwrap();

    assert_eq!((published, failed), (1, 0));
    let balance: i64 = redis
        .hget(&tenant_key, tenant_fields::BALANCE_MICROS)
        .await
        .unwrap();
    assert_eq!(balance, 3_000_000 - 1234);
}
