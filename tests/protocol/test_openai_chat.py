"""detour.protocol.openai_chat: request/response codecs, stream decoder/encoder, error envelopes."""

from __future__ import annotations

import copy
import itertools
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import openai
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from detour.protocol import openai_chat as oc
from detour.protocol.errors import Failure
from detour.protocol.messages import (
    Accumulator,
    DocumentPart,
    ErrorEvent,
    Finish,
    ImagePart,
    Message,
    Request,
    Response,
    ResponseFormat,
    Start,
    TextDelta,
    TextPart,
    ThinkingDelta,
    ThinkingPart,
    Tool,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallPart,
    ToolCallStart,
    ToolChoice,
    ToolResultPart,
    Usage,
    UsageEvent,
    response_events,
)

FIXTURES = Path(__file__).parent / "fixtures" / "openai"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def decode_all(data: bytes, pieces: list[int] | None = None) -> tuple[oc.StreamDecoder, list[Any]]:
    dec = oc.StreamDecoder()
    events: list[Any] = []
    cuts = [0, *(pieces or []), len(data)]
    for a, b in itertools.pairwise(cuts):
        events += dec.feed(data[a:b])
    events += dec.close()
    return dec, events


def accumulate(events: list[Any]) -> Accumulator:
    acc = Accumulator()
    for e in events:
        acc.add(e)
    return acc


# ---------------------------------------------------------------- loopback server for the official SDK


class _Handler(BaseHTTPRequestHandler):
    routes: ClassVar[dict[str, tuple[int, str, bytes]]] = {}

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        status, ctype, body = self.routes[self.path]
        self.send_response(status)
        self.send_header("content-type", ctype)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def sdk() -> Iterator[tuple[openai.OpenAI, dict[str, tuple[int, str, bytes]]]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    client = openai.OpenAI(base_url=f"http://127.0.0.1:{server.server_port}/v1", api_key="k", max_retries=0)
    try:
        yield client, _Handler.routes
    finally:
        server.shutdown()
        server.server_close()


def serve_sse(routes: dict[str, tuple[int, str, bytes]], body: bytes) -> None:
    routes["/v1/chat/completions"] = (200, "text/event-stream", body)


def sdk_stream(client: openai.OpenAI) -> list[ChatCompletionChunk]:
    stream = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}], stream=True)
    return list(stream)


# ---------------------------------------------------------------- decode_request: every part type

PNG = "iVBORw0KGgo="


def body_with(*messages: dict[str, Any], **params: Any) -> dict[str, Any]:
    return {"model": "gpt-4o", "messages": list(messages), **params}


def test_decode_system_and_developer_become_system() -> None:
    req = oc.decode_request(body_with({"role": "system", "content": "s"}, {"role": "developer", "content": "d"}))
    assert [m.role for m in req.messages] == ["system", "system"]
    assert req.messages[0].provider_details is None
    assert req.messages[1].provider_details == {"openai": {"role": "developer"}}
    assert req.system_text() == "s\nd"


