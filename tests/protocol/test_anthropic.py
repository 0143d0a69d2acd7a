from __future__ import annotations

import copy
import itertools
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import anthropic
import pydantic
import pytest
from anthropic.types import Message as SDKMessage
from anthropic.types import RawMessageStreamEvent
from anthropic.types import message_create_params as mcp
from hypothesis import given, settings
from hypothesis import strategies as st

from detour.protocol import anthropic as A
from detour.protocol.errors import Failure
from detour.protocol.messages import (
    Accumulator,
    DocumentPart,
    ErrorEvent,
    Finish,
    ImagePart,
    Message,
    Request,
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
from detour.protocol.messages import Response as NeutralResponse
from detour.protocol.sse import SSEParser

FIXTURES = Path(__file__).parent / "fixtures" / "anthropic"
CREATE_PARAMS = pydantic.TypeAdapter(mcp.MessageCreateParamsStreaming)
STREAM_EVENT = pydantic.TypeAdapter(RawMessageStreamEvent)


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def claude_code() -> dict[str, Any]:
    return fixture("claude_code_request.json")


# ================================================================ loopback server for the official SDK


class _Handler(BaseHTTPRequestHandler):
    reply: tuple[int, str, bytes] = (200, "application/json", b"{}")
    seen: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length", 0))
        type(self).seen.append(json.loads(self.rfile.read(length) or b"{}"))
        status, content_type, body = type(self).reply
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[type[_Handler]]:
    handler = type("Handler", (_Handler,), {"seen": []})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    handler.base_url = f"http://127.0.0.1:{httpd.server_address[1]}"  # type: ignore[attr-defined]
    yield handler
    httpd.shutdown()
    httpd.server_close()


def sdk(server: type[_Handler]) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=server.base_url, api_key="x", max_retries=0)  # type: ignore[attr-defined]


# ================================================================ decode_request


def test_decodes_claude_code_request() -> None:
    body = claude_code()
    req = A.decode_request(
        body,
        {"Anthropic-Beta": "interleaved-thinking-2025-05-14, context-management-2025-06-27"},
    )
    roles = [m.role for m in req.messages]
    assert roles == [
        "system",
        "user",
        "system",
        "assistant",
        "tool",
        "tool",
        "user",
        "assistant",
        "user",
    ]
    assert req.messages[0].content[0].provider_details == {"anthropic": {"cache_control": {"type": "ephemeral"}}}
    assert req.messages[2].content == [TextPart("The user has switched to plan mode.")]
    thinking, text, call_a, _ = req.messages[3].content
    assert text == TextPart("Let me look.")
    assert thinking == ThinkingPart("I should look at the tree first.", "EqQBCkYIBRgCKkD0sig==")
    assert call_a == ToolCallPart("toolu_01A", "Bash", '{"arg":"ls src","count":1}')
    assert req.messages[4].content[0] == ToolResultPart("toolu_01A", [TextPart("a.py\nb.py")])
    result_b = req.messages[5].content[0]
    assert isinstance(result_b, ToolResultPart) and result_b.content == [TextPart("def test_x(): assert 1 == 2")]
    assert req.messages[7].content[0] == ThinkingPart(redacted_data="EmwKAhgBEgy3va3pzix/LafPsn4aDFIT")
    assert (len(req.tools), req.tools[-1].provider_details) == (
        24,
        {"anthropic": {"cache_control": {"type": "ephemeral"}}},
    )
    assert (req.thinking, req.reasoning_effort, req.max_tokens, req.stream) == (
        "adaptive",
        "high",
        64000,
        True,
    )
    assert req.metadata["session_id"] == "5e55-10n" and req.user == body["metadata"]["user_id"]
    assert req.extra == {"context_management": body["context_management"]}
    details = req.provider_details["anthropic"]
    assert details["beta"] == [
        "interleaved-thinking-2025-05-14",
        "context-management-2025-06-27",
    ]
    assert details["output_config"] == {"effort": "high"} and details["raw"] is body


