"""Cross-codec round trips through Gemini, and the neutral -> Gemini -> neutral property on the lossless subset."""

from __future__ import annotations

import base64
import json
import string
from typing import Any

from google.genai import types
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detour.protocol import gemini, openai_chat
from detour.protocol.gemini_stream import compact_json
from detour.protocol.messages import (
    Accumulator,
    DocumentPart,
    ImagePart,
    Message,
    Part,
    Request,
    ResponseFormat,
    TextPart,
    ThinkingPart,
    Tool,
    ToolCallPart,
    ToolChoice,
    ToolResultPart,
)

PNG = base64.b64encode(b"\x89PNG\r\n\x1a\nfake").decode()

OPENAI_REQUEST: dict[str, Any] = {
    "model": "gpt-x",
    "messages": [
        {"role": "system", "content": "You are terse."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is in these, and the weather?"},
                {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
                {"type": "image_url", "image_url": {"url": "https://example.test/cat.jpg"}},
            ],
        },
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_w1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Oslo", "days": 2}'},
                },
                {"id": "call_t1", "type": "function", "function": {"name": "get_time", "arguments": "{}"}},
            ],
        },
        {"role": "tool", "tool_call_id": "call_w1", "content": "rain"},
        {"role": "tool", "tool_call_id": "call_t1", "content": '{"time": "10:00"}'},
        {"role": "user", "content": "Summarise."},
    ],
    "tools": [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Weather",
                "parameters": {
                    "type": "object",
                    "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
                    "required": ["city"],
                },
            },
        },
        {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}}},
    ],
    "max_completion_tokens": 200,
    "temperature": 0.3,
}


def through_gemini(req: Request) -> Request:
    body = json.loads(json.dumps(gemini.encode_request(req, "gemini-x")))  # it must be plain JSON
    for content in body["contents"]:
        types.Content.model_validate(content)
    return gemini.decode_request(body, model=req.model, stream=req.stream)


def test_openai_request_through_gemini_keeps_text_tools_images_and_system() -> None:
    neutral = openai_chat.decode_request(OPENAI_REQUEST)
    back = openai_chat.encode_request(through_gemini(neutral), "gpt-x")
    messages = back["messages"]
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "tool", "tool", "user"]
    assert messages[0]["content"] == "You are terse."
    images = [p["image_url"]["url"] for p in messages[1]["content"] if p["type"] == "image_url"]
    assert images == [f"data:image/png;base64,{PNG}", "https://example.test/cat.jpg"]
    calls = messages[2]["tool_calls"]
    assert [(c["id"], c["function"]["name"]) for c in calls] == [("call_w1", "get_weather"), ("call_t1", "get_time")]
    assert [json.loads(c["function"]["arguments"]) for c in calls] == [{"city": "Oslo", "days": 2}, {}]
    assert [(m["tool_call_id"], m["content"]) for m in messages[3:5]] == [
        ("call_w1", "rain"),
        ("call_t1", '{"time":"10:00"}'),
    ]
    assert messages[5]["content"] == "Summarise."
    assert [t["function"]["name"] for t in back["tools"]] == ["get_weather", "get_time"]
    assert back["tools"][0]["function"]["parameters"] == OPENAI_REQUEST["tools"][0]["function"]["parameters"]
    assert back["temperature"] == 0.3


def test_openai_response_through_gemini_keeps_text_calls_and_usage() -> None:
    upstream = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-x",
        "choices": [
            {
                "index": 0,
                "finish_reason": "tool_calls",
                "message": {
                    "role": "assistant",
                    "content": "Checking.",
                    "tool_calls": [
                        {"id": "call_9", "type": "function", "function": {"name": "f", "arguments": '{"a": [1, 2]}'}}
                    ],
                },
            }
        ],
        "usage": {
            "prompt_tokens": 11,
            "completion_tokens": 7,
            "total_tokens": 18,
            "prompt_tokens_details": {"cached_tokens": 3},
            "completion_tokens_details": {"reasoning_tokens": 2},
        },
    }
    neutral = openai_chat.decode_response(upstream)
    body = gemini.encode_response(neutral, "gemini-x")
    types.GenerateContentResponse.model_validate(body)
    out = openai_chat.encode_response(gemini.decode_response(body), "gpt-x")
    message = out["choices"][0]["message"]
    assert message["content"] == "Checking." and out["choices"][0]["finish_reason"] == "tool_calls"
    assert [
        (c["id"], c["function"]["name"], json.loads(c["function"]["arguments"])) for c in message["tool_calls"]
    ] == [("call_9", "f", {"a": [1, 2]})]
    assert out["usage"]["prompt_tokens"] == 11 and out["usage"]["completion_tokens"] == 7
    assert out["usage"]["prompt_tokens_details"]["cached_tokens"] == 3
    assert out["usage"]["completion_tokens_details"]["reasoning_tokens"] == 2