def test_decode_user_parts() -> None:
    content = [
        {"type": "text", "text": "look"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}", "detail": "high"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
        {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBERi0=", "filename": "a.pdf"}},
    ]
    req = oc.decode_request(body_with({"role": "user", "content": content}))
    assert req.messages[0].content == [
        TextPart("look"),
        ImagePart(data=PNG, media_type="image/png", detail="high"),
        ImagePart(url="https://example.com/cat.jpg"),
        DocumentPart(data="JVBERi0=", media_type="application/pdf", title="a.pdf"),
    ]
    assert req.has_images() and req.has_documents()


def test_decode_assistant_tool_calls_reasoning_and_tool_result() -> None:
    args = '{"city": "Oslo",  "days":3}'  # odd spacing must survive: arguments stay JSON text
    req = oc.decode_request(
        body_with(
            {"role": "user", "content": "weather?"},
            {
                "role": "assistant",
                "content": "Let me check.",
                "reasoning_content": "need the tool",
                "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "w", "arguments": args}}],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": [{"type": "text", "text": "sunny"}]},
        )
    )
    assert req.messages[1].content == [
        ThinkingPart("need the tool"),
        TextPart("Let me check."),
        ToolCallPart("call_1", "w", args),
    ]
    assert req.messages[2] == Message("tool", [ToolResultPart("call_1", [TextPart("sunny")])])


def test_decode_tools_and_params() -> None:
    schema = {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}
    req = oc.decode_request(
        body_with(
            {"role": "user", "content": "x"},
            tools=[
                {
                    "type": "function",
                    "function": {"name": "search", "description": "d", "parameters": schema, "strict": True},
                }
            ],
            tool_choice={"type": "function", "function": {"name": "search"}},
            parallel_tool_calls=False,
            max_completion_tokens=100,
            temperature=0.5,
            top_p=0.9,
            stop="END",
            seed=7,
            reasoning_effort="low",
            response_format={
                "type": "json_schema",
                "json_schema": {"name": "r", "schema": {"type": "object"}, "strict": True},
            },
            stream=True,
            stream_options={"include_usage": True},
            user="u1",
            metadata={"k": "v"},
            detour={"chain": "fast"},
            logit_bias={"1": 2},
        )
    )
    assert req.tools == [Tool("search", "d", schema, {"strict": True})]
    assert req.tool_choice == ToolChoice("tool", "search", False)
    assert (req.max_tokens, req.temperature, req.top_p, req.stop, req.seed) == (100, 0.5, 0.9, ["END"], 7)
    assert req.reasoning_effort == "low"
    assert req.response_format == ResponseFormat("json_schema", {"type": "object"}, "r", True)
    assert (req.stream, req.include_usage, req.user, req.metadata) == (True, True, "u1", {"k": "v"})
    assert req.detour == {"chain": "fast"}
    assert req.extra == {"logit_bias": {"1": 2}}


def test_decode_max_tokens_fallback_and_keeps_raw_body() -> None:
    body = body_with({"role": "user", "content": "x"}, max_tokens=32000)
    req = oc.decode_request(body)
    assert req.max_tokens == 32000
    assert req.provider_details["openai"]["raw"] is body


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"model": "m", "messages": []}, "messages:"),
        ({"model": 3, "messages": [{"role": "user", "content": "x"}]}, "model:"),
        (
            body_with(
                {"role": "user", "content": "x"},
                {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "image_url", "image_url": "u"}]},
            ),
            "messages[1].content[1].image_url: expected an object with 'url'",
        ),
        (
            body_with(
                {"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": "x", "format": "wav"}}]}
            ),
            "messages[0].content[0].input_audio",
        ),
        (
            body_with({"role": "user", "content": [{"type": "image_url", "image_url": {"url": "ftp://x"}}]}),
            "messages[0].content[0].image_url.url",
        ),
        (
            body_with({"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/png,abc"}}]}),
            "messages[0].content[0].image_url.url",
        ),
        (
            body_with({"role": "user", "content": [{"type": "file", "file": {"file_id": "file-1"}}]}),
            "messages[0].content[0].file.file_id",
        ),
        (body_with({"role": "wizard", "content": "x"}), "messages[0].role"),
        (body_with({"role": "tool", "content": "x"}), "messages[0].tool_call_id"),
        (
            body_with(
                {
                    "role": "assistant",
                    "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": {"a": 1}}}],
                }
            ),
            "messages[0].tool_calls[0].function.arguments",
        ),
        (
            body_with({"role": "user", "content": "x"}, tools=[{"type": "custom", "custom": {"name": "x"}}]),
            "tools[0].type",
        ),
        (body_with({"role": "user", "content": "x"}, tool_choice={"type": "allowed_tools"}), "tool_choice:"),
        (body_with({"role": "user", "content": "x"}, temperature="hot"), "temperature:"),
        (body_with({"role": "user", "content": "x"}, stop=[1]), "stop:"),
        (body_with({"role": "user", "content": "x"}, response_format={"type": "yaml"}), "response_format.type"),
        (body_with({"role": "user", "content": "x"}, detour="x"), "detour:"),
        (body_with({"role": "system", "content": [{"type": "image_url"}]}), "messages[0].content[0]"),
    ],
)
def test_decode_rejects_malformed_input_naming_the_path(body: dict[str, Any], path: str) -> None:
    with pytest.raises(ValueError) as info:
        oc.decode_request(body)
    assert str(info.value).startswith(path)


# ---------------------------------------------------------------- encode_request

LOSSLESS_BODY: dict[str, Any] = {
    "model": "gpt-4o",
    "logprobs": True,
    "messages": [
        {"role": "developer", "content": "You are terse."},
        {"role": "system", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "what is this?"},
                {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}", "detail": "low"}},
                {"type": "image_url", "image_url": {"url": "https://example.com/x.png"}},
                {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBERi0=", "filename": "r.pdf"}},
            ],
            "name": "ann",
        },
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": '{"q": "x"}'}},
                {"id": "call_2", "type": "function", "function": {"name": "lookup", "arguments": "{}"}},
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "r1"},
        {
            "role": "tool",
            "tool_call_id": "call_2",
            "content": [{"type": "text", "text": "r"}, {"type": "text", "text": "2"}],
        },
        {"role": "assistant", "content": "done"},
        {"role": "user", "content": "thanks"},
    ],
    "tools": [
        {
            "type": "function",
            "function": {
                "name": "lookup",
                "description": "d",
                "parameters": {"type": "object", "properties": {}},
                "strict": False,
            },
        }
    ],
    "max_completion_tokens": 50,
    "temperature": 0.2,
    "top_p": 1,
    "stop": ["x", "y"],
    "seed": 1,
    "reasoning_effort": "medium",
    "response_format": {"type": "json_object"},
    "tool_choice": "required",
    "parallel_tool_calls": True,
    "stream": True,
    "stream_options": {"include_usage": True},
    "user": "u",
    "metadata": {"a": "b"},
}