def test_decodes_images_documents_tool_choice_and_detour() -> None:
    body = {
        "model": "m",
        "max_tokens": 10,
        "messages": [
            {
                "role": "user",
                "content": [
                    {
                        "type": "image",
                        "source": {
                            "type": "base64",
                            "media_type": "image/png",
                            "data": "AAAA",
                        },
                    },
                    {
                        "type": "image",
                        "source": {"type": "url", "url": "https://x/y.png"},
                    },
                    {
                        "type": "document",
                        "source": {
                            "type": "base64",
                            "media_type": "application/pdf",
                            "data": "JVBE",
                        },
                        "title": "t",
                    },
                    {
                        "type": "document",
                        "source": {"type": "url", "url": "https://x/d.pdf"},
                    },
                    {
                        "type": "search_result",
                        "source": "s",
                        "title": "t",
                        "content": [],
                    },
                ],
            }
        ],
        "tool_choice": {"type": "tool", "name": "f", "disable_parallel_tool_use": True},
        "tools": [
            {"name": "f", "input_schema": {"type": "object"}},
            {"type": "web_search_20250305", "name": "web_search"},
        ],
        "thinking": {"type": "enabled", "budget_tokens": 2048},
        "top_k": 5,
        "detour": {"chain": "cheap"},
    }
    req = A.decode_request(body)
    parts = req.messages[0].content
    assert parts[0] == ImagePart(data="AAAA", media_type="image/png")
    assert parts[1] == ImagePart(url="https://x/y.png")
    assert parts[2] == DocumentPart(data="JVBE", title="t") and parts[3] == DocumentPart(url="https://x/d.pdf")
    assert parts[4] == TextPart("", {"anthropic_block": body["messages"][0]["content"][4]})  # no neutral form
    assert req.tool_choice == ToolChoice("tool", "f", parallel=False)
    assert [t.name for t in req.tools] == ["f"]
    assert req.provider_details["anthropic"]["server_tools"] == [{"index": 1, "tool": body["tools"][1]}]
    assert (req.thinking, req.thinking_budget) == ("enabled", 2048)
    assert req.extra == {"top_k": 5} and req.detour == {"chain": "cheap"}


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        (
            {
                "messages": [
                    {"role": "user", "content": "a"},
                    {"role": "assistant", "content": "b"},
                    {
                        "role": "user",
                        "content": [
                            {
                                "type": "image",
                                "source": {
                                    "type": "base64",
                                    "media_type": "image/bmp",
                                    "data": "x",
                                },
                            }
                        ],
                    },
                ]
            },
            "messages[2].content[0].source.media_type: must be one of image/jpeg, image/png, image/gif, image/webp",
        ),
        ({"messages": {"role": "user"}}, "messages: must be a list"),
        (
            {"messages": [{"role": "robot", "content": "x"}]},
            "messages[0].role: must be one of user, assistant, system",
        ),
        (
            {"messages": [{"role": "user", "content": 3}]},
            "messages[0].content: must be a string or a list of blocks",
        ),
        (
            {
                "messages": [
                    {
                        "role": "assistant",
                        "content": [{"type": "tool_use", "id": "t", "name": "f", "input": "{}"}],
                    }
                ]
            },
            "messages[0].content[0].input: must be an object",
        ),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [{"type": "tool_result", "tool_use_id": 7}],
                    }
                ]
            },
            "messages[0].content[0].tool_use_id: must be a string",
        ),
        (
            {"messages": [{"role": "user", "content": [{"text": "x"}]}]},
            "messages[0].content[0].type: must be a string",
        ),
        ({"system": [{"type": "image"}]}, "system[0]: must be a text block"),
        ({"tools": [{"name": "f"}]}, "tools[0].input_schema: must be an object"),
        (
            {"tool_choice": {"type": "sometimes"}},
            "tool_choice.type: must be one of auto, any, tool, none",
        ),
        (
            {"thinking": {"type": "enabled"}},
            "thinking.budget_tokens: must be an integer",
        ),
        ({"max_tokens": "many"}, "max_tokens: must be an integer"),
        ({"temperature": "hot"}, "temperature: must be a number"),
        ({"model": None}, "body.model: must be a string"),
    ],
)
def test_malformed_requests_name_the_json_path(patch: dict[str, Any], message: str) -> None:
    body = {
        "model": "m",
        "max_tokens": 5,
        "messages": [{"role": "user", "content": "hi"}],
        **patch,
    }
    with pytest.raises(ValueError) as info:
        A.decode_request(body)
    assert str(info.value) == message


# ================================================================ encode_request: Anthropic clients


