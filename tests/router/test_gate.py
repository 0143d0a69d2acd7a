"""The stream gate and cost accounting, without sockets."""

from __future__ import annotations

import pytest

from detour.catalog.model import ModelInfo
from detour.protocol.messages import (
    Finish,
    TextDelta,
    ThinkingDelta,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
    Usage,
)
from detour.routing.gate import Diverged, Gate, Sent
from detour.routing.result import cost_of


def test_half_a_tool_call_is_never_delivered() -> None:
    gate = Gate(Sent())
    assert gate.feed(ToolCallStart(0, "c1", "lookup")) == []
    assert gate.feed(ToolCallDelta(0, '{"city":')) == []
    assert gate.holding and gate.sent.tools == 0
    out = Gate(Sent())
    out.feed(ToolCallStart(0, "c1", "lookup"))
    out.feed(ToolCallDelta(0, '{"a":1}'))
    assert [e.kind for e in out.feed(ToolCallEnd(0))] == ["tool_call_start", "tool_call_delta", "tool_call_end"]


def test_prefill_continues_the_cut_text_part() -> None:
    sent = Sent()
    first = Gate(sent)
    first.feed(ThinkingDelta(0, "hmm"))
    first.feed(TextDelta(1, "Hello, wor"))
    cont = Gate(sent, "prefill")
    assert cont.feed(ThinkingDelta(0, "dropped")) == []
    assert cont.feed(TextDelta(0, "ld!")) == [TextDelta(1, "ld!")]
    assert sent.text == "Hello, world!"


def test_replay_holds_back_until_caught_up_then_streams_the_rest() -> None:
    sent = Sent()
    Gate(sent).feed(TextDelta(0, "The quick brown"))
    replay = Gate(sent, "replay")
    assert replay.feed(TextDelta(0, "The qu")) == []
    assert replay.feed(TextDelta(0, "ick brown fox")) == [TextDelta(0, " fox")]
    assert replay.feed(Finish("stop")) == [Finish("stop")]


@pytest.mark.parametrize("events", [
    [TextDelta(0, "The slow")],
    [TextDelta(0, "The qu"), Finish("stop")],
    [TextDelta(0, "The "), ToolCallStart(1, "c", "f")],
])
def test_replay_divergence(events: list) -> None:
    sent = Sent()
    Gate(sent).feed(TextDelta(0, "The quick brown"))
    replay = Gate(sent, "replay")
    with pytest.raises(Diverged):
        for ev in events:
            replay.feed(ev)


def test_cost_uses_cached_input_price() -> None:
    info = ModelInfo("p/m", "p", "m", cost_input=3.0, cost_output=15.0, cost_cache_read=0.3)
    usage = Usage(input_tokens=1_000_000, output_tokens=100_000, cached_tokens=500_000)
    assert cost_of(usage, info) == pytest.approx(0.5 * 3.0 + 0.5 * 0.3 + 0.1 * 15.0)
    assert cost_of(usage, ModelInfo("p/m", "p", "m")) is None
