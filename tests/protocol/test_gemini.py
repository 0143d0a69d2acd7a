"""The Gemini codec, checked against the official google-genai SDK (its pydantic types and its HTTP client)."""

from __future__ import annotations

import base64
import dataclasses
import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from detour.protocol import gemini
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

FIXTURES = Path(__file__).parent / "fixtures" / "gemini"
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\nfake").decode()


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


# ---------------------------------------------------------------- loopback server for the real SDK


class Loopback:
    """A tiny Gemini stand-in: records what the SDK sends, answers with whatever the test set."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.status = 200
        self.body: bytes = b"{}"
        self.content_type = "application/json"
        self.port = 0

    def reply(self, body: dict[str, Any] | list[Any] | bytes, status: int = 200, sse: bool = False) -> None:
        self.body = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.status = status
        self.content_type = "text/event-stream" if sse else "application/json"

    def client(self) -> genai.Client:
        options = types.HttpOptions(base_url=f"http://127.0.0.1:{self.port}", api_version="v1beta")
        self._client = genai.Client(api_key="x", http_options=options)  # a dropped Client closes its transport
        return self._client


@pytest.fixture
def loopback() -> Iterator[Loopback]:
    state = Loopback()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            state.requests.append({"path": self.path, "body": json.loads(self.rfile.read(length) or b"{}")})
            self.send_response(state.status)
            self.send_header("content-type", state.content_type)
            self.send_header("content-length", str(len(state.body)))
            self.end_headers()
            self.wfile.write(state.body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


def sdk_request_body(loopback: Loopback, contents: Any, config: types.GenerateContentConfig) -> dict[str, Any]:
    loopback.reply(gemini.encode_response(Response("r1", "gemini-x", [TextPart("ok")]), "gemini-x"))
    loopback.client().models.generate_content(model="gemini-x", contents=contents, config=config)
    assert loopback.requests[-1]["path"] == "/v1beta" + gemini.request_path("gemini-x", False)
    return loopback.requests[-1]["body"]


def camel_keys(value: Any) -> Any:
    if isinstance(value, list):
        return [camel_keys(v) for v in value]
    if isinstance(value, dict):
        return {re.sub(r"_([a-z])", lambda m: m.group(1).upper(), k): camel_keys(v) for k, v in value.items()}
    return value


def validate_request(body: dict[str, Any]) -> None:
    """Every piece of an encoded request must parse as the SDK's own (extra='forbid') types."""
    for content in body["contents"]:
        types.Content.model_validate(content)
    if "systemInstruction" in body:
        types.Content.model_validate(body["systemInstruction"])
    for tool in body.get("tools", []):
        types.Tool.model_validate(tool)
    if "toolConfig" in body:
        types.ToolConfig.model_validate(body["toolConfig"])
    if "generationConfig" in body:
        types.GenerationConfig.model_validate(body["generationConfig"])


# ---------------------------------------------------------------- decode_request


def test_decode_request_from_what_the_sdk_sends(loopback: Loopback) -> None:
    contents = [
        types.Content(
            role="user",
            parts=[types.Part(text="Weather in Paris?"), types.Part.from_bytes(data=b"img", mime_type="image/png")],
        ),
        types.Content(
            role="model",
            parts=[
                types.Part(
                    function_call=types.FunctionCall(name="get_weather", args={"city": "Paris"}),
                    thought_signature=b"sig-1",
                )
            ],
        ),
        types.Content(
            role="user", parts=[types.Part.from_function_response(name="get_weather", response={"temp": 21})]
        ),
    ]
    config = types.GenerateContentConfig(
        system_instruction="Be brief.",
        tools=[
            types.Tool(
                function_declarations=[
                    types.FunctionDeclaration(
                        name="get_weather",
                        description="Weather",
                        parameters_json_schema={"type": "object", "properties": {"city": {"type": "string"}}},
                    )
                ]
            )
        ],
        tool_config=types.ToolConfig(
            function_calling_config=types.FunctionCallingConfig(mode="ANY", allowed_function_names=["get_weather"])
        ),
        max_output_tokens=300,
        temperature=0.2,
        top_p=0.9,
        stop_sequences=["END"],
        seed=7,
        response_mime_type="application/json",
        response_json_schema={"type": "object"},
        thinking_config=types.ThinkingConfig(thinking_budget=1024, include_thoughts=True),
        safety_settings=[types.SafetySetting(category="HARM_CATEGORY_HARASSMENT", threshold="BLOCK_NONE")],
    )
    body = sdk_request_body(loopback, contents, config)
    req = gemini.decode_request(body, model="gemini-x", stream=False)

    assert req.model == "gemini-x" and req.system_text() == "Be brief."
    assert [m.role for m in req.messages] == ["system", "user", "assistant", "tool"]
    assert req.messages[1].content == [
        TextPart("Weather in Paris?"),
        ImagePart(data=base64.b64encode(b"img").decode(), media_type="image/png"),
    ]
    sig = base64.b64encode(b"sig-1").decode()
    assert req.messages[2].content == [
        ThinkingPart("", sig),
        ToolCallPart("call_get_weather_0", "get_weather", '{"city":"Paris"}'),
    ]
    assert req.messages[3].content == [
        ToolResultPart("call_get_weather_0", [TextPart('{"temp":21}')], name="get_weather")
    ]
    assert req.tools == [Tool("get_weather", "Weather", {"type": "object", "properties": {"city": {"type": "string"}}})]
    assert req.tool_choice == ToolChoice("tool", "get_weather")
    assert (req.max_tokens, req.temperature, req.top_p, req.stop, req.seed) == (300, 0.2, 0.9, ["END"], 7)
    assert req.response_format == ResponseFormat("json_schema", {"type": "object"})
    assert req.thinking_budget == 1024
    assert req.extra["safetySettings"] == [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}]


