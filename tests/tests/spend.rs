//! Spend control against real Redis: monthly caps per tag and `*`, prepaid balance,
//! suspension, the budget-remaining header, usage events, and the bound on overshoot
//! under concurrency.

use aig_tests::mock::Mode;
use aig_tests::{chat_body, TestApp};
use serde_json::json;

const GPT: &str = "openai/gpt-5.4";
const OPUS: &str = "anthropic/claude-opus-4.7";

#[expect(
    clippy::unwrap_used,
    reason = "a test helper: a missing header fails the test"
)]
fn cost_of(res: &aig_tests::TestResponse) -> i64 {
    res.header("x-aig-cost-micros").unwrap().parse().unwrap()
}

#[tokio::test]
async fn a_reached_tag_cap_is_a_402_budget_exceeded_without_any_attempt() {
    let app = TestApp::spawn().await;
    app.set_budget("summarize.fallback", 1).await;
    let tagged = [("x-aig-tag", "summarize.fallback")];

    let mut served = 0;
    let refused = loop {
        let res = app.chat(&chat_body(GPT, "spend a little"), &tagged).await;
        if res.status != 200 {
            break res;
        }
        served += 1;
        assert!(served < 200, "the cap never tripped");
    };
    let attempts_before = app.mock.state.request_count("openai");
    let again = app.chat(&chat_body(GPT, "more"), &tagged).await;
    let attempts_after = app.mock.state.request_count("openai");
    let untagged = app.chat(&chat_body(GPT, "other work"), &[]).await;

    assert_eq!(refused.status, 402);
    assert_eq!(refused.error_code(), Some("budget_exceeded"));
    assert!(refused.error_message().contains("summarize.fallback"));
    assert_eq!(again.status, 402);
    assert_eq!(attempts_after, attempts_before, "nothing dispatched");
    assert_eq!(untagged.status, 200, "other tags are not capped");
    let spent = app.spent("summarize.fallback").await;
    assert!(spent >= 10_000, "the cap of 1 cent was used up: {spent}");
}

