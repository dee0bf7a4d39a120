"""Tool-using agent loops, structured output and images through the gateway with the official
OpenAI and Anthropic SDKs and their helpers (issue 7, SPEC §4).

Every answer is predictable from the mock providers' rules: with tools offered (and a choice
other than none) after a user turn, the mock calls every tool named in the last user text, in
order of appearance, with arguments built from the schema (string → the last user text,
number → 42, boolean → true); ids are `call_<n>` (OpenAI), `toolu_<n>` (Anthropic),
`<name>_<n>` (Cohere). After tool results it answers `Tool results: ` and the results joined by
` | `. A JSON-schema format answers an instance built like tool arguments; images add
` (I see N image(s))` to the greeting.

Each conversation's turns are served by different provider shapes: between turns the test
flips the provider that served turn 1 into failing, so turn 2 falls back along the chain and
must continue the conversation — ids, calls and results intact — in another shape.
"""

import json
from dataclasses import dataclass, field
from typing import Any, Callable

import anthropic
import openai
import pytest
from anthropic import beta_tool
from openai import OpenAI
from openai.lib.streaming.chat import ChatCompletionStreamState
from pydantic import BaseModel

OPUS = "anthropic/claude-opus-4.7"
GPT = "openai/gpt-5.4"
COMMAND = "cohere/command-a"
MAX_TOKENS = 1024

ASK = "What is the weather in Paris? use get_weather"
BOTH = "use get_time then get_weather"
WEATHER = "sunny, 21C"
TIME = "12:00:00"

# A 1x1 PNG.
PNG = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6"
    "kgAAAABJRU5ErkJggg=="
)


def compact(value: Any) -> str:
    """JSON the way the mock writes arguments: no spaces, keys in schema order."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


# ------------------------------------------------------------------ the tools


class GetWeather(BaseModel):
    """Weather now in a city."""

    city: str


class GetTime(BaseModel):
    """The time now in a time zone."""

    zone: str
    precise: bool


# What the OpenAI SDK's helper makes of them: strict function tools.
PYDANTIC_TOOLS = [
    openai.pydantic_function_tool(GetWeather, name="get_weather"),
    openai.pydantic_function_tool(GetTime, name="get_time"),
]

# The same tools as plain dicts, as most callers write them (not strict).
OPENAI_TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather now in a city.",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "get_time",
            "description": "The time now in a time zone.",
            "parameters": {
                "type": "object",
                "properties": {"zone": {"type": "string"}, "precise": {"type": "boolean"}},
            },
        },
    },
]

ANTHROPIC_TOOLS = [
    {
        "name": "get_weather",
        "description": "Weather now in a city.",
        "input_schema": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
    {
        "name": "get_time",
        "description": "The time now in a time zone.",
        "input_schema": {
            "type": "object",
            "properties": {"zone": {"type": "string"}, "precise": {"type": "boolean"}},
        },
    },
]


class Toolbox:
    """The local Python functions the agent loops run, with a log of every call."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict]] = []

    def get_weather(self, city: str) -> str:
        self.calls.append(("get_weather", {"city": city}))
        return WEATHER

    def get_time(self, zone: str, precise: bool) -> str:
        self.calls.append(("get_time", {"zone": zone, "precise": precise}))
        return TIME if precise else TIME[:5]

    def run(self, name: str, arguments: dict) -> str:
        return {"get_weather": self.get_weather, "get_time": self.get_time}[name](**arguments)


# ------------------------------------------------------------------ clients


class Seen:
    """The headers of every HTTP response an SDK client received, in order: the stream
    helpers give no public access to them, an httpx event hook does."""

    def __init__(self) -> None:
        self.statuses: list = []
        self.headers: list = []

    def hook(self, response) -> None:
        self.statuses.append(response.status_code)
        self.headers.append(response.headers)

    def chains(self) -> list:
        """`x-aig-chain` of every answered (200) request."""
        return [
            headers.get("x-aig-chain")
            for status, headers in zip(self.statuses, self.headers)
            if status == 200
        ]


def openai_client(base_url: str, api_key: str, seen: Seen, **headers: str) -> OpenAI:
    return OpenAI(
        base_url=base_url,
        api_key=api_key,
        max_retries=0,
        default_headers=headers,
        http_client=openai.DefaultHttpxClient(event_hooks={"response": [seen.hook]}),
    )


