"""One attempt on one route: a non-streaming call, or a stream opened up to its first content.

Deadlines: connect (httpx), first token (from sending to the first content event; unless configured,
10 s + 1 s per 10k estimated input tokens, doubled for reasoning: ``Timeouts.first``), idle (between data events once streaming), total (the whole attempt). SSE comments and
pings never count as data. A timed-out attempt is closed.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from detour.protocol.errors import Failure
from detour.protocol.messages import Event, Message, Request, Response, TextPart
from detour.routing.gate import Gate, is_content
from detour.routing.keys import Key
from detour.routing.needs import input_tokens
from detour.routing.plan import Target
from detour.routing.sessions import REPAIR_NOTES
from detour.upstream import (
    Upstream,
    UpstreamError,
    UpstreamStream,
    Wire,
    build,
    with_stream,
)

if TYPE_CHECKING:  # pragma: no cover
    from detour.config import TimeoutsConfig

FINISH_GRACE = 1.0  # after a finish, how long to wait for trailing usage / [DONE] before finalising


# the first-token deadline when none is configured: scaled to the prompt, doubled for reasoning
FIRST_TOKEN_BASE = 10.0  # seconds for any prompt
FIRST_TOKEN_PER_10K = 1.0  # plus this per 10,000 estimated input tokens
REASONING_FACTOR = 2.0


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Seconds, read from the validated config (the defaults live in ``TimeoutsConfig``).

    ``first_token`` / ``first_token_reasoning`` None: scaled per request (``first``); a number: fixed."""

    connect: float
    first_token: float | None
    first_token_reasoning: float | None
    idle: float
    total: float

    @classmethod
    def from_config(cls, cfg: TimeoutsConfig) -> Timeouts:
        return cls(cfg.connect, cfg.first_token, cfg.first_token_reasoning, cfg.idle, cfg.total)

    def first(self, req: Request) -> float:
        """From sending to the first content: ``10 s + 1 s per 10k input tokens``, ×2 for reasoning/thinking.

        A configured ``first_token`` replaces the scaled base; ``first_token_reasoning`` (default: twice the
        base) applies to requests with reasoning_effort or thinking. Never more than ``total``.
        """
        reasoning = (req.reasoning_effort not in (None, "none")) or bool(req.thinking_budget) or req.thinking in ("enabled", "adaptive")
        if reasoning and self.first_token_reasoning is not None:
            return min(self.first_token_reasoning, self.total)
        base = self.first_token
        if base is None:
            base = FIRST_TOKEN_BASE + FIRST_TOKEN_PER_10K * input_tokens(req) / 10_000
        return min(base * REASONING_FACTOR if reasoning else base, self.total)


# the output limit a request without max_tokens gets, on a protocol that needs one: the model's own
# (catalog ``max_output``), capped; non-streaming lower, as the SDKs hold long non-streaming calls
OUTPUT_CAP_STREAM = 32_000
OUTPUT_CAP = 8_192


def wire_for(target: Target, key: Key, req: Request) -> Wire:
    ep = target.endpoint
    return build(target.codec, ep.base_url, target.provider, target.model, key.secret, output_limit(req, target), ep.headers)


def output_limit(req: Request, target: Target) -> Request:
    """``req`` with the target's default max_tokens when the client set none and the protocol needs one."""
    fallback = target.codec.default_max_tokens
    if req.max_tokens is not None or fallback is None:
        return req
    limit = target.info.max_output if target.info is not None else None
    cap = OUTPUT_CAP_STREAM if req.stream else OUTPUT_CAP
    return dataclasses.replace(req, max_tokens=min(limit, cap) if limit else fallback)


async def complete(upstream: Upstream, target: Target, key: Key, req: Request, timeouts: Timeouts,
                   on_content_block: str) -> tuple[Response, dict[str, str]]:
    wire = wire_for(target, key, with_stream(req, False))
    try:
        async with asyncio.timeout(timeouts.total):
            response, headers = await upstream.complete(target.codec, target.provider, wire)
    except TimeoutError:
        raise UpstreamError(Failure("timeout", f"no response in {timeouts.total:.0f}s")) from None
    if response.finish_reason == "content_filter" and on_content_block == "switch":
        reason = str(response.provider_details.get("refusal") or response.provider_details or "content filtered")
        raise UpstreamError(Failure("content_blocked", reason, status=200), headers)
    return response, _with_notes(headers, wire.notes)


def _with_notes(headers: dict[str, str], notes: tuple[str, ...]) -> dict[str, str]:
    """History repair's notes ride to the walk with the headers (popped there, never forwarded)."""
    return {**headers, REPAIR_NOTES: "\n".join(notes)} if notes else headers


@dataclass(slots=True)
class Primed:
    """A stream that has produced its first content; ``ready`` goes to the client now."""

    stream: UpstreamStream
    gate: Gate
    ready: list[Event]
    rest: list[Event]  # upstream events of the same chunk, not yet through the gate
    started: float
    first_at: float
    deadline: float  # the attempt's total deadline (loop time)
    upstream_id: str = ""
    chars: int = field(default=0)


