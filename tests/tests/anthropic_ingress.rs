//! The Anthropic ingress (`/anthropic/v1/messages`), non-streaming: its request and answer
//! shapes, translation to every upstream shape, and errors in Anthropic's shape.

use aig_tests::mock::Mode;
use aig_tests::TestApp;
use serde_json::{json, Value};

fn conversation(model: &str) -> Value {
    json!({
        "model": model,
        "max_tokens": 300,
        "system": [{ "type": "text", "text": "You are terse." }],
        "messages": [
            { "role": "user", "content": "Name a colour." },
            { "role": "assistant", "content": [{ "type": "text", "text": "Blue." }] },
            { "role": "user", "content": "Another one?" }
        ],
        "stop_sequences": ["###"],
        "temperature": 0.5,
        "top_p": 0.8,
        "metadata": { "user_id": "end-user-9" }
    })
}

#[tokio::test]
async fn an_anthropic_request_is_answered_in_anthropic_shape_with_the_winning_slug() {
    let app = TestApp::spawn().await;
    app.mock.state.set_mode("anthropic", Mode::Fail(429));

    let res = app
        .messages(
            &conversation("anthropic/claude-opus-4.7"),
            &[("x-aig-fallback", "openai/gpt-5.4,moonshot/kimi-k2.6")],
        )
        .await;

    assert_eq!(res.status, 200, "{:?}", res.body);
    assert_eq!(res.body["type"], "message");
    assert_eq!(res.body["role"], "assistant");
    assert_eq!(res.body["model"], "openai/gpt-5.4");
    assert!(res.body["id"].as_str().unwrap().starts_with("msg_"));
    assert_eq!(
        res.body["content"],
        json!([{ "type": "text", "text": "Hello from openai/gpt-5.4. You said: Another one?" }])
    );
    assert_eq!(res.body["stop_reason"], "end_turn");
    assert_eq!(res.body["stop_sequence"], Value::Null);
    assert!(res.body["usage"]["input_tokens"].as_u64().unwrap() > 0);
    assert!(res.body["usage"]["output_tokens"].as_u64().unwrap() > 0);
    assert_eq!(
        res.header("x-aig-chain").as_deref(),
        Some("anthropic/claude-opus-4.7:429→openai/gpt-5.4:200")
    );
    assert_eq!(
        res.header("x-aig-fallback-reason").as_deref(),
        Some("anthropic_rate_limit")
    );
    assert!(
        res.header("x-aig-cost-micros")
            .unwrap()
            .parse::<u64>()
            .unwrap()
            > 0
    );
}

#[tokio::test]
async fn an_anthropic_request_reaches_an_openai_upstream_in_openai_shape() {
    let app = TestApp::spawn().await;

    app.messages(&conversation("openai/gpt-5.4"), &[]).await;

    let sent = &app.mock.state.requests("openai")[0];
    assert_eq!(
        sent.body["messages"],
        json!([
            { "role": "system", "content": "You are terse." },
            { "role": "user", "content": "Name a colour." },
            { "role": "assistant", "content": "Blue." },
            { "role": "user", "content": "Another one?" }
        ])
    );
    assert_eq!(sent.body["max_tokens"], 300);
    assert_eq!(sent.body["stop"], json!(["###"]));
    assert_eq!(sent.body["temperature"], 0.5);
    assert_eq!(sent.body["top_p"], 0.8);
    assert_eq!(sent.body["user"], "end-user-9");
    assert_eq!(sent.header("authorization"), Some("Bearer mock-key-openai"));
    assert!(sent.body.get("metadata").is_none() && sent.body.get("system").is_none());
}