def test_openai_stream_through_gemini_stream() -> None:
    chunks = [
        {
            "id": "c1",
            "object": "chat.completion.chunk",
            "model": "gpt-x",
            "choices": [{"index": 0, "delta": {"role": "assistant", "content": "Hi "}}],
        },
        {
            "id": "c1",
            "object": "chat.completion.chunk",
            "model": "gpt-x",
            "choices": [{"index": 0, "delta": {"content": "there"}}],
        },
        {
            "id": "c1",
            "object": "chat.completion.chunk",
            "model": "gpt-x",
            "choices": [
                {
                    "index": 0,
                    "delta": {
                        "tool_calls": [
                            {
                                "index": 0,
                                "id": "call_1",
                                "type": "function",
                                "function": {"name": "f", "arguments": '{"x":'},
                            }
                        ]
                    },
                }
            ],
        },
        {
            "id": "c1",
            "object": "chat.completion.chunk",
            "model": "gpt-x",
            "choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": " 1}"}}]}}],
        },
        {
            "id": "c1",
            "object": "chat.completion.chunk",
            "model": "gpt-x",
            "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}],
        },
        {
            "id": "c1",
            "object": "chat.completion.chunk",
            "model": "gpt-x",
            "choices": [],
            "usage": {"prompt_tokens": 5, "completion_tokens": 4, "total_tokens": 9},
        },
    ]
    wire = b"".join(b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks) + b"data: [DONE]\n\n"
    upstream, encoder, downstream = (
        openai_chat.StreamDecoder(),
        gemini.StreamEncoder("gemini-x"),
        gemini.StreamDecoder(),
    )
    gemini_bytes = b"".join(encoder.encode(e) for e in upstream.feed(wire) + upstream.close())
    acc = Accumulator()
    for event in downstream.feed(gemini_bytes) + downstream.close():
        acc.add(event)
    resp = acc.response()
    assert resp.text() == "Hi there" and resp.finish_reason == "tool_calls"
    assert [(c.id, c.name, json.loads(c.arguments)) for c in resp.tool_calls()] == [("call_1", "f", {"x": 1})]
    assert (resp.usage.input_tokens, resp.usage.output_tokens) == (5, 4)


def test_thought_signatures_survive_a_gemini_turn_and_are_replaced_when_lost_elsewhere() -> None:
    sig = base64.b64encode(b"gemini-signature").decode()
    upstream = {
        "candidates": [
            {
                "content": {
                    "role": "model",
                    "parts": [{"functionCall": {"name": "f", "args": {"q": 1}}, "thoughtSignature": sig}],
                },
                "finishReason": "STOP",
            }
        ]
    }
    answer = gemini.decode_response(upstream)
    history = [
        Message("user", [TextPart("go")]),
        Message("assistant", answer.content),
        Message("tool", [ToolResultPart(answer.tool_calls()[0].id, [TextPart("ok")])]),
    ]
    next_turn = gemini.encode_request(Request("m", history), "m")
    assert next_turn["contents"][1]["parts"] == [
        {"functionCall": {"name": "f", "args": {"q": 1}, "id": answer.tool_calls()[0].id}, "thoughtSignature": sig}
    ]
    # openai_chat has no field for signatures: after an OpenAI leg the call carries Google's validator-skip value
    via_openai = openai_chat.decode_request(openai_chat.encode_request(Request("m", history), "gpt-x"))
    parts = gemini.encode_request(via_openai, "m")["contents"][1]["parts"]
    assert parts[0]["thoughtSignature"] == "skip_thought_signature_validator"


# ---------------------------------------------------------------- property: neutral -> gemini -> neutral

texts = st.text(string.ascii_letters + string.digits + ' .,!?{}[]":é日', min_size=1, max_size=20)
names = st.text(string.ascii_lowercase + "_", min_size=1, max_size=8)
signatures = st.binary(min_size=1, max_size=12).map(lambda b: base64.b64encode(b).decode())
json_values = st.one_of(st.integers(-1000, 1000), st.booleans(), texts, st.none())
arguments = st.dictionaries(names, json_values, max_size=3).map(compact_json)