def anthropic_client(
    anthropic_base_url: str, api_key: str, seen: Seen, **headers: str
) -> anthropic.Anthropic:
    return anthropic.Anthropic(
        base_url=anthropic_base_url,
        api_key=api_key,
        max_retries=0,
        default_headers=headers,
        http_client=anthropic.DefaultHttpxClient(event_hooks={"response": [seen.hook]}),
    )


def fallback(*slugs: str) -> dict:
    return {"x-aig-fallback": ",".join(slugs)}


# ------------------------------------------------------------------ the agent loops


@dataclass
class Turn:
    """One request of an agent loop: what the SDK made of the answer, and the headers."""

    answer: Any
    headers: Any
    events: list = field(default_factory=list)


def openai_agent_loop(
    client: OpenAI,
    *,
    model: str,
    messages: list,
    tools: list,
    toolbox: Toolbox,
    seen: Seen,
    between_turns: Callable[[int], None],
    api: str,
    max_turns: int = 4,
) -> list:
    """The usual OpenAI tool loop: ask, run every tool call locally, append the assistant
    message and one `tool` message per call, ask again until the answer has no tool calls.

    `api`: "parse" (`chat.completions.parse`, which parses strict tools' arguments), "stream"
    (the `chat.completions.stream` helper, which accumulates argument deltas) or "create"."""
    turns = []
    for index in range(max_turns):
        if index:
            between_turns(index)
        if api == "parse":
            raw = client.chat.completions.with_raw_response.parse(
                model=model, messages=messages, tools=tools
            )
            turn = Turn(raw.parse(), raw.headers)
        elif api == "stream":
            with client.chat.completions.stream(model=model, messages=messages, tools=tools) as s:
                events = list(s)
                completion = s.get_final_completion()
            turn = Turn(completion, seen.headers[-1], events)
        else:
            raw = client.chat.completions.with_raw_response.create(
                model=model, messages=messages, tools=tools
            )
            turn = Turn(raw.parse(), raw.headers)
        turns.append(turn)
        message = turn.answer.choices[0].message
        if not message.tool_calls:
            return turns
        messages.append(message)
        for call in message.tool_calls:
            arguments = json.loads(call.function.arguments)
            messages.append(
                {
                    "role": "tool",
                    "tool_call_id": call.id,
                    "content": toolbox.run(call.function.name, arguments),
                }
            )
    raise AssertionError(f"still calling tools after {max_turns} turns")


def anthropic_agent_loop(
    client: anthropic.Anthropic,
    *,
    model: str,
    messages: list,
    tools: list,
    toolbox: Toolbox,
    between_turns: Callable[[int], None],
    stream: bool,
    max_turns: int = 4,
) -> list:
    """The usual Anthropic tool loop: ask; while the stop reason is `tool_use`, append the
    assistant content as it came and a user turn with one `tool_result` per `tool_use` block."""
    turns = []
    for index in range(max_turns):
        if index:
            between_turns(index)
        if stream:
            with client.messages.stream(
                model=model, max_tokens=MAX_TOKENS, messages=messages, tools=tools
            ) as s:
                events = list(s)
                message = s.get_final_message()
                turn = Turn(message, s.response.headers, events)
        else:
            raw = client.messages.with_raw_response.create(
                model=model, max_tokens=MAX_TOKENS, messages=messages, tools=tools
            )
            turn = Turn(raw.parse(), raw.headers)
        turns.append(turn)
        message = turn.answer
        if message.stop_reason != "tool_use":
            return turns
        messages.append({"role": "assistant", "content": message.content})
        messages.append(
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": block.id,
                        "content": toolbox.run(block.name, block.input),
                    }
                    for block in message.content
                    if block.type == "tool_use"
                ],
            }
        )
    raise AssertionError(f"still calling tools after {max_turns} turns")


def failing(mock, provider: str, mode: str) -> Callable[[int], None]:
    """A between_turns that makes `provider` fail from turn 2 on."""

    def flip(_turn: int) -> None:
        mock.set_mode(provider, mode)

    return flip


def openai_calls(message) -> list:
    """(id, type, name, arguments) of each tool call of an OpenAI-SDK message."""
    return [(c.id, c.type, c.function.name, c.function.arguments) for c in message.tool_calls or []]


