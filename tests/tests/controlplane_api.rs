//! The management API (SPEC §6) on the control plane and through the data plane's address:
//! budgets, usage, balance, key authentication, tenant isolation, errors, health.

use aig_controlplane::accounts;
use aig_tests::chat_body;
use aig_tests::controlplane::TestControlPlane;
use aig_tests::TestApp;
use serde_json::json;
use sqlx::PgPool;

const GPT: &str = "openai/gpt-5.4";
const CLAUDE: &str = "anthropic/claude-opus-4.7";
/// The seed's body, exactly as its `curl -d` sends it (form-urlencoded).
const SEED_BODY: &str = r#"{ "tag": "summarize.fallback", "monthly_cap_cents": 5000 }"#;

#[sqlx::test(migrations = "../migrations")]
async fn the_seeds_curl_body_sent_as_form_urlencoded_upserts_a_budget(pool: PgPool) {
    let cp = TestControlPlane::spawn(pool).await;
    let tenant = cp.create_tenant("Acme").await;

    let created = cp.post_raw(&tenant.key, "/v1/budgets", SEED_BODY).await;
    let updated = cp
        .post_raw(
            &tenant.key,
            "/v1/budgets",
            r#"{"tag": "summarize.fallback", "monthly_cap_cents": 7500}"#,
        )
        .await;
    let listed = cp.get(&tenant.key, "/v1/budgets").await;

    assert_eq!(created.status, 200, "{:?}", created.body);
    assert_eq!(created.body["tag"], "summarize.fallback");
    assert_eq!(created.body["monthly_cap_cents"], 5000);
    assert_eq!(created.body["spent_cents"], 0);
    assert_eq!(created.body["remaining_cents"], 5000);
    assert_eq!(updated.status, 200);
    assert_eq!(updated.body["monthly_cap_cents"], 7500);
    assert_eq!(updated.body["created_at"], created.body["created_at"]);
    assert_eq!(listed.body["data"].as_array().unwrap().len(), 1);
    assert_eq!(listed.body["data"][0]["monthly_cap_cents"], 7500);
}

#[sqlx::test(migrations = "../migrations")]
async fn budgets_are_listed_star_first_and_deleted_with_204_then_404(pool: PgPool) {
    let cp = TestControlPlane::spawn(pool).await;
    let tenant = cp.create_tenant("Acme").await;
    for (tag, cap) in [("zeta", 1), ("*", 100), ("alpha", 2)] {
        let r = cp
            .post_json(
                &tenant.key,
                "/v1/budgets",
                &json!({"tag": tag, "monthly_cap_cents": cap}),
            )
            .await;
        assert_eq!(r.status, 200);
    }

    let listed = cp.get(&tenant.key, "/v1/budgets").await;
    let deleted = cp.delete(&tenant.key, "/v1/budgets/alpha").await;
    let again = cp.delete(&tenant.key, "/v1/budgets/alpha").await;
    let after = cp.get(&tenant.key, "/v1/budgets").await;

    let tags: Vec<&str> = listed.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["tag"].as_str().unwrap())
        .collect();
    assert_eq!(tags, ["*", "alpha", "zeta"]);
    assert_eq!(deleted.status, 204);
    assert_eq!(again.status, 404);
    assert_eq!(again.error_code(), Some("budget_not_found"));
    assert_eq!(after.body["data"].as_array().unwrap().len(), 2);
}

