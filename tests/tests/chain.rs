//! The fallback chain, held to SPEC §4.1–4.4: one test per control and per outcome.

use aig_tests::mock::Mode;
use aig_tests::{chat_body, TestApp};
use serde_json::json;
use std::time::{Duration, Instant};

const OPUS: &str = "anthropic/claude-opus-4.7";
const GPT: &str = "openai/gpt-5.4";
const KIMI: &str = "moonshot/kimi-k2.6";

#[tokio::test]
async fn a_healthy_primary_serves_alone_with_no_fallback_reason() {
    let app = TestApp::spawn().await;

    let res = app
        .chat(
            &chat_body(OPUS, "hi"),
            &[("x-aig-fallback", "openai/gpt-5.4,moonshot/kimi-k2.6")],
        )
        .await;

    assert_eq!(res.status, 200, "{:?}", res.body);
    assert_eq!(res.body["model"], OPUS);
    assert_eq!(res.header("x-aig-served-by").as_deref(), Some(OPUS));
    assert_eq!(
        res.header("x-aig-chain").as_deref(),
        Some("anthropic/claude-opus-4.7:200")
    );
    assert_eq!(res.header("x-aig-fallback-reason"), None);
    assert!(res
        .header("x-aig-latency-ms")
        .unwrap()
        .parse::<u64>()
        .is_ok());
    assert!(!res.header("x-aig-request-id").unwrap().is_empty());
    assert_eq!(app.mock.state.request_count("openai"), 0);
}

#[tokio::test]
async fn a_rate_limited_primary_falls_back_to_the_next_entry() {
    let app = TestApp::spawn().await;
    app.mock.state.set_mode("anthropic", Mode::Fail(429));

    let res = app
        .chat(
            &chat_body(OPUS, "hi"),
            &[("x-aig-fallback", "openai/gpt-5.4,moonshot/kimi-k2.6")],
        )
        .await;

    assert_eq!(res.status, 200, "{:?}", res.body);
    assert_eq!(res.body["model"], GPT);
    assert_eq!(res.header("x-aig-served-by").as_deref(), Some(GPT));
    assert_eq!(
        res.header("x-aig-chain").as_deref(),
        Some("anthropic/claude-opus-4.7:429→openai/gpt-5.4:200")
    );
    assert_eq!(
        res.header("x-aig-fallback-reason").as_deref(),
        Some("anthropic_rate_limit")
    );
    assert_eq!(app.mock.state.request_count("anthropic"), 1);
    assert_eq!(app.mock.state.request_count("moonshot"), 0);
}

#[tokio::test]
async fn a_server_error_then_a_timeout_cascade_to_the_third_entry_within_the_timeout() {
    let app = TestApp::spawn().await;
    let started = Instant::now();

    let res = app
        .chat(
            &chat_body("anthropic/claude-opus-4.7-fail-500", "hi"),
            &[
                ("x-aig-fallback", "openai/gpt-5.4-hang,moonshot/kimi-k2.6"),
                ("x-aig-timeout-ms", "300"),
            ],
        )
        .await;
    let elapsed = started.elapsed();

    assert_eq!(res.status, 200, "{:?}", res.body);
    assert_eq!(
        res.header("x-aig-chain").as_deref(),
        Some("anthropic/claude-opus-4.7-fail-500:500→openai/gpt-5.4-hang:timeout→moonshot/kimi-k2.6:200")
    );
    assert_eq!(
        res.header("x-aig-fallback-reason").as_deref(),
        Some("anthropic_server_error")
    );
    assert!(
        elapsed >= Duration::from_millis(300),
        "the hang was waited for: {elapsed:?}"
    );
    assert!(
        elapsed < Duration::from_millis(3000),
        "the timeout bounded the hang: {elapsed:?}"
    );
}

#[tokio::test]
async fn a_retry_budget_of_one_makes_exactly_two_attempts_then_503() {
    let app = TestApp::spawn().await;
    for p in ["anthropic", "openai", "moonshot"] {
        app.mock.state.set_mode(p, Mode::Fail(503));
    }

    let res = app
        .chat(
            &chat_body(OPUS, "hi"),
            &[
                ("x-aig-fallback", "openai/gpt-5.4,moonshot/kimi-k2.6"),
                ("x-aig-retry-budget", "1"),
            ],
        )
        .await;

    assert_eq!(res.status, 503);
    assert_eq!(res.error_code(), Some("providers_down"));
    assert_eq!(
        res.header("x-aig-chain").as_deref(),
        Some("anthropic/claude-opus-4.7:503→openai/gpt-5.4:503")
    );
    assert_eq!(
        res.header("x-aig-fallback-reason").as_deref(),
        Some("anthropic_server_error")
    );
    let total: usize = ["anthropic", "openai", "moonshot"]
        .iter()
        .map(|p| app.mock.state.request_count(p))
        .sum();
    assert_eq!(total, 2);
    assert_eq!(res.header("x-aig-served-by"), None);
}