def test_unchanged_anthropic_request_passes_through() -> None:
    body = {**claude_code(), "detour": {"chain": "x"}}
    out = A.encode_request(A.decode_request(body), "claude-sonnet-5")
    expected = {k: v for k, v in body.items() if k != "detour"}
    assert out == {**expected, "model": "claude-sonnet-5"}


def test_claude_code_request_reencodes_structurally_equal() -> None:
    body = claude_code()
    req = A.decode_request(copy.deepcopy(body))
    req.messages = list(req.messages)  # a changed list forces the structural encoder
    out = A.encode_request(req, body["model"])
    assert out == body
    CREATE_PARAMS.validate_python(out)


def test_changed_anthropic_request_is_rebuilt() -> None:
    req = A.decode_request(claude_code())
    req.messages[1].content[1].text = "Only list the files."
    req.tools = req.tools[:2]
    out = A.encode_request(req, "m")
    assert out["messages"][0]["content"][1] == {
        "type": "text",
        "text": "Only list the files.",
        "cache_control": {"type": "ephemeral"},
    }
    assert [t["name"] for t in out["tools"]] == ["Task", "Bash"]
    assert out["messages"][1] == {
        "role": "system",
        "content": "The user has switched to plan mode.",
    }  # in-line kept
    assert out["thinking"] == {"type": "adaptive"} and out["output_config"] == {"effort": "high"}


def test_server_tools_return_to_their_place() -> None:
    body = {
        "model": "m",
        "max_tokens": 9,
        "messages": [{"role": "user", "content": "q"}],
        "tools": [
            {"type": "web_search_20250305", "name": "web_search", "max_uses": 2},
            {"name": "f", "input_schema": {"type": "object"}},
        ],
    }
    req = A.decode_request(body)
    req.max_tokens = 10
    assert A.encode_request(req, "m")["tools"] == body["tools"]


# ================================================================ encode_request: other clients


def neutral_agent_request() -> Request:
    return Request(
        model="gpt-x",
        messages=[
            Message("system", [TextPart("Be brief.")]),
            Message(
                "user",
                [
                    TextPart("Look at this"),
                    ImagePart(url="data:image/jpeg;base64,/9j/AA"),
                    ImagePart(url="https://h/i.png", detail="high"),
                ],
            ),
            Message(
                "assistant",
                [
                    ThinkingPart("unsigned reasoning"),
                    TextPart(""),
                    ToolCallPart("call_abc", "f", '{"a":1}'),
                    ToolCallPart("call.2", "g", "not json"),
                ],
            ),
            Message("tool", [ToolResultPart("call_abc", [TextPart("r1")])]),
            Message(
                "tool",
                [
                    ToolResultPart(
                        "call.2",
                        [
                            TextPart("bad"),
                            ImagePart(data="iVBO", media_type="image/png"),
                        ],
                        is_error=True,
                    )
                ],
            ),
            Message("user", [TextPart("and?")]),
            Message("system", [TextPart("Late instruction.")]),
            Message("user", [TextPart("well?")]),
        ],
        tools=[
            Tool(
                "f",
                "does f",
                {"type": "object", "properties": {"a": {"type": "integer"}}},
            ),
            Tool("g", provider_details={"strict": True}),
        ],
        tool_choice=ToolChoice("required", parallel=False),
        max_tokens=1000,
        temperature=0.2,
        stop=["END"],
        reasoning_effort="high",
        user="u-1",
        seed=7,
        extra={"logprobs": True},
    )


