"""Streaming through the gateway with the OpenAI and Anthropic SDKs (SPEC §4.5).

Fallback happens only before the first content reaches the caller; a failure after it ends the
stream with an error in the caller's shape and no switch of provider; if every entry fails the
caller gets a real HTTP error status, not a 200 stream. The mock providers script the faults.
"""

import math
import re
import time

import anthropic
import openai
import pytest
from openai import OpenAI

PRIMARY = "anthropic/claude-opus-4.7"
SECONDARY = "openai/gpt-5.4"
SAID = "Summarize this filing: ..."
MESSAGES = [{"role": "user", "content": SAID}]
MAX_TOKENS = 1024
CHAIN_429 = "anthropic/claude-opus-4.7:429→openai/gpt-5.4:200"
FALLBACK = {"x-aig-fallback": SECONDARY}


def tokens(text: str) -> int:
    """The mock providers' token count: ceil(chars / 4), at least 1."""
    return max(1, math.ceil(len(text) / 4))


def reply(slug_upstream: str, said: str = SAID) -> str:
    """What the mock answers, for `provider/upstream-model`."""
    return f"Hello from {slug_upstream}. You said: {said}"


def openai_client(base_url: str, api_key: str) -> OpenAI:
    return OpenAI(base_url=base_url, api_key=api_key, max_retries=0)


