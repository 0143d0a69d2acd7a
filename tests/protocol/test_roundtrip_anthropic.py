"""Cross-codec round trips: OpenAI <-> neutral <-> Anthropic, normalising only what docs/translation.md lists."""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path
from typing import Any

import orjson
import pydantic
from anthropic.types import message_create_params as mcp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detour.protocol import anthropic as A
from detour.protocol import openai_chat as O
from detour.protocol.messages import Accumulator, Request, Usage

FIXTURES = Path(__file__).parent / "fixtures" / "anthropic"
CREATE_PARAMS = pydantic.TypeAdapter(mcp.MessageCreateParamsNonStreaming)

OPENAI_AGENT = {
    "model": "gpt-x",
    "messages": [
        {"role": "system", "content": "You are a coding agent."},
        {"role": "user", "content": [
            {"type": "text", "text": "What is in this screenshot?"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
            {"type": "image_url", "image_url": {"url": "https://example.com/a.jpg"}},
        ]},
        {"role": "assistant", "content": "Let me check two files.", "tool_calls": [
            {"id": "call_abc123", "type": "function", "function": {"name": "read", "arguments": "{\"path\": \"a.py\"}"}},
            {"id": "call_def456", "type": "function", "function": {"name": "grep", "arguments": "{\"q\":\"x\",\"n\":3}"}},
        ]},
        {"role": "tool", "tool_call_id": "call_abc123", "content": "print(1)"},
        {"role": "tool", "tool_call_id": "call_def456", "content": "a.py:1:x"},
        {"role": "user", "content": "Now fix it."},
    ],
    "tools": [
        {"type": "function", "function": {"name": "read", "description": "Read a file",
                                          "parameters": {"type": "object", "properties": {"path": {"type": "string"}}}}},
        {"type": "function", "function": {"name": "grep", "parameters": {"type": "object", "properties": {}}}},
    ],
    "tool_choice": "auto",
    "max_tokens": 2000,
    "stream": True,
}  # fmt: skip


def through_anthropic(req: Request, model: str = "claude-x") -> Request:
    wire = A.encode_request(req, model)
    CREATE_PARAMS.validate_python({k: v for k, v in wire.items() if k != "stream"})
    return A.decode_request(json.loads(json.dumps(wire)))


def test_openai_agent_request_survives_a_trip_through_anthropic() -> None:
    original = copy.deepcopy(OPENAI_AGENT)
    back = O.encode_request(through_anthropic(O.decode_request(original)), "gpt-x")
    sent = back["messages"]
    assert sent[0] == {"role": "system", "content": "You are a coding agent."}
    assert sent[1]["content"] == OPENAI_AGENT["messages"][1]["content"]  # text + both images
    assert sent[2]["content"] == "Let me check two files."
    calls = sent[2]["tool_calls"]
    assert [(c["id"], c["function"]["name"]) for c in calls] == [
        ("call_abc123", "read"),
        ("call_def456", "grep"),
    ]
    sent_args = [json.loads(c["function"]["arguments"]) for c in calls]
    assert sent_args == [
        {"path": "a.py"},
        {"q": "x", "n": 3},
    ]  # JSON-equal; whitespace is not kept
    assert sent[3:] == OPENAI_AGENT["messages"][3:]
    assert back["tools"] == OPENAI_AGENT["tools"]


def test_anthropic_thinking_signatures_survive_and_reach_deepseek_as_reasoning() -> None:
    body = json.loads((FIXTURES / "claude_code_request.json").read_text())
    req = A.decode_request(copy.deepcopy(body))
    req.messages = list(req.messages)  # force the structural path
    again = A.encode_request(req, "m")
    assert again["messages"][2]["content"][0] == body["messages"][2]["content"][0]  # thinking + signature unchanged
    assert again["messages"][4]["content"][0] == {
        "type": "redacted_thinking",
        "data": "EmwKAhgBEgy3va3pzix/LafPsn4aDFIT",
    }
    deepseek = O.encode_request(req, "deepseek-reasoner", flavor="deepseek")
    turn = next(m for m in deepseek["messages"] if m.get("tool_calls"))
    assert turn["reasoning_content"] == "I should look at the tree first."  # the signature has no OpenAI slot


def test_unsigned_reasoning_from_openai_is_dropped_for_anthropic() -> None:
    body = {"model": "d", "messages": [
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": "a", "reasoning_content": "thought", "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "r"},
    ]}  # fmt: skip
    wire = A.encode_request(O.decode_request(body), "claude")
    assert [b["type"] for b in wire["messages"][1]["content"]] == ["text", "tool_use"]


