"""Streaming through the router: transparent fallback before the first content, rescue after it.

    walk ─▶ open + prime (first content) ─▶ pump ─▶ finish
              │ failure: next candidate          │ cut / stall / malformed / in-stream error
              ▼                                  ▼
           (walk)                        rescue: next candidate with the partial answer as an
                                         assistant prefill, or a replay whose output is held back
                                         until it has reproduced the text already sent.

A truncated answer never ends like a normal finish: it ends with an ErrorEvent naming the original
failure. A tool call is never delivered in halves, and no rescue is tried once one was delivered.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from types import TracebackType
from typing import Self

from detour.protocol.errors import Failure
from detour.protocol.messages import Accumulator, ErrorEvent, Event, Response, Start, Usage
from detour.routing.attempt import Primed, open_primed, prefill_request, pump
from detour.routing.escalate import BadAnswer, Kept
from detour.routing.gate import Diverged, Gate, Hold, Sent
from detour.routing.keys import Key, scrub
from detour.routing.plan import Target
from detour.routing.result import AllFailed, Attempt, Result
from detour.routing.routes import RouteMatch
from detour.routing.run import Run
from detour.routing.walk import Served
from detour.upstream import UpstreamError


class RouterStream:
    """``async with router.stream(req) as s: async for ev in s: ...`` then ``s.result``.

    Closing it (or leaving the ``async with``) closes the upstream response at once. Raises AllFailed from
    the iteration only if nothing was sent yet; after that, failures arrive as a final ErrorEvent.
    """

    def __init__(self, start: Callable[[], Awaitable[Run]]) -> None:
        self._start = start  # plans the run once the health state is loaded
        self._gen: AsyncGenerator[Event, None] | None = None
        self._driver: _Driver | None = None
        self.result: Result | None = None

    # live views for a gateway's response headers, valid once the first event arrived

    @property
    def model(self) -> str:
        """The model serving the stream right now ("" before the first event)."""
        d = self._driver
        return d.served.model_id if d is not None and d.served is not None else ""

    @property
    def attempts(self) -> list[Attempt]:
        return self._driver.walk.attempts if self._driver is not None else []

    @property
    def route(self) -> RouteMatch | None:
        """The route rule that chose the chain (None: none did)."""
        return self._driver.walk.plan.route if self._driver is not None else None

    @property
    def escalations(self) -> list[tuple[str, str]]:
        return [(a.model, a.check) for a in self.attempts if a.kind == "bad_answer"]

    @property
    def fallback_reason(self) -> str | None:
        d = self._driver
        return d.walk.fallback_reason(d.served.model_id) if d is not None and d.served is not None else None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        await self.aclose()

    def __aiter__(self) -> AsyncIterator[Event]:
        if self._gen is None:
            self._gen = self._run()
        return self._gen

    async def aclose(self) -> None:
        if self._gen is not None:
            await self._gen.aclose()

    async def _run(self) -> AsyncGenerator[Event, None]:
        driver = self._driver = _Driver(await self._start())
        try:
            async with aclosing(driver.events()) as events:  # closing propagates: the upstream closes now
                async for event in events:
                    yield event
        finally:
            self.result = driver.result()
            if self.result is not None:
                driver.run.done(self.result)


class _Driver:
    def __init__(self, run: Run) -> None:
        self.run = run
        self.req = run.request
        self.walk = run.walk
        self.esc = run.esc
        self.ledger = run.walk.ledger
        self.sent = Sent()
        self.acc = Accumulator()
        self.original: Failure | None = None
        self.charged: Usage | None = None
        self.upstream_id = ""

    async def events(self) -> AsyncGenerator[Event, None]:
        call = self._first_call
        while True:
            try:
                served = await self.walk.run(call)
            except AllFailed:
                kept = self.esc.fallback() if self.esc is not None and not self.sent.content else None
                if kept is not None:
                    for event in self._kept(kept):
                        yield event
                    return
                if not self.sent.content:
                    raise
                yield self._deliver(ErrorEvent(self.original))
                return
            except Diverged as exc:
                yield self._deliver(self._diverged(exc))
                return
            failure: Failure | None = None
            async with aclosing(self._serve(served)) as items:
                async for item in items:
                    if isinstance(item, Failure):
                        failure = item
                    else:
                        yield item
            if failure is None:
                return
            if isinstance(failure, _DivergedFailure):
                yield self._deliver(ErrorEvent(self.original))
                return
            self.original = self.original or failure
            if self.sent.tools:
                yield self._deliver(ErrorEvent(self.original))
                return
            call = self._rescue_call

    async def _serve(self, served: Served[Primed]) -> AsyncGenerator[Event | Failure, None]:
        """Deliver one primed attempt; ends with a Failure item if it broke."""
        primed, target = served.value, served.target
        self.run.serve(served)
        started = time.perf_counter()
        if not self.sent.started:
            self.sent.started = True
            self.upstream_id = primed.upstream_id
            yield self._deliver(Start(primed.upstream_id, target.model_id))
        failure: Failure | None = None
        try:
            for event in primed.ready:
                yield self._deliver(event)
            async with aclosing(pump(primed, self.run.timeouts)) as events:
                async for event in events:
                    yield self._deliver(event)
        except UpstreamError as err:
            failure = scrub(err.failure, served.key)
        except Diverged:
            failure = _DivergedFailure("stream_broken", "replay diverged")
        finally:
            await primed.stream.aclose()
        if failure is None and not self.sent.finished:
            failure = Failure("stream_broken", "stream ended before finish")
        await self._account(target, served.key, primed, started, failure)
        if failure is not None:
            yield failure

    async def _account(self, target: Target, key: Key, primed: Primed, started: float, failure: Failure | None) -> None:
        usage = self.acc.usage if self.acc.usage is not self.charged else None
        self.charged = self.acc.usage  # a segment without its own usage event is not charged twice
        ok = failure is None
        await self.run.account(target, key, usage, seconds=time.perf_counter() - started if ok else None,
                               ttft=primed.first_at - primed.started)
        if failure is None or isinstance(failure, _DivergedFailure):
            return
        self.walk.broke(target, key, failure)
        await self.ledger.cool(f"model:{target.model_id}", failure.kind, reason=failure.message[:200])

    def _kept(self, kept: Kept) -> list[Event]:
        """Deliver the answer a check turned down, when no stronger candidate could answer (it was charged)."""
        self.run.serve(kept)
        self.sent.started = True
        out = [self._deliver(Start(kept.response.id, kept.target.model_id))]
        gate = Gate(self.sent)
        for event in kept.events or ():
            out += [self._deliver(e) for e in gate.feed(event)]
        self.charged = self.acc.usage
        return out

    def _deliver(self, event: Event) -> Event:
        if event.kind not in ("start", "usage", "error"):
            self.sent.content = True
        self.acc.add(event)
        return event

    def _diverged(self, exc: Diverged) -> ErrorEvent:
        return ErrorEvent(self.original or Failure("stream_broken", str(exc)))

    # ------------------------------------------------------------ attempts

    async def _first_call(self, target: Target, key: Key) -> tuple[Primed, dict[str, str]]:
        esc = self.esc
        hold = self._hold() if esc is not None else None
        gate = Gate(self.sent, hold=hold)
        switch = self.walk.settings.on_content_block == "switch"
        try:
            primed, headers = await open_primed(self.run.upstream, target, key, self.req, gate, self.run.timeouts,
                                                switch_on_block=switch)
        except BadAnswer as bad:
            assert esc is not None
            await esc.keep(bad, target, key, self.run.charge_bad)
            raise
        if esc is not None and hold is not None and hold.released in ("size", "time"):
            limit = f"{esc.checks.hold_size} characters" if hold.released == "size" else f"{esc.checks.hold_time:g}s"
            esc.note = f"checks skipped: the answer was released unchecked after the hold-back limit of {limit}"
        return primed, headers

    def _hold(self) -> Hold:
        """Hold the whole answer back for the chain's checks; a turned-down one raises BadAnswer from the gate."""
        esc = self.esc
        assert esc is not None

        def judge(response: Response, upstream: list[Event]) -> None:
            failed = esc.judge(response)
            if failed is not None:
                raise BadAnswer(failed[0], failed[1], response, None, list(upstream))

        until = asyncio.get_running_loop().time() + esc.checks.hold_time
        return Hold(judge, esc.checks.hold_size, until, early=esc.checks.early)

    async def _rescue_call(self, target: Target, key: Key) -> tuple[Primed, dict[str, str]]:
        """Prefill when the model takes it (or might); replay with hold-back when it does not."""
        ledger = self.ledger
        info = target.info
        switch = self.walk.settings.on_content_block == "switch"
        known_no = (info is not None and info.prefill is False) or "prefill" in ledger.missing(target.model_id)
        if not known_no:
            started = time.perf_counter()
            self.walk.mode = "prefill"
            try:
                req = prefill_request(self.req, self.sent.text)
                return await open_primed(self.run.upstream, target, key, req, Gate(self.sent, "prefill"), self.run.timeouts,
                                         switch_on_block=switch)
            except UpstreamError as err:
                if err.failure.kind != "bad_request":
                    raise
                self.walk.record(target, key, "bad_request", started, scrub(err.failure, key))
                await ledger.learn_missing(target.model_id, "prefill")
        self.walk.mode = "replay"
        return await open_primed(self.run.upstream, target, key, self.req, Gate(self.sent, "replay"), self.run.timeouts,
                                 switch_on_block=switch)

    # ------------------------------------------------------------ result

    @property
    def served(self) -> Target | None:
        return self.run.served

    def result(self) -> Result | None:
        if self.served is None:
            return None
        response = self.acc.response(allow_incomplete=True)
        response.model = self.served.model_id
        complete = self.sent.finished and self.acc.error is None
        error = None if complete else (self.original or self.acc.error or Failure("stream_broken", "incomplete"))
        return self.run.result(response, error)


class _DivergedFailure(Failure):
    """Marks a replay that diverged: the stream ends, no further rescue."""
