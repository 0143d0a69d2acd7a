"""The Responses codec on its own: client bodies in, upstream bodies out, both stream directions.

Upstream bodies are checked with the openai SDK's request TypedDicts, client bodies and events with its models;
the fake's hand-written wire format (detour.testing.wire_responses) is the upstream side.
"""

from __future__ import annotations

import json
from typing import Any

import pydantic
import pytest
from openai.types.responses import Response as SDKResponse
from openai.types.responses import ResponseStreamEvent
from openai.types.responses.response_create_params import (
    ResponseCreateParamsNonStreaming,
    ResponseCreateParamsStreaming,
)

from detour.protocol import anthropic, openai_chat
from detour.protocol import openai_responses as R
from detour.protocol.messages import (
    Accumulator,
    Finish,
    ImagePart,
    Start,
    TextDelta,
    TextPart,
    ThinkingPart,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallPart,
    ToolCallStart,
    ToolResultPart,
    Usage,
    UsageEvent,
)
from detour.testing import wire_responses
from detour.testing.wire import Content, Ctx, ToolCall

PARAMS = {False: pydantic.TypeAdapter(ResponseCreateParamsNonStreaming), True: pydantic.TypeAdapter(ResponseCreateParamsStreaming)}
EVENT = pydantic.TypeAdapter(ResponseStreamEvent)
PNG = "iVBORw0KGgo="


def events_of(raw: bytes) -> list[dict[str, Any]]:
    out = []
    for block in raw.decode().split("\n\n"):
        data = next((line[6:] for line in block.splitlines() if line.startswith("data: ")), None)
        if data:
            event = json.loads(data)
            EVENT.validate_python(event)
            out.append(event)
    return out


# ------------------------------------------------------------------ decode (client -> neutral)


def test_string_input_and_instructions():
    req = R.decode_request({"model": "m", "instructions": "be brief", "input": "hi", "max_output_tokens": 50,
                            "user": "u1", "prompt_cache_key": "sess-9", "metadata": {"a": "b"}})
    assert [m.role for m in req.messages] == ["system", "user"]
    assert req.system_text() == "be brief" and req.messages[1].content == [TextPart("hi")]
    assert req.max_tokens == 50 and req.user == "u1" and req.metadata == {"a": "b"}
    assert req.detour["session"] == "sess-9"  # the client's session key keeps the conversation on one model


def test_items_make_turns():
    req = R.decode_request({"model": "m", "input": [
        {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "rules"}]},
        {"role": "user", "content": [{"type": "input_text", "text": "look"},
                                     {"type": "input_image", "image_url": f"data:image/png;base64,{PNG}"}]},
        {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "hmm"}], "encrypted_content": "gAAAAx"},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "calling"}]},
        {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{\"a\":1}"},
        {"type": "function_call", "call_id": "c2", "name": "g", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "c1", "output": "one"},
        {"type": "function_call_output", "call_id": "c2", "output": [{"type": "input_text", "text": "two"},
                                                                     {"type": "input_image", "image_url": "https://x/y.png"}]},
    ]})
    roles = [m.role for m in req.messages]
    assert roles == ["system", "user", "assistant", "tool", "tool"]
    assert req.messages[0].provider_details == {"openai": {"role": "developer"}}
    assert isinstance(req.messages[1].content[1], ImagePart) and req.messages[1].content[1].media_type == "image/png"
    thinking, text, call1, call2 = req.messages[2].content
    assert isinstance(thinking, ThinkingPart) and thinking.text == "hmm" and thinking.signature is None
    assert thinking.provider_details == {R.PD: {"summary": ["hmm"], "id": "rs_1", "encrypted_content": "gAAAAx"}}
    assert text == TextPart("calling") and (call1.id, call2.id) == ("c1", "c2")
    result = req.messages[4].content[0]
    assert isinstance(result, ToolResultPart) and [type(p) for p in result.content] == [TextPart, ImagePart]