def test_responses_keep_text_tools_thinking_and_usage_across_codecs() -> None:
    anthropic_body = json.loads((FIXTURES / "message_tool_use.json").read_text())
    resp = A.decode_response(anthropic_body)
    openai_body = O.encode_response(resp, "gpt-alias")
    from_openai = O.decode_response(openai_body)
    assert from_openai.usage == resp.usage == Usage(2110, 42, 2000, 100, 30)
    back = A.encode_response(from_openai, "claude")
    assert back["usage"] == anthropic_body["usage"]
    assert [b["type"] for b in back["content"]] == ["thinking", "text", "tool_use"]
    assert back["content"][2] == anthropic_body["content"][2] and back["content"][1]["text"] == "Let me check."
    assert back["stop_reason"] == "tool_use"


def test_openai_stream_reencoded_as_anthropic_stream_accumulates_equal() -> None:
    chunks = [
        {"id": "c1", "model": "gpt", "choices": [{"index": 0, "delta": {"role": "assistant", "content": "Hi"}}]},
        {"id": "c1", "model": "gpt", "choices": [{"index": 0, "delta": {"tool_calls": [
            {"index": 0, "id": "call_z", "type": "function", "function": {"name": "f", "arguments": "{\"a\""}}]}}]},
        {"id": "c1", "model": "gpt", "choices": [{"index": 0, "delta": {"tool_calls": [
            {"index": 0, "function": {"arguments": ":1}"}}]}}]},
        {"id": "c1", "model": "gpt", "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]},
        {"id": "c1", "model": "gpt", "choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 4, "total_tokens": 13}},
    ]  # fmt: skip
    wire = b"".join(b"data: " + orjson.dumps(c) + b"\n\n" for c in chunks) + b"data: [DONE]\n\n"
    openai_events = O.StreamDecoder().feed(wire)
    upstream, downstream = Accumulator(), Accumulator()
    encoder = A.StreamEncoder("claude-alias")
    anthropic_wire = b""
    for event in openai_events:
        upstream.add(event)
        anthropic_wire += encoder.encode(event)
    decoder = A.StreamDecoder()
    for event in decoder.feed(anthropic_wire) + decoder.close():
        downstream.add(event)
    first, second = upstream.response(), downstream.response()
    assert (
        decoder.done and second.content == first.content and second.finish_reason == first.finish_reason == "tool_calls"
    )
    assert second.usage == first.usage


# ================================================================ property: neutral(openai) -> anthropic -> neutral

_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=12)
_ident = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True)
_json_value = st.one_of(st.integers(-5, 5), st.booleans(), _text, st.none())


@st.composite
def _image(draw: st.DrawFn) -> dict[str, Any]:
    if draw(st.booleans()):
        media = draw(st.sampled_from(A.IMAGE_TYPES))
        return {
            "type": "image_url",
            "image_url": {"url": f"data:{media};base64,{draw(st.from_regex(r'(?:[A-Za-z0-9+/]{4}){1,3}', fullmatch=True))}"},
        }
    return {
        "type": "image_url",
        "image_url": {"url": f"https://img.test/{draw(_ident)}.png"},
    }


@st.composite
def _user(draw: st.DrawFn) -> dict[str, Any]:
    if draw(st.booleans()):
        return {"role": "user", "content": draw(_text)}
    parts = draw(
        st.lists(
            st.one_of(st.builds(lambda t: {"type": "text", "text": t}, _text), _image()),
            min_size=2,
            max_size=3,
        )
    )
    return {"role": "user", "content": parts}


@st.composite
def _exchange(draw: st.DrawFn, n: int) -> list[dict[str, Any]]:
    calls = [
        {"id": f"call_{n}_{i}", "type": "function",
         "function": {"name": draw(_ident), "arguments": orjson.dumps(draw(st.dictionaries(_ident, _json_value, max_size=3))).decode()}}
        for i in range(draw(st.integers(0, 2)))
    ]  # fmt: skip
    assistant: dict[str, Any] = {
        "role": "assistant",
        "content": draw(_text) if draw(st.booleans()) or not calls else None,
    }
    if calls:
        assistant["tool_calls"] = calls
    results = [{"role": "tool", "tool_call_id": c["id"], "content": draw(_text)} for c in calls]
    return [draw(_user()), assistant, *results]