def test_decode_request_accepts_the_snake_case_the_sdk_sends_inside_nested_objects(loopback: Loopback) -> None:
    contents = [types.Content(role="user", parts=[types.Part.from_bytes(data=b"%PDF", mime_type="application/pdf")])]
    config = types.GenerateContentConfig(
        thinking_config=types.ThinkingConfig(thinking_level="LOW", include_thoughts=False)
    )
    body = sdk_request_body(loopback, contents, config)
    assert "mime_type" in json.dumps(body)  # the SDK really does send proto field names here
    req = gemini.decode_request(body)
    assert req.messages[0].content == [DocumentPart(data=base64.b64encode(b"%PDF").decode())]
    assert req.reasoning_effort == "low"
    assert req.extra["generationConfig"] == {"thinkingConfig": {"includeThoughts": False}}


def test_decode_request_thoughts_files_and_openapi_schema() -> None:
    body = {
        "systemInstruction": {"parts": [{"text": "A"}, {"text": "B"}]},
        "contents": [
            {
                "role": "user",
                "parts": [
                    {"fileData": {"fileUri": "gs://b/cat.jpg", "mimeType": "image/jpeg"}},
                    {"inlineData": {"mimeType": "application/pdf", "data": "JVBERi0="}},
                    {"fileData": {"fileUri": "https://x.test/doc.pdf"}},
                ],
            },
            {
                "role": "model",
                "parts": [
                    {"text": "hmm", "thought": True, "thoughtSignature": "s1"},
                    {"functionCall": {"id": "fc-9", "name": "f", "args": {}}},
                    {"functionCall": {"name": "f", "args": {"a": [1, 2]}}},
                ],
            },
            {
                "role": "user",
                "parts": [
                    {"functionResponse": {"id": "fc-9", "name": "f", "response": {"result": "one"}}},
                    {"functionResponse": {"name": "f", "response": {"error": {"code": 3}}}},
                    {"text": "thanks"},
                ],
            },
        ],
        "tools": [
            {
                "functionDeclarations": [
                    {
                        "name": "f",
                        "parameters": {
                            "type": "OBJECT",
                            "properties": {"a": {"type": "ARRAY", "items": {"type": "INTEGER"}}},
                        },
                    }
                ]
            },
            {"googleSearch": {}},
        ],
        "toolConfig": {"functionCallingConfig": {"mode": "NONE"}},
        "generationConfig": {"topK": 3, "thinkingConfig": {"thinkingLevel": "HIGH", "includeThoughts": False}},
        "cachedContent": "cachedContents/abc",
    }
    req = gemini.decode_request(body, model="m", stream=True)
    assert req.stream and req.messages[0].content == [TextPart("A"), TextPart("B")]
    assert req.messages[1].content == [
        ImagePart(url="gs://b/cat.jpg", media_type="image/jpeg"),
        DocumentPart(data="JVBERi0="),
        DocumentPart(url="https://x.test/doc.pdf"),
    ]
    assert req.messages[2].content == [
        ThinkingPart("hmm", "s1", provider_details={"gemini": {"thought": True}}),
        ToolCallPart("fc-9", "f", "{}"),
        ToolCallPart("call_f_1", "f", '{"a":[1,2]}'),
    ]
    assert [m.role for m in req.messages[3:]] == ["tool", "tool", "user"]
    assert req.messages[3].content == [ToolResultPart("fc-9", [TextPart("one")], name="f")]
    assert req.messages[4].content == [ToolResultPart("call_f_1", [TextPart('{"code":3}')], is_error=True, name="f")]
    assert req.tools[0].parameters == {
        "type": "object",
        "properties": {"a": {"type": "array", "items": {"type": "integer"}}},
    }
    assert req.tool_choice == ToolChoice("none") and req.reasoning_effort == "high"
    assert req.extra == {
        "tools": [{"googleSearch": {}}],
        "generationConfig": {"topK": 3, "thinkingConfig": {"includeThoughts": False}},
        "cachedContent": "cachedContents/abc",
    }


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ([], "$"),
        ({"contents": {}}, "contents"),
        ({"contents": [{"role": "bot", "parts": []}]}, "contents[0].role"),
        ({"contents": [{"role": "user", "parts": [{"text": 3}]}]}, "contents[0].parts[0].text"),
        (
            {"contents": [{"role": "model", "parts": [{"functionCall": {"args": {}}}]}]},
            "contents[0].parts[0].functionCall.name",
        ),
        (
            {"contents": [{"role": "model", "parts": [{"functionCall": {"name": "f", "args": [1]}}]}]},
            "contents[0].parts[0].functionCall.args",
        ),
        (
            {"contents": [{"parts": [{"functionResponse": {"name": "f", "response": "x"}}]}]},
            "contents[0].parts[0].functionResponse.response",
        ),
        (
            {"contents": [{"parts": [{"inlineData": {"mimeType": "image/png"}}]}]},
            "contents[0].parts[0].inlineData.data",
        ),
        (
            {"contents": [], "tools": [{"functionDeclarations": [{"description": "d"}]}]},
            "tools[0].functionDeclarations[0].name",
        ),
        ({"contents": [], "generationConfig": {"maxOutputTokens": "10"}}, "generationConfig.maxOutputTokens"),
        (
            {"contents": [], "generationConfig": {"thinkingConfig": {"thinkingBudget": 1.5}}},
            "generationConfig.thinkingConfig.thinkingBudget",
        ),
        ({"contents": [], "systemInstruction": {"parts": [{"text": None}]}}, "systemInstruction.parts[0].text"),
    ],
)
def test_decode_request_rejects_malformed_input_naming_the_path(body: Any, path: str) -> None:
    with pytest.raises(ValueError, match="^" + re.escape(path) + ":"):
        gemini.decode_request(body)


