"""Escalation over real sockets: a cheap model's bad HTTP 200 answer is turned down, the strong model's answer
reaches the client through the official SDKs, on both doors, streamed and not."""

from __future__ import annotations

from typing import Any

import anthropic
import openai
import pytest

from detour.testing import B

CHECKS = ["empty", "refusal", "json", "toolArgs", "truncated"]
SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
          "required": ["city", "days"], "additionalProperties": False}
WEATHER = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"], "additionalProperties": False}

# what the cheap model (oai/gpt-x) answers wrongly, with HTTP 200, and what the strong one (ant/claude-x) answers
BAD = {
    "empty": B.text(""),
    "refusal": B.refusal("I'm sorry, but I can't help with that."),
    "json": B.text('{"city": "Oslo", "days": "three"}'),
    "toolArgs": B.tool_call("weather", {"town": "Oslo"}),
    "truncated": B.truncated("The answer stops in the mid"),
}
GOOD = {
    "empty": B.text("a real answer"),
    "refusal": B.text("a real answer"),
    "json": B.text('{"city": "Oslo", "days": 3}'),
    "toolArgs": B.tool_call("weather", {"city": "Oslo"}),
    "truncated": B.text("a real answer"),
}


def chain(**extra: Any) -> dict[str, Any]:
    return {"primary": "oai/gpt-x", "fallback": ["ant/claude-x"], "escalate": CHECKS, **extra}


def openai_call(gw: Any, check: str, stream: bool) -> tuple[dict[str, str], str, list[Any]]:
    client = openai.OpenAI(base_url=gw.url + "/v1", api_key="unused", max_retries=0)
    kw: dict[str, Any] = {"model": "detour", "messages": [{"role": "user", "content": "Plan a trip to Oslo"}],
                          "max_tokens": 1000}
    if check == "json":
        kw["response_format"] = {"type": "json_schema", "json_schema": {"name": "trip", "schema": SCHEMA}}
    if check == "toolArgs":
        kw["tools"] = [{"type": "function", "function": {"name": "weather", "parameters": WEATHER}}]
    raw = client.chat.completions.with_raw_response.create(stream=stream, **kw)
    headers = dict(raw.headers)
    if not stream:
        msg = raw.parse().choices[0].message
        calls = [(c.function.name, c.function.arguments) for c in msg.tool_calls or []]
        return headers, msg.content or "", calls
    text, args, names = "", {}, {}
    for chunk in raw.parse():
        for choice in chunk.choices:
            text += choice.delta.content or ""
            for tc in choice.delta.tool_calls or []:
                names[tc.index] = names.get(tc.index) or (tc.function.name if tc.function else None)
                args[tc.index] = args.get(tc.index, "") + (tc.function.arguments or "" if tc.function else "")
    return headers, text, [(names[i], args[i]) for i in sorted(args)]


def anthropic_call(gw: Any, check: str, stream: bool) -> tuple[dict[str, str], str, list[Any]]:
    client = anthropic.Anthropic(base_url=gw.url, api_key="unused", max_retries=0)
    kw: dict[str, Any] = {"model": "detour", "max_tokens": 1000, "messages": [{"role": "user", "content": "Plan a trip"}]}
    if check == "json":
        kw["extra_body"] = {"output_config": {"format": {"type": "json_schema", "schema": SCHEMA}}}
    if check == "toolArgs":
        kw["tools"] = [{"name": "weather", "input_schema": WEATHER}]
    if not stream:
        raw = client.messages.with_raw_response.create(**kw)
        msg = raw.parse()
        text = "".join(b.text for b in msg.content if b.type == "text")
        calls = [(b.name, b.input) for b in msg.content if b.type == "tool_use"]
        return dict(raw.headers), text, calls
    with client.messages.stream(**kw) as s:
        headers = dict(s.response.headers)
        msg = s.get_final_message()
    text = "".join(b.text for b in msg.content if b.type == "text")
    return headers, text, [(b.name, b.input) for b in msg.content if b.type == "tool_use"]


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize("door", ["openai", "anthropic"])
@pytest.mark.parametrize("check", CHECKS)
def test_a_bad_answer_escalates_to_the_next_candidate(make_gateway, fake, check, door, stream) -> None:
    fake.script("gpt-x", BAD[check])
    fake.script("claude-x", GOOD[check])
    gw = make_gateway(model=chain())
    headers, text, calls = (openai_call if door == "openai" else anthropic_call)(gw, check, stream)
    assert headers["x-detour-model"] == "ant/claude-x"
    assert headers["x-detour-escalations"] == f"{check}@oai/gpt-x"
    assert headers["x-detour-fallback-reason"] == "bad_answer"
    if check == "toolArgs":
        name, args = calls[0]
        assert name == "weather" and (args if isinstance(args, dict) else __import__("json").loads(args)) == {"city": "Oslo"}
    elif check == "json":
        assert __import__("json").loads(text) == {"city": "Oslo", "days": 3}
    else:
        assert text == "a real answer"
    assert [r.model for r in fake.requests] == ["gpt-x", "claude-x"]