@pytest.mark.parametrize(("body", "message"), [
    ({"input": "x"}, "model: expected a non-empty string"),
    ({"model": "m"}, "input: expected a non-empty string or array"),
    ({"model": "m", "input": 5}, "input: expected a string or an array"),
    ({"model": "m", "input": [{"type": "function_call", "name": "f"}]}, "input[0].call_id: expected a non-empty string"),
    ({"model": "m", "input": [{"role": "user", "content": [{"type": "input_image", "file_id": "file_1"}]}]},
     "input[0].content[0].file_id: uploaded file ids cannot be forwarded"),
    ({"model": "m", "input": [{"role": "wizard", "content": "x"}]}, "input[0].role: unsupported role 'wizard'"),
    ({"model": "m", "input": "x", "tools": [{"type": "function", "function": {"name": "f"}}]},
     "tools[0].name: expected a non-empty string (Responses tools are flat"),
    ({"model": "m", "input": "x", "text": {"format": {"type": "json_schema", "schema": {}}}},
     "text.format.name: expected a non-empty string"),
    ({"model": "m", "input": "x", "max_output_tokens": 0}, "max_output_tokens: expected a positive integer"),
    ({"model": "m", "input": [{"type": "reasoning", "encrypted_content": R.ENVELOPE + "!!notbase64"}]},
     "input[0].encrypted_content: a 'detour.v1:' value was altered"),
])
def test_bad_input_says_where(body, message):
    with pytest.raises(ValueError, match="^" + message.replace("(", r"\(").replace("[", r"\[").replace("]", r"\]")):
        R.decode_request(body)


@pytest.mark.parametrize("key", ["previous_response_id", "conversation", "prompt"])
def test_stateful_fields_are_refused(key):
    with pytest.raises(ValueError, match=f"^{key}: .*stateless.*send the whole conversation in `input`"):
        R.decode_request({"model": "m", "input": "x", key: "resp_1" if key != "prompt" else {"id": "pmpt_1"}})


def test_namespaced_tools_are_flat_and_calls_name_their_namespace():
    req = R.decode_request({"model": "m", "input": "x", "tools": [
        {"type": "namespace", "name": "agents", "tools": [{"type": "function", "name": "spawn", "parameters": {"type": "object"}}]},
        {"type": "web_search", "external_web_access": True}]})
    assert [t.name for t in req.tools] == ["spawn"]
    from detour.protocol.messages import Response

    body = R.encode_response(Response("r", "m", [ToolCallPart("call_1", "spawn", "{}")], "tool_calls"), "served", req)
    SDKResponse.model_validate(body)
    assert body["output"][0]["namespace"] == "agents" and body["tools"][1]["type"] == "web_search"


def test_forced_builtin_tool_is_a_routing_need():
    req = R.decode_request({"model": "m", "input": "x", "tools": [{"type": "web_search"}], "tool_choice": {"type": "web_search"}})
    assert req.hosted_tool == "web_search"
    assert R.decode_request({"model": "m", "input": "x", "tools": [{"type": "web_search"}]}).hosted_tool is None


# ------------------------------------------------------------------ encode (neutral -> upstream)


