//! Streaming on both ingresses (SPEC §4.5): translation of event streams in every
//! direction, fallback only before the first content, mid-stream failures in the caller's
//! shape, client disconnects, and charging from the stream's own usage.

use aig_tests::mock::Mode;
use aig_tests::TestApp;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const CHAT: &str = "/v1/chat/completions";
const MESSAGES: &str = "/anthropic/v1/messages";

fn openai_stream(model: &str, text: &str) -> Value {
    json!({ "model": model, "stream": true, "messages": [{ "role": "user", "content": text }] })
}

fn anthropic_stream(model: &str, text: &str) -> Value {
    json!({
        "model": model, "stream": true, "max_tokens": 256,
        "messages": [{ "role": "user", "content": text }]
    })
}

#[tokio::test]
async fn an_openai_stream_is_served_by_every_upstream_shape() {
    let app = TestApp::spawn().await;
    for (slug, upstream) in [
        ("openai/gpt-5.4", "openai/gpt-5.4"),
        ("anthropic/claude-opus-4.7", "anthropic/claude-opus-4-7"),
        ("cohere/command-a", "cohere/command-a-03-2025"),
        ("moonshot/kimi-k2.6", "moonshot/kimi-k2.6"),
    ] {
        let res = app
            .stream(CHAT, &openai_stream(slug, "stream me"), &[])
            .await;

        assert_eq!(res.status, 200, "{slug}");
        assert!(res
            .header("content-type")
            .unwrap()
            .starts_with("text/event-stream"));
        assert_eq!(res.header("x-aig-served-by").as_deref(), Some(slug));
        assert_eq!(res.header("x-aig-chain"), Some(format!("{slug}:200")));
        assert_eq!(
            res.openai_text(),
            format!("Hello from {upstream}. You said: stream me"),
            "{slug}"
        );
        let chunks: Vec<Value> = res
            .frames
            .iter()
            .filter(|f| f.data != "[DONE]")
            .map(|f| f.json())
            .collect();
        assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
        assert!(chunks
            .iter()
            .all(|c| c["object"] == "chat.completion.chunk" && c["model"] == slug));
        let finishes: Vec<&Value> = chunks
            .iter()
            .map(|c| &c["choices"][0]["finish_reason"])
            .filter(|f| !f.is_null())
            .collect();
        assert_eq!(finishes, [&json!("stop")], "{slug}");
        assert!(
            chunks.iter().all(|c| c.get("usage").is_none()),
            "no usage chunk unless asked"
        );
        assert_eq!(res.frames.last().unwrap().data, "[DONE]");
    }
}

#[tokio::test]
async fn the_usage_chunk_is_sent_only_when_the_caller_asks_but_always_requested_upstream() {
    let app = TestApp::spawn().await;
    let mut body = openai_stream("openai/gpt-5.4", "count me");
    body["stream_options"] = json!({ "include_usage": true });

    let with = app.stream(CHAT, &body, &[]).await;
    let without = app
        .stream(CHAT, &openai_stream("openai/gpt-5.4", "count me"), &[])
        .await;

    let usage_chunk = with.frames[with.frames.len() - 2].json();
    assert_eq!(usage_chunk["choices"], json!([]));
    assert!(usage_chunk["usage"]["prompt_tokens"].as_u64().unwrap() > 0);
    assert!(usage_chunk["usage"]["completion_tokens"].as_u64().unwrap() > 0);
    assert!(without
        .frames
        .iter()
        .all(|f| f.json().get("usage").is_none()));
    for sent in app.mock.state.requests("openai") {
        assert_eq!(sent.body["stream_options"]["include_usage"], true);
    }
}