def tool_uses(message) -> list:
    """(id, name, input) of each tool_use block of an Anthropic-SDK message."""
    return [(b.id, b.name, b.input) for b in message.content if b.type == "tool_use"]


def upstream_tool_turns(body: dict) -> tuple:
    """The assistant tool calls and the tool results an OpenAI- or Cohere-shaped upstream got:
    ([(id, name, arguments)], [(tool_call_id, content)])."""
    calls = [
        (call["id"], call["function"]["name"], call["function"]["arguments"])
        for message in body["messages"]
        if message["role"] == "assistant"
        for call in message.get("tool_calls") or []
    ]
    results = [
        (message["tool_call_id"], message["content"])
        for message in body["messages"]
        if message["role"] == "tool"
    ]
    return calls, results


def result_text(content) -> Any:
    """A Cohere tool message's content: a string, or `[{type: text, text}]` (either is valid)."""
    if isinstance(content, list):
        return "".join(part["text"] for part in content if part.get("type") == "text")
    return content


# ------------------------------------------------------------------ OpenAI SDK agent loops


def test_openai_sdk_agent_loop_with_parse_continues_on_gpt_after_opus_is_rate_limited(
    base_url, api_key, mock
):
    seen, toolbox = Seen(), Toolbox()
    client = openai_client(base_url, api_key, seen, **fallback(GPT))
    messages = [{"role": "user", "content": ASK}]

    turns = openai_agent_loop(
        client,
        model=OPUS,
        messages=messages,
        tools=PYDANTIC_TOOLS,
        toolbox=toolbox,
        seen=seen,
        between_turns=failing(mock, "anthropic", "fail-429"),
        api="parse",
    )

    assert len(turns) == 2
    first, second = turns
    # Turn 1: Opus serves and calls the tool; the SDK's parse helper parses the arguments.
    assert first.headers.get("x-aig-chain") == f"{OPUS}:200"
    assert first.headers.get("x-aig-served-by") == OPUS
    assert "x-aig-fallback-reason" not in first.headers
    assert first.answer.model == OPUS
    choice = first.answer.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    assert openai_calls(choice.message) == [
        ("toolu_0", "function", "get_weather", compact({"city": ASK}))
    ]
    parsed = choice.message.tool_calls[0].function.parsed_arguments
    assert isinstance(parsed, GetWeather)
    assert parsed == GetWeather(city=ASK)
    assert toolbox.calls == [("get_weather", {"city": ASK})]
    # Turn 2: Opus is rate limited, GPT continues the conversation with Anthropic's ids.
    assert second.headers.get("x-aig-chain") == f"{OPUS}:429→{GPT}:200"
    assert second.headers.get("x-aig-served-by") == GPT
    assert second.headers.get("x-aig-fallback-reason") == "anthropic_rate_limit"
    assert second.answer.model == GPT
    final = second.answer.choices[0]
    assert final.finish_reason == "stop"
    assert final.message.content == f"Tool results: {WEATHER}"
    assert final.message.tool_calls is None
    assert final.message.parsed is None
    # What each upstream got: Anthropic tools on turn 1, the whole conversation on GPT.
    assert mock.request_count("anthropic") == 2
    to_anthropic = mock.bodies("anthropic")[0]
    assert [tool["name"] for tool in to_anthropic["tools"]] == ["get_weather", "get_time"]
    assert to_anthropic["tools"][0]["input_schema"] == PYDANTIC_TOOLS[0]["function"]["parameters"]
    assert mock.request_count("openai") == 1
    to_gpt = mock.bodies("openai")[0]
    assert upstream_tool_turns(to_gpt) == (
        [("toolu_0", "get_weather", compact({"city": ASK}))],
        [("toolu_0", WEATHER)],
    )
    assert [tool["function"]["name"] for tool in to_gpt["tools"]] == ["get_weather", "get_time"]


def test_openai_sdk_strict_tools_reach_an_openai_upstream_still_strict(base_url, api_key, mock):
    """`pydantic_function_tool` makes strict tools (`parse` refuses any other). An OpenAI-shaped
    upstream supports strict function calling, so the gateway must not silently drop it."""
    seen = Seen()
    client = openai_client(base_url, api_key, seen)

    completion = client.chat.completions.parse(
        model=GPT, messages=[{"role": "user", "content": ASK}], tools=PYDANTIC_TOOLS
    )

    call = completion.choices[0].message.tool_calls[0]
    assert (call.id, call.function.name) == ("call_0", "get_weather")
    assert call.function.parsed_arguments == GetWeather(city=ASK)
    sent = mock.bodies("openai")[0]["tools"]
    assert [tool["function"].get("strict") for tool in sent] == [True, True], sent
    assert sent == PYDANTIC_TOOLS