# ---------------------------------------------------------------- encode_request


def conversation() -> Request:
    return Request(
        model="m",
        messages=[
            Message("system", [TextPart("Be brief.")]),
            Message("user", [TextPart("Paris weather?"), ImagePart(data=PNG, media_type="image/png")]),
            Message(
                "assistant", [ThinkingPart("", "c2lnLUE="), ToolCallPart("call_1", "get_weather", '{"city": "Paris"}')]
            ),
            Message(
                "tool", [ToolResultPart("call_1", [TextPart("sunny"), ImagePart(url="data:image/gif;base64,R0lG")])]
            ),
            Message("system", [TextPart("Answer in French.")]),
            Message("user", [TextPart("And now?")]),
        ],
        tools=[
            Tool(
                "get_weather",
                "w",
                {
                    "$schema": "https://json-schema.org/draft/2020-12/schema",
                    "type": "object",
                    "properties": {"city": {"type": "string"}},
                    "additionalProperties": False,
                    "strict": True,
                },
            )
        ],
        tool_choice=ToolChoice("required"),
        max_tokens=100,
        temperature=0.5,
        top_p=0.8,
        stop=["x"],
        seed=3,
        reasoning_effort="medium",
        response_format=ResponseFormat("json_schema", {"type": "object"}, name="n", strict=True),
    )


def test_encode_request_maps_a_whole_conversation() -> None:
    body = gemini.encode_request(conversation(), "m")
    validate_request(body)
    assert body["systemInstruction"] == {"parts": [{"text": "Be brief."}, {"text": "Answer in French."}]}
    assert body["contents"] == [
        {"role": "user", "parts": [{"text": "Paris weather?"}, {"inlineData": {"mimeType": "image/png", "data": PNG}}]},
        {
            "role": "model",
            "parts": [
                {
                    "functionCall": {"name": "get_weather", "args": {"city": "Paris"}, "id": "call_1"},
                    "thoughtSignature": "c2lnLUE=",
                }
            ],
        },
        {
            "role": "user",
            "parts": [
                {"functionResponse": {"name": "get_weather", "response": {"result": "sunny"}, "id": "call_1"}},
                {"inlineData": {"mimeType": "image/gif", "data": "R0lG"}},
                {"text": "And now?"},
            ],
        },
    ]
    assert body["tools"] == [
        {
            "functionDeclarations": [
                {
                    "name": "get_weather",
                    "description": "w",
                    "parametersJsonSchema": {
                        "type": "object",
                        "properties": {"city": {"type": "string"}},
                        "additionalProperties": False,
                    },
                }
            ]
        }
    ]
    assert body["toolConfig"] == {"functionCallingConfig": {"mode": "ANY"}}
    assert body["generationConfig"] == {
        "maxOutputTokens": 100,
        "temperature": 0.5,
        "topP": 0.8,
        "seed": 3,
        "stopSequences": ["x"],
        "responseMimeType": "application/json",
        "responseJsonSchema": {"type": "object"},
        "thinkingConfig": {"thinkingBudget": 8192, "includeThoughts": True},
    }


