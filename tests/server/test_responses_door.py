"""The official OpenAI SDK's Responses API (``client.responses``) against `detour serve`.

Every streamed event is validated with the SDK's own event union, every response body with its ``Response``
model, and every body detour sends to a Responses upstream with the SDK's request TypedDicts.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import openai
import pydantic
import pytest
from openai.types.responses import Response as SDKResponse
from openai.types.responses import ResponseStreamEvent
from openai.types.responses.response_create_params import (
    ResponseCreateParamsNonStreaming,
    ResponseCreateParamsStreaming,
)

from detour.protocol.openai_responses_stream import ENVELOPE
from detour.testing import B
from tests.server.conftest import CAPS, gateway_config

PNG = base64.b64encode(b"\x89PNG\r\n\x1a\nfake-image-bytes").decode()
EVENT = pydantic.TypeAdapter(ResponseStreamEvent)
PARAMS = {False: pydantic.TypeAdapter(ResponseCreateParamsNonStreaming), True: pydantic.TypeAdapter(ResponseCreateParamsStreaming)}
TOOLS = [{"type": "function", "name": "get_weather", "description": "weather for a city", "strict": False,
          "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}]


def config(fake: Any, primary: str, *fallback: str) -> dict[str, Any]:
    """The server tests' providers plus 'resp', an OpenAI Responses provider on the same fake."""
    cfg = gateway_config(fake)
    cfg["provider"]["resp"] = {"baseURL": fake.openai_base, "protocol": "openai-responses", "apiKey": "sk-resp-fake",
                               "models": {"gpt-r": dict(CAPS)}}
    cfg["model"] = {"primary": primary, "fallback": list(fallback)}
    return cfg


@pytest.fixture
def gateway(make_gateway, fake):
    def make(primary: str, *fallback: str) -> Any:
        cfg = config(fake, primary, *fallback)
        return make_gateway(provider=cfg["provider"], model=cfg["model"])

    return make


def client(gw: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url + "/v1", api_key="unused", max_retries=0)


def aclient(gw: Any) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=gw.url + "/v1", api_key="unused", max_retries=0)


def sse_events(gw: Any, body: dict[str, Any]) -> tuple[httpx.Response, list[dict[str, Any]]]:
    """Raw events of a streamed answer, each checked against the SDK's event types."""
    events: list[dict[str, Any]] = []
    with httpx.stream("POST", gw.url + "/v1/responses", json={**body, "stream": True}, timeout=30) as resp:
        name = None
        for line in resp.iter_lines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                data = json.loads(line[6:])
                assert data["type"] == name, "the SSE event name repeats the payload's type"
                EVENT.validate_python(data)
                events.append(data)
    return resp, events


def sent(fake: Any, protocol: str) -> list[dict[str, Any]]:
    return [r.body for r in fake.requests if r.protocol == protocol]


# ------------------------------------------------------------------ fallback to another protocol


def test_create_falls_back_to_anthropic_while_openai_answers_429(gateway, fake):
    fake.script("gpt-x", B.rate_limit(retry_after=30))
    fake.script("claude-x", B.text("hello from claude"))
    gw = gateway("oai/gpt-x", "ant/claude-x")
    raw = client(gw).responses.with_raw_response.create(model="detour", instructions="be brief", input="hi")
    resp = raw.parse()
    SDKResponse.model_validate(json.loads(raw.text))
    assert resp.output_text == "hello from claude"
    assert resp.model == "ant/claude-x" and resp.status == "completed"
    assert raw.headers["x-detour-model"] == "ant/claude-x"
    assert raw.headers["x-detour-fallback-reason"] == "rate_limited"
    assert raw.headers["x-detour-attempts"] == "2"
    assert resp.usage is not None and resp.usage.output_tokens > 0
    body = sent(fake, "anthropic")[-1]
    assert body["system"] in ("be brief", [{"type": "text", "text": "be brief"}])
    assert body["messages"] == [{"role": "user", "content": [{"type": "text", "text": "hi"}]}] or \
        body["messages"] == [{"role": "user", "content": "hi"}]