def test_encodes_an_openai_shaped_request() -> None:
    out = A.encode_request(neutral_agent_request(), "claude-x")
    CREATE_PARAMS.validate_python({**out, "stream": True})
    assert out["system"] == [
        {"type": "text", "text": "Be brief."},
        {"type": "text", "text": "Late instruction."},
    ]
    user, assistant, results = out["messages"]
    assert user["content"][1] == {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/jpeg", "data": "/9j/AA"},
    }
    assert user["content"][2] == {
        "type": "image",
        "source": {"type": "url", "url": "https://h/i.png"},
    }
    assert assistant["content"] == [
        {"type": "tool_use", "id": "call_abc", "name": "f", "input": {"a": 1}},
        {
            "type": "tool_use",
            "id": "call_2",
            "name": "g",
            "input": {"_raw": "not json"},
        },
    ]
    assert results["content"] == [
        {"type": "tool_result", "tool_use_id": "call_abc", "content": "r1"},
        {
            "type": "tool_result",
            "tool_use_id": "call_2",
            "is_error": True,
            "content": [
                {"type": "text", "text": "bad"},
                {
                    "type": "image",
                    "source": {
                        "type": "base64",
                        "media_type": "image/png",
                        "data": "iVBO",
                    },
                },
            ],
        },
        {"type": "text", "text": "and?"},
        {"type": "text", "text": "well?"},
    ]
    assert out["thinking"] == {"type": "enabled", "budget_tokens": 16384}
    assert out["max_tokens"] == 1000 + 16384 and "temperature" not in out
    assert out["tool_choice"] == {"type": "any", "disable_parallel_tool_use": True}
    assert out["tools"][1] == {
        "name": "g",
        "input_schema": {"type": "object", "properties": {}},
        "strict": True,
    }
    assert out["metadata"] == {"user_id": "u-1"} and out["stop_sequences"] == ["END"]
    assert "logprobs" not in out and "seed" not in out and "output_config" not in out


@pytest.mark.parametrize(
    ("fields", "thinking", "max_tokens"),
    [
        (
            {"reasoning_effort": "minimal"},
            {"type": "enabled", "budget_tokens": 1024},
            4096,
        ),
        (
            {"reasoning_effort": "low", "max_tokens": 500},
            {"type": "enabled", "budget_tokens": 2048},
            2548,
        ),
        (
            {"reasoning_effort": "medium"},
            {"type": "enabled", "budget_tokens": 8192},
            4096 + 8192,
        ),
        (
            {"reasoning_effort": "xhigh", "max_tokens": 64000},
            {"type": "enabled", "budget_tokens": 32000},
            64000,
        ),
        (
            {"reasoning_effort": "max"},
            {"type": "enabled", "budget_tokens": 32000},
            4096 + 32000,
        ),
        ({"reasoning_effort": "none"}, {"type": "disabled"}, 4096),
        ({"thinking_budget": 100}, {"type": "enabled", "budget_tokens": 1024}, 4096),
        ({"thinking": "adaptive"}, {"type": "adaptive"}, 4096),
        ({}, None, 4096),
    ],
)
def test_reasoning_effort_bridge(fields: dict[str, Any], thinking: dict[str, Any] | None, max_tokens: int) -> None:
    req = Request("m", [Message("user", [TextPart("hi")])], temperature=1, **fields)
    out = A.encode_request(req, "claude")
    assert out.get("thinking") == thinking and out["max_tokens"] == max_tokens
    assert out["temperature"] == 1  # 1 is the one temperature thinking allows


def test_default_max_tokens_and_first_turn_is_user() -> None:
    req = Request(
        "m",
        [
            Message("assistant", [TextPart("prefilled")]),
            Message("assistant", [TextPart("more")]),
        ],
    )
    out = A.encode_request(req, "claude", default_max_tokens=128000)
    assert out["max_tokens"] == 128000
    assert out["messages"] == [
        {"role": "user", "content": "."},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "prefilled"},
                {"type": "text", "text": "more"},
            ],
        },
    ]


def test_response_format_becomes_an_instruction_or_output_config() -> None:
    schema = {"type": "object", "properties": {"x": {"type": "integer"}}}
    req = Request("m", [Message("system", [TextPart("S")]), Message("user", [TextPart("q")])])
    req.response_format = ResponseFormat("json_schema", schema, "x")
    out = A.encode_request(req, "claude")
    assert (
        out["system"][0] == {"type": "text", "text": "S"}
        and json.dumps(schema, separators=(",", ":")) in out["system"][1]["text"]
    )
    anthropic_req = A.decode_request({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "q"}]})
    anthropic_req.response_format = ResponseFormat("json_schema", schema)
    out = A.encode_request(anthropic_req, "claude")
    assert out["output_config"] == {"format": {"type": "json_schema", "schema": schema}} and "system" not in out


def test_request_headers_carry_beta() -> None:
    req = A.decode_request({"model": "m", "messages": []}, {"anthropic-beta": "a,b"})
    assert A.request_headers(req) == {"anthropic-beta": "a,b"}
    assert A.request_headers(Request("m")) == {}


# ================================================================ responses


