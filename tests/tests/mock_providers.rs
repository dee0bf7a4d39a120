//! The mock providers themselves: wire shapes, validation, faults, streams and the control API.

use std::time::{Duration, Instant};

use aig_tests::mock::{MockProviders, Mode};
use futures_util::StreamExt;
use reqwest::StatusCode;
use serde_json::{json, Value};

struct TestMock {
    mock: MockProviders,
    http: reqwest::Client,
}

#[expect(
    clippy::unwrap_used,
    reason = "test helper: a broken mock fails the test"
)]
impl TestMock {
    async fn start() -> TestMock {
        TestMock {
            mock: MockProviders::start().await.unwrap(),
            http: reqwest::Client::new(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.mock.addr)
    }

    async fn openai(&self, provider: &str, body: &Value) -> reqwest::Response {
        self.http
            .post(format!("{}/chat/completions", self.mock.base_url(provider)))
            .bearer_auth("sk-test")
            .json(body)
            .send()
            .await
            .unwrap()
    }

    async fn anthropic(&self, body: &Value) -> reqwest::Response {
        self.http
            .post(format!("{}/v1/messages", self.mock.base_url("anthropic")))
            .header("x-api-key", "sk-ant-test")
            .header("anthropic-version", "2023-06-01")
            .json(body)
            .send()
            .await
            .unwrap()
    }

    async fn cohere(&self, body: &Value) -> reqwest::Response {
        self.http
            .post(format!("{}/v2/chat", self.mock.base_url("cohere")))
            .bearer_auth("co-test")
            .json(body)
            .send()
            .await
            .unwrap()
    }
}

fn openai_body(model: &str, said: &str) -> Value {
    json!({
        "model": model,
        "messages": [
            { "role": "system", "content": "Be brief." },
            { "role": "user", "content": said },
        ],
    })
}

fn anthropic_body(model: &str, said: &str) -> Value {
    json!({
        "model": model,
        "max_tokens": 1024,
        "system": "Be brief.",
        "messages": [{ "role": "user", "content": said }],
    })
}

fn cohere_body(model: &str, said: &str) -> Value {
    openai_body(model, said)
}

/// `(event name, data)` of every SSE frame.
fn sse_frames(body: &str) -> Vec<(Option<String>, String)> {
    body.split("\n\n")
        .filter(|frame| !frame.trim().is_empty())
        .map(|frame| {
            let mut event = None;
            let mut data = String::new();
            for line in frame.lines() {
                if let Some(name) = line.strip_prefix("event: ") {
                    event = Some(name.to_owned());
                } else if let Some(d) = line.strip_prefix("data: ") {
                    data.push_str(d);
                }
            }
            (event, data)
        })
        .collect()
}

#[expect(
    clippy::unwrap_used,
    reason = "test helper: a frame that is not JSON fails the test"
)]
fn json_of(data: &str) -> Value {
    serde_json::from_str(data).unwrap()
}

/// Reads a body until it ends or the connection breaks; says whether it ended cleanly.
async fn read_body(response: reqwest::Response) -> (String, bool) {
    let mut stream = response.bytes_stream();
    let mut body = Vec::new();
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(bytes) => body.extend_from_slice(&bytes),
            Err(_) => return (String::from_utf8_lossy(&body).into_owned(), false),
        }
    }
    (String::from_utf8_lossy(&body).into_owned(), true)
}

fn tokens(text: &str) -> u64 {
    (text.chars().count() as u64).div_ceil(4).max(1)
}

#[tokio::test]
async fn openai_answers_in_the_chat_completion_shape_with_usage() {
    let mock = TestMock::start().await;

    let response = mock
        .openai("openai", &openai_body("gpt-5.4", "hi there"))
        .await;

    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    let reply = "Hello from openai/gpt-5.4. You said: hi there";
    assert!(body["id"].as_str().unwrap().starts_with("chatcmpl-"));
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(body["model"], "gpt-5.4");
    assert_eq!(body["choices"][0]["message"]["role"], "assistant");
    assert_eq!(body["choices"][0]["message"]["content"], reply);
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
    let input = tokens("Be brief.") + tokens("hi there");
    assert_eq!(body["usage"]["prompt_tokens"], input);
    assert_eq!(body["usage"]["completion_tokens"], tokens(reply));
    assert_eq!(body["usage"]["total_tokens"], input + tokens(reply));
    assert_eq!(body["usage"]["prompt_tokens_details"]["cached_tokens"], 0);
}

#[tokio::test]
async fn an_openai_compatible_provider_answers_under_its_own_slug() {
    let mock = TestMock::start().await;

    let response = mock
        .openai("moonshot", &openai_body("kimi-k2.6", "yo"))
        .await;

    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["choices"][0]["message"]["content"],
        "Hello from moonshot/kimi-k2.6. You said: yo"
    );
    assert_eq!(mock.mock.state.request_count("moonshot"), 1);
    assert_eq!(mock.mock.state.request_count("openai"), 0);
}

#[tokio::test]
async fn anthropic_answers_in_the_messages_shape_with_usage() {
    let mock = TestMock::start().await;

    let response = mock
        .anthropic(&json!({
            "model": "claude-opus-4.7",
            "max_tokens": 100,
            "system": [{ "type": "text", "text": "Be brief." }],
            "messages": [
                { "role": "user", "content": "first" },
                { "role": "assistant", "content": "ok" },
                { "role": "user", "content": [{ "type": "text", "text": "second" }] },
            ],
        }))
        .await;

    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    let reply = "Hello from anthropic/claude-opus-4.7. You said: second";
    assert!(body["id"].as_str().unwrap().starts_with("msg_"));
    assert_eq!(body["type"], "message");
    assert_eq!(body["role"], "assistant");
    assert_eq!(body["model"], "claude-opus-4.7");
    assert_eq!(body["content"], json!([{ "type": "text", "text": reply }]));
    assert_eq!(body["stop_reason"], "end_turn");
    assert_eq!(body["stop_sequence"], Value::Null);
    let input = tokens("Be brief.") + tokens("first") + tokens("ok") + tokens("second");
    assert_eq!(body["usage"]["input_tokens"], input);
    assert_eq!(body["usage"]["output_tokens"], tokens(reply));
    assert_eq!(body["usage"]["cache_creation_input_tokens"], 0);
    assert_eq!(body["usage"]["cache_read_input_tokens"], 0);
}

#[tokio::test]
async fn cohere_answers_in_the_v2_chat_shape_with_usage() {
    let mock = TestMock::start().await;

    let response = mock.cohere(&cohere_body("command-a", "hello")).await;

    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    let reply = "Hello from cohere/command-a. You said: hello";
    assert!(uuid::Uuid::parse_str(body["id"].as_str().unwrap()).is_ok());
    assert_eq!(body["message"]["role"], "assistant");
    assert_eq!(
        body["message"]["content"],
        json!([{ "type": "text", "text": reply }])
    );
    assert_eq!(body["finish_reason"], "COMPLETE");
    let input = tokens("Be brief.") + tokens("hello");
    for counts in ["billed_units", "tokens"] {
        assert_eq!(body["usage"][counts]["input_tokens"], input);
        assert_eq!(body["usage"][counts]["output_tokens"], tokens(reply));
    }
}

#[tokio::test]
async fn anthropic_rejects_a_system_role_message() {
    let mock = TestMock::start().await;

    let response = mock
        .anthropic(&json!({
            "model": "claude-opus-4.7",
            "max_tokens": 10,
            "messages": [
                { "role": "system", "content": "Be brief." },
                { "role": "user", "content": "hi" },
            ],
        }))
        .await;

    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["type"], "error");
    assert_eq!(body["error"]["type"], "invalid_request_error");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("top-level `system` parameter"));
}

#[tokio::test]
async fn anthropic_rejects_a_request_without_max_tokens() {
    let mock = TestMock::start().await;

    let response = mock
        .anthropic(&json!({
            "model": "claude-opus-4.7",
            "messages": [{ "role": "user", "content": "hi" }],
        }))
        .await;

    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["type"], "invalid_request_error");
    assert_eq!(body["error"]["message"], "max_tokens: Field required");
}

#[tokio::test]
async fn anthropic_requires_an_api_key_and_a_version_header() {
    let mock = TestMock::start().await;
    let url = format!("{}/v1/messages", mock.mock.base_url("anthropic"));
    let body = anthropic_body("claude-opus-4.7", "hi");

    let no_key = mock
        .http
        .post(&url)
        .header("anthropic-version", "2023-06-01")
        .json(&body)
        .send()
        .await
        .unwrap();
    let no_version = mock
        .http
        .post(&url)
        .header("x-api-key", "k")
        .json(&body)
        .send()
        .await
        .unwrap();

    assert_eq!(no_key.status(), StatusCode::UNAUTHORIZED);
    let no_key: Value = no_key.json().await.unwrap();
    assert_eq!(no_key["error"]["type"], "authentication_error");
    assert_eq!(no_version.status(), StatusCode::BAD_REQUEST);
    let no_version: Value = no_version.json().await.unwrap();
    assert_eq!(no_version["error"]["type"], "invalid_request_error");
}

#[tokio::test]
async fn openai_and_cohere_require_bearer_auth() {
    let mock = TestMock::start().await;

    let openai = mock
        .http
        .post(mock.url("/openai/v1/chat/completions"))
        .json(&openai_body("gpt-5.4", "hi"))
        .send()
        .await
        .unwrap();
    let cohere = mock
        .http
        .post(mock.url("/cohere/v2/chat"))
        .json(&cohere_body("command-a", "hi"))
        .send()
        .await
        .unwrap();

    assert_eq!(openai.status(), StatusCode::UNAUTHORIZED);
    let openai: Value = openai.json().await.unwrap();
    assert_eq!(openai["error"]["type"], "invalid_request_error");
    assert_eq!(cohere.status(), StatusCode::UNAUTHORIZED);
    let cohere: Value = cohere.json().await.unwrap();
    assert!(cohere["message"].is_string());
}