def test_stream_events_follow_the_sequence_and_parse_with_the_sdk(gateway, fake):
    fake.script("gpt-x", B.rate_limit(retry_after=30))
    fake.script("claude-x", B.text("one two three four", chunks=4))
    gw = gateway("oai/gpt-x", "ant/claude-x")
    resp, events = sse_events(gw, {"model": "detour", "input": "count"})
    assert resp.status_code == 200 and resp.headers["x-detour-model"] == "ant/claude-x"
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    kinds = [e["type"] for e in events]
    assert kinds[:4] == ["response.created", "response.in_progress", "response.output_item.added",
                         "response.content_part.added"]
    assert kinds[-4:] == ["response.output_text.done", "response.content_part.done", "response.output_item.done",
                          "response.completed"]
    assert "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta") == "one two three four"
    final = events[-1]["response"]
    SDKResponse.model_validate(final)
    assert final["model"] == "ant/claude-x" and final["usage"]["output_tokens"] > 0
    assert final["output"][0]["content"][0]["text"] == "one two three four"


def test_sdk_stream_helper_sync(gateway, fake):
    fake.script("gpt-x", B.rate_limit(retry_after=30))
    fake.script("claude-x", B.text("streamed answer"))
    gw = gateway("oai/gpt-x", "ant/claude-x")
    with client(gw).responses.stream(model="detour", input="hi") as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert "".join(deltas) == "streamed answer" == final.output_text
    assert final.model == "ant/claude-x"


async def test_sdk_async_create_and_stream(gateway, fake):
    fake.script("gpt-x", B.rate_limit(retry_after=30))
    fake.script("claude-x", B.text("async answer"))
    gw = gateway("oai/gpt-x", "ant/claude-x")
    c = aclient(gw)
    resp = await c.responses.create(model="detour", input="hi")
    assert resp.output_text == "async answer" and resp.model == "ant/claude-x"
    async with c.responses.stream(model="detour", input="hi") as stream:
        kinds = [e.type async for e in stream]
        final = await stream.get_final_response()
    assert final.output_text == "async answer" and kinds[-1] == "response.completed"


def test_image_reaches_anthropic_as_a_base64_block(gateway, fake):
    fake.script("gpt-x", B.rate_limit(retry_after=30))
    gw = gateway("oai/gpt-x", "ant/claude-x")
    resp = client(gw).responses.create(model="detour", input=[{"role": "user", "content": [
        {"type": "input_text", "text": "what is this?"},
        {"type": "input_image", "image_url": f"data:image/png;base64,{PNG}", "detail": "auto"}]}])
    assert resp.output_text
    blocks = sent(fake, "anthropic")[-1]["messages"][0]["content"]
    image = next(b for b in blocks if b["type"] == "image")
    assert image["source"] == {"type": "base64", "media_type": "image/png", "data": PNG}


def test_tool_round_trip_through_anthropic(gateway, fake):
    fake.script("gpt-x", B.rate_limit(retry_after=30))
    fake.script("claude-x", B.tool_call("get_weather", {"city": "Oslo"}, id="toolu_1"), B.text("It is sunny in Oslo."))
    gw = gateway("oai/gpt-x", "ant/claude-x")
    c = client(gw)
    first = c.responses.create(model="detour", input="weather in Oslo?", tools=TOOLS)
    call = next(o for o in first.output if o.type == "function_call")
    assert call.name == "get_weather" and json.loads(call.arguments) == {"city": "Oslo"}
    assert sent(fake, "anthropic")[-1]["tools"][0]["name"] == "get_weather"
    history = [{"role": "user", "content": "weather in Oslo?"},
               {"type": "function_call", "call_id": call.call_id, "name": call.name, "arguments": call.arguments},
               {"type": "function_call_output", "call_id": call.call_id, "output": "sunny, 21C"}]
    with c.responses.stream(model="detour", input=history, tools=TOOLS) as stream:
        final = stream.get_final_response()
    assert final.output_text == "It is sunny in Oslo."
    msgs = sent(fake, "anthropic")[-1]["messages"]
    assert msgs[1]["role"] == "assistant" and msgs[1]["content"][0]["type"] == "tool_use"
    assert msgs[1]["content"][0]["id"] == call.call_id
    result = msgs[2]["content"][0]
    assert result["type"] == "tool_result" and result["tool_use_id"] == call.call_id
    assert "sunny, 21C" in json.dumps(result["content"])