def test_decode_response_maps_blocks_usage_and_stop() -> None:
    body = fixture("message_tool_use.json")
    SDKMessage.model_validate(body)
    resp = A.decode_response(body)
    assert resp.finish_reason == "tool_calls"
    assert [type(p).__name__ for p in resp.content] == [
        "ThinkingPart",
        "TextPart",
        "ToolCallPart",
    ]
    assert resp.content[2] == ToolCallPart("toolu_01", "get_weather", '{"city":"Oslo"}')
    assert resp.usage == Usage(
        input_tokens=10 + 100 + 2000,
        output_tokens=42,
        cached_tokens=2000,
        cache_write_tokens=100,
        reasoning_tokens=30,
    )
    back = A.encode_response(resp, body["model"])
    SDKMessage.model_validate(back)
    assert back["content"] == body["content"] and back["usage"] == body["usage"]
    assert back["id"].startswith("msg_") and back["id"] != body["id"]  # a fresh id per answer, never the upstream's


@pytest.mark.parametrize(
    ("stop", "finish", "details"),
    [
        ("end_turn", "stop", {}),
        ("stop_sequence", "stop", {"stop_sequence": "END"}),
        ("max_tokens", "length", {}),
        (
            "model_context_window_exceeded",
            "length",
            {"stop_reason": "model_context_window_exceeded"},
        ),
        ("tool_use", "tool_calls", {}),
        ("pause_turn", "stop", {"stop_reason": "pause_turn"}),
        (
            "refusal",
            "content_filter",
            {
                "stop_details": {
                    "type": "refusal",
                    "category": "cyber",
                    "explanation": "no",
                }
            },
        ),
    ],
)
def test_stop_reasons_round_trip(stop: str, finish: str, details: dict[str, Any]) -> None:
    body = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "m",
        "content": [{"type": "text", "text": "x"}],
        "stop_reason": stop,
        "stop_sequence": details.get("stop_sequence"),
        "usage": {"input_tokens": 1, "output_tokens": 1},
    }
    body |= {"stop_details": details["stop_details"]} if "stop_details" in details else {}
    resp = A.decode_response(body)
    assert (resp.finish_reason, resp.provider_details) == (finish, details)
    back = A.encode_response(resp, "m")
    assert (back["stop_reason"], back["stop_sequence"], back.get("stop_details")) == (
        stop,
        body["stop_sequence"],
        body.get("stop_details"),
    )
    SDKMessage.model_validate(back)


def test_encode_response_from_another_provider() -> None:
    resp = NeutralResponse(
        "chatcmpl-9", "gpt-x",
        [ThinkingPart("unsigned"), TextPart("hi"), ToolCallPart("call_abc", "f", "{bad")],
        "tool_calls", Usage(input_tokens=50, output_tokens=7, cached_tokens=20),
    )  # fmt: skip
    body = A.encode_response(resp, "claude-alias")
    SDKMessage.model_validate(body)
    assert body["id"].startswith("msg_") and "chatcmpl" not in body["id"] and body["model"] == "claude-alias"
    assert body["content"][0] == {
        "type": "thinking",
        "thinking": "unsigned",
        "signature": "",
    }
    assert body["content"][2] == {
        "type": "tool_use",
        "id": "call_abc",
        "name": "f",
        "input": {"_raw": "{bad"},
    }
    assert body["usage"] == {
        "input_tokens": 30,
        "output_tokens": 7,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 20,
    }


# ================================================================ StreamDecoder

WIRE_STREAM = (FIXTURES / "stream_thinking_tool.sse").read_bytes()


def decode_all(chunks: list[bytes]) -> tuple[list[Any], A.StreamDecoder]:
    decoder = A.StreamDecoder()
    events = [e for c in chunks for e in decoder.feed(c)] + decoder.close()
    return events, decoder


def test_stream_decoder_reads_the_documented_stream() -> None:
    events, decoder = decode_all([WIRE_STREAM])
    assert decoder.done and not any(isinstance(e, ErrorEvent) for e in events)
    assert decoder.data_events == 11  # the two pings do not count
    acc = Accumulator()
    for e in events:
        acc.add(e)
    resp = acc.response()
    assert resp.content == [
        ThinkingPart("Let me see", "sig1"),
        ToolCallPart("toolu_1", "get_weather", '{"city":"Oslo"}'),
    ]
    assert resp.finish_reason == "tool_calls" and (resp.id, resp.model) == (
        "msg_1",
        "m",
    )
    assert resp.usage == Usage(input_tokens=10 + 5, output_tokens=42, cached_tokens=5)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=len(WIRE_STREAM)), max_size=10))