@pytest.mark.parametrize("stream", [False, True])
def test_a_chat_request_becomes_a_valid_responses_body(stream):
    chat = openai_chat.decode_request({"model": "x", "stream": stream, "max_tokens": 300, "reasoning_effort": "low",
                                       "response_format": {"type": "json_schema", "json_schema": {"name": "s", "schema": {"type": "object"}}},
                                       "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
                                       "tool_choice": {"type": "function", "function": {"name": "f"}}, "parallel_tool_calls": False,
                                       "messages": [
        {"role": "system", "content": "sys"},
        {"role": "user", "content": [{"type": "text", "text": "hi"}, {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}}]},
        {"role": "assistant", "content": "ok", "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "done"}]})
    body = R.encode_request(chat, "gpt-5")
    PARAMS[stream].validate_python(body)
    assert body["instructions"] == "sys" and body["store"] is False and body["max_output_tokens"] == 300
    assert [i["type"] for i in body["input"]] == ["message", "message", "function_call", "function_call_output"]
    assert body["tool_choice"] == {"type": "function", "name": "f"} and body["parallel_tool_calls"] is False
    assert body["reasoning"]["effort"] == "low" and body["include"] == ["reasoning.encrypted_content"]
    assert body["text"]["format"] == {"type": "json_schema", "name": "s", "schema": {"type": "object"}}
    assert body.get("stream") is (True if stream else None)


def test_only_openai_reasoning_goes_back_to_openai():
    msgs = anthropic.decode_request({"model": "c", "max_tokens": 10, "messages": [
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": [{"type": "thinking", "thinking": "t", "signature": "sig"}, {"type": "text", "text": "a"}]},
        {"role": "user", "content": "q2"}]})
    body = R.encode_request(msgs, "gpt-5")
    assert all(i["type"] != "reasoning" for i in body["input"])  # OpenAI could not verify a foreign signature


def test_the_fast_path_sends_the_clients_body_but_never_foreign_reasoning():
    raw = {"model": "detour", "input": "hi", "tools": [{"type": "web_search"}], "store": True, "detour": {"chain": "x"}}
    body = R.encode_request(R.decode_request(raw), "gpt-5")
    assert body == {"model": "gpt-5", "input": "hi", "tools": [{"type": "web_search"}], "store": False}
    sealed = R.encode_response(_thought_response(), "served", R.decode_request({"model": "m", "input": "x",
                                                                               "include": ["reasoning.encrypted_content"]}))
    item = sealed["output"][0]
    history = {"model": "detour", "input": [{"role": "user", "content": "a"}, item, {"role": "user", "content": "b"}]}
    out = R.encode_request(R.decode_request(history), "gpt-5")
    assert [i["type"] for i in out["input"]] == ["message", "message"]


def _thought_response():
    from detour.protocol.messages import Response

    return Response("r", "m", [ThinkingPart("because", "sig-1"), TextPart("answer")], "stop", Usage(3, 4))


def test_another_providers_signature_round_trips_through_encrypted_content():
    req = R.decode_request({"model": "m", "input": "x", "include": ["reasoning.encrypted_content"]})
    body = R.encode_response(_thought_response(), "served", req)
    SDKResponse.model_validate(body)
    item = body["output"][0]
    assert item["encrypted_content"].startswith(R.ENVELOPE) and item["summary"][0]["text"] == "because"
    back = R.decode_request({"model": "m", "input": [{"role": "user", "content": "x"}, item]})
    assert back.messages[1].content == [ThinkingPart("because", "sig-1")]
    plain = R.encode_response(_thought_response(), "served", R.decode_request({"model": "m", "input": "x"}))
    assert "encrypted_content" not in plain["output"][0]  # only when the client asked for it (include)


# ------------------------------------------------------------------ upstream answers


CTX = Ctx("gpt-r", stream=True, seq=7, created=1)
FULL = Content(text="the answer", thinking="first think", tool=ToolCall("f", {"x": 1}, "call_9"), finish="tool_calls", chunks=3)


def test_decode_response_of_the_fake():
    resp = R.decode_response(wire_responses.body(FULL, CTX))
    thinking, text, call = resp.content
    assert isinstance(thinking, ThinkingPart) and thinking.text == "first think"
    assert thinking.provider_details[R.PD]["encrypted_content"] == wire_responses.encrypted(CTX)
    assert text == TextPart("the answer") and call == ToolCallPart("call_9", "f", '{"x":1}', {R.PD: {"id": "fc_fake00000007"}})
    assert resp.finish_reason == "tool_calls" and resp.usage.output_tokens > 0 and resp.model == "gpt-r"


def test_stream_decoder_agrees_with_the_body():
    frames = b"".join(f.data for f in wire_responses.frames(FULL, CTX))
    dec = R.StreamDecoder()
    acc = Accumulator()
    for i in range(0, len(frames), 37):  # arbitrary chunk boundaries
        for e in dec.feed(frames[i:i + 37]):
            acc.add(e)
    for e in dec.close():
        acc.add(e)
    assert dec.done
    streamed = acc.response()
    whole = R.decode_response(wire_responses.body(FULL, CTX))
    assert [p.kind for p in streamed.content] == [p.kind for p in whole.content]
    assert streamed.text() == whole.text() and streamed.tool_calls()[0].arguments == '{"x":1}'
    assert streamed.content[0].provider_details[R.PD]["encrypted_content"] == wire_responses.encrypted(CTX)
    assert streamed.usage == whole.usage and streamed.finish_reason == "tool_calls"


@pytest.mark.parametrize(("payload", "kind"), [
    ({"type": "error", "code": "rate_limit_exceeded", "message": "Rate limit reached", "param": None, "sequence_number": 3}, "rate_limited"),
    ({"type": "error", "sequence_number": 2, "error": {"type": "invalid_request_error", "code": "context_length_exceeded",
                                                       "message": "too long", "param": "input"}}, "context_too_long"),
    ({"type": "response.failed", "sequence_number": 5, "response": {"status": "failed",
                                                                    "error": {"code": "server_error", "message": "boom"}}}, "server_error"),
])
def test_midstream_failures_are_classified(payload, kind):
    dec = R.StreamDecoder()
    head = b"event: response.created\ndata: " + json.dumps({"type": "response.created", "sequence_number": 0,
                                                            "response": {"id": "resp_1", "model": "m"}}).encode() + b"\n\n"
    events = dec.feed(head + b"event: x\ndata: " + json.dumps(payload).encode() + b"\n\n")
    assert events[-1].kind == "error" and events[-1].failure.kind == kind
    assert not dec.done and dec.feed(b"data: {}\n\n") == []


def test_a_stream_without_completion_is_broken():
    dec = R.StreamDecoder()
    dec.feed(b'data: {"type":"response.output_text.delta","output_index":0,"delta":"par"}\n\n')
    [err] = dec.close()
    assert err.kind == "error" and err.failure.kind == "stream_broken"


# ------------------------------------------------------------------ the client stream


def test_stream_encoder_events_are_valid_numbered_and_complete():
    enc = R.StreamEncoder("served", request=R.decode_request({"model": "m", "input": "x"}))
    out = b"".join(enc.encode(e) for e in [Start("u", "m"), TextDelta(0, "he"), TextDelta(0, "y"),
                                           ToolCallStart(1, "call_1", "f"), ToolCallDelta(1, '{"a":'), ToolCallDelta(1, "1}"),
                                           ToolCallEnd(1), UsageEvent(Usage(5, 6)), Finish("tool_calls")])
    events = events_of(out)
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    final = events[-1]
    assert final["type"] == "response.completed" and final["response"]["usage"]["total_tokens"] == 11
    SDKResponse.model_validate(final["response"])
    message, call = final["response"]["output"]
    assert message["content"][0]["text"] == "hey" and call["arguments"] == '{"a":1}' and call["call_id"] == "call_1"
    done = [e for e in events if e["type"] == "response.function_call_arguments.done"]
    assert done[0]["arguments"] == '{"a":1}'


def test_length_is_incomplete_and_a_cut_tool_call_is_a_failure():
    enc = R.StreamEncoder("served")
    events = events_of(enc.encode(Start("u", "m")) + enc.encode(TextDelta(0, "par")) + enc.encode(Finish("length")))
    assert events[-1]["type"] == "response.incomplete"
    assert events[-1]["response"]["incomplete_details"] == {"reason": "max_output_tokens"}
    enc = R.StreamEncoder("served")
    events = events_of(enc.encode(Start("u", "m")) + enc.encode(ToolCallStart(0, "c", "f")) + enc.encode(Finish("stop")))
    assert [e["type"] for e in events][-2:] == ["error", "response.failed"]
    assert events[-2]["code"] == "stream_broken"


def test_a_gemini_request_becomes_a_valid_responses_body():
    from detour.protocol import gemini

    req = gemini.decode_request({
        "systemInstruction": {"parts": [{"text": "sys"}]},
        "contents": [{"role": "user", "parts": [{"text": "hi"}, {"inlineData": {"mimeType": "image/png", "data": PNG}}]},
                     {"role": "model", "parts": [{"functionCall": {"name": "f", "args": {"a": 1}, "id": "c1"}}]},
                     {"role": "user", "parts": [{"functionResponse": {"name": "f", "id": "c1", "response": {"result": "ok"}}}]}],
        "tools": [{"functionDeclarations": [{"name": "f", "parameters": {"type": "OBJECT"}}]}],
        "generationConfig": {"maxOutputTokens": 99}}, model="gemini-x", stream=True)
    body = R.encode_request(req, "gpt-5")
    PARAMS[True].validate_python(body)
    assert body["instructions"] == "sys" and body["max_output_tokens"] == 99
    kinds = [i["type"] for i in body["input"]]
    assert kinds == ["message", "function_call", "function_call_output"]
    assert body["input"][1]["arguments"] == '{"a":1}' and body["input"][2]["output"] == "ok"


def test_a_responses_request_becomes_valid_anthropic_and_gemini_bodies():
    import anthropic.types.message_create_params as mcp
    from google.genai import types

    from detour.protocol import gemini

    req = R.decode_request({"model": "m", "instructions": "sys", "max_output_tokens": 300, "input": [
        {"role": "user", "content": [{"type": "input_text", "text": "hi"},
                                     {"type": "input_image", "image_url": f"data:image/png;base64,{PNG}"}]},
        {"type": "function_call", "call_id": "c1", "name": "f", "arguments": '{"a":1}'},
        {"type": "function_call_output", "call_id": "c1", "output": "done"}],
        "tools": [{"type": "function", "name": "f", "parameters": {"type": "object", "properties": {"a": {"type": "integer"}}}}]})
    ant = anthropic.encode_request(req, "claude-x")
    pydantic.TypeAdapter(mcp.MessageCreateParamsNonStreaming).validate_python(ant)
    assert [m["role"] for m in ant["messages"]] == ["user", "assistant", "user"]
    gem = gemini.encode_request(req, "gemini-x")
    for content in gem["contents"]:
        types.Content.model_validate(content)
    assert gem["systemInstruction"]["parts"][0]["text"] == "sys"
