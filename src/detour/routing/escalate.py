"""Escalation on a bad answer: a candidate's HTTP 200 answer is checked before the client sees it.

    answer ─▶ checks (routing.checks) ─▶ pass: serve it
                                      └▶ fail: BadAnswer ─▶ the walk moves to the next (stronger) candidate,
                                               like a fallback; the attempt is recorded as ``bad_answer`` + check

A bad answer is charged (it was paid for) and kept: when no stronger candidate can answer (every one failed,
was skipped by a cooldown, a budget or a cost guardrail) the client gets the kept answer, and the attempt record
says which check it failed. ``maxEscalations`` caps the escalations of one request. Streaming holds the answer
back (routing.gate.Hold) until it is whole, within a size and a time limit; past either, the answer is released
unchecked and the attempt record says so.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from detour.health import HealthEvent
from detour.health.events import EventType
from detour.protocol.errors import Failure
from detour.protocol.messages import Event, Request, Response
from detour.routing.checks import Checks
from detour.upstream import UpstreamError

Charge = Callable[[Any, Any, Any], Awaitable[None]]  # (target, key, usage) -> records the spend


class BadAnswer(UpstreamError):
    """An answer a check turned down. ``events``: the upstream events of a streamed one, for keeping it."""

    def __init__(self, check: str, problem: str, response: Response, headers: dict[str, str] | None = None,
                 events: list[Event] | None = None) -> None:
        super().__init__(Failure("bad_answer", f"{check}: {problem}", status=200, code=check), headers or {})
        self.check = check
        self.problem = problem
        self.response = response
        self.events = events


@dataclass(slots=True)
class Kept:
    """The last bad answer, served when nothing better comes."""

    target: Any
    key: Any
    response: Response
    headers: dict[str, str]
    check: str
    events: list[Event] | None = None


@dataclass(slots=True)
class Escalation:
    """One request's escalations: the chain's checks, the cap, and the answer kept in reserve."""

    checks: Checks
    request: Request
    remaining: Callable[[], bool]  # whether the walk has another candidate to try
    emit: Callable[[HealthEvent], None] | None = None  # the router's event bus (GET /events)
    chain: str = ""
    clock: Callable[[], float] | None = None
    count: int = 0
    kept: Kept | None = None
    note: str = ""  # what became of the checks for the answer served, for its attempt record

    def judge(self, response: Response) -> tuple[str, str] | None:
        """(check, problem) when this answer must escalate; None to serve it (``note`` says why)."""
        failed = self.checks.first_failure(self.request, response)
        if failed is None:
            self.note = ""
            return None
        check = failed[0]
        if self.count >= self.checks.max_escalations:
            self.note = f"{check} failed; served: maxEscalations ({self.checks.max_escalations}) reached"
            return None
        if not self.remaining():
            self.note = f"{check} failed; served: no stronger candidate left"
            return None
        self.count += 1
        return failed

    async def inspect(self, target: Any, key: Any, response: Response, headers: dict[str, str], charge: Charge) -> None:
        """Non-streaming: raise BadAnswer (after charging and keeping the answer) when it must escalate."""
        failed = self.judge(response)
        if failed is not None:
            bad = BadAnswer(failed[0], failed[1], response, headers)
            await self.keep(bad, target, key, charge)
            raise bad

    async def keep(self, bad: BadAnswer, target: Any, key: Any, charge: Charge) -> None:
        """Charge a turned-down answer and keep it in reserve."""
        await charge(target, key, bad.response.usage)
        self.kept = Kept(target, key, bad.response, dict(bad.headers), bad.check, bad.events)
        if self.emit is not None:
            at = self.clock() if self.clock is not None else 0.0
            self.emit(event("escalate", at, self.chain, target.model_id, bad.check, problem=bad.problem[:200],
                            escalation=self.count))

    def fallback(self) -> Kept | None:
        """Every stronger candidate failed: the kept answer, noted as such; None when there is none."""
        if self.kept is not None:
            self.note = f"{self.kept.check} failed; served: every stronger candidate failed"
        return self.kept


def annotate(attempts: list[Any], model: str, note: str) -> None:
    """Write what became of the checks onto the served attempt's record."""
    if not note:
        return
    for attempt in reversed(attempts):
        if attempt.model == model and attempt.kind in ("ok", "bad_answer"):
            attempt.check = note if attempt.kind == "ok" else f"{attempt.check}; {note}"
            return


def event(kind: EventType, at: float, chain: str, model: str, reason: str, **extra: Any) -> HealthEvent:
    """A route or escalation event for the router's event bus (and so GET /events)."""
    return HealthEvent(kind, at, model=model, reason=reason, chain=chain, extra=extra)
