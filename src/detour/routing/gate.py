"""The gate between one upstream attempt and the client stream.

It holds tool-call deltas until the call is complete (a client never gets half a tool call), maps the
attempt's part indices onto the client stream's, and, for a rescue, either continues the last text part
(prefill) or holds output back until the replay has reproduced the text already sent (replay). With a Hold
(answer checks, routing.escalate) it holds the whole answer until its finish, then lets it through at once
if it passed, or raises the BadAnswer the judge returns; past the hold's size or time limit it lets the
answer through unchecked.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field

from detour.protocol.messages import (
    Accumulator,
    Event,
    Response,
    TextDelta,
    ThinkingDelta,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
)

CONTENT_KINDS = frozenset({"text", "thinking", "tool_call_start", "tool_call_delta", "tool_call_end", "finish"})


class Diverged(Exception):
    """A replay produced text that differs from what the client already has."""


@dataclass(slots=True)
class Sent:
    """What the client has received so far, across every attempt of one stream."""

    text: str = ""  # all text-part text, in order
    next_index: int = 0
    last_text_index: int | None = None  # the client index of the last part, if it is text
    tools: int = 0  # complete tool calls delivered
    content: bool = False
    finished: bool = False
    started: bool = False


@dataclass(slots=True)
class Hold:
    """Answer checks on a stream: nothing reaches the client until the whole answer was judged.

    ``judge(response, upstream_events)`` raises to turn the answer down; returning lets it through.
    ``released`` says what happened: "" holding, "checked", "size" or "time" (let through unchecked).
    """

    judge: Callable[[Response, list[Event]], None]
    size: int
    until: float  # loop time after which the answer is let through unchecked
    acc: Accumulator = field(default_factory=Accumulator)
    upstream: list[Event] = field(default_factory=list)
    held: list[Event] = field(default_factory=list)
    chars: int = 0
    released: str = ""
    early: bool = False  # the checks pass as soon as real output arrives (only ``empty``): release then
    seen: bool = False  # upstream content arrived: the first-token deadline is met
    snapshot: Sent | None = None


@dataclass(slots=True)
class Gate:
    sent: Sent
    mode: str = ""  # "" first attempt | "prefill" | "replay"
    hold: Hold | None = None
    _map: dict[int, int] = field(default_factory=dict)
    _tool_buf: dict[int, list[Event]] = field(default_factory=dict)
    _replayed: str = ""
    _first_part: bool = True

    def __post_init__(self) -> None:
        if self.hold is not None:
            self.hold.snapshot = dataclasses.replace(self.sent)

    def feed(self, event: Event) -> list[Event]:
        """Upstream event -> events for the client now (possibly none)."""
        hold = self.hold
        if hold is None or hold.released:
            return self._feed(event)
        out = self._feed(event)
        hold.acc.add(event)
        hold.upstream.append(event)
        hold.held += out
        hold.chars += _size(event)
        hold.seen = hold.seen or event.kind in CONTENT_KINDS
        if event.kind == "finish":
            try:
                hold.judge(hold.acc.response(allow_incomplete=True), hold.upstream)
            except BaseException:
                self.restore()
                raise
            return self.release("checked")
        if hold.early and _has_output(event, out):
            return self.release("checked")  # an answer with text or a whole tool call is not empty
        if hold.chars > hold.size:
            return self.release("size")
        return []

    def release(self, why: str) -> list[Event]:
        """Let the held answer through (``why``: checked | size | time)."""
        hold = self.hold
        if hold is None or hold.released:
            return []
        hold.released = why
        out, hold.held = hold.held, []
        return out

    def restore(self) -> None:
        """A turned-down answer never reached the client: what was sent is as before it."""
        hold = self.hold
        if hold is not None and hold.snapshot is not None:
            for name in ("text", "next_index", "last_text_index", "tools", "finished"):
                setattr(self.sent, name, getattr(hold.snapshot, name))

    def _feed(self, event: Event) -> list[Event]:
        kind = event.kind
        if kind == "start" or kind == "error":
            return []  # the stream driver emits one Start; errors are handled by the driver
        if kind == "thinking" and self.mode:
            return []  # a rescue drops thinking: it belongs to the continuation's own reasoning
        if isinstance(event, TextDelta):
            return self._text(event)
        if isinstance(event, (ToolCallStart, ToolCallDelta)):
            if self.mode == "replay" and len(self._replayed) < len(self.sent.text):
                raise Diverged("a tool call where the replay should repeat the text already sent")
            self._tool_buf.setdefault(event.index, []).append(event)
            return []
        if isinstance(event, ToolCallEnd):
            return self._tool_end(event)
        if kind == "finish":
            if self.mode == "replay" and len(self._replayed) < len(self.sent.text):
                raise Diverged("the replay finished before reproducing the text already sent")
            self.sent.finished = True
            return [event]
        if isinstance(event, ThinkingDelta):
            return [self._remap(event)]
        return [event]  # usage

    def _text(self, event: TextDelta) -> list[Event]:
        text = event.text
        if self.mode == "replay":
            text = self._hold_back(text)
            if not text:
                return []
        index = self._index(event.index, continue_text=self.mode in ("prefill", "replay"))
        self.sent.text += text
        self.sent.last_text_index = index
        return [TextDelta(index, text)]

    def _hold_back(self, text: str) -> str:
        """Replay: swallow text the client already has; fail on any difference."""
        have = len(self._replayed)
        self._replayed += text
        want = self.sent.text
        if have >= len(want):
            return text
        overlap = self._replayed[: len(want)]
        if not want.startswith(overlap):
            raise Diverged("the replay's text differs from what was already sent")
        return self._replayed[len(want):]

    def _tool_end(self, event: ToolCallEnd) -> list[Event]:
        buffered = self._tool_buf.pop(event.index, [])
        index = self._index(event.index, continue_text=False)
        self.sent.last_text_index = None
        self.sent.tools += 1
        out: list[Event] = []
        for ev in buffered:
            if isinstance(ev, ToolCallStart):
                out.append(ToolCallStart(index, ev.id, ev.name))
            elif isinstance(ev, ToolCallDelta):
                out.append(ToolCallDelta(index, ev.arguments))
        return out + [ToolCallEnd(index)]

    def _remap(self, event: ThinkingDelta) -> Event:
        index = self._index(event.index, continue_text=False)
        self.sent.last_text_index = None
        event.index = index
        return event

    def _index(self, upstream: int, *, continue_text: bool) -> int:
        mapped = self._map.get(upstream)
        if mapped is None:
            if continue_text and self._first_part and self.sent.last_text_index is not None:
                mapped = self.sent.last_text_index  # the continuation extends the cut text part
            else:
                mapped = self.sent.next_index
                self.sent.next_index += 1
            self._map[upstream] = mapped
        self._first_part = False
        return mapped

    @property
    def holding(self) -> bool:
        return bool(self._tool_buf)


def _has_output(event: Event, out: list[Event]) -> bool:
    if event.kind == "text":
        return bool(event.text.strip())
    return any(e.kind == "tool_call_end" for e in out)


def _size(event: Event) -> int:
    if isinstance(event, (TextDelta, ThinkingDelta)):
        return len(event.text)
    if isinstance(event, ToolCallDelta):
        return len(event.arguments)
    return 0


def is_content(events: list[Event]) -> bool:
    return any(e.kind in CONTENT_KINDS for e in events)