def test_encode_request_is_what_the_sdk_would_send(loopback: Loopback) -> None:
    """Our body for a tool conversation equals the SDK's own serialisation of the same content."""
    ours = gemini.encode_request(conversation(), "m")
    contents = [types.Content.model_validate(c) for c in ours["contents"]]
    config = types.GenerateContentConfig(
        system_instruction=types.Content.model_validate(ours["systemInstruction"]),
        tools=[types.Tool.model_validate(t) for t in ours["tools"]],
        tool_config=types.ToolConfig.model_validate(ours["toolConfig"]),
        **types.GenerationConfig.model_validate(ours["generationConfig"]).model_dump(exclude_none=True),
    )
    sent = sdk_request_body(loopback, contents, config)
    assert camel_keys(sent["contents"]) == ours["contents"]  # this conversation has no user data keys with "_"
    assert gemini.decode_request(sent) == gemini.decode_request(ours)
    assert camel_keys(sent["tools"]) == ours["tools"] and camel_keys(sent["toolConfig"]) == ours["toolConfig"]
    assert camel_keys(sent["generationConfig"]) == ours["generationConfig"]


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"reasoning_effort": "none"}, {"thinkingBudget": 0}),
        ({"reasoning_effort": "minimal"}, {"thinkingBudget": 512, "includeThoughts": True}),
        ({"reasoning_effort": "low"}, {"thinkingBudget": 2048, "includeThoughts": True}),
        ({"reasoning_effort": "high"}, {"thinkingBudget": 16384, "includeThoughts": True}),
        ({"reasoning_effort": "xhigh"}, {"thinkingBudget": 24576, "includeThoughts": True}),
        ({"reasoning_effort": "max"}, {"thinkingBudget": 24576, "includeThoughts": True}),
        ({"thinking_budget": 3000, "reasoning_effort": "low"}, {"thinkingBudget": 3000, "includeThoughts": True}),
        ({"thinking": "adaptive"}, {"thinkingBudget": -1, "includeThoughts": True}),
        ({"thinking": "disabled"}, {"thinkingBudget": 0}),
        ({}, None),
    ],
)
def test_encode_request_thinking_bridge(fields: dict[str, Any], expected: dict[str, Any] | None) -> None:
    body = gemini.encode_request(Request("m", [Message("user", [TextPart("hi")])], **fields), "m")
    assert body.get("generationConfig", {}).get("thinkingConfig") == expected


def test_encode_request_turn_shape_rules() -> None:
    req = Request(
        "m",
        [
            Message("assistant", [TextPart("Hello, how can I help?")]),
            Message(
                "assistant",
                [
                    ThinkingPart("I should call f", "anthropic-sig", provider_details={"anthropic": {}}),
                    ToolCallPart("t1", "f", "[1, 2]"),
                    ToolCallPart("t2", "g", "not json"),
                ],
            ),
            Message("tool", [ToolResultPart("t1", [TextPart('{"ok": true}')])]),
            Message("tool", [ToolResultPart("t2", [TextPart('{"result": 1}')], is_error=False)]),
            Message("tool", [ToolResultPart("t2", [TextPart("boom")], is_error=True, name="g")]),
            Message("user", [TextPart("")]),
        ],
    )
    body = gemini.encode_request(req, "m")
    validate_request(body)
    assert body["contents"][0] == {"role": "user", "parts": [{"text": gemini.PLACEHOLDER_USER_TEXT}]}
    model = body["contents"][1]
    assert model["role"] == "model" and model["parts"][0] == {"text": "Hello, how can I help?"}
    # no Gemini signature in this turn: the first call gets Google's documented validator-skip value
    assert model["parts"][1] == {
        "functionCall": {"name": "f", "args": {"value": [1, 2]}, "id": "t1"},
        "thoughtSignature": "skip_thought_signature_validator",
    }
    assert model["parts"][2] == {"functionCall": {"name": "g", "args": {"value": "not json"}, "id": "t2"}}
    assert body["contents"][2]["parts"] == [
        {"functionResponse": {"name": "f", "response": {"ok": True}, "id": "t1"}},
        {"functionResponse": {"name": "g", "response": {"result": '{"result": 1}'}, "id": "t2"}},
        {"functionResponse": {"name": "g", "response": {"error": "boom"}, "id": "t2"}},
    ]
    assert len(body["contents"]) == 3


def test_encode_request_signatures_ride_on_their_part_and_thought_text_is_not_sent() -> None:
    req = Request(
        "m",
        [
            Message("user", [TextPart("q")]),
            Message(
                "assistant",
                [
                    ThinkingPart("long thoughts", None),
                    TextPart("a"),
                    ThinkingPart("", "czI="),
                    TextPart("b"),
                    ThinkingPart("", "czM="),
                ],
            ),
            Message("user", [TextPart("q2")]),
        ],
    )
    parts = gemini.encode_request(req, "m")["contents"][1]["parts"]
    assert parts == [{"text": "a"}, {"text": "b", "thoughtSignature": "czI="}, {"text": "", "thoughtSignature": "czM="}]


@pytest.mark.parametrize(
    ("thought", "sent"),
    [
        (ThinkingPart("", "c2ln"), True),  # Gemini's own signature carrier
        (ThinkingPart("summary", "c2ln", provider_details={"gemini": {"thought": True}}), True),
        (ThinkingPart("claude reasoning", "RXFRQg=="), False),  # signed reasoning from another provider
        (ThinkingPart("", "RXFRQg==", provider_details={"anthropic": {"x": 1}}), False),
        (ThinkingPart(redacted_data="opaque"), False),
        (ThinkingPart("", "skip_thought_signature_validator"), False),
    ],
)
def test_encode_request_sends_only_gemini_signatures(thought: ThinkingPart, sent: bool) -> None:
    req = Request("m", [Message("user", [TextPart("q")]), Message("assistant", [thought, TextPart("a")])])
    part = gemini.encode_request(req, "m")["contents"][1]["parts"][0]
    assert part == ({"text": "a", "thoughtSignature": thought.signature} if sent else {"text": "a"})


def test_signed_thought_is_marked_only_when_not_streamed() -> None:
    body = {
        "candidates": [
            {"content": {"parts": [{"text": "t", "thought": True, "thoughtSignature": "c2ln"}]}, "finishReason": "STOP"}
        ]
    }
    assert gemini.decode_response(body).content == [
        ThinkingPart("t", "c2ln", provider_details={"gemini": {"thought": True}})
    ]
    decoder, acc = gemini.StreamDecoder(), Accumulator()
    for event in decoder.feed(b"data: " + json.dumps(body).encode() + b"\n\n"):
        acc.add(event)
    assert acc.response().content == [ThinkingPart("t", "c2ln")]  # events carry no provider_details