def test_stream_decoder_is_chunking_independent(cuts: list[int]) -> None:
    bounds = [0, *sorted(cuts), len(WIRE_STREAM)]
    events, _ = decode_all([WIRE_STREAM[a:b] for a, b in itertools.pairwise(bounds)])
    assert events == decode_all([WIRE_STREAM])[0]


def test_stream_decoder_error_event() -> None:
    stream = b'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_1","model":"m","usage":{"input_tokens":1,"output_tokens":0}}}\n\n'
    stream += b'event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}\n\n'
    events, decoder = decode_all([stream])
    errors = [e for e in events if isinstance(e, ErrorEvent)]
    assert len(errors) == 1 and errors[0].failure.kind == "overloaded" and not decoder.done


@pytest.mark.parametrize(
    ("stream", "kind", "fragment"),
    [
        (b"event: message_start\ndata: {not json\n\n", "stream_broken", "malformed"),
        (
            b'event: message_start\ndata: {"type":"message_start","message":{"id":"m","model":"m"}}\n\n',
            "stream_broken",
            "before message_stop",
        ),
    ],
)
def test_stream_decoder_broken_streams(stream: bytes, kind: str, fragment: str) -> None:
    events, _ = decode_all([stream])
    errors = [e for e in events if isinstance(e, ErrorEvent)]
    assert len(errors) == 1 and errors[0].failure.kind == kind and fragment in errors[0].failure.message


def test_stream_decoder_ignores_unknown_events_and_blocks() -> None:
    stream = b'event: message_start\ndata: {"type":"message_start","message":{"id":"x","model":"m","usage":{"input_tokens":1,"output_tokens":0}}}\n\n'
    stream += b'event: shiny_new\ndata: {"type":"shiny_new"}\n\n'
    stream += b'event: content_block_start\ndata: {"type":"content_block_start","index":0,"content_block":{"type":"server_tool_use","id":"s","name":"web_search","input":{}}}\n\n'
    stream += b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"{}"}}\n\n'
    stream += b'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n'
    stream += b'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":3}}\n\n'
    stream += b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
    events, decoder = decode_all([stream])
    assert decoder.done and [e.kind for e in events] == [
        "start",
        "usage",
        "usage",
        "finish",
    ]


# ================================================================ StreamEncoder


def sample_events() -> list[Any]:
    return [
        Start("up-1", "gpt-x"),
        UsageEvent(Usage(input_tokens=30, output_tokens=0, cached_tokens=10)),
        ThinkingDelta(0, "Hmm"), ThinkingDelta(0, " ok"), ThinkingDelta(0, signature="sig"),
        ThinkingDelta(1, redacted_data="RED"),
        TextDelta(2, "Hel"), TextDelta(2, "lo"),
        ToolCallStart(3, "call_abc", "f"), ToolCallDelta(3, '{"a":'), ToolCallDelta(3, "1}"), ToolCallEnd(3),
        ToolCallStart(5, "call_def", "g"), ToolCallEnd(5),
        UsageEvent(Usage(input_tokens=30, output_tokens=12, cached_tokens=10, reasoning_tokens=4)),
        Finish("tool_calls"),
    ]  # fmt: skip


def encode_events(events: list[Any], model: str = "claude-alias") -> bytes:
    encoder = A.StreamEncoder(model)
    return b"".join(encoder.encode(e) for e in events)


def test_stream_encoder_events_validate_and_are_ordered() -> None:
    messages = SSEParser().feed(encode_events(sample_events()))
    payloads = [json.loads(m.data) for m in messages]
    assert all(m.event == p["type"] for m, p in zip(messages, payloads))
    for payload in payloads:
        STREAM_EVENT.validate_python(payload)
    starts = [p["index"] for p in payloads if p["type"] == "content_block_start"]
    stops = [p["index"] for p in payloads if p["type"] == "content_block_stop"]
    assert starts == stops == [0, 1, 2, 3, 4]
    assert payloads[0]["message"]["usage"]["input_tokens"] == 20 and payloads[-1] == {"type": "message_stop"}