def test_reasoning_effort_and_json_schema_reach_anthropic(gateway, fake):
    fake.script("gpt-x", B.rate_limit(retry_after=30))
    fake.script("claude-x", B.thinking("let me think", '{"answer": 4}'))
    gw = gateway("oai/gpt-x", "ant/claude-x")
    schema = {"type": "object", "properties": {"answer": {"type": "integer"}}, "required": ["answer"],
              "additionalProperties": False}
    resp = client(gw).responses.create(
        model="detour", input="2+2?", reasoning={"effort": "low", "summary": "auto"}, max_output_tokens=4000,
        text={"format": {"type": "json_schema", "name": "sum", "schema": schema, "strict": True}})
    assert json.loads(resp.output_text) == {"answer": 4}
    reasoning = next(o for o in resp.output if o.type == "reasoning")
    assert reasoning.summary[0].text == "let me think"
    body = sent(fake, "anthropic")[-1]
    assert body["thinking"]["type"] == "enabled" and body["thinking"]["budget_tokens"] >= 1024
    assert body["max_tokens"] > body["thinking"]["budget_tokens"]
    assert "JSON schema" in str(body["system"]) and '"answer":{"type":"integer"}' in str(body["system"])


# ------------------------------------------------------------------ an OpenAI Responses primary


def test_healthy_responses_primary_gets_the_clients_body(gateway, fake):
    fake.script("gpt-r", B.text("from responses"))
    gw = gateway("resp/gpt-r", "ant/claude-x")
    raw = client(gw).responses.with_raw_response.create(
        model="detour", input="hi", tools=[*TOOLS, {"type": "web_search"}], store=False,
        reasoning={"effort": "medium"}, include=["reasoning.encrypted_content"], metadata={"k": "v"})
    assert raw.parse().output_text == "from responses"
    assert raw.headers["x-detour-model"] == "resp/gpt-r" and "x-detour-fallback-reason" not in raw.headers
    [body] = sent(fake, "openai-responses")
    PARAMS[False].validate_python(body)
    assert fake.requests[-1].path == "/v1/responses"
    assert body["model"] == "gpt-r" and body["store"] is False
    assert body["tools"][-1] == {"type": "web_search"}  # built-in tools reach OpenAI untouched
    assert body["reasoning"] == {"effort": "medium"} and body["metadata"] == {"k": "v"}
    assert fake.requests[-1].headers["authorization"] == "Bearer sk-resp-fake"


def test_responses_primary_streams_through_both_codecs(gateway, fake):
    fake.script("gpt-r", B.thinking("pondering", "streamed from responses"))
    gw = gateway("resp/gpt-r", "ant/claude-x")
    _resp, events = sse_events(gw, {"model": "detour", "input": "hi", "include": ["reasoning.encrypted_content"]})
    PARAMS[True].validate_python(sent(fake, "openai-responses")[-1])
    final = events[-1]["response"]
    assert events[-1]["type"] == "response.completed" and final["model"] == "resp/gpt-r"
    reasoning, message = final["output"]
    assert reasoning["summary"][0]["text"] == "pondering"
    assert reasoning["encrypted_content"].startswith("gAAAAB")  # OpenAI's own, passed back untouched
    assert message["content"][0]["text"] == "streamed from responses"