def test_encode_request_tool_result_name_is_required() -> None:
    req = Request("m", [Message("user", [TextPart("q")]), Message("tool", [ToolResultPart("nope", [TextPart("x")])])])
    with pytest.raises(ValueError, match=r"messages\[1\].*'nope'"):
        gemini.encode_request(req, "m")


def test_encode_request_image_urls_become_file_data() -> None:
    req = Request(
        "m",
        [
            Message(
                "user",
                [
                    ImagePart(url="https://x.test/a.png"),
                    ImagePart(url="https://x.test/b", media_type="image/webp"),
                    DocumentPart(url="gs://b/doc.pdf"),
                ],
            )
        ],
    )
    assert gemini.encode_request(req, "m")["contents"][0]["parts"] == [
        {"fileData": {"mimeType": "image/png", "fileUri": "https://x.test/a.png"}},
        {"fileData": {"mimeType": "image/webp", "fileUri": "https://x.test/b"}},
        {"fileData": {"mimeType": "application/pdf", "fileUri": "gs://b/doc.pdf"}},
    ]
    assert gemini.supports_image_urls() is False


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        (ToolChoice("auto"), {"mode": "AUTO"}),
        (ToolChoice("none"), {"mode": "NONE"}),
        (ToolChoice("tool", "f"), {"mode": "ANY", "allowedFunctionNames": ["f"]}),
    ],
)
def test_encode_request_tool_choice(choice: ToolChoice, expected: dict[str, Any]) -> None:
    body = gemini.encode_request(
        Request("m", [Message("user", [TextPart("q")])], tools=[Tool("f")], tool_choice=choice), "m"
    )
    assert body["toolConfig"] == {"functionCallingConfig": expected}
    assert gemini.decode_request(body).tool_choice == choice


def test_gemini_request_passes_through_unchanged_where_it_can() -> None:
    body = {
        "contents": [{"role": "user", "parts": [{"text": "hi"}]}],
        "safetySettings": [{"category": "HARM_CATEGORY_HATE_SPEECH", "threshold": "BLOCK_ONLY_HIGH"}],
        "generationConfig": {
            "topK": 4,
            "maxOutputTokens": 9,
            "thinkingConfig": {"thinkingBudget": 100, "includeThoughts": False},
        },
    }
    assert gemini.encode_request(gemini.decode_request(body), "m") == body


def test_request_path() -> None:
    assert gemini.request_path("gemini-2.5-pro", False) == "/models/gemini-2.5-pro:generateContent"
    assert gemini.request_path("gemini-2.5-pro", True) == "/models/gemini-2.5-pro:streamGenerateContent?alt=sse"


# ---------------------------------------------------------------- decode_response


@pytest.mark.parametrize("name", ["response_thinking.json", "response_tool_calls.json", "response_blocked.json"])
def test_fixtures_are_valid_sdk_responses(name: str) -> None:
    types.GenerateContentResponse.model_validate(fixture(name))


def test_decode_response_thinking_and_usage() -> None:
    resp = gemini.decode_response(fixture("response_thinking.json"))
    assert (resp.id, resp.model, resp.finish_reason) == ("resp-thinking-1", "gemini-2.5-flash", "stop")
    assert resp.content == [
        ThinkingPart("**Weighing the options**\nThe user wants a haiku."),
        ThinkingPart("", "CiQBc2lnbmF0dXJlLUH+/w=="),
        TextPart("Autumn moonlight -\na worm digs silently\ninto the chestnut."),
    ]
    assert resp.usage == Usage(input_tokens=12, output_tokens=247, cached_tokens=4, reasoning_tokens=230)


_MINTED = re.compile(r"^call_[0-9a-f]{24}$")


def positional(items: list[Any]) -> list[Any]:
    """Minted tool-call ids replaced by ``call_<n>`` in order of appearance, so equal content compares equal."""
    seen: dict[str, str] = {}
    out = []
    for item in items:
        if isinstance(item, (ToolCallPart, ToolCallStart)) and _MINTED.match(item.id):
            item = dataclasses.replace(item, id=seen.setdefault(item.id, f"call_{len(seen)}"))
        out.append(item)
    return out


def test_decode_response_tool_calls_get_ids() -> None:
    resp = gemini.decode_response(fixture("response_tool_calls.json"))
    assert resp.finish_reason == "tool_calls"
    assert positional(resp.content) == [
        ThinkingPart("", "CiQBZmlyc3QtY2FsbA=="),
        ToolCallPart("call_0", "get_weather", '{"city":"Paris","unit":"c"}'),
        ToolCallPart("call_1", "get_time", '{"tz":"Europe/Paris"}'),
    ]


def test_minted_tool_call_ids_are_unique_across_responses_and_streams() -> None:
    """Gemini omits functionCall.id: every turn's first call must still get a new id (a repeated call_0 made
    Claude Code discard results as interrupted and loop)."""
    ids = [c.id for _ in range(3) for c in gemini.decode_response(fixture("response_tool_calls.json")).tool_calls()]
    ids += [e.id for _ in range(3) for e in gemini.StreamDecoder().feed(STREAM) if isinstance(e, ToolCallStart)]
    assert len(ids) == 9 == len(set(ids)) and all(_MINTED.match(i) for i in ids)


