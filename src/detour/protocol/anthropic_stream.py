"""Anthropic Messages SSE: the stream decoder and encoder, and the wire pieces bodies share with streams.

The shared pieces (content blocks, usage, stop reasons, error envelopes) live here because the stream
needs them and ``anthropic.py`` (bodies and the codec object) imports this module, never the reverse.
Stream indices: Anthropic's block ``index`` is the block's position in the final content, the same
meaning as the neutral event ``index``, so decoding keeps it; encoding renumbers densely (0, 1, 2...).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from . import errors
from .errors import Failure
from .history import client_signature, read_signature
from .messages import (
    ErrorEvent,
    Event,
    Finish,
    FinishReason,
    Part,
    Start,
    TextDelta,
    TextPart,
    ThinkingDelta,
    ThinkingPart,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallPart,
    ToolCallStart,
    Usage,
    UsageEvent,
    random_hex,
)
from .sse import SSEMessage, SSEParser, encode

BLOCK = "anthropic_block"
STOP_TO_FINISH: dict[str, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}
FINISH_TO_STOP = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "content_filter": "refusal",
}
_IMPLIED = frozenset({"end_turn", "max_tokens", "tool_use", "stop_sequence", "refusal"})


# ================================================================ shared block helpers


def compact_json(value: Any) -> str:
    return orjson.dumps(value).decode()


def opaque_part(block: dict[str, Any]) -> TextPart:
    """A block with no neutral form: an empty TextPart carrying it whole (other codecs see empty text)."""
    return TextPart("", {BLOCK: block})


def fail(path: str, problem: str) -> ValueError:
    return ValueError(f"{path}: {problem}")


def string_field(block: dict[str, Any], key: str, path: str) -> str:
    value = block.get(key)
    if not isinstance(value, str):
        raise fail(f"{path}.{key}", "must be a string")
    return value


def block_extras(
    block: dict[str, Any], consumed: tuple[str, ...]
) -> dict[str, Any] | None:
    """Keys of a block that have no neutral field (cache_control, citations...), kept for the return trip."""
    if len(block) <= len(consumed):
        return None
    rest = {k: v for k, v in block.items() if k not in consumed}
    return {"anthropic": rest} if rest else None


def decode_text(block: dict[str, Any], path: str) -> Part:
    return TextPart(
        string_field(block, "text", path), block_extras(block, ("type", "text"))
    )


def decode_tool_use(block: dict[str, Any], path: str) -> Part:
    call_input = block.get("input")
    if not isinstance(call_input, dict):
        raise fail(f"{path}.input", "must be an object")
    details = block_extras(block, ("type", "id", "name", "input"))
    name = string_field(block, "name", path)
    return ToolCallPart(
        string_field(block, "id", path), name, compact_json(call_input), details
    )


def decode_thinking(block: dict[str, Any], path: str) -> Part:
    details = block_extras(block, ("type", "thinking", "signature"))
    signature, origin = read_signature(block.get("signature"), "anthropic")
    return ThinkingPart(
        string_field(block, "thinking", path),
        signature,
        provider_details=details,
        origin=origin,
    )


def decode_redacted(block: dict[str, Any], path: str) -> Part:
    data, origin = read_signature(string_field(block, "data", path), "anthropic")
    return ThinkingPart(
        redacted_data=data, provider_details=block_extras(block, ("type", "data")), origin=origin
    )


def tool_input(arguments: str) -> dict[str, Any]:
    """Tool-call arguments (JSON text) -> an `input` object; text that is not a JSON object is wrapped."""
    if not arguments:
        return {}
    try:
        value = orjson.loads(arguments)
    except orjson.JSONDecodeError:
        return {"_raw": arguments}
    return value if isinstance(value, dict) else {"_raw": arguments}


RESPONSE_BLOCKS: dict[str, Callable[[dict[str, Any], str], Part]] = {
    "text": decode_text,
    "tool_use": decode_tool_use,
    "thinking": decode_thinking,
    "redacted_thinking": decode_redacted,
}


# ================================================================ usage and stop reasons


def decode_usage(usage: dict[str, Any]) -> Usage:
    """Anthropic splits input three ways; neutral input_tokens is their sum."""
    fresh = usage.get("input_tokens") or 0
    written = usage.get("cache_creation_input_tokens") or 0
    read = usage.get("cache_read_input_tokens") or 0
    reasoning = (usage.get("output_tokens_details") or {}).get("thinking_tokens") or 0
    return Usage(
        fresh + written + read,
        usage.get("output_tokens") or 0,
        read,
        written,
        reasoning,
    )


def encode_usage(usage: Usage | None) -> dict[str, Any]:
    if usage is None:
        return {"input_tokens": 0, "output_tokens": 0}
    fresh = max(0, usage.input_tokens - usage.cached_tokens - usage.cache_write_tokens)
    out: dict[str, Any] = {"input_tokens": fresh, "output_tokens": usage.output_tokens}
    out["cache_creation_input_tokens"] = usage.cache_write_tokens
    out["cache_read_input_tokens"] = usage.cached_tokens
    if usage.reasoning_tokens:
        out["output_tokens_details"] = {"thinking_tokens": usage.reasoning_tokens}
    return out


def stop_details(data: dict[str, Any]) -> dict[str, Any] | None:
    """The raw stop reason when finish_reason does not imply it, plus stop_sequence / stop_details."""
    out: dict[str, Any] = {}
    reason = data.get("stop_reason")
    if reason is not None and reason not in _IMPLIED:
        out["stop_reason"] = reason
    if data.get("stop_sequence") is not None:
        out["stop_sequence"] = data["stop_sequence"]
    if data.get("stop_details") is not None:
        out["stop_details"] = data["stop_details"]
    return out or None


def stop_reason(finish: FinishReason, details: dict[str, Any] | None) -> str:
    details = details or {}
    raw = details.get("stop_reason")
    if raw in STOP_TO_FINISH and STOP_TO_FINISH[raw] == finish:
        return raw  # type: ignore[no-any-return]  # a JSON value from the wire, typed Any
    if finish == "stop" and details.get("stop_sequence"):
        return "stop_sequence"
    return FINISH_TO_STOP.get(finish, "end_turn")


def stop_fields(
    finish: FinishReason, details: dict[str, Any] | None
) -> dict[str, Any]:
    reason = stop_reason(finish, details)
    out: dict[str, Any] = {"stop_reason": reason, "stop_sequence": None}
    if reason == "stop_sequence":
        out["stop_sequence"] = (details or {}).get("stop_sequence")
    if (
        reason == "refusal"
        and details
        and isinstance(details.get("stop_details"), dict)
    ):
        out["stop_details"] = details["stop_details"]
    return out


def message_id(response_id: str | None = None) -> str:
    """A fresh ``msg_`` id per answer, whatever the upstream sent: an upstream that repeats its ids (or
    sends none) must not make the client merge separate turns."""
    return "msg_" + random_hex()


# ================================================================ errors

_KIND_TO_WIRE: dict[str, tuple[int, str]] = {
    "rate_limited": (429, "rate_limit_error"),
    "quota_exhausted": (
        429,
        "rate_limit_error",
    ),  # billing_error has no SDK status class; 429 keeps clients backing off
    "overloaded": (529, "overloaded_error"),
    "auth_failed": (401, "authentication_error"),
    "not_found": (404, "not_found_error"),
    "bad_request": (400, "invalid_request_error"),
    "context_too_long": (400, "invalid_request_error"),
    "content_blocked": (400, "invalid_request_error"),
    "timeout": (504, "timeout_error"),
    "server_error": (500, "api_error"),
    "unreachable": (502, "api_error"),
    "stream_broken": (502, "api_error"),
    "connection_lost": (502, "api_error"),
}
_STATUS_TO_TYPE = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    504: "timeout_error",
    529: "overloaded_error",
}


def stream_failure(payload: dict[str, Any]) -> Failure:
    """An `event: error` payload -> Failure, through the one shared classifier."""
    return errors.classify_stream_error("anthropic", payload)


def _wire_error(failure_or_status: Failure | int) -> tuple[int, str]:
    if isinstance(failure_or_status, int):
        status = failure_or_status
        return status, _STATUS_TO_TYPE.get(
            status, "api_error" if status >= 500 else "invalid_request_error"
        )
    status, kind = _KIND_TO_WIRE.get(failure_or_status.kind, (500, "api_error"))
    if failure_or_status.kind == "auth_failed" and failure_or_status.status == 403:
        return 403, "permission_error"
    if failure_or_status.kind == "server_error" and (failure_or_status.status or 0) in (
        500,
        502,
        503,
    ):
        return failure_or_status.status, kind  # type: ignore[return-value]  # kind is one of Anthropic's error types here
    return status, kind


def encode_error(
    failure_or_status: Failure | int, message: str | None = None
) -> tuple[int, dict[str, Any]]:
    """An Anthropic error body and its HTTP status, e.g. (529, {"type": "error", "error": {...}})."""
    status, kind = _wire_error(failure_or_status)
    if message is None:
        message = (
            failure_or_status.message if isinstance(failure_or_status, Failure) else ""
        )
    return status, {
        "type": "error",
        "error": {"type": kind, "message": message or kind},
    }


# ================================================================ stream decoding


class StreamDecoder:
    """Anthropic SSE bytes -> neutral events. ``done`` once message_stop arrives; ``ping`` is not data."""

    __slots__ = ("_kinds", "_parser", "_usage", "data_events", "done", "failed")

    def __init__(self) -> None:
        self._parser = SSEParser()
        self._usage: dict[str, Any] = {}
        self._kinds: dict[int, str] = {}
        self.done = False
        self.failed = False
        self.data_events = 0

    def feed(self, chunk: bytes) -> list[Event]:
        out: list[Event] = []
        for message in self._parser.feed(chunk):
            self._handle(message, out)
        return out

    def close(self) -> list[Event]:
        out: list[Event] = []
        for message in self._parser.close():
            self._handle(message, out)
        if not self.done and not self.failed:
            self.failed = True
            out.append(
                ErrorEvent(
                    Failure(
                        "stream_broken",
                        "stream ended before message_stop",
                        code="incomplete",
                    )
                )
            )
        return out

    def _handle(self, message: SSEMessage, out: list[Event]) -> None:
        if self.done or self.failed or message.event == "ping":
            return
        try:
            data = orjson.loads(message.data)
        except orjson.JSONDecodeError:
            data = None
        if not isinstance(data, dict):
            self.failed = True
            out.append(
                ErrorEvent(
                    Failure(
                        "stream_broken",
                        f"malformed chunk: {message.data[:200]!r}",
                        code="malformed",
                    )
                )
            )
            return
        kind = data.get("type") or message.event
        handler = _DECODE_HANDLERS.get(kind or "")
        if kind != "ping":
            self.data_events += 1
        if handler is not None:
            handler(self, data, out)

    def _message_start(self, data: dict[str, Any], out: list[Event]) -> None:
        message = data.get("message") or {}
        out.append(Start(message.get("id", ""), message.get("model", "")))
        self._usage = dict(message.get("usage") or {})
        out.append(UsageEvent(decode_usage(self._usage)))

    def _block_start(self, data: dict[str, Any], out: list[Event]) -> None:
        index, block = data.get("index", 0), data.get("content_block") or {}
        kind = self._kinds[index] = block.get("type", "")
        if kind == "text" and block.get("text"):
            out.append(TextDelta(index, block["text"]))
        elif kind == "thinking" and (block.get("thinking") or block.get("signature")):
            signature, origin = read_signature(block.get("signature") or None, "anthropic")
            out.append(ThinkingDelta(index, block.get("thinking", ""), signature, origin=origin))
        elif kind == "redacted_thinking":
            redacted, origin = read_signature(block.get("data", ""), "anthropic")
            out.append(ThinkingDelta(index, redacted_data=redacted or "", origin=origin or "anthropic"))
        elif kind == "tool_use":
            out.append(ToolCallStart(index, block.get("id", ""), block.get("name", "")))
            if block.get("input"):
                out.append(ToolCallDelta(index, compact_json(block["input"])))

    def _block_delta(self, data: dict[str, Any], out: list[Event]) -> None:
        index, delta = data.get("index", 0), data.get("delta") or {}
        kind, block = delta.get("type"), self._kinds.get(index)
        if kind == "text_delta" and block == "text":
            out.append(TextDelta(index, delta.get("text", "")))
        elif kind == "thinking_delta" and block == "thinking":
            out.append(ThinkingDelta(index, delta.get("thinking", "")))
        elif kind == "signature_delta" and block == "thinking":
            signature, origin = read_signature(delta.get("signature", ""), "anthropic")
            out.append(ThinkingDelta(index, signature=signature, origin=origin))
        elif (
            kind == "input_json_delta"
            and block == "tool_use"
            and delta.get("partial_json")
        ):
            out.append(ToolCallDelta(index, delta["partial_json"]))

    def _block_stop(self, data: dict[str, Any], out: list[Event]) -> None:
        index = data.get("index", 0)
        if self._kinds.get(index) == "tool_use":
            out.append(ToolCallEnd(index))

    def _message_delta(self, data: dict[str, Any], out: list[Event]) -> None:
        usage = data.get("usage") or {}
        self._usage.update(
            {k: v for k, v in usage.items() if v is not None}
        )  # cumulative: overwrite
        out.append(UsageEvent(decode_usage(self._usage)))
        delta = data.get("delta") or {}
        if delta.get("stop_reason") is not None:
            out.append(
                Finish(
                    STOP_TO_FINISH.get(delta["stop_reason"], "stop"),
                    stop_details(delta),
                )
            )

    def _message_stop(self, data: dict[str, Any], out: list[Event]) -> None:
        self.done = True

    def _error(self, data: dict[str, Any], out: list[Event]) -> None:
        self.failed = True
        out.append(ErrorEvent(stream_failure(data)))


_DECODE_HANDLERS: dict[
    str, Callable[[StreamDecoder, dict[str, Any], list[Event]], None]
] = {
    "message_start": StreamDecoder._message_start,
    "content_block_start": StreamDecoder._block_start,
    "content_block_delta": StreamDecoder._block_delta,
    "content_block_stop": StreamDecoder._block_stop,
    "message_delta": StreamDecoder._message_delta,
    "message_stop": StreamDecoder._message_stop,
    "error": StreamDecoder._error,
}


# ================================================================ stream encoding


def _sse(payload: dict[str, Any]) -> bytes:
    return encode(orjson.dumps(payload), payload["type"])


class StreamEncoder:
    """Neutral events -> Anthropic SSE. Blocks are opened lazily and closed when another starts.

    message_start waits for the event after Start so an upstream's initial usage can ride in it.
    A delta for a tool block that was already closed (interleaved upstream tool calls) is still sent
    under that block's index; the SDK accumulates it, but the order is unlike Anthropic's own.
    """

    __slots__ = (
        "_closed",
        "_next",
        "_open",
        "_start",
        "_started",
        "_usage",
        "_wire",
        "model",
    )

    def __init__(self, model: str) -> None:
        self.model = model
        self._start: Start | None = None
        self._started = False
        self._wire: dict[
            int, int
        ] = {}  # neutral index -> wire index of its latest block
        self._open: int | None = None  # wire index of the open block
        self._next = 0
        self._usage: Usage | None = None
        self._closed = False

    def encode(self, event: Event) -> bytes:
        if self._closed:
            return b""
        return _ENCODE_HANDLERS[event.kind](self, event)

    def error(self, failure: Failure) -> bytes:
        """The `event: error` Anthropic sends mid-stream; nothing follows it (no message_stop)."""
        if self._closed:
            return b""
        self._closed = True
        _, body = encode_error(failure)
        return _sse(body)

    def _message_start(self, usage: Usage | None) -> bytes:
        self._started = True
        start = self._start
        message: dict[str, Any] = {
            "id": message_id(start.id if start else None),
            "type": "message",
            "role": "assistant",
        }
        message.update(
            model=self.model,
            content=[],
            stop_reason=None,
            stop_sequence=None,
            usage=encode_usage(usage),
        )
        return _sse({"type": "message_start", "message": message})

    def _ensure_started(self) -> bytes:
        return b"" if self._started else self._message_start(self._usage)

    def _close_block(self) -> bytes:
        if self._open is None:
            return b""
        index, self._open = self._open, None
        return _sse({"type": "content_block_stop", "index": index})

    def _open_block(self, index: int, block: dict[str, Any]) -> bytes:
        out = self._ensure_started() + self._close_block()
        self._wire[index] = self._open = self._next
        self._next += 1
        return out + _sse(
            {"type": "content_block_start", "index": self._open, "content_block": block}
        )

    def _delta(self, wire: int | None, delta: dict[str, Any]) -> bytes:
        return _sse({"type": "content_block_delta", "index": wire, "delta": delta})

    def _is_open(self, index: int) -> bool:
        return self._open is not None and self._wire.get(index) == self._open

    def _on_start(self, event: Start) -> bytes:
        self._start = event
        return b""

    def _on_usage(self, event: UsageEvent) -> bytes:
        self._usage = event.usage
        return (
            b""
            if self._started or self._start is None
            else self._message_start(event.usage)
        )

    def _on_text(self, event: TextDelta) -> bytes:
        out = (
            b""
            if self._is_open(event.index)
            else self._open_block(event.index, {"type": "text", "text": ""})
        )
        return out + self._delta(self._open, {"type": "text_delta", "text": event.text})

    def _on_thinking(self, event: ThinkingDelta) -> bytes:
        if event.redacted_data is not None:
            data = client_signature(event.redacted_data, event.origin, "anthropic")
            return self._open_block(event.index, {"type": "redacted_thinking", "data": data})
        out = b""
        if not self._is_open(event.index):
            out = self._open_block(
                event.index, {"type": "thinking", "thinking": "", "signature": ""}
            )
        if event.text:
            out += self._delta(
                self._open, {"type": "thinking_delta", "thinking": event.text}
            )
        if event.signature:
            signature = client_signature(event.signature, event.origin, "anthropic")
            out += self._delta(self._open, {"type": "signature_delta", "signature": signature})
        return out

    def _on_tool_start(self, event: ToolCallStart) -> bytes:
        block = {"type": "tool_use", "id": event.id, "name": event.name, "input": {}}
        return self._open_block(event.index, block)

    def _on_tool_delta(self, event: ToolCallDelta) -> bytes:
        wire = self._wire.get(event.index)
        if wire is None or not event.arguments:
            return b""
        return self._delta(
            wire, {"type": "input_json_delta", "partial_json": event.arguments}
        )

    def _on_tool_end(self, event: ToolCallEnd) -> bytes:
        return self._close_block() if self._is_open(event.index) else b""

    def _on_finish(self, event: Finish) -> bytes:
        out = self._ensure_started() + self._close_block()
        usage = encode_usage(self._usage)
        delta = stop_fields(event.reason, event.provider_details)
        out += _sse({"type": "message_delta", "delta": delta, "usage": usage})
        self._closed = True
        return out + _sse({"type": "message_stop"})

    def _on_error(self, event: ErrorEvent) -> bytes:
        return self.error(event.failure)


_ENCODE_HANDLERS: dict[str, Callable[[StreamEncoder, Any], bytes]] = {
    "start": StreamEncoder._on_start,
    "usage": StreamEncoder._on_usage,
    "text": StreamEncoder._on_text,
    "thinking": StreamEncoder._on_thinking,
    "tool_call_start": StreamEncoder._on_tool_start,
    "tool_call_delta": StreamEncoder._on_tool_delta,
    "tool_call_end": StreamEncoder._on_tool_end,
    "finish": StreamEncoder._on_finish,
    "error": StreamEncoder._on_error,
}
