"""Gemini ``streamGenerateContent?alt=sse``: the stream codec plus the pieces it shares with gemini.py.

Each SSE ``data:`` line is a whole ``GenerateContentResponse`` fragment carrying only the new text.
There is no ``[DONE]``: a stream is complete once a ``finishReason`` (or a prompt block) arrived.

Thought signatures: Gemini can put a ``thoughtSignature`` on any part. A signature on a ``thought``
part stays on its ThinkingPart; a signature on any other part becomes a signature-only ThinkingPart
placed just before that part, so the stream events (which have no provider_details) can carry it.
"""

from __future__ import annotations

import json
from typing import Any

from . import errors
from .errors import Failure
from .history import client_signature, read_signature
from .messages import (
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
from .sse import SSEParser, encode

# Google documents these values as "no real signature, skip validation" for history from other models.
DUMMY_SIGNATURES = frozenset({"skip_thought_signature_validator", "context_engineering_is_the_way_to_go"})

_FINISH: dict[str, FinishReason] = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "FINISH_REASON_UNSPECIFIED": "stop",
    "MALFORMED_FUNCTION_CALL": "error",
    "UNEXPECTED_TOOL_CALL": "error",
    "TOO_MANY_TOOL_CALLS": "error",
    "MALFORMED_RESPONSE": "error",
    "MISSING_THOUGHT_SIGNATURE": "error",
    "OTHER": "error",
}
_FILTER_REASONS = frozenset(
    {"SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "LANGUAGE", "MODEL_ARMOR"}
)
_FINISH_OUT: dict[str, str] = {
    "stop": "STOP",
    "tool_calls": "STOP",
    "length": "MAX_TOKENS",
    "content_filter": "SAFETY",
    "error": "OTHER",
}

# failure kind -> (HTTP status, google.rpc status)
ERROR_STATUS: dict[str, tuple[int, str]] = {
    "rate_limited": (429, "RESOURCE_EXHAUSTED"),
    "quota_exhausted": (429, "RESOURCE_EXHAUSTED"),
    "auth_failed": (401, "UNAUTHENTICATED"),
    "bad_request": (400, "INVALID_ARGUMENT"),
    "context_too_long": (400, "INVALID_ARGUMENT"),
    "content_blocked": (400, "INVALID_ARGUMENT"),
    "not_found": (404, "NOT_FOUND"),
    "overloaded": (503, "UNAVAILABLE"),
    "unreachable": (503, "UNAVAILABLE"),
    "connection_lost": (503, "UNAVAILABLE"),
    "timeout": (504, "DEADLINE_EXCEEDED"),
}


# ---------------------------------------------------------------- shared helpers


def new_id(prefix: str = "resp_") -> str:
    return prefix + random_hex()


def compact_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def decode_finish(raw: str | None, has_tool_calls: bool) -> tuple[FinishReason, dict[str, Any] | None]:
    """Gemini finishReason -> neutral reason, plus the raw reason when it is not a plain STOP/MAX_TOKENS."""
    raw = raw or "STOP"
    if raw == "STOP" and has_tool_calls:
        return "tool_calls", None
    if raw in _FILTER_REASONS or raw.startswith("IMAGE_"):
        return "content_filter", {"gemini": {"finishReason": raw}}
    reason = _FINISH.get(raw, "error")
    return reason, None if raw in ("STOP", "MAX_TOKENS") else {"gemini": {"finishReason": raw}}


def encode_finish(reason: str, details: dict[str, Any] | None) -> str:
    raw = ((details or {}).get("gemini") or {}).get("finishReason")
    return raw if isinstance(raw, str) else _FINISH_OUT.get(reason, "OTHER")


def block_details(feedback: dict[str, Any]) -> dict[str, Any]:
    kept = {k: feedback[k] for k in ("blockReason", "blockReasonMessage") if k in feedback}
    return {"gemini": kept}


def decode_usage(meta: dict[str, Any]) -> Usage:
    thoughts = int(meta.get("thoughtsTokenCount") or 0)
    return Usage(
        input_tokens=int(meta.get("promptTokenCount") or 0),
        output_tokens=int(meta.get("candidatesTokenCount") or 0) + thoughts,
        cached_tokens=int(meta.get("cachedContentTokenCount") or 0),
        reasoning_tokens=thoughts,
    )


def encode_usage(usage: Usage) -> dict[str, Any]:
    out: dict[str, Any] = {
        "promptTokenCount": usage.input_tokens,
        "candidatesTokenCount": max(usage.output_tokens - usage.reasoning_tokens, 0),
        "totalTokenCount": usage.input_tokens + usage.output_tokens,
    }
    if usage.reasoning_tokens:
        out["thoughtsTokenCount"] = usage.reasoning_tokens
    if usage.cached_tokens:
        out["cachedContentTokenCount"] = usage.cached_tokens
    return out


def real_signature(part: dict[str, Any]) -> str | None:
    sig = part.get("thoughtSignature")
    return sig if isinstance(sig, str) and sig and sig not in DUMMY_SIGNATURES else None


def signature_of(part: dict[str, Any]) -> tuple[str | None, str | None]:
    """(signature, its signer) of a part: Gemini's own, or a foreign one detour wrapped for a client."""
    return read_signature(real_signature(part), "gemini")


def unwrap_list(payload: Any) -> Any:
    """Gemini sometimes wraps a body (errors especially) in a one-element JSON array."""
    if isinstance(payload, list) and len(payload) == 1:
        return payload[0]
    return payload


def failure_from_error(payload: dict[str, Any], status: int | None = None) -> Failure:
    """An ``{"error": {...}}`` body -> Failure, through the one shared classifier."""
    raw = payload.get("error")
    err: dict[str, Any] = raw if isinstance(raw, dict) else {}
    code = status or (err.get("code") if isinstance(err.get("code"), int) else None)
    return errors.classify("gemini", code or 200, {}, payload)


def error_object(failure: Failure) -> dict[str, Any]:
    """The inner ``error`` object Gemini uses, for a Failure."""
    code, status = ERROR_STATUS.get(failure.kind, (500, "INTERNAL"))
    if failure.kind == "auth_failed" and failure.status == 403:
        code, status = 403, "PERMISSION_DENIED"
    details: list[dict[str, Any]] = []
    if failure.retry_after_s is not None:
        details.append(
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": duration(failure.retry_after_s)}
        )
    return {"code": code, "message": failure.message or status, "status": status, "details": details}


def duration(seconds: float) -> str:
    """A protobuf Duration JSON string: ``"53s"``, ``"1.5s"``."""
    text = f"{seconds:.3f}".rstrip("0").rstrip(".")
    return text + "s"


def function_call_part(call_id: str, name: str, arguments: str) -> dict[str, Any]:
    fc: dict[str, Any] = {"name": name, "args": parse_args(arguments)}
    if call_id:
        fc["id"] = call_id
    return {"functionCall": fc}


def parse_args(arguments: str) -> dict[str, Any]:
    """Tool-call JSON text -> the object Gemini needs; non-object or broken JSON is wrapped, not dropped."""
    try:
        value = json.loads(arguments) if arguments.strip() else {}
    except ValueError:
        return {"value": arguments}
    return value if isinstance(value, dict) else {"value": value}


# ---------------------------------------------------------------- decoding


class StreamDecoder:
    """Upstream Gemini SSE bytes -> neutral events."""

    def __init__(self) -> None:
        self._parser = SSEParser()
        self._started = False
        self._next = 0  # index of the next new part
        self._open: tuple[str, int, bool] | None = None  # (kind, index, has signature) of a growable part
        self._calls = 0
        self._failed = False
        self.done = False  # a finishReason, a prompt block or an error was seen
        self.data_events = 0  # data: messages received

    def feed(self, chunk: bytes) -> list[Event]:
        out: list[Event] = []
        for msg in self._parser.feed(chunk):
            self._message(msg.data, out)
        return out

    def close(self) -> list[Event]:
        out: list[Event] = []
        for msg in self._parser.close():
            self._message(msg.data, out)
        if not self.done:
            self.done = True
            out.append(ErrorEvent(Failure("stream_broken", "stream ended without a finishReason")))
        return out

    def _message(self, data: str, out: list[Event]) -> None:
        if not data.strip():
            return
        self.data_events += 1
        if self.done and self._failed:
            return
        try:
            chunk = unwrap_list(json.loads(data))
        except ValueError:
            return self._fail(Failure("stream_broken", f"malformed chunk: {data[:200]}"), out)
        if not isinstance(chunk, dict):
            return self._fail(Failure("stream_broken", f"malformed chunk: {data[:200]}"), out)
        if "error" in chunk:
            return self._fail(failure_from_error(chunk), out)
        self._chunk(chunk, out)

    def _fail(self, failure: Failure, out: list[Event]) -> None:
        self.done = self._failed = True
        out.append(ErrorEvent(failure))

    def _chunk(self, chunk: dict[str, Any], out: list[Event]) -> None:
        if not self._started:
            self._started = True
            out.append(Start(str(chunk.get("responseId") or new_id()), str(chunk.get("modelVersion") or "")))
        candidates = chunk.get("candidates") or []
        candidate = candidates[0] if candidates and isinstance(candidates[0], dict) else {}
        for part in (candidate.get("content") or {}).get("parts") or []:
            if isinstance(part, dict):
                self._part(part, out)
        if isinstance(chunk.get("usageMetadata"), dict):
            out.append(UsageEvent(decode_usage(chunk["usageMetadata"])))
        self._finish(candidate, chunk, out)

    def _finish(self, candidate: dict[str, Any], chunk: dict[str, Any], out: list[Event]) -> None:
        feedback = chunk.get("promptFeedback") or {}
        if candidate.get("finishReason"):
            reason, details = decode_finish(candidate["finishReason"], self._calls > 0)
            out.append(Finish(reason, details))
            self.done = True
        elif not candidate and feedback.get("blockReason"):
            out.append(Finish("content_filter", block_details(feedback)))
            self.done = True

    def _part(self, part: dict[str, Any], out: list[Event]) -> None:
        sig, origin = signature_of(part)
        if part.get("thought"):
            return self._thought(str(part.get("text") or ""), sig, out, origin)
        if sig:
            out.append(ThinkingDelta(self._new(None), "", sig, origin=origin))
        if "functionCall" in part:
            self._function_call(part["functionCall"] or {}, out)
        elif isinstance(part.get("text"), str) and part["text"]:
            self._text(part["text"], out)

    def _thought(self, text: str, sig: str | None, out: list[Event], origin: str | None = None) -> None:
        if self._open and self._open[0] == "thinking" and not self._open[2]:
            index = self._open[1]
        else:
            index = self._new("thinking")
        if sig:
            self._open = ("thinking", index, True)
        if text or sig:
            out.append(ThinkingDelta(index, text, sig, origin=origin))

    def _text(self, text: str, out: list[Event]) -> None:
        index = self._open[1] if self._open and self._open[0] == "text" else self._new("text")
        out.append(TextDelta(index, text))

    def _function_call(self, call: dict[str, Any], out: list[Event]) -> None:
        index = self._new(None)
        call_id = str(call.get("id") or new_call_id())
        self._calls += 1
        out.append(ToolCallStart(index, call_id, str(call.get("name") or "")))
        out.append(ToolCallDelta(index, compact_json(call.get("args") or {})))
        out.append(ToolCallEnd(index))

    def _new(self, kind: str | None) -> int:
        index, self._next = self._next, self._next + 1
        self._open = (kind, index, False) if kind else None
        return index


# ---------------------------------------------------------------- encoding


class StreamEncoder:
    """Neutral events -> Gemini SSE fragments. Tool calls are emitted whole, at their ToolCallEnd."""

    def __init__(self, model: str) -> None:
        self.model = model
        self.id = ""
        self._calls: dict[int, list[str]] = {}  # index -> [id, name, arguments so far]
        self._thought_text: set[int] = set()  # indices whose thought text was already sent
        self._pending_sig: str | None = None  # a signature-only thought waiting for its part
        self._usage: Usage | None = None
        self._finished = False

    def encode(self, event: Event) -> bytes:
        kind = event.kind
        if kind == "start":
            self.id, self.model = event.id, event.model or self.model  # type: ignore[union-attr]  # the Event union is narrowed by the kind check above (a local copy of event.kind)
            return b""
        if kind == "text":
            return self._parts([{"text": event.text}])  # type: ignore[union-attr]  # the Event union is narrowed by the kind check above (a local copy of event.kind)
        if kind == "thinking":
            return self._thinking(event)  # type: ignore[arg-type]  # the Event union is narrowed by the kind check above (a local copy of event.kind)
        if kind in ("tool_call_start", "tool_call_delta", "tool_call_end"):
            return self._tool(event)
        if kind == "usage":
            return self._usage_event(event)  # type: ignore[arg-type]  # the Event union is narrowed by the kind check above (a local copy of event.kind)
        if kind == "finish":
            return self._finish(event)  # type: ignore[arg-type]  # the Event union is narrowed by the kind check above (a local copy of event.kind)
        if kind == "error":
            return self.error(event.failure)  # type: ignore[union-attr]  # the Event union is narrowed by the kind check above (a local copy of event.kind)
        return b""

    def error(self, failure: Failure) -> bytes:
        body = error_object(failure)
        return encode(compact_json({"error": {k: body[k] for k in ("code", "message", "status")}}))

    def _thinking(self, event: ThinkingDelta) -> bytes:
        if event.redacted_data and not event.text:
            return b""
        if event.text:
            self._thought_text.add(event.index)
            part: dict[str, Any] = {"text": event.text, "thought": True}
            signature = client_signature(event.signature, event.origin, "gemini")
            if signature:
                part["thoughtSignature"] = signature
            return self._parts([part])
        signature = client_signature(event.signature, event.origin, "gemini")
        if not signature:
            return b""
        if event.index in self._thought_text:  # the closing signature of a thought that streamed text
            return self._parts([{"text": "", "thought": True, "thoughtSignature": signature}])
        flushed = self._flush_signature()
        self._pending_sig = signature
        return flushed

    def _flush_signature(self) -> bytes:
        return self._parts([{"text": ""}]) if self._pending_sig else b""

    def _tool(self, event: Event) -> bytes:
        if isinstance(event, ToolCallStart):
            self._calls[event.index] = [event.id, event.name, ""]
        elif isinstance(event, ToolCallDelta) and event.index in self._calls:
            self._calls[event.index][2] += event.arguments
        elif isinstance(event, ToolCallEnd) and event.index in self._calls:
            call_id, name, args = self._calls.pop(event.index)
            return self._parts([function_call_part(call_id, name, args)])
        return b""

    def _usage_event(self, event: UsageEvent) -> bytes:
        self._usage = event.usage
        if not self._finished:
            return b""
        return self._chunk({"usageMetadata": encode_usage(event.usage)})

    def _finish(self, event: Finish) -> bytes:
        self._finished = True
        details = event.provider_details or {}
        block = (details.get("gemini") or {}).get("blockReason")
        if event.reason == "content_filter" and block:
            return self._chunk(self._with_usage({"promptFeedback": dict(details["gemini"])}))
        candidate: dict[str, Any] = {"finishReason": encode_finish(event.reason, details), "index": 0}
        parts = [{"text": "", "thoughtSignature": self._pending_sig}] if self._pending_sig else []
        self._pending_sig = None
        candidate["content"] = {"role": "model", "parts": parts or [{"text": ""}]}
        return self._chunk(self._with_usage({"candidates": [candidate]}))

    def _with_usage(self, body: dict[str, Any]) -> dict[str, Any]:
        if self._usage is not None:
            body["usageMetadata"] = encode_usage(self._usage)
        return body

    def _parts(self, parts: list[dict[str, Any]]) -> bytes:
        if self._pending_sig:
            parts[0] = {**parts[0], "thoughtSignature": self._pending_sig}
            self._pending_sig = None
        candidate = {"content": {"role": "model", "parts": parts}, "index": 0}
        return self._chunk({"candidates": [candidate]})

    def _chunk(self, body: dict[str, Any]) -> bytes:
        body["modelVersion"] = self.model
        if self.id:
            body["responseId"] = self.id
        return encode(compact_json(body))