def test_chat_client_reaches_a_responses_only_model(gateway, fake):
    fake.script("gpt-r", B.tool_call("get_weather", {"city": "Rome"}))
    gw = gateway("resp/gpt-r")
    resp = client(gw).chat.completions.create(model="detour", messages=[{"role": "user", "content": "weather?"}],
                                              tools=[{"type": "function", "function": {"name": "get_weather",
                                                                                       "parameters": TOOLS[0]["parameters"]}}])
    call = resp.choices[0].message.tool_calls[0]
    assert resp.choices[0].finish_reason == "tool_calls" and call.function.name == "get_weather"
    body = sent(fake, "openai-responses")[-1]
    PARAMS[False].validate_python(body)
    assert body["input"] == [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "weather?"}]}]
    assert body["tools"][0]["name"] == "get_weather" and body["store"] is False


def test_responses_primary_429_falls_back_to_anthropic(gateway, fake):
    fake.script("gpt-r", B.rate_limit(retry_after=12))
    fake.script("claude-x", B.text("claude covers"))
    gw = gateway("resp/gpt-r", "ant/claude-x")
    raw = client(gw).responses.with_raw_response.create(model="detour", input="hi")
    assert raw.parse().output_text == "claude covers"
    assert raw.headers["x-detour-fallback-reason"] == "rate_limited"
    status = gw.get("/status").json()
    assert "resp/gpt-r" in json.dumps(status) and "rate_limited" in json.dumps(status)


# ------------------------------------------------------------------ reasoning provenance


def test_anthropic_reasoning_comes_back_to_anthropic_with_its_signature(gateway, fake):
    fake.script("gpt-x", B.rate_limit(retry_after=30))
    fake.script("claude-x", B.thinking("secret thoughts", "calling", signature="sig-abc"), B.text("done"))
    gw = gateway("oai/gpt-x", "ant/claude-x")
    first = client(gw).responses.create(model="detour", input="go", reasoning={"effort": "low"},
                                        include=["reasoning.encrypted_content"], max_output_tokens=4000)
    item = next(o for o in first.output if o.type == "reasoning")
    assert item.encrypted_content and item.encrypted_content.startswith(ENVELOPE)
    history = [{"role": "user", "content": "go"}, item.model_dump(exclude_none=True),
               {"role": "assistant", "content": [{"type": "output_text", "text": "calling"}]},
               {"role": "user", "content": "next"}]
    client(gw).responses.create(model="detour", input=history, reasoning={"effort": "low"}, max_output_tokens=4000)
    assistant = sent(fake, "anthropic")[-1]["messages"][1]
    assert assistant["content"][0] == {"type": "thinking", "thinking": "secret thoughts", "signature": "sig-abc"}


