//! Cross-shape translation, checked on both sides: what the mock provider received, and
//! what the OpenAI-shaped caller got back.

use aig_tests::TestApp;
use serde_json::{json, Value};

fn conversation(model: &str) -> Value {
    json!({
        "model": model,
        "messages": [
            { "role": "system", "content": "You are terse." },
            { "role": "user", "content": "Name a colour." },
            { "role": "assistant", "content": "Blue." },
            { "role": "user", "content": [{ "type": "text", "text": "Another one?" }] }
        ],
        "max_tokens": 200,
        "temperature": 0.4,
        "top_p": 0.9,
        "stop": ["###"],
        "user": "end-user-7"
    })
}

#[tokio::test]
async fn an_openai_request_reaches_anthropic_in_messages_shape() {
    let app = TestApp::spawn().await;

    let res = app
        .chat(&conversation("anthropic/claude-opus-4.7"), &[])
        .await;

    assert_eq!(res.status, 200, "{:?}", res.body);
    let sent = &app.mock.state.requests("anthropic")[0];
    assert_eq!(sent.path, "/anthropic/v1/messages");
    assert_eq!(
        sent.model, "claude-opus-4-7",
        "the catalog alias goes upstream"
    );
    assert_eq!(sent.header("x-api-key"), Some("mock-key-anthropic"));
    assert_eq!(sent.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(sent.header("authorization"), None);
    assert_eq!(sent.body["system"], "You are terse.");
    assert_eq!(
        sent.body["messages"],
        json!([
            { "role": "user", "content": "Name a colour." },
            { "role": "assistant", "content": "Blue." },
            { "role": "user", "content": "Another one?" }
        ])
    );
    assert_eq!(sent.body["max_tokens"], 200);
    assert_eq!(sent.body["temperature"], 0.4);
    assert_eq!(sent.body["top_p"], 0.9);
    assert_eq!(sent.body["stop_sequences"], json!(["###"]));
    assert_eq!(sent.body["metadata"]["user_id"], "end-user-7");
    assert!(sent.body.get("stop").is_none() && sent.body.get("user").is_none());
}

#[tokio::test]
async fn an_anthropic_answer_comes_back_in_openai_shape() {
    let app = TestApp::spawn().await;

    let res = app
        .chat(&conversation("anthropic/claude-opus-4.7"), &[])
        .await;

    assert_eq!(res.body["object"], "chat.completion");
    assert_eq!(res.body["model"], "anthropic/claude-opus-4.7");
    assert!(res.body["id"].as_str().unwrap().starts_with("chatcmpl-"));
    assert_eq!(res.body["choices"][0]["message"]["role"], "assistant");
    assert_eq!(
        res.content(),
        "Hello from anthropic/claude-opus-4-7. You said: Another one?"
    );
    assert_eq!(res.body["choices"][0]["finish_reason"], "stop");
    let usage = &res.body["usage"];
    let prompt = usage["prompt_tokens"].as_u64().unwrap();
    let completion = usage["completion_tokens"].as_u64().unwrap();
    assert!(prompt > 0 && completion > 0);
    assert_eq!(usage["total_tokens"].as_u64().unwrap(), prompt + completion);
}

#[tokio::test]
async fn an_openai_request_reaches_cohere_in_v2_chat_shape() {
    let app = TestApp::spawn().await;

    let res = app.chat(&conversation("cohere/command-a"), &[]).await;

    assert_eq!(res.status, 200, "{:?}", res.body);
    let sent = &app.mock.state.requests("cohere")[0];
    assert_eq!(sent.path, "/cohere/v2/chat");
    assert_eq!(sent.model, "command-a-03-2025");
    assert_eq!(sent.header("authorization"), Some("Bearer mock-key-cohere"));
    assert_eq!(
        sent.body["messages"],
        json!([
            { "role": "system", "content": "You are terse." },
            { "role": "user", "content": "Name a colour." },
            { "role": "assistant", "content": "Blue." },
            { "role": "user", "content": "Another one?" }
        ])
    );
    assert_eq!(sent.body["max_tokens"], 200);
    assert_eq!(sent.body["p"], 0.9);
    assert_eq!(sent.body["stop_sequences"], json!(["###"]));
    assert_eq!(res.body["model"], "cohere/command-a");
    assert_eq!(
        res.content(),
        "Hello from cohere/command-a-03-2025. You said: Another one?"
    );
    assert_eq!(res.body["choices"][0]["finish_reason"], "stop");
}

#[tokio::test]
async fn openai_shaped_upstreams_get_the_body_with_unknown_fields_passed_through() {
    let app = TestApp::spawn().await;
    let mut body = conversation("moonshot/kimi-k2.6");
    body["seed"] = json!(42);
    body["models"] = json!(["openai/gpt-5.4"]);
    body["provider"] = json!({ "ignore": ["cohere"] });

    let res = app.chat(&body, &[]).await;

    assert_eq!(res.status, 200, "{:?}", res.body);
    let sent = &app.mock.state.requests("moonshot")[0];
    assert_eq!(sent.path, "/moonshot/v1/chat/completions");
    assert_eq!(
        sent.header("authorization"),
        Some("Bearer mock-key-moonshot")
    );
    assert_eq!(sent.body["model"], "kimi-k2.6");
    assert_eq!(sent.body["seed"], 42);
    assert_eq!(
        sent.body["messages"][0],
        json!({ "role": "system", "content": "You are terse." })
    );
    assert_eq!(sent.body["stop"], json!(["###"]));
    assert_eq!(sent.body["user"], "end-user-7");
    assert!(sent.body.get("models").is_none() && sent.body.get("provider").is_none());
}

#[tokio::test]
async fn length_and_stop_sequence_finishes_map_to_openai_finish_reasons() {
    let app = TestApp::spawn().await;
    let mut short = conversation("anthropic/claude-sonnet-4-6");
    short["max_tokens"] = json!(3);
    let mut stopped = conversation("cohere/command-a");
    stopped["stop"] = json!(["You said"]);

    let short = app.chat(&short, &[]).await;
    let stopped = app.chat(&stopped, &[]).await;

    assert_eq!(short.body["choices"][0]["finish_reason"], "length");
    assert_eq!(short.body["usage"]["completion_tokens"], 3);
    assert_eq!(stopped.body["choices"][0]["finish_reason"], "stop");
    assert_eq!(stopped.content(), "Hello from cohere/command-a-03-2025. ");
}

#[tokio::test]
async fn anthropic_gets_a_default_max_tokens_and_a_clamped_temperature() {
    let app = TestApp::spawn().await;
    let body = json!({
        "model": "anthropic/claude-sonnet-4-6",
        "temperature": 1.8,
        "messages": [{ "role": "user", "content": "hi" }]
    });

    let res = app.chat(&body, &[]).await;

    assert_eq!(res.status, 200, "{:?}", res.body);
    let sent = &app.mock.state.requests("anthropic")[0];
    assert_eq!(sent.body["max_tokens"], 4096);
    assert_eq!(sent.body["temperature"], 1.0);
    assert!(sent.body.get("system").is_none());
}

#[tokio::test]
async fn an_upstream_error_in_another_shape_reaches_the_caller_in_openai_shape() {
    let app = TestApp::spawn().await;

    let res = app
        .chat(&json!({"model": "cohere/command-a-fail-400", "messages": [{"role": "user", "content": "hi"}]}), &[])
        .await;

    assert_eq!(res.status, 400);
    assert!(res.body["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("cohere/command-a-fail-400: "));
    assert_eq!(res.body["error"]["type"], "invalid_request_error");
}
