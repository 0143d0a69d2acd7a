"""OpenAI Responses streaming, plus the wire helpers shared with ``openai_responses``.

    upstream SSE bytes ──StreamDecoder──> neutral events ──StreamEncoder──> client SSE bytes

The client stream is the documented Responses event sequence: ``response.created``, ``response.in_progress``, then per output item
``output_item.added`` → content/summary part added → deltas → done events → ``output_item.done``, and
finally ``response.completed`` (or ``response.incomplete``) carrying the whole response with usage.
Every event has a ``sequence_number`` that grows by one. A failure after the start ends the stream with an
``error`` event and ``response.failed``, never a normal completion.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Mapping
from typing import Any

import orjson

from detour.protocol import errors as _errors
from detour.protocol.errors import Failure
from detour.protocol.messages import (
    ErrorEvent,
    Event,
    Finish,
    FinishReason,
    Part,
    Request,
    ResponseFormat,
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
    new_call_id,
    random_hex,
)
from detour.protocol.openai_chat_stream import encode_error
from detour.protocol.sse import SSEParser

__all__ = ["ENVELOPE", "PD", "StreamDecoder", "StreamEncoder", "decode_usage", "encode_error", "encode_usage"]

PD = "openai_responses"  # the provider_details key the Responses codec owns
ENVELOPE = "detour.v1:"  # encrypted_content carrying another provider's reasoning signature


# ================================================================ shared wire helpers


def _is_refusal(p: TextPart) -> bool:
    od = p.provider_details.get("openai") if p.provider_details else None
    return bool(od and od.get("refusal"))


def encode_format(rf: ResponseFormat) -> dict[str, Any]:
    if rf.type != "json_schema":
        return {"type": rf.type}
    fmt: dict[str, Any] = {"type": "json_schema", "name": rf.name or "response", "schema": rf.schema or {}}
    if rf.strict is not None:
        fmt["strict"] = rf.strict
    return fmt


def decode_reasoning(item: dict[str, Any], path: str) -> ThinkingPart:
    summary = item.get("summary") or []
    if not isinstance(summary, list):
        raise ValueError(f"{path}.summary: expected an array of summary_text parts")
    texts = [s["text"] for s in summary if isinstance(s, dict) and isinstance(s.get("text"), str)]
    encrypted = item.get("encrypted_content")
    if encrypted is not None and not isinstance(encrypted, str):
        raise ValueError(f"{path}.encrypted_content: expected a string")
    if encrypted and encrypted.startswith(ENVELOPE):
        return _open_envelope(encrypted, path)
    detail: dict[str, Any] = {"summary": texts}
    if isinstance(item.get("id"), str):
        detail["id"] = item["id"]
    if encrypted:
        detail["encrypted_content"] = encrypted
    content = item.get("content")
    if isinstance(content, list):  # reasoning_text parts (open-weight models on LM Studio / Ollama)
        texts = [c["text"] for c in content if isinstance(c, dict) and isinstance(c.get("text"), str)] or texts
    return ThinkingPart("\n\n".join(texts), provider_details={PD: detail}, origin="openai" if encrypted else None)


def seal(part: ThinkingPart) -> str:
    """Another provider's reasoning as an ``encrypted_content`` string only detour opens again."""
    body = {"t": part.text, "s": part.signature, "r": part.redacted_data, "d": part.provider_details, "o": part.origin}
    return ENVELOPE + base64.urlsafe_b64encode(orjson.dumps({k: v for k, v in body.items() if v})).decode()


def _open_envelope(sealed: str, path: str) -> ThinkingPart:
    try:
        data = orjson.loads(base64.urlsafe_b64decode(sealed[len(ENVELOPE):]))
    except (ValueError, orjson.JSONDecodeError):
        raise ValueError(f"{path}.encrypted_content: a {ENVELOPE!r} value was altered; send it back unchanged") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}.encrypted_content: a {ENVELOPE!r} value was altered; send it back unchanged")
    details = data.get("d") if isinstance(data.get("d"), dict) else None
    origin = data.get("o") if isinstance(data.get("o"), str) else None
    return ThinkingPart(str(data.get("t") or ""), data.get("s"), data.get("r"), details, origin=origin)