def full_path(req: Request) -> Request:
    req.provider_details["openai"].pop("raw")  # as the router does when it modifies a request
    return req


def test_round_trip_openai_to_openai_is_exact_for_lossless_subset() -> None:
    original = copy.deepcopy(LOSSLESS_BODY)
    encoded = oc.encode_request(full_path(oc.decode_request(original)), "gpt-4o")
    assert encoded == LOSSLESS_BODY


def test_fast_path_reuses_message_and_tool_objects_and_drops_detour() -> None:
    body = {**copy.deepcopy(LOSSLESS_BODY), "max_tokens": 9, "detour": {"chain": "c"}}
    del body["max_completion_tokens"]
    out = oc.encode_request(oc.decode_request(body), "gpt-5")
    assert out is not body and out["model"] == "gpt-5" and body["model"] == "gpt-4o"
    assert all(a is b for a, b in zip(out["messages"], body["messages"], strict=True))
    assert out["tools"][0] is body["tools"][0]
    assert "detour" not in out and "max_tokens" not in out and out["max_completion_tokens"] == 9
    assert out["logprobs"] is True


def test_fast_path_not_used_when_conversation_changed() -> None:
    req = oc.decode_request(copy.deepcopy(LOSSLESS_BODY))
    req.messages.append(Message("user", [TextPart("more")]))
    out = oc.encode_request(req, "gpt-4o")
    assert out["messages"][-1] == {"role": "user", "content": "more"}


def test_fast_path_rewrites_developer_role_for_other_flavors() -> None:
    out = oc.encode_request(oc.decode_request(copy.deepcopy(LOSSLESS_BODY)), "mistral-large", flavor="mistral")
    assert out["messages"][0] == {"role": "system", "content": "You are terse."}
    assert "random_seed" in out and "seed" not in out and "stream_options" not in out and "user" not in out
    assert out["max_tokens"] == 50 and "metadata" not in out


@pytest.mark.parametrize(
    ("flavor", "field"),
    [("openai", "max_completion_tokens"), ("groq", "max_completion_tokens"), ("xai", "max_completion_tokens"),
     ("deepseek", "max_tokens"), ("mistral", "max_tokens"), ("ollama", "max_tokens"), ("lmstudio", "max_tokens"),
     ("openrouter", "max_tokens"), ("generic", "max_tokens")],
)  # fmt: skip
def test_flavor_max_tokens_field(flavor: str, field: str) -> None:
    req = Request("m", [Message("user", [TextPart("hi")])], max_tokens=64, stream=True)
    out = oc.encode_request(req, "m", flavor=flavor)
    assert out[field] == 64
    assert ("stream_options" in out) is (flavor != "mistral")


def test_unknown_flavor_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown OpenAI flavor"):
        oc.encode_request(Request("m", [Message("user", [TextPart("x")])]), "m", flavor="nope")


def neutral_agent_turns() -> list[Message]:
    return [
        Message("user", [TextPart("q")]),
        Message(
            "assistant", [ThinkingPart("plan", signature="sig"), TextPart("ok"), ToolCallPart("c1", "f", '{"a":1}')]
        ),
        Message("tool", [ToolResultPart("c1", [TextPart("res")])]),
        Message("assistant", [ThinkingPart("summarise"), TextPart("answer")]),
    ]


def test_deepseek_sends_reasoning_back_only_on_tool_call_turns() -> None:
    out = oc.encode_request(Request("m", neutral_agent_turns()), "deepseek-reasoner", flavor="deepseek")
    assert out["messages"][1]["reasoning_content"] == "plan"
    assert "reasoning_content" not in out["messages"][3]


def test_openai_flavor_drops_thinking() -> None:
    out = oc.encode_request(Request("m", neutral_agent_turns()), "gpt-4o")
    assert out["messages"][1] == {
        "role": "assistant",
        "content": "ok",
        "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"a":1}'}}],
    }
    assert out["messages"][3] == {"role": "assistant", "content": "answer"}


def test_client_reasoning_content_forces_full_path_for_openai() -> None:
    body = body_with({"role": "user", "content": "q"}, {"role": "assistant", "content": "a", "reasoning_content": "r"})
    out = oc.encode_request(oc.decode_request(body), "gpt-4o")
    assert out["messages"][1] == {"role": "assistant", "content": "a"}
    out_ds = oc.encode_request(oc.decode_request(body), "deepseek-chat", flavor="deepseek")
    assert out_ds["messages"][1] is body["messages"][1]


def test_remote_image_urls_pass_as_urls_but_local_flavors_refuse_them() -> None:
    body = body_with({"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://e.com/a.png"}}]})
    out = oc.encode_request(oc.decode_request(body), "gpt-4o")
    assert out["messages"][0]["content"][0]["image_url"]["url"] == "https://e.com/a.png"
    with pytest.raises(ValueError, match="only data: image URLs"):
        oc.encode_request(oc.decode_request(body), "llava", flavor="ollama")