def test_openai_sdk_streamed_agent_loop_continues_on_cohere_after_opus_fails(
    base_url, api_key, mock
):
    seen, toolbox = Seen(), Toolbox()
    client = openai_client(base_url, api_key, seen, **fallback(COMMAND))
    # The non-streaming answer to the same first turn, for comparison.
    reference = client.chat.completions.parse(
        model=OPUS, messages=[{"role": "user", "content": ASK}], tools=PYDANTIC_TOOLS
    )
    mock.reset()
    messages = [{"role": "user", "content": ASK}]

    turns = openai_agent_loop(
        client,
        model=OPUS,
        messages=messages,
        tools=PYDANTIC_TOOLS,
        toolbox=toolbox,
        seen=seen,
        between_turns=failing(mock, "anthropic", "fail-500"),
        api="stream",
    )

    assert len(turns) == 2
    first, second = turns
    assert first.headers.get("x-aig-chain") == f"{OPUS}:200"
    assert first.answer.model == OPUS
    streamed = first.answer.choices[0]
    assert streamed.finish_reason == "tool_calls"
    # The stream helper accumulated the argument deltas into the non-streaming tool calls.
    expected = openai_calls(reference.choices[0].message)
    assert expected == [("toolu_0", "function", "get_weather", compact({"city": ASK}))]
    assert openai_calls(streamed.message) == expected
    assert streamed.message.tool_calls[0].function.parsed_arguments == GetWeather(city=ASK)
    deltas = [
        e.arguments_delta
        for e in first.events
        if e.type == "tool_calls.function.arguments.delta"
    ]
    assert len(deltas) > 1, deltas
    assert "".join(deltas) == compact({"city": ASK})
    done = [
        (e.index, e.name, e.arguments, e.parsed_arguments)
        for e in first.events
        if e.type == "tool_calls.function.arguments.done"
    ]
    assert done == [(0, "get_weather", compact({"city": ASK}), GetWeather(city=ASK))]
    assert toolbox.calls == [("get_weather", {"city": ASK})]
    # Turn 2: Opus answers 500, Cohere streams the final answer.
    assert second.headers.get("x-aig-chain") == f"{OPUS}:500→{COMMAND}:200"
    assert second.headers.get("x-aig-served-by") == COMMAND
    assert second.headers.get("x-aig-fallback-reason") == "anthropic_server_error"
    assert second.answer.model == COMMAND
    final = second.answer.choices[0]
    assert final.finish_reason == "stop"
    assert final.message.content == f"Tool results: {WEATHER}"
    assert not final.message.tool_calls
    text = "".join(e.delta for e in second.events if e.type == "content.delta")
    assert text == f"Tool results: {WEATHER}"
    assert mock.request_count("anthropic") == 2
    assert mock.request_count("cohere") == 1
    calls, results = upstream_tool_turns(mock.bodies("cohere")[0])
    assert calls == [("toolu_0", "get_weather", compact({"city": ASK}))]
    assert [(call_id, result_text(content)) for call_id, content in results] == [
        ("toolu_0", WEATHER)
    ]