def _sse(gw: Any, path: str, body: dict[str, Any]) -> list[Any]:
    """The SSE data payloads a client receives, without the per-response ids and timestamps."""
    import json

    import httpx

    out = []
    with httpx.stream("POST", gw.url + path, json=body, headers={"anthropic-version": "2023-06-01"}, timeout=30) as r:
        assert r.status_code == 200
        for line in r.iter_lines():
            if line.startswith("data: ") and line != "data: [DONE]":
                data = json.loads(line[6:])
                for key in ("id", "created"):
                    data.pop(key, None)
                if isinstance(data.get("message"), dict):
                    data["message"].pop("id", None)
                out.append(data)
    return out


@pytest.mark.parametrize("door", ["openai", "anthropic"])
def test_a_passing_streamed_answer_reaches_the_client_unchanged(make_gateway, fake, door) -> None:
    answer = '{"city": "Oslo", "days": 3}'
    fake.script("gpt-x", *[B.text(answer, chunks=6)] * 2)
    gw = make_gateway(model={"primary": "oai/gpt-x", "fallback": ["ant/claude-x"]},
                      chains={"checked": chain()})
    path = "/v1/chat/completions" if door == "openai" else "/v1/messages"
    body: dict[str, Any] = {"messages": [{"role": "user", "content": "trip"}], "stream": True, "max_tokens": 1000}
    if door == "openai":
        body["response_format"] = {"type": "json_schema", "json_schema": {"name": "trip", "schema": SCHEMA}}
    else:
        body["output_config"] = {"format": {"type": "json_schema", "schema": SCHEMA}}
    plain = _sse(gw, path, {**body, "model": "detour"})
    checked = _sse(gw, path, {**body, "model": "checked"})
    assert checked == plain and len(plain) >= 6
    assert [r.model for r in fake.requests] == ["gpt-x", "gpt-x"]


def test_escalations_and_routes_reach_get_events(make_gateway, fake) -> None:
    from tests.server.test_events import Events

    fake.script("gpt-x", BAD["json"])
    fake.script("claude-x", GOOD["json"])
    gw = make_gateway(model=chain(), routes=[{"tags": ["json"], "chain": "default", "name": "json-tasks"}])
    reader = Events(gw.url + "/events")
    try:
        client = openai.OpenAI(base_url=gw.url + "/v1", api_key="unused", max_retries=0)
        client.chat.completions.create(
            model="detour", messages=[{"role": "user", "content": "trip"}], extra_body={"detour": {"tags": ["json"]}},
            response_format={"type": "json_schema", "json_schema": {"name": "trip", "schema": SCHEMA}})
        escalated = reader.next("escalate", model="oai/gpt-x")
        assert escalated["reason"] == "json" and escalated["chain"] == "default" and "not valid" in escalated["problem"]
        routed = reader.next("route", reason="json-tasks")
        assert routed["model"] == "ant/claude-x" and routed["escalations"] == [["oai/gpt-x", "json"]]
    finally:
        reader.close()