def test_decode_response_prompt_blocked() -> None:
    resp = gemini.decode_response(fixture("response_blocked.json"))
    assert resp.finish_reason == "content_filter" and resp.content == []
    assert resp.provider_details == {
        "gemini": {"blockReason": "PROHIBITED_CONTENT", "blockReasonMessage": "The prompt was blocked."}
    }


@pytest.mark.parametrize(
    ("raw", "reason", "kept"),
    [
        ("STOP", "stop", False),
        ("MAX_TOKENS", "length", False),
        ("SAFETY", "content_filter", True),
        ("RECITATION", "content_filter", True),
        ("BLOCKLIST", "content_filter", True),
        ("PROHIBITED_CONTENT", "content_filter", True),
        ("SPII", "content_filter", True),
        ("IMAGE_SAFETY", "content_filter", True),
        ("LANGUAGE", "content_filter", True),
        ("MALFORMED_FUNCTION_CALL", "error", True),
        ("UNEXPECTED_TOOL_CALL", "error", True),
        ("TOO_MANY_TOOL_CALLS", "error", True),
        ("OTHER", "error", True),
        ("SOMETHING_NEW", "error", True),
    ],
)
def test_decode_response_finish_reasons(raw: str, reason: str, kept: bool) -> None:
    body = {"candidates": [{"content": {"role": "model", "parts": [{"text": "x"}]}, "finishReason": raw, "index": 0}]}
    resp = gemini.decode_response(body)
    assert resp.finish_reason == reason
    assert resp.provider_details == ({"gemini": {"finishReason": raw}} if kept else {})
    if kept:  # the raw reason survives re-encoding for a Gemini client
        assert gemini.encode_response(resp, "m")["candidates"][0]["finishReason"] == raw


def test_decode_response_folds_a_json_array_of_chunks() -> None:
    chunks = [json.loads(line[6:]) for line in (FIXTURES / "stream_tool.sse").read_text().splitlines() if line]
    resp = gemini.decode_response(chunks)
    assert resp.text() == "Let me check." and resp.finish_reason == "tool_calls"
    assert positional(resp.tool_calls()) == [ToolCallPart("call_0", "get_weather", '{"city":"Oslo"}')]


def test_decode_error_array_form_with_retry_info() -> None:
    failure = gemini.decode_error(429, fixture("error_429.json"))
    assert failure.status == 429 and failure.kind in ("rate_limited", "quota_exhausted")
    assert failure.retry_after_s == 53.0
    with pytest.raises(ValueError, match="error body"):
        gemini.decode_response(fixture("error_429.json"))


# ---------------------------------------------------------------- encode_response


def rich_response() -> Response:
    return Response(
        "resp-1",
        "gemini-2.5-flash",
        [
            ThinkingPart("thinking hard"),
            ThinkingPart("", "c2lnVA=="),
            TextPart("Checking."),
            ThinkingPart("", "c2lnQw=="),
            ToolCallPart("call_a", "get_weather", '{"city":"Oslo"}'),
            ToolCallPart("call_b", "get_time", "{}"),
        ],
        "tool_calls",
        Usage(input_tokens=10, output_tokens=30, cached_tokens=2, reasoning_tokens=20),
    )


def test_encode_response_is_a_valid_sdk_response_and_round_trips() -> None:
    resp = rich_response()
    body = gemini.encode_response(resp, "ignored")
    sdk = types.GenerateContentResponse.model_validate(body)
    assert sdk.function_calls[0].name == "get_weather" and sdk.usage_metadata.thoughts_token_count == 20
    back = gemini.decode_response(body)
    assert back == resp


def test_sdk_client_reads_encoded_response(loopback: Loopback) -> None:
    loopback.reply(gemini.encode_response(rich_response(), "m"))
    out = loopback.client().models.generate_content(model="gemini-2.5-flash", contents="hi")
    assert out.text == "Checking."
    assert [(c.id, c.name, c.args) for c in out.function_calls] == [
        ("call_a", "get_weather", {"city": "Oslo"}),
        ("call_b", "get_time", {}),
    ]
    assert out.candidates[0].finish_reason == types.FinishReason.STOP
    assert out.usage_metadata.prompt_token_count == 10 and out.usage_metadata.candidates_token_count == 10
    assert out.candidates[0].content.parts[0].thought is True


def test_encode_response_prompt_block_round_trips() -> None:
    resp = gemini.decode_response(fixture("response_blocked.json"))
    body = gemini.encode_response(resp, "m")
    assert "candidates" not in body and body["promptFeedback"]["blockReason"] == "PROHIBITED_CONTENT"
    types.GenerateContentResponse.model_validate(body)
    assert gemini.decode_response(body) == resp


# ---------------------------------------------------------------- StreamDecoder

