"""The seed page's Anthropic-SDK example, run unchanged against the local gateway's /anthropic.

"Point `base_url` at https://api.aigateway.sh/anthropic and keep using Anthropic's shape — the
fallback headers work identically." Only `base_url` and `api_key` differ from the page. The
mock providers stand in for the real ones; the tests flip the mock's Anthropic into rate
limiting (or other faults) to make the chain fall back across shapes.
"""

import math
import re

import anthropic
import httpx
import pytest
from openai import OpenAI

PRIMARY = "anthropic/claude-opus-4.7"
SECONDARY = "openai/gpt-5.4"
SAID = "Summarize this filing: ..."
MESSAGES = [{"role": "user", "content": SAID}]
MAX_TOKENS = 1024
CHAIN_429 = "anthropic/claude-opus-4.7:429→openai/gpt-5.4:200"


def tokens(text: str) -> int:
    """The mock providers' token count: ceil(chars / 4), at least 1."""
    return max(1, math.ceil(len(text) / 4))


def reply(slug_upstream: str, said: str = SAID) -> str:
    """What the mock answers, for `provider/upstream-model`."""
    return f"Hello from {slug_upstream}. You said: {said}"


def make_seed_client(anthropic_base_url: str, api_key: str):
    """The seed page's Anthropic snippet as written, but for base_url and api_key."""
    import anthropic

    client = anthropic.Anthropic(
        base_url=anthropic_base_url,
        api_key=api_key,
        default_headers={
            "x-aig-fallback": "openai/gpt-5.4,moonshot/kimi-k2.6",
            "x-aig-timeout-ms": "8000",
        },
    )
    return client


def client_for(anthropic_base_url: str, api_key: str, **headers: str) -> anthropic.Anthropic:
    """An Anthropic client on the gateway that does not retry, with these default headers."""
    return anthropic.Anthropic(
        base_url=anthropic_base_url, api_key=api_key, max_retries=0, default_headers=headers
    )


def text_of(message) -> str:
    assert [block.type for block in message.content] == ["text"], message.content
    return message.content[0].text


def assert_fallback_headers(headers, chain: str = CHAIN_429, served_by: str = SECONDARY) -> None:
    assert headers.get("x-aig-chain") == chain
    assert headers.get("x-aig-served-by") == served_by
    assert headers.get("x-aig-fallback-reason") == "anthropic_rate_limit"
    assert re.fullmatch(r"[0-9]+", headers.get("x-aig-latency-ms", "")), headers.get(
        "x-aig-latency-ms"
    )
    assert headers.get("x-aig-request-id")


def test_the_seed_snippet_falls_back_to_gpt_when_opus_is_rate_limited(
    anthropic_base_url, api_key, anthropic_rate_limited
):
    mock = anthropic_rate_limited
    client = make_seed_client(anthropic_base_url, api_key)

    message = client.messages.create(
        model="anthropic/claude-opus-4.7",
        max_tokens=MAX_TOKENS,
        messages=[{"role": "user", "content": "Summarize this filing: ..."}],
    )

    expected = reply("openai/gpt-5.4")
    assert message.type == "message"
    assert message.role == "assistant"
    assert message.model == SECONDARY
    assert text_of(message) == expected
    assert text_of(message).startswith("Hello from openai/gpt-5.4.")
    assert message.stop_reason == "end_turn"
    assert message.stop_sequence is None
    assert message.usage.input_tokens == tokens(SAID)
    assert message.usage.output_tokens == tokens(expected)
    # A real 429 from the mock's Anthropic (in its own shape, upstream id), then the OpenAI mock.
    assert mock.request_count("anthropic") == 1
    assert mock.requests("anthropic")["requests"][0]["model"] == "claude-opus-4-7"
    assert mock.request_count("openai") == 1
    assert mock.requests("openai")["requests"][0]["model"] == "gpt-5.4"
    assert mock.request_count("moonshot") == 0


def test_the_seed_snippet_raw_response_headers_name_the_chain(
    anthropic_base_url, api_key, anthropic_rate_limited
):
    client = make_seed_client(anthropic_base_url, api_key)

    raw = client.messages.with_raw_response.create(
        model=PRIMARY, max_tokens=MAX_TOKENS, messages=MESSAGES
    )

    assert raw.status_code == 200
    assert_fallback_headers(raw.headers)
    message = raw.parse()
    assert message.model == SECONDARY
    assert text_of(message) == reply("openai/gpt-5.4")