#[tokio::test]
async fn an_anthropic_request_reaches_anthropic_with_our_version_and_unknown_fields() {
    let app = TestApp::spawn().await;
    let mut body = conversation("anthropic/claude-opus-4.7");
    body["top_k"] = json!(5);

    let res = TestApp::read(
        app.client
            .post(app.url("/anthropic/v1/messages"))
            .header("x-api-key", app.key.expose())
            .header("anthropic-version", "2099-01-01")
            .header("anthropic-beta", "some-future-beta")
            .json(&body)
            .send()
            .await
            .unwrap(),
    )
    .await;

    assert_eq!(res.status, 200, "{:?}", res.body);
    let sent = &app.mock.state.requests("anthropic")[0];
    assert_eq!(sent.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(sent.header("x-api-key"), Some("mock-key-anthropic"));
    assert_eq!(sent.body["top_k"], 5);
    assert_eq!(sent.body["system"], "You are terse.");
    assert_eq!(sent.body["metadata"]["user_id"], "end-user-9");
    assert_eq!(sent.model, "claude-opus-4-7");
}

#[tokio::test]
async fn an_anthropic_request_reaches_cohere_and_comes_back_translated() {
    let app = TestApp::spawn().await;

    let res = app.messages(&conversation("cohere/command-a"), &[]).await;

    assert_eq!(res.status, 200, "{:?}", res.body);
    let sent = &app.mock.state.requests("cohere")[0];
    assert_eq!(
        sent.body["messages"][0],
        json!({ "role": "system", "content": "You are terse." })
    );
    assert_eq!(sent.body["stop_sequences"], json!(["###"]));
    assert_eq!(sent.body["p"], 0.8);
    assert_eq!(res.body["model"], "cohere/command-a");
    assert_eq!(
        res.body["content"][0]["text"],
        "Hello from cohere/command-a-03-2025. You said: Another one?"
    );
}

#[tokio::test]
async fn stop_reasons_map_to_anthropic_terms() {
    let app = TestApp::spawn().await;
    let mut short = conversation("openai/gpt-5.4");
    short["max_tokens"] = json!(2);
    let mut stopped = conversation("anthropic/claude-sonnet-4-6");
    stopped["stop_sequences"] = json!(["You said"]);

    let short = app.messages(&short, &[]).await;
    let stopped = app.messages(&stopped, &[]).await;

    assert_eq!(short.body["stop_reason"], "max_tokens");
    assert_eq!(stopped.body["stop_reason"], "stop_sequence");
    assert_eq!(stopped.body["stop_sequence"], "You said");
}

#[tokio::test]
async fn errors_come_back_in_anthropic_shape_with_the_spec_statuses() {
    let app = TestApp::spawn().await;
    app.mock.state.set_mode("anthropic", Mode::Fail(500));
    app.mock.state.set_mode("openai", Mode::Fail(503));

    let unauthorized = TestApp::read(
        app.client
            .post(app.url("/anthropic/v1/messages"))
            .header("x-api-key", "sk-aig-nope00000000000000000000000000000000")
            .json(&conversation("openai/gpt-5.4"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let bad_header = app
        .messages(
            &conversation("openai/gpt-5.4"),
            &[("x-aig-timeout-ms", "soon")],
        )
        .await;
    let no_max_tokens = app
        .messages(
            &json!({"model": "openai/gpt-5.4", "messages": [{"role": "user", "content": "hi"}]}),
            &[],
        )
        .await;
    let system_role = app
        .messages(
            &json!({"model": "openai/gpt-5.4", "max_tokens": 5, "messages": [{"role": "system", "content": "hi"}]}),
            &[],
        )
        .await;
    let unknown_provider = app.messages(&conversation("acme/x"), &[]).await;
    let down = app
        .messages(
            &conversation("anthropic/claude-opus-4.7"),
            &[("x-aig-fallback", "openai/gpt-5.4")],
        )
        .await;
    let missing = TestApp::read(
        app.client
            .get(app.url("/anthropic/v1/nothing"))
            .send()
            .await
            .unwrap(),
    )
    .await;

    for (res, status, kind) in [
        (&unauthorized, 401, "authentication_error"),
        (&bad_header, 400, "invalid_request_error"),
        (&no_max_tokens, 400, "invalid_request_error"),
        (&system_role, 400, "invalid_request_error"),
        (&unknown_provider, 400, "invalid_request_error"),
        (&down, 503, "overloaded_error"),
        (&missing, 404, "invalid_request_error"),
    ] {
        assert_eq!(res.status, status, "{:?}", res.body);
        assert_eq!(res.body["type"], "error", "{:?}", res.body);
        assert_eq!(res.body["error"]["type"], kind, "{:?}", res.body);
        assert!(!res.body["error"]["message"].as_str().unwrap().is_empty());
    }
    assert!(bad_header.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("x-aig-timeout-ms"));
    assert!(no_max_tokens.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("max_tokens"));
    assert_eq!(
        down.header("x-aig-chain").as_deref(),
        Some("anthropic/claude-opus-4.7:500→openai/gpt-5.4:503")
    );
}

#[tokio::test]
async fn bearer_auth_works_on_the_anthropic_ingress_too() {
    let app = TestApp::spawn().await;

    let res = TestApp::read(
        app.client
            .post(app.url("/anthropic/v1/messages"))
            .bearer_auth(app.key.expose())
            .json(&conversation("openai/gpt-5.4"))
            .send()
            .await
            .unwrap(),
    )
    .await;

    assert_eq!(res.status, 200);
}

#[tokio::test]
async fn the_anthropic_models_list_serves_the_catalog() {
    let app = TestApp::spawn().await;

    let res = TestApp::read(
        app.client
            .get(app.url("/anthropic/v1/models"))
            .send()
            .await
            .unwrap(),
    )
    .await;

    assert_eq!(res.status, 200);
    assert_eq!(res.body["has_more"], false);
    let data = res.body["data"].as_array().unwrap();
    let opus = data
        .iter()
        .find(|m| m["id"] == "anthropic/claude-opus-4.7")
        .unwrap();
    assert_eq!(opus["type"], "model");
    assert_eq!(opus["display_name"], "Claude Opus 4.7");
    assert_eq!(res.body["first_id"], data[0]["id"]);
}