def test_openai_sdk_parallel_tool_calls_run_and_return_in_order_across_a_fallback(
    base_url, api_key, mock
):
    """Two tools named → two calls from Cohere; both results go back in one turn, which Opus
    answers after Cohere fails, joining them in order."""
    seen, toolbox = Seen(), Toolbox()
    client = openai_client(base_url, api_key, seen, **fallback(OPUS))
    # The first turn streamed, before anything fails: the SDK's accumulator, given the chunks,
    # must rebuild the very calls of the non-streaming answer below.
    state = ChatCompletionStreamState(input_tools=OPENAI_TOOLS)
    with client.chat.completions.create(
        model=COMMAND, messages=[{"role": "user", "content": BOTH}], tools=OPENAI_TOOLS, stream=True
    ) as stream:
        for chunk in stream:
            state.handle_chunk(chunk)
    streamed = state.get_final_completion().choices[0]
    mock.reset()
    messages = [{"role": "user", "content": BOTH}]

    turns = openai_agent_loop(
        client,
        model=COMMAND,
        messages=messages,
        tools=OPENAI_TOOLS,
        toolbox=toolbox,
        seen=seen,
        between_turns=failing(mock, "cohere", "fail-500"),
        api="create",
    )

    assert len(turns) == 2
    first, second = turns
    assert first.headers.get("x-aig-chain") == f"{COMMAND}:200"
    assert first.answer.choices[0].finish_reason == "tool_calls"
    expected = [
        ("get_time_0", "function", "get_time", compact({"zone": BOTH, "precise": True})),
        ("get_weather_1", "function", "get_weather", compact({"city": BOTH})),
    ]
    assert openai_calls(first.answer.choices[0].message) == expected
    assert toolbox.calls == [
        ("get_time", {"zone": BOTH, "precise": True}),
        ("get_weather", {"city": BOTH}),
    ]
    assert second.headers.get("x-aig-chain") == f"{COMMAND}:500→{OPUS}:200"
    assert second.answer.model == OPUS
    assert second.answer.choices[0].finish_reason == "stop"
    assert second.answer.choices[0].message.content == f"Tool results: {TIME} | {WEATHER}"
    # Opus got both calls in one assistant turn and both results in one user turn.
    to_opus = mock.bodies("anthropic")[0]["messages"]
    assert [message["role"] for message in to_opus] == ["user", "assistant", "user"]
    assert [
        (block["type"], block["id"], block["name"], block["input"])
        for block in to_opus[1]["content"]
    ] == [
        ("tool_use", "get_time_0", "get_time", {"zone": BOTH, "precise": True}),
        ("tool_use", "get_weather_1", "get_weather", {"city": BOTH}),
    ]
    assert [
        (block["type"], block["tool_use_id"], block["content"]) for block in to_opus[2]["content"]
    ] == [
        ("tool_result", "get_time_0", TIME),
        ("tool_result", "get_weather_1", WEATHER),
    ]
    # The streamed first turn, byte-identical.
    assert streamed.finish_reason == "tool_calls"
    assert openai_calls(streamed.message) == expected


# ------------------------------------------------------------------ Anthropic SDK agent loops


def test_anthropic_sdk_agent_loop_continues_on_cohere_after_gpt_fails(
    anthropic_base_url, api_key, mock
):
    seen, toolbox = Seen(), Toolbox()
    client = anthropic_client(anthropic_base_url, api_key, seen, **fallback(COMMAND))
    messages = [{"role": "user", "content": ASK}]

    turns = anthropic_agent_loop(
        client,
        model=GPT,
        messages=messages,
        tools=ANTHROPIC_TOOLS,
        toolbox=toolbox,
        between_turns=failing(mock, "openai", "fail-500"),
        stream=False,
    )

    assert len(turns) == 2
    first, second = turns
    assert first.headers.get("x-aig-chain") == f"{GPT}:200"
    assert first.answer.model == GPT
    assert first.answer.stop_reason == "tool_use"
    assert [block.type for block in first.answer.content] == ["tool_use"]
    assert tool_uses(first.answer) == [("call_0", "get_weather", {"city": ASK})]
    assert toolbox.calls == [("get_weather", {"city": ASK})]
    assert second.headers.get("x-aig-chain") == f"{GPT}:500→{COMMAND}:200"
    assert second.headers.get("x-aig-served-by") == COMMAND
    assert second.headers.get("x-aig-fallback-reason") == "openai_server_error"
    assert second.answer.model == COMMAND
    assert second.answer.stop_reason == "end_turn"
    assert [(block.type, block.text) for block in second.answer.content] == [
        ("text", f"Tool results: {WEATHER}")
    ]
    assert mock.request_count("openai") == 2
    to_gpt = mock.bodies("openai")[0]
    assert [tool["function"]["name"] for tool in to_gpt["tools"]] == ["get_weather", "get_time"]
    assert to_gpt["tools"][0]["function"]["parameters"] == ANTHROPIC_TOOLS[0]["input_schema"]
    calls, results = upstream_tool_turns(mock.bodies("cohere")[0])
    assert calls == [("call_0", "get_weather", compact({"city": ASK}))]
    assert [(call_id, result_text(content)) for call_id, content in results] == [
        ("call_0", WEATHER)
    ]


