from __future__ import annotations

import pytest

from detour.protocol.messages import (
    Accumulator,
    ErrorEvent,
    Finish,
    ImagePart,
    Message,
    Request,
    Response,
    Start,
    StreamIncomplete,
    TextDelta,
    TextPart,
    ThinkingDelta,
    ThinkingPart,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallPart,
    ToolCallStart,
    ToolResultPart,
    Usage,
    UsageEvent,
    response_events,
)


def _fold(events):
    acc = Accumulator()
    for ev in events:
        acc.add(ev)
    return acc


def test_accumulator_folds_text_thinking_and_tool_calls():
    acc = _fold(
        [
            Start("r1", "m"),
            ThinkingDelta(0, "Let me "),
            ThinkingDelta(0, "see"),
            ThinkingDelta(0, signature="sig-1"),
            TextDelta(1, "Hel"),
            TextDelta(1, "lo"),
            ToolCallStart(2, "call_1", "get_weather"),
            ToolCallDelta(2, '{"city":'),
            ToolCallDelta(2, '"Oslo"}'),
            ToolCallEnd(2),
            UsageEvent(Usage(input_tokens=10, output_tokens=4)),
            Finish("tool_calls"),
        ]
    )
    resp = acc.response()
    assert resp.id == "r1" and resp.model == "m"
    assert resp.content == [
        ThinkingPart("Let me see", signature="sig-1"),
        TextPart("Hello"),
        ToolCallPart("call_1", "get_weather", '{"city":"Oslo"}'),
    ]
    assert resp.finish_reason == "tool_calls"
    assert resp.usage.total_tokens == 14


def test_stream_without_finish_is_incomplete():
    acc = _fold([Start("r", "m"), TextDelta(0, "partial")])
    assert not acc.complete
    with pytest.raises(StreamIncomplete):
        acc.response()
    assert acc.response(allow_incomplete=True).finish_reason == "error"


def test_error_event_makes_stream_incomplete_even_after_finish():
    acc = _fold([Start("r", "m"), TextDelta(0, "x"), Finish("stop"), ErrorEvent("boom")])
    assert not acc.complete


def test_open_tool_call_is_incomplete():
    acc = _fold([Start("r", "m"), ToolCallStart(0, "c", "f"), ToolCallDelta(0, '{"a"'), Finish("tool_calls")])
    assert not acc.complete


def test_response_events_round_trip_through_accumulator():
    resp = Response(
        id="x",
        model="m",
        content=[ThinkingPart("t", "s"), TextPart("hi"), ToolCallPart("c1", "f", '{"a":1}')],
        finish_reason="tool_calls",
        usage=Usage(3, 5, cached_tokens=1, reasoning_tokens=2),
    )
    assert _fold(response_events(resp)).response() == resp


def test_request_helpers_find_nested_images():
    req = Request(
        model="m",
        messages=[
            Message("system", [TextPart("be brief")]),
            Message("tool", [ToolResultPart("c1", [ImagePart(data="AAAA", media_type="image/png")])]),
        ],
    )
    assert req.has_images()
    assert not req.has_documents()
    assert req.system_text() == "be brief"