user_parts = st.one_of(
    texts.map(TextPart),
    st.just(ImagePart(data=PNG, media_type="image/png")),
    st.sampled_from(["a.png", "b.webp"]).map(
        lambda f: ImagePart(url=f"https://x.test/{f}", media_type="image/" + f.split(".")[1])
    ),
    st.just(DocumentPart(data="JVBERi0=")),
    st.just(DocumentPart(url="gs://bucket/doc.pdf")),
)


@st.composite
def assistant_message(draw: st.DrawFn, ids: list[int]) -> Message:
    parts: list[Part] = []
    for kind in draw(st.lists(st.sampled_from(["text", "sig", "call"]), min_size=1, max_size=4)):
        if kind == "text":
            parts.append(TextPart(draw(texts)))
        elif kind == "sig":
            parts.append(ThinkingPart("", draw(signatures)))
        else:
            ids[0] += 1
            parts.append(ToolCallPart(f"call_{ids[0]}", draw(names), draw(arguments)))
    return Message("assistant", parts)


@st.composite
def conversations(draw: st.DrawFn) -> list[Message]:
    messages = [Message("system", [TextPart(draw(texts))])] if draw(st.booleans()) else []
    messages.append(Message("user", draw(st.lists(user_parts, min_size=1, max_size=3))))
    ids = [0]
    for _ in range(draw(st.integers(0, 3))):
        assistant = draw(assistant_message(ids))
        messages.append(assistant)
        calls = [p for p in assistant.content if isinstance(p, ToolCallPart)]
        for call in calls:
            result = ToolResultPart(
                call.id, [TextPart(draw(st.one_of(texts, st.just(""))))], draw(st.booleans()), call.name
            )
            messages.append(Message("tool", [result]))
        if not calls or draw(st.booleans()):  # two model turns in a row would merge
            messages.append(Message("user", draw(st.lists(user_parts, min_size=1, max_size=2))))
    return messages


@st.composite
def requests(draw: st.DrawFn) -> Request:
    tool_names = draw(st.lists(names, unique=True, max_size=3))
    tools = [
        Tool(n, draw(st.none() | texts), {"type": "object", "properties": {"p": {"type": "string"}}})
        for n in tool_names
    ]
    choice = None
    if tools:
        choice = draw(
            st.none()
            | st.sampled_from(
                [ToolChoice("auto"), ToolChoice("none"), ToolChoice("required"), ToolChoice("tool", tool_names[0])]
            )
        )
    thinking = draw(
        st.sampled_from([{}, {"thinking": "adaptive"}, {"thinking": "disabled"}])
        | st.integers(1, 30000).map(lambda n: {"thinking_budget": n})
    )
    fmt = draw(
        st.sampled_from([None, ResponseFormat("json_object"), ResponseFormat("json_schema", {"type": "object"})])
    )
    return Request(
        model=draw(st.sampled_from(["gemini-2.5-flash", "gemini-2.5-pro"])),
        messages=draw(conversations()),
        tools=tools,
        tool_choice=choice,
        max_tokens=draw(st.none() | st.integers(1, 10_000)),
        temperature=draw(st.none() | st.floats(0, 2, allow_nan=False)),
        top_p=draw(st.none() | st.floats(0, 1, allow_nan=False)),
        stop=draw(st.lists(texts, max_size=2)),
        seed=draw(st.none() | st.integers(0, 2**31)),
        response_format=fmt,
        stream=draw(st.booleans()),
        **thinking,
    )


def normalise(req: Request) -> Request:
    """Only what docs/translation.md lists: JSON-object tool results are re-serialised compactly."""
    for message in req.messages:
        for part in message.content:
            if isinstance(part, ToolResultPart):
                part.content = [
                    TextPart(_compact_if_object(p.text)) if isinstance(p, TextPart) else p for p in part.content
                ]
    req.provider_details["gemini"] = {}  # decode_request marks Request.extra as Gemini's
    return req


def _compact_if_object(text: str) -> str:
    try:
        value = json.loads(text)
    except ValueError:
        return text
    if isinstance(value, dict) and not (len(value) == 1 and {"result", "error"} & value.keys()):
        return compact_json(value)
    return text


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(requests())
def test_neutral_to_gemini_to_neutral_is_lossless_on_the_subset(req: Request) -> None:
    assert through_gemini(req) == normalise(req)


@settings(max_examples=100)
@given(requests())
def test_gemini_wire_is_a_fixed_point(req: Request) -> None:
    """Decoding and re-encoding a body Gemini would accept gives the same body back."""
    body = gemini.encode_request(req, req.model)
    again = gemini.encode_request(gemini.decode_request(body, model=req.model), req.model)
    assert again == body