STREAM = (FIXTURES / "stream_tool.sse").read_bytes()
STREAM_EVENTS = [
    Start("resp-stream-1", "gemini-2.5-flash"),
    ThinkingDelta(0, "Planning the answer."),
    TextDelta(1, "Let me "),
    TextDelta(1, "check."),
    UsageEvent(Usage(input_tokens=30)),
    ThinkingDelta(2, "", "CiQBc3RyZWFtLXNpZw=="),
    ToolCallStart(3, "call_0", "get_weather"),
    ToolCallDelta(3, '{"city":"Oslo"}'),
    ToolCallEnd(3),
    UsageEvent(Usage(input_tokens=30, output_tokens=64, reasoning_tokens=50)),
    Finish("tool_calls"),
]


def test_stream_fixture_chunks_are_valid_sdk_responses() -> None:
    for line in STREAM.decode().splitlines():
        if line:
            types.GenerateContentResponse.model_validate_json(line[6:])


def test_stream_decoder_events() -> None:
    decoder = gemini.StreamDecoder()
    events = decoder.feed(STREAM)
    assert positional(events) == STREAM_EVENTS
    assert decoder.done and decoder.data_events == 4
    assert decoder.close() == []


def test_stream_decoder_any_chunking_gives_the_same_events() -> None:
    decoder = gemini.StreamDecoder()
    events = [e for i in range(len(STREAM)) for e in decoder.feed(STREAM[i : i + 1])] + decoder.close()
    assert positional(events) == STREAM_EVENTS


def test_stream_decoder_accumulates_like_the_non_stream_decoder() -> None:
    acc = Accumulator()
    for event in STREAM_EVENTS:
        acc.add(event)
    chunks = [json.loads(line[6:]) for line in STREAM.decode().splitlines() if line]
    folded = gemini.decode_response(chunks)
    folded.content = positional(folded.content)
    assert acc.response() == folded


def test_stream_without_finish_is_broken() -> None:
    decoder = gemini.StreamDecoder()
    cut = STREAM.split(b"\n\n")[:2]
    events = decoder.feed(b"\n\n".join(cut) + b"\n\n")
    assert not decoder.done
    tail = decoder.close()
    assert len(tail) == 1 and isinstance(tail[0], ErrorEvent) and tail[0].failure.kind == "stream_broken"
    assert isinstance(events[-1], TextDelta)


@pytest.mark.parametrize(
    ("status", "kinds"),
    [
        ("RESOURCE_EXHAUSTED", {"rate_limited", "quota_exhausted"}),
        ("UNAVAILABLE", {"overloaded"}),
        ("INTERNAL", {"server_error"}),
        ("DEADLINE_EXCEEDED", {"timeout"}),
    ],
)
def test_stream_mid_stream_error(status: str, kinds: set[str]) -> None:
    code = {"RESOURCE_EXHAUSTED": 429, "UNAVAILABLE": 503, "INTERNAL": 500, "DEADLINE_EXCEEDED": 504}[status]
    decoder = gemini.StreamDecoder()
    first = STREAM.split(b"\n\n")[0] + b"\n\n"
    error = json.dumps({"error": {"code": code, "message": "boom", "status": status}}).encode()
    events = decoder.feed(first + b"data: " + error + b"\n\n" + first)
    assert isinstance(events[-1], ErrorEvent) and events[-1].failure.kind in kinds
    assert events[-1].failure.status == code
    assert decoder.done and decoder.close() == []


def test_stream_malformed_chunk() -> None:
    decoder = gemini.StreamDecoder()
    events = decoder.feed(b'data: {"candidates": [\n\n')
    assert (
        len(events) == 1
        and events[0].failure.kind == "stream_broken"
        and "malformed chunk" in events[0].failure.message
    )


def test_stream_prompt_blocked() -> None:
    decoder = gemini.StreamDecoder()
    events = decoder.feed(b'data: {"promptFeedback": {"blockReason": "SAFETY"}, "modelVersion": "g"}\n\n')
    assert events[-1] == Finish("content_filter", {"gemini": {"blockReason": "SAFETY"}})
    assert decoder.done


def test_stream_thought_signature_on_a_thought_stays_on_it() -> None:
    decoder = gemini.StreamDecoder()
    events = decoder.feed(
        b'data: {"candidates":[{"content":{"parts":[{"text":"a","thought":true}]}}]}\n\n'
        b'data: {"candidates":[{"content":{"parts":[{"text":"b","thought":true,"thoughtSignature":"S"}]}}]}\n\n'
        b'data: {"candidates":[{"content":{"parts":[{"text":"c","thought":true}]}}]}\n\n'
    )
    assert [e for e in events if isinstance(e, ThinkingDelta)] == [
        ThinkingDelta(0, "a"),
        ThinkingDelta(0, "b", "S"),
        ThinkingDelta(1, "c"),
    ]


# ---------------------------------------------------------------- StreamEncoder


def encode_stream(events: list[Any], model: str = "m") -> bytes:
    encoder = gemini.StreamEncoder(model)
    return b"".join(encoder.encode(e) for e in events)


def test_stream_encoder_round_trips_through_our_decoder() -> None:
    resp = rich_response()
    decoder = gemini.StreamDecoder()
    acc = Accumulator()
    for event in decoder.feed(encode_stream(response_events(resp))) + decoder.close():
        acc.add(event)
    assert acc.response() == resp