def test_anthropic_sdk_streamed_agent_loop_continues_on_cohere_after_gpt_fails(
    anthropic_base_url, api_key, mock
):
    seen, toolbox = Seen(), Toolbox()
    client = anthropic_client(anthropic_base_url, api_key, seen, **fallback(COMMAND))
    reference = client.messages.create(
        model=GPT,
        max_tokens=MAX_TOKENS,
        messages=[{"role": "user", "content": ASK}],
        tools=ANTHROPIC_TOOLS,
    )
    mock.reset()
    messages = [{"role": "user", "content": ASK}]

    turns = anthropic_agent_loop(
        client,
        model=GPT,
        messages=messages,
        tools=ANTHROPIC_TOOLS,
        toolbox=toolbox,
        between_turns=failing(mock, "openai", "fail-500"),
        stream=True,
    )

    assert len(turns) == 2
    first, second = turns
    assert first.headers.get("x-aig-chain") == f"{GPT}:200"
    assert first.answer.stop_reason == "tool_use"
    # get_final_message() has the tool_use block of the non-streaming answer.
    assert tool_uses(reference) == [("call_0", "get_weather", {"city": ASK})]
    assert [block.type for block in first.answer.content] == ["tool_use"]
    assert tool_uses(first.answer) == tool_uses(reference)
    partial = [
        e.delta.partial_json
        for e in first.events
        if e.type == "content_block_delta" and e.delta.type == "input_json_delta"
    ]
    assert len(partial) > 1, partial
    assert "".join(partial) == compact({"city": ASK})
    assert toolbox.calls == [("get_weather", {"city": ASK})]
    assert second.headers.get("x-aig-chain") == f"{GPT}:500→{COMMAND}:200"
    assert second.answer.model == COMMAND
    assert second.answer.stop_reason == "end_turn"
    text = "".join(e.text for e in second.events if e.type == "text")
    assert text == f"Tool results: {WEATHER}"
    assert [(block.type, block.text) for block in second.answer.content] == [
        ("text", f"Tool results: {WEATHER}")
    ]
    calls, results = upstream_tool_turns(mock.bodies("cohere")[0])
    assert calls == [("call_0", "get_weather", compact({"city": ASK}))]
    assert [(call_id, result_text(content)) for call_id, content in results] == [
        ("call_0", WEATHER)
    ]


def test_anthropic_sdk_parallel_tool_calls_run_and_return_in_order_across_a_fallback(
    anthropic_base_url, api_key, mock
):
    """Opus calls both tools; both results go back in one user turn, which GPT answers after
    Opus is rate limited, joining them in order. The streamed first turn has the same blocks."""
    seen, toolbox = Seen(), Toolbox()
    client = anthropic_client(anthropic_base_url, api_key, seen, **fallback(GPT))
    # The first turn streamed, before anything fails.
    with client.messages.stream(
        model=OPUS,
        max_tokens=MAX_TOKENS,
        messages=[{"role": "user", "content": BOTH}],
        tools=ANTHROPIC_TOOLS,
    ) as stream:
        streamed = stream.get_final_message()
    mock.reset()
    messages = [{"role": "user", "content": BOTH}]

    turns = anthropic_agent_loop(
        client,
        model=OPUS,
        messages=messages,
        tools=ANTHROPIC_TOOLS,
        toolbox=toolbox,
        between_turns=failing(mock, "anthropic", "fail-429"),
        stream=False,
    )

    assert len(turns) == 2
    first, second = turns
    assert first.headers.get("x-aig-chain") == f"{OPUS}:200"
    expected = [
        ("toolu_0", "get_time", {"zone": BOTH, "precise": True}),
        ("toolu_1", "get_weather", {"city": BOTH}),
    ]
    assert tool_uses(first.answer) == expected
    assert toolbox.calls == [
        ("get_time", {"zone": BOTH, "precise": True}),
        ("get_weather", {"city": BOTH}),
    ]
    assert second.headers.get("x-aig-chain") == f"{OPUS}:429→{GPT}:200"
    assert second.answer.model == GPT
    assert second.answer.stop_reason == "end_turn"
    assert [(block.type, block.text) for block in second.answer.content] == [
        ("text", f"Tool results: {TIME} | {WEATHER}")
    ]
    calls, results = upstream_tool_turns(mock.bodies("openai")[0])
    assert calls == [
        ("toolu_0", "get_time", compact({"zone": BOTH, "precise": True})),
        ("toolu_1", "get_weather", compact({"city": BOTH})),
    ]
    assert results == [("toolu_0", TIME), ("toolu_1", WEATHER)]
    # The streamed first turn has the same blocks.
    assert streamed.stop_reason == "tool_use"
    assert [block.type for block in streamed.content] == ["tool_use", "tool_use"]
    assert tool_uses(streamed) == expected


