//! Stripe top-ups through `POST /webhooks/stripe`, against the real control plane, Postgres,
//! Redis and data plane: a signed `checkout.session.completed` for a session we stored
//! credits its credit (not the fee) once however often it arrives, a bad or stale signature,
//! a session we never created or one whose tenant, currency or total differ change nothing,
//! and a tenant out of credit is served again right after paying. Operators' adjustments
//! (`accounts::adjust_credit`, the CLI's `credit adjust`) move the ledger and Redis together. Events are signed here by Stripe's rule, HMAC-SHA256 over
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

/// A Checkout Session as `POST /billing/checkout` stores it after Stripe created it.
async fn store_session(pool: &PgPool, id: &str, tenant: Uuid, credit_cents: i64, fee_cents: i64) {
    sqlx::query(
        "insert into checkout_session
             (id, tenant_id, credit_cents, fee_cents, amount_total_cents, currency)
         values ($1, $2, $3, $4, $3 + $4, 'usd')",
    )
    .bind(id)
    .bind(tenant)
    .bind(credit_cents)
    .bind(fee_cents)
    .execute(pool)
    .await
    .unwrap();
}

/// `(credit, fee, total, currency, status)` of a stored session.
async fn stored_session(pool: &PgPool, id: &str) -> Option<(i64, i64, i64, String, String)> {
    sqlx::query_as(
        "select credit_cents, fee_cents, amount_total_cents, currency, status
           from checkout_session where id = $1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await
    .unwrap()
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
    store_session(&pool, "cs_test_once", id, 2_500, 0).await;
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
    assert_eq!(
        stored_session(&pool, "cs_test_once").await.unwrap().4,
        "completed"
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn bad_signatures_and_stale_timestamps_are_400_and_change_nothing(pool: PgPool) {
    let cp = billing_cp(pool.clone(), "300").await;
    let tenant = cp.create_tenant("Acme").await;
    let id = tenant.tenant_id;
    store_session(&pool, "cs_test_bad", id, 10_000, 0).await;
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

    store_session(&pool, "cs_test_topup", id, 1_000, 0).await;
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
    for session in ["cs_a", "cs_b", "cs_c", "cs_d", "cs_e"] {
        store_session(&pool, session, tenant.tenant_id, 500, 0).await;
    }

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
    assert_eq!(stored_session(&pool, "cs_a").await.unwrap().4, "created");
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
        ("metadata[credit_cents]", "2500"),
        ("client_reference_id", tenant.to_string().as_str()),
    ] {
        assert_eq!(session.field(field), Some(value), "{field}");
    }
    assert!(session
        .field("line_items[0][price_data][product_data][name]")
        .is_some());
    assert_eq!(
        session.field("line_items[1][price_data][unit_amount]"),
        None,
        "no fee configured, no fee line"
    );
    assert_eq!(
        stored_session(&pool, &session.id).await,
        Some((2_500, 0, 2_500, "usd".to_owned(), "created".to_owned()))
    );
    let success_url = session.field("success_url").unwrap();
    assert!(
        success_url.starts_with(&cp.url("/billing")),
        "{success_url}"
    );
    assert_eq!(
        session.field("cancel_url"),
        Some(cp.url("/billing?checkout=cancel").as_str())
    );

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
    assert_eq!(
        stored_session(&pool, &session.id).await.unwrap().4,
        "completed"
    );
}

/// A Stripe that answers session creation with only `id` and `url`, not a Checkout Session.
async fn start_half_stripe() -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new().route(
        "/v1/checkout/sessions",
        axum::routing::post(|| async {
            axum::Json(json!({"id": "cs_test_half", "url": "http://127.0.0.1:9/pay"}))
        }),
    );
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (base, server)
}

#[sqlx::test(migrations = "../migrations")]
async fn when_stripe_is_unreachable_or_answers_nonsense_the_payer_gets_a_502_page_and_nothing_is_stored(
    pool: PgPool,
) {
    // Arrange: a port nothing listens on, and a server whose answer is not a session.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let unreachable = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let (half, server) = start_half_stripe().await;
    let mut pages = Vec::new();
    for base in [&unreachable, &half] {
        let cp = TestControlPlane::spawn_with(
            pool.clone(),
            &[
                ("STRIPE_WEBHOOK_SECRET", SECRET),
                ("STRIPE_SECRET_KEY", "sk_test_fake_key"),
                ("STRIPE_API_BASE", base),
            ],
        )
        .await;
        let mut browser = cp.browser();
        let email = format!("payer-{}@example.com", pages.len());
        browser
            .sign_up("Payers", &email, "correct horse battery")
            .await;

        // Act
        pages.push(browser.post("/billing/checkout", &[("amount", "25")]).await);
    }
    server.abort();

    // Assert
    for page in &pages {
        assert_eq!(page.status, 502, "{}", page.html);
        assert!(page
            .html
            .contains("Stripe could not be reached; nothing was charged."));
        assert!(
            page.html.contains("$3.00"),
            "the billing page, with the balance"
        );
    }
    let stored: i64 = sqlx::query_scalar("select count(*) from checkout_session")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(stored, 0);
}

/// A control plane with a fake Stripe, a 2.5% fee and `AIG_PUBLIC_URL`, and a signed-up owner.
async fn fee_setup(
    pool: &PgPool,
) -> (
    FakeStripe,
    TestControlPlane,
    aig_tests::controlplane::Browser,
    Uuid,
) {
    let stripe = FakeStripe::start(SECRET).await;
    let base = stripe.base_url();
    let cp = TestControlPlane::spawn_with(
        pool.clone(),
        &[
            ("STRIPE_WEBHOOK_SECRET", SECRET),
            ("STRIPE_SECRET_KEY", "sk_test_fake_key"),
            ("STRIPE_API_BASE", &base),
            ("AIG_TOPUP_FEE_PERCENT", "2.5"),
            ("AIG_PUBLIC_URL", "https://gateway.example.test/"),
        ],
    )
    .await;
    stripe.set_webhook_url(&cp.url("/webhooks/stripe"));
    let mut browser = cp.browser();
    browser
        .sign_up("Fee Payers", "fees@example.com", "correct horse battery")
        .await;
    let tenant: Uuid = sqlx::query_scalar("select tenant_id from app_user where email = $1")
        .bind("fees@example.com")
        .fetch_one(pool)
        .await
        .unwrap();
    (stripe, cp, browser, tenant)
}

#[sqlx::test(migrations = "../migrations")]
async fn the_fee_is_shown_before_paying_added_as_a_second_line_and_not_credited(pool: PgPool) {
    let (stripe, cp, mut browser, tenant) = fee_setup(&pool).await;

    let page = browser.get("/billing").await;
    let redirect = browser.post("/billing/checkout", &[("amount", "25")]).await;

    assert!(
        page.html
            .contains("A 2.5% platform fee is added at checkout: a $25.00 top-up costs $25.63."),
        "{}",
        page.html
    );
    assert_eq!(redirect.status, 303, "{}", redirect.html);
    let session = stripe.sessions().pop().unwrap();
    for (field, value) in [
        ("line_items[0][price_data][unit_amount]", "2500"),
        ("line_items[0][price_data][currency]", "usd"),
        ("line_items[1][price_data][unit_amount]", "63"),
        ("line_items[1][price_data][currency]", "usd"),
        ("line_items[1][quantity]", "1"),
        ("metadata[tenant_id]", tenant.to_string().as_str()),
        (
            "success_url",
            "https://gateway.example.test/billing?checkout=success",
        ),
        (
            "cancel_url",
            "https://gateway.example.test/billing?checkout=cancel",
        ),
    ] {
        assert_eq!(session.field(field), Some(value), "{field}");
    }
    assert_eq!(
        session
            .field("line_items[1][price_data][product_data][name]")
            .unwrap(),
        "Platform fee (2.5%)"
    );
    assert_eq!(session.amount_total(), 2_563);
    assert_eq!(
        stored_session(&pool, &session.id).await,
        Some((2_500, 63, 2_563, "usd".to_owned(), "created".to_owned()))
    );

    // Stripe's page lists both lines and the total; paying credits the typed amount only.
    let checkout_page = reqwest::get(redirect.location().unwrap())
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        checkout_page.contains("Platform fee (2.5%)"),
        "{checkout_page}"
    );
    assert!(checkout_page.contains("25.63 USD"), "{checkout_page}");
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
        Some("https://gateway.example.test/billing?checkout=success")
    );
    assert_eq!(
        top_ups(&pool, tenant).await,
        [(2_500 * MICROS_PER_CENT, session.id.clone())]
    );
    let expected = (300 + 2_500) * MICROS_PER_CENT;
    assert_eq!(ledger_sum(&pool, tenant).await, expected);
    assert_eq!(redis_balance(&cp, tenant).await, expected);
    assert_eq!(
        stored_session(&pool, &session.id).await.unwrap().4,
        "completed"
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn a_completion_that_differs_from_the_stored_session_credits_nothing_and_is_acknowledged(
    pool: PgPool,
) {
    let cp = billing_cp(pool.clone(), "300").await;
    let tenant = cp.create_tenant("Acme").await;
    let other = cp.create_tenant("Other").await;
    let id = tenant.tenant_id.to_string();
    store_session(&pool, "cs_fee", tenant.tenant_id, 2_500, 63).await;

    let without_fee = completed("evt_1", "cs_fee", &id, 2_500);
    let too_much = completed("evt_2", "cs_fee", &id, 2_564);
    let euros = completed("evt_3", "cs_fee", &id, 2_563).replace("\"usd\"", "\"eur\"");
    let other_tenant = completed("evt_4", "cs_fee", &other.tenant_id.to_string(), 2_563);
    let no_tenant = completed("evt_5", "cs_fee", "not-a-uuid", 2_563);
    for (name, body) in [
        ("amount without the fee", without_fee),
        ("amount too high", too_much),
        ("other currency", euros),
        ("other tenant", other_tenant),
        ("no tenant", no_tenant),
    ] {
        let r = deliver(&cp, &body, Some(&signature(SECRET, now(), &body))).await;
        assert_eq!(r.status, 200, "{name}: {:?}", r.body);
        assert_eq!(r.body["result"], "not_credited", "{name}");
    }
    assert!(top_ups(&pool, tenant.tenant_id).await.is_empty());
    assert!(top_ups(&pool, other.tenant_id).await.is_empty());
    assert_eq!(
        redis_balance(&cp, tenant.tenant_id).await,
        300 * MICROS_PER_CENT
    );
    assert_eq!(stored_session(&pool, "cs_fee").await.unwrap().4, "created");

    // The matching completion still credits the credit, not the fee.
    let right = completed("evt_6", "cs_fee", &id, 2_563);
    let r = deliver(&cp, &right, Some(&signature(SECRET, now(), &right))).await;
    assert_eq!(r.body["result"], "credited", "{:?}", r.body);
    assert_eq!(
        top_ups(&pool, tenant.tenant_id).await,
        [(2_500 * MICROS_PER_CENT, "cs_fee".to_owned())]
    );
    let expected = (300 + 2_500) * MICROS_PER_CENT;
    assert_eq!(ledger_sum(&pool, tenant.tenant_id).await, expected);
    assert_eq!(redis_balance(&cp, tenant.tenant_id).await, expected);
}

#[sqlx::test(migrations = "../migrations")]
async fn a_session_we_never_created_credits_nothing(pool: PgPool) {
    let cp = billing_cp(pool.clone(), "300").await;
    let tenant = cp.create_tenant("Acme").await;
    let body = completed(
        "evt_foreign",
        "cs_someone_elses",
        &tenant.tenant_id.to_string(),
        2_500,
    );

    let r = deliver(&cp, &body, Some(&signature(SECRET, now(), &body))).await;

    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["result"], "not_credited");
    assert!(top_ups(&pool, tenant.tenant_id).await.is_empty());
    assert_eq!(
        redis_balance(&cp, tenant.tenant_id).await,
        300 * MICROS_PER_CENT
    );
    assert_eq!(stored_session(&pool, "cs_someone_elses").await, None);
}