def test_stream_encoder_emits_tool_calls_whole() -> None:
    encoder = gemini.StreamEncoder("m")
    assert encoder.encode(ToolCallStart(0, "c1", "f")) == b""
    assert encoder.encode(ToolCallDelta(0, '{"a":')) == b""
    assert encoder.encode(ToolCallDelta(0, "1}")) == b""
    out = encoder.encode(ToolCallEnd(0))
    assert out.startswith(b"data: ") and out.endswith(b"\n\n")
    chunk = json.loads(out[6:])
    assert chunk["candidates"][0]["content"]["parts"] == [{"functionCall": {"name": "f", "args": {"a": 1}, "id": "c1"}}]


def test_stream_encoder_usage_after_finish_gets_its_own_chunk() -> None:
    encoder = gemini.StreamEncoder("m")
    encoder.encode(Start("id", "m"))
    encoder.encode(TextDelta(0, "x"))
    encoder.encode(Finish("stop"))
    chunk = json.loads(encoder.encode(UsageEvent(Usage(3, 4)))[6:])
    assert chunk == {
        "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 4, "totalTokenCount": 7},
        "modelVersion": "m",
        "responseId": "id",
    }


def test_sdk_client_reads_encoded_stream(loopback: Loopback) -> None:
    loopback.reply(encode_stream(response_events(rich_response())), sse=True)
    chunks = list(loopback.client().models.generate_content_stream(model="gemini-2.5-flash", contents="hi"))
    assert loopback.requests[-1]["path"] == "/v1beta" + gemini.request_path("gemini-2.5-flash", True)
    parts = [p for c in chunks for p in c.candidates[0].content.parts]
    assert "".join(p.text or "" for p in parts if not p.thought) == "Checking."
    assert "".join(p.text or "" for p in parts if p.thought) == "thinking hard"
    calls = [p.function_call for p in parts if p.function_call]
    assert [(c.id, c.name, c.args) for c in calls] == [
        ("call_a", "get_weather", {"city": "Oslo"}),
        ("call_b", "get_time", {}),
    ]
    assert next(p.thought_signature for p in parts if p.function_call) == base64.b64decode("c2lnQw==")
    assert chunks[-1].candidates[0].finish_reason == types.FinishReason.STOP
    assert chunks[-1].usage_metadata.total_token_count == 40


def test_sdk_client_raises_on_mid_stream_error(loopback: Loopback) -> None:
    encoder = gemini.StreamEncoder("m")
    body = encoder.encode(Start("id", "m")) + encoder.encode(TextDelta(0, "partial"))
    body += encoder.encode(ErrorEvent(Failure("overloaded", "try later")))
    loopback.reply(body, sse=True)
    with pytest.raises(genai_errors.APIError) as info:
        list(loopback.client().models.generate_content_stream(model="m", contents="hi"))
    assert info.value.code == 503 and info.value.status == "UNAVAILABLE"


# ---------------------------------------------------------------- encode_error


@pytest.mark.parametrize(
    ("failure", "code", "status"),
    [
        (Failure("rate_limited", "slow down", retry_after_s=53), 429, "RESOURCE_EXHAUSTED"),
        (Failure("auth_failed", "bad key", status=401), 401, "UNAUTHENTICATED"),
        (Failure("auth_failed", "no access", status=403), 403, "PERMISSION_DENIED"),
        (Failure("bad_request", "bad"), 400, "INVALID_ARGUMENT"),
        (Failure("not_found", "no model"), 404, "NOT_FOUND"),
        (Failure("overloaded", "busy"), 503, "UNAVAILABLE"),
        (Failure("timeout", "slow"), 504, "DEADLINE_EXCEEDED"),
        (Failure("server_error", "oops"), 500, "INTERNAL"),
        (Failure("stream_broken", "cut"), 500, "INTERNAL"),
    ],
)
def test_encode_error(failure: Failure, code: int, status: str) -> None:
    http, body = gemini.encode_error(failure)
    assert http == code and body["error"]["status"] == status and body["error"]["code"] == code
    assert body["error"]["message"] == failure.message
    retry = [d for d in body["error"]["details"] if d["@type"].endswith("RetryInfo")]
    assert retry == (
        [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "53s"}] if failure.retry_after_s else []
    )


def test_encode_error_from_a_status_and_back() -> None:
    assert gemini.encode_error(404, "gone") == (
        404,
        {"error": {"code": 404, "message": "gone", "status": "NOT_FOUND", "details": []}},
    )
    http, body = gemini.encode_error(Failure("rate_limited", "x", retry_after_s=2.5))
    assert body["error"]["details"][0]["retryDelay"] == "2.5s"
    back = gemini.decode_error(http, body)
    assert back.kind in ("rate_limited", "quota_exhausted") and back.retry_after_s == 2.5


@pytest.mark.parametrize(
    ("kind", "code"), [("rate_limited", 429), ("not_found", 404), ("auth_failed", 401), ("overloaded", 503)]
)
def test_sdk_client_raises_on_encoded_errors(loopback: Loopback, kind: str, code: int) -> None:
    status, body = gemini.encode_error(Failure(kind, "nope", retry_after_s=1))  # type: ignore[arg-type]
    loopback.reply(body, status=status)
    expected = genai_errors.ClientError if code < 500 else genai_errors.ServerError
    with pytest.raises(expected) as info:
        loopback.client().models.generate_content(model="m", contents="hi")
    assert info.value.code == code and info.value.message == "nope"