def test_foreign_reasoning_is_never_sent_to_openai(gateway, fake):
    fake.script("gpt-r", B.text("fine"))
    gw = gateway("resp/gpt-r")
    sealed = {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": ENVELOPE + "eyJ0IjoieCIsInMiOiJ5In0="}
    resp = client(gw).responses.create(model="detour", input=[
        {"role": "user", "content": "a"}, sealed, {"role": "assistant", "content": [{"type": "output_text", "text": "b"}]},
        {"role": "user", "content": "c"}])
    assert resp.output_text == "fine"  # the fake refuses unknown encrypted content, as OpenAI does
    assert "reasoning" not in json.dumps(sent(fake, "openai-responses")[-1]["input"])


def test_the_fake_refuses_foreign_encrypted_content_like_openai(fake):
    body = {"model": "gpt-r", "input": [{"role": "user", "content": "a"},
                                         {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "gAAAAxyz123456"},
                                         {"role": "user", "content": "b"}]}
    resp = httpx.post(fake.openai_base + "/responses", json=body)
    assert resp.status_code == 400
    assert resp.json()["error"] == {"message": "The encrypted content gAAA...3456 could not be verified.",
                                    "type": "invalid_request_error", "param": None, "code": "invalid_encrypted_content"}


# ------------------------------------------------------------------ what detour refuses, and failures


def test_previous_response_id_is_a_clear_400(gateway, fake):
    gw = gateway("oai/gpt-x", "ant/claude-x")
    with pytest.raises(openai.BadRequestError) as info:
        client(gw).responses.create(model="detour", input="hi", previous_response_id="resp_123")
    err = info.value.body
    assert info.value.status_code == 400 and err["type"] == "invalid_request_error"
    assert err["message"].startswith("previous_response_id:") and err["param"] is None
    assert "stateless" in err["message"] and "send the whole conversation in `input`" in err["message"]
    assert fake.count() == 0


def test_bad_input_names_the_path(gateway, fake):
    gw = gateway("oai/gpt-x", "ant/claude-x")
    resp = httpx.post(gw.url + "/v1/responses", json={"model": "detour", "input": [{"type": "telepathy"}]})
    assert resp.status_code == 400
    assert resp.json()["error"]["message"].startswith("input[0].type: unsupported input item type 'telepathy'")
    assert fake.count() == 0


def test_builtin_tools_are_dropped_for_other_protocols(gateway, fake):
    fake.script("gpt-x", B.rate_limit(retry_after=30))
    gw = gateway("oai/gpt-x", "ant/claude-x")
    client(gw).responses.create(model="detour", input="hi", tools=[*TOOLS, {"type": "web_search"}])
    assert [t["name"] for t in sent(fake, "anthropic")[-1]["tools"]] == ["get_weather"]


def test_a_forced_builtin_tool_skips_other_protocols_with_a_reason(gateway, fake):
    fake.script("gpt-r", B.rate_limit(retry_after=30))
    gw = gateway("resp/gpt-r", "ant/claude-x")
    with pytest.raises(openai.RateLimitError) as info:
        client(gw).responses.create(model="detour", input="search", tools=[{"type": "web_search"}],
                                    tool_choice={"type": "web_search"})
    assert "ant/claude-x: hosted_tool:web_search" in info.value.message
    assert sent(fake, "anthropic") == []


def test_a_midstream_failure_ends_with_response_failed(gateway, fake):
    fake.script("claude-x", B.midstream_error(after=2, kind="overloaded"))
    gw = gateway("ant/claude-x")
    resp, events = sse_events(gw, {"model": "detour", "input": "tell me a story"})
    kinds = [e["type"] for e in events]
    assert resp.status_code == 200 and "response.output_text.delta" in kinds
    assert kinds[-2:] == ["error", "response.failed"] and "response.completed" not in kinds
    assert events[-1]["response"]["status"] == "failed" and events[-1]["response"]["error"]["message"]
    assert [e["sequence_number"] for e in events] == list(range(len(events)))


def test_a_model_marked_responses_only_is_called_on_responses(make_gateway, fake):
    cfg = gateway_config(fake)
    cfg["provider"]["oai"]["models"]["gpt-pro"] = {**CAPS, "protocol": "openai-responses"}
    fake.script("gpt-pro", B.text("pro answer"))
    gw = make_gateway(provider=cfg["provider"], model={"primary": "oai/gpt-pro", "fallback": ["oai/gpt-x"]})
    resp = client(gw).chat.completions.create(model="detour", messages=[{"role": "user", "content": "hi"}])
    assert resp.choices[0].message.content == "pro answer" and resp.model == "oai/gpt-pro"
    assert [(r.model, r.path) for r in fake.requests] == [("gpt-pro", "/v1/responses")]
    client(gw).chat.completions.create(model="oai/gpt-x", messages=[{"role": "user", "content": "hi"}])
    assert fake.requests[-1].path == "/v1/chat/completions"  # the provider's other models keep Chat Completions


# ------------------------------------------------------------------ the Done-when matrix: every feature, both ways,
# through create and stream, sync and async


SCHEMA = {"type": "object", "properties": {"answer": {"type": "integer"}}, "required": ["answer"],
          "additionalProperties": False}
FEATURES: dict[str, dict[str, Any]] = {
    "text": {"input": "hi"},
    "image": {"input": [{"role": "user", "content": [{"type": "input_text", "text": "what is this?"},
                                                     {"type": "input_image", "image_url": f"data:image/png;base64,{PNG}",
                                                      "detail": "auto"}]}]},
    "tool_round_trip": {"tools": TOOLS, "input": [
        {"role": "user", "content": "weather in Oslo?"},
        {"type": "function_call", "call_id": "call_7", "name": "get_weather", "arguments": '{"city":"Oslo"}'},
        {"type": "function_call_output", "call_id": "call_7", "output": "sunny, 21C"}]},
    "reasoning": {"input": "2+2?", "reasoning": {"effort": "low", "summary": "auto"}, "max_output_tokens": 4000},
    "json_schema": {"input": "2+2?", "text": {"format": {"type": "json_schema", "name": "sum", "schema": SCHEMA,
                                                         "strict": True}}},
}
TARGETS = {"anthropic_fallback": ("oai/gpt-x", "ant/claude-x", "claude-x", "anthropic"),
           "responses_primary": ("resp/gpt-r", "ant/claude-x", "gpt-r", "openai-responses")}


async def _run(gw: Any, mode: str, params: dict[str, Any]) -> Any:
    if mode == "create":
        return client(gw).responses.create(model="detour", **params)
    if mode == "stream":
        with client(gw).responses.stream(model="detour", **params) as stream:
            return stream.get_final_response()
    c = aclient(gw)
    if mode == "async_create":
        return await c.responses.create(model="detour", **params)
    async with c.responses.stream(model="detour", **params) as stream:
        return await stream.get_final_response()


def _check_upstream(feature: str, protocol: str, body: dict[str, Any]) -> None:
    """What the upstream received carries the feature, in its own protocol."""
    if protocol == "openai-responses":
        PARAMS[bool(body.get("stream"))].validate_python(body)
        expected = {k: v for k, v in FEATURES[feature].items()}
        for key, value in expected.items():
            assert body[key] == value, key  # the client's body as sent (fast path)
        return
    blocks = json.dumps(body["messages"])
    if feature == "image":
        assert '"type": "image"' in blocks and PNG in blocks
    elif feature == "tool_round_trip":
        assert '"tool_use"' in blocks and '"tool_result"' in blocks and "sunny, 21C" in blocks
        assert body["tools"][0]["name"] == "get_weather"
    elif feature == "reasoning":
        assert body["thinking"]["type"] == "enabled"
    elif feature == "json_schema":
        assert '"answer":{"type":"integer"}' in str(body["system"])


@pytest.mark.parametrize("mode", ["create", "stream", "async_create", "async_stream"])
@pytest.mark.parametrize("feature", list(FEATURES))
@pytest.mark.parametrize("target", list(TARGETS))
async def test_every_feature_reaches_both_targets(gateway, fake, target, feature, mode):
    primary, fallback, model, protocol = TARGETS[target]
    fake.script("gpt-x", B.rate_limit(retry_after=30))
    answer = '{"answer": 4}' if feature == "json_schema" else f"{feature} answer"
    fake.script(model, B.thinking("thought", answer) if feature == "reasoning" else B.text(answer))
    gw = gateway(primary, fallback)
    resp = await _run(gw, mode, FEATURES[feature])
    SDKResponse.model_validate(resp.model_dump(mode="json", exclude_none=True, by_alias=True))
    assert resp.output_text == answer and resp.status == "completed"
    assert resp.model == f"{primary.split('/')[0] if protocol == 'openai-responses' else 'ant'}/{model}"
    if feature == "reasoning":
        assert next(o for o in resp.output if o.type == "reasoning").summary[0].text == "thought"
    [body] = [r.body for r in fake.requests if r.model == model]
    _check_upstream(feature, protocol, body)
    assert body.get("stream", False) is mode.endswith("stream")


def test_a_responses_upstream_failing_before_content_falls_back(gateway, fake):
    fake.script("gpt-r", B.midstream_error(after=0, kind="overloaded"))
    fake.script("claude-x", B.text("rescued"))
    gw = gateway("resp/gpt-r", "ant/claude-x")
    resp, events = sse_events(gw, {"model": "detour", "input": "hi"})
    assert events[-1]["type"] == "response.completed" and events[-1]["response"]["model"] == "ant/claude-x"
    assert resp.headers["x-detour-fallback-reason"] == "overloaded"
    assert "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta") == "rescued"