#[tokio::test]
async fn the_star_cap_covers_all_of_a_tenants_traffic_in_both_shapes() {
    let app = TestApp::spawn().await;
    app.set_budget("*", 1).await;
    while app
        .chat(&chat_body(OPUS, "spend"), &[("x-aig-tag", "any.tag")])
        .await
        .status
        == 200
    {}

    let openai = app.chat(&chat_body(GPT, "hi"), &[]).await;
    let anthropic = app
        .messages(
            &json!({"model": GPT, "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}),
            &[],
        )
        .await;

    assert_eq!(openai.status, 402);
    assert_eq!(openai.error_code(), Some("budget_exceeded"));
    assert_eq!(anthropic.status, 402);
    assert_eq!(anthropic.body["type"], "error");
    assert_eq!(anthropic.body["error"]["type"], "billing_error");
}

#[tokio::test]
async fn answers_under_a_capped_tag_say_what_is_left_and_spend_matches_the_cost_headers() {
    let app = TestApp::spawn().await;
    app.set_budget("summarize.fallback", 5000).await;
    let tagged = [("x-aig-tag", "summarize.fallback")];

    let first = app
        .chat(&chat_body(OPUS, "Summarize this filing: ..."), &tagged)
        .await;
    let second = app
        .chat(&chat_body(OPUS, "Summarize this filing: ..."), &tagged)
        .await;
    let uncapped = app
        .chat(&chat_body(OPUS, "hi"), &[("x-aig-tag", "other")])
        .await;

    let total = cost_of(&first) + cost_of(&second);
    assert_eq!(app.spent("summarize.fallback").await, total);
    assert_eq!(app.spent("*").await, total + cost_of(&uncapped));
    let remaining = |res: &aig_tests::TestResponse| -> i64 {
        res.header("x-aig-budget-remaining-cents")
            .unwrap()
            .parse()
            .unwrap()
    };
    assert_eq!(
        remaining(&first),
        (5000 * 10_000 - cost_of(&first)) / 10_000
    );
    assert_eq!(remaining(&second), (5000 * 10_000 - total) / 10_000);
    assert_eq!(uncapped.header("x-aig-budget-remaining-cents"), None);
}

#[tokio::test]
async fn an_exhausted_balance_is_a_402_and_a_top_up_serves_again_at_once() {
    let app = TestApp::spawn().await;
    app.set_balance(1_000).await;

    let mut served_cost = 0;
    let refused = loop {
        let res = app.chat(&chat_body(OPUS, "use my credit"), &[]).await;
        if res.status != 200 {
            break res;
        }
        served_cost += cost_of(&res);
    };
    let balance_after = app.balance().await.unwrap();
    app.set_balance(50_000).await;
    let after_top_up = app.chat(&chat_body(OPUS, "thanks"), &[]).await;

    assert_eq!(refused.status, 402);
    assert_eq!(refused.error_code(), Some("insufficient_credits"));
    assert_eq!(
        balance_after,
        1_000 - served_cost,
        "the balance is debited the exact costs"
    );
    assert!(balance_after <= 0);
    assert_eq!(after_top_up.status, 200);
    assert_eq!(
        app.balance().await.unwrap(),
        50_000 - cost_of(&after_top_up)
    );
}

#[tokio::test]
async fn a_suspended_tenant_is_a_403_and_reinstating_serves_again() {
    let app = TestApp::spawn().await;
    app.set_status("suspended").await;

    let suspended = app.chat(&chat_body(GPT, "hi"), &[]).await;
    app.set_status("active").await;
    let active = app.chat(&chat_body(GPT, "hi"), &[]).await;

    assert_eq!(suspended.status, 403);
    assert_eq!(suspended.error_code(), Some("tenant_suspended"));
    assert_eq!(active.status, 200);
}

#[tokio::test]
async fn failed_cascades_are_not_charged_and_every_request_leaves_one_usage_event() {
    let app = TestApp::spawn().await;
    app.set_budget("*", 100).await;
    app.mock.state.set_mode("anthropic", Mode::Fail(500));
    app.mock.state.set_mode("openai", Mode::Fail(503));

    let failed = app
        .chat(&chat_body(OPUS, "hi"), &[("x-aig-fallback", GPT)])
        .await;
    let served = app
        .chat(
            &chat_body("moonshot/kimi-k2.6", "hi"),
            &[("x-aig-tag", "t1")],
        )
        .await;
    let events = app.usage_events(2).await;

    assert_eq!(failed.status, 503);
    assert_eq!(app.spent("*").await, cost_of(&served));
    assert_eq!(events.len(), 2);
    let failed_event = events.iter().find(|e| e.status == 503).unwrap();
    assert_eq!(failed_event.cost_micros, 0);
    assert_eq!(failed_event.served_by, None);
    assert_eq!(
        failed_event.chain,
        "anthropic/claude-opus-4.7:500→openai/gpt-5.4:503"
    );
    assert_eq!(
        failed_event.request_id,
        failed.header("x-aig-request-id").unwrap()
    );
    let served_event = events.iter().find(|e| e.status == 200).unwrap();
    assert_eq!(served_event.tag.as_deref(), Some("t1"));
    assert_eq!(served_event.tenant_id, app.tenant_id);
    assert_eq!(
        i64::try_from(served_event.cost_micros).unwrap(),
        cost_of(&served)
    );
    assert!(served_event.input_tokens > 0 && served_event.output_tokens > 0);
}

#[tokio::test]
async fn under_sixty_concurrent_requests_a_small_cap_is_overshot_by_at_most_the_in_flight_reservations(
) {
    let app = TestApp::spawn().await;
    let cap_cents: i64 = 1;
    app.set_budget("burst", 1).await;
    let body = json!({
        "model": OPUS,
        "max_tokens": 40,
        "messages": [{ "role": "user", "content": "go" }]
    });
    let catalog = aig_common::catalog::Catalog::builtin().unwrap();
    let estimate = i64::try_from(aig_dataplane::spend::estimate_micros(
        catalog.resolve(OPUS).unwrap().prices,
        "go".len(),
        Some(40),
    ))
    .unwrap();

    // Bursts of 60 concurrent requests until a whole burst is refused: then nothing is in
    // flight, so the cap itself has been reached.
    let mut charged = 0;
    let mut refused = 0;
    for burst in 0.. {
        assert!(burst < 20, "the cap never tripped for a whole burst");
        let calls = (0..60).map(|_| app.chat(&body, &[("x-aig-tag", "burst")]));
        let results = futures_util::future::join_all(calls).await;
        let served: Vec<_> = results.iter().filter(|r| r.status == 200).collect();
        let burst_refused = results.iter().filter(|r| r.status == 402).count();
        assert_eq!(served.len() + burst_refused, 60, "only 200s and 402s");
        refused += burst_refused;
        charged += served.iter().map(|r| cost_of(r)).sum::<i64>();
        if served.is_empty() {
            break;
        }
    }

    assert!(refused > 0);
    let spent = app.spent("burst").await;
    assert_eq!(spent, charged, "Redis counted exactly what was charged");
    let cap = cap_cents * 10_000;
    assert!(
        spent >= cap,
        "a refusal with nothing in flight means the cap was reached: {spent}"
    );
    // Every admitted request saw spent + reserved < cap and costs at most its reservation,
    // so the overshoot is below one reservation.
    assert!(
        spent < cap + estimate,
        "spent {spent} overshoots cap {cap} by more than one reservation ({estimate})"
    );
}