def test_the_seed_snippet_streams_the_same_answer_with_messages_stream(
    anthropic_base_url, api_key, anthropic_rate_limited
):
    mock = anthropic_rate_limited
    client = make_seed_client(anthropic_base_url, api_key)

    with client.messages.stream(model=PRIMARY, max_tokens=MAX_TOKENS, messages=MESSAGES) as stream:
        headers = stream.response.headers
        text = "".join(stream.text_stream)
        final = stream.get_final_message()

    expected = reply("openai/gpt-5.4")
    assert text == expected
    assert final.model == SECONDARY
    assert text_of(final) == expected
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens == tokens(expected)
    assert_fallback_headers(headers)
    assert headers.get("content-type", "").startswith("text/event-stream")
    assert mock.request_count("anthropic") == 1
    assert mock.request_count("openai") == 1
    # §4.5: OpenAI-shaped upstreams are asked for their usage chunk.
    upstream = mock.bodies("openai")[0]
    assert upstream["stream"] is True
    assert upstream["stream_options"] == {"include_usage": True}


def test_the_raw_streaming_response_carries_the_chain_headers_and_anthropic_events(
    anthropic_base_url, api_key, anthropic_rate_limited
):
    client = make_seed_client(anthropic_base_url, api_key)

    with client.messages.with_streaming_response.create(
        model=PRIMARY, max_tokens=MAX_TOKENS, messages=MESSAGES, stream=True
    ) as response:
        status = response.status_code
        headers = response.headers
        events = list(response.parse())

    assert status == 200
    assert_fallback_headers(headers)
    types = [event.type for event in events]
    assert types[0] == "message_start"
    assert events[0].message.model == SECONDARY
    assert types[-2:] == ["message_delta", "message_stop"]
    assert "content_block_start" in types and "content_block_stop" in types
    text = "".join(
        event.delta.text
        for event in events
        if event.type == "content_block_delta" and event.delta.type == "text_delta"
    )
    assert text == reply("openai/gpt-5.4")
    assert events[-2].delta.stop_reason == "end_turn"
    assert events[-2].usage.output_tokens == tokens(text)


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_a_cohere_fallback_serves_the_anthropic_sdk(
    anthropic_base_url, api_key, anthropic_rate_limited, stream
):
    mock = anthropic_rate_limited
    client = client_for(anthropic_base_url, api_key, **{"x-aig-fallback": "cohere/command-a"})
    expected = reply("cohere/command-a-03-2025")
    chain = "anthropic/claude-opus-4.7:429→cohere/command-a:200"

    if stream:
        with client.messages.stream(
            model=PRIMARY, max_tokens=MAX_TOKENS, messages=MESSAGES
        ) as streamed:
            headers = streamed.response.headers
            text = "".join(streamed.text_stream)
            message = streamed.get_final_message()
        assert text == expected
    else:
        raw = client.messages.with_raw_response.create(
            model=PRIMARY, max_tokens=MAX_TOKENS, messages=MESSAGES
        )
        headers = raw.headers
        message = raw.parse()
        assert message.usage.input_tokens == tokens(SAID)

    assert message.model == "cohere/command-a"
    assert text_of(message) == expected
    assert message.stop_reason == "end_turn"
    assert message.usage.output_tokens == tokens(expected)
    assert_fallback_headers(headers, chain=chain, served_by="cohere/command-a")
    assert mock.request_count("cohere") == 1
    assert mock.requests("cohere")["requests"][0]["model"] == "command-a-03-2025"
    assert mock.request_count("openai") == 0


def text_parts(content) -> list:
    """An OpenAI message's content as its list of texts: a string, or text parts only."""
    if isinstance(content, str):
        return [content]
    assert isinstance(content, list), content
    assert all(part.get("type") == "text" for part in content), content
    return [part["text"] for part in content]


SYSTEM_BLOCKS = [
    {"type": "text", "text": "Be brief."},
    {"type": "text", "text": "Answer in English."},
]


