//! The OpenAI ingress around the chain: authentication, body limits and validation,
//! `/v1/models`, `/healthz` and `/metrics`.

use aig_tests::{chat_body, TestApp};
use serde_json::json;
use std::time::Duration;

const GPT: &str = "openai/gpt-5.4";

#[tokio::test]
async fn a_missing_unknown_or_malformed_key_is_a_401_invalid_api_key() {
    let app = TestApp::spawn().await;
    let url = app.url("/v1/chat/completions");
    let body = chat_body(GPT, "hi");

    let missing = TestApp::read(app.client.post(&url).json(&body).send().await.unwrap()).await;
    let unknown = TestApp::read(
        app.client
            .post(&url)
            .bearer_auth("sk-aig-doesnotexist0000000000000000000000")
            .json(&body)
            .send()
            .await
            .unwrap(),
    )
    .await;
    let foreign = TestApp::read(
        app.client
            .post(&url)
            .bearer_auth("sk-proj-123")
            .json(&body)
            .send()
            .await
            .unwrap(),
    )
    .await;

    for res in [&missing, &unknown, &foreign] {
        assert_eq!(res.status, 401);
        assert_eq!(res.error_code(), Some("invalid_api_key"));
        assert_eq!(res.body["error"]["type"], "authentication_error");
        assert!(res.header("x-aig-request-id").is_some());
    }
    assert_eq!(app.mock.state.request_count("openai"), 0);
}

#[tokio::test]
async fn the_key_may_come_in_x_api_key() {
    let app = TestApp::spawn().await;

    let res = TestApp::read(
        app.client
            .post(app.url("/v1/chat/completions"))
            .header("x-api-key", app.key.expose())
            .json(&chat_body(GPT, "hi"))
            .send()
            .await
            .unwrap(),
    )
    .await;

    assert_eq!(res.status, 200, "{:?}", res.body);
}

#[tokio::test]
async fn a_revoked_key_stops_working_within_one_second() {
    let app = TestApp::spawn().await;
    let key = app.new_key().await;
    let call = || {
        app.client
            .post(app.url("/v1/chat/completions"))
            .bearer_auth(key.expose())
            .json(&chat_body(GPT, "hi"))
            .send()
    };
    assert_eq!(call().await.unwrap().status(), 200);

    app.revoke(&key).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let res = TestApp::read(call().await.unwrap()).await;

    assert_eq!(res.status, 401);
    assert!(res.error_message().contains("revoked"));
}

#[tokio::test]
async fn a_body_over_the_limit_is_a_413() {
    let app = TestApp::spawn_with(&[("AIG_MAX_BODY_BYTES", "4096")]).await;

    let res = app.chat(&chat_body(GPT, &"x".repeat(8192)), &[]).await;

    assert_eq!(res.status, 413);
    assert_eq!(res.error_code(), Some("payload_too_large"));
    assert_eq!(app.mock.state.request_count("openai"), 0);
}

#[tokio::test]
async fn a_malformed_body_is_a_400_naming_the_field() {
    let app = TestApp::spawn().await;

    let not_json = TestApp::read(
        app.client
            .post(app.url("/v1/chat/completions"))
            .bearer_auth(app.key.expose())
            .header("content-type", "application/json")
            .body("{not json")
            .send()
            .await
            .unwrap(),
    )
    .await;
    let no_model = app
        .chat(
            &json!({"messages": [{"role": "user", "content": "hi"}]}),
            &[],
        )
        .await;
    let bad_role = app
        .chat(
            &json!({"model": GPT, "messages": [{"role": "wizard", "content": "hi"}]}),
            &[],
        )
        .await;
    let bad_temp = app
        .chat(
            &json!({"model": GPT, "temperature": 3, "messages": [{"role": "user", "content": "hi"}]}),
            &[],
        )
        .await;

    for res in [&not_json, &no_model, &bad_role, &bad_temp] {
        assert_eq!(res.status, 400, "{:?}", res.body);
        assert_eq!(res.error_code(), Some("invalid_request"));
    }
    assert!(no_model.error_message().contains("model"));
    assert!(bad_role.error_message().contains("messages[0].role"));
    assert!(bad_temp.error_message().contains("temperature"));
}

#[tokio::test]
async fn models_lists_the_catalog_in_openai_list_shape() {
    let app = TestApp::spawn().await;

    let res = TestApp::read(app.client.get(app.url("/v1/models")).send().await.unwrap()).await;

    assert_eq!(res.status, 200);
    assert_eq!(res.body["object"], "list");
    let ids: Vec<&str> = res.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    for seed in [
        "anthropic/claude-opus-4.7",
        GPT,
        "moonshot/kimi-k2.6",
        "openai/gpt-5-mini",
    ] {
        assert!(ids.contains(&seed), "{seed}");
    }
    let gpt = res.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == GPT)
        .unwrap();
    assert_eq!(gpt["object"], "model");
    assert_eq!(gpt["owned_by"], "openai");
    assert_eq!(gpt["pricing"]["input"], "2.500");
}

#[tokio::test]
async fn healthz_reports_ok_and_metrics_count_requests_and_attempts() {
    let app = TestApp::spawn().await;
    app.chat(&chat_body(GPT, "hi"), &[]).await;

    let health = TestApp::read(app.client.get(app.url("/healthz")).send().await.unwrap()).await;
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();

    assert_eq!(health.status, 200);
    assert_eq!(health.body["redis"], "ok");
    assert!(
        metrics
            .contains(r#"aig_dataplane_requests_total{route="chat_completions",status="200"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"aig_dataplane_attempts_total{provider="openai",outcome="ok"} 1"#),
        "{metrics}"
    );
    assert!(metrics.contains("aig_dataplane_request_duration_seconds_bucket"));
}

#[tokio::test]
async fn unknown_paths_are_a_404_in_openai_shape() {
    let app = TestApp::spawn().await;

    let res = TestApp::read(app.client.get(app.url("/v1/nothing")).send().await.unwrap()).await;

    assert_eq!(res.status, 404);
    assert_eq!(res.error_code(), Some("not_found"));
}

#[tokio::test]
async fn management_calls_answer_503_when_the_control_plane_is_unreachable() {
    let app = TestApp::spawn_with(&[("AIG_CONTROLPLANE_URL", "http://127.0.0.1:9")]).await;

    let res = TestApp::read(
        app.client
            .post(app.url("/v1/budgets"))
            .bearer_auth(app.key.expose())
            .body(r#"{ "tag": "summarize.fallback", "monthly_cap_cents": 5000 }"#)
            .send()
            .await
            .unwrap(),
    )
    .await;

    assert_eq!(res.status, 503);
    assert_eq!(res.error_code(), Some("service_unavailable"));
    assert!(
        !res.error_message().contains("127.0.0.1"),
        "internals stay hidden"
    );
}