#[tokio::test]
async fn every_entry_failing_is_a_503_with_the_whole_chain() {
    let app = TestApp::spawn().await;
    app.mock.state.set_mode("anthropic", Mode::Fail(429));
    app.mock.state.set_mode("openai", Mode::Fail(500));

    let res = app
        .chat(
            &chat_body(OPUS, "hi"),
            &[("x-aig-fallback", "openai/gpt-5.4")],
        )
        .await;

    assert_eq!(res.status, 503);
    assert_eq!(res.error_code(), Some("providers_down"));
    assert_eq!(res.body["error"]["type"], "api_error");
    assert_eq!(
        res.header("x-aig-chain").as_deref(),
        Some("anthropic/claude-opus-4.7:429→openai/gpt-5.4:500")
    );
}

#[tokio::test]
async fn a_client_error_is_returned_as_is_without_trying_the_next_entry() {
    let app = TestApp::spawn().await;

    let res = app
        .chat(
            &chat_body("anthropic/claude-opus-4.7-fail-400", "hi"),
            &[("x-aig-fallback", GPT)],
        )
        .await;

    assert_eq!(res.status, 400);
    assert_eq!(res.body["error"]["type"], "invalid_request_error");
    assert!(
        res.error_message()
            .contains("anthropic/claude-opus-4.7-fail-400"),
        "{:?}",
        res.body
    );
    assert_eq!(
        res.header("x-aig-chain").as_deref(),
        Some("anthropic/claude-opus-4.7-fail-400:400")
    );
    assert_eq!(
        res.header("x-aig-fallback-reason").as_deref(),
        Some("anthropic_client_error")
    );
    assert_eq!(app.mock.state.request_count("openai"), 0);
}

#[tokio::test]
async fn a_client_error_cascades_when_fallback_on_includes_4xx() {
    let app = TestApp::spawn().await;

    let res = app
        .chat(
            &chat_body("anthropic/claude-opus-4.7-fail-400", "hi"),
            &[
                ("x-aig-fallback", GPT),
                ("x-aig-fallback-on", "4xx,5xx,timeout"),
            ],
        )
        .await;

    assert_eq!(res.status, 200);
    assert_eq!(
        res.header("x-aig-chain").as_deref(),
        Some("anthropic/claude-opus-4.7-fail-400:400→openai/gpt-5.4:200")
    );
    assert_eq!(app.mock.state.request_count("openai"), 1);
}

#[tokio::test]
async fn a_rate_limit_is_returned_as_is_when_fallback_on_leaves_it_out() {
    let app = TestApp::spawn().await;
    app.mock.state.set_mode("anthropic", Mode::Fail(429));

    let res = app
        .chat(
            &chat_body(OPUS, "hi"),
            &[("x-aig-fallback", GPT), ("x-aig-fallback-on", "5xx")],
        )
        .await;

    assert_eq!(res.status, 429);
    assert_eq!(
        res.header("x-aig-chain").as_deref(),
        Some("anthropic/claude-opus-4.7:429")
    );
    assert_eq!(app.mock.state.request_count("openai"), 0);
}

#[tokio::test]
async fn a_content_filter_result_is_served_unless_fallback_on_includes_filter() {
    let app = TestApp::spawn().await;
    let body = chat_body("openai/gpt-5.4-filter", "hi");

    let served = app.chat(&body, &[("x-aig-fallback", OPUS)]).await;
    let cascaded = app
        .chat(
            &body,
            &[
                ("x-aig-fallback", OPUS),
                ("x-aig-fallback-on", "4xx,5xx,timeout,filter"),
            ],
        )
        .await;

    assert_eq!(served.status, 200);
    assert_eq!(served.body["choices"][0]["finish_reason"], "content_filter");
    assert_eq!(
        served.header("x-aig-chain").as_deref(),
        Some("openai/gpt-5.4-filter:filter")
    );
    assert_eq!(
        served.header("x-aig-served-by").as_deref(),
        Some("openai/gpt-5.4-filter")
    );

    assert_eq!(cascaded.status, 200);
    assert_eq!(cascaded.body["model"], OPUS);
    assert_eq!(
        cascaded.header("x-aig-chain").as_deref(),
        Some("openai/gpt-5.4-filter:filter→anthropic/claude-opus-4.7:200")
    );
    assert_eq!(
        cascaded.header("x-aig-fallback-reason").as_deref(),
        Some("openai_content_filter")
    );
    assert_eq!(app.mock.state.request_count("anthropic"), 1);
}

