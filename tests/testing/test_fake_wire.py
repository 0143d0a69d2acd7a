"""Unit checks of the hand-written wire helpers."""

from __future__ import annotations

from detour.testing import wire_anthropic, wire_gemini, wire_openai
from detour.testing.wire import (
    Content,
    Ctx,
    ToolCall,
    go_duration,
    output_tokens,
    rfc3339,
    seconds_str,
    split,
)


def test_split() -> None:
    assert split("abcdefghij", 5) == ["ab", "cd", "ef", "gh", "ij"]
    assert split("abc", 5) == ["a", "b", "c"]
    assert split("", 3) == []
    assert "".join(split("hello world", 4)) == "hello world"


def test_durations_and_timestamps() -> None:
    assert [go_duration(s) for s in (0.012, 1, 20, 360, 90.5)] == ["12ms", "1s", "20s", "6m0s", "1m30.5s"]
    assert seconds_str(20.0) == "20" and seconds_str(0.5) == "0.5"
    assert rfc3339(0) == "1970-01-01T00:00:00Z"


def test_usage_override_and_estimate() -> None:
    assert output_tokens(Content(text="x" * 40, usage=(3, 7))) == (7, 0)
    assert output_tokens(Content(text="x" * 40, thinking="y" * 8)) == (12, 2)


def test_stream_terminators() -> None:
    ctx = Ctx("m", stream=True, include_usage=True)
    c = Content(text="hello", tool=ToolCall("f", {"a": 1}), finish="tool_calls")
    assert wire_openai.frames(c, ctx)[-1].data == b"data: [DONE]\n\n"
    assert wire_anthropic.frames(c, ctx)[-1].data.startswith(b"event: message_stop\n")
    assert not any(f.data.startswith(b"data: [DONE]") for f in wire_gemini.frames(c, ctx))
    assert all(f.data.endswith(b"\r\n\r\n") for f in wire_gemini.frames(c, ctx))


def test_anthropic_signature_delta_precedes_block_stop() -> None:
    frames = [f.data for f in wire_anthropic.frames(Content(text="t", thinking="th", signature="S"), Ctx("m"))]
    sig = next(i for i, f in enumerate(frames) if b"signature_delta" in f)
    assert b"content_block_stop" in frames[sig + 1]


def test_ids_differ_per_request() -> None:
    a, b = Ctx.new("m", False, False, 1), Ctx.new("m", False, False, 1)
    assert wire_openai.body(Content(), a)["id"] != wire_openai.body(Content(), b)["id"]


def test_public_api() -> None:
    import detour.testing

    assert sorted(detour.testing.__all__) == [
        "B", "Behavior", "FakeProvider", "LocalModel", "Recorded", "from_spec", "trust_signature"]
    assert all(hasattr(detour.testing, name) for name in detour.testing.__all__)