@pytest.mark.parametrize("system", ["Be brief.", SYSTEM_BLOCKS], ids=["string", "blocks"])
def test_a_system_prompt_and_turns_reach_an_openai_provider_as_openai_messages(
    anthropic_base_url, api_key, mock, system
):
    client = client_for(anthropic_base_url, api_key)

    message = client.messages.create(
        model=SECONDARY,
        max_tokens=256,
        system=system,
        messages=[
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": [{"type": "text", "text": "second"}]},
        ],
    )

    assert message.model == SECONDARY
    assert text_of(message) == reply("openai/gpt-5.4", said="second")
    assert mock.request_count("anthropic") == 0
    [body] = mock.bodies("openai")
    assert body["model"] == "gpt-5.4"
    assert "system" not in body
    roles = [m["role"] for m in body["messages"]]
    assert roles == ["system", "user", "assistant", "user"], body["messages"]
    system_texts = text_parts(body["messages"][0]["content"])
    if isinstance(system, str):
        assert system_texts == ["Be brief."]
    else:
        assert system_texts in (
            ["Be brief.", "Answer in English."],
            ["Be brief.\nAnswer in English."],
            ["Be brief.\n\nAnswer in English."],
        ), system_texts
    assert [text_parts(m["content"]) for m in body["messages"][1:]] == [
        ["first"],
        ["ok"],
        ["second"],
    ]
    assert body.get("max_completion_tokens", body.get("max_tokens")) == 256


def test_the_sdk_authenticates_with_bearer_and_a_bare_x_api_key_works_too(
    anthropic_base_url, api_key, mock
):
    """The pinned SDK sends its api_key as `Authorization: Bearer`; older SDKs and curl users
    send `x-api-key` with Anthropic's 2023 version header. Both are served."""
    sdk = client_for(anthropic_base_url, api_key)
    raw = sdk.messages.with_raw_response.create(model=SECONDARY, max_tokens=64, messages=MESSAGES)
    assert raw.http_request.headers.get("authorization") == f"Bearer {api_key}"
    assert raw.status_code == 200

    response = httpx.post(
        f"{anthropic_base_url}/v1/messages",
        headers={"x-api-key": api_key, "anthropic-version": "2023-06-01"},
        json={"model": SECONDARY, "max_tokens": 64, "messages": MESSAGES},
        timeout=30,
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["type"] == "message"
    assert body["model"] == SECONDARY
    assert body["content"] == [{"type": "text", "text": reply("openai/gpt-5.4")}]
    assert response.headers.get("x-aig-chain") == "openai/gpt-5.4:200"
    assert mock.request_count("openai") == 2


def test_an_unknown_key_raises_authentication_error(anthropic_base_url, mock):
    client = client_for(anthropic_base_url, "sk-aig-this-key-does-not-exist")

    with pytest.raises(anthropic.AuthenticationError) as raised:
        client.messages.create(model=PRIMARY, max_tokens=MAX_TOKENS, messages=MESSAGES)

    assert raised.value.status_code == 401
    assert isinstance(raised.value.body, dict) and raised.value.body.get("type") == "error"
    assert raised.value.type
    assert mock.request_count("anthropic") == 0


def test_a_bad_timeout_header_raises_bad_request_naming_it(anthropic_base_url, api_key, mock):
    client = client_for(anthropic_base_url, api_key, **{"x-aig-timeout-ms": "soon"})

    with pytest.raises(anthropic.BadRequestError) as raised:
        client.messages.create(model=PRIMARY, max_tokens=MAX_TOKENS, messages=MESSAGES)

    assert raised.value.status_code == 400
    assert "x-aig-timeout-ms" in (raised.value.api_message or "")
    assert raised.value.body.get("type") == "error"
    assert mock.request_count("anthropic") == 0


def test_models_list_returns_the_catalog(anthropic_base_url, base_url, api_key):
    client = client_for(anthropic_base_url, api_key)

    models = list(client.models.list())

    ids = [model.id for model in models]
    assert "anthropic/claude-opus-4.7" in ids
    assert "openai/gpt-5.4" in ids
    assert len(ids) == len(set(ids))
    assert all(model.type == "model" for model in models)
    catalog = {model.id for model in OpenAI(base_url=base_url, api_key=api_key).models.list()}
    assert set(ids) == catalog