def test_sdk_stream_accumulates_the_encoded_stream(server: type[_Handler]) -> None:
    server.reply = (200, "text/event-stream", encode_events(sample_events()))
    with sdk(server).messages.stream(model="m", max_tokens=5, messages=[{"role": "user", "content": "x"}]) as stream:
        message = stream.get_final_message()
    assert message.id.startswith("msg_") and message.id != "msg_up-1"
    assert message.model == "claude-alias" and message.stop_reason == "tool_use"
    dumped = [b.model_dump(exclude_none=True) for b in message.content]
    assert dumped == [
        {"type": "thinking", "thinking": "Hmm ok", "signature": "sig"},
        {"type": "redacted_thinking", "data": "RED"},
        {"type": "text", "text": "Hello"},
        {"type": "tool_use", "id": "call_abc", "name": "f", "input": {"a": 1}},
        {"type": "tool_use", "id": "call_def", "name": "g", "input": {}},
    ]
    usage = message.usage
    assert (usage.input_tokens, usage.cache_read_input_tokens, usage.output_tokens) == (
        20,
        10,
        12,
    )


def test_sdk_raw_stream_and_decoder_agree(server: type[_Handler]) -> None:
    wire = encode_events(sample_events())
    server.reply = (200, "text/event-stream", wire)
    raw = list(
        sdk(server).messages.create(
            model="m",
            max_tokens=5,
            messages=[{"role": "user", "content": "x"}],
            stream=True,
        )
    )
    assert [e.type for e in raw][:2] == [
        "message_start",
        "content_block_start",
    ] and raw[-1].type == "message_stop"
    events, decoder = decode_all([wire])
    acc = Accumulator()
    for e in events:
        acc.add(e)
    assert decoder.done and acc.response().content[2:4] == [
        TextPart("Hello"),
        ToolCallPart("call_abc", "f", '{"a":1}'),
    ]


def test_stream_encoder_error_ends_the_stream(server: type[_Handler]) -> None:
    encoder = A.StreamEncoder("m")
    wire = encoder.encode(Start("x", "m")) + encoder.encode(TextDelta(0, "part"))
    wire += encoder.encode(ErrorEvent(Failure("overloaded", "Overloaded")))
    assert encoder.encode(Finish("stop")) == b"" and encoder.error(Failure("timeout")) == b""
    messages = SSEParser().feed(wire)
    assert messages[-1].event == "error" and "message_stop" not in [m.event for m in messages]
    assert json.loads(messages[-1].data) == {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "Overloaded"},
    }
    server.reply = (200, "text/event-stream", wire)
    with pytest.raises(anthropic.APIStatusError) as info:
        list(
            sdk(server).messages.create(
                model="m",
                max_tokens=5,
                messages=[{"role": "user", "content": "x"}],
                stream=True,
            )
        )
    assert info.value.body["error"]["type"] == "overloaded_error"  # type: ignore[index]


def test_stream_encoder_without_start_or_usage_still_valid() -> None:
    payloads = [json.loads(m.data) for m in SSEParser().feed(encode_events([TextDelta(4, "x"), Finish("length")]))]
    for payload in payloads:
        STREAM_EVENT.validate_python(payload)
    assert payloads[1]["index"] == 0 and payloads[-2]["delta"]["stop_reason"] == "max_tokens"


def test_anthropic_stream_round_trips_through_neutral_events() -> None:
    events, _ = decode_all([WIRE_STREAM])
    again, decoder = decode_all([encode_events(events, "m")])
    assert decoder.done
    strip = [e for e in again if not isinstance(e, UsageEvent)]
    assert isinstance(strip[0], Start) and strip[0].id != events[0].id  # the encoder mints its own message id
    strip[0] = events[0]
    assert strip == [e for e in events if not isinstance(e, UsageEvent)]