def anthropic_client(anthropic_base_url: str, api_key: str, **headers: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(
        base_url=anthropic_base_url, api_key=api_key, max_retries=0, default_headers=headers
    )


def content_of(chunks) -> str:
    return "".join(
        chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices
    )


# ------------------------------------------------------------------ OpenAI SDK, stream=True


def test_openai_stream_after_a_primary_429_is_the_fallbacks_full_answer(
    base_url, api_key, anthropic_rate_limited
):
    mock = anthropic_rate_limited
    client = openai_client(base_url, api_key)

    stream = client.chat.completions.create(
        model=PRIMARY, messages=MESSAGES, stream=True, extra_headers=FALLBACK
    )
    chunks = list(stream)

    assert content_of(chunks) == reply("openai/gpt-5.4")
    assert chunks, "no chunks"
    assert all(chunk.model == SECONDARY for chunk in chunks), {c.model for c in chunks}
    assert chunks[-1].choices and chunks[-1].choices[0].finish_reason == "stop"
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert [f for f in finishes if f] == ["stop"]
    # Not asked for: no chunk carries usage (the gateway strips the upstream's usage chunk).
    assert all(chunk.usage is None for chunk in chunks)
    assert mock.request_count("anthropic") == 1
    assert mock.request_count("openai") == 1
    upstream = mock.bodies("openai")[0]
    assert upstream["stream"] is True
    assert upstream["stream_options"] == {"include_usage": True}


def test_openai_stream_with_include_usage_ends_with_a_usage_chunk(
    base_url, api_key, anthropic_rate_limited
):
    client = openai_client(base_url, api_key)

    chunks = list(
        client.chat.completions.create(
            model=PRIMARY,
            messages=MESSAGES,
            stream=True,
            stream_options={"include_usage": True},
            extra_headers=FALLBACK,
        )
    )

    text = content_of(chunks)
    assert text == reply("openai/gpt-5.4")
    assert all(chunk.model == SECONDARY for chunk in chunks)
    last = chunks[-1]
    assert last.choices == []
    assert last.usage is not None
    assert last.usage.prompt_tokens == tokens(SAID)
    assert last.usage.completion_tokens == tokens(text)
    assert last.usage.total_tokens == tokens(SAID) + tokens(text)
    assert all(chunk.usage is None for chunk in chunks[:-1])
    with_choices = [chunk for chunk in chunks if chunk.choices]
    assert with_choices[-1].choices[0].finish_reason == "stop"


def test_openai_raw_stream_response_carries_the_chain_headers(
    base_url, api_key, anthropic_rate_limited
):
    client = openai_client(base_url, api_key)

    raw = client.with_raw_response.chat.completions.create(
        model=PRIMARY, messages=MESSAGES, stream=True, extra_headers=FALLBACK
    )

    assert raw.status_code == 200
    assert raw.headers.get("content-type", "").startswith("text/event-stream")
    assert raw.headers.get("x-aig-chain") == CHAIN_429
    assert raw.headers.get("x-aig-served-by") == SECONDARY
    assert raw.headers.get("x-aig-fallback-reason") == "anthropic_rate_limit"
    assert raw.headers.get("x-aig-request-id")
    assert re.fullmatch(r"[0-9]+", raw.headers.get("x-aig-latency-ms", ""))
    assert content_of(list(raw.parse())) == reply("openai/gpt-5.4")


# ------------------------------------------------------------------ failure after content


def test_openai_midstream_error_raises_api_error_without_switching_provider(
    base_url, api_key, mock
):
    client = openai_client(base_url, api_key)
    received = []

    raw = client.with_raw_response.chat.completions.create(
        model="openai/gpt-5.4-midstream-error",
        messages=MESSAGES,
        stream=True,
        extra_headers={"x-aig-fallback": "moonshot/kimi-k2.6"},
    )
    with pytest.raises(openai.APIError) as raised:
        for chunk in raw.parse():
            if chunk.choices and chunk.choices[0].delta.content:
                received.append(chunk.choices[0].delta.content)

    assert raw.status_code == 200
    assert raw.headers.get("x-aig-chain") == "openai/gpt-5.4-midstream-error:200"
    assert not isinstance(raised.value, openai.APIStatusError)
    error = raised.value.body
    assert isinstance(error, dict), error
    assert isinstance(error.get("message"), str) and error["message"]
    assert {"message", "type", "code", "param"} <= set(error), error
    full = reply("openai/gpt-5.4-midstream-error")
    partial = "".join(received)
    assert partial and full.startswith(partial) and partial != full, partial
    assert mock.request_count("openai") == 1
    assert mock.request_count("moonshot") == 0


def test_anthropic_midstream_error_raises_api_error_and_the_fallback_gets_nothing(
    anthropic_base_url, api_key, mock
):
    client = anthropic_client(anthropic_base_url, api_key, **FALLBACK)
    received = []

    with client.messages.stream(
        model="anthropic/claude-opus-4.7-midstream-error", max_tokens=MAX_TOKENS, messages=MESSAGES
    ) as stream:
        headers = stream.response.headers
        with pytest.raises(anthropic.APIError) as raised:
            for text in stream.text_stream:
                received.append(text)

    assert headers.get("x-aig-chain") == "anthropic/claude-opus-4.7-midstream-error:200"
    body = raised.value.body
    assert isinstance(body, dict), body
    assert body.get("type") == "error"
    assert isinstance(body.get("error", {}).get("type"), str), body
    assert isinstance(body["error"].get("message"), str), body
    full = reply("anthropic/claude-opus-4.7-midstream-error")
    partial = "".join(received)
    assert partial and full.startswith(partial) and partial != full, partial
    assert mock.request_count("anthropic") == 1
    assert mock.request_count("openai") == 0


# ------------------------------------------------------------------ every entry fails


def both_failing(mock) -> None:
    mock.set_mode("anthropic", "fail-500")
    mock.set_mode("openai", "fail-500")


ALL_500 = "anthropic/claude-opus-4.7:500→openai/gpt-5.4:500"


def test_openai_stream_when_every_entry_fails_is_a_real_503(base_url, api_key, mock):
    both_failing(mock)
    client = openai_client(base_url, api_key)

    with pytest.raises(openai.InternalServerError) as raised:
        client.chat.completions.create(
            model=PRIMARY, messages=MESSAGES, stream=True, extra_headers=FALLBACK
        )

    error = raised.value
    assert isinstance(error, openai.APIStatusError)
    assert error.status_code == 503
    assert error.code == "providers_down"
    assert error.response.headers.get("content-type", "").startswith("application/json")
    assert error.response.headers.get("x-aig-chain") == ALL_500
    assert mock.request_count("anthropic") == 1
    assert mock.request_count("openai") == 1


def test_anthropic_stream_when_every_entry_fails_is_a_real_503(anthropic_base_url, api_key, mock):
    both_failing(mock)
    client = anthropic_client(anthropic_base_url, api_key, **FALLBACK)

    with pytest.raises(anthropic.APIStatusError) as raised:
        with client.messages.stream(
            model=PRIMARY, max_tokens=MAX_TOKENS, messages=MESSAGES
        ) as stream:
            for _ in stream:
                pass

    error = raised.value
    assert error.status_code == 503
    assert isinstance(error.body, dict) and error.body.get("type") == "error", error.body
    assert isinstance(error.body["error"].get("type"), str) and error.type, error.body
    assert error.response.headers.get("content-type", "").startswith("application/json")
    assert error.response.headers.get("x-aig-chain") == ALL_500
    assert mock.request_count("anthropic") == 1
    assert mock.request_count("openai") == 1


# ------------------------------------------------------------------ failure before content


EARLY_OUTCOME = r"(529|500|502|error)"


def test_an_anthropic_error_after_message_start_still_falls_back(anthropic_base_url, api_key, mock):
    client = anthropic_client(anthropic_base_url, api_key, **FALLBACK)

    with client.messages.stream(
        model="anthropic/claude-opus-4.7-early-error", max_tokens=MAX_TOKENS, messages=MESSAGES
    ) as stream:
        headers = stream.response.headers
        text = "".join(stream.text_stream)
        final = stream.get_final_message()

    assert text == reply("openai/gpt-5.4")
    assert final.model == SECONDARY
    assert final.stop_reason == "end_turn"
    chain = headers.get("x-aig-chain", "")
    assert re.fullmatch(
        rf"anthropic/claude-opus-4\.7-early-error:{EARLY_OUTCOME}→openai/gpt-5\.4:200", chain
    ), chain
    assert headers.get("x-aig-served-by") == SECONDARY
    assert headers.get("x-aig-fallback-reason") in (
        "anthropic_server_error",
        "anthropic_connection_error",
    )
    assert mock.request_count("anthropic") == 1
    assert mock.request_count("openai") == 1


def test_an_openai_error_after_the_role_chunk_still_falls_back(base_url, api_key, mock):
    client = openai_client(base_url, api_key)

    raw = client.with_raw_response.chat.completions.create(
        model="openai/gpt-5.4-early-error",
        messages=MESSAGES,
        stream=True,
        extra_headers={"x-aig-fallback": "moonshot/kimi-k2.6"},
    )
    chunks = list(raw.parse())

    assert content_of(chunks) == reply("moonshot/kimi-k2.6")
    assert all(chunk.model == "moonshot/kimi-k2.6" for chunk in chunks)
    chain = raw.headers.get("x-aig-chain", "")
    assert re.fullmatch(
        rf"openai/gpt-5\.4-early-error:{EARLY_OUTCOME}→moonshot/kimi-k2\.6:200", chain
    ), chain
    assert mock.request_count("openai") == 1
    assert mock.request_count("moonshot") == 1


def test_a_cohere_stream_cut_after_message_start_still_falls_back(base_url, api_key, mock):
    client = openai_client(base_url, api_key)

    raw = client.with_raw_response.chat.completions.create(
        model="cohere/command-a-early-error", messages=MESSAGES, stream=True, extra_headers=FALLBACK
    )
    chunks = list(raw.parse())

    assert content_of(chunks) == reply("openai/gpt-5.4")
    chain = raw.headers.get("x-aig-chain", "")
    assert re.fullmatch(
        rf"cohere/command-a-early-error:{EARLY_OUTCOME}→openai/gpt-5\.4:200", chain
    ), chain
    assert mock.request_count("cohere") == 1
    assert mock.request_count("openai") == 1


def test_a_stream_stalled_after_its_start_frame_times_out_and_falls_back(base_url, api_key, mock):
    """The timeout runs to the first content: a start frame followed by silence is a timeout,
    and the gateway lets go of the stalled upstream."""
    client = openai_client(base_url, api_key)
    started = time.monotonic()

    raw = client.with_raw_response.chat.completions.create(
        model="openai/gpt-5.4-stall",
        messages=MESSAGES,
        stream=True,
        extra_headers={"x-aig-fallback": "moonshot/kimi-k2.6", "x-aig-timeout-ms": "500"},
    )
    chunks = list(raw.parse())

    assert time.monotonic() - started < 5
    assert content_of(chunks) == reply("moonshot/kimi-k2.6")
    assert raw.headers.get("x-aig-chain") == "openai/gpt-5.4-stall:timeout→moonshot/kimi-k2.6:200"
    assert raw.headers.get("x-aig-fallback-reason") == "openai_timeout"
    deadline = time.monotonic() + 5
    while mock.cancelled("openai") == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert mock.cancelled("openai") == 1


# ------------------------------------------------------------------ client goes away


def test_a_client_leaving_mid_stream_cancels_the_upstream_stream(base_url, api_key, mock):
    client = openai_client(base_url, api_key)

    stream = client.chat.completions.create(
        model="openai/gpt-5.4-drip-100", messages=MESSAGES, stream=True
    )
    received = ""
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            received += chunk.choices[0].delta.content
            break
    stream.close()

    assert received.startswith("Hello from")
    deadline = time.monotonic() + 5
    while mock.cancelled("openai") == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert mock.cancelled("openai") == 1
    assert mock.request_count("openai") == 1