#[tokio::test]
async fn an_anthropic_stream_is_served_by_every_upstream_shape() {
    let app = TestApp::spawn().await;
    for (slug, upstream) in [
        ("anthropic/claude-opus-4.7", "anthropic/claude-opus-4-7"),
        ("openai/gpt-5.4", "openai/gpt-5.4"),
        ("cohere/command-a", "cohere/command-a-03-2025"),
    ] {
        let res = app
            .stream(MESSAGES, &anthropic_stream(slug, "stream me"), &[])
            .await;

        assert_eq!(res.status, 200, "{slug}");
        assert_eq!(res.header("x-aig-chain"), Some(format!("{slug}:200")));
        let names = res.event_names();
        assert_eq!(
            names.first().map(String::as_str),
            Some("message_start"),
            "{slug}"
        );
        assert_eq!(
            names[names.len() - 3..],
            ["content_block_stop", "message_delta", "message_stop"]
        );
        assert!(names.contains(&"content_block_start".to_owned()));
        assert_eq!(
            res.anthropic_text(),
            format!("Hello from {upstream}. You said: stream me")
        );
        let start = res.frames[0].json();
        assert_eq!(start["message"]["model"], slug);
        assert!(start["message"]["id"].as_str().unwrap().starts_with("msg_"));
        let delta = res
            .frames
            .iter()
            .find(|f| f.event.as_deref() == Some("message_delta"))
            .unwrap()
            .json();
        assert_eq!(delta["delta"]["stop_reason"], "end_turn");
        assert!(
            delta["usage"]["output_tokens"].as_u64().unwrap() > 0,
            "{slug}"
        );
        assert!(
            delta["usage"]["input_tokens"].as_u64().unwrap() > 0,
            "{slug}"
        );
    }
}