def decode_usage(u: dict[str, Any]) -> Usage:
    ind = u.get("input_tokens_details") or {}
    outd = u.get("output_tokens_details") or {}
    return Usage(
        input_tokens=u.get("input_tokens") or 0,
        output_tokens=u.get("output_tokens") or 0,
        cached_tokens=ind.get("cached_tokens") or 0,
        cache_write_tokens=ind.get("cache_write_tokens") or 0,
        reasoning_tokens=outd.get("reasoning_tokens") or 0,
    )


def encode_usage(u: Usage) -> dict[str, Any]:
    return {
        "input_tokens": u.input_tokens,
        "input_tokens_details": {"cached_tokens": u.cached_tokens, "cache_write_tokens": u.cache_write_tokens},
        "output_tokens": u.output_tokens,
        "output_tokens_details": {"reasoning_tokens": u.reasoning_tokens},
        "total_tokens": u.input_tokens + u.output_tokens,
    }


def decode_finish(status: Any, incomplete: Any, has_calls: bool) -> tuple[FinishReason, dict[str, Any] | None]:
    """A response's ``status`` and ``incomplete_details`` -> a neutral finish reason."""
    if status == "incomplete":
        reason = incomplete.get("reason") if isinstance(incomplete, dict) else None
        return ("content_filter" if reason == "content_filter" else "length"), {"incomplete_reason": reason}
    if status == "failed":
        return "error", None
    return ("tool_calls" if has_calls else "stop"), None


def decode_item(item: dict[str, Any]) -> list[Part]:
    """One output item -> neutral parts (hosted-tool items have no neutral meaning and are skipped)."""
    kind = item.get("type")
    if kind == "message":
        parts: list[Part] = []
        for c in item.get("content") or ():
            if c.get("type") == "output_text":
                parts.append(TextPart(str(c.get("text") or "")))
            elif c.get("type") == "refusal":
                parts.append(TextPart(str(c.get("refusal") or ""), provider_details={"openai": {"refusal": True}}))
        return parts
    if kind == "function_call":
        extra = {k: item[k] for k in ("id", "namespace") if isinstance(item.get(k), str)}
        call_id = str(item.get("call_id") or item.get("id") or new_call_id())
        return [ToolCallPart(call_id, str(item.get("name") or ""), str(item.get("arguments") or "{}"), {PD: extra} if extra else None)]
    if kind == "reasoning":
        return [decode_reasoning(item, "output")]
    return []


def new_response_id(upstream: str = "") -> str:
    """A fresh ``resp_`` id for every answer (upstream ids are not reused: local servers repeat theirs)."""
    return "resp_" + random_hex(32)


def new_item_id(prefix: str) -> str:
    return f"{prefix}_{random_hex(32)}"


def message_item(item_id: str, texts: list[TextPart], status: str = "completed") -> dict[str, Any]:
    content = [
        {"type": "refusal", "refusal": t.text} if _is_refusal(t)
        else {"type": "output_text", "text": t.text, "annotations": [], "logprobs": []}
        for t in texts
    ]
    return {"id": item_id, "type": "message", "status": status, "role": "assistant", "content": content}


def call_item(item_id: str, p: ToolCallPart, status: str = "completed", namespaces: Mapping[str, str] | None = None) -> dict[str, Any]:
    item: dict[str, Any] = {"id": item_id, "type": "function_call", "status": status, "call_id": p.id,
                            "name": p.name, "arguments": p.arguments}
    ns = (namespaces or {}).get(p.name)
    if ns:
        item["namespace"] = ns
    return item


def reasoning_item(item_id: str, p: ThinkingPart, *, encrypted: bool) -> dict[str, Any]:
    detail = (p.provider_details or {}).get(PD) or {}
    item: dict[str, Any] = {"id": detail.get("id") or item_id, "type": "reasoning",
                            "summary": [{"type": "summary_text", "text": p.text}] if p.text else []}
    if encrypted:
        sealed = detail.get("encrypted_content") or (seal(p) if p.signature or p.redacted_data else None)
        if sealed:
            item["encrypted_content"] = sealed
    return item


