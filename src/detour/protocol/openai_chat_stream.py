"""OpenAI Chat Completions streaming, plus the wire helpers shared with ``openai_chat``.

    upstream SSE bytes ──StreamDecoder──> neutral events ──StreamEncoder──> client SSE bytes

The decoder holds ``Finish`` back until the usage chunk, ``[DONE]`` or ``close()``, so usage always
precedes Finish (the encoder writes ``[DONE]`` on Finish). Errors inside a stream end it: no Finish follows.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from detour.protocol import errors as _errors
from detour.protocol.errors import Failure
from detour.protocol.messages import (
    ErrorEvent,
    Event,
    Finish,
    FinishReason,
    Start,
    TextDelta,
    ThinkingDelta,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
    Usage,
    UsageEvent,
    new_call_id,
    random_hex,
)
from detour.protocol.sse import SSEParser

__all__ = ["StreamDecoder", "StreamEncoder", "decode_finish", "decode_usage", "encode_error", "encode_usage"]

# ---------------------------------------------------------------- shared wire helpers

_FINISH_IN: dict[str, FinishReason] = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "content_filter": "content_filter",
    "function_call": "tool_calls",
    "model_length": "length",  # Mistral: context window hit
    "error": "error",
}


def decode_finish(raw: Any) -> tuple[FinishReason, dict[str, Any] | None]:
    """Map a wire finish_reason; an unknown value becomes "stop" and is kept in the details."""
    reason = _FINISH_IN.get(raw) if isinstance(raw, str) else None
    if reason is None:
        return "stop", ({"finish_reason": raw} if raw is not None else None)
    if raw != reason:
        return reason, {"finish_reason": raw}
    return reason, None


def decode_usage(u: dict[str, Any]) -> Usage:
    pd = u.get("prompt_tokens_details") or {}
    cd = u.get("completion_tokens_details") or {}
    cached = pd.get("cached_tokens") or u.get("prompt_cache_hit_tokens") or 0  # DeepSeek names it differently
    return Usage(
        input_tokens=u.get("prompt_tokens") or 0,
        output_tokens=u.get("completion_tokens") or 0,
        cached_tokens=cached,
        cache_write_tokens=pd.get("cache_write_tokens") or 0,
        reasoning_tokens=cd.get("reasoning_tokens") or 0,
    )


def encode_usage(u: Usage) -> dict[str, Any]:
    prompt_details: dict[str, int] = {"cached_tokens": u.cached_tokens}
    if u.cache_write_tokens:
        prompt_details["cache_write_tokens"] = u.cache_write_tokens
    return {
        "prompt_tokens": u.input_tokens,
        "completion_tokens": u.output_tokens,
        "total_tokens": u.input_tokens + u.output_tokens,
        "prompt_tokens_details": prompt_details,
        "completion_tokens_details": {"reasoning_tokens": u.reasoning_tokens},
    }


# kind -> (HTTP status, error.type, error.code)
_KIND_WIRE: dict[str, tuple[int, str, str | None]] = {
    "rate_limited": (429, "rate_limit_error", "rate_limit_exceeded"),
    "quota_exhausted": (429, "insufficient_quota", "insufficient_quota"),
    "bad_request": (400, "invalid_request_error", None),
    "not_found": (404, "invalid_request_error", "model_not_found"),
    "auth_failed": (401, "authentication_error", "invalid_api_key"),
    "context_too_long": (400, "invalid_request_error", "context_length_exceeded"),
    "content_blocked": (400, "invalid_request_error", "content_policy_violation"),
    "overloaded": (503, "server_error", "overloaded"),
    "timeout": (504, "timeout_error", "timeout"),
    "server_error": (502, "server_error", "upstream_error"),
    "unreachable": (502, "server_error", "upstream_unreachable"),
    "stream_broken": (502, "server_error", "stream_broken"),
    "connection_lost": (502, "server_error", "upstream_connection_lost"),
}
_STATUS_TYPE: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    408: "timeout_error",
    409: "conflict_error",
    413: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}
_DEFAULT_MESSAGE: dict[str, str] = {
    "rate_limited": "Rate limit reached for every model in the fallback chain.",
    "quota_exhausted": "Quota exhausted for every model in the fallback chain.",
    "context_too_long": "The request exceeds the context window of every available model.",
    "not_found": "The requested model does not exist or is not configured.",
    "stream_broken": "The upstream stream broke before the answer was complete.",
}


def encode_error(
    failure_or_status: Failure | int, message: str | None = None, *, param: str | None = None
) -> tuple[int, dict[str, Any]]:
    """An OpenAI error envelope ``{"error": {message, type, param, code}}`` and its HTTP status."""
    if isinstance(failure_or_status, Failure):
        f = failure_or_status
        status, etype, code = _KIND_WIRE.get(f.kind, (502, "server_error", None))
        text = message or f.message or _DEFAULT_MESSAGE.get(f.kind) or f.kind.replace("_", " ")
        if param is None:
            param = f.unsupported_param or ("messages" if f.kind == "context_too_long" else None)
    else:  # a bare status is about the request itself, not a model: a 404 is an unknown URL, as OpenAI says it
        status = failure_or_status
        etype = _STATUS_TYPE.get(status, "server_error" if status >= 500 else "invalid_request_error")
        code, text = None, message or f"HTTP {status}"
        if status == 404:
            etype, code = "invalid_request_error", "unknown_url"
    return status, {"error": {"message": text, "type": etype, "param": param, "code": code}}


def stream_failure(chunk: dict[str, Any], err: Any) -> Failure:
    """Classify an error inside a 200 stream: ``chunk`` is the whole payload, ``err`` its error object."""
    return _errors.classify_stream_error("openai", chunk)


# ---------------------------------------------------------------- upstream SSE -> events


class StreamDecoder:
    """Incremental chat.completion.chunk decoder; ``done`` once a finish or [DONE] was seen."""

    __slots__ = (
        "_cur",
        "_cur_index",
        "_details",
        "_ended",
        "_finish",
        "_modern",
        "_next",
        "_open",
        "_refusal",
        "_sse",
        "_started",
        "_tools",
        "data_events",
        "done",
    )  # fmt: skip

    def __init__(self) -> None:
        self._sse = SSEParser()
        self.done = False
        self.data_events = 0  # data-bearing SSE messages; keep-alive comments do not count
        self._ended = False  # Finish or ErrorEvent emitted: nothing more comes out
        self._started = False
        self._next = 0  # next neutral part index
        self._cur: str | None = None  # kind of the part being streamed: text / thinking / tool
        self._cur_index = -1
        self._tools: dict[int, int] = {}  # upstream tool_calls[].index -> neutral part index
        self._modern = False  # a tool_calls delta was seen: any function_call is its legacy duplicate
        self._open: list[int] = []
        self._finish: FinishReason | None = None
        self._details: dict[str, Any] | None = None
        self._refusal: list[str] = []

    def feed(self, chunk: bytes) -> list[Event]:
        out: list[Event] = []
        for msg in self._sse.feed(chunk):
            if self._ended:  # a trailing [DONE] or late chunk: counted, never emitted
                self.data_events += 1
            else:
                self._message(msg.data, out)
        return out

    def close(self) -> list[Event]:
        out: list[Event] = []
        if self._ended:
            return out
        for msg in self._sse.close():
            self._message(msg.data, out)
            if self._ended:
                return out
        if self._finish is not None:
            self._emit_finish(out)
        else:
            self._fail(out, Failure("stream_broken", "stream ended before finish"))
        return out

    # -- one SSE message

    def _message(self, data: str, out: list[Event]) -> None:
        self.data_events += 1
        if data == "[DONE]":
            self._on_done(out)
            return
        try:
            obj = orjson.loads(data)
        except orjson.JSONDecodeError:
            obj = None
        if not isinstance(obj, dict):
            self._fail(out, Failure("stream_broken", f"malformed chunk from upstream: {data[:120]!r}"))
            return
        self._chunk(obj, out)

    def _on_done(self, out: list[Event]) -> None:
        self.done = True
        if self._finish is None:  # [DONE] without finish_reason: the server still declared the end
            self._end_tools(out)
            self._finish = "tool_calls" if self._tools else "stop"
        self._emit_finish(out)

    def _chunk(self, obj: dict[str, Any], out: list[Event]) -> None:
        if obj.get("error"):
            self._fail(out, stream_failure(obj, obj["error"]))
            return
        groq = obj.get("x_groq")
        if groq and groq.get("error"):
            self._fail(out, stream_failure(obj, {"message": str(groq["error"]), "type": "server_error"}))
            return
        if not self._started:
            self._started = True
            out.append(Start(str(obj.get("id") or ""), str(obj.get("model") or "")))
        for choice in obj.get("choices") or ():
            if choice.get("index", 0) == 0:  # n > 1 is not supported: only the first choice streams
                self._choice(choice, obj, out)
                if self._ended:
                    return
        usage = obj.get("usage") or (groq.get("usage") if groq else None)
        if usage:
            out.append(UsageEvent(decode_usage(usage)))
            if self._finish is not None:
                self._emit_finish(out)

    def _choice(self, choice: dict[str, Any], obj: dict[str, Any], out: list[Event]) -> None:
        delta = choice.get("delta") or {}
        reasoning = delta.get("reasoning_content") or delta.get("reasoning")
        if reasoning and isinstance(reasoning, str):
            self._thinking(reasoning, out)
        content = delta.get("content")
        if content:
            self._text(content, out)
        refusal = delta.get("refusal")
        if refusal:
            self._refusal.append(refusal)
            self._text(refusal, out)
        calls = delta.get("tool_calls")
        if calls:
            self._modern = True
            for pos, tc in enumerate(calls):
                self._tool(tc, pos, out)
        elif not self._modern:  # legacy function_call only when the stream never carried tool_calls:
            fc = delta.get("function_call")  # llama.cpp-style servers repeat each tool_calls delta there
            if fc:
                self._tool({"index": 0, "function": fc}, 0, out)
        raw_finish = choice.get("finish_reason")
        if raw_finish:
            self._on_finish(raw_finish, obj, out)

    # -- parts

    def _alloc(self, kind: str) -> int:
        self._cur, self._cur_index = kind, self._next
        self._next += 1
        return self._cur_index

    def _text(self, text: str, out: list[Event]) -> None:
        if self._cur != "text":
            self._end_tools(out)
            self._alloc("text")
        out.append(TextDelta(self._cur_index, text))

    def _thinking(self, text: str, out: list[Event]) -> None:
        if self._cur != "thinking":
            self._end_tools(out)
            self._alloc("thinking")
        out.append(ThinkingDelta(self._cur_index, text))

    def _tool(self, tc: dict[str, Any], pos: int, out: list[Event]) -> None:
        upstream = tc.get("index", pos)
        fn = tc.get("function") or {}
        idx = self._tools.get(upstream)
        if idx is None:
            self._end_tools(out)  # a new tool index starts: the previous call is complete
            idx = self._tools[upstream] = self._alloc("tool")
            self._open.append(idx)
            out.append(ToolCallStart(idx, tc.get("id") or new_call_id(), fn.get("name") or ""))
        args = fn.get("arguments")
        if args:
            out.append(ToolCallDelta(idx, args))

    def _end_tools(self, out: list[Event]) -> None:
        for idx in self._open:
            out.append(ToolCallEnd(idx))
        self._open.clear()

    # -- the end

    def _on_finish(self, raw: str, obj: dict[str, Any], out: list[Event]) -> None:
        reason, details = decode_finish(raw)
        if reason == "error":  # Mistral / OpenRouter report a broken generation this way
            self._fail(out, stream_failure(obj, {"message": f"upstream finish_reason {raw!r}", "type": "server_error"}))
            return
        self._end_tools(out)
        if self._refusal:
            details = {**(details or {}), "refusal": "".join(self._refusal)}
            reason = "content_filter" if reason == "stop" else reason
        self._finish, self._details, self.done = reason, details, True

    def _emit_finish(self, out: list[Event]) -> None:
        assert self._finish is not None
        out.append(Finish(self._finish, self._details))
        self._ended = True

    def _fail(self, out: list[Event], failure: Failure) -> None:
        out.append(ErrorEvent(failure))
        self._ended = True


# ---------------------------------------------------------------- events -> client SSE

_DONE = b"data: [DONE]\n\n"
_NULL_FINISH = b',"finish_reason":null}]}\n\n'


def new_completion_id(upstream: str = "") -> str:
    """A fresh id per answer: the upstream's is not reused, since local servers repeat theirs (Ollama's
    ``chatcmpl-<n>`` has three digits) and a client that sees one id twice merges two turns."""
    return "chatcmpl-" + random_hex(32)


class StreamEncoder:
    """Neutral events -> ``chat.completion.chunk`` SSE for an OpenAI client."""

    __slots__ = ("_closed", "_created", "_head", "_id", "_open", "_tools", "_usage", "include_usage", "model")

    def __init__(self, model: str, *, include_usage: bool = False) -> None:
        self.model = model
        self.include_usage = include_usage
        self._created = int(time.time())
        self._id = ""
        self._head = b""  # the bytes every chunk starts with, up to the delta
        self._usage: Usage | None = None
        self._tools: dict[int, int] = {}  # neutral part index -> wire tool_calls index
        self._open: set[int] = set()
        self._closed = False

    def _begin(self, upstream_id: str) -> None:
        self._id = new_completion_id(upstream_id)
        self._head = b"".join((
            b'data: {"id":', orjson.dumps(self._id), b',"object":"chat.completion.chunk","created":',
            str(self._created).encode(), b',"model":', orjson.dumps(self.model), b',"choices":[{"index":0,"delta":',
        ))  # fmt: skip

    def _chunk(self, delta: dict[str, Any]) -> bytes:
        if not self._head:
            self._begin("")
        return self._head + orjson.dumps(delta) + _NULL_FINISH

    def encode(self, event: Event) -> bytes:
        if self._closed:
            return b""
        kind = event.kind
        if kind == "text":
            return self._chunk({"content": event.text}) if event.text else b""  # type: ignore[union-attr]  # the Event union is narrowed by the kind check above (a local copy of event.kind)
        if kind == "tool_call_delta":
            return self._tool_delta(event)  # type: ignore[arg-type]  # the Event union is narrowed by the kind check above (a local copy of event.kind)
        if kind == "thinking":
            text = event.text  # type: ignore[union-attr]  # the Event union is narrowed by the kind check above (a local copy of event.kind)
            return self._chunk({"reasoning_content": text}) if text else b""
        if kind == "start":
            if not self._head:
                self._begin(event.id)  # type: ignore[union-attr]  # the Event union is narrowed by the kind check above (a local copy of event.kind)
            return self._chunk({"role": "assistant", "content": ""})
        if kind == "tool_call_start":
            return self._tool_start(event)  # type: ignore[arg-type]  # the Event union is narrowed by the kind check above (a local copy of event.kind)
        if kind == "tool_call_end":
            self._open.discard(event.index)  # type: ignore[union-attr]  # the Event union is narrowed by the kind check above (a local copy of event.kind)
        elif kind == "usage":
            self._usage = event.usage  # type: ignore[union-attr]  # the Event union is narrowed by the kind check above (a local copy of event.kind)
        elif kind == "finish":
            return self._finish(event)  # type: ignore[arg-type]  # the Event union is narrowed by the kind check above (a local copy of event.kind)
        elif kind == "error":
            return self.error(event.failure)  # type: ignore[union-attr]  # the Event union is narrowed by the kind check above (a local copy of event.kind)
        return b""

    def _tool_start(self, event: ToolCallStart) -> bytes:
        wire = self._tools[event.index] = len(self._tools)
        self._open.add(event.index)
        call = {"index": wire, "id": event.id, "type": "function", "function": {"name": event.name, "arguments": ""}}
        return self._chunk({"tool_calls": [call]})

    def _tool_delta(self, event: ToolCallDelta) -> bytes:
        wire = self._tools.get(event.index)
        if wire is None or not event.arguments:
            return b""
        return self._chunk({"tool_calls": [{"index": wire, "function": {"arguments": event.arguments}}]})

    def _finish(self, event: Finish) -> bytes:
        reason = event.reason
        if reason == "error":
            return self.error(Failure("server_error", "the upstream model reported an error"))
        if self._open and reason != "length":  # never present a half-streamed tool call as finished
            return self.error(Failure("stream_broken", "the stream finished inside an unfinished tool call"))
        if reason == "stop" and self._tools:
            reason = "tool_calls"
        self._closed = True
        if not self._head:
            self._begin("")
        parts = [self._head + b'{},"finish_reason":"' + reason.encode() + b'"}]}\n\n']
        if self.include_usage:
            parts.append(self._usage_chunk())
        parts.append(_DONE)
        return b"".join(parts)

    def _usage_chunk(self) -> bytes:
        body = {
            "id": self._id,
            "object": "chat.completion.chunk",
            "created": self._created,
            "model": self.model,
            "choices": [],
            "usage": encode_usage(self._usage or Usage()),
        }
        return b"data: " + orjson.dumps(body) + b"\n\n"

    def error(self, failure: Failure) -> bytes:
        """A mid-stream error chunk; no finish chunk and no [DONE] follow, so clients see a failure."""
        if self._closed:
            return b""
        self._closed = True
        _, body = encode_error(failure)
        return b"data: " + orjson.dumps(body) + b"\n\n"