#[tokio::test]
async fn failures_before_the_first_content_cascade_on_a_stream() {
    let app = TestApp::spawn_with(&[("AIG_PROVIDER_COHERE_BASE_URL", "http://127.0.0.1:9")]).await;
    // The 429 goes last: its `retry-after: 1` marks anthropic degraded for a second
    // (SPEC §5), so an anthropic primary right after it would be skipped, not attempted.
    for (primary, outcome) in [
        ("anthropic/claude-opus-4.7-fail-500", "500"),
        ("anthropic/claude-opus-4.7-early-error", "529"),
        ("openai/gpt-5.4-early-error", "500"),
        ("anthropic/claude-opus-4.7-stall", "timeout"),
        ("cohere/command-a", "error"),
        ("anthropic/claude-opus-4.7-fail-429", "429"),
    ] {
        let started = Instant::now();
        let res = app
            .stream(
                CHAT,
                &openai_stream(primary, "hi"),
                &[
                    ("x-aig-fallback", "moonshot/kimi-k2.6"),
                    ("x-aig-timeout-ms", "400"),
                ],
            )
            .await;

        assert_eq!(res.status, 200, "{primary}");
        assert_eq!(
            res.header("x-aig-chain"),
            Some(format!("{primary}:{outcome}→moonshot/kimi-k2.6:200")),
            "{primary}"
        );
        assert_eq!(
            res.openai_text(),
            "Hello from moonshot/kimi-k2.6. You said: hi"
        );
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}

#[tokio::test]
async fn an_error_event_after_message_start_still_cascades_for_an_anthropic_caller() {
    let app = TestApp::spawn().await;

    let res = app
        .stream(
            MESSAGES,
            &anthropic_stream("anthropic/claude-opus-4.7-early-error", "hi"),
            &[("x-aig-fallback", "openai/gpt-5.4")],
        )
        .await;

    assert_eq!(res.status, 200);
    assert_eq!(
        res.header("x-aig-chain").as_deref(),
        Some("anthropic/claude-opus-4.7-early-error:529→openai/gpt-5.4:200")
    );
    assert_eq!(
        res.header("x-aig-fallback-reason").as_deref(),
        Some("anthropic_server_error")
    );
    assert!(!res.event_names().contains(&"error".to_owned()));
    assert_eq!(
        res.anthropic_text(),
        "Hello from openai/gpt-5.4. You said: hi"
    );
    assert_eq!(res.frames[0].json()["message"]["model"], "openai/gpt-5.4");
}

#[tokio::test]
async fn when_every_entry_fails_a_stream_gets_a_real_http_error_not_a_200() {
    let app = TestApp::spawn().await;
    app.mock.state.set_mode("anthropic", Mode::EarlyError);
    app.mock.state.set_mode("openai", Mode::Fail(500));

    let openai = app
        .stream(
            CHAT,
            &openai_stream("anthropic/claude-opus-4.7", "hi"),
            &[("x-aig-fallback", "openai/gpt-5.4")],
        )
        .await;
    let anthropic_res = TestApp::read(
        app.send(
            MESSAGES,
            &anthropic_stream("anthropic/claude-opus-4.7", "hi"),
            &[("x-aig-fallback", "openai/gpt-5.4")],
        )
        .await,
    )
    .await;

    assert_eq!(openai.status, 503);
    assert!(openai
        .header("content-type")
        .unwrap()
        .starts_with("application/json"));
    assert_eq!(
        openai.header("x-aig-chain").as_deref(),
        Some("anthropic/claude-opus-4.7:529→openai/gpt-5.4:500")
    );
    assert_eq!(anthropic_res.status, 503);
    assert_eq!(anthropic_res.body["type"], "error");
    assert_eq!(anthropic_res.body["error"]["type"], "overloaded_error");
}

#[tokio::test]
async fn a_mid_stream_failure_ends_an_openai_stream_with_an_error_and_no_done() {
    let app = TestApp::spawn().await;
    for primary in [
        "openai/gpt-5.4-midstream-error",
        "cohere/command-a-midstream-error",
    ] {
        let res = app
            .stream(
                CHAT,
                &openai_stream(primary, "hi"),
                &[("x-aig-fallback", "moonshot/kimi-k2.6")],
            )
            .await;

        assert_eq!(res.status, 200, "{primary}");
        assert_eq!(res.header("x-aig-chain"), Some(format!("{primary}:200")));
        assert!(
            !res.openai_text().is_empty(),
            "content was streamed before the failure"
        );
        let last = res.frames.last().unwrap().json();
        assert!(
            last["error"]["message"].as_str().unwrap().contains(primary),
            "{last}"
        );
        assert!(res.frames.iter().all(|f| f.data != "[DONE]"), "{primary}");
    }
    assert_eq!(
        app.mock.state.request_count("moonshot"),
        0,
        "no switch of provider mid-stream"
    );
}

#[tokio::test]
async fn a_mid_stream_failure_ends_an_anthropic_stream_with_an_error_event() {
    let app = TestApp::spawn().await;

    let res = app
        .stream(
            MESSAGES,
            &anthropic_stream("anthropic/claude-opus-4.7-midstream-error", "hi"),
            &[("x-aig-fallback", "openai/gpt-5.4")],
        )
        .await;

    assert_eq!(res.status, 200);
    let names = res.event_names();
    assert_eq!(names.last().map(String::as_str), Some("error"));
    assert!(!names.contains(&"message_stop".to_owned()));
    let error = res.frames.last().unwrap().json();
    assert_eq!(error["type"], "error");
    assert_eq!(error["error"]["type"], "overloaded_error");
    assert_eq!(app.mock.state.request_count("openai"), 0);
}

#[tokio::test]
async fn a_client_that_goes_away_cancels_the_upstream_and_is_charged_for_what_it_got() {
    let app = TestApp::spawn().await;
    let response = app
        .send(CHAT, &openai_stream("openai/gpt-5.4-drip-100", "hi"), &[])
        .await;
    let mut body = response.bytes_stream();
    use futures_util::StreamExt;
    let first = body.next().await.unwrap().unwrap();
    assert!(!first.is_empty());

    drop(body);

    let deadline = Instant::now() + Duration::from_secs(3);
    while app.mock.state.cancelled_count("openai") == 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        app.mock.state.cancelled_count("openai"),
        1,
        "the upstream stream was cut"
    );
    let events = app.usage_events(1).await;
    assert_eq!(events.len(), 1);
    let event = &events[0];
    assert!(event.client_disconnected);
    assert!(event.stream);
    assert!(event.cost_micros > 0, "{event:?}");
    assert!(
        event.usage_estimated,
        "the upstream never reported usage: estimated"
    );
}