def output_items(content: list[Part], *, encrypted: bool, namespaces: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """Neutral parts -> Responses output items (adjacent texts share one message item)."""
    out: list[dict[str, Any]] = []
    texts: list[TextPart] = []
    for p in content:
        if isinstance(p, TextPart):
            texts.append(p)
            continue
        if texts:
            out.append(message_item(new_item_id("msg"), texts))
            texts = []
        if isinstance(p, ToolCallPart):
            out.append(call_item(new_item_id("fc"), p, namespaces=namespaces))
        elif isinstance(p, ThinkingPart):
            out.append(reasoning_item(new_item_id("rs"), p, encrypted=encrypted))
    if texts:
        out.append(message_item(new_item_id("msg"), texts))
    return out


def response_object(
    resp_id: str, model: str, req: Request | None, *, status: str, output: list[dict[str, Any]],
    usage: Usage | None, created: int | None = None, error: dict[str, Any] | None = None,
    incomplete: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The ``response`` object, echoing the request's settings as OpenAI does."""
    pd = (req.provider_details.get(PD) if req is not None else None) or {}
    raw = pd.get("raw") or {}
    tc = req.tool_choice if req is not None else None
    choice: Any = "auto"
    if tc is not None:
        choice = {"type": "function", "name": tc.name} if tc.mode == "tool" else tc.mode
    return {
        "id": resp_id,
        "object": "response",
        "created_at": created if created is not None else int(time.time()),
        "status": status,
        "background": False,
        "error": error,
        "incomplete_details": incomplete,
        "instructions": raw.get("instructions"),
        "max_output_tokens": req.max_tokens if req is not None else None,
        "metadata": (req.metadata if req is not None else None) or {},
        "model": model,
        "output": output,
        "parallel_tool_calls": tc.parallel is not False if tc is not None else True,
        "previous_response_id": None,
        "prompt_cache_key": raw.get("prompt_cache_key"),
        "reasoning": {"effort": req.reasoning_effort if req is not None else None, "summary": pd.get("summary")},
        "store": False,
        "temperature": req.temperature if req is not None else None,
        "text": {"format": encode_format(req.response_format) if req is not None and req.response_format else {"type": "text"}},
        "tool_choice": choice,
        "tools": _echo_tools(raw.get("tools")),
        "top_p": req.top_p if req is not None else None,
        "truncation": "disabled",
        "usage": encode_usage(usage) if usage is not None else None,
        "user": req.user if req is not None else None,
    }


def _echo_tools(tools: Any) -> list[Any]:
    """The request's tools as the response lists them: a Codex namespace as its inner functions."""
    out: list[Any] = []
    for t in tools or ():
        if isinstance(t, dict) and t.get("type") == "namespace":
            out += [sub for sub in t.get("tools") or () if isinstance(sub, dict)]
        else:
            out.append(t)
    return out


def namespaces_of(req: Request | None) -> dict[str, str]:
    """Tool name -> the Codex namespace it was offered in."""
    if req is None:
        return {}
    return {t.name: t.provider_details[PD]["namespace"] for t in req.tools
            if t.provider_details and PD in t.provider_details}


def wants_encrypted(req: Request | None) -> bool:
    pd = (req.provider_details.get(PD) if req is not None else None) or {}
    return "reasoning.encrypted_content" in (pd.get("include") or ())


# ================================================================ upstream SSE -> events


class StreamDecoder:
    """Incremental decoder of a Responses SSE stream; ``done`` once a terminal response event was seen."""

    __slots__ = ("_args", "_ended", "_index", "_next", "_sse", "_summary", "data_events", "done")

    def __init__(self) -> None:
        self._sse = SSEParser()
        self.done = False
        self.data_events = 0
        self._ended = False
        self._next = 0
        self._index: dict[int, int] = {}  # output_index -> neutral part index
        self._args: set[int] = set()  # output_index of calls that streamed argument deltas
        self._summary: dict[int, int] = {}  # output_index -> last summary_index seen

    def feed(self, chunk: bytes) -> list[Event]:
        out: list[Event] = []
        for msg in self._sse.feed(chunk):
            self.data_events += 1
            if not self._ended:
                self._message(msg.data, out)
        return out

    def close(self) -> list[Event]:
        out: list[Event] = []
        for msg in self._sse.close():
            if not self._ended:
                self._message(msg.data, out)
        if not self._ended:
            self._fail(out, Failure("stream_broken", "stream ended before response.completed"))
        return out

    def _message(self, data: str, out: list[Event]) -> None:
        try:
            obj = orjson.loads(data)
        except orjson.JSONDecodeError:
            obj = None
        if not isinstance(obj, dict):
            self._fail(out, Failure("stream_broken", f"malformed event from upstream: {data[:120]!r}"))
            return
        kind = obj.get("type")
        handler = _HANDLERS.get(kind) if isinstance(kind, str) else None
        if handler is not None:
            handler(self, obj, out)

    def _idx(self, obj: dict[str, Any]) -> int:
        pos = obj.get("output_index", 0)
        idx = self._index.get(pos)
        if idx is None:
            idx = self._index[pos] = self._next
            self._next += 1
        return idx

    def _created(self, obj: dict[str, Any], out: list[Event]) -> None:
        r = obj.get("response") or {}
        out.append(Start(str(r.get("id") or ""), str(r.get("model") or "")))

    def _item_added(self, obj: dict[str, Any], out: list[Event]) -> None:
        item = obj.get("item") or {}
        if item.get("type") == "function_call":
            call_id = str(item.get("call_id") or item.get("id") or new_call_id())
            out.append(ToolCallStart(self._idx(obj), call_id, str(item.get("name") or "")))
        elif item.get("type") in ("message", "reasoning"):
            self._idx(obj)

    def _text(self, obj: dict[str, Any], out: list[Event]) -> None:
        delta = obj.get("delta")
        if isinstance(delta, str) and delta:
            out.append(TextDelta(self._idx(obj), delta))

    def _reasoning(self, obj: dict[str, Any], out: list[Event]) -> None:
        delta = obj.get("delta")
        if not isinstance(delta, str) or not delta:
            return
        pos, part = obj.get("output_index", 0), obj.get("summary_index", obj.get("content_index", 0))
        last = self._summary.get(pos)
        if last is not None and last != part:
            delta = "\n\n" + delta
        self._summary[pos] = part
        out.append(ThinkingDelta(self._idx(obj), delta))

    def _args_delta(self, obj: dict[str, Any], out: list[Event]) -> None:
        delta = obj.get("delta")
        if isinstance(delta, str) and delta:
            self._args.add(obj.get("output_index", 0))
            out.append(ToolCallDelta(self._idx(obj), delta))

    def _item_done(self, obj: dict[str, Any], out: list[Event]) -> None:
        item = obj.get("item") or {}
        kind = item.get("type")
        if kind == "function_call":
            idx = self._idx(obj)
            if obj.get("output_index", 0) not in self._args and item.get("arguments"):
                out.append(ToolCallDelta(idx, str(item["arguments"])))
            out.append(ToolCallEnd(idx))
        elif kind == "reasoning":
            part = decode_reasoning(item, "item")
            out.append(ThinkingDelta(self._idx(obj), "", part.signature, part.redacted_data, part.provider_details,
                                     origin=part.origin))

    def _terminal(self, obj: dict[str, Any], out: list[Event]) -> None:
        r = obj.get("response") or {}
        has_calls = any(isinstance(i, dict) and i.get("type") == "function_call" for i in r.get("output") or ())
        reason, details = decode_finish(r.get("status") or "completed", r.get("incomplete_details"), has_calls)
        out.append(UsageEvent(decode_usage(r.get("usage") or {})))
        out.append(Finish(reason, details))
        self.done = self._ended = True

    def _failed(self, obj: dict[str, Any], out: list[Event]) -> None:
        self._fail(out, _errors.classify_stream_error("openai", obj))

    def _fail(self, out: list[Event], failure: Failure) -> None:
        out.append(ErrorEvent(failure))
        self._ended = True


_HANDLERS: dict[str, Any] = {
    "response.created": StreamDecoder._created,
    "response.output_item.added": StreamDecoder._item_added,
    "response.output_text.delta": StreamDecoder._text,
    "response.refusal.delta": StreamDecoder._text,
    "response.reasoning_summary_text.delta": StreamDecoder._reasoning,
    "response.reasoning_text.delta": StreamDecoder._reasoning,
    "response.function_call_arguments.delta": StreamDecoder._args_delta,
    "response.output_item.done": StreamDecoder._item_done,
    "response.completed": StreamDecoder._terminal,
    "response.incomplete": StreamDecoder._terminal,
    "response.failed": StreamDecoder._failed,
    "error": StreamDecoder._failed,
}


# ================================================================ events -> client SSE

_FAILED_CODE = {"rate_limited": "rate_limit_exceeded", "quota_exhausted": "rate_limit_exceeded"}


class _Open:
    """The output item being streamed."""

    __slots__ = ("call", "index", "item_id", "kind", "output_index", "text", "thinking")

    def __init__(self, kind: str, index: int, item_id: str, output_index: int) -> None:
        self.kind, self.index, self.item_id, self.output_index = kind, index, item_id, output_index
        self.text: list[str] = []
        self.call: ToolCallPart | None = None
        self.thinking: ThinkingPart | None = None


class StreamEncoder:
    """Neutral events -> Responses SSE for a client. ``request`` supplies the echoed settings."""

    __slots__ = ("_closed", "_created", "_id", "_items", "_open", "_req", "_seq", "_started", "_usage", "model")

    def __init__(self, model: str, *, request: Request | None = None) -> None:
        self.model = model
        self._req = request
        self._created = int(time.time())
        self._id = ""
        self._seq = 0
        self._items: list[dict[str, Any]] = []
        self._open: _Open | None = None
        self._usage: Usage | None = None
        self._started = False
        self._closed = False

    def _event(self, kind: str, body: dict[str, Any]) -> bytes:
        body["type"] = kind
        body["sequence_number"] = self._seq
        self._seq += 1
        return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(body) + b"\n\n"

    def _response(self, status: str, **extra: Any) -> dict[str, Any]:
        return response_object(self._id, self.model, self._req, status=status, output=list(self._items),
                               usage=extra.pop("usage", None), created=self._created, **extra)

    def _begin(self, upstream_id: str) -> bytes:
        self._started = True
        self._id = new_response_id(upstream_id)
        created = self._event("response.created", {"response": self._response("in_progress")})
        return created + self._event("response.in_progress", {"response": self._response("in_progress")})

    def encode(self, event: Event) -> bytes:
        if self._closed:
            return b""
        kind = event.kind
        head = b"" if self._started or kind == "start" else self._begin("")
        if kind == "text":
            return head + self._text(event)  # type: ignore[arg-type]  # the Event union is narrowed by the kind check above (a local copy of event.kind)
        if kind == "tool_call_delta":
            return head + self._args(event)  # type: ignore[arg-type]  # the Event union is narrowed by the kind check above (a local copy of event.kind)
        if kind == "thinking":
            return head + self._thinking(event)  # type: ignore[arg-type]  # the Event union is narrowed by the kind check above (a local copy of event.kind)
        if kind == "start":
            return b"" if self._started else self._begin(event.id)  # type: ignore[union-attr]  # the Event union is narrowed by the kind check above (a local copy of event.kind)
        if kind == "tool_call_start":
            return head + self._call_start(event)  # type: ignore[arg-type]  # the Event union is narrowed by the kind check above (a local copy of event.kind)
        if kind == "tool_call_end":
            return head + (self._close() if self._open and self._open.index == event.index else b"")  # type: ignore[union-attr]  # the Event union is narrowed by the kind check above (a local copy of event.kind)
        if kind == "usage":
            self._usage = event.usage  # type: ignore[union-attr]  # the Event union is narrowed by the kind check above (a local copy of event.kind)
            return head
        if kind == "finish":
            return head + self._finish(event)  # type: ignore[arg-type]  # the Event union is narrowed by the kind check above (a local copy of event.kind)
        if kind == "error":
            return head + self.error(event.failure)  # type: ignore[union-attr]  # the Event union is narrowed by the kind check above (a local copy of event.kind)
        return head

    # -- items

    def _switch(self, kind: str, index: int, prefix: str) -> tuple[_Open, bytes]:
        cur = self._open
        if cur is not None and cur.kind == kind and cur.index == index:
            return cur, b""
        out = self._close() if cur is not None else b""
        cur = self._open = _Open(kind, index, new_item_id(prefix), len(self._items))
        return cur, out

    def _text(self, e: TextDelta) -> bytes:
        if not e.text:
            return b""
        cur, out = self._switch("message", e.index, "msg")
        if not cur.text:
            item = message_item(cur.item_id, [], "in_progress")
            out += self._event("response.output_item.added", {"output_index": cur.output_index, "item": item})
            part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
            out += self._event("response.content_part.added", {"item_id": cur.item_id, "output_index": cur.output_index,
                                                               "content_index": 0, "part": part})
        cur.text.append(e.text)
        return out + self._event("response.output_text.delta", {
            "item_id": cur.item_id, "output_index": cur.output_index, "content_index": 0, "delta": e.text,
            "logprobs": []})

    def _thinking(self, e: ThinkingDelta) -> bytes:
        cur, out = self._switch("reasoning", e.index, "rs")
        if cur.thinking is None:
            cur.thinking = ThinkingPart()
            item = {"id": cur.item_id, "type": "reasoning", "summary": []}
            out += self._event("response.output_item.added", {"output_index": cur.output_index, "item": item})
        th = cur.thinking
        if e.signature:
            th.signature = (th.signature or "") + e.signature
        if e.redacted_data:
            th.redacted_data = e.redacted_data
        if e.provider_details:
            th.provider_details = {**(th.provider_details or {}), **e.provider_details}
        if e.origin:
            th.origin = e.origin
        if e.text:
            if not cur.text:
                out += self._event("response.reasoning_summary_part.added", {
                    "item_id": cur.item_id, "output_index": cur.output_index, "summary_index": 0,
                    "part": {"type": "summary_text", "text": ""}})
            cur.text.append(e.text)
            out += self._event("response.reasoning_summary_text.delta", {
                "item_id": cur.item_id, "output_index": cur.output_index, "summary_index": 0, "delta": e.text})
        return out

    def _call_start(self, e: ToolCallStart) -> bytes:
        out = self._close() if self._open is not None else b""
        cur = self._open = _Open("function_call", e.index, new_item_id("fc"), len(self._items))
        cur.call = ToolCallPart(e.id, e.name, "")
        item = call_item(cur.item_id, cur.call, "in_progress", namespaces_of(self._req))
        return out + self._event("response.output_item.added", {"output_index": cur.output_index, "item": item})

    def _args(self, e: ToolCallDelta) -> bytes:
        cur = self._open
        if cur is None or cur.call is None or cur.index != e.index or not e.arguments:
            return b""
        cur.text.append(e.arguments)
        return self._event("response.function_call_arguments.delta", {
            "item_id": cur.item_id, "output_index": cur.output_index, "delta": e.arguments})

    def _close(self) -> bytes:
        cur = self._open
        assert cur is not None
        self._open = None
        text = "".join(cur.text)
        where = {"item_id": cur.item_id, "output_index": cur.output_index}
        if cur.kind == "message":
            part = {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
            out = self._event("response.output_text.done", {**where, "content_index": 0, "text": text, "logprobs": []})
            out += self._event("response.content_part.done", {**where, "content_index": 0, "part": part})
            item = message_item(cur.item_id, [TextPart(text)])
        elif cur.kind == "reasoning":
            assert cur.thinking is not None
            cur.thinking.text = text
            out = b""
            if text:
                out += self._event("response.reasoning_summary_text.done", {**where, "summary_index": 0, "text": text})
                out += self._event("response.reasoning_summary_part.done", {
                    **where, "summary_index": 0, "part": {"type": "summary_text", "text": text}})
            item = reasoning_item(cur.item_id, cur.thinking, encrypted=wants_encrypted(self._req))
            item["id"] = cur.item_id  # the id the client saw in output_item.added
        else:
            assert cur.call is not None
            cur.call.arguments = text or "{}"
            out = self._event("response.function_call_arguments.done", {**where, "name": cur.call.name,
                                                                         "arguments": cur.call.arguments})
            item = call_item(cur.item_id, cur.call, namespaces=namespaces_of(self._req))
        self._items.append(item)
        return out + self._event("response.output_item.done", {"output_index": cur.output_index, "item": item})

    # -- the end

    def _finish(self, e: Finish) -> bytes:
        if e.reason == "error":
            return self.error(Failure("server_error", "the upstream model reported an error"))
        if self._open is not None and self._open.kind == "function_call" and e.reason != "length":
            return self.error(Failure("stream_broken", "the stream finished inside an unfinished tool call"))
        out = self._close() if self._open is not None else b""
        self._closed = True
        if e.reason in ("length", "content_filter"):
            reason = "content_filter" if e.reason == "content_filter" else "max_output_tokens"
            body = self._response("incomplete", usage=self._usage or Usage(), incomplete={"reason": reason})
            return out + self._event("response.incomplete", {"response": body})
        return out + self._event("response.completed", {"response": self._response("completed", usage=self._usage or Usage())})

    def error(self, failure: Failure) -> bytes:
        """``error`` then ``response.failed``: the client sees a failure, never a completed response."""
        if self._closed:
            return b""
        out = b"" if self._started else self._begin("")
        self._closed = True
        _status, body = encode_error(failure)
        err = body["error"]
        out += self._event("error", {"code": err["code"], "message": err["message"], "param": err["param"]})
        failed = {"code": _FAILED_CODE.get(failure.kind, "server_error"), "message": err["message"]}
        return out + self._event("response.failed", {"response": self._response("failed", error=failed)})