def test_tool_result_images_follow_the_tool_messages_as_a_user_turn() -> None:
    msgs = [
        Message("user", [TextPart("shot?")]),
        Message("assistant", [ToolCallPart("c1", "screenshot", "{}"), ToolCallPart("c2", "ls", "{}")]),
        Message(
            "tool",
            [ToolResultPart("c1", [TextPart("here"), ImagePart(data=PNG, media_type="image/png")], is_error=False)],
        ),
        Message("tool", [ToolResultPart("c2", [TextPart("a.txt")])]),
        Message("user", [TextPart("and?")]),
    ]
    out = oc.encode_request(Request("m", msgs), "gpt-4o")["messages"]
    assert [m["role"] for m in out] == ["user", "assistant", "tool", "tool", "user", "user"]
    assert out[4]["content"] == [{"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}}]


def test_anthropic_style_tool_results_inside_a_user_turn_are_split() -> None:
    msgs = [
        Message("assistant", [ToolCallPart("t1", "f", "{}")]),
        Message("user", [ToolResultPart("t1", [TextPart("r")]), TextPart("continue")]),
    ]
    out = oc.encode_request(Request("m", msgs), "gpt-4o")["messages"]
    assert out[1:] == [{"role": "tool", "tool_call_id": "t1", "content": "r"}, {"role": "user", "content": "continue"}]


def test_tool_choice_is_omitted_without_tools_and_extras_only_from_openai_clients() -> None:
    req = Request(
        "m", [Message("user", [TextPart("x")])], tool_choice=ToolChoice("required"), extra={"system": "anthropic field"}
    )
    assert oc.encode_request(req, "gpt-4o") == {"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}]}


def test_document_url_cannot_be_sent() -> None:
    req = Request("m", [Message("user", [DocumentPart(url="https://e.com/a.pdf"), TextPart("sum")])])
    with pytest.raises(ValueError, match="document URL"):
        oc.encode_request(req, "gpt-4o")


# ---------------------------------------------------------------- hypothesis: decode(encode(decode(x))) == decode(x)

texts = st.text(max_size=12)
json_args = st.dictionaries(st.text(max_size=5), st.one_of(st.integers(), texts, st.booleans()), max_size=3).map(
    json.dumps
)
call_ids = st.from_regex(r"call_[a-z0-9]{1,6}", fullmatch=True)
images = st.one_of(
    st.builds(lambda d: {"url": f"data:image/png;base64,{d}"}, st.from_regex(r"(?:[A-Za-z0-9+/]{4}){1,4}", fullmatch=True)),
    st.builds(
        lambda p, d: {"url": f"https://e.com/{p}.png", "detail": d},
        st.from_regex(r"[a-z]{1,6}", fullmatch=True),
        st.sampled_from(["low", "high", "auto"]),
    ),
)
user_part = st.one_of(
    st.builds(lambda t: {"type": "text", "text": t}, texts),
    st.builds(lambda i: {"type": "image_url", "image_url": i}, images),
)
system_msg = st.builds(
    lambda r, c: {"role": r, "content": c},
    st.sampled_from(["system", "developer"]),
    st.one_of(texts, st.lists(st.builds(lambda t: {"type": "text", "text": t}, texts), min_size=1, max_size=3)),
)
user_msg = st.builds(
    lambda c: {"role": "user", "content": c}, st.one_of(texts, st.lists(user_part, min_size=1, max_size=3))
)
tool_call = st.builds(
    lambda i, n, a: {"id": i, "type": "function", "function": {"name": n, "arguments": a}},
    call_ids,
    st.sampled_from(["f", "g"]),
    json_args,
)
assistant_msg = st.one_of(
    st.builds(lambda c: {"role": "assistant", "content": c}, texts),
    st.builds(
        lambda c, tcs: {"role": "assistant", "content": c, "tool_calls": tcs},
        st.one_of(st.none(), texts),
        st.lists(tool_call, min_size=1, max_size=3),
    ),
)
tool_msg = st.builds(lambda i, c: {"role": "tool", "tool_call_id": i, "content": c}, call_ids, texts)
tool_def = st.builds(
    lambda n, d, s: {
        "type": "function",
        "function": {
            "name": n,
            "description": d,
            "parameters": {"type": "object", "properties": {"x": {"type": "string"}}},
            **({"strict": s} if s is not None else {}),
        },
    },
    st.sampled_from(["f", "g", "h"]),
    texts,
    st.one_of(st.none(), st.booleans()),
)
tool_choice = st.one_of(
    st.sampled_from(["auto", "none", "required"]),
    st.builds(lambda n: {"type": "function", "function": {"name": n}}, st.sampled_from(["f", "g"])),
)
optional_params = st.fixed_dictionaries(
    {},
    optional={
        "max_tokens": st.integers(1, 10_000),
        "max_completion_tokens": st.integers(1, 10_000),
        "temperature": st.floats(0, 2),
        "top_p": st.floats(0, 1),
        "stop": st.one_of(texts, st.lists(texts, max_size=3)),
        "seed": st.integers(0, 2**31),
        "reasoning_effort": st.sampled_from(["low", "medium", "high"]),
        "response_format": st.sampled_from(
            [
                {"type": "text"},
                {"type": "json_object"},
                {"type": "json_schema", "json_schema": {"name": "n", "schema": {"type": "object"}, "strict": True}},
            ]
        ),
        "stream": st.booleans(),
        "user": texts,
        "metadata": st.dictionaries(st.from_regex(r"[a-z]{1,4}", fullmatch=True), texts, max_size=2),
        "frequency_penalty": st.floats(-2, 2),
    },
)


@st.composite
def openai_requests(draw: st.DrawFn) -> dict[str, Any]:
    messages = draw(st.lists(st.one_of(system_msg, user_msg, assistant_msg, tool_msg), min_size=1, max_size=8))
    body: dict[str, Any] = {"model": "gpt-4o", "messages": messages, **draw(optional_params)}
    if draw(st.booleans()):
        body["tools"] = draw(st.lists(tool_def, min_size=1, max_size=3))
        if draw(st.booleans()):
            body["tool_choice"] = draw(tool_choice)
        if draw(st.booleans()):
            body["parallel_tool_calls"] = draw(st.booleans())
    return body


def neutral(req: Request) -> Request:
    """The neutral form minus what differs by construction: the raw body and the always-on usage request."""
    return Request(
        **{**{f: getattr(req, f) for f in req.__dataclass_fields__}, "provider_details": {}, "include_usage": False}
    )


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(openai_requests())
def test_property_decode_encode_decode_is_stable(body: dict[str, Any]) -> None:
    first = oc.decode_request(body)
    again = oc.decode_request(oc.encode_request(full_path(oc.decode_request(body)), "gpt-4o"))
    assert neutral(again) == neutral(first)
    fast = oc.decode_request(oc.encode_request(oc.decode_request(body), "gpt-4o"))
    assert neutral(fast) == neutral(first)


# ---------------------------------------------------------------- decode_response


def completion(
    message: dict[str, Any], finish: str | None = "stop", usage: dict[str, Any] | None = None
) -> dict[str, Any]:
    body = {"id": "chatcmpl-x", "object": "chat.completion", "created": 1, "model": "gpt-4o",
            "choices": [{"index": 0, "message": {"role": "assistant", **message}, "finish_reason": finish}]}  # fmt: skip
    if usage is not None:
        body["usage"] = usage
    return body


@pytest.mark.parametrize(
    ("wire", "neutral_reason"),
    [("stop", "stop"), ("length", "length"), ("tool_calls", "tool_calls"), ("content_filter", "content_filter"),
     ("function_call", "tool_calls"), ("model_length", "length"), ("error", "error"), ("weird", "stop")],
)  # fmt: skip
def test_decode_response_finish_reasons(wire: str, neutral_reason: str) -> None:
    assert oc.decode_response(completion({"content": "x"}, wire)).finish_reason == neutral_reason


def test_decode_response_usage_tool_calls_reasoning() -> None:
    usage = {"prompt_tokens": 100, "completion_tokens": 40, "total_tokens": 140,
             "prompt_tokens_details": {"cached_tokens": 64}, "completion_tokens_details": {"reasoning_tokens": 30}}  # fmt: skip
    msg = {"content": None, "reasoning_content": "hmm",
           "tool_calls": [{"id": "call_9", "type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}}]}  # fmt: skip
    resp = oc.decode_response(completion(msg, "tool_calls", usage))
    assert resp == Response("chatcmpl-x", "gpt-4o", [ThinkingPart("hmm"), ToolCallPart("call_9", "f", '{"a": 1}')],
                            "tool_calls", Usage(100, 40, 64, 0, 30))  # fmt: skip


def test_decode_response_ollama_reasoning_and_refusal() -> None:
    assert oc.decode_response(completion({"content": "a", "reasoning": "r"})).content == [
        ThinkingPart("r"),
        TextPart("a"),
    ]
    resp = oc.decode_response(completion({"content": None, "refusal": "I can't help with that."}))
    assert resp.finish_reason == "content_filter"
    assert resp.provider_details["refusal"] == "I can't help with that."
    assert resp.content[0].text == "I can't help with that."


def test_decode_response_rejects_error_bodies() -> None:
    with pytest.raises(ValueError, match="^error"):
        oc.decode_response({"error": {"message": "nope"}})


# ---------------------------------------------------------------- encode_response


def full_response() -> Response:
    return Response(
        "msg_01",
        "claude-sonnet-4",
        [ThinkingPart("t", signature="s"), TextPart("Hello"), ToolCallPart("toolu_1", "f", '{"x":1}')],
        "tool_calls",
        Usage(10, 5, 3, 1, 2),
    )


def test_encode_response_validates_with_sdk_types() -> None:
    body = oc.encode_response(full_response(), "my-model")
    cc = ChatCompletion.model_validate(body)
    assert cc.id.startswith("chatcmpl-") and cc.model == "my-model"
    msg = cc.choices[0].message
    assert msg.content == "Hello" and msg.tool_calls[0].id == "toolu_1"
    assert msg.tool_calls[0].function.arguments == '{"x":1}'
    assert body["choices"][0]["message"]["reasoning_content"] == "t"
    assert (
        cc.usage.prompt_tokens_details.cached_tokens == 3 and cc.usage.completion_tokens_details.reasoning_tokens == 2
    )
    assert cc.choices[0].finish_reason == "tool_calls"


def test_encode_response_round_trips_through_decode() -> None:
    original = full_response()
    back = oc.decode_response(oc.encode_response(original, "m"))
    assert back.content == [ThinkingPart("t"), TextPart("Hello"), ToolCallPart("toolu_1", "f", '{"x":1}')]
    assert back.usage == Usage(10, 5, 3, 1, 2)


def test_encode_response_refusal_and_error() -> None:
    resp = Response("r", "m", [TextPart("no", provider_details={"openai": {"refusal": True}})], "content_filter")
    cc = ChatCompletion.model_validate(oc.encode_response(resp, "m"))
    assert cc.choices[0].message.refusal == "no" and cc.choices[0].message.content is None
    with pytest.raises(ValueError, match="encode_error"):
        oc.encode_response(Response("r", "m", [TextPart("half")], "error"), "m")


def test_sdk_reads_encoded_response(sdk: Any) -> None:
    client, routes = sdk
    routes["/v1/chat/completions"] = (
        200,
        "application/json",
        json.dumps(oc.encode_response(full_response(), "m")).encode(),
    )
    cc = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
    assert cc.choices[0].message.tool_calls[0].function.name == "f"


# ---------------------------------------------------------------- StreamDecoder


def test_decoder_openai_tool_stream() -> None:
    dec, events = decode_all(fixture("openai_tools.sse"))
    kinds = [e.kind for e in events]
    assert kinds[0] == "start" and kinds[-2:] == ["usage", "finish"]
    assert [e for e in events if isinstance(e, (ToolCallStart, ToolCallEnd))] == [
        ToolCallStart(1, "call_a", "get_weather"), ToolCallEnd(1), ToolCallStart(2, "call_b", "get_time"), ToolCallEnd(2)
    ]  # fmt: skip
    resp = accumulate(events).response()
    assert resp.content == [TextPart("Checking weather."), ToolCallPart("call_a", "get_weather", '{"city":"Oslo"}'),
                            ToolCallPart("call_b", "get_time", '{"tz":"CET"}')]  # fmt: skip
    assert resp.finish_reason == "tool_calls" and resp.usage == Usage(50, 20, 32, 0, 0)
    assert dec.done and dec.data_events == 10


def test_decoder_deepseek_reasoning_keepalives_and_usage_in_finish_chunk() -> None:
    dec, events = decode_all(fixture("deepseek_reasoning.sse"))
    assert dec.data_events == 6  # the two ": keep-alive" comments do not count
    resp = accumulate(events).response()
    assert resp.content == [ThinkingPart("Think hard."), TextPart("42")]
    assert resp.usage == Usage(10, 5, 4, 0, 3)
    assert [e.kind for e in events][-2:] == ["usage", "finish"]


def test_decoder_groq_reasoning_and_x_groq_usage() -> None:
    _, events = decode_all(fixture("groq_usage.sse"))
    resp = accumulate(events).response()
    assert resp.content == [ThinkingPart("Hmm."), TextPart("Yes")] and resp.usage.input_tokens == 7


@pytest.mark.parametrize(
    ("name", "kind", "text"),
    [("openai_error.sse", "rate_limited", "Rate limit"), ("groq_error.sse", None, "invalid output"),
     ("mistral_error.sse", None, "error"), ("openrouter_error.sse", None, "Provider disconnected")],
)  # fmt: skip
def test_decoder_mid_stream_errors(name: str, kind: str | None, text: str) -> None:
    dec, events = decode_all(fixture(name))
    assert isinstance(events[-1], ErrorEvent)
    failure = events[-1].failure
    assert isinstance(failure, Failure) and text in failure.message
    assert failure.kind == kind if kind else failure.kind in ("server_error", "overloaded", "stream_broken")
    assert sum(isinstance(e, (ErrorEvent, Finish)) for e in events) == 1
    assert not accumulate(events).complete and not dec.done


def test_decoder_malformed_chunk_is_an_error_not_skipped() -> None:
    data = fixture("openai_tools.sse").replace(b'{"content":"weather."}', b'{"content":"weath')
    _, events = decode_all(data)
    assert isinstance(events[-1], ErrorEvent) and events[-1].failure.kind == "stream_broken"
    assert "malformed chunk" in events[-1].failure.message


def test_decoder_finish_without_done_is_complete() -> None:
    data = fixture("openai_tools.sse").replace(b"data: [DONE]\n\n", b"")
    dec = oc.StreamDecoder()
    events = dec.feed(data)
    assert dec.done and events[-1].kind == "finish"  # usage chunk after finish: final at once
    assert dec.close() == []
    assert accumulate(events).complete


def test_decoder_close_without_finish_is_stream_broken() -> None:
    data = fixture("openai_tools.sse").split(
        b'data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{},"finish_reason"'
    )[0]
    dec = oc.StreamDecoder()
    events = dec.feed(data) + dec.close()
    assert not dec.done
    assert events[-1] == ErrorEvent(Failure("stream_broken", "stream ended before finish"))
    assert not accumulate(events).complete


def test_decoder_done_flag_after_finish_before_usage() -> None:
    dec = oc.StreamDecoder()
    dec.feed(
        b'data: {"id":"a","model":"m","choices":[{"index":0,"delta":{"content":"x"},"finish_reason":"length"}]}\n\n'
    )
    assert dec.done
    assert [e.kind for e in dec.close()] == ["finish"]


@pytest.mark.parametrize("name", ["openai_tools.sse", "deepseek_reasoning.sse", "openrouter_error.sse"])
def test_decoder_split_at_every_byte_position(name: str) -> None:
    data = fixture(name)
    _, whole = decode_all(data)
    for cut in range(1, len(data)):
        _, events = decode_all(data, [cut])
        assert [e for e in events if not isinstance(e, ToolCallStart)] == [
            e for e in whole if not isinstance(e, ToolCallStart)
        ]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(1, len(fixture("openai_tools.sse")) - 1), max_size=30, unique=True).map(sorted))
def test_property_decoder_is_independent_of_chunking(cuts: list[int]) -> None:
    data = fixture("openai_tools.sse")
    assert decode_all(data, cuts)[1] == decode_all(data)[1]


# ---------------------------------------------------------------- StreamEncoder


def sse_payloads(data: bytes) -> list[str]:
    return [line[6:] for line in data.decode().split("\n") if line.startswith("data: ")]


def tool_events() -> list[Any]:
    return [
        Start("msg_1", "up"),
        ThinkingDelta(0, "hmm"),
        TextDelta(1, "Looking"),
        ToolCallStart(2, "toolu_1", "get_weather"),
        ToolCallDelta(2, '{"city":'),
        ToolCallDelta(2, '"Oslo"}'),
        ToolCallEnd(2),
        ToolCallStart(3, "toolu_2", "get_time"),
        ToolCallEnd(3),
        UsageEvent(Usage(12, 7, 2, 0, 1)),
        Finish("tool_calls"),
    ]


def encode_events(events: list[Any], include_usage: bool = True) -> bytes:
    enc = oc.StreamEncoder("client-model", include_usage=include_usage)
    return b"".join(enc.encode(e) for e in events)


def test_encoder_chunks_validate_as_sdk_chunks() -> None:
    payloads = sse_payloads(encode_events(tool_events()))
    assert payloads[-1] == "[DONE]"
    chunks = [ChatCompletionChunk.model_validate_json(p) for p in payloads[:-1]]
    assert {c.id for c in chunks} == {chunks[0].id} and chunks[0].id.startswith("chatcmpl-")
    assert chunks[-1].choices == [] and chunks[-1].usage.prompt_tokens == 12
    assert chunks[-2].choices[0].finish_reason == "tool_calls"


def test_encoder_without_include_usage_sends_no_usage_chunk() -> None:
    payloads = sse_payloads(encode_events(tool_events(), include_usage=False))
    assert all(json.loads(p).get("usage") is None for p in payloads[:-1]) and payloads[-1] == "[DONE]"


def test_decoder_reads_encoder_output_back() -> None:
    _, events = decode_all(encode_events(tool_events()))
    resp = accumulate(events).response()
    expected = accumulate(tool_events()).response()
    assert resp.content == [ThinkingPart("hmm"), TextPart("Looking")] + expected.content[2:]
    assert resp.usage == Usage(12, 7, 2, 0, 1) and resp.finish_reason == "tool_calls"


def test_sdk_stream_reader_reads_tool_call_stream(sdk: Any) -> None:
    client, routes = sdk
    serve_sse(routes, encode_events(tool_events()))
    chunks = sdk_stream(client)
    calls: dict[int, dict[str, str]] = {}
    for c in chunks:
        for ch in c.choices:
            for tc in ch.delta.tool_calls or []:
                call = calls.setdefault(tc.index, {"id": "", "name": "", "args": ""})
                call["id"] += tc.id or ""
                call["name"] += (tc.function.name or "") if tc.function else ""
                call["args"] += (tc.function.arguments or "") if tc.function else ""
    assert calls == {0: {"id": "toolu_1", "name": "get_weather", "args": '{"city":"Oslo"}'},
                     1: {"id": "toolu_2", "name": "get_time", "args": ""}}  # fmt: skip
    assert chunks[-1].usage.completion_tokens == 7


def test_sdk_stream_reader_reads_text_from_response_events(sdk: Any) -> None:
    client, routes = sdk
    resp = Response("r1", "m", [TextPart("Hello there")], "stop", Usage(3, 2))
    serve_sse(routes, encode_events(response_events(resp)))
    text = "".join(c.choices[0].delta.content or "" for c in sdk_stream(client) if c.choices)
    assert text == "Hello there"


def test_sdk_stream_reader_raises_on_error_chunk(sdk: Any) -> None:
    client, routes = sdk
    enc = oc.StreamEncoder("m", include_usage=True)
    data = (
        enc.encode(Start("x", "m"))
        + enc.encode(TextDelta(0, "partial"))
        + enc.error(Failure("overloaded", "Overloaded"))
    )
    assert b"[DONE]" not in data and b'finish_reason":"' not in data
    assert enc.encode(Finish("stop")) == b""  # nothing may follow the error
    serve_sse(routes, data)
    with pytest.raises(openai.APIError, match="Overloaded"):
        sdk_stream(client)


def test_encoder_refuses_to_finish_a_half_tool_call() -> None:
    enc = oc.StreamEncoder("m", include_usage=False)
    data = b"".join(
        enc.encode(e)
        for e in [Start("x", "m"), ToolCallStart(0, "c", "f"), ToolCallDelta(0, '{"a":'), Finish("tool_calls")]
    )
    payloads = sse_payloads(data)
    assert "error" in json.loads(payloads[-1]) and "[DONE]" not in payloads


def test_encoder_finish_error_and_error_event_become_error_chunks() -> None:
    for last in (Finish("error"), ErrorEvent(Failure("rate_limited", "slow down"))):
        payloads = sse_payloads(encode_events([Start("x", "m"), TextDelta(0, "a"), last]))
        assert "error" in json.loads(payloads[-1]) and "[DONE]" not in payloads


def test_decoder_to_encoder_pipeline_through_sdk(sdk: Any) -> None:
    client, routes = sdk
    _, events = decode_all(fixture("deepseek_reasoning.sse"))
    serve_sse(routes, encode_events(events))
    chunks = sdk_stream(client)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "42"
    assert chunks[-1].usage.prompt_tokens_details.cached_tokens == 4


# ---------------------------------------------------------------- encode_error


@pytest.mark.parametrize(
    ("kind", "status", "etype", "code", "exc"),
    [
        ("rate_limited", 429, "rate_limit_error", "rate_limit_exceeded", openai.RateLimitError),
        ("quota_exhausted", 429, "insufficient_quota", "insufficient_quota", openai.RateLimitError),
        ("bad_request", 400, "invalid_request_error", None, openai.BadRequestError),
        ("not_found", 404, "invalid_request_error", "model_not_found", openai.NotFoundError),
        ("auth_failed", 401, "authentication_error", "invalid_api_key", openai.AuthenticationError),
        ("context_too_long", 400, "invalid_request_error", "context_length_exceeded", openai.BadRequestError),
        ("content_blocked", 400, "invalid_request_error", "content_policy_violation", openai.BadRequestError),
        ("overloaded", 503, "server_error", "overloaded", openai.InternalServerError),
        ("timeout", 504, "timeout_error", "timeout", openai.InternalServerError),
        ("server_error", 502, "server_error", "upstream_error", openai.InternalServerError),
        ("unreachable", 502, "server_error", "upstream_unreachable", openai.InternalServerError),
        ("stream_broken", 502, "server_error", "stream_broken", openai.InternalServerError),
    ],
)
def test_encode_error_envelope_and_sdk_class(
    sdk: Any, kind: Any, status: int, etype: str, code: str | None, exc: type
) -> None:
    got_status, body = oc.encode_error(Failure(kind, "boom"))
    assert got_status == status
    assert body == {
        "error": {
            "message": "boom",
            "type": etype,
            "param": "messages" if kind == "context_too_long" else None,
            "code": code,
        }
    }
    client, routes = sdk
    routes["/v1/chat/completions"] = (status, "application/json", json.dumps(body).encode())
    with pytest.raises(exc) as info:
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    assert info.value.code == code and info.value.type == etype


def test_encode_error_from_status_and_param() -> None:
    assert oc.encode_error(400, "messages[3]: bad", param="messages") == (
        400, {"error": {"message": "messages[3]: bad", "type": "invalid_request_error", "param": "messages", "code": None}}
    )  # fmt: skip
    assert (
        oc.encode_error(Failure("bad_request", "x", unsupported_param="max_tokens"))[1]["error"]["param"]
        == "max_tokens"
    )
    assert oc.encode_error(503)[1]["error"]["type"] == "server_error"