def test_a_responses_upstream_failing_mid_answer_is_a_failed_response(gateway, fake):
    fake.script("gpt-r", B.midstream_error(after=3, kind="rate_limit"))
    gw = gateway("resp/gpt-r")
    _resp, events = sse_events(gw, {"model": "detour", "input": "tell me a story"})
    kinds = [e["type"] for e in events]
    assert "response.output_text.delta" in kinds and "response.completed" not in kinds
    assert kinds[-2:] == ["error", "response.failed"]
    assert events[-1]["response"]["error"]["code"] == "rate_limit_exceeded"
    status = gw.get("/status").json()["models"]["resp/gpt-r"]
    assert status["last_error"] == "rate_limited"


# ------------------------------------------------------------------ the other protocols


def test_responses_client_through_a_gemini_fallback(gateway, fake):
    fake.script("gpt-x", B.rate_limit(retry_after=30))
    fake.script("gem-x", B.text("gemini says hi"))
    gw = gateway("oai/gpt-x", "gem/gem-x")
    with client(gw).responses.stream(model="detour", input=FEATURES["tool_round_trip"]["input"], tools=TOOLS) as s:
        final = s.get_final_response()
    assert final.output_text == "gemini says hi" and final.model == "gem/gem-x"
    body = sent(fake, "gemini")[-1]
    parts = [p for c in body["contents"] for p in c["parts"]]
    assert any("functionCall" in p and p["functionCall"]["name"] == "get_weather" for p in parts)
    assert any("functionResponse" in p and "sunny, 21C" in json.dumps(p) for p in parts)