@st.composite
def openai_bodies(draw: st.DrawFn) -> dict[str, Any]:
    messages: list[dict[str, Any]] = [{"role": "system", "content": draw(_text)}] if draw(st.booleans()) else []
    for n in range(draw(st.integers(1, 3))):
        messages += draw(_exchange(n))
    if messages[-1]["role"] != "user":
        messages.append(draw(_user()))
    body: dict[str, Any] = {"model": "gpt-x", "messages": messages}
    tools = draw(st.lists(_ident, max_size=3, unique=True))
    if tools:
        body["tools"] = [
            {
                "type": "function",
                "function": {
                    "name": t,
                    "description": t,
                    "parameters": {"type": "object", "properties": {}},
                },
            }
            for t in tools
        ]
        body["tool_choice"] = draw(
            st.sampled_from(
                [
                    "auto",
                    "none",
                    "required",
                    {"type": "function", "function": {"name": tools[0]}},
                ]
            )
        )
        if draw(st.booleans()):
            body["parallel_tool_calls"] = draw(st.booleans())
    optional = {
        "max_tokens": st.integers(1, 50000), "temperature": st.floats(0, 1), "top_p": st.floats(0.95, 1),
        "stop": st.lists(_text, min_size=1, max_size=2), "user": _ident, "seed": st.integers(0, 9),
        "reasoning_effort": st.sampled_from(["none", "minimal", "low", "medium", "high", "xhigh", "max"]),
        "stream": st.booleans(),
    }  # fmt: skip
    for key, strategy in optional.items():
        if draw(st.booleans()):
            body[key] = draw(strategy)
    return body


def normalise(req: Request) -> Request:
    """Apply the documented lossy rules, and drop codec-private slots (provider_details, extra, raw)."""
    req = copy.deepcopy(req)
    req.provider_details, req.extra, req.metadata = {}, {}, {}
    req.seed = None  # seed: no Anthropic field
    req.include_usage = False  # an Anthropic stream always reports usage
    effort, req.reasoning_effort = req.reasoning_effort, None
    if effort == "none":
        req.thinking = "disabled"
    elif effort in A.EFFORT_BUDGETS and req.thinking is None:
        req.thinking, req.thinking_budget = "enabled", A.EFFORT_BUDGETS[effort]
    max_tokens = req.max_tokens or A.DEFAULT_MAX_TOKENS
    if req.thinking_budget is not None and max_tokens <= req.thinking_budget:
        max_tokens += req.thinking_budget  # budget must stay below max_tokens
    req.max_tokens = max_tokens
    if req.thinking in ("enabled", "adaptive") and req.temperature not in (None, 1):
        req.temperature = None  # thinking allows only temperature 1
    if req.tool_choice is not None and not req.tools:
        req.tool_choice = None
    if req.tool_choice is not None and req.tool_choice.mode == "none":
        req.tool_choice.parallel = None  # Anthropic's {"type": "none"} has no parallel flag
    for message in req.messages:
        message.provider_details = None
        for part in message.content:
            part.provider_details = None
            for inner in getattr(part, "content", ()):
                inner.provider_details = None
    for tool in req.tools:
        tool.provider_details = None
    return req


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(openai_bodies())
def test_openai_neutral_survives_anthropic_wire(body: dict[str, Any]) -> None:
    first = O.decode_request(body)
    second = through_anthropic(first, model=first.model)
    assert dataclasses.asdict(normalise(second)) == dataclasses.asdict(normalise(first))


def test_claude_code_request_round_trips_exactly() -> None:
    body = json.loads((FIXTURES / "claude_code_request.json").read_text())
    fast = A.encode_request(A.decode_request(copy.deepcopy(body)), body["model"])
    req = A.decode_request(copy.deepcopy(body))
    req.tools = list(req.tools)  # a new list: the structural encoder runs
    slow = A.encode_request(req, body["model"])
    assert fast == slow == body
