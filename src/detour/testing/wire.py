"""Shared pieces of the fake providers' wire formats.

Bodies are built by hand from the providers' documented wire formats, never with detour's own codecs, so the codecs can be checked against them.
Each protocol module (``wire_openai``, ``wire_anthropic``, ``wire_gemini``, ``wire_responses``) exposes the same functions:
``body``, ``frames``, ``error``, ``error_frame``, ``last_user_text``, ``ends_with_assistant``, ``streaming``, plus ``ID_HEADER``
and ``TERMINAL`` (the end-of-stream frame that ``B.no_done()`` drops, or ``None``).
"""

from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, NamedTuple

import orjson

Finish = Literal["stop", "tool_calls", "content_filter", "length"]
ErrorKind = Literal[
    "rate_limit", "quota", "overloaded", "server_error", "context_length", "reject_prefill", "status", "invalid"
]

dumps = orjson.dumps
_ids = itertools.count(1)
# signatures the fakes of this process issued, per protocol: the strict checks accept only these
ISSUED: dict[str, set[str]] = {"anthropic": set(), "gemini": set()}


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One function/tool call the fake model makes."""

    name: str
    arguments: dict[str, Any]
    id: str | None = None


@dataclass(frozen=True, slots=True)
class Content:
    """What a successful fake response says, independent of the protocol."""

    text: str | None = "ok"
    chunks: int = 5
    thinking: str | None = None
    signature: str = "sig"
    tool: ToolCall | None = None
    finish: Finish = "stop"
    prompt_blocked: bool = False
    usage: tuple[int, int] | None = None
    server: str | None = None  # a local server's dialect (detour.testing.dialects) for Chat Completions replies
    refusal: str | None = None  # a model's refusal: OpenAI's ``refusal`` field, Anthropic's ``refusal`` stop


@dataclass(frozen=True, slots=True)
class ErrorSpec:
    """An error condition; each protocol renders it with its own status, envelope and headers."""

    kind: ErrorKind
    status: int = 0
    retry_after: float | None = None
    message: str = ""  # "invalid": the provider's own 400 message
    param: str | None = None


@dataclass(slots=True)
class Ctx:
    """Per-request facts that rendering needs."""

    model: str
    stream: bool = False
    include_usage: bool = False
    input_tokens: int = 10
    seq: int = 0
    created: int = 0

    @classmethod
    def new(cls, model: str, stream: bool, include_usage: bool, input_tokens: int) -> Ctx:
        return cls(model, stream, include_usage, input_tokens, next(_ids), int(time.time()))


class Frame(NamedTuple):
    """One SSE event, already framed; ``delta`` marks content deltas (what ``after=N`` counts)."""

    data: bytes
    delta: bool = False


def split(text: str, n: int) -> list[str]:
    """Split text into at most ``n`` non-empty pieces of near-equal size."""
    if not text:
        return []
    size = max(1, math.ceil(len(text) / max(1, n)))
    return [text[i : i + size] for i in range(0, len(text), size)]


def tokens(text: str | None) -> int:
    """A rough token estimate (4 characters per token), at least 1 for non-empty text."""
    return (len(text) + 3) // 4 if text else 0


def output_tokens(c: Content) -> tuple[int, int]:
    """(output tokens, of which reasoning tokens) for a content, honouring an explicit ``usage``."""
    reasoning = tokens(c.thinking)
    if c.usage is not None:
        return c.usage[1], min(reasoning, c.usage[1])
    out = tokens(c.text) + reasoning + (tokens(dumps(c.tool.arguments).decode()) + 5 if c.tool else 0)
    return max(1, out), reasoning


def input_tokens(c: Content, ctx: Ctx) -> int:
    return c.usage[0] if c.usage is not None else ctx.input_tokens


def seconds_str(seconds: float) -> str:
    """A retry-after value as providers print it: integral seconds without a fraction."""
    return str(int(seconds)) if float(seconds).is_integer() else f"{seconds:g}"


def go_duration(seconds: float) -> str:
    """A Go-style duration (OpenAI's x-ratelimit-reset-*): ``644ms``, ``20s``, ``6m0s``."""
    if seconds < 1:
        return f"{int(seconds * 1000)}ms"
    minutes, secs = divmod(seconds, 60)
    secs_s = f"{secs:g}s"
    return f"{int(minutes)}m{secs_s}" if minutes else secs_s


def rfc3339(ts: float) -> str:
    """An RFC 3339 UTC timestamp (Anthropic's anthropic-ratelimit-*-reset)."""
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def text_of(content: Any) -> str:
    """Concatenated text of a string or a list of text parts/blocks."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""