def test_anthropic_client_through_a_responses_primary(gateway, fake):
    import anthropic

    fake.script("gpt-r", B.tool_call("get_weather", {"city": "Lima"}))
    gw = gateway("resp/gpt-r")
    c = anthropic.Anthropic(base_url=gw.url, api_key="unused", max_retries=0)
    tools = [{"name": "get_weather", "description": "weather", "input_schema": TOOLS[0]["parameters"]}]
    with c.messages.stream(model="detour", max_tokens=500, system="be brief", tools=tools,
                           messages=[{"role": "user", "content": "weather in Lima?"}]) as s:
        msg = s.get_final_message()
    use = next(b for b in msg.content if b.type == "tool_use")
    assert use.name == "get_weather" and use.input == {"city": "Lima"} and msg.stop_reason == "tool_use"
    body = sent(fake, "openai-responses")[-1]
    PARAMS[True].validate_python(body)
    assert body["instructions"] == "be brief" and body["max_output_tokens"] == 500
    assert body["tools"][0]["name"] == "get_weather" and body["store"] is False


def test_retrieving_a_stored_response_says_nothing_is_stored(gateway, fake):
    gw = gateway("oai/gpt-x")
    with pytest.raises(openai.NotFoundError) as info:
        client(gw).responses.retrieve("resp_123")
    assert "stateless and stores no responses" in info.value.message and info.value.body["code"] == "unknown_url"
