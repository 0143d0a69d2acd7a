"""Turns a concrete behaviour into HTTP steps, in the wire format of the request's protocol."""

from __future__ import annotations

from types import ModuleType
from typing import Any

from detour.testing.behaviors import Behavior, Drop, Fail, Fault, Reply
from detour.testing.http import (
    LAST_CHUNK,
    Hold,
    Signal,
    Sleep,
    Step,
    chunk,
    head,
    response,
)
from detour.testing.wire import Ctx, ErrorSpec, Frame, dumps

_JSON = ("content-type", "application/json")
_SSE = [("content-type", "text/event-stream; charset=utf-8"), ("cache-control", "no-cache")]
_KEEPALIVE = chunk(b": keep-alive\n\n")
_MALFORMED = b"data: {this is not json\n\n"
_ERROR_KINDS = {"overloaded", "rate_limit", "quota", "server_error", "context_length"}


def plan(behavior: Behavior, wire: ModuleType, ctx: Ctx, latency: float = 0.0) -> list[Step]:
    """The steps answering one request."""
    steps: list[Step] = [Sleep(latency)] if latency > 0 else []
    if isinstance(behavior, Reply):
        steps += _reply(behavior, wire, ctx)
    elif isinstance(behavior, Fail):
        steps += _fail(behavior, wire, ctx)
    elif isinstance(behavior, Drop):
        steps.append(Signal.RESET if behavior.mode == "reset" else Hold())
    else:
        raise TypeError(f"not a concrete behaviour: {behavior!r}")
    return steps


def _id_header(wire: ModuleType, ctx: Ctx) -> tuple[str, str]:
    return (wire.ID_HEADER, f"req_fake{ctx.seq:016d}")


def error_response(spec: ErrorSpec, wire: ModuleType, ctx: Ctx, headers: Any = None, body: Any = None) -> bytes:
    """A complete error response; ``body``/``headers`` override or extend the protocol's own."""
    status, payload, own = wire.error(spec, ctx)
    merged = {wire.ID_HEADER: _id_header(wire, ctx)[1], **own, **{k.lower(): v for k, v in (headers or {}).items()}}
    raw = payload if body is None else body
    data = raw if isinstance(raw, bytes) else raw.encode() if isinstance(raw, str) else dumps(raw)
    return response(status, [_JSON, *merged.items()], data)


def _fail(b: Fail, wire: ModuleType, ctx: Ctx) -> list[Step]:
    steps: list[Step] = [Sleep(b.delay)] if b.delay > 0 else []
    steps.append(error_response(b.error, wire, ctx, b.headers, b.body))
    return steps


def _reply(b: Reply, wire: ModuleType, ctx: Ctx) -> list[Step]:
    steps: list[Step] = [Sleep(b.delay)] if b.delay > 0 else []
    if b.fault is not None and b.fault.kind == "midstream" and not ctx.stream:
        return [*steps, error_response(_error_spec(b.fault), wire, ctx)]
    if ctx.stream:
        return steps + _stream(b, wire, ctx)
    return steps + _whole(b, wire, ctx)


def _extra(b: Reply) -> list[tuple[str, str]]:
    return [(k.lower(), v) for k, v in (b.headers or {}).items()]


def _error_spec(fault: Fault) -> ErrorSpec:
    kind = fault.error if fault.error in _ERROR_KINDS else "overloaded"
    return ErrorSpec("status", 500) if kind == "server_error" else ErrorSpec(kind)  # type: ignore[arg-type]  # kind is an ErrorKind from the behaviour table


def _whole(b: Reply, wire: ModuleType, ctx: Ctx) -> list[Step]:
    data = dumps(wire.body(b.content, ctx))
    headers = [_JSON, _id_header(wire, ctx), *_extra(b)]
    fault = b.fault.kind if b.fault is not None else None
    if fault == "slow_first":
        return [Sleep(b.fault.seconds), response(200, headers, data)]  # type: ignore[union-attr]  # this fault kind always has a Fault with seconds
    if fault == "pace":
        return [Sleep(b.fault.seconds * b.content.chunks), response(200, headers, data)]  # type: ignore[union-attr]  # this fault kind always has a Fault with seconds
    if fault == "malformed":
        return [response(200, headers, data[: len(data) // 2])]
    if fault in ("cut", "stall"):
        partial = head(200, headers, len(data)) + data[: len(data) // 2]
        hold: list[Step] = [Hold(b.fault.seconds)] if fault == "stall" else []  # type: ignore[union-attr]  # this fault kind always has a Fault with seconds
        return [partial, *hold, Signal.CLOSE]
    return [response(200, headers, data)]


def _through(frames: list[Frame], after: int) -> int:
    """End index of the prefix holding the first ``after`` deltas (never past the last delta)."""
    seen, end = 0, 0
    for i, frame in enumerate(frames):
        if frame.delta:
            if seen == after:
                return i
            seen, end = seen + 1, i + 1
    return end if seen else _first_terminal(frames)


def _first_terminal(frames: list[Frame]) -> int:
    return max(0, len(frames) - 1)


def _body(frames: list[Frame]) -> bytes:
    return b"".join(chunk(f.data) for f in frames)


def _stream(b: Reply, wire: ModuleType, ctx: Ctx) -> list[Step]:
    frames = wire.frames(b.content, ctx)
    start = head(200, [*_SSE, _id_header(wire, ctx), *_extra(b)], None)
    fault = b.fault
    if fault is None:
        return [start + _body(frames) + LAST_CHUNK]
    if fault.kind == "slow_first":
        return [start, Sleep(fault.seconds), _body(frames) + LAST_CHUNK]
    if fault.kind == "pace":
        steps: list[Step] = [start]
        for frame in frames:
            steps += [Sleep(fault.seconds), _body([frame])] if frame.delta else [_body([frame])]
        steps[-1] = steps[-1] + LAST_CHUNK  # type: ignore[operator]  # the last step is bytes here (a chunk)
        return steps
    if fault.kind == "no_done":
        kept = [f for f in frames if f.data != wire.TERMINAL]
        return [start + _body(kept) + LAST_CHUNK]
    cut = _through(frames, fault.after)
    sent = start + _body(frames[:cut])
    if fault.kind == "cut":
        return [sent, Signal.CLOSE]
    if fault.kind == "stall":
        keepalive = _KEEPALIVE if fault.keepalive else None
        return [sent, Hold(fault.seconds, keepalive, fault.keepalive_every), Signal.CLOSE]
    if fault.kind == "malformed":
        return [sent + chunk(_MALFORMED) + _body(frames[cut:]) + LAST_CHUNK]
    _, payload, _ = wire.error(_error_spec(fault), ctx)
    return [sent + chunk(wire.error_frame(payload)) + LAST_CHUNK]