@given(
    st.lists(st.sampled_from(["text", "thinking", "tool"]), max_size=6),
    st.sampled_from(["stop", "length", "tool_calls"]),
)
def test_response_events_through_the_stream_codec_rebuild_the_response(kinds: list[str], finish: str) -> None:
    parts: list[Any] = []
    for i, kind in enumerate(kinds):
        parts.append(
            {
                "text": TextPart(f"t{i}"),
                "thinking": ThinkingPart(f"r{i}", f"s{i}"),
                "tool": ToolCallPart(f"call_{i}", "f", f'{{"i":{i}}}'),
            }[kind]
        )
    resp = NeutralResponse("msg_x", "m", parts, finish, Usage(5, 6, 1, 2, 0))  # type: ignore[arg-type]
    events, decoder = decode_all([encode_events(response_events(resp), "m")])
    acc = Accumulator()
    for e in events:
        acc.add(e)
    rebuilt = acc.response()
    assert rebuilt.id.startswith("msg_") and rebuilt.id != resp.id  # a fresh message id per answer
    rebuilt.id = resp.id
    assert decoder.done and rebuilt == resp


# ================================================================ errors

ERROR_CASES = [
    (
        Failure("rate_limited", "slow down"),
        429,
        "rate_limit_error",
        anthropic.RateLimitError,
    ),
    (
        Failure("quota_exhausted", "no credit"),
        429,
        "rate_limit_error",
        anthropic.RateLimitError,
    ),
    (
        Failure("overloaded", "Overloaded"),
        529,
        "overloaded_error",
        anthropic.OverloadedError,
    ),
    (
        Failure("auth_failed", "bad key"),
        401,
        "authentication_error",
        anthropic.AuthenticationError,
    ),
    (
        Failure("auth_failed", "no access", status=403),
        403,
        "permission_error",
        anthropic.PermissionDeniedError,
    ),
    (Failure("not_found", "model: x"), 404, "not_found_error", anthropic.NotFoundError),
    (
        Failure("bad_request", "bad"),
        400,
        "invalid_request_error",
        anthropic.BadRequestError,
    ),
    (
        Failure("context_too_long", "prompt is too long"),
        400,
        "invalid_request_error",
        anthropic.BadRequestError,
    ),
    (
        Failure("content_blocked", "blocked"),
        400,
        "invalid_request_error",
        anthropic.BadRequestError,
    ),
    (Failure("timeout", "slow"), 504, "timeout_error", anthropic.InternalServerError),
    (Failure("server_error", "boom"), 500, "api_error", anthropic.InternalServerError),
    (Failure("unreachable", "down"), 502, "api_error", anthropic.InternalServerError),
    (429, 429, "rate_limit_error", anthropic.RateLimitError),
    (529, 529, "overloaded_error", anthropic.OverloadedError),
]


@pytest.mark.parametrize(("failure", "status", "kind", "exc"), ERROR_CASES)
def test_encode_error_raises_the_right_sdk_exception(
    server: type[_Handler], failure: Any, status: int, kind: str, exc: type
) -> None:
    code, body = A.encode_error(failure)
    assert (code, body["type"], body["error"]["type"]) == (status, "error", kind)
    server.reply = (code, "application/json", json.dumps(body).encode())
    with pytest.raises(exc) as info:
        sdk(server).messages.create(model="m", max_tokens=5, messages=[{"role": "user", "content": "x"}])
    assert info.value.status_code == status and info.value.body == body  # type: ignore[attr-defined]


def test_encode_error_message_override() -> None:
    assert A.encode_error(Failure("rate_limited", "x"), "custom")[1]["error"]["message"] == "custom"


def test_sdk_sends_what_encode_request_built(server: type[_Handler]) -> None:
    body = A.encode_request(neutral_agent_request(), "claude-x")
    server.reply = (
        200,
        "application/json",
        json.dumps(fixture("message_tool_use.json")).encode(),
    )
    server.seen.clear()
    params = {k: v for k, v in body.items()}
    message = sdk(server).messages.create(**params)
    assert server.seen[-1] == body and message.stop_reason == "tool_use"


@pytest.mark.parametrize(
    ("kind", "message", "expected"),
    [
        ("overloaded_error", "Overloaded", "overloaded"),
        ("rate_limit_error", "slow", "rate_limited"),
        ("api_error", "boom", "server_error"),
        ("timeout_error", "slow", "timeout"),
        ("invalid_request_error", "prompt is too long: 5 > 3", "context_too_long"),
        ("authentication_error", "key", "auth_failed"),
        ("billing_error", "pay", "quota_exhausted"),
    ],
)
def test_stream_errors_classify_by_error_type(kind: str, message: str, expected: str) -> None:
    from detour.protocol.anthropic_stream import stream_failure

    payload = {"type": "error", "error": {"type": kind, "message": message}}
    assert stream_failure(payload).kind == expected