#[tokio::test]
async fn openai_rejects_unknown_roles_unknown_fields_and_empty_messages() {
    let mock = TestMock::start().await;

    let bad_role = mock
        .openai(
            "openai",
            &json!({ "model": "gpt-5.4", "messages": [{ "role": "robot", "content": "x" }] }),
        )
        .await;
    let unknown_field = mock
        .openai(
            "openai",
            &json!({ "model": "gpt-5.4", "messages": [{ "role": "user", "content": "x" }],
                     "models": ["openai/gpt-5-mini"] }),
        )
        .await;
    let empty = mock
        .openai("openai", &json!({ "model": "gpt-5.4", "messages": [] }))
        .await;

    assert_eq!(bad_role.status(), StatusCode::BAD_REQUEST);
    let bad_role: Value = bad_role.json().await.unwrap();
    assert_eq!(bad_role["error"]["param"], "messages[0].role");
    assert_eq!(bad_role["error"]["code"], "invalid_value");
    assert_eq!(unknown_field.status(), StatusCode::BAD_REQUEST);
    let unknown_field: Value = unknown_field.json().await.unwrap();
    assert_eq!(
        unknown_field["error"]["message"],
        "Unrecognized request argument supplied: models"
    );
    assert_eq!(empty.status(), StatusCode::BAD_REQUEST);
    let empty: Value = empty.json().await.unwrap();
    assert_eq!(empty["error"]["code"], "empty_array");
}

#[tokio::test]
async fn cohere_rejects_an_unknown_role_and_an_out_of_range_p() {
    let mock = TestMock::start().await;

    let bad_role = mock
        .cohere(
            &json!({ "model": "command-a", "messages": [{ "role": "chatbot", "content": "x" }] }),
        )
        .await;
    let bad_p = mock
        .cohere(&json!({ "model": "command-a", "p": 1.0,
                         "messages": [{ "role": "user", "content": "x" }] }))
        .await;

    assert_eq!(bad_role.status(), StatusCode::BAD_REQUEST);
    let bad_role: Value = bad_role.json().await.unwrap();
    assert!(bad_role["message"].as_str().unwrap().contains("role"));
    assert_eq!(bad_p.status(), StatusCode::BAD_REQUEST);
    let bad_p: Value = bad_p.json().await.unwrap();
    assert!(bad_p["message"].as_str().unwrap().contains("p must be"));
}

#[tokio::test]
async fn a_fail_429_model_gets_429_with_retry_after_in_each_providers_error_shape() {
    let mock = TestMock::start().await;

    let openai = mock
        .openai("openai", &openai_body("gpt-5.4-fail-429", "hi"))
        .await;
    let anthropic = mock
        .anthropic(&anthropic_body("claude-opus-4.7-fail-429", "hi"))
        .await;
    let cohere = mock.cohere(&cohere_body("command-a-fail-429", "hi")).await;

    for response in [&openai, &anthropic, &cohere] {
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()["retry-after"], "1");
    }
    let openai: Value = openai.json().await.unwrap();
    assert_eq!(openai["error"]["code"], "rate_limit_exceeded");
    assert!(openai["error"]["message"].is_string());
    let anthropic: Value = anthropic.json().await.unwrap();
    assert_eq!(anthropic["type"], "error");
    assert_eq!(anthropic["error"]["type"], "rate_limit_error");
    let cohere: Value = cohere.json().await.unwrap();
    assert!(cohere["message"].is_string());
}

