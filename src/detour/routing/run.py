"""One request's run: its walk through the plan, what it cost, how fast it was, and the Result.

Streaming and non-streaming share it. The non-streaming run is ``walk.run`` with a plain send; the
streaming run (routing.stream) is the same walk with a gate, plus rescue after the first content.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from detour.protocol.errors import Failure
from detour.protocol.messages import Request, Resolved, Response, Usage
from detour.routing.attempt import Timeouts, complete
from detour.routing.escalate import Escalation, Kept, annotate
from detour.routing.keys import Key
from detour.routing.plan import Target
from detour.routing.result import AllFailed, Result, cost_of
from detour.routing.walk import Served, Walk
from detour.upstream import Upstream


@dataclass(slots=True)
class Run:
    """What one request needs to run: what its name resolved to, its walk, the upstream, the deadlines and
    the answer checks (``esc``, None when the chain has none)."""

    resolved: Resolved
    request: Request
    walk: Walk
    upstream: Upstream
    timeouts: Timeouts
    esc: Escalation | None = None
    book: Callable[[Result], None] | None = None  # counts a served request per route and chain
    cost: float | None = None  # USD over every charged answer and segment; None while every price is unknown
    served: Target | None = None
    key: Key | None = None

    async def complete(self) -> Result:
        """The non-streaming run. Raises AllFailed when no candidate could answer."""
        on_block = self.walk.settings.on_content_block
        esc = self.esc

        async def call(target: Target, key: Key) -> tuple[Response, dict[str, str]]:
            response, headers = await complete(self.upstream, target, key, self.request, self.timeouts, on_block)
            if esc is not None:
                await esc.inspect(target, key, response, headers, self.charge_bad)
            return response, headers

        started = time.perf_counter()
        try:
            served: Served[Response] = await self.walk.run(call)
        except AllFailed:
            kept = esc.fallback() if esc is not None else None
            if kept is None:
                raise
            served = Served(kept.response, kept.target, kept.key, kept.headers)
        self.serve(served)
        response = served.value
        charged = esc is not None and esc.kept is not None and response is esc.kept.response  # when turned down
        await self.account(served.target, served.key, None if charged else response.usage,
                           seconds=time.perf_counter() - started)
        result = self.result(response)
        self.done(result)
        return result

    def done(self, result: Result) -> None:
        """A whole answer was served: book it (a truncated stream is not booked)."""
        if self.book is not None and result.complete:
            self.book(result)

    def serve(self, served: Served[Any] | Kept) -> None:
        """The route now answering (a rescued stream may change it)."""
        self.served, self.key = served.target, served.key

    async def charge_bad(self, target: Target, key: Key, usage: Usage) -> None:
        """A turned-down answer was paid for: it counts in the spend and the Result's cost."""
        await self.account(target, key, usage, seconds=None)

    async def account(self, target: Target, key: Key, usage: Usage | None, *, seconds: float | None,
                      ttft: float | None = None) -> None:
        """Charge one answer (or one segment of a rescued stream) and, when it completed in ``seconds``
        (None: it broke or was turned down), record the model's speed. Unknown prices count the tokens at $0."""
        ledger = self.walk.ledger
        if usage is not None:
            segment = cost_of(usage, target.info)
            if segment is not None:
                self.cost = (self.cost or 0.0) + segment
            await ledger.record_spend(target.provider, target.model_id, key.alias, self.walk.chain, segment or 0.0,
                                      usage.input_tokens, usage.output_tokens)
        if seconds is not None:
            out = usage.output_tokens if usage is not None else 0
            await ledger.record_speed(target.model_id, ttft, out / seconds if out and seconds > 0 else None)

    def result(self, response: Response, error: Failure | None = None) -> Result:
        """The Result of the route that served (``error``: a stream's original failure when truncated)."""
        if self.served is None:
            raise RuntimeError("Run.result before any route served")  # a bug, not a user error
        model = self.served.model_id
        if self.esc is not None:
            annotate(self.walk.attempts, model, self.esc.note)
        return Result(
            response=response,
            model=model,
            attempts=self.walk.attempts,
            skipped=self.walk.skipped,
            fallback_reason=self.walk.fallback_reason(model),
            cost=self.cost,
            key=self.key.alias if self.key is not None else "",
            error=error,
            route=self.walk.plan.route,
            chain=self.walk.chain,
        )