#[sqlx::test(migrations = "../migrations")]
async fn an_adjustment_posts_a_ledger_entry_with_its_reason_and_moves_redis_once(pool: PgPool) {
    let cp = billing_cp(pool.clone(), "300").await;
    let tenant = cp.create_tenant("Acme").await;
    let id = tenant.tenant_id;

    let credited =
        aig_controlplane::accounts::adjust_credit(&cp.state, id, 1_000, "goodwill credit", None)
            .await
            .unwrap();
    let debited = aig_controlplane::accounts::adjust_credit(
        &cp.state,
        id,
        -250,
        " duplicate top-up reversed ",
        Some("ticket-42"),
    )
    .await
    .unwrap();
    let retried = aig_controlplane::accounts::adjust_credit(
        &cp.state,
        id,
        -250,
        "duplicate top-up reversed",
        Some("ticket-42"),
    )
    .await
    .unwrap();

    assert!(credited && debited, "both are new");
    assert!(!retried, "the same key applies once");
    let entries: Vec<(i64, Option<String>, String)> = sqlx::query_as(
        "select amount_micros, reason, idempotency_key from ledger_entry
          where tenant_id = $1 and kind = 'adjustment' order by amount_micros desc",
    )
    .bind(id)
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(entries.len(), 2, "{entries:?}");
    assert_eq!(entries[0].0, 1_000 * MICROS_PER_CENT);
    assert_eq!(entries[0].1.as_deref(), Some("goodwill credit"));
    assert_eq!(
        (entries[1].0, entries[1].1.as_deref(), entries[1].2.as_str()),
        (
            -250 * MICROS_PER_CENT,
            Some("duplicate top-up reversed"),
            "adjustment:ticket-42"
        )
    );
    let expected = (300 + 1_000 - 250) * MICROS_PER_CENT;
    assert_eq!(ledger_sum(&pool, id).await, expected);
    assert_eq!(
        redis_balance(&cp, id).await,
        expected,
        "ledger and Redis agree"
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn an_adjustment_needs_a_reason_a_non_zero_amount_and_a_known_tenant(pool: PgPool) {
    let cp = billing_cp(pool.clone(), "300").await;
    let tenant = cp.create_tenant("Acme").await;
    let adjust = |tenant: Uuid, cents: i64, reason: &'static str| {
        let state = cp.state.clone();
        async move {
            aig_controlplane::accounts::adjust_credit(&state, tenant, cents, reason, None).await
        }
    };

    let no_reason = adjust(tenant.tenant_id, 500, "   ").await.unwrap_err();
    let zero = adjust(tenant.tenant_id, 0, "nothing").await.unwrap_err();
    let unknown = adjust(Uuid::new_v4(), 500, "who?").await.unwrap_err();

    assert_eq!(no_reason.code(), "invalid_request");
    assert!(no_reason.to_string().contains("reason"), "{no_reason}");
    assert_eq!(zero.code(), "invalid_request");
    assert_eq!(unknown.code(), "tenant_not_found");
    assert_eq!(unknown.status_code(), 404);
    assert_eq!(
        ledger_sum(&pool, tenant.tenant_id).await,
        300 * MICROS_PER_CENT
    );
    assert_eq!(
        redis_balance(&cp, tenant.tenant_id).await,
        300 * MICROS_PER_CENT
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn the_aig_fake_stripe_binary_takes_a_whole_top_up_offline(pool: PgPool) {
    use tokio::io::AsyncBufReadExt;

    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let stripe_base = format!("http://127.0.0.1:{port}");
    let cp = TestControlPlane::spawn_with(
        pool.clone(),
        &[
            ("STRIPE_WEBHOOK_SECRET", SECRET),
            ("STRIPE_SECRET_KEY", "sk_test_dev_offline"),
            ("STRIPE_API_BASE", &stripe_base),
            ("AIG_TOPUP_FEE_PERCENT", "2.5"),
        ],
    )
    .await;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_aig-fake-stripe"))
        .args(["--addr", &format!("127.0.0.1:{port}")])
        .args(["--webhook-url", &cp.url("/webhooks/stripe")])
        .env("STRIPE_WEBHOOK_SECRET", SECRET)
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let first = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let mut browser = cp.browser();
    browser
        .sign_up("Offline", "offline@example.com", "correct horse battery")
        .await;
    let tenant: Uuid = sqlx::query_scalar("select tenant_id from app_user where email = $1")
        .bind("offline@example.com")
        .fetch_one(&pool)
        .await
        .unwrap();

    let redirect = browser.post("/billing/checkout", &[("amount", "40")]).await;
    let pay_url = redirect.location().unwrap().to_owned();
    let page = reqwest::get(&pay_url).await.unwrap().text().await.unwrap();
    let paid = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(&pay_url)
        .send()
        .await
        .unwrap();

    assert_eq!(
        first,
        format!(
            "aig-fake-stripe listening on {stripe_base} (webhooks to {})",
            cp.url("/webhooks/stripe")
        )
    );
    assert!(pay_url.starts_with(&stripe_base), "{pay_url}");
    assert!(
        page.contains("40.00 USD") && page.contains("1.00 USD"),
        "{page}"
    );
    assert!(page.contains("41.00 USD"), "the total: {page}");
    assert_eq!(paid.status(), 303);
    assert_eq!(
        paid.headers().get("location").and_then(|v| v.to_str().ok()),
        Some(cp.url("/billing?checkout=success").as_str())
    );
    let expected = (300 + 4_000) * MICROS_PER_CENT;
    assert_eq!(ledger_sum(&pool, tenant).await, expected);
    assert_eq!(redis_balance(&cp, tenant).await, expected);
}