#[sqlx::test(migrations = "../migrations")]
async fn bad_budget_bodies_are_400s_naming_the_field(pool: PgPool) {
    let cp = TestControlPlane::spawn(pool).await;
    let tenant = cp.create_tenant("Acme").await;

    for (body, param) in [
        (
            r#"{"tag": "has space", "monthly_cap_cents": 1}"#,
            Some("tag"),
        ),
        (r#"{"monthly_cap_cents": 1}"#, Some("tag")),
        (
            &format!(r#"{{"tag": "{}", "monthly_cap_cents": 1}}"#, "x".repeat(65)),
            Some("tag"),
        ),
        (
            r#"{"tag": "a", "monthly_cap_cents": -1}"#,
            Some("monthly_cap_cents"),
        ),
        (
            r#"{"tag": "a", "monthly_cap_cents": 12.5}"#,
            Some("monthly_cap_cents"),
        ),
        (
            r#"{"tag": "a", "monthly_cap_cents": "5000"}"#,
            Some("monthly_cap_cents"),
        ),
        (r#"{"tag": "a"}"#, Some("monthly_cap_cents")),
        ("tag=a&monthly_cap_cents=5", None),
        ("", None),
    ] {
        let r = cp.post_raw(&tenant.key, "/v1/budgets", body).await;

        assert_eq!(r.status, 400, "{body}");
        assert_eq!(r.error_code(), Some("invalid_request"), "{body}");
        assert_eq!(r.body["error"]["type"], "invalid_request_error");
        assert_eq!(r.body["error"]["param"].as_str(), param, "{body}");
    }
    let bad_path = cp.delete(&tenant.key, "/v1/budgets/has%20space").await;
    assert_eq!(bad_path.status, 400);
    assert_eq!(bad_path.body["error"]["param"], "tag");
}

#[sqlx::test(migrations = "../migrations")]
async fn management_calls_work_through_the_data_planes_address(pool: PgPool) {
    let cp = TestControlPlane::spawn(pool).await;
    let tenant = cp.create_tenant("Acme").await;
    let dp = cp.spawn_dataplane().await;
    let key = tenant.key.expose();

    let created = TestApp::read(
        dp.client
            .post(dp.url("/v1/budgets"))
            .header("Authorization", format!("Bearer {key}"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(SEED_BODY)
            .send()
            .await
            .unwrap(),
    )
    .await;
    let listed = TestApp::read(
        dp.client
            .get(dp.url("/v1/budgets"))
            .header("x-api-key", key)
            .send()
            .await
            .unwrap(),
    )
    .await;
    let usage = TestApp::read(
        dp.client
            .get(dp.url("/v1/usage?group_by=tag"))
            .bearer_auth(key)
            .send()
            .await
            .unwrap(),
    )
    .await;
    let balance = TestApp::read(
        dp.client
            .get(dp.url("/v1/balance"))
            .bearer_auth(key)
            .send()
            .await
            .unwrap(),
    )
    .await;
    let deleted = dp
        .client
        .delete(dp.url("/v1/budgets/summarize.fallback"))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();

    assert_eq!(created.status, 200, "{:?}", created.body);
    assert_eq!(created.body["monthly_cap_cents"], 5000);
    assert_eq!(listed.body["data"][0]["tag"], "summarize.fallback");
    assert_eq!(usage.status, 200);
    assert_eq!(usage.body["group_by"], "tag");
    assert_eq!(balance.status, 200);
    assert_eq!(balance.body["balance_cents"], 300);
    assert_eq!(deleted.status(), 204);
}

#[sqlx::test(migrations = "../migrations")]
async fn missing_unknown_and_revoked_keys_are_401_and_a_suspended_tenant_is_403(pool: PgPool) {
    let cp = TestControlPlane::spawn(pool).await;
    let tenant = cp.create_tenant("Acme").await;
    let (revoked, row) = accounts::create_key(&cp.state, tenant.tenant_id, "old")
        .await
        .unwrap();
    accounts::revoke_key(&cp.state, tenant.tenant_id, row.id)
        .await
        .unwrap();
    let unknown = aig_common::api_key::ApiKey::generate();
    let routes = ["/v1/budgets", "/v1/usage", "/v1/balance"];

    for path in routes {
        let missing = TestApp::read(cp.client.get(cp.url(path)).send().await.unwrap()).await;
        let malformed = TestApp::read(
            cp.client
                .get(cp.url(path))
                .bearer_auth("sk-proj-not-ours")
                .send()
                .await
                .unwrap(),
        )
        .await;
        let unknown = cp.get(&unknown, path).await;
        let revoked = cp.get(&revoked, path).await;
        for (what, r) in [
            ("missing", &missing),
            ("malformed", &malformed),
            ("unknown", &unknown),
            ("revoked", &revoked),
        ] {
            assert_eq!(r.status, 401, "{what} key on {path}");
            assert_eq!(
                r.error_code(),
                Some("invalid_api_key"),
                "{what} key on {path}"
            );
            assert_eq!(r.body["error"]["type"], "authentication_error");
        }
    }
    let revoked_delete = cp.delete(&revoked, "/v1/budgets/a").await;
    assert_eq!(revoked_delete.status, 401);

    accounts::set_suspended(&cp.state, tenant.tenant_id, true)
        .await
        .unwrap();
    for path in routes {
        let r = cp.get(&tenant.key, path).await;
        assert_eq!(r.status, 403, "{path}");
        assert_eq!(r.error_code(), Some("tenant_suspended"));
    }
    let post = cp.post_raw(&tenant.key, "/v1/budgets", SEED_BODY).await;
    assert_eq!(post.status, 403);
}

#[sqlx::test(migrations = "../migrations")]
async fn a_tenants_key_never_reads_or_changes_another_tenants_budgets_usage_or_balance(
    pool: PgPool,
) {
    let cp = TestControlPlane::spawn(pool).await;
    let a = cp.create_tenant("Tenant A").await;
    let b = cp.create_tenant("Tenant B").await;
    let dp = cp.spawn_dataplane().await;
    cp.post_raw(&a.key, "/v1/budgets", SEED_BODY).await;
    let served = dp
        .chat(&a.key, &chat_body(GPT, "hello"), &[("x-aig-tag", "mine")])
        .await;
    assert_eq!(served.status, 200);
    cp.ingest_at_least(1).await;

    let b_budgets = cp.get(&b.key, "/v1/budgets").await;
    let b_delete = cp.delete(&b.key, "/v1/budgets/summarize.fallback").await;
    let b_upsert = cp
        .post_raw(
            &b.key,
            "/v1/budgets",
            r#"{"tag": "summarize.fallback", "monthly_cap_cents": 1}"#,
        )
        .await;
    let b_usage = cp.get(&b.key, "/v1/usage?group_by=tag").await;
    let b_balance = cp.get(&b.key, "/v1/balance").await;
    let a_budgets = cp.get(&a.key, "/v1/budgets").await;
    let a_usage = cp.get(&a.key, "/v1/usage?group_by=tag").await;

    assert_eq!(b_budgets.body["data"], json!([]));
    assert_eq!(b_delete.status, 404);
    assert_eq!(b_upsert.status, 200, "B gets its own budget of that tag");
    assert_eq!(b_usage.body["data"], json!([]));
    assert_eq!(b_balance.body["balance_micros"], 3_000_000);
    assert_eq!(b_balance.body["month_to_date_spend_micros"], 0);
    assert_eq!(a_budgets.body["data"][0]["monthly_cap_cents"], 5000);
    assert_eq!(a_usage.body["data"][0]["tag"], "mine");
    assert_eq!(a_usage.body["data"][0]["requests"], 1);
}

#[sqlx::test(migrations = "../migrations")]
async fn usage_is_grouped_by_tag_model_and_day_after_ingestion(pool: PgPool) {
    let cp = TestControlPlane::spawn(pool).await;
    let tenant = cp.create_tenant("Acme").await;
    let dp = cp.spawn_dataplane().await;
    let mut costs = 0;
    let fail_429 = format!("{GPT}-fail-429");
    let requests: [(&str, &[(&str, &str)]); 4] = [
        (GPT, &[("x-aig-tag", "summarize")]),
        (GPT, &[("x-aig-tag", "summarize")]),
        (
            &fail_429,
            &[("x-aig-tag", "chat"), ("x-aig-fallback", CLAUDE)],
        ),
        (GPT, &[]),
    ];
    for (model, headers) in requests {
        let r = dp
            .chat(&tenant.key, &chat_body(model, "hello there"), headers)
            .await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        costs += r
            .header("x-aig-cost-micros")
            .unwrap()
            .parse::<i64>()
            .unwrap();
    }
    let ingested = cp.ingest_at_least(4).await;
    assert_eq!(ingested.ingested, 4);

    let by_tag = cp.get(&tenant.key, "/v1/usage?group_by=tag").await;
    let by_model = cp.get(&tenant.key, "/v1/usage?group_by=model").await;
    let by_day = cp.get(&tenant.key, "/v1/usage").await;

    assert_eq!(by_tag.status, 200, "{:?}", by_tag.body);
    let tags: Vec<(serde_json::Value, i64, i64)> = by_tag.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["tag"].clone(),
                g["requests"].as_i64().unwrap(),
                g["fallbacks"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        tags,
        [
            (json!(null), 1, 0),
            (json!("chat"), 1, 1),
            (json!("summarize"), 2, 0)
        ]
    );
    let models: Vec<(&str, i64)> = by_model.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["model"].as_str().unwrap(),
                g["requests"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(models, [(CLAUDE, 1), (GPT, 3)]);
    assert_eq!(by_day.body["group_by"], "day");
    assert_eq!(by_day.body["data"].as_array().unwrap().len(), 1);
    assert_eq!(by_day.body["data"][0]["requests"], 4);
    for body in [&by_tag.body, &by_model.body, &by_day.body] {
        assert_eq!(body["total"]["requests"], 4);
        assert_eq!(body["total"]["fallbacks"], 1);
        assert_eq!(body["total"]["cost_micros"], costs);
        assert_eq!(body["total"]["cost_cents"], (costs + 9_999) / 10_000);
        assert!(body["total"]["input_tokens"].as_i64().unwrap() > 0);
        assert!(body["total"]["output_tokens"].as_i64().unwrap() > 0);
    }
    let empty_range = cp
        .get(&tenant.key, "/v1/usage?from=2020-01-01&to=2020-01-31")
        .await;
    assert_eq!(empty_range.body["data"], json!([]));
    assert_eq!(empty_range.body["total"]["requests"], 0);
}

#[sqlx::test(migrations = "../migrations")]
async fn bad_usage_parameters_are_400s_naming_the_parameter(pool: PgPool) {
    let cp = TestControlPlane::spawn(pool).await;
    let tenant = cp.create_tenant("Acme").await;

    for (query, param) in [
        ("group_by=week", "group_by"),
        ("from=01-02-2026", "from"),
        ("to=2026-02-30", "to"),
        ("from=2026-03-02&to=2026-03-01", "from"),
        ("granularity=day", "granularity"),
    ] {
        let r = cp.get(&tenant.key, &format!("/v1/usage?{query}")).await;

        assert_eq!(r.status, 400, "{query}");
        assert_eq!(r.error_code(), Some("invalid_request"));
        assert_eq!(r.body["error"]["param"], param, "{query}");
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn the_balance_is_the_trial_credit_minus_usage_with_month_to_date_spend(pool: PgPool) {
    let cp = TestControlPlane::spawn(pool).await;
    let tenant = cp.create_tenant("Acme").await;
    let dp = cp.spawn_dataplane().await;
    let mut costs = 0;
    for _ in 0..3 {
        let r = dp.chat(&tenant.key, &chat_body(GPT, "hello"), &[]).await;
        costs += r
            .header("x-aig-cost-micros")
            .unwrap()
            .parse::<i64>()
            .unwrap();
    }

    let before_ingest = cp.get(&tenant.key, "/v1/balance").await;
    cp.ingest_at_least(3).await;
    let after_ingest = cp.get(&tenant.key, "/v1/balance").await;

    assert_eq!(before_ingest.status, 200);
    assert_eq!(
        before_ingest.body["balance_micros"],
        3_000_000 - costs,
        "live, from Redis"
    );
    assert_eq!(after_ingest.body["balance_micros"], 3_000_000 - costs);
    assert_eq!(
        after_ingest.body["ledger_balance_micros"],
        3_000_000 - costs
    );
    assert_eq!(
        after_ingest.body["balance_cents"],
        (3_000_000 - costs).div_euclid(10_000)
    );
    assert_eq!(after_ingest.body["month_to_date_spend_micros"], costs);
    assert_eq!(
        after_ingest.body["month_to_date_spend_cents"],
        (costs + 9_999) / 10_000
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn unknown_routes_and_methods_answer_in_the_error_shape(pool: PgPool) {
    let cp = TestControlPlane::spawn(pool).await;

    let missing = TestApp::read(cp.client.get(cp.url("/v1/nothing")).send().await.unwrap()).await;
    let wrong_method =
        TestApp::read(cp.client.put(cp.url("/v1/budgets")).send().await.unwrap()).await;

    assert_eq!(missing.status, 404);
    assert_eq!(missing.error_code(), Some("not_found"));
    assert_eq!(wrong_method.status, 405);
    assert_eq!(wrong_method.error_code(), Some("method_not_allowed"));
}

#[sqlx::test(migrations = "../migrations")]
async fn healthz_reports_postgres_and_redis_and_metrics_count_requests(pool: PgPool) {
    let cp = TestControlPlane::spawn(pool).await;
    let tenant = cp.create_tenant("Acme").await;
    cp.get(&tenant.key, "/v1/budgets").await;

    let health = TestApp::read(cp.client.get(cp.url("/healthz")).send().await.unwrap()).await;
    let metrics = cp
        .client
        .get(cp.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();

    assert_eq!(health.status, 200);
    assert_eq!(
        health.body,
        json!({"status": "ok", "postgres": "ok", "redis": "ok"})
    );
    assert!(
        metrics.contains(r#"aig_controlplane_requests_total{route="/v1/budgets",status="200"} 1"#),
        "{metrics}"
    );
    assert!(metrics.contains("aig_controlplane_usage_events_ingested_total"));
    assert!(!metrics.contains(tenant.key.expose()));
}
