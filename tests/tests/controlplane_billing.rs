//! Stripe top-ups through `POST /webhooks/stripe`, against the real control plane, Postgres,
//! Redis and data plane: a signed `checkout.session.completed` credits once however often it
//! arrives, a bad or stale signature changes nothing, and a tenant out of credit is served
//! again right after paying. Events are signed here by Stripe's rule, HMAC-SHA256 over
//! `"{t}.{body}"`, computed independently of the control plane's code.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a failed request, query or signing must fail the test at once"
)]

use aig_common::budget::tenant_fields;
use aig_tests::chat_body;
use aig_tests::controlplane::TestControlPlane;
use aig_tests::fake_stripe::FakeStripe;
use aig_tests::TestResponse;
use hmac::{Hmac, Mac};
use redis::AsyncCommands;
use serde_json::{json, Value};
use sha2::Sha256;
use sqlx::PgPool;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use uuid::Uuid;

const SECRET: &str = "whsec_billing_test_secret_0123456789";
const GPT: &str = "openai/gpt-5.4";
const MICROS_PER_CENT: i64 = 10_000;

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

/// `Stripe-Signature` for `body` signed with `secret` at `t`.
fn signature(secret: &str, t: i64, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.{body}").as_bytes());
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// A paid `checkout.session.completed` as Stripe sends it (the fields the control plane reads).
fn completed(event_id: &str, session_id: &str, tenant: &str, cents: i64) -> String {
    json!({
        "id": event_id,
        "object": "event",
        "type": "checkout.session.completed",
        "data": {"object": {
            "id": session_id,
            "object": "checkout.session",
            "mode": "payment",
            "payment_status": "paid",
            "status": "complete",
            "currency": "usd",
            "amount_total": cents,
            "metadata": {"tenant_id": tenant},
        }},
    })
    .to_string()
}

async fn billing_cp(pool: PgPool, trial_cents: &str) -> TestControlPlane {
    TestControlPlane::spawn_with(
        pool,
        &[
            ("STRIPE_WEBHOOK_SECRET", SECRET),
            ("AIG_TRIAL_CREDIT_CENTS", trial_cents),
        ],
    )
    .await
}

async fn deliver(cp: &TestControlPlane, body: &str, signature: Option<&str>) -> TestResponse {
    let mut req = cp
        .client
        .post(cp.url("/webhooks/stripe"))
        .header("content-type", "application/json")
        .body(body.to_owned());
    if let Some(sig) = signature {
        req = req.header("stripe-signature", sig);
    }
    aig_tests::TestApp::read(req.send().await.unwrap()).await
}

async fn ledger_sum(pool: &PgPool, tenant: Uuid) -> i64 {
    sqlx::query_scalar::<_, i64>(
        "select coalesce(sum(amount_micros), 0)::bigint from ledger_entry where tenant_id = $1",
    )
    .bind(tenant)
    .fetch_one(pool)
    .await
    .unwrap()
}

async fn top_ups(pool: &PgPool, tenant: Uuid) -> Vec<(i64, String)> {
    sqlx::query_as::<_, (i64, String)>(
        "select amount_micros, idempotency_key from ledger_entry
          where tenant_id = $1 and kind = 'top_up' order by created_at",
    )
    .bind(tenant)
    .fetch_all(pool)
    .await
    .unwrap()
}

async fn redis_balance(cp: &TestControlPlane, tenant: Uuid) -> i64 {
    let mut redis = cp.redis.clone();
    redis
        .hget(
            cp.keys().tenant(&tenant.to_string()),
            tenant_fields::BALANCE_MICROS,
        )
        .await
        .unwrap()
}

#[sqlx::test(migrations = "../migrations")]
async fn a_signed_completion_credits_once_even_delivered_three_times_concurrently(pool: PgPool) {
    let cp = billing_cp(pool.clone(), "300").await;
    let tenant = cp.create_tenant("Acme").await;
    let id = tenant.tenant_id;
    let body = completed("evt_1", "cs_test_once", &id.to_string(), 2_500);
    let sig = signature(SECRET, now(), &body);

    let (a, b, c) = tokio::join!(
        deliver(&cp, &body, Some(&sig)),
        deliver(&cp, &body, Some(&sig)),
        deliver(&cp, &body, Some(&sig)),
    );
    // Replayed later under a new event id for the same session, freshly signed.
    let replay = completed("evt_2", "cs_test_once", &id.to_string(), 2_500);
    let replayed = deliver(&cp, &replay, Some(&signature(SECRET, now(), &replay))).await;

    for r in [&a, &b, &c, &replayed] {
        assert_eq!(r.status, 200, "{:?}", r.body);
    }
    let mut results: Vec<&str> = [&a, &b, &c]
        .iter()
        .map(|r| r.body["result"].as_str().unwrap())
        .collect();
    results.sort_unstable();
    assert_eq!(
        results,
        ["already_credited", "already_credited", "credited"]
    );
    assert_eq!(replayed.body["result"], "already_credited");
    assert_eq!(
        top_ups(&pool, id).await,
        [(2_500 * MICROS_PER_CENT, "cs_test_once".to_owned())]
    );
    let expected = (300 + 2_500) * MICROS_PER_CENT;
    assert_eq!(ledger_sum(&pool, id).await, expected);
    assert_eq!(redis_balance(&cp, id).await, expected);
}

#[sqlx::test(migrations = "../migrations")]
async fn bad_signatures_and_stale_timestamps_are_400_and_change_nothing(pool: PgPool) {
    let cp = billing_cp(pool.clone(), "300").await;
    let tenant = cp.create_tenant("Acme").await;
    let id = tenant.tenant_id;
    let body = completed("evt_bad", "cs_test_bad", &id.to_string(), 10_000);
    let t = now();
    let tampered = body.replace("10000", "99999");

    let cases = [
        (
            "wrong secret",
            body.clone(),
            Some(signature("whsec_not_the_secret_123", t, &body)),
        ),
        (
            "tampered body",
            tampered.clone(),
            Some(signature(SECRET, t, &body)),
        ),
        (
            "stale",
            body.clone(),
            Some(signature(SECRET, t - 301, &body)),
        ),
        (
            "far future",
            body.clone(),
            Some(signature(SECRET, t + 301, &body)),
        ),
        ("garbage", body.clone(), Some("t=abc,v1=00".to_owned())),
        ("missing", body.clone(), None),
    ];
    for (name, body, sig) in &cases {
        let r = deliver(&cp, body, sig.as_deref()).await;
        assert_eq!(r.status, 400, "{name}: {:?}", r.body);
        assert_eq!(r.body["error"]["param"], "Stripe-Signature", "{name}");
    }

    assert!(top_ups(&pool, id).await.is_empty());
    assert_eq!(ledger_sum(&pool, id).await, 300 * MICROS_PER_CENT);
    assert_eq!(redis_balance(&cp, id).await, 300 * MICROS_PER_CENT);
}

#[sqlx::test(migrations = "../migrations")]
async fn a_tenant_at_zero_gets_402_and_is_served_again_right_after_a_top_up(pool: PgPool) {
    let cp = billing_cp(pool.clone(), "0").await;
    let tenant = cp.create_tenant("Broke Inc").await;
    let id = tenant.tenant_id;
    let dp = cp.spawn_dataplane().await;

    let refused = dp.chat(&tenant.key, &chat_body(GPT, "hello"), &[]).await;
    assert_eq!(refused.status, 402, "{:?}", refused.body);
    assert_eq!(refused.error_code(), Some("insufficient_credits"));

    let body = completed("evt_topup", "cs_test_topup", &id.to_string(), 1_000);
    let paid = deliver(&cp, &body, Some(&signature(SECRET, now(), &body))).await;
    assert_eq!(paid.status, 200, "{:?}", paid.body);
    assert_eq!(paid.body["result"], "credited");

    let (served, took) = dp
        .chat_until(
            &tenant.key,
            &chat_body(GPT, "hello again"),
            &[],
            200,
            Duration::from_millis(1500),
        )
        .await;
    assert_eq!(served.status, 200, "{:?}", served.body);
    assert!(took < Duration::from_secs(1), "served again after {took:?}");
    let cost: i64 = served.header("x-aig-cost-micros").unwrap().parse().unwrap();

    cp.ingest_at_least(1).await;
    let expected = 1_000 * MICROS_PER_CENT - cost;
    assert_eq!(ledger_sum(&pool, id).await, expected);
    assert_eq!(
        redis_balance(&cp, id).await,
        expected,
        "ledger and Redis agree"
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn events_that_cannot_be_credited_are_acknowledged_and_credit_nothing(pool: PgPool) {
    let cp = billing_cp(pool.clone(), "300").await;
    let tenant = cp.create_tenant("Acme").await;
    let id = tenant.tenant_id.to_string();

    let unknown_tenant = completed("evt_a", "cs_a", &Uuid::new_v4().to_string(), 500);
    let euros = completed("evt_b", "cs_b", &id, 500).replace("\"usd\"", "\"eur\"");
    let no_amount: String = {
        let mut v: Value = serde_json::from_str(&completed("evt_c", "cs_c", &id, 500)).unwrap();
        v["data"]["object"]["amount_total"] = Value::Null;
        v.to_string()
    };
    let unpaid = completed("evt_d", "cs_d", &id, 500).replace("\"paid\"", "\"unpaid\"");
    let other_type = completed("evt_e", "cs_e", &id, 500)
        .replace("checkout.session.completed", "checkout.session.expired");

    for (name, body, result) in [
        ("unknown tenant", unknown_tenant, "not_credited"),
        ("other currency", euros, "not_credited"),
        ("no amount", no_amount, "not_credited"),
        ("unpaid", unpaid, "ignored"),
        ("other type", other_type, "ignored"),
    ] {
        let r = deliver(&cp, &body, Some(&signature(SECRET, now(), &body))).await;
        assert_eq!(r.status, 200, "{name}: {:?}", r.body);
        assert_eq!(r.body["result"], result, "{name}");
    }
    assert!(top_ups(&pool, tenant.tenant_id).await.is_empty());
    assert_eq!(
        redis_balance(&cp, tenant.tenant_id).await,
        300 * MICROS_PER_CENT
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn without_a_webhook_secret_billing_is_disabled(pool: PgPool) {
    let cp = TestControlPlane::spawn(pool).await;
    let body = completed("evt_x", "cs_x", &Uuid::new_v4().to_string(), 500);

    let r = deliver(&cp, &body, Some(&signature(SECRET, now(), &body))).await;

    assert_eq!(r.status, 503, "{:?}", r.body);
    assert_eq!(r.error_code(), Some("billing_disabled"));
}

#[sqlx::test(migrations = "../migrations")]
async fn checkout_sends_the_amount_and_tenant_to_stripe_and_paying_credits_the_tenant(
    pool: PgPool,
) {
    let stripe = FakeStripe::start(SECRET).await;
    let base = stripe.base_url();
    let cp = TestControlPlane::spawn_with(
        pool.clone(),
        &[
            ("STRIPE_WEBHOOK_SECRET", SECRET),
            ("STRIPE_SECRET_KEY", "sk_test_fake_key"),
            ("STRIPE_API_BASE", &base),
        ],
    )
    .await;
    stripe.set_webhook_url(&cp.url("/webhooks/stripe"));
    let mut browser = cp.browser();
    browser
        .sign_up("Payers", "payer@example.com", "correct horse battery")
        .await;
    let tenant: Uuid = sqlx::query_scalar("select tenant_id from app_user where email = $1")
        .bind("payer@example.com")
        .fetch_one(&pool)
        .await
        .unwrap();

    let billing = browser.get("/billing").await;
    assert_eq!(billing.status, 200, "{}", billing.html);
    assert!(billing.html.contains("$3.00"), "the trial credit is shown");
    assert!(billing.html.contains("trial credit"));
    let too_small = browser.post("/billing/checkout", &[("amount", "1")]).await;
    let too_large = browser
        .post("/billing/checkout", &[("amount", "1000.01")])
        .await;
    let forged = browser
        .post_raw("/billing/checkout", &[("amount", "25")])
        .await;
    assert_eq!(too_small.status, 422);
    assert_eq!(too_large.status, 422);
    assert_eq!(forged.status, 403, "no CSRF token, no session");
    assert!(stripe.sessions().is_empty());

    let redirect = browser.post("/billing/checkout", &[("amount", "25")]).await;

    assert_eq!(redirect.status, 303, "{}", redirect.html);
    let sessions = stripe.sessions();
    assert_eq!(sessions.len(), 1);
    let session = &sessions[0];
    assert_eq!(
        redirect.location(),
        Some(format!("{base}/pay/{}", session.id).as_str())
    );
    assert_eq!(
        session.authorization.as_deref(),
        Some("Bearer sk_test_fake_key")
    );
    for (field, value) in [
        ("mode", "payment"),
        ("line_items[0][price_data][currency]", "usd"),
        ("line_items[0][price_data][unit_amount]", "2500"),
        ("line_items[0][quantity]", "1"),
        ("metadata[tenant_id]", tenant.to_string().as_str()),
    ] {
        assert_eq!(session.field(field), Some(value), "{field}");
    }
    assert!(session
        .field("line_items[0][price_data][product_data][name]")
        .is_some());
    let success_url = session.field("success_url").unwrap();
    assert!(
        success_url.starts_with(&cp.url("/billing")),
        "{success_url}"
    );
    assert!(session.field("cancel_url").is_some());

    // The payer presses Pay on Stripe's page; Stripe sends the signed webhook.
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let paid = no_redirects
        .post(redirect.location().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(paid.status(), 303);
    assert_eq!(
        paid.headers().get("location").and_then(|v| v.to_str().ok()),
        Some(success_url)
    );
    assert_eq!(
        top_ups(&pool, tenant).await,
        [(2_500 * MICROS_PER_CENT, session.id.clone())]
    );
    let expected = (300 + 2_500) * MICROS_PER_CENT;
    assert_eq!(ledger_sum(&pool, tenant).await, expected);
    assert_eq!(redis_balance(&cp, tenant).await, expected);
    let after = browser.get("/billing?checkout=success").await;
    assert!(after.html.contains("$28.00"), "{}", after.html);
}
