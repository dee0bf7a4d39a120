//! Tools, structured output and images across provider shapes, through both ingresses,
//! streaming and not: conversations whose turns are served by different providers.

use aig_tests::mock::Mode;
use aig_tests::{StreamResponse, TestApp};
use serde_json::{json, Value};

const CHAT: &str = "/v1/chat/completions";
const MESSAGES: &str = "/anthropic/v1/messages";
const ASK: &str = "What is the weather in Paris? use get_weather";

fn openai_tools() -> Value {
    json!([
        { "type": "function", "function": { "name": "get_weather", "description": "Weather now",
          "parameters": { "type": "object", "properties": { "city": { "type": "string" } }, "required": ["city"] } } },
        { "type": "function", "function": { "name": "get_time",
          "parameters": { "type": "object", "properties": { "zone": { "type": "string" }, "precise": { "type": "boolean" } } } } }
    ])
}

fn anthropic_tools() -> Value {
    json!([
        { "name": "get_weather", "description": "Weather now",
          "input_schema": { "type": "object", "properties": { "city": { "type": "string" } }, "required": ["city"] } },
        { "name": "get_time",
          "input_schema": { "type": "object", "properties": { "zone": { "type": "string" }, "precise": { "type": "boolean" } } } }
    ])
}

#[expect(
    clippy::unwrap_used,
    reason = "a test helper: malformed frames fail the test"
)]
/// Reassembles OpenAI streamed tool calls: (id, name, arguments) per index.
fn openai_stream_calls(res: &StreamResponse) -> Vec<(String, String, String)> {
    let mut calls: Vec<(String, String, String)> = Vec::new();
    for f in res.frames.iter().filter(|f| f.data != "[DONE]") {
        for call in f.json()["choices"][0]["delta"]["tool_calls"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let i = usize::try_from(call["index"].as_u64().unwrap()).unwrap();
            if calls.len() <= i {
                calls.resize(i + 1, Default::default());
            }
            if let Some(id) = call["id"].as_str() {
                calls[i].0 = id.to_owned();
                calls[i].1 = call["function"]["name"].as_str().unwrap().to_owned();
            }
            calls[i]
                .2
                .push_str(call["function"]["arguments"].as_str().unwrap_or_default());
        }
    }
    calls
}

#[expect(
    clippy::unwrap_used,
    reason = "a test helper: malformed frames fail the test"
)]
/// Reassembles Anthropic streamed tool_use blocks: (id, name, partial_json joined).
fn anthropic_stream_calls(res: &StreamResponse) -> Vec<(String, String, String)> {
    let mut blocks: Vec<(u64, String, String, String)> = Vec::new();
    for f in &res.frames {
        let v = f.json();
        match f.event.as_deref() {
            Some("content_block_start") if v["content_block"]["type"] == "tool_use" => {
                blocks.push((
                    v["index"].as_u64().unwrap(),
                    v["content_block"]["id"].as_str().unwrap().to_owned(),
                    v["content_block"]["name"].as_str().unwrap().to_owned(),
                    String::new(),
                ))
            }
            Some("content_block_delta") if v["delta"]["type"] == "input_json_delta" => {
                let b = blocks
                    .iter_mut()
                    .find(|b| b.0 == v["index"].as_u64().unwrap())
                    .unwrap();
                b.3.push_str(v["delta"]["partial_json"].as_str().unwrap());
            }
            _ => {}
        }
    }
    blocks
        .into_iter()
        .map(|(_, id, name, json)| (id, name, json))
        .collect()
}