#[tokio::test]
async fn the_latency_budget_caps_the_whole_cascade_with_a_504() {
    let app = TestApp::spawn().await;
    let started = Instant::now();

    let res = app
        .chat(
            &chat_body("anthropic/claude-opus-4.7-slow-250-fail-500", "hi"),
            &[
                ("x-aig-fallback", "openai/gpt-5.4-hang,moonshot/kimi-k2.6"),
                ("x-aig-timeout-ms", "5000"),
                ("x-aig-max-latency-ms", "600"),
            ],
        )
        .await;
    let elapsed = started.elapsed();

    assert_eq!(res.status, 504, "{:?}", res.body);
    assert_eq!(res.error_code(), Some("latency_budget_exceeded"));
    assert_eq!(
        res.header("x-aig-chain").as_deref(),
        Some("anthropic/claude-opus-4.7-slow-250-fail-500:500→openai/gpt-5.4-hang:timeout")
    );
    assert!(elapsed < Duration::from_millis(3000), "{elapsed:?}");
    assert_eq!(app.mock.state.request_count("moonshot"), 0);
}

#[tokio::test]
async fn a_non_cascading_timeout_is_a_504_upstream_timeout() {
    let app = TestApp::spawn().await;

    let res = app
        .chat(
            &chat_body("openai/gpt-5.4-hang", "hi"),
            &[
                ("x-aig-fallback", OPUS),
                ("x-aig-timeout-ms", "200"),
                ("x-aig-fallback-on", "5xx"),
            ],
        )
        .await;

    assert_eq!(res.status, 504);
    assert_eq!(res.error_code(), Some("upstream_timeout"));
    assert_eq!(
        res.header("x-aig-chain").as_deref(),
        Some("openai/gpt-5.4-hang:timeout")
    );
}

#[tokio::test]
async fn the_body_models_array_extends_the_chain_before_the_header() {
    let app = TestApp::spawn().await;
    app.mock.state.set_mode("anthropic", Mode::Fail(500));
    let mut body = chat_body(OPUS, "hi");
    body["models"] = json!([KIMI, OPUS]);

    let res = app.chat(&body, &[("x-aig-fallback", GPT)]).await;

    assert_eq!(res.status, 200);
    assert_eq!(
        res.header("x-aig-chain").as_deref(),
        Some("anthropic/claude-opus-4.7:500→moonshot/kimi-k2.6:200")
    );
}

#[tokio::test]
async fn provider_only_and_ignore_filter_the_chain() {
    let app = TestApp::spawn().await;
    let mut only = chat_body(OPUS, "hi");
    only["models"] = json!([GPT, KIMI]);
    only["provider"] = json!({ "only": ["moonshot"] });
    let mut ignore = chat_body(OPUS, "hi");
    ignore["models"] = json!([GPT, KIMI]);
    ignore["provider"] = json!({ "ignore": ["anthropic", "openai"] });

    let only = app.chat(&only, &[]).await;
    let ignore = app.chat(&ignore, &[]).await;

    assert_eq!(
        only.header("x-aig-chain").as_deref(),
        Some("moonshot/kimi-k2.6:200")
    );
    assert_eq!(
        ignore.header("x-aig-chain").as_deref(),
        Some("moonshot/kimi-k2.6:200")
    );
    assert_eq!(app.mock.state.request_count("anthropic"), 0);
    assert_eq!(app.mock.state.request_count("openai"), 0);
}

#[tokio::test]
async fn a_filter_that_removes_every_entry_is_a_400() {
    let app = TestApp::spawn().await;
    let mut body = chat_body(OPUS, "hi");
    body["provider"] = json!({ "only": ["cohere"] });

    let res = app.chat(&body, &[]).await;

    assert_eq!(res.status, 400);
    assert_eq!(res.error_code(), Some("invalid_request"));
    assert!(res.error_message().contains("provider"));
}

#[tokio::test]
async fn each_malformed_control_header_is_a_400_naming_it() {
    let app = TestApp::spawn().await;
    for (name, value) in [
        ("x-aig-timeout-ms", "fast"),
        ("x-aig-timeout-ms", "-5"),
        ("x-aig-retry-budget", "two"),
        ("x-aig-max-latency-ms", "0"),
        ("x-aig-fallback-on", "5xx,whenever"),
        ("x-aig-tag", "spaces are not allowed"),
        ("x-aig-fallback", "openai/gpt-5.4,,moonshot/kimi-k2.6"),
    ] {
        let res = app.chat(&chat_body(OPUS, "hi"), &[(name, value)]).await;

        assert_eq!(res.status, 400, "{name}: {value}");
        assert_eq!(res.error_code(), Some("invalid_request"), "{name}");
        assert!(
            res.error_message().contains(name),
            "{name}: {}",
            res.error_message()
        );
        assert_eq!(res.body["error"]["param"], name);
    }
    let too_long_tag = "t".repeat(65);
    let res = app
        .chat(&chat_body(OPUS, "hi"), &[("x-aig-tag", &too_long_tag)])
        .await;
    assert_eq!(res.status, 400);
    assert_eq!(app.mock.state.request_count("anthropic"), 0);
}