#[tokio::test]
async fn a_completed_stream_is_charged_from_the_streams_own_usage() {
    let app = TestApp::spawn().await;
    let catalog = aig_common::catalog::Catalog::builtin().unwrap();
    let mut body = openai_stream("openai/gpt-5.4", "what does this cost?");
    body["stream_options"] = json!({ "include_usage": true });
    let anthropic_body = anthropic_stream("anthropic/claude-opus-4.7", "what does this cost?");

    let openai_res = app
        .stream(CHAT, &body, &[("x-aig-tag", "stream.test")])
        .await;
    let anthropic_res = app.stream(MESSAGES, &anthropic_body, &[]).await;
    let events = app.usage_events(2).await;

    let reported = openai_res.frames[openai_res.frames.len() - 2].json()["usage"].clone();
    let openai_event = events.iter().find(|e| e.ingress == "openai").unwrap();
    assert_eq!(
        openai_event.input_tokens,
        reported["prompt_tokens"].as_u64().unwrap()
    );
    assert_eq!(
        openai_event.output_tokens,
        reported["completion_tokens"].as_u64().unwrap()
    );
    assert!(!openai_event.usage_estimated);
    assert_eq!(openai_event.tag.as_deref(), Some("stream.test"));
    let prices = catalog.resolve("openai/gpt-5.4").unwrap().prices;
    let expected = prices.cost(&aig_common::catalog::TokenUsage {
        input: openai_event.input_tokens,
        output: openai_event.output_tokens,
        ..Default::default()
    });
    assert_eq!(openai_event.cost_micros, expected.0);

    let delta = anthropic_res
        .frames
        .iter()
        .find(|f| f.event.as_deref() == Some("message_delta"))
        .unwrap()
        .json();
    let anthropic_event = events.iter().find(|e| e.ingress == "anthropic").unwrap();
    assert_eq!(
        anthropic_event.output_tokens,
        delta["usage"]["output_tokens"].as_u64().unwrap()
    );
    assert_eq!(
        anthropic_event.served_by.as_deref(),
        Some("anthropic/claude-opus-4.7")
    );
    assert!(anthropic_event.cost_micros > 0);
    assert_eq!(
        openai_event.request_id,
        openai_res.header("x-aig-request-id").unwrap()
    );
}

#[tokio::test]
async fn a_content_filtered_stream_cascades_only_with_filter() {
    let app = TestApp::spawn().await;
    let body = openai_stream("openai/gpt-5.4-filter", "hi");

    let served = app
        .stream(CHAT, &body, &[("x-aig-fallback", "moonshot/kimi-k2.6")])
        .await;
    let cascaded = app
        .stream(
            CHAT,
            &body,
            &[
                ("x-aig-fallback", "moonshot/kimi-k2.6"),
                ("x-aig-fallback-on", "429,5xx,timeout,filter"),
            ],
        )
        .await;

    assert_eq!(
        served.header("x-aig-chain").as_deref(),
        Some("openai/gpt-5.4-filter:filter")
    );
    assert!(served
        .frames
        .iter()
        .any(|f| f.json()["choices"][0]["finish_reason"] == "content_filter"));
    assert_eq!(
        cascaded.header("x-aig-chain").as_deref(),
        Some("openai/gpt-5.4-filter:filter→moonshot/kimi-k2.6:200")
    );
    assert_eq!(
        cascaded.openai_text(),
        "Hello from moonshot/kimi-k2.6. You said: hi"
    );
}
