"""The official Anthropic SDK against `detour serve`."""

from __future__ import annotations

import anthropic
import pytest

from detour.testing import B


def client(gw) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gw.url, api_key="unused", max_retries=0)


def test_anthropic_client_to_openai_upstream(make_gateway, fake):
    fake.script("gpt-x", B.text("openai answers"))
    gw = make_gateway()
    raw = client(gw).messages.with_raw_response.create(
        model="oai/gpt-x", max_tokens=100, system="be brief", messages=[{"role": "user", "content": "hi"}])
    msg = raw.parse()
    assert msg.content[0].text == "openai answers"
    assert msg.model == "oai/gpt-x"
    assert raw.headers["x-detour-model"] == "oai/gpt-x"
    sent = fake.requests[-1]
    assert sent.protocol == "openai" and sent.body["messages"][0] == {"role": "system", "content": "be brief"}


def test_streaming_through_the_messages_helper(make_gateway, fake):
    fake.script("claude-x", B.text("streamed words here", chunks=3))
    gw = make_gateway()
    with client(gw).messages.stream(model="detour", max_tokens=50, messages=[{"role": "user", "content": "go"}]) as stream:
        final = stream.get_final_message()
    assert "".join(b.text for b in final.content if b.type == "text") == "streamed words here"
    assert final.model == "ant/claude-x"


def test_anthropic_client_sees_the_fallback(make_gateway, fake):
    fake.script("claude-x", B.overloaded())
    fake.script("gpt-x", B.text("fallback here"))
    gw = make_gateway(model={"primary": "ant/claude-x", "fallback": ["oai/gpt-x"], "retryAttempts": 0})
    raw = client(gw).messages.with_raw_response.create(model="detour", max_tokens=50, messages=[{"role": "user", "content": "hi"}])
    assert raw.parse().model == "oai/gpt-x"
    assert raw.headers["x-detour-fallback-reason"] == "overloaded"


def test_tool_use_round_trip_from_openai_upstream(make_gateway, fake):
    fake.script("gpt-x", B.tool_call("lookup", {"q": "detour"}))
    gw = make_gateway()
    msg = client(gw).messages.create(
        model="oai/gpt-x", max_tokens=100, messages=[{"role": "user", "content": "search"}],
        tools=[{"name": "lookup", "description": "search", "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}}}])
    block = next(b for b in msg.content if b.type == "tool_use")
    assert block.name == "lookup" and block.input == {"q": "detour"}
    assert msg.stop_reason == "tool_use"


def test_errors_use_the_anthropic_envelope(make_gateway):
    gw = make_gateway()
    with pytest.raises(anthropic.NotFoundError):
        client(gw).messages.create(model="nope/never", max_tokens=10, messages=[{"role": "user", "content": "hi"}])
    with pytest.raises(anthropic.BadRequestError) as err:
        client(gw).messages.create(model="detour", max_tokens=10, messages=[{"role": "robot", "content": "hi"}])
    assert "role" in str(err.value)


def test_count_tokens_estimate(make_gateway):
    gw = make_gateway()
    count = client(gw).messages.count_tokens(model="detour", messages=[{"role": "user", "content": "hello " * 100}])
    assert 100 <= count.input_tokens <= 400