#[tokio::test]
async fn an_unknown_provider_is_a_400_unknown_provider() {
    let app = TestApp::spawn().await;

    let primary = app.chat(&chat_body("acme/model-1", "hi"), &[]).await;
    let fallback = app
        .chat(&chat_body(OPUS, "hi"), &[("x-aig-fallback", "nope/x")])
        .await;
    let bare = app.chat(&chat_body("gpt-5.4", "hi"), &[]).await;

    assert_eq!(primary.status, 400);
    assert_eq!(primary.error_code(), Some("unknown_provider"));
    assert!(primary.error_message().contains("acme"));
    assert_eq!(fallback.error_code(), Some("unknown_provider"));
    assert_eq!(bare.status, 400);
    assert_eq!(bare.error_code(), Some("invalid_request"));
    assert!(bare.error_message().contains("provider/model"));
}

#[tokio::test]
async fn a_chain_longer_than_ten_entries_is_a_400() {
    let app = TestApp::spawn().await;
    let mut body = chat_body(OPUS, "hi");
    body["models"] = json!((0..10)
        .map(|i| format!("openai/gpt-{i}"))
        .collect::<Vec<_>>());

    let res = app.chat(&body, &[]).await;
    body["models"] = json!((0..9)
        .map(|i| format!("openai/gpt-{i}"))
        .collect::<Vec<_>>());
    let ten = app.chat(&body, &[]).await;

    assert_eq!(res.status, 400);
    assert!(res.error_message().contains("at most 10"));
    assert_eq!(ten.status, 200);
}

#[tokio::test]
async fn connection_errors_and_malformed_answers_count_as_5xx_and_cascade() {
    let app = TestApp::spawn_with(&[("AIG_PROVIDER_COHERE_BASE_URL", "http://127.0.0.1:9")]).await;

    let res = app
        .chat(
            &chat_body("cohere/command-a", "hi"),
            &[(
                "x-aig-fallback",
                "openai/gpt-5.4-malformed,moonshot/kimi-k2.6",
            )],
        )
        .await;

    assert_eq!(res.status, 200);
    assert_eq!(
        res.header("x-aig-chain").as_deref(),
        Some("cohere/command-a:error→openai/gpt-5.4-malformed:error→moonshot/kimi-k2.6:200")
    );
    assert_eq!(
        res.header("x-aig-fallback-reason").as_deref(),
        Some("cohere_connection_error")
    );
}

#[tokio::test]
async fn the_cost_header_is_the_winners_usage_at_catalog_prices_and_fallback_costs_no_more() {
    let app = TestApp::spawn().await;
    let body = chat_body(GPT, "What is the capital of France?");
    let catalog = aig_common::catalog::Catalog::builtin().unwrap();
    let prices = catalog.resolve(GPT).unwrap().prices;

    let direct = app.chat(&body, &[]).await;
    app.mock.state.set_mode("anthropic", Mode::Fail(429));
    let mut cascaded_body = body.clone();
    cascaded_body["model"] = json!(OPUS);
    let cascaded = app.chat(&cascaded_body, &[("x-aig-fallback", GPT)]).await;

    let usage = &direct.body["usage"];
    let expected = prices.cost(&aig_common::catalog::TokenUsage {
        input: usage["prompt_tokens"].as_u64().unwrap(),
        cache_read: 0,
        cache_write: 0,
        output: usage["completion_tokens"].as_u64().unwrap(),
    });
    assert!(expected.0 > 0);
    assert_eq!(
        direct.header("x-aig-cost-micros"),
        Some(expected.0.to_string())
    );
    assert_eq!(cascaded.header("x-aig-served-by").as_deref(), Some(GPT));
    assert_eq!(
        cascaded.header("x-aig-cost-micros"),
        direct.header("x-aig-cost-micros")
    );
}

#[tokio::test]
async fn an_unlisted_model_is_charged_at_its_providers_default_price() {
    let app = TestApp::spawn().await;
    let catalog = aig_common::catalog::Catalog::builtin().unwrap();
    let prices = catalog.resolve("moonshot/kimi-next").unwrap().prices;

    let res = app
        .chat(&chat_body("moonshot/kimi-next", "hello there"), &[])
        .await;

    let usage = &res.body["usage"];
    let expected = prices.cost(&aig_common::catalog::TokenUsage {
        input: usage["prompt_tokens"].as_u64().unwrap(),
        output: usage["completion_tokens"].as_u64().unwrap(),
        ..Default::default()
    });
    assert_eq!(
        res.header("x-aig-cost-micros"),
        Some(expected.0.to_string())
    );
    assert_eq!(app.mock.state.requests("moonshot")[0].model, "kimi-next");
}