def prefill_request(req: Request, text: str) -> Request:
    """The original request plus the partial answer as a trailing assistant message."""
    messages = [*req.messages, Message("assistant", [TextPart(text)])]
    return dataclasses.replace(req, messages=messages)


async def open_primed(upstream: Upstream, target: Target, key: Key, req: Request, gate: Gate,
                      timeouts: Timeouts, *, switch_on_block: bool = False) -> tuple[Primed, dict[str, str]]:
    """Send, then read until the gate lets the first content through. Failures raise UpstreamError."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    deadline = started + timeouts.total
    first_deadline = min(deadline, started + timeouts.first(req))
    wire = wire_for(target, key, with_stream(req, True))
    try:
        async with asyncio.timeout(first_deadline - loop.time()):
            stream = await upstream.open_stream(target.codec, target.provider, wire)
    except TimeoutError:
        raise UpstreamError(Failure("timeout", "no response headers before the first-token deadline")) from None
    try:
        primed = await _prime(stream, gate, started, first_deadline, deadline)
        # switch away from a content filter: on a first attempt (nothing delivered yet), or on a rescue whose
        # only output is the filtered finish (it added nothing; the next candidate may complete the answer)
        if switch_on_block and _blocked(primed.ready) and (not gate.sent.content or not _own_output(primed.ready)):
            gate.sent.finished = False  # this Finish never reaches the client
            raise UpstreamError(Failure("content_blocked", "content filtered before any output", status=200), stream.headers)
        return primed, _with_notes(stream.headers, wire.notes)
    except BaseException:
        await stream.aclose()
        raise


async def _prime(stream: UpstreamStream, gate: Gate, started: float, first_deadline: float, deadline: float) -> Primed:
    loop = asyncio.get_running_loop()
    upstream_id = ""
    hold = gate.hold
    while True:
        now = loop.time()
        if hold is not None and not hold.released and hold.seen:
            first_deadline = deadline  # the first token came; the answer is being held back for its checks
        left = first_deadline - now
        if hold is not None and not hold.released:
            if now >= hold.until:
                ready = gate.release("time")  # held too long: let it through unchecked
                if is_content(ready):
                    return Primed(stream, gate, ready, [], started, now, deadline, upstream_id)
            else:
                left = min(left, hold.until - now)
        if left <= 0:
            raise UpstreamError(Failure("timeout", "no first token before the deadline"), stream.headers)
        try:
            events = await stream.read(left)
        except UpstreamError as err:
            if err.failure.kind != "timeout":
                raise
            if hold is not None and not hold.released and loop.time() >= hold.until:
                continue  # the hold-back time is up, not the first-token deadline
            err.failure.message = "no first token before the deadline"
            raise
        for i, ev in enumerate(events):
            if ev.kind == "start":
                upstream_id = ev.id
            if ev.kind == "error":
                raise UpstreamError(ev.failure, stream.headers)
            ready = gate.feed(ev)
            if is_content(ready):
                return Primed(stream, gate, ready, events[i + 1:], started, loop.time(), deadline, upstream_id)
        if stream.eof:
            raise UpstreamError(Failure("stream_broken", "stream ended before any content"), stream.headers)


async def pump(primed: Primed, timeouts: Timeouts) -> AsyncGenerator[Event, None]:
    """Yield client events after the first ones; raise UpstreamError on a cut, stall or in-stream error."""
    loop = asyncio.get_running_loop()
    stream, gate = primed.stream, primed.gate
    pending = primed.rest
    last_data = loop.time()
    while True:
        for ev in pending:
            if ev.kind == "error":
                raise UpstreamError(ev.failure, stream.headers)
            for out in gate.feed(ev):
                yield out
        if stream.eof or gate.sent.finished:
            return  # codecs put usage before Finish: nothing after it matters
        now = loop.time()
        if primed.deadline <= now:
            raise UpstreamError(Failure("timeout", "total time exceeded"), stream.headers)
        if stream.finished:  # finish seen, terminator missing: wait briefly, then finalise
            try:
                pending = await stream.read(min(FINISH_GRACE, primed.deadline - now))
            except UpstreamError:
                pending = stream.close_events()
            continue
        idle_left = last_data + timeouts.idle - now
        if idle_left <= 0:
            raise UpstreamError(Failure("timeout", f"stream stalled: no data for {timeouts.idle:.1f}s"), stream.headers)
        seen = stream.data_events
        try:
            pending = await stream.read(min(idle_left, primed.deadline - now))
        except UpstreamError as err:
            if err.failure.kind == "timeout":
                err.failure.message = f"stream stalled: no data for {timeouts.idle:.1f}s"
            raise
        if pending or stream.data_events != seen:  # SSE comments / keep-alives do not count
            last_data = loop.time()


def _own_output(events: list[Event]) -> bool:
    return any(e.kind not in ("finish", "usage", "start") for e in events)


def _blocked(events: list[Event]) -> bool:
    return any(e.kind == "finish" and e.reason == "content_filter" for e in events)