# ------------------------------------------------------------------ Anthropic SDK tool runner

# What the `@beta_tool` functions were called with.
RUNNER_CALLS: list = []


@beta_tool
def get_weather(city: str) -> str:
    """Weather now in a city.

    Args:
        city: The city.
    """
    RUNNER_CALLS.append(("get_weather", {"city": city}))
    return WEATHER


@beta_tool
def get_time(zone: str, precise: bool) -> str:
    """The time now in a time zone.

    Args:
        zone: The time zone.
        precise: Down to the second.
    """
    RUNNER_CALLS.append(("get_time", {"zone": zone, "precise": precise}))
    return TIME if precise else TIME[:5]


def run_tool_runner(client, mock, **options) -> list:
    """Runs `client.beta.messages.tool_runner` on BOTH with the `@beta_tool` functions, turn 1
    on GPT, and GPT failing from turn 2 on; the messages it yields."""
    RUNNER_CALLS.clear()
    runner = client.beta.messages.tool_runner(
        model=GPT,
        max_tokens=MAX_TOKENS,
        tools=[get_weather, get_time],
        messages=[{"role": "user", "content": BOTH}],
        **options,
    )
    yielded = []
    for message in runner:
        yielded.append(message)
        # The runner runs the tools once this body is done, then asks again: on Cohere.
        mock.set_mode("openai", "fail-500")
    return yielded


def check_tool_runner(yielded: list, seen: Seen, mock) -> None:
    assert [message.model for message in yielded] == [GPT, COMMAND]
    first, last = yielded
    assert first.stop_reason == "tool_use"
    assert tool_uses(first) == [
        ("call_0", "get_time", {"zone": BOTH, "precise": True}),
        ("call_1", "get_weather", {"city": BOTH}),
    ]
    assert RUNNER_CALLS == [
        ("get_time", {"zone": BOTH, "precise": True}),
        ("get_weather", {"city": BOTH}),
    ]
    assert last.stop_reason == "end_turn"
    assert [(block.type, block.text) for block in last.content] == [
        ("text", f"Tool results: {TIME} | {WEATHER}")
    ]
    assert seen.chains() == [f"{GPT}:200", f"{GPT}:500→{COMMAND}:200"]
    calls, results = upstream_tool_turns(mock.bodies("cohere")[-1])
    assert calls == [
        ("call_0", "get_time", compact({"zone": BOTH, "precise": True})),
        ("call_1", "get_weather", compact({"city": BOTH})),
    ]
    assert [(call_id, result_text(content)) for call_id, content in results] == [
        ("call_0", TIME),
        ("call_1", WEATHER),
    ]


def test_anthropic_sdk_tool_runner_as_documented_continues_on_cohere_after_gpt_fails(
    anthropic_base_url, api_key, mock
):
    """The runner's default: it asks for a server-held message thread (`thread`, beta
    `message-threads-2026-08-12`) and from turn 2 sends only the new messages. Ignoring the
    field loses the conversation. A gateway that holds no threads can refuse them the way the
    SDK recovers from (a 400 whose `error.details.error_code` is `thread_unsupported_request`,
    after which the runner re-sends the whole history); hence only answered requests are
    checked here, not how many were made."""
    seen = Seen()
    client = anthropic_client(anthropic_base_url, api_key, seen, **fallback(COMMAND))

    yielded = run_tool_runner(client, mock)

    check_tool_runner(yielded, seen, mock)


def test_anthropic_sdk_tool_runner_sending_the_whole_history_continues_on_cohere(
    anthropic_base_url, api_key, mock
):
    """`thread=False`: every turn sends the full conversation, as any stateless client does."""
    seen = Seen()
    client = anthropic_client(anthropic_base_url, api_key, seen, **fallback(COMMAND))

    yielded = run_tool_runner(client, mock, thread=False)

    check_tool_runner(yielded, seen, mock)
    assert seen.statuses == [200, 200]


