"""The seed page's OpenAI-SDK example (Steps 1 and 2), run unchanged against the local gateway.

Only `base_url` and `api_key` differ from the page. The mock providers stand in for the real
ones, and the tests flip the mock's Anthropic into rate limiting to make the chain fall back.
Tests run in file order: the healthy-primary test goes first so that no earlier 429 can have
taught the health monitor to skip Anthropic.
"""

import re

import openai
import pytest
from openai import OpenAI

PRIMARY = "anthropic/claude-opus-4.7"
SECONDARY = "openai/gpt-5.4"

# The request of the seed's Step 1, for the calls that are not the verbatim snippet.
MESSAGES = [{"role": "user", "content": "Summarize this filing: ..."}]
SEED_HEADERS = {
    "x-aig-fallback": "openai/gpt-5.4,moonshot/kimi-k2.6",
    "x-aig-timeout-ms": "8000",
    "x-aig-retry-budget": "2",
    "x-aig-tag": "summarize.fallback",
}


def run_seed_step_1(base_url: str, api_key: str):
    """STEP 01 of the seed page as written, but for base_url and api_key."""
    from openai import OpenAI

    client = OpenAI(
        base_url=base_url,
        api_key=api_key,
    )

    resp = client.chat.completions.create(
        model="anthropic/claude-opus-4.7",           # primary
        messages=[{"role": "user", "content": "Summarize this filing: ..."}],
        extra_headers={
            "x-aig-fallback": "openai/gpt-5.4,moonshot/kimi-k2.6",
            "x-aig-timeout-ms": "8000",              # per-provider timeout
            "x-aig-retry-budget": "2",               # total retries across chain
            "x-aig-tag": "summarize.fallback",       # cost attribution
        },
    )

    print(resp.choices[0].message.content)
    print("served_by:", resp.model)
    return client, resp


def test_a_healthy_primary_serves_alone_without_a_fallback_reason(base_url, api_key, mock):
    client = OpenAI(base_url=base_url, api_key=api_key)

    raw = client.with_raw_response.chat.completions.create(
        model=PRIMARY, messages=MESSAGES, extra_headers=SEED_HEADERS
    )

    assert raw.status_code == 200
    assert raw.headers.get("x-aig-served-by") == PRIMARY
    assert raw.headers.get("x-aig-chain") == "anthropic/claude-opus-4.7:200"
    assert "x-aig-fallback-reason" not in raw.headers
    completion = raw.parse()
    assert completion.model == PRIMARY
    assert completion.choices[0].message.content
    assert mock.request_count("anthropic") == 1
    assert mock.request_count("openai") == 0


def test_seed_step_1_falls_back_to_gpt_when_opus_is_rate_limited(
    base_url, api_key, anthropic_rate_limited, capsys
):
    mock = anthropic_rate_limited

    _client, resp = run_seed_step_1(base_url, api_key)

    assert resp.model == SECONDARY
    assert resp.choices[0].message.content
    assert f"served_by: {SECONDARY}" in capsys.readouterr().out
    # The 429 came from a real attempt on the mock's Anthropic, not from a skip.
    assert mock.request_count("anthropic") == 1
    assert mock.request_count("openai") == 1
    assert mock.request_count("moonshot") == 0


def test_seed_step_2_headers_name_the_winner_and_the_chain(
    base_url, api_key, anthropic_rate_limited
):
    mock = anthropic_rate_limited
    client = OpenAI(base_url=base_url, api_key=api_key)

    raw = client.with_raw_response.chat.completions.create(
        model=PRIMARY, messages=MESSAGES, extra_headers=SEED_HEADERS
    )

    assert raw.headers.get("x-aig-served-by") == "openai/gpt-5.4"
    assert raw.headers.get("x-aig-chain") == "anthropic/claude-opus-4.7:429→openai/gpt-5.4:200"
    assert re.fullmatch(r"[0-9]+", raw.headers.get("x-aig-latency-ms", "")), raw.headers.get(
        "x-aig-latency-ms"
    )
    assert raw.headers.get("x-aig-fallback-reason") == "anthropic_rate_limit"
    assert raw.parse().model == SECONDARY
    assert mock.request_count("anthropic") == 1


def test_an_unknown_key_raises_authentication_error(base_url, mock):
    client = OpenAI(base_url=base_url, api_key="sk-aig-this-key-does-not-exist", max_retries=0)

    with pytest.raises(openai.AuthenticationError) as raised:
        client.chat.completions.create(model=PRIMARY, messages=MESSAGES, extra_headers=SEED_HEADERS)

    assert raised.value.status_code == 401
    assert raised.value.code == "invalid_api_key"
    assert mock.request_count("anthropic") == 0