#[tokio::test]
async fn an_openai_tool_conversation_continues_on_another_provider_after_a_fallback() {
    let app = TestApp::spawn().await;
    let turn1 = json!({
        "model": "anthropic/claude-opus-4.7",
        "messages": [{ "role": "user", "content": ASK }],
        "tools": openai_tools(),
    });

    let first = app
        .chat(&turn1, &[("x-aig-fallback", "openai/gpt-5.4")])
        .await;

    assert_eq!(first.status, 200, "{:?}", first.body);
    assert_eq!(
        first.header("x-aig-served-by").as_deref(),
        Some("anthropic/claude-opus-4.7")
    );
    let message = &first.body["choices"][0]["message"];
    assert_eq!(first.body["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(message["content"], Value::Null);
    let call = &message["tool_calls"][0];
    assert_eq!(call["id"], "toolu_0");
    assert_eq!(call["type"], "function");
    assert_eq!(call["function"]["name"], "get_weather");
    assert_eq!(
        call["function"]["arguments"],
        json!({ "city": ASK }).to_string()
    );

    app.mock.state.set_mode("anthropic", Mode::Fail(429));
    let mut turn2 = turn1.clone();
    let messages = turn2["messages"].as_array_mut().unwrap();
    messages.push(message.clone());
    messages.push(json!({ "role": "tool", "tool_call_id": "toolu_0", "content": "sunny, 21C" }));
    let second = app
        .chat(&turn2, &[("x-aig-fallback", "openai/gpt-5.4")])
        .await;

    assert_eq!(second.status, 200, "{:?}", second.body);
    assert_eq!(
        second.header("x-aig-chain").as_deref(),
        Some("anthropic/claude-opus-4.7:429→openai/gpt-5.4:200")
    );
    assert_eq!(second.content(), "Tool results: sunny, 21C");
    assert_eq!(second.body["choices"][0]["finish_reason"], "stop");
    let sent = app.mock.state.requests("openai").pop().unwrap();
    assert_eq!(sent.body["messages"][1]["tool_calls"][0]["id"], "toolu_0");
    assert_eq!(
        sent.body["messages"][2],
        json!({ "role": "tool", "tool_call_id": "toolu_0", "content": "sunny, 21C" })
    );
    assert_eq!(sent.body["tools"], openai_tools());
}

#[tokio::test]
async fn an_anthropic_tool_conversation_continues_on_cohere_after_a_fallback() {
    let app = TestApp::spawn().await;
    let turn1 = json!({
        "model": "openai/gpt-5.4", "max_tokens": 200,
        "messages": [{ "role": "user", "content": ASK }],
        "tools": anthropic_tools(),
    });

    let first = app
        .messages(&turn1, &[("x-aig-fallback", "cohere/command-a")])
        .await;

    assert_eq!(first.status, 200, "{:?}", first.body);
    assert_eq!(first.body["stop_reason"], "tool_use");
    let block = &first.body["content"][0];
    assert_eq!(block["type"], "tool_use");
    assert_eq!(block["id"], "call_0");
    assert_eq!(block["name"], "get_weather");
    assert_eq!(block["input"], json!({ "city": ASK }));

    app.mock.state.set_mode("openai", Mode::Fail(500));
    let mut turn2 = turn1.clone();
    let messages = turn2["messages"].as_array_mut().unwrap();
    messages.push(json!({ "role": "assistant", "content": first.body["content"].clone() }));
    messages.push(json!({ "role": "user", "content": [
        { "type": "tool_result", "tool_use_id": "call_0", "content": "sunny, 21C" }
    ] }));
    let second = app
        .messages(&turn2, &[("x-aig-fallback", "cohere/command-a")])
        .await;

    assert_eq!(second.status, 200, "{:?}", second.body);
    assert_eq!(
        second.header("x-aig-chain").as_deref(),
        Some("openai/gpt-5.4:500→cohere/command-a:200")
    );
    assert_eq!(
        second.body["content"][0]["text"],
        "Tool results: sunny, 21C"
    );
    assert_eq!(second.body["stop_reason"], "end_turn");
    let sent = app.mock.state.requests("cohere").pop().unwrap();
    assert_eq!(sent.body["messages"][1]["tool_calls"][0]["id"], "call_0");
    assert_eq!(sent.body["messages"][2]["role"], "tool");
    assert_eq!(sent.body["messages"][2]["tool_call_id"], "call_0");
}

#[tokio::test]
async fn parallel_tool_calls_come_back_in_order_from_every_shape() {
    let app = TestApp::spawn().await;
    for (slug, ids) in [
        ("openai/gpt-5.4", ["call_0", "call_1"]),
        ("anthropic/claude-opus-4.7", ["toolu_0", "toolu_1"]),
        ("cohere/command-a", ["get_time_0", "get_weather_1"]),
    ] {
        let body = json!({
            "model": slug,
            "messages": [{ "role": "user", "content": "use get_time then get_weather" }],
            "tools": openai_tools(),
        });

        let res = app.chat(&body, &[]).await;

        assert_eq!(res.status, 200, "{slug}: {:?}", res.body);
        let calls = res.body["choices"][0]["message"]["tool_calls"]
            .as_array()
            .unwrap()
            .clone();
        let names: Vec<&str> = calls
            .iter()
            .map(|c| c["function"]["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["get_time", "get_weather"], "{slug}");
        let got: Vec<&str> = calls.iter().map(|c| c["id"].as_str().unwrap()).collect();
        assert_eq!(got, ids, "{slug}");
        assert_eq!(
            calls[0]["function"]["arguments"],
            json!({ "zone": "use get_time then get_weather", "precise": true }).to_string()
        );
    }
}

#[tokio::test]
async fn streamed_tool_arguments_reassemble_byte_identical_in_both_ingresses() {
    let app = TestApp::spawn().await;
    for slug in [
        "openai/gpt-5.4",
        "anthropic/claude-opus-4.7",
        "cohere/command-a",
    ] {
        let openai_body = json!({
            "model": slug, "messages": [{ "role": "user", "content": "use get_time and get_weather" }],
            "tools": openai_tools(),
        });
        let mut anthropic_body = json!({
            "model": slug, "max_tokens": 300,
            "messages": [{ "role": "user", "content": "use get_time and get_weather" }],
            "tools": anthropic_tools(),
        });

        let whole = app.chat(&openai_body, &[]).await;
        let mut streaming = openai_body.clone();
        streaming["stream"] = json!(true);
        let streamed = app.stream(CHAT, &streaming, &[]).await;
        let whole_anthropic = app.messages(&anthropic_body, &[]).await;
        anthropic_body["stream"] = json!(true);
        let streamed_anthropic = app.stream(MESSAGES, &anthropic_body, &[]).await;

        let expected: Vec<(String, String, String)> = whole.body["choices"][0]["message"]
            ["tool_calls"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["id"].as_str().unwrap().to_owned(),
                    c["function"]["name"].as_str().unwrap().to_owned(),
                    c["function"]["arguments"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        assert_eq!(expected.len(), 2, "{slug}");
        assert_eq!(
            openai_stream_calls(&streamed),
            expected,
            "{slug}: OpenAI stream"
        );
        let finish = streamed
            .frames
            .iter()
            .filter(|f| f.data != "[DONE]")
            .map(|f| f.json())
            .find(|c| !c["choices"][0]["finish_reason"].is_null())
            .unwrap();
        assert_eq!(finish["choices"][0]["finish_reason"], "tool_calls");
        let anthropic_calls = anthropic_stream_calls(&streamed_anthropic);
        let blocks: Vec<(String, String, String)> = whole_anthropic.body["content"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| {
                (
                    b["id"].as_str().unwrap().to_owned(),
                    b["name"].as_str().unwrap().to_owned(),
                    b["input"].to_string(),
                )
            })
            .collect();
        assert_eq!(anthropic_calls, blocks, "{slug}: Anthropic stream");
        let delta = streamed_anthropic
            .frames
            .iter()
            .find(|f| f.event.as_deref() == Some("message_delta"))
            .unwrap()
            .json();
        assert_eq!(delta["delta"]["stop_reason"], "tool_use", "{slug}");
    }
}

#[tokio::test]
async fn a_named_tool_choice_is_honoured_by_every_shape() {
    let app = TestApp::spawn().await;
    for slug in [
        "openai/gpt-5.4",
        "anthropic/claude-opus-4.7",
        "cohere/command-a",
    ] {
        let body = json!({
            "model": slug,
            "messages": [{ "role": "user", "content": "use get_weather" }],
            "tools": openai_tools(),
            "tool_choice": { "type": "function", "function": { "name": "get_time" } },
        });

        let res = app.chat(&body, &[]).await;

        let calls = res.body["choices"][0]["message"]["tool_calls"]
            .as_array()
            .unwrap();
        assert_eq!(calls.len(), 1, "{slug}");
        assert_eq!(calls[0]["function"]["name"], "get_time", "{slug}");
    }
}

#[tokio::test]
async fn json_schema_output_is_honoured_natively_or_emulated_on_anthropic() {
    let app = TestApp::spawn().await;
    let schema = json!({ "type": "object", "properties": { "answer": { "type": "string" }, "score": { "type": "number" } } });
    for slug in [
        "openai/gpt-5.4",
        "anthropic/claude-opus-4.7",
        "cohere/command-a",
    ] {
        let body = json!({
            "model": slug,
            "messages": [{ "role": "user", "content": "rate it" }],
            "response_format": { "type": "json_schema", "json_schema": { "name": "rating", "schema": schema } },
        });
        let mut streaming = body.clone();
        streaming["stream"] = json!(true);

        let res = app.chat(&body, &[]).await;
        let streamed = app.stream(CHAT, &streaming, &[]).await;

        assert_eq!(res.status, 200, "{slug}: {:?}", res.body);
        let parsed: Value = serde_json::from_str(res.content()).unwrap();
        assert_eq!(
            parsed,
            json!({ "answer": "rate it", "score": 42 }),
            "{slug}"
        );
        assert_eq!(res.body["choices"][0]["finish_reason"], "stop", "{slug}");
        assert!(
            res.body["choices"][0]["message"]
                .get("tool_calls")
                .is_none(),
            "{slug}"
        );
        let streamed_json: Value = serde_json::from_str(&streamed.openai_text()).unwrap();
        assert_eq!(streamed_json, parsed, "{slug}");
    }
    let sent = app.mock.state.requests("anthropic").pop().unwrap();
    assert_eq!(
        sent.body["tool_choice"],
        json!({ "type": "tool", "name": "json_output" })
    );
}

#[tokio::test]
async fn images_cross_between_openai_and_anthropic_shapes() {
    let app = TestApp::spawn().await;
    let png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==";
    let openai_body = json!({
        "model": "anthropic/claude-opus-4.7",
        "messages": [{ "role": "user", "content": [
            { "type": "text", "text": "what is this?" },
            { "type": "image_url", "image_url": { "url": format!("data:image/png;base64,{png}") } },
            { "type": "image_url", "image_url": { "url": "https://example.com/cat.jpg" } }
        ] }],
    });
    let anthropic_body = json!({
        "model": "openai/gpt-5.4", "max_tokens": 100,
        "messages": [{ "role": "user", "content": [
            { "type": "image", "source": { "type": "base64", "media_type": "image/png", "data": png } },
            { "type": "text", "text": "and this?" }
        ] }],
    });

    let from_openai = app.chat(&openai_body, &[]).await;
    let from_anthropic = app.messages(&anthropic_body, &[]).await;

    assert_eq!(from_openai.status, 200, "{:?}", from_openai.body);
    assert_eq!(
        from_openai.content(),
        "Hello from anthropic/claude-opus-4-7 (I see 2 image(s)). You said: what is this?"
    );
    let sent = app.mock.state.requests("anthropic").pop().unwrap();
    assert_eq!(
        sent.body["messages"][0]["content"][1],
        json!({ "type": "image", "source": { "type": "base64", "media_type": "image/png", "data": png } })
    );
    assert_eq!(
        sent.body["messages"][0]["content"][2]["source"],
        json!({ "type": "url", "url": "https://example.com/cat.jpg" })
    );
    assert_eq!(from_anthropic.status, 200, "{:?}", from_anthropic.body);
    assert_eq!(
        from_anthropic.body["content"][0]["text"],
        "Hello from openai/gpt-5.4 (I see 1 image(s)). You said: and this?"
    );
    let sent = app.mock.state.requests("openai").pop().unwrap();
    assert_eq!(
        sent.body["messages"][0]["content"][0]["image_url"]["url"],
        format!("data:image/png;base64,{png}")
    );
}

#[tokio::test]
async fn an_entry_that_cannot_take_images_is_skipped_before_dispatch() {
    let app = TestApp::spawn().await;
    let body = json!({
        "model": "moonshot/kimi-k2.6",
        "messages": [{ "role": "user", "content": [
            { "type": "text", "text": "what is this?" },
            { "type": "image_url", "image_url": { "url": "https://example.com/cat.jpg" } }
        ] }],
    });

    let res = app
        .chat(&body, &[("x-aig-fallback", "anthropic/claude-opus-4.7")])
        .await;
    let nobody = app
        .chat(&body, &[("x-aig-fallback", "cohere/command-a")])
        .await;

    assert_eq!(res.status, 200, "{:?}", res.body);
    assert_eq!(
        res.header("x-aig-chain").as_deref(),
        Some("moonshot/kimi-k2.6:unsupported→anthropic/claude-opus-4.7:200")
    );
    assert_eq!(
        app.mock.state.request_count("moonshot"),
        0,
        "never dispatched"
    );
    assert_eq!(nobody.status, 400);
    assert_eq!(nobody.error_code(), Some("invalid_request"));
    assert!(
        nobody.error_message().contains("image input"),
        "{}",
        nobody.error_message()
    );
    assert_eq!(
        nobody.header("x-aig-chain").as_deref(),
        Some("moonshot/kimi-k2.6:unsupported→cohere/command-a:unsupported")
    );
    assert_eq!(app.mock.state.request_count("cohere"), 0);
}

#[tokio::test]
async fn strict_tools_stay_strict_on_openai_shaped_upstreams() {
    let app = TestApp::spawn().await;
    let mut tools = openai_tools();
    tools[0]["function"]["strict"] = json!(true);
    let body = json!({ "model": "openai/gpt-5.4", "messages": [{ "role": "user", "content": ASK }], "tools": tools });

    app.chat(&body, &[]).await;

    let sent = app.mock.state.requests("openai").pop().unwrap();
    assert_eq!(sent.body["tools"][0]["function"]["strict"], true);
    assert!(sent.body["tools"][1]["function"].get("strict").is_none());
}

#[tokio::test]
async fn anthropic_message_threads_are_refused_so_the_sdk_resends_the_conversation() {
    let app = TestApp::spawn().await;
    let body = json!({
        "model": "openai/gpt-5.4", "max_tokens": 50,
        "messages": [{ "role": "user", "content": "hi" }],
        "thread": { "type": "create" },
    });

    let res = app.messages(&body, &[]).await;

    assert_eq!(res.status, 400);
    assert_eq!(res.body["error"]["type"], "invalid_request_error");
    assert_eq!(
        res.body["error"]["details"]["error_code"],
        "thread_unsupported_request"
    );
    assert_eq!(
        res.body["error"]["details"]["unsupported"],
        json!(["fallbacks"])
    );
    assert_eq!(app.mock.state.request_count("openai"), 0);
}