#[tokio::test]
async fn a_fail_500_model_gets_a_server_error_in_the_providers_shape() {
    let mock = TestMock::start().await;

    let openai = mock
        .openai("openai", &openai_body("gpt-5.4-fail-500", "hi"))
        .await;
    let anthropic = mock
        .anthropic(&anthropic_body("claude-opus-4.7-fail-529", "hi"))
        .await;

    assert_eq!(openai.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(openai.headers().get("retry-after").is_none());
    let openai: Value = openai.json().await.unwrap();
    assert_eq!(openai["error"]["type"], "server_error");
    assert_eq!(anthropic.status().as_u16(), 529);
    let anthropic: Value = anthropic.json().await.unwrap();
    assert_eq!(anthropic["error"]["type"], "overloaded_error");
}

#[tokio::test]
async fn a_provider_mode_overrides_the_model_name_and_reset_clears_it() {
    let mock = TestMock::start().await;
    mock.mock.state.set_mode("openai", Mode::Fail(503));

    let failed = mock.openai("openai", &openai_body("gpt-5.4", "hi")).await;
    let other_provider = mock.openai("groq", &openai_body("llama", "hi")).await;
    mock.mock.state.reset();
    let after_reset = mock.openai("openai", &openai_body("gpt-5.4", "hi")).await;

    assert_eq!(failed.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(other_provider.status(), StatusCode::OK);
    assert_eq!(after_reset.status(), StatusCode::OK);
    assert_eq!(mock.mock.state.request_count("openai"), 1);
}

#[tokio::test]
async fn a_provider_mode_wins_over_a_fault_in_the_model_name() {
    let mock = TestMock::start().await;
    mock.mock.state.set_mode("anthropic", Mode::Fail(500));

    let response = mock
        .anthropic(&anthropic_body("claude-opus-4.7-fail-429", "hi"))
        .await;

    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
}

#[tokio::test]
async fn request_count_counts_failing_and_invalid_requests() {
    let mock = TestMock::start().await;

    mock.openai("openai", &openai_body("gpt-5.4-fail-500", "one"))
        .await;
    mock.openai("openai", &openai_body("gpt-5.4", "two")).await;
    mock.http
        .post(mock.url("/openai/v1/chat/completions"))
        .bearer_auth("k")
        .body("{not json")
        .send()
        .await
        .unwrap();

    assert_eq!(mock.mock.state.request_count("openai"), 3);
    let requests = mock.mock.state.requests("openai");
    assert_eq!(requests[0].path, "/openai/v1/chat/completions");
    assert_eq!(requests[0].model, "gpt-5.4-fail-500");
    assert_eq!(requests[0].header("authorization"), Some("Bearer sk-test"));
    assert_eq!(requests[1].body["messages"][1]["content"], "two");
    assert_eq!(requests[2].body, Value::Null);
    assert_eq!(requests[2].model, "");
}

#[tokio::test]
async fn the_openai_stream_ends_with_done_and_carries_usage_only_when_asked() {
    let mock = TestMock::start().await;
    let mut body = openai_body("gpt-5.4", "stream please");
    body["stream"] = json!(true);

    let without = mock.openai("openai", &body).await;
    body["stream_options"] = json!({ "include_usage": true });
    let with = mock.openai("openai", &body).await;

    assert_eq!(without.headers()["content-type"], "text/event-stream");
    let without = sse_frames(&without.text().await.unwrap());
    let with = sse_frames(&with.text().await.unwrap());
    for frames in [&without, &with] {
        assert_eq!(frames.last().unwrap().1, "[DONE]");
        let first = json_of(&frames[0].1);
        assert_eq!(first["object"], "chat.completion.chunk");
        assert_eq!(first["choices"][0]["delta"]["role"], "assistant");
        let text: String = frames[1..frames.len() - 1]
            .iter()
            .map(|(_, data)| json_of(data))
            .filter_map(|chunk| {
                chunk["choices"][0]["delta"]["content"]
                    .as_str()
                    .map(str::to_owned)
            })
            .collect();
        assert_eq!(text, "Hello from openai/gpt-5.4. You said: stream please");
    }
    assert!(without
        .iter()
        .all(|(_, data)| data == "[DONE]" || json_of(data).get("usage").is_none()));
    let finish = json_of(&without[without.len() - 2].1);
    assert_eq!(finish["choices"][0]["finish_reason"], "stop");
    let usage_chunk = json_of(&with[with.len() - 2].1);
    assert_eq!(usage_chunk["choices"], json!([]));
    assert_eq!(
        usage_chunk["usage"]["completion_tokens"],
        tokens("Hello from openai/gpt-5.4. You said: stream please")
    );
    assert_eq!(json_of(&with[0].1)["usage"], Value::Null);
}

#[tokio::test]
async fn openai_rejects_stream_options_without_stream() {
    let mock = TestMock::start().await;
    let mut body = openai_body("gpt-5.4", "hi");
    body["stream_options"] = json!({ "include_usage": true });

    let response = mock.openai("openai", &body).await;

    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn the_anthropic_stream_follows_the_messages_event_sequence() {
    let mock = TestMock::start().await;
    let mut body = anthropic_body("claude-opus-4.7", "stream please");
    body["stream"] = json!(true);

    let response = mock.anthropic(&body).await;

    assert_eq!(response.status(), StatusCode::OK);
    let frames = sse_frames(&response.text().await.unwrap());
    let events: Vec<&str> = frames.iter().map(|(e, _)| e.as_deref().unwrap()).collect();
    let deltas = events
        .iter()
        .filter(|e| **e == "content_block_delta")
        .count();
    assert!(deltas >= 2);
    let mut expected = vec!["message_start", "content_block_start", "ping"];
    expected.extend(std::iter::repeat_n("content_block_delta", deltas));
    expected.extend(["content_block_stop", "message_delta", "message_stop"]);
    assert_eq!(events, expected);
    for (event, data) in &frames {
        assert_eq!(json_of(data)["type"], event.as_deref().unwrap());
    }
    let start = json_of(&frames[0].1);
    assert_eq!(
        start["message"]["usage"]["input_tokens"],
        tokens("Be brief.") + tokens("stream please")
    );
    let delta = json_of(&frames[frames.len() - 2].1);
    assert_eq!(delta["delta"]["stop_reason"], "end_turn");
    assert_eq!(delta["delta"]["stop_sequence"], Value::Null);
    assert_eq!(
        delta["usage"]["output_tokens"],
        tokens("Hello from anthropic/claude-opus-4.7. You said: stream please")
    );
}

#[tokio::test]
async fn the_cohere_stream_ends_with_message_end() {
    let mock = TestMock::start().await;
    let mut body = cohere_body("command-a", "stream please");
    body["stream"] = json!(true);

    let response = mock.cohere(&body).await;

    let frames = sse_frames(&response.text().await.unwrap());
    let events: Vec<&str> = frames.iter().map(|(e, _)| e.as_deref().unwrap()).collect();
    assert_eq!(events[..2], ["message-start", "content-start"]);
    assert_eq!(events[events.len() - 2..], ["content-end", "message-end"]);
    let text: String = frames
        .iter()
        .filter(|(e, _)| e.as_deref() == Some("content-delta"))
        .map(|(_, data)| {
            json_of(data)["delta"]["message"]["content"]["text"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(text, "Hello from cohere/command-a. You said: stream please");
    let end = json_of(&frames.last().unwrap().1);
    assert_eq!(end["type"], "message-end");
    assert_eq!(end["delta"]["finish_reason"], "COMPLETE");
    assert_eq!(
        end["delta"]["usage"]["billed_units"]["output_tokens"],
        tokens(&text)
    );
}

#[tokio::test]
async fn an_anthropic_midstream_error_stream_carries_an_error_event() {
    let mock = TestMock::start().await;
    let mut body = anthropic_body("claude-opus-4.7-midstream-error", "hi");
    body["stream"] = json!(true);

    let response = mock.anthropic(&body).await;

    assert_eq!(response.status(), StatusCode::OK);
    let frames = sse_frames(&response.text().await.unwrap());
    let events: Vec<&str> = frames.iter().map(|(e, _)| e.as_deref().unwrap()).collect();
    assert_eq!(
        events,
        [
            "message_start",
            "content_block_start",
            "ping",
            "content_block_delta",
            "content_block_delta",
            "error"
        ]
    );
    let error = json_of(&frames.last().unwrap().1);
    assert_eq!(error["type"], "error");
    assert_eq!(error["error"]["type"], "overloaded_error");
}

#[tokio::test]
async fn an_openai_midstream_error_stream_ends_with_an_error_and_no_done() {
    let mock = TestMock::start().await;
    let mut body = openai_body("gpt-5.4-midstream-error", "hi");
    body["stream"] = json!(true);

    let response = mock.openai("openai", &body).await;

    let frames = sse_frames(&response.text().await.unwrap());
    assert_eq!(frames.len(), 4);
    assert!(frames.iter().all(|(_, data)| data != "[DONE]"));
    assert!(json_of(&frames[3].1)["error"]["message"].is_string());
}

#[tokio::test]
async fn a_cohere_midstream_error_stream_breaks_off_before_message_end() {
    let mock = TestMock::start().await;
    let mut body = cohere_body("command-a-midstream-error", "hi");
    body["stream"] = json!(true);

    let response = mock.cohere(&body).await;

    assert_eq!(response.status(), StatusCode::OK);
    let (text, clean) = read_body(response).await;
    assert!(!clean, "the connection should break");
    let events: Vec<String> = sse_frames(&text)
        .into_iter()
        .filter_map(|(e, _)| e)
        .collect();
    assert_eq!(
        events,
        [
            "message-start",
            "content-start",
            "content-delta",
            "content-delta"
        ]
    );
}

#[tokio::test]
async fn a_non_streaming_midstream_error_truncates_the_body() {
    let mock = TestMock::start().await;

    let response = mock
        .openai("openai", &openai_body("gpt-5.4-midstream-error", "hi"))
        .await;

    assert_eq!(response.status(), StatusCode::OK);
    let (text, clean) = read_body(response).await;
    assert!(!clean, "the connection should break");
    assert!(text.starts_with('{'));
    assert!(serde_json::from_str::<Value>(&text).is_err());
}

#[tokio::test]
async fn a_malformed_model_gets_a_200_that_is_not_json() {
    let mock = TestMock::start().await;

    let response = mock.cohere(&cohere_body("command-a-malformed", "hi")).await;

    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.unwrap();
    assert!(serde_json::from_str::<Value>(&text).is_err());
}

#[tokio::test]
async fn a_hang_model_does_not_answer_within_300_ms() {
    let mock = TestMock::start().await;
    let started = Instant::now();

    let result = mock
        .http
        .post(mock.url("/openai/v1/chat/completions"))
        .bearer_auth("k")
        .json(&openai_body("gpt-5.4-hang", "hi"))
        .timeout(Duration::from_millis(300))
        .send()
        .await;

    let error = result.unwrap_err();
    assert!(error.is_timeout(), "{error}");
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(mock.mock.state.request_count("openai"), 1);
}

#[tokio::test]
async fn a_slow_model_answers_normally_after_the_delay() {
    let mock = TestMock::start().await;
    let started = Instant::now();

    let response = mock
        .anthropic(&anthropic_body("claude-opus-4.7-slow-200", "hi"))
        .await;

    assert!(started.elapsed() >= Duration::from_millis(200));
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["stop_reason"], "end_turn");
}

#[tokio::test]
async fn slow_combines_with_a_failure() {
    let mock = TestMock::start().await;
    let started = Instant::now();

    let response = mock
        .openai("openai", &openai_body("gpt-5.4-slow-150-fail-500", "hi"))
        .await;

    assert!(started.elapsed() >= Duration::from_millis(150));
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
}

#[tokio::test]
async fn a_stop_sequence_cuts_the_reply_before_it_in_each_provider() {
    let mock = TestMock::start().await;
    let mut openai = openai_body("gpt-5.4", "hi");
    openai["stop"] = json!(["said"]);
    let mut anthropic = anthropic_body("claude-opus-4.7", "hi");
    anthropic["stop_sequences"] = json!(["said"]);
    let mut cohere = cohere_body("command-a", "hi");
    cohere["stop_sequences"] = json!(["said"]);

    let openai: Value = mock.openai("openai", &openai).await.json().await.unwrap();
    let anthropic: Value = mock.anthropic(&anthropic).await.json().await.unwrap();
    let cohere: Value = mock.cohere(&cohere).await.json().await.unwrap();

    assert_eq!(
        openai["choices"][0]["message"]["content"],
        "Hello from openai/gpt-5.4. You "
    );
    assert_eq!(openai["choices"][0]["finish_reason"], "stop");
    assert_eq!(
        anthropic["content"][0]["text"],
        "Hello from anthropic/claude-opus-4.7. You "
    );
    assert_eq!(anthropic["stop_reason"], "stop_sequence");
    assert_eq!(anthropic["stop_sequence"], "said");
    assert_eq!(
        cohere["message"]["content"][0]["text"],
        "Hello from cohere/command-a. You "
    );
    assert_eq!(cohere["finish_reason"], "STOP_SEQUENCE");
}

#[tokio::test]
async fn max_tokens_truncates_the_reply_with_the_length_finish_reason() {
    let mock = TestMock::start().await;
    let mut openai = openai_body("gpt-5.4", "hi");
    openai["max_completion_tokens"] = json!(2);
    let mut anthropic = anthropic_body("claude-opus-4.7", "hi");
    anthropic["max_tokens"] = json!(2);
    let mut cohere = cohere_body("command-a", "hi");
    cohere["max_tokens"] = json!(2);

    let openai: Value = mock.openai("openai", &openai).await.json().await.unwrap();
    let anthropic: Value = mock.anthropic(&anthropic).await.json().await.unwrap();
    let cohere: Value = mock.cohere(&cohere).await.json().await.unwrap();

    assert_eq!(openai["choices"][0]["message"]["content"], "Hello fr");
    assert_eq!(openai["choices"][0]["finish_reason"], "length");
    assert_eq!(openai["usage"]["completion_tokens"], 2);
    assert_eq!(anthropic["content"][0]["text"], "Hello fr");
    assert_eq!(anthropic["stop_reason"], "max_tokens");
    assert_eq!(anthropic["usage"]["output_tokens"], 2);
    assert_eq!(cohere["message"]["content"][0]["text"], "Hello fr");
    assert_eq!(cohere["finish_reason"], "MAX_TOKENS");
}

#[tokio::test]
async fn a_filter_model_gets_each_providers_content_filter_outcome() {
    let mock = TestMock::start().await;

    let openai: Value = mock
        .openai("openai", &openai_body("gpt-5.4-filter", "hi"))
        .await
        .json()
        .await
        .unwrap();
    let anthropic: Value = mock
        .anthropic(&anthropic_body("claude-opus-4.7-filter", "hi"))
        .await
        .json()
        .await
        .unwrap();
    let cohere: Value = mock
        .cohere(&cohere_body("command-a-filter", "hi"))
        .await
        .json()
        .await
        .unwrap();

    assert_eq!(openai["choices"][0]["finish_reason"], "content_filter");
    assert_eq!(openai["choices"][0]["message"]["content"], "");
    assert_eq!(anthropic["stop_reason"], "refusal");
    assert_eq!(anthropic["content"], json!([]));
    assert_eq!(cohere["finish_reason"], "ERROR_TOXIC");
}

#[tokio::test]
async fn a_filtered_openai_stream_ends_with_content_filter_and_no_content() {
    let mock = TestMock::start().await;
    let mut body = openai_body("gpt-5.4-filter", "hi");
    body["stream"] = json!(true);

    let frames = sse_frames(&mock.openai("openai", &body).await.text().await.unwrap());

    assert_eq!(frames.len(), 3);
    assert_eq!(
        json_of(&frames[1].1)["choices"][0]["finish_reason"],
        "content_filter"
    );
    assert_eq!(frames[2].1, "[DONE]");
}

#[tokio::test]
async fn each_provider_lists_models_in_its_own_shape() {
    let mock = TestMock::start().await;

    let openai: Value = mock
        .http
        .get(mock.url("/openai/v1/models"))
        .bearer_auth("k")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let anthropic: Value = mock
        .http
        .get(mock.url("/anthropic/v1/models"))
        .header("x-api-key", "k")
        .header("anthropic-version", "2023-06-01")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let cohere: Value = mock
        .http
        .get(mock.url("/cohere/v1/models"))
        .bearer_auth("k")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    assert_eq!(openai["object"], "list");
    assert_eq!(openai["data"][0]["object"], "model");
    assert!(openai["data"][0]["id"].is_string());
    assert_eq!(anthropic["data"][0]["type"], "model");
    assert!(anthropic["data"][0]["display_name"].is_string());
    assert_eq!(anthropic["has_more"], false);
    assert_eq!(anthropic["first_id"], anthropic["data"][0]["id"]);
    assert!(cohere["models"][0]["name"].is_string());
    assert_eq!(mock.mock.state.request_count("openai"), 0);
}

#[tokio::test]
async fn listing_models_fails_while_the_provider_is_failing() {
    let mock = TestMock::start().await;
    mock.mock.state.set_mode("groq", Mode::Fail(500));

    let response = mock
        .http
        .get(mock.url("/groq/v1/models"))
        .bearer_auth("k")
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
}

#[tokio::test]
async fn the_control_api_sets_modes_lists_requests_and_resets() {
    let mock = TestMock::start().await;
    let mode_url = mock.url("/_mock/providers/openai/mode");

    let set = mock
        .http
        .put(&mode_url)
        .json(&json!({ "mode": "fail-429" }))
        .send()
        .await
        .unwrap();
    let unknown = mock
        .http
        .put(&mode_url)
        .json(&json!({ "mode": "explode" }))
        .send()
        .await
        .unwrap();
    let failed = mock.openai("openai", &openai_body("gpt-5.4", "hi")).await;
    let listed: Value = mock
        .http
        .get(mock.url("/_mock/providers/openai/requests"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let reset = mock
        .http
        .post(mock.url("/_mock/reset"))
        .send()
        .await
        .unwrap();

    assert_eq!(set.status(), StatusCode::NO_CONTENT);
    assert_eq!(unknown.status(), StatusCode::BAD_REQUEST);
    assert_eq!(failed.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(listed["count"], 1);
    assert_eq!(listed["requests"][0]["model"], "gpt-5.4");
    assert_eq!(listed["requests"][0]["path"], "/openai/v1/chat/completions");
    assert_eq!(reset.status(), StatusCode::NO_CONTENT);
    assert_eq!(mock.mock.state.mode("openai"), Mode::Normal);
    assert_eq!(mock.mock.state.request_count("openai"), 0);
}

#[tokio::test]
async fn the_anthropic_and_cohere_paths_are_not_openai_shaped() {
    let mock = TestMock::start().await;

    for path in [
        "/anthropic/v1/chat/completions",
        "/cohere/v1/chat/completions",
    ] {
        let response = mock
            .http
            .post(mock.url(path))
            .bearer_auth("k")
            .json(&openai_body("m", "hi"))
            .send()
            .await
            .unwrap();

        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
    }
    assert_eq!(mock.mock.state.request_count("anthropic"), 0);
}

/// Reads a streamed body until `done` holds for what arrived so far, for at most 2 s.
#[expect(
    clippy::unwrap_used,
    reason = "test helper: a broken or slow stream fails the test"
)]
async fn read_until(
    stream: &mut (impl futures_util::Stream<Item = reqwest::Result<bytes::Bytes>> + Unpin),
    done: impl Fn(&str) -> bool,
) -> String {
    let mut body = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(2);
    while !done(&String::from_utf8_lossy(&body)) {
        let left = deadline.saturating_duration_since(Instant::now());
        let chunk = tokio::time::timeout(left, stream.next())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "no more frames within 2 s; got {:?}",
                    String::from_utf8_lossy(&body)
                )
            })
            .unwrap()
            .unwrap();
        body.extend_from_slice(&chunk);
    }
    String::from_utf8_lossy(&body).into_owned()
}

fn streaming(mut body: Value) -> Value {
    body["stream"] = json!(true);
    body
}

#[tokio::test]
async fn an_early_error_openai_stream_sends_the_role_chunk_then_an_error_and_no_done() {
    let mock = TestMock::start().await;

    let response = mock
        .openai(
            "openai",
            &streaming(openai_body("gpt-5.4-early-error", "hi")),
        )
        .await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let (text, clean) = read_body(response).await;
    assert!(clean, "the stream should end cleanly, without [DONE]");
    let frames = sse_frames(&text);
    assert_eq!(frames.len(), 2, "{text}");
    let first = json_of(&frames[0].1);
    assert_eq!(first["object"], "chat.completion.chunk");
    assert_eq!(first["choices"][0]["delta"]["role"], "assistant");
    assert_eq!(first["choices"][0]["delta"]["content"], "");
    assert_eq!(first["choices"][0]["finish_reason"], Value::Null);
    let error = json_of(&frames[1].1);
    assert!(error["error"]["message"].is_string());
    assert_eq!(error["error"]["type"], "server_error");
    assert_eq!(error["error"]["code"], Value::Null);
    assert_eq!(error["error"]["param"], Value::Null);
    assert!(error.get("choices").is_none());
}

#[tokio::test]
async fn an_early_error_anthropic_stream_sends_message_start_and_ping_then_an_error_event() {
    let mock = TestMock::start().await;

    let response = mock
        .anthropic(&streaming(anthropic_body(
            "claude-opus-4.7-early-error",
            "hi",
        )))
        .await;

    assert_eq!(response.status(), StatusCode::OK);
    let (text, clean) = read_body(response).await;
    assert!(clean);
    let frames = sse_frames(&text);
    let events: Vec<&str> = frames.iter().map(|(e, _)| e.as_deref().unwrap()).collect();
    assert_eq!(events, ["message_start", "ping", "error"]);
    let start = json_of(&frames[0].1);
    assert_eq!(start["message"]["content"], json!([]));
    assert_eq!(start["message"]["model"], "claude-opus-4.7-early-error");
    let error = json_of(&frames[2].1);
    assert_eq!(error["type"], "error");
    assert_eq!(error["error"]["type"], "overloaded_error");
    assert!(error["error"]["message"].is_string());
}

#[tokio::test]
async fn an_early_error_cohere_stream_sends_message_start_then_breaks_off() {
    let mock = TestMock::start().await;

    let response = mock
        .cohere(&streaming(cohere_body("command-a-early-error", "hi")))
        .await;

    assert_eq!(response.status(), StatusCode::OK);
    let (text, clean) = read_body(response).await;
    assert!(!clean, "the connection should break");
    let frames = sse_frames(&text);
    assert_eq!(frames.len(), 1, "{text}");
    assert_eq!(frames[0].0.as_deref(), Some("message-start"));
    assert_eq!(json_of(&frames[0].1)["type"], "message-start");
}

#[tokio::test]
async fn an_early_error_without_stream_is_a_500_in_each_providers_shape() {
    let mock = TestMock::start().await;

    let openai = mock
        .openai("openai", &openai_body("gpt-5.4-early-error", "hi"))
        .await;
    let anthropic = mock
        .anthropic(&anthropic_body("claude-opus-4.7-early-error", "hi"))
        .await;
    let cohere = mock
        .cohere(&cohere_body("command-a-early-error", "hi"))
        .await;

    for response in [&openai, &anthropic, &cohere] {
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
    let openai: Value = openai.json().await.unwrap();
    assert_eq!(openai["error"]["type"], "server_error");
    let anthropic: Value = anthropic.json().await.unwrap();
    assert_eq!(anthropic["type"], "error");
    assert_eq!(anthropic["error"]["type"], "api_error");
    let cohere: Value = cohere.json().await.unwrap();
    assert!(cohere["message"].is_string());
}

#[tokio::test]
async fn the_early_error_and_stall_modes_apply_to_every_model_of_the_provider() {
    let mock = TestMock::start().await;
    let set = mock
        .http
        .put(mock.url("/_mock/providers/moonshot/mode"))
        .json(&json!({ "mode": "early-error" }))
        .send()
        .await
        .unwrap();
    mock.mock.state.set_mode("anthropic", Mode::Stall);

    let moonshot = mock
        .openai("moonshot", &streaming(openai_body("kimi-k2.6", "hi")))
        .await;
    let stalled = mock
        .http
        .post(format!("{}/v1/messages", mock.mock.base_url("anthropic")))
        .header("x-api-key", "k")
        .header("anthropic-version", "2023-06-01")
        .json(&anthropic_body("claude-opus-4.7", "hi"))
        .timeout(Duration::from_millis(300))
        .send()
        .await;

    assert_eq!(set.status(), StatusCode::NO_CONTENT);
    assert_eq!(mock.mock.state.mode("moonshot"), Mode::EarlyError);
    let frames = sse_frames(&moonshot.text().await.unwrap());
    assert_eq!(frames.len(), 2);
    assert_eq!(json_of(&frames[1].1)["error"]["type"], "server_error");
    assert!(stalled.unwrap_err().is_timeout());
    let mode: Value = mock
        .http
        .get(mock.url("/_mock/providers/anthropic/mode"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(mode["mode"], "stall");
}

#[tokio::test]
async fn a_stall_stream_sends_its_first_frames_then_nothing_within_300_ms() {
    let mock = TestMock::start().await;
    let openai = mock
        .openai("openai", &streaming(openai_body("gpt-5.4-stall", "hi")))
        .await;
    let anthropic = mock
        .anthropic(&streaming(anthropic_body("claude-opus-4.7-stall", "hi")))
        .await;
    let cohere = mock
        .cohere(&streaming(cohere_body("command-a-stall", "hi")))
        .await;
    let expected: [&[&str]; 3] = [&[""], &["message_start", "ping"], &["message-start"]];

    for (response, events) in [openai, anthropic, cohere].into_iter().zip(expected) {
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        let mut stream = response.bytes_stream();
        let text = read_until(&mut stream, |text| {
            sse_frames(text).len() == events.len() && text.ends_with("\n\n")
        })
        .await;
        let more = tokio::time::timeout(Duration::from_millis(300), stream.next()).await;
        assert!(more.is_err(), "got more after {text:?}: {more:?}");
        let frames = sse_frames(&text);
        let names: Vec<&str> = frames
            .iter()
            .map(|(e, _)| e.as_deref().unwrap_or(""))
            .collect();
        assert_eq!(names, events);
        if events == [""] {
            let first = json_of(&frames[0].1);
            assert_eq!(first["choices"][0]["delta"]["role"], "assistant");
            assert_eq!(first["choices"][0]["delta"]["content"], "");
        }
    }
}

#[tokio::test]
async fn a_stall_without_stream_does_not_answer_within_300_ms() {
    let mock = TestMock::start().await;

    let result = mock
        .http
        .post(mock.url("/cohere/v2/chat"))
        .bearer_auth("k")
        .json(&cohere_body("command-a-stall", "hi"))
        .timeout(Duration::from_millis(300))
        .send()
        .await;

    assert!(result.unwrap_err().is_timeout());
    assert_eq!(mock.mock.state.request_count("cohere"), 1);
}

/// The text of every content frame of a stream, in each provider's shape.
fn content_pieces(frames: &[(Option<String>, String)]) -> Vec<String> {
    frames
        .iter()
        .filter(|(_, data)| data != "[DONE]")
        .filter_map(|(event, data)| {
            let frame = json_of(data);
            let piece = match event.as_deref() {
                None => &frame["choices"][0]["delta"]["content"],
                Some("content_block_delta") => &frame["delta"]["text"],
                Some("content-delta") => &frame["delta"]["message"]["content"]["text"],
                Some(_) => return None,
            };
            piece.as_str().filter(|p| !p.is_empty()).map(str::to_owned)
        })
        .collect()
}

/// The dripped reply is the usual one followed by ` (and so on)` a few times.
fn assert_dripped(text: &str, greeting: &str) {
    let tail = text
        .strip_prefix(greeting)
        .unwrap_or_else(|| panic!("{text:?} does not start with {greeting:?}"));
    let repeats = tail.matches(" (and so on)").count();
    assert!(repeats >= 1);
    assert_eq!(tail, " (and so on)".repeat(repeats));
}

#[tokio::test]
async fn a_drip_stream_sends_over_20_content_frames_with_the_pause_between_them() {
    let mock = TestMock::start().await;
    let greetings = [
        "Hello from openai/gpt-5.4-drip-15. You said: hi",
        "Hello from anthropic/claude-opus-4.7-drip-15. You said: hi",
        "Hello from cohere/command-a-drip-15. You said: hi",
    ];

    for (shape, greeting) in greetings.into_iter().enumerate() {
        let started = Instant::now();
        let response = match shape {
            0 => {
                mock.openai("openai", &streaming(openai_body("gpt-5.4-drip-15", "hi")))
                    .await
            }
            1 => {
                mock.anthropic(&streaming(anthropic_body("claude-opus-4.7-drip-15", "hi")))
                    .await
            }
            _ => {
                mock.cohere(&streaming(cohere_body("command-a-drip-15", "hi")))
                    .await
            }
        };
        let (body, clean) = read_body(response).await;
        let elapsed = started.elapsed();
        assert!(clean);
        let frames = sse_frames(&body);
        let pieces = content_pieces(&frames);
        assert!(pieces.len() >= 20, "{} content frames", pieces.len());
        // Every frame after the first waits the drip.
        let gaps = u32::try_from(frames.len() - 1).unwrap();
        assert!(
            elapsed >= Duration::from_millis(15) * gaps,
            "{elapsed:?} for {} frames",
            frames.len()
        );
        let text = pieces.concat();
        assert_dripped(&text, greeting);
        let last = json_of(&frames.iter().rev().find(|(_, d)| d != "[DONE]").unwrap().1);
        let output = match shape {
            0 => &last["choices"][0]["finish_reason"],
            1 => &last["type"],
            _ => &last["delta"]["usage"]["tokens"]["output_tokens"],
        };
        let expected = [json!("stop"), json!("message_stop"), json!(tokens(&text))];
        assert_eq!(output, &expected[shape]);
    }
}

#[tokio::test]
async fn a_drip_model_answers_the_same_long_text_without_stream() {
    let mock = TestMock::start().await;

    let body: Value = mock
        .openai("openai", &openai_body("gpt-5.4-drip-1", "hi"))
        .await
        .json()
        .await
        .unwrap();

    let text = body["choices"][0]["message"]["content"].as_str().unwrap();
    assert_dripped(text, "Hello from openai/gpt-5.4-drip-1. You said: hi");
    assert_eq!(body["usage"]["completion_tokens"], tokens(text));
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
}

/// Polls `cancelled_count` for up to 2 s until it reaches `want`.
async fn wait_cancelled(mock: &TestMock, provider: &str, want: usize) -> usize {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let count = mock.mock.state.cancelled_count(provider);
        if count >= want || Instant::now() >= deadline {
            return count;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_client_leaving_a_drip_stream_counts_as_cancelled() {
    let mock = TestMock::start().await;
    let finished = mock
        .openai("openai", &streaming(openai_body("gpt-5.4-drip-1", "hi")))
        .await;
    let (_, clean) = read_body(finished).await;
    assert!(clean);
    assert_eq!(mock.mock.state.cancelled_count("openai"), 0);

    let left = mock
        .openai("openai", &streaming(openai_body("gpt-5.4-drip-50", "hi")))
        .await;
    let mut stream = left.bytes_stream();
    let first = stream.next().await.unwrap().unwrap();
    assert!(first.starts_with(b"data: "));
    drop(stream);

    assert_eq!(wait_cancelled(&mock, "openai", 1).await, 1);
    assert_eq!(mock.mock.state.cancelled_count("anthropic"), 0);
    let listed: Value = mock
        .http
        .get(mock.url("/_mock/providers/openai/requests"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["count"], 2);
    assert_eq!(listed["cancelled"], 1);
    mock.mock.state.reset();
    assert_eq!(mock.mock.state.cancelled_count("openai"), 0);
}

#[tokio::test]
async fn a_client_leaving_an_anthropic_drip_stream_counts_as_cancelled() {
    let mock = TestMock::start().await;

    let left = mock
        .anthropic(&streaming(anthropic_body("claude-opus-4.7-drip-50", "hi")))
        .await;
    let mut stream = left.bytes_stream();
    stream.next().await.unwrap().unwrap();
    drop(stream);

    assert_eq!(wait_cancelled(&mock, "anthropic", 1).await, 1);
    let listed: Value = mock
        .http
        .get(mock.url("/_mock/providers/anthropic/requests"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["cancelled"], 1);
}

#[tokio::test]
async fn streams_that_end_by_design_do_not_count_as_cancelled() {
    let mock = TestMock::start().await;

    for model in [
        "command-a",
        "command-a-midstream-error",
        "command-a-early-error",
    ] {
        let response = mock.cohere(&streaming(cohere_body(model, "hi"))).await;
        read_body(response).await;
    }
    let response = mock
        .anthropic(&streaming(anthropic_body(
            "claude-opus-4.7-early-error",
            "hi",
        )))
        .await;
    read_body(response).await;
    tokio::time::sleep(Duration::from_millis(100)).await;

    assert_eq!(mock.mock.state.cancelled_count("cohere"), 0);
    assert_eq!(mock.mock.state.cancelled_count("anthropic"), 0);
}

#[tokio::test]
async fn a_client_leaving_a_stalled_stream_counts_as_cancelled() {
    let mock = TestMock::start().await;

    let left = mock
        .anthropic(&streaming(anthropic_body("claude-opus-4.7-stall", "hi")))
        .await;
    let mut stream = left.bytes_stream();
    read_until(&mut stream, |text| text.contains("event: ping")).await;
    drop(stream);

    assert_eq!(wait_cancelled(&mock, "anthropic", 1).await, 1);
}

// ---------------------------------------------------------------------------------------------
// Tools, structured output and images.
// ---------------------------------------------------------------------------------------------

fn weather_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "city": { "type": "string", "description": "where" },
            "days": { "type": "integer" },
            "metric": { "type": "boolean" },
        },
        "required": ["city"],
    })
}

fn time_schema() -> Value {
    json!({ "type": "object", "properties": { "zone": { "type": "string" } } })
}

/// `get_weather` and `get_time` in the OpenAI (and Cohere v2) shape.
fn function_tools() -> Value {
    json!([
        { "type": "function", "function": {
            "name": "get_weather", "description": "Weather for a city", "parameters": weather_schema(),
        } },
        { "type": "function", "function": { "name": "get_time", "parameters": time_schema() } },
    ])
}

/// `get_weather` and `get_time` in the Anthropic shape.
fn anthropic_tools() -> Value {
    json!([
        { "name": "get_weather", "description": "Weather for a city", "input_schema": weather_schema() },
        { "name": "get_time", "input_schema": time_schema() },
    ])
}

fn weather_args(said: &str) -> String {
    json!({ "city": said, "days": 42, "metric": true }).to_string()
}

fn time_args(said: &str) -> String {
    json!({ "zone": said }).to_string()
}

fn openai_with_tools(model: &str, said: &str) -> Value {
    let mut body = openai_body(model, said);
    body["tools"] = function_tools();
    body
}

fn anthropic_with_tools(model: &str, said: &str) -> Value {
    let mut body = anthropic_body(model, said);
    body["tools"] = anthropic_tools();
    body
}

fn cohere_with_tools(model: &str, said: &str) -> Value {
    let mut body = cohere_body(model, said);
    body["tools"] = function_tools();
    body
}

/// `(id, name, arguments)` of every tool call of a stream in any of the three shapes, the
/// arguments reassembled from their fragments (each at most 8 characters).
#[expect(
    clippy::unwrap_used,
    reason = "test helper: a malformed tool-call frame fails the test"
)]
fn streamed_calls(frames: &[(Option<String>, String)]) -> Vec<(String, String, String)> {
    let mut calls: Vec<(String, String, String)> = Vec::new();
    let start = |calls: &mut Vec<(String, String, String)>,
                 index: &Value,
                 id: &Value,
                 name: &Value,
                 args: &Value| {
        assert_eq!(index.as_u64().unwrap(), calls.len() as u64);
        assert_eq!(args, "");
        calls.push((
            id.as_str().unwrap().into(),
            name.as_str().unwrap().into(),
            String::new(),
        ));
    };
    let add = |calls: &mut Vec<(String, String, String)>, index: &Value, fragment: &Value| {
        let fragment = fragment.as_str().unwrap();
        assert!(fragment.chars().count() <= 8, "{fragment:?}");
        calls[usize::try_from(index.as_u64().unwrap()).unwrap()]
            .2
            .push_str(fragment);
    };
    for (event, data) in frames.iter().filter(|(_, data)| data != "[DONE]") {
        let frame = json_of(data);
        match event.as_deref() {
            None => {
                for call in frame["choices"][0]["delta"]["tool_calls"]
                    .as_array()
                    .into_iter()
                    .flatten()
                {
                    if call.get("id").is_some() {
                        assert_eq!(call["type"], "function");
                        let f = &call["function"];
                        start(
                            &mut calls,
                            &call["index"],
                            &call["id"],
                            &f["name"],
                            &f["arguments"],
                        );
                    } else {
                        add(&mut calls, &call["index"], &call["function"]["arguments"]);
                    }
                }
            }
            Some("content_block_start") if frame["content_block"]["type"] == "tool_use" => {
                let block = &frame["content_block"];
                assert_eq!(block["input"], json!({}));
                start(
                    &mut calls,
                    &frame["index"],
                    &block["id"],
                    &block["name"],
                    &json!(""),
                );
            }
            Some("content_block_delta") if frame["delta"]["type"] == "input_json_delta" => {
                add(&mut calls, &frame["index"], &frame["delta"]["partial_json"]);
            }
            Some("tool-call-start") => {
                let call = &frame["delta"]["message"]["tool_calls"];
                assert_eq!(call["type"], "function");
                let f = &call["function"];
                start(
                    &mut calls,
                    &frame["index"],
                    &call["id"],
                    &f["name"],
                    &f["arguments"],
                );
            }
            Some("tool-call-delta") => {
                let fragment = &frame["delta"]["message"]["tool_calls"]["function"]["arguments"];
                add(&mut calls, &frame["index"], fragment);
            }
            _ => {}
        }
    }
    calls
}

#[tokio::test]
async fn openai_answers_a_user_turn_with_a_tool_call_when_tools_are_offered() {
    let mock = TestMock::start().await;
    let said = "What's the \"weather\" like?";

    let body: Value = mock
        .openai("openai", &openai_with_tools("gpt-5.4", said))
        .await
        .json()
        .await
        .unwrap();

    let choice = &body["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls");
    assert_eq!(choice["message"]["content"], Value::Null);
    assert_eq!(
        choice["message"]["tool_calls"],
        json!([{ "id": "call_0", "type": "function",
                 "function": { "name": "get_weather", "arguments": weather_args(said) } }])
    );
    let input = tokens("Be brief.") + tokens(said) + tokens(&function_tools().to_string());
    assert_eq!(body["usage"]["prompt_tokens"], input);
    let output = tokens(&format!("get_weather{}", weather_args(said)));
    assert_eq!(body["usage"]["completion_tokens"], output);
    let recorded = mock.mock.state.requests("openai");
    assert_eq!(recorded[0].body["tools"], function_tools());
}

#[tokio::test]
async fn anthropic_answers_a_user_turn_with_a_tool_use_block() {
    let mock = TestMock::start().await;
    let said = "Weather in Zürich?";

    let body: Value = mock
        .anthropic(&anthropic_with_tools("claude-opus-4.7", said))
        .await
        .json()
        .await
        .unwrap();

    assert_eq!(body["stop_reason"], "tool_use");
    assert_eq!(
        body["content"],
        json!([{ "type": "tool_use", "id": "toolu_0", "name": "get_weather",
                 "input": { "city": said, "days": 42, "metric": true } }])
    );
    // The input keeps the schema's property order.
    assert_eq!(body["content"][0]["input"].to_string(), weather_args(said));
    let input = tokens("Be brief.") + tokens(said) + tokens(&anthropic_tools().to_string());
    assert_eq!(body["usage"]["input_tokens"], input);
    let output = tokens(&format!("get_weather{}", weather_args(said)));
    assert_eq!(body["usage"]["output_tokens"], output);
}

#[tokio::test]
async fn cohere_answers_a_user_turn_with_tool_calls_and_a_tool_plan() {
    let mock = TestMock::start().await;
    let said = "weather please";

    let body: Value = mock
        .cohere(&cohere_with_tools("command-a", said))
        .await
        .json()
        .await
        .unwrap();

    assert_eq!(body["finish_reason"], "TOOL_CALL");
    assert_eq!(body["message"]["role"], "assistant");
    assert_eq!(body["message"]["tool_plan"], "I will call get_weather.");
    assert_eq!(
        body["message"]["tool_calls"],
        json!([{ "id": "get_weather_0", "type": "function",
                 "function": { "name": "get_weather", "arguments": weather_args(said) } }])
    );
    let output = tokens(&format!("get_weather{}", weather_args(said)));
    assert_eq!(body["usage"]["tokens"]["output_tokens"], output);
}

#[tokio::test]
async fn every_tool_named_by_the_user_is_called_in_parallel_unless_parallel_calls_are_off() {
    let mock = TestMock::start().await;
    let said = "get_time first, then get_weather";

    let openai: Value = mock
        .openai("openai", &openai_with_tools("gpt-5.4", said))
        .await
        .json()
        .await
        .unwrap();
    let mut serial = openai_with_tools("gpt-5.4", said);
    serial["parallel_tool_calls"] = json!(false);
    let openai_serial: Value = mock.openai("openai", &serial).await.json().await.unwrap();
    let anthropic: Value = mock
        .anthropic(&anthropic_with_tools("claude-opus-4.7", said))
        .await
        .json()
        .await
        .unwrap();
    let mut serial = anthropic_with_tools("claude-opus-4.7", said);
    serial["tool_choice"] = json!({ "type": "auto", "disable_parallel_tool_use": true });
    let anthropic_serial: Value = mock.anthropic(&serial).await.json().await.unwrap();
    let cohere: Value = mock
        .cohere(&cohere_with_tools("command-a", said))
        .await
        .json()
        .await
        .unwrap();

    let calls = &openai["choices"][0]["message"]["tool_calls"];
    assert_eq!(calls.as_array().unwrap().len(), 2);
    assert_eq!(calls[0]["id"], "call_0");
    assert_eq!(calls[0]["function"]["name"], "get_time");
    assert_eq!(calls[0]["function"]["arguments"], time_args(said));
    assert_eq!(calls[1]["id"], "call_1");
    assert_eq!(calls[1]["function"]["name"], "get_weather");
    assert_eq!(calls[1]["function"]["arguments"], weather_args(said));
    let serial_calls = &openai_serial["choices"][0]["message"]["tool_calls"];
    assert_eq!(serial_calls.as_array().unwrap().len(), 1);
    assert_eq!(serial_calls[0]["function"]["name"], "get_time");

    let names = |content: &Value| -> Vec<(String, String)> {
        content
            .as_array()
            .unwrap()
            .iter()
            .map(|b| {
                (
                    b["id"].as_str().unwrap().into(),
                    b["name"].as_str().unwrap().into(),
                )
            })
            .collect()
    };
    assert_eq!(
        names(&anthropic["content"]),
        [
            ("toolu_0".into(), "get_time".into()),
            ("toolu_1".into(), "get_weather".into())
        ]
    );
    assert_eq!(
        names(&anthropic_serial["content"]),
        [("toolu_0".into(), "get_time".into())]
    );

    let cohere_calls = &cohere["message"]["tool_calls"];
    assert_eq!(cohere_calls[0]["id"], "get_time_0");
    assert_eq!(cohere_calls[1]["id"], "get_weather_1");
    assert_eq!(
        cohere["message"]["tool_plan"],
        "I will call get_time, get_weather."
    );
}

#[tokio::test]
async fn a_named_tool_choice_calls_that_tool_and_none_answers_with_text() {
    let mock = TestMock::start().await;
    let said = "get_weather please";

    let mut named = openai_with_tools("gpt-5.4", said);
    named["tool_choice"] = json!({ "type": "function", "function": { "name": "get_time" } });
    let openai: Value = mock.openai("openai", &named).await.json().await.unwrap();
    let mut none = openai_with_tools("gpt-5.4", said);
    none["tool_choice"] = json!("none");
    let openai_none: Value = mock.openai("openai", &none).await.json().await.unwrap();
    let mut named = anthropic_with_tools("claude-opus-4.7", said);
    named["tool_choice"] = json!({ "type": "tool", "name": "get_time" });
    let anthropic: Value = mock.anthropic(&named).await.json().await.unwrap();
    let mut any = anthropic_with_tools("claude-opus-4.7", "no tool named");
    any["tool_choice"] = json!({ "type": "any" });
    let anthropic_any: Value = mock.anthropic(&any).await.json().await.unwrap();
    let mut none = anthropic_with_tools("claude-opus-4.7", said);
    none["tool_choice"] = json!({ "type": "none" });
    let anthropic_none: Value = mock.anthropic(&none).await.json().await.unwrap();
    let mut required = cohere_with_tools("command-a", "no tool named");
    required["tool_choice"] = json!("REQUIRED");
    let cohere: Value = mock.cohere(&required).await.json().await.unwrap();
    let mut none = cohere_with_tools("command-a", said);
    none["tool_choice"] = json!("NONE");
    let cohere_none: Value = mock.cohere(&none).await.json().await.unwrap();

    let calls = &openai["choices"][0]["message"]["tool_calls"];
    assert_eq!(calls.as_array().unwrap().len(), 1);
    assert_eq!(calls[0]["function"]["name"], "get_time");
    assert_eq!(calls[0]["function"]["arguments"], time_args(said));
    assert_eq!(openai_none["choices"][0]["finish_reason"], "stop");
    assert_eq!(
        openai_none["choices"][0]["message"]["content"],
        format!("Hello from openai/gpt-5.4. You said: {said}")
    );
    assert_eq!(anthropic["content"][0]["name"], "get_time");
    assert_eq!(anthropic["content"].as_array().unwrap().len(), 1);
    // With no tool named, the first tool is called.
    assert_eq!(anthropic_any["content"][0]["name"], "get_weather");
    assert_eq!(anthropic_none["stop_reason"], "end_turn");
    assert_eq!(anthropic_none["content"][0]["type"], "text");
    assert_eq!(
        cohere["message"]["tool_calls"][0]["function"]["name"],
        "get_weather"
    );
    assert_eq!(cohere_none["finish_reason"], "COMPLETE");
}

#[tokio::test]
async fn tool_results_as_the_last_turn_get_a_text_answer_in_each_shape() {
    let mock = TestMock::start().await;
    let said = "get_time and get_weather";
    let args = |name: &str| {
        if name == "get_time" {
            time_args(said)
        } else {
            weather_args(said)
        }
    };

    let mut openai = openai_with_tools("gpt-5.4", said);
    openai["messages"] = json!([
        { "role": "user", "content": said },
        { "role": "assistant", "content": null, "tool_calls": [
            { "id": "call_0", "type": "function", "function": { "name": "get_time", "arguments": args("get_time") } },
            { "id": "call_1", "type": "function", "function": { "name": "get_weather", "arguments": args("get_weather") } },
        ] },
        { "role": "tool", "tool_call_id": "call_0", "content": "noon" },
        { "role": "tool", "tool_call_id": "call_1", "content": [{ "type": "text", "text": "20C" }] },
    ]);
    let openai: Value = mock.openai("openai", &openai).await.json().await.unwrap();

    let mut anthropic = anthropic_with_tools("claude-opus-4.7", said);
    anthropic["messages"] = json!([
        { "role": "user", "content": said },
        { "role": "assistant", "content": [
            { "type": "text", "text": "Let me check." },
            { "type": "tool_use", "id": "toolu_0", "name": "get_time", "input": { "zone": said } },
            { "type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {} },
        ] },
        { "role": "user", "content": [
            { "type": "tool_result", "tool_use_id": "toolu_0", "content": "noon" },
            { "type": "tool_result", "tool_use_id": "toolu_1", "is_error": false,
              "content": [{ "type": "text", "text": "20C" }] },
            { "type": "text", "text": "thanks" },
        ] },
    ]);
    let anthropic: Value = mock.anthropic(&anthropic).await.json().await.unwrap();

    let mut cohere = cohere_with_tools("command-a", said);
    cohere["messages"] = json!([
        { "role": "user", "content": said },
        { "role": "assistant", "tool_plan": "I will call get_time, get_weather.", "tool_calls": [
            { "id": "get_time_0", "type": "function", "function": { "name": "get_time", "arguments": args("get_time") } },
            { "id": "get_weather_1", "type": "function", "function": { "name": "get_weather", "arguments": args("get_weather") } },
        ] },
        { "role": "tool", "tool_call_id": "get_time_0", "content": "noon" },
        { "role": "tool", "tool_call_id": "get_weather_1",
          "content": [{ "type": "document", "document": { "data": "20C" } }] },
    ]);
    let cohere: Value = mock.cohere(&cohere).await.json().await.unwrap();

    let expected = "Tool results: noon | 20C";
    assert_eq!(openai["choices"][0]["message"]["content"], expected);
    assert_eq!(openai["choices"][0]["finish_reason"], "stop");
    assert!(openai["choices"][0]["message"].get("tool_calls").is_none());
    assert_eq!(
        anthropic["content"],
        json!([{ "type": "text", "text": expected }])
    );
    assert_eq!(anthropic["stop_reason"], "end_turn");
    assert_eq!(
        cohere["message"]["content"],
        json!([{ "type": "text", "text": expected }])
    );
    assert_eq!(cohere["finish_reason"], "COMPLETE");
    // The calls in the history and the results count as input.
    let calls_json = json!([
        { "id": "call_0", "type": "function", "function": { "name": "get_time", "arguments": args("get_time") } },
        { "id": "call_1", "type": "function", "function": { "name": "get_weather", "arguments": args("get_weather") } },
    ]);
    let input = tokens(said)
        + tokens("")
        + tokens(&calls_json.to_string())
        + tokens("noon")
        + tokens("20C")
        + tokens(&function_tools().to_string());
    assert_eq!(openai["usage"]["prompt_tokens"], input);
}

#[tokio::test]
async fn streamed_tool_call_deltas_reassemble_to_the_non_streaming_arguments() {
    let mock = TestMock::start().await;
    let said = "get_weather and get_time for \"São Paulo\" \\ now";

    // OpenAI.
    let whole: Value = mock
        .openai("openai", &openai_with_tools("gpt-5.4", said))
        .await
        .json()
        .await
        .unwrap();
    let (body, clean) = read_body(
        mock.openai("openai", &streaming(openai_with_tools("gpt-5.4", said)))
            .await,
    )
    .await;
    assert!(clean);
    let frames = sse_frames(&body);
    let expected: Vec<(String, String, String)> = whole["choices"][0]["message"]["tool_calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let f = &c["function"];
            (
                c["id"].as_str().unwrap().into(),
                f["name"].as_str().unwrap().into(),
                f["arguments"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(expected.len(), 2);
    assert_eq!(streamed_calls(&frames), expected);
    let first = json_of(&frames[0].1);
    assert_eq!(first["choices"][0]["delta"]["role"], "assistant");
    assert_eq!(first["choices"][0]["delta"]["content"], Value::Null);
    let finish = json_of(&frames[frames.len() - 2].1);
    assert_eq!(finish["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(frames.last().unwrap().1, "[DONE]");
    assert!(content_pieces(&frames).is_empty());

    // Anthropic.
    let whole: Value = mock
        .anthropic(&anthropic_with_tools("claude-opus-4.7", said))
        .await
        .json()
        .await
        .unwrap();
    let (body, clean) = read_body(
        mock.anthropic(&streaming(anthropic_with_tools("claude-opus-4.7", said)))
            .await,
    )
    .await;
    assert!(clean);
    let frames = sse_frames(&body);
    let expected: Vec<(String, String, String)> = whole["content"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["id"].as_str().unwrap().into(),
                b["name"].as_str().unwrap().into(),
                b["input"].to_string(),
            )
        })
        .collect();
    assert_eq!(expected.len(), 2);
    assert_eq!(streamed_calls(&frames), expected);
    let events: Vec<&str> = frames.iter().filter_map(|(e, _)| e.as_deref()).collect();
    assert_eq!(
        events[..3],
        ["message_start", "content_block_start", "ping"]
    );
    assert_eq!(
        events
            .iter()
            .filter(|e| **e == "content_block_stop")
            .count(),
        2
    );
    let delta = frames
        .iter()
        .find(|(e, _)| e.as_deref() == Some("message_delta"))
        .unwrap();
    let delta = json_of(&delta.1);
    assert_eq!(delta["delta"]["stop_reason"], "tool_use");
    assert_eq!(
        delta["usage"]["output_tokens"],
        whole["usage"]["output_tokens"]
    );
    assert_eq!(events.last(), Some(&"message_stop"));

    // Cohere.
    let whole: Value = mock
        .cohere(&cohere_with_tools("command-a", said))
        .await
        .json()
        .await
        .unwrap();
    let (body, clean) = read_body(
        mock.cohere(&streaming(cohere_with_tools("command-a", said)))
            .await,
    )
    .await;
    assert!(clean);
    let frames = sse_frames(&body);
    let expected: Vec<(String, String, String)> = whole["message"]["tool_calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let f = &c["function"];
            (
                c["id"].as_str().unwrap().into(),
                f["name"].as_str().unwrap().into(),
                f["arguments"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(expected.len(), 2);
    assert_eq!(streamed_calls(&frames), expected);
    let plan: String = frames
        .iter()
        .filter(|(e, _)| e.as_deref() == Some("tool-plan-delta"))
        .map(|(_, d)| {
            json_of(d)["delta"]["message"]["tool_plan"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(plan, whole["message"]["tool_plan"].as_str().unwrap());
    let events: Vec<&str> = frames.iter().filter_map(|(e, _)| e.as_deref()).collect();
    assert_eq!(events.iter().filter(|e| **e == "tool-call-end").count(), 2);
    let end = json_of(&frames.last().unwrap().1);
    assert_eq!(end["type"], "message-end");
    assert_eq!(end["delta"]["finish_reason"], "TOOL_CALL");
    assert_eq!(end["delta"]["usage"], whole["usage"]);
}

#[tokio::test]
async fn a_midstream_error_cuts_a_streamed_tool_call_after_two_fragments() {
    let mock = TestMock::start().await;

    let response = mock
        .openai(
            "openai",
            &streaming(openai_with_tools("gpt-5.4-midstream-error", "get_weather")),
        )
        .await;
    let (body, _) = read_body(response).await;
    let frames = sse_frames(&body);

    // The role chunk, the call's start, one fragment, then the in-band error; no [DONE].
    assert_eq!(frames.len(), 4);
    let start = json_of(&frames[1].1);
    assert_eq!(
        start["choices"][0]["delta"]["tool_calls"][0]["id"],
        "call_0"
    );
    assert!(json_of(&frames[3].1)["error"].is_object());
    assert!(frames.iter().all(|(_, d)| d != "[DONE]"));
}

#[tokio::test]
async fn openai_json_object_wraps_the_reply_and_json_schema_builds_an_instance() {
    let mock = TestMock::start().await;
    let said = "answer in JSON";

    let mut object = openai_body("gpt-5.4", said);
    object["response_format"] = json!({ "type": "json_object" });
    let object: Value = mock.openai("openai", &object).await.json().await.unwrap();
    let mut schema = openai_body("gpt-5.4", said);
    schema["response_format"] = json!({ "type": "json_schema", "json_schema": {
        "name": "book", "strict": true,
        "schema": { "type": "object", "properties": {
            "title": { "type": "string" }, "year": { "type": "integer" },
            "tags": { "type": "array", "items": { "type": "string" } },
            "genre": { "type": "string", "enum": ["poetry", "prose"] },
        }, "required": ["title", "year", "tags", "genre"], "additionalProperties": false },
    } });
    let whole: Value = mock.openai("openai", &schema).await.json().await.unwrap();
    let (body, _) = read_body(mock.openai("openai", &streaming(schema)).await).await;
    let mut no_json_word = openai_body("gpt-5.4", "hi");
    no_json_word["response_format"] = json!({ "type": "json_object" });
    let no_json_word = mock.openai("openai", &no_json_word).await;

    let reply = format!("Hello from openai/gpt-5.4. You said: {said}");
    let content = object["choices"][0]["message"]["content"].as_str().unwrap();
    assert_eq!(content, json!({ "reply": reply }).to_string());
    assert_eq!(object["usage"]["completion_tokens"], tokens(content));
    let content = whole["choices"][0]["message"]["content"].as_str().unwrap();
    assert_eq!(
        content,
        format!(r#"{{"title":"{said}","year":42,"tags":[],"genre":"poetry"}}"#)
    );
    assert_eq!(content_pieces(&sse_frames(&body)).concat(), content);
    assert_eq!(no_json_word.status(), StatusCode::BAD_REQUEST);
    let no_json_word: Value = no_json_word.json().await.unwrap();
    assert!(no_json_word["error"]["message"]
        .as_str()
        .unwrap()
        .contains("json"));
}

#[tokio::test]
async fn cohere_response_format_json_object_with_and_without_a_schema() {
    let mock = TestMock::start().await;

    let mut object = cohere_body("command-a", "hi");
    object["response_format"] = json!({ "type": "json_object" });
    let object: Value = mock.cohere(&object).await.json().await.unwrap();
    let mut schema = cohere_body("command-a", "hi");
    schema["response_format"] = json!({ "type": "json_object", "json_schema": {
        "type": "object", "properties": { "name": { "type": "string" }, "age": { "type": "integer" } },
    } });
    let schema: Value = mock.cohere(&schema).await.json().await.unwrap();
    let mut bad = cohere_body("command-a", "hi");
    bad["response_format"] = json!({ "type": "text", "json_schema": {} });
    let bad = mock.cohere(&bad).await;

    assert_eq!(
        object["message"]["content"][0]["text"],
        r#"{"reply":"Hello from cohere/command-a. You said: hi"}"#
    );
    assert_eq!(
        schema["message"]["content"][0]["text"],
        r#"{"name":"hi","age":42}"#
    );
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn anthropic_has_no_response_format_field() {
    let mock = TestMock::start().await;
    let mut body = anthropic_body("claude-opus-4.7", "hi");
    body["response_format"] = json!({ "type": "json_object" });

    let response = mock.anthropic(&body).await;

    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["error"]["message"],
        "response_format: Extra inputs are not permitted"
    );
}

const PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==";

#[tokio::test]
async fn images_in_the_last_user_turn_are_counted_in_each_shape() {
    let mock = TestMock::start().await;
    let said = "what is this?";
    let data_url = format!("data:image/png;base64,{PNG}");

    let mut openai = openai_body("gpt-5.4", said);
    openai["messages"][1]["content"] = json!([
        { "type": "text", "text": said },
        { "type": "image_url", "image_url": { "url": "https://example.com/cat.jpg", "detail": "low" } },
        { "type": "image_url", "image_url": { "url": data_url } },
    ]);
    let openai: Value = mock.openai("openai", &openai).await.json().await.unwrap();
    let mut anthropic = anthropic_body("claude-opus-4.7", said);
    anthropic["messages"][0]["content"] = json!([
        { "type": "image", "source": { "type": "base64", "media_type": "image/png", "data": PNG } },
        { "type": "image", "source": { "type": "url", "url": "https://example.com/cat.jpg" } },
        { "type": "text", "text": said },
    ]);
    let anthropic: Value = mock.anthropic(&anthropic).await.json().await.unwrap();
    let mut cohere = cohere_body("command-a", said);
    cohere["messages"][1]["content"] = json!([
        { "type": "text", "text": said },
        { "type": "image_url", "image_url": { "url": data_url } },
    ]);
    let cohere: Value = mock.cohere(&cohere).await.json().await.unwrap();

    assert_eq!(
        openai["choices"][0]["message"]["content"],
        format!("Hello from openai/gpt-5.4 (I see 2 image(s)). You said: {said}")
    );
    assert_eq!(
        anthropic["content"][0]["text"],
        format!("Hello from anthropic/claude-opus-4.7 (I see 2 image(s)). You said: {said}")
    );
    assert_eq!(
        cohere["message"]["content"][0]["text"],
        format!("Hello from cohere/command-a (I see 1 image(s)). You said: {said}")
    );
}

#[tokio::test]
async fn a_noimage_model_refuses_images_with_a_400_in_each_shape() {
    let mock = TestMock::start().await;
    let image =
        json!({ "type": "image_url", "image_url": { "url": "https://example.com/cat.jpg" } });

    let mut openai = openai_body("gpt-5.4-noimage", "hi");
    openai["messages"][1]["content"] = json!([{ "type": "text", "text": "hi" }, image]);
    let openai = mock.openai("openai", &openai).await;
    let mut anthropic = anthropic_body("claude-opus-4.7-noimage", "hi");
    anthropic["messages"][0]["content"] = json!([
        { "type": "image", "source": { "type": "url", "url": "https://example.com/cat.jpg" } },
    ]);
    let anthropic = mock.anthropic(&anthropic).await;
    let mut cohere = cohere_body("command-a-noimage", "hi");
    cohere["messages"][1]["content"] = json!([image]);
    let cohere = mock.cohere(&cohere).await;
    let text_only = mock
        .openai("openai", &openai_body("gpt-5.4-noimage", "hi"))
        .await;

    for response in [&openai, &anthropic, &cohere] {
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    }
    let openai: Value = openai.json().await.unwrap();
    assert!(openai["error"]["message"]
        .as_str()
        .unwrap()
        .contains("gpt-5.4-noimage does not support image input"));
    let anthropic: Value = anthropic.json().await.unwrap();
    assert_eq!(anthropic["error"]["type"], "invalid_request_error");
    assert!(anthropic["error"]["message"]
        .as_str()
        .unwrap()
        .contains("does not support image input"));
    let cohere: Value = cohere.json().await.unwrap();
    assert!(cohere["message"]
        .as_str()
        .unwrap()
        .contains("does not support image input"));
    assert_eq!(text_only.status(), StatusCode::OK);
    assert_eq!(mock.mock.state.request_count("openai"), 2);
}

/// The status and error message of a response in any of the three error shapes.
#[expect(
    clippy::unwrap_used,
    reason = "test helper: an error body that is not JSON fails the test"
)]
async fn rejection(response: reqwest::Response) -> (StatusCode, String) {
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    let message = body["error"]["message"]
        .as_str()
        .or(body["message"].as_str())
        .unwrap_or_default()
        .to_owned();
    (status, message)
}

#[tokio::test]
async fn openai_validates_tool_conversations_tools_and_images() {
    let mock = TestMock::start().await;
    let call = json!({ "id": "call_0", "type": "function", "function": { "name": "get_time", "arguments": "{}" } });
    let with = |messages: Value| {
        let mut body = openai_with_tools("gpt-5.4", "x");
        body["messages"] = messages;
        body
    };
    let image = |url: &str| {
        let mut body = openai_body("gpt-5.4", "x");
        body["messages"][1]["content"] =
            json!([{ "type": "image_url", "image_url": { "url": url } }]);
        body
    };
    let cases = [
        (
            with(json!([
                { "role": "user", "content": "x" },
                { "role": "assistant", "content": null, "tool_calls": [call] },
                { "role": "tool", "tool_call_id": "call_9", "content": "r" },
            ])),
            "call_9",
        ),
        (
            with(json!([
                { "role": "user", "content": "x" },
                { "role": "tool", "tool_call_id": "call_7", "content": "r" },
            ])),
            "call_7",
        ),
        (
            with(json!([
                { "role": "user", "content": "x" },
                { "role": "assistant", "content": "calling", "tool_calls": [call] },
                { "role": "user", "content": "y" },
            ])),
            "did not have response messages: call_0",
        ),
        (
            {
                let mut body = openai_body("gpt-5.4", "x");
                body["tool_choice"] = json!("auto");
                body
            },
            "only allowed when 'tools' are specified",
        ),
        (
            {
                let mut body = openai_with_tools("gpt-5.4", "x");
                body["tool_choice"] = json!({ "type": "function", "function": { "name": "nope" } });
                body
            },
            "nope",
        ),
        (
            {
                let mut body = openai_body("gpt-5.4", "x");
                body["tools"] =
                    json!([{ "type": "function", "function": { "name": "has space" } }]);
                body
            },
            "tools[0].function.name",
        ),
        (image("data:image/bmp;base64,Qk0="), "image/bmp"),
        (image("data:image/png;base64,%%%"), "image_url.url"),
        (
            {
                let mut body = openai_body("gpt-5.4", "x");
                body["messages"][1]["content"] = json!([{ "type": "image_url", "image_url": {} }]);
                body
            },
            "messages[1].content[0].image_url.url",
        ),
    ];

    for (body, needle) in cases {
        let (status, message) = rejection(mock.openai("openai", &body).await).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{needle}");
        assert!(message.contains(needle), "{message:?} lacks {needle:?}");
    }
}

#[tokio::test]
async fn anthropic_validates_tool_conversations_tools_and_images() {
    let mock = TestMock::start().await;
    let tool_use = json!({ "type": "tool_use", "id": "toolu_0", "name": "get_time", "input": {} });
    let result = |id: &str| json!({ "type": "tool_result", "tool_use_id": id, "content": "r" });
    let with = |messages: Value| {
        let mut body = anthropic_with_tools("claude-opus-4.7", "x");
        body["messages"] = messages;
        body
    };
    let image = |source: Value| {
        let mut body = anthropic_body("claude-opus-4.7", "x");
        body["messages"][0]["content"] = json!([{ "type": "image", "source": source }]);
        body
    };
    let cases = [
        (
            with(json!([
                { "role": "user", "content": "x" },
                { "role": "assistant", "content": [tool_use] },
                { "role": "user", "content": [result("toolu_9")] },
            ])),
            "messages.2.content.0: unexpected `tool_use_id` found in `tool_result` blocks: toolu_9",
        ),
        (
            with(json!([
                { "role": "user", "content": "x" },
                { "role": "assistant", "content": [tool_use] },
                { "role": "user", "content": "no result" },
            ])),
            "`tool_use` ids were found without `tool_result` blocks immediately after: toolu_0",
        ),
        (
            with(json!([
                { "role": "user", "content": "x" },
                { "role": "assistant", "content": [tool_use] },
                { "role": "user", "content": [{ "type": "text", "text": "first" }, result("toolu_0")] },
            ])),
            "Did not find 1 tool_result block(s) at the beginning of this message",
        ),
        (
            with(json!([{ "role": "user", "content": [result("toolu_0")] }])),
            "unexpected `tool_use_id`",
        ),
        (
            {
                let mut body = with(json!([
                    { "role": "user", "content": "x" },
                    { "role": "assistant", "content": [tool_use] },
                    { "role": "user", "content": [result("toolu_0")] },
                ]));
                body.as_object_mut().unwrap().remove("tools");
                body
            },
            "must define tools",
        ),
        (
            {
                let mut body = anthropic_body("claude-opus-4.7", "x");
                body["tools"] = json!([{ "name": "t" }]);
                body
            },
            "tools.0.custom.input_schema: Field required",
        ),
        (
            {
                let mut body = anthropic_with_tools("claude-opus-4.7", "x");
                body["tool_choice"] = json!({ "type": "tool", "name": "nope" });
                body
            },
            "nope",
        ),
        (
            image(json!({ "type": "base64", "media_type": "image/bmp", "data": PNG })),
            "media_type",
        ),
        (
            image(json!({ "type": "base64", "media_type": "image/png", "data": "not base64!" })),
            "base64",
        ),
        (image(json!({ "type": "url" })), "url.url: Field required"),
    ];

    for (body, needle) in cases {
        let (status, message) = rejection(mock.anthropic(&body).await).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{needle}");
        assert!(message.contains(needle), "{message:?} lacks {needle:?}");
    }
}

#[tokio::test]
async fn cohere_validates_tool_results_tool_choice_and_images() {
    let mock = TestMock::start().await;
    let mut unknown_result = cohere_with_tools("command-a", "x");
    unknown_result["messages"] = json!([
        { "role": "user", "content": "x" },
        { "role": "assistant", "tool_calls": [
            { "id": "get_time_0", "type": "function", "function": { "name": "get_time", "arguments": "{}" } },
        ] },
        { "role": "tool", "tool_call_id": "get_time_5", "content": "r" },
    ]);
    let mut bad_choice = cohere_with_tools("command-a", "x");
    bad_choice["tool_choice"] = json!("AUTO");
    let mut bad_image = cohere_body("command-a", "x");
    bad_image["messages"][1]["content"] =
        json!([{ "type": "image_url", "image_url": { "url": "data:image/tiff;base64,AAAA" } }]);
    let mut no_url = cohere_body("command-a", "x");
    no_url["messages"][1]["content"] = json!([{ "type": "image_url", "image_url": {} }]);

    let cases = [
        (unknown_result, "get_time_5"),
        (bad_choice, "tool_choice"),
        (bad_image, "image/tiff"),
        (no_url, "image_url.url is required"),
    ];
    for (body, needle) in cases {
        let (status, message) = rejection(mock.cohere(&body).await).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{needle}");
        assert!(message.contains(needle), "{message:?} lacks {needle:?}");
    }
}