# ------------------------------------------------------------------ structured output


class Rating(BaseModel):
    answer: str
    score: float


RATE = "rate it"


@pytest.mark.parametrize("served_by", [OPUS, GPT, COMMAND])
def test_openai_sdk_parse_returns_the_pydantic_instance_whoever_serves(
    base_url, api_key, mock, served_by
):
    """`response_format=<pydantic model>`: a strict JSON schema, native on OpenAI, Cohere's
    `json_object` with a schema, emulated with a forced tool on Anthropic; the SDK parses the
    content into the model, streamed or not."""
    seen = Seen()
    client = openai_client(base_url, api_key, seen)

    raw = client.chat.completions.with_raw_response.parse(
        model=served_by, messages=[{"role": "user", "content": RATE}], response_format=Rating
    )
    completion = raw.parse()

    assert raw.headers.get("x-aig-chain") == f"{served_by}:200"
    assert completion.model == served_by
    choice = completion.choices[0]
    assert choice.finish_reason == "stop"
    assert choice.message.content == compact({"answer": RATE, "score": 42})
    assert isinstance(choice.message.parsed, Rating)
    assert choice.message.parsed == Rating(answer=RATE, score=42)
    assert choice.message.tool_calls is None

    with client.chat.completions.stream(
        model=served_by, messages=[{"role": "user", "content": RATE}], response_format=Rating
    ) as stream:
        done = [e.parsed for e in stream if e.type == "content.done"]
        final = stream.get_final_completion()
    assert done == [Rating(answer=RATE, score=42)]
    assert final.choices[0].message.parsed == Rating(answer=RATE, score=42)


def test_openai_sdk_parse_falls_back_from_gpt_to_opus_emulating_the_schema(
    base_url, api_key, mock
):
    mock.set_mode("openai", "fail-429")
    seen = Seen()
    client = openai_client(base_url, api_key, seen, **fallback(OPUS))

    raw = client.chat.completions.with_raw_response.parse(
        model=GPT, messages=[{"role": "user", "content": RATE}], response_format=Rating
    )

    assert raw.headers.get("x-aig-chain") == f"{GPT}:429→{OPUS}:200"
    parsed = raw.parse().choices[0].message.parsed
    assert parsed == Rating(answer=RATE, score=42)
    sent_gpt = mock.bodies("openai")[0]["response_format"]
    assert sent_gpt["type"] == "json_schema"
    assert sent_gpt["json_schema"]["name"] == "Rating"
    assert sent_gpt["json_schema"]["strict"] is True
    sent_opus = mock.bodies("anthropic")[0]
    assert sent_opus["tool_choice"] == {"type": "tool", "name": "json_output"}


# ------------------------------------------------------------------ images


def test_openai_sdk_image_url_data_url_is_seen_by_anthropic(base_url, api_key, mock):
    seen = Seen()
    client = openai_client(base_url, api_key, seen)

    completion = client.chat.completions.create(
        model=OPUS,
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "what is this?"},
                    {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
                ],
            }
        ],
    )

    assert seen.chains() == [f"{OPUS}:200"]
    assert completion.choices[0].message.content == (
        "Hello from anthropic/claude-opus-4-7 (I see 1 image(s)). You said: what is this?"
    )
    sent = mock.bodies("anthropic")[0]["messages"][0]["content"]
    assert sent[1] == {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": PNG},
    }


def test_anthropic_sdk_base64_image_is_seen_by_openai(anthropic_base_url, api_key, mock):
    seen = Seen()
    client = anthropic_client(anthropic_base_url, api_key, seen)

    message = client.messages.create(
        model=GPT,
        max_tokens=MAX_TOKENS,
        messages=[
            {
                "role": "user",
                "content": [
                    {
                        "type": "image",
                        "source": {"type": "base64", "media_type": "image/png", "data": PNG},
                    },
                    {"type": "text", "text": "and this?"},
                ],
            }
        ],
    )

    assert seen.chains() == [f"{GPT}:200"]
    assert message.model == GPT
    assert [(block.type, block.text) for block in message.content] == [
        ("text", "Hello from openai/gpt-5.4 (I see 1 image(s)). You said: and this?")
    ]
    sent = mock.bodies("openai")[0]["messages"][0]["content"]
    assert sent[0] == {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}}
