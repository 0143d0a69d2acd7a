"""Walking a plan: health checks, probe leases, keys, retries and switches for one request.

Retry (same route, after a wait) and fallback (next candidate) are separate steps of the policy table;
the walk only applies ``policy.decide`` and records what happened. ``call`` is the actual attempt: a
non-streaming send, or opening a stream up to its first content.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from detour.health import (
    COOLING,
    HALF_OPEN,
    OK,
    HealthEvent,
    Ledger,
    key_scope,
    model_scope,
    provider_scope,
)
from detour.health.ledger import key_model_scope
from detour.protocol.errors import Failure
from detour.protocol.messages import random_hex
from detour.routing.keys import Key, KeyPool, scrub
from detour.routing.plan import (
    Candidate,
    Plan,
    Target,
    after_context_failure,
    prefer_uncensored,
)
from detour.routing.policy import PROBE_HEDGE_S, Settings, after_probe, capability_for_param, decide
from detour.routing.result import AllFailed, Attempt, aggregate_status
from detour.routing.sessions import REPAIR_NOTES, Sessions, Windows
from detour.upstream import CLIENT_KEY, UpstreamError, rate_state, windows

T = TypeVar("T")
Call = Callable[[Target, Key], Awaitable[tuple[T, dict[str, str]]]]


@dataclass(slots=True)
class Shared:
    """What every walk of one Router shares."""

    ledger: Ledger
    keys: KeyPool
    sleep: Callable[[float], Awaitable[None]]
    rand: Callable[[], float] | None = None
    sessions: Sessions = field(default_factory=Sessions)  # affinity pins and the turns of each session
    windows: Windows = field(default_factory=Windows)  # subscription windows, per provider key
    # opens a connection to a target without sending (Transport.connect); None: probes are not hedged
    connect: Callable[[Target], Awaitable[None]] | None = None
    background: set[asyncio.Task[None]] = field(default_factory=set)  # probes still connecting

    def __post_init__(self) -> None:
        self.sessions.clock = self.windows.clock = self.ledger.clock  # one clock: the health ledger's


@dataclass(slots=True)
class Served(Generic[T]):
    value: T
    target: Target
    key: Key
    headers: dict[str, str] = field(default_factory=dict)


_STATES = {OK: "ok", COOLING: "cooling", HALF_OPEN: "half_open"}
# failures that belong to the credential: with a pass-through credential they cool only that credential
_CREDENTIAL_KINDS = frozenset({"rate_limited", "quota_exhausted", "auth_failed", "permission_denied"})


def availability(ledger: Ledger, target: Target, now: float) -> str:
    """ok | cooling | half_open: the worst of provider and model, and the best of the keys."""
    return _STATES[ledger.blocking(target.provider, target.model_id, [k.alias for k in target.keys], now)[0]]


class Walk:
    """One request's way through its plan; rescue walks continue from where the last one stopped."""

    def __init__(self, shared: Shared, plan: Plan, settings: Settings, *, chain: str, session: str) -> None:
        self.shared = shared
        self.ledger = shared.ledger
        self.plan = plan
        self.remaining: list[Candidate] = list(plan.candidates)
        self.settings = settings
        self.chain = chain
        self.session = session
        self.attempts: list[Attempt] = []
        self.skipped: list[tuple[str, str]] = list(plan.skipped)
        self.first_reason: str | None = None
        self.first_failure: Failure | None = None
        self._holder = ""
        self.mode = ""  # attempt mode label, set by streaming rescue
        self.placed = ""  # why the first candidate leads (affinity pin, a full subscription window)
        self.pin = True  # affinity "session": a session served by a fallback stays there

    @property
    def holder(self) -> str:
        """This walk's probe-lease id, made on first use: most walks never take a lease."""
        if not self._holder:
            self._holder = random_hex(32)
        return self._holder

    async def run(self, call: Call[T]) -> Served[T]:
        """Try candidates in order until ``call`` succeeds; raises AllFailed."""
        final: Failure | None = None
        while self.remaining:
            cand = self.remaining.pop(0)
            target = cand.target
            blocked = self._blocked(target)
            if blocked:
                self._skip(target, blocked)
                continue
            leases = await self._leases([provider_scope(target.provider), model_scope(target.model_id)])
            if leases is None:
                self._skip(target, "cooling:probe_in_flight")
                continue
            if leases and self.remaining and not await self._connects(target, leases):
                self._skip(target, "cooling:probe_in_flight")  # the probe goes on connecting in the background
                continue
            try:
                served, failure, action = await self._try_keys(target, leases, call)
            finally:
                if leases:
                    await self._release(leases)
            if served is not None:
                await self._on_served(served)
                return served
            final = failure
            if action == "fail":
                break
            self._after(target, failure, action)
            if failure is not None and failure.kind == "bad_request" and action == "skip":
                await self._learn(target, failure)
        if not self.attempts and final is None:  # nothing could be tried: one last resort, if a guess stops us
            served, final = await self._last_resort(call)
            if served is not None:
                return served
        raise self._all_failed(final)

    # ------------------------------------------------------------ hedged probes (routing.policy)

    async def _connects(self, target: Target, leases: list[str]) -> bool:
        """A half-open probe first connects, for at most PROBE_HEDGE_S: True to go on with the request.

        When the connection is not up by then (a black-holed host), the request moves on to the next
        candidate and the connect goes on in the background (bounded by timeouts.connect) holding the probe
        leases: success leaves a pooled connection for the next probe, failure starts the next cooldown step.
        """
        connect = self.shared.connect
        if connect is None:
            return True
        task = asyncio.ensure_future(connect(target))
        done, _pending = await asyncio.wait({task}, timeout=PROBE_HEDGE_S)
        if task in done:
            task.exception()  # a quick failure (refused) repeats at once in the attempt, which records it
            return True
        background = asyncio.ensure_future(self._finish_probe(task, target, leases, self.holder))
        self.shared.background.add(background)
        background.add_done_callback(self.shared.background.discard)
        return False

    async def _finish_probe(self, task: asyncio.Future[None], target: Target, leases: list[str], holder: str) -> None:
        try:
            await task
        except UpstreamError as err:
            failure = err.failure
            await self.ledger.cool(provider_scope(target.provider) if failure.kind == "unreachable" else
                                   model_scope(target.model_id), failure.kind, reported=failure.retry_after_s,
                                   reason=f"probe: {failure.message}"[:200])
        except Exception as exc:  # noqa: BLE001 - a background probe must never go unobserved
            await self.ledger.cool(provider_scope(target.provider), "unreachable", reason=f"probe: {exc}"[:200])
        finally:
            for scope in leases:
                await self.ledger.release_probe(scope, holder)

    # ------------------------------------------------------------ last resort (routing.policy)

    async def _last_resort(self, call: Call[T]) -> tuple[Served[T] | None, Failure | None]:
        """Every candidate is cooling: one attempt at the one whose guessed cooldowns end soonest.

        Only guesses are cut short (``Cooldown.guessed``); a candidate held back by a cooldown the provider
        stated, an auth or not-found fact, or its budget is not tried. Success closes what was cut short.
        """
        now = self.ledger.clock()
        best: tuple[float, Target, Key, list[str]] | None = None
        for cand in self.plan.candidates:
            route = self._guessed_route(cand.target, now)
            if route is not None and (best is None or route[0] < best[0]):
                best = (route[0], cand.target, route[1], route[2])
        if best is None:
            return None, None
        _ends, target, key, scopes = best
        mode, self.mode = self.mode, "last_resort"
        try:
            served, failure, _action = await self._retrying(target, key, [], call)
        finally:
            self.mode = mode
        if served is None:
            return None, failure
        for scope in scopes:
            await self.ledger.close(scope)
        await self._on_served(served)
        return served, None

    def _guessed_route(self, target: Target, now: float) -> tuple[float, Key, list[str]] | None:
        """(when its cooldowns end, the key, the scopes cut short) when only guessed cooldowns hold it back."""
        if self.ledger.over_budget(target.provider):
            return None
        held = self._guesses([provider_scope(target.provider), model_scope(target.model_id)], now)
        if held is None:
            return None
        best: tuple[float, Key, list[str]] | None = None
        for key in target.keys:
            own = self._guesses([key_scope(target.provider, key.alias),
                                 key_model_scope(target.provider, key.alias, target.model_id)], now)
            if own is None:
                continue
            scopes = held + own
            ends = max([now, *(c.until for s in scopes if (c := self.ledger.cooldown(s)) is not None)])
            if best is None or ends < best[0]:
                best = (ends, key, scopes)
        return best

    def _guesses(self, scopes: list[str], now: float) -> list[str] | None:
        """The scopes among ``scopes`` that are not OK, or None when one of them is not a guess."""
        out = []
        for scope in scopes:
            c = self.ledger.cooldown(scope)
            if c is None or self.ledger.state(scope, now) == OK:
                continue
            if not c.guessed:
                return None
            out.append(scope)
        return out

    # ------------------------------------------------------------ one candidate

    async def _try_keys(self, target: Target, leases: list[str], call: Call[T]) -> tuple[Served[T] | None, Failure | None, str]:
        now = self.ledger.clock()
        usable = lambda k: (self.ledger.state(key_scope(target.provider, k.alias), now) == OK
                            and self.ledger.state(key_model_scope(target.provider, k.alias, target.model_id), now) == OK)
        failure: Failure | None = None
        tried = False
        key_reason = "cooling:probe_in_flight"
        for key in self.shared.keys.order(target.provider, target.keys, self.session, usable):
            scopes = (key_scope(target.provider, key.alias), key_model_scope(target.provider, key.alias, target.model_id))
            states = [self.ledger.state(s, now) for s in scopes]
            if COOLING in states:
                c = self.ledger.cooldown(scopes[states.index(COOLING)])
                key_reason = f"cooling:{c.kind if c else 'key'}"
                continue
            half_open = [s for s, st in zip(scopes, states) if st == HALF_OPEN]
            key_leases = await self._leases(half_open) if half_open else []
            if key_leases is None:
                continue
            tried = True
            try:
                served, failure, action = await self._retrying(target, key, leases + key_leases, call)
            finally:
                if key_leases:
                    await self._release(key_leases)
            if served is not None or action != "next_key":
                return served, failure, action
        if not tried:
            self._skip(target, key_reason)
        return None, failure, "switch"

    async def _retrying(self, target: Target, key: Key, leases: list[str], call: Call[T]) -> tuple[Served[T] | None, Failure | None, str]:
        retries = 0
        while True:
            started = time.perf_counter()
            try:
                value, headers = await call(target, key)
            except UpstreamError as err:
                failure = scrub(err.failure, key)
                self.record(target, key, failure.kind, started, failure)
                self.shared.windows.observe(target.provider, key.alias, windows(err.headers))
                decision = decide(failure, retries, self.settings, rand=self.shared.rand)
                if leases:  # this attempt holds a half-open probe lease
                    decision = after_probe(failure, decision)
                if decision.cool:
                    await self._cool(target, key, decision.cool, failure)
                if decision.action == "retry":
                    await self.shared.sleep(decision.wait)
                    retries += 1
                    continue
                return None, failure, decision.action
            notes = tuple(headers.pop(REPAIR_NOTES).split("\n")) if REPAIR_NOTES in headers else ()
            self.record(target, key, "ok", started, None, notes)
            for scope in leases:
                await self.ledger.close(scope)
            await self._observe(target, key, headers)
            return Served(value, target, key, headers), None, "ok"

    # ------------------------------------------------------------ health

    def _blocked(self, target: Target) -> str | None:
        if self.ledger.over_budget(target.provider):
            return "budget"  # skipped like a cooldown: nothing is sent
        now = self.ledger.clock()
        for scope in (provider_scope(target.provider), model_scope(target.model_id)):
            if self.ledger.state(scope, now) == COOLING:
                c = self.ledger.cooldown(scope)
                return f"cooling:{c.kind if c else 'unknown'}"
        return None

    async def _leases(self, scopes: list[str]) -> list[str] | None:
        now = self.ledger.clock()
        held: list[str] = []
        for scope in scopes:
            if self.ledger.state(scope, now) == HALF_OPEN:
                if not await self.ledger.try_probe(scope, self.holder):
                    await self._release(held)
                    return None
                held.append(scope)
        return held

    async def _release(self, scopes: list[str]) -> None:
        for scope in scopes:
            await self.ledger.release_probe(scope, self.holder)

    async def _cool(self, target: Target, key: Key, which: str, failure: Failure) -> None:
        if key.secret == CLIENT_KEY and failure.kind in _CREDENTIAL_KINDS:
            which = "route" if which == "model" else "key"  # one client's limit is not everyone's: per fingerprint
        scope = {
            "key": key_scope(target.provider, key.alias),
            "provider": provider_scope(target.provider),
            "route": key_model_scope(target.provider, key.alias, target.model_id),
        }.get(which, model_scope(target.model_id))
        await self.ledger.cool(scope, failure.kind, reported=failure.retry_after_s, reason=failure.message[:200])

    async def _observe(self, target: Target, key: Key, headers: dict[str, str]) -> None:
        """Proactive avoidance: a success that leaves a budget at 0 rests this key for this model."""
        if not headers:
            return
        self.shared.windows.observe(target.provider, key.alias, windows(headers))
        state = rate_state(headers)
        if state is not None:
            await self.ledger.observe_rate(key_model_scope(target.provider, key.alias, target.model_id), *state)

    async def _learn(self, target: Target, failure: Failure) -> None:
        cap = capability_for_param(failure.unsupported_param)
        if cap:
            await self.ledger.learn_missing(target.model_id, cap)

    async def _on_served(self, served: Served[Any]) -> None:
        self.shared.keys.stick(served.target.provider, self.session, served.key)
        model = served.target.model_id
        planned_out = any(m == self.plan.primary for m, _ in self.plan.skipped)  # this request's needs, not health
        self.shared.sessions.served(self.chain, self.session, model, self.plan.primary, self._why(model),
                                    self.attempts[-1].notes if self.attempts else (), pin=self.pin and not planned_out)
        previous = self.ledger.current(self.chain)
        if previous != model:
            first = self.plan.primary
            if previous or model != first:
                reason = self.fallback_reason(model) or "recovered"
                await self.ledger.emit(HealthEvent("switch", self.ledger.clock(), model=model, from_model=previous or first,
                                                   reason=reason, chain=self.chain))
            await self.ledger.set_current(self.chain, model)

    # ------------------------------------------------------------ bookkeeping

    def _after(self, target: Target, failure: Failure | None, action: str) -> None:
        if failure is not None and self.first_failure is None:
            self.first_failure = failure
        if self.first_reason is None:
            self.first_reason = failure.kind if failure is not None else "unavailable"
        if failure is None:
            return
        if failure.kind == "context_too_long":
            self.remaining, skipped = after_context_failure(self.remaining, target)
            self.skipped += skipped
        elif failure.kind == "content_blocked":
            self.remaining = prefer_uncensored(self.remaining)
        if action == "skip":
            self.skipped.append((target.model_id, f"unsupported:{failure.unsupported_param}"))

    def _skip(self, target: Target, reason: str) -> None:
        self.skipped.append((target.model_id, reason))
        if self.first_reason is None:
            self.first_reason = reason

    def _why(self, model: str) -> str:
        """Why this turn went to ``model``: the session's pin, a full window, the primary, or a fallback's reason."""
        if self.placed and len(self.attempts) == 1:
            return self.placed
        if model == self.plan.primary:
            return "primary"
        return f"fallback: {self.fallback_reason(model) or 'unavailable'}"

    def record(self, target: Target, key: Key, kind: str, started: float, failure: Failure | None,
                notes: tuple[str, ...] = ()) -> None:
        self.attempts.append(Attempt(
            model=target.model_id,
            provider=target.provider,
            key=key.alias,
            kind=kind,
            status=failure.status if failure is not None else 200,
            duration=time.perf_counter() - started,
            retry_after=failure.retry_after_s if failure is not None else None,
            message=failure.message[:300] if failure is not None else "",
            mode=self.mode,
            check=(failure.code or "") if failure is not None and failure.kind == "bad_answer" else "",
            route=self.plan.route.header() if self.plan.route is not None else "",
            notes=notes,
        ))

    def fallback_reason(self, served: str) -> str | None:
        """Why the chain's first choice did not serve (None when it did)."""
        if served == self.plan.primary:
            return None
        planned = next((r for m, r in self.plan.skipped if m == self.plan.primary), None)
        return planned or self.first_reason

    def broke(self, target: Target, key: Key, failure: Failure) -> None:
        """A served stream broke after its first content: its attempt record says so."""
        for a in reversed(self.attempts):
            if a.model == target.model_id and a.key == key.alias and a.kind == "ok":
                a.kind, a.status, a.message = failure.kind, failure.status, failure.message[:300]
                return

    def _all_failed(self, final: Failure | None) -> AllFailed:
        status = aggregate_status(self.attempts, self.skipped, final)
        detail = "; ".join(f"{a.model}[{a.key}]: {a.kind}" for a in self.attempts if a.kind != "ok")
        skips = "; ".join(f"{m}: {r}" for m, r in self.skipped)
        message = final.message if final is not None and status < 500 and status != 429 else "every candidate failed"
        text = f"{message} ({detail or 'no attempt'}{'; skipped ' + skips if skips else ''})"
        return AllFailed(text, status=status, attempts=self.attempts, skipped=self.skipped, failure=final,
                         retry_after=self.retry_after())

    def _key_wait(self, t: Target, key: Key, now: float) -> float:
        scopes = (key_scope(t.provider, key.alias), key_model_scope(t.provider, key.alias, t.model_id))
        return max([c.until - now for s in scopes if (c := self.ledger.cooldown(s)) is not None] + [0.0])

    def retry_after(self) -> float | None:
        """Seconds until the first planned candidate is usable again (None: unknown or now)."""
        now = self.ledger.clock()
        best: float | None = None
        for cand in self.plan.candidates:
            t = cand.target
            scopes = [provider_scope(t.provider), model_scope(t.model_id)]
            waits = [c.until - now for s in scopes if (c := self.ledger.cooldown(s)) is not None]
            key_waits = [self._key_wait(t, k, now) for k in t.keys]
            wait = max(waits + [min(key_waits) if key_waits else 0.0, 0.0])
            best = wait if best is None else min(best, wait)
        return best if best else None
