"""The Router: plan a request, walk its candidates with the policy table, return a Result.

    router = Router.from_config()
    result = await router.chat(request)                 # Result: response, model, attempts, cost...
    async with router.stream(request) as s:             # neutral Events
        async for event in s: ...
    s.result

Fallback is composition: the planner (routing.plan), the policy table (routing.policy), the health ledger
(detour.health), keys (routing.keys), one attempt (routing.attempt) and streaming rescue (routing.stream)
are separate modules; this one wires them together. Falls back transparently before the first streamed
content; after it, see routing.stream for the rescue rules.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any, Self

from detour.health import EventBus, HealthEvent, Ledger, StateStore
from detour.protocol.messages import Message, Request, Response, TextPart, Usage
from detour.routing import attempt as _attempt
from detour.routing import checks as _checks
from detour.routing import routes as _routes
from detour.routing.escalate import Escalation, annotate
from detour.routing.keys import Key, KeyPool, session_identity
from detour.routing.needs import Needs, infer_needs, parse_require
from detour.routing.plan import Guardrails, Plan, Target, make_plan
from detour.routing.policy import Settings
from detour.routing.result import AllFailed, Attempt, Result, cost_of
from detour.routing.sessions import arrange
from detour.routing.stream import RouterStream
from detour.routing.targets import Targets, chain_for
from detour.routing.walk import Served, Shared, Walk, availability
from detour.spend import Budgets
from detour.transport import Transport

__all__ = ["AllFailed", "Attempt", "Result", "Router", "RouterStream", "acomplete", "complete"]


class Router:
    """Routes neutral Requests across a fallback chain. One per process; share it between requests."""

    def __init__(
        self,
        config: Any = None,
        catalog: Any = None,
        store: StateStore | None = None,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        http: Any = None,
        rand: Callable[[], float] = random.random,
        env: Any = None,
    ) -> None:
        if config is None:
            from detour.config import parse_config

            config = parse_config({}).config
        self.config = getattr(config, "config", config)  # accept a LoadedConfig too
        # catalog=None loads the usual catalog; catalog=False runs without one (every capability unknown)
        self.catalog = None if catalog is False else (catalog if catalog is not None else _load_catalog(self.config))
        self.timeouts = _attempt.Timeouts.from_config(getattr(self.config, "timeouts", None))
        self._own_store = store is None  # opened from config.state here, so closed here too
        if store is None:
            from detour.health.backends import open_store

            store = open_store(getattr(self.config, "state", None))
        self.ledger = Ledger(store, clock=clock, rand=rand, bus=EventBus(), probe_ttl=self.timeouts.total)
        self.ledger.spend.budgets = Budgets.from_config(getattr(self.config, "budget", None))
        self.transport = Transport(http, connect_timeout=self.timeouts.connect)
        self.targets = Targets(self.config, self.catalog, env)
        self.keys = KeyPool()
        self.shared = Shared(self.ledger, self.keys, sleep, rand)
        self._rails: dict[int, tuple[Guardrails, Settings]] = {}
        self._custom_checks: dict[str, tuple[_checks.Check, frozenset[str] | None]] = {}
        self._chain_checks: dict[str, _checks.Checks] = {}
        self._priciest_of: dict[str, Target | None | bool] = {}

    @classmethod
    def from_config(cls, path: Any = None, **kwargs: Any) -> Router:
        from detour.config import load_config

        return cls(load_config(path).config, **kwargs)

    # ------------------------------------------------------------ the routing decision (no I/O)

    def plan(self, req: Request, *, require: str | Iterable[str] | None = None) -> tuple[str, Plan, Settings]:
        needs = infer_needs(req, parse_require(require))
        route = self.match_route(req, needs)
        if route is not None:
            name, chain = route.chain, self.config.chain(route.chain)
            models = list(chain.models)
        else:
            name, chain, models = chain_for(self.config, req)
        groups, unresolved = self.targets.groups(models)
        rails, settings = self._chain_settings(chain)
        if chain.require:
            needs = dataclasses.replace(needs, caps=needs.caps | frozenset(parse_require(chain.require)))
        ledger = self.ledger
        plan = make_plan(groups, needs, rails, missing=ledger.missing, speed=lambda m: _tps(ledger, m))
        plan.route = route
        if unresolved:
            plan.skipped = unresolved + plan.skipped
            plan.primary = models[0] if models else plan.primary
        return name, plan, settings

    def match_route(self, req: Request, needs: Needs | None = None) -> _routes.RouteMatch | None:
        """The route rule that picks this request's chain (None: no rule does, or the client named one)."""
        rules = self.config.routes
        if not rules or not _routes.routable(req, req.model):
            return None
        return _routes.match(rules, req, needs if needs is not None else infer_needs(req))

    # ------------------------------------------------------------ answer checks

    def add_check(self, name: str, check: _checks.Check, *, chains: Iterable[str] | None = None) -> None:
        """A custom answer check, ``check(request, response) -> str | None`` (what is wrong, or None).

        It runs after the chain's own ``escalate`` checks, on ``chains`` (None: every chain); an answer that
        fails it escalates to the next candidate like a built-in check."""
        self._custom_checks[name] = (check, frozenset(chains) if chains is not None else None)
        self._chain_checks.clear()

    def checks_for(self, chain_name: str) -> _checks.Checks:
        found = self._chain_checks.get(chain_name)
        if found is None:
            found = _checks.for_chain(self.config.chain(chain_name), self._custom_checks, chain_name)
            self._chain_checks[chain_name] = found
        return found

    def book(self, result: Result) -> None:
        """Count a served request per route and chain, with what the chain's priciest model would have cost."""
        priciest = self._priciest(result.chain)
        baseline = cost_of(result.response.usage, priciest.info) if priciest is not None else None
        if result.cost is None:
            baseline = None
        route = result.route.rule if result.route is not None else None
        self.ledger.record_use(route, result.chain, result.model, result.cost or 0.0, baseline,
                               [check for _model, check in result.escalations])
        if result.route is not None or result.escalations:
            self.ledger.bus.emit(HealthEvent("route", self.ledger.clock(), model=result.model, chain=result.chain,
                                             reason=route or "", extra={"escalations": result.escalations}))

    def _priciest(self, chain_name: str) -> Target | None:
        found = self._priciest_of.get(chain_name, False)
        if found is False:
            groups, _ = self.targets.groups(list(self.config.chain(chain_name).models))
            priced = [t for g in groups for t in g if t.price is not None and cost_of(Usage(1, 1), t.info) is not None]
            found = self._priciest_of[chain_name] = max(priced, key=lambda t: t.price or 0.0) if priced else None
        return found  # type: ignore[return-value]

    def _escalation(self, walk: Walk, req: Request) -> Escalation | None:
        checks = self.checks_for(walk.chain)
        if not checks.applies(req):
            return None
        return Escalation(checks, req, lambda: bool(walk.remaining), self.ledger.bus.emit, walk.chain, self.ledger.clock)

    def route(self, req: Request, *, require: str | Iterable[str] | None = None) -> list[tuple[str, str]]:
        """The routing decision without I/O: each planned candidate with its health right now."""
        _name, plan, _settings = self.plan(req, require=require)
        now = self.ledger.clock()
        return [(c.target.model_id, availability(self.ledger, c.target, now)) for c in plan.candidates]

    def _chain_settings(self, chain: Any) -> tuple[Guardrails, Settings]:
        cached = self._rails.get(id(chain))
        if cached is None:
            cached = self._rails[id(chain)] = (Guardrails.from_chain(chain), Settings.from_chain(chain))
        return cached

    def unpin_sessions(self) -> int:
        """Every session pinned to a fallback starts at the primary again (``detour reset``)."""
        return self.shared.sessions.unpin_all()

    def sessions_view(self) -> list[dict[str, Any]]:
        """The recently active sessions with their last turns: served model, why, repair notes."""
        return self.shared.sessions.view()

    def session_turns(self, chain: str, session: str) -> tuple[str | None, list[dict[str, Any]]]:
        """(the fallback a session is pinned to, its last turns)."""
        return self.shared.sessions.turns(chain, session)

    def windows_view(self) -> list[dict[str, Any]]:
        """The subscription windows each provider key last reported."""
        return self.shared.windows.view()

    def _walk(self, req: Request, require: str | Iterable[str] | None, session: str | None) -> Walk:
        name, plan, settings = self.plan(req, require=require)
        key, named = session_identity(req, session)
        chain = self.config.chain(name)
        ledger, shared = self.ledger, self.shared
        # pins hold named sessions only (agents name theirs), and nothing moves a model the client named
        steer = plan.primary == (chain.models[0] if chain.models else None)
        healthy = lambda t: availability(ledger, t, ledger.clock()) == "ok"  # noqa: E731
        placed = arrange(plan, chain, name, key, shared.sessions, shared.windows, healthy, req.credential,
                         steer=steer, named=named)
        walk = Walk(shared, plan, settings, chain=name, session=key)
        walk.placed, walk.pin = placed, steer and named and chain.affinity == "session"
        return walk

    # ------------------------------------------------------------ requests

    async def chat(self, request: Request, *, require: str | Iterable[str] | None = None, session: str | None = None) -> Result:
        """A non-streaming request. Raises AllFailed when no candidate could answer."""
        await self.ledger.ensure_loaded()
        walk = self._walk(request, require, session)
        settings = walk.settings
        esc = self._escalation(walk, request)
        spent: list[float] = []

        async def charge_bad(target: Target, key: Key, usage: Any) -> None:
            cost = cost_of(usage, target.info)
            spent.append(cost or 0.0)
            await self.charge(walk.chain, target, key.alias, usage, cost)

        async def call(target: Target, key: Key) -> tuple[Response, dict[str, str]]:
            response, headers = await _attempt.complete(self.transport, target, key, request, self.timeouts,
                                                        settings.on_content_block)
            if esc is not None:
                await esc.inspect(target, key, response, headers, charge_bad)
            return response, headers

        started = time.perf_counter()
        try:
            served = await walk.run(call)
        except AllFailed:
            kept = esc.fallback() if esc is not None else None
            if kept is None:
                raise
            served = Served(kept.response, kept.target, kept.key, kept.headers)
            spent.pop()  # that answer was charged when it was turned down
        response, target = served.value, served.target
        elapsed = time.perf_counter() - started
        out = response.usage.output_tokens
        await self.ledger.record_speed(target.model_id, None, out / elapsed if out and elapsed > 0 else None)
        cost = cost_of(response.usage, target.info)
        if esc is None or esc.kept is None or served.value is not esc.kept.response:
            await self.charge(walk.chain, target, served.key.alias, response.usage, cost)
        if esc is not None:
            annotate(walk.attempts, target.model_id, esc.note)
        total = (cost or 0.0) + sum(spent) if cost is not None or spent else None
        result = Result(
            response=response,
            model=target.model_id,
            attempts=walk.attempts,
            skipped=walk.skipped,
            fallback_reason=walk.fallback_reason(target.model_id),
            cost=total,
            key=served.key.alias,
            route=walk.plan.route,
            chain=walk.chain,
        )
        self.book(result)
        return result

    async def charge(self, chain: str, target: Target, key: str, usage: Any, cost: float | None) -> None:
        """Record one attempt's spend (unknown prices count tokens at $0) for usage reports and budgets."""
        await self.ledger.record_spend(target.provider, target.model_id, key, chain, cost or 0.0,
                                       usage.input_tokens, usage.output_tokens)

    def stream(self, request: Request, *, require: str | Iterable[str] | None = None, session: str | None = None) -> RouterStream:
        """A streaming request: ``async with router.stream(req) as s: async for event in s``."""
        return RouterStream(self, request, require=parse_require(require) or None, session=session)

    def chat_sync(self, request: Request, **kwargs: Any) -> Result:
        """``chat`` for sync code. Each call runs its own event loop, so it gets its own connection pool."""
        return asyncio.run(self._once(request, **kwargs))

    async def _once(self, request: Request, **kwargs: Any) -> Result:
        shared, self.transport = self.transport, Transport(connect_timeout=self.timeouts.connect)
        try:
            return await self.chat(request, **kwargs)
        finally:
            await self.transport.aclose()
            await self.ledger.flush()
            self.transport = shared

    # ------------------------------------------------------------ health and events

    def on_event(self, hook: Callable[[HealthEvent], Any]) -> None:
        """Call ``hook(event)`` on switch, cooldown_start/end, probe and recover events."""
        self.ledger.bus.add_hook(hook)

    def events(self) -> AsyncIterator[HealthEvent]:
        """An async iterator of health events from now on."""
        return self.ledger.bus.subscribe()

    async def recent_events(self, limit: int = 50) -> list[dict[str, Any]]:
        """The latest health events from the state store (switches, cooldowns, probes, recoveries)."""
        return await self.ledger.store.recent_events(limit)

    def health(self) -> dict[str, Any]:
        return self.ledger.snapshot()

    async def reload(self, config: Any) -> None:
        """Swap the config; auth cooldowns end here (a new key may have been set)."""
        self.config = getattr(config, "config", config)
        self.timeouts = _attempt.Timeouts.from_config(getattr(self.config, "timeouts", None))
        self.targets = Targets(self.config, self.catalog, self.targets.env)
        self._rails.clear()
        self._chain_checks.clear()
        self._priciest_of.clear()
        self.ledger.spend.budgets = Budgets.from_config(getattr(self.config, "budget", None))
        await self.ledger.reset_kind("auth_failed")

    async def aclose(self) -> None:
        await self.transport.aclose()
        await self.ledger.flush()
        if self._own_store:
            await self.ledger.store.aclose()  # type: ignore[attr-defined]

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def _tps(ledger: Ledger, model_id: str) -> float | None:
    speed = ledger.speed(model_id)
    return speed.tps if speed is not None else None


def _load_catalog(config: Any) -> Any:
    try:
        from detour.catalog import load_catalog

        return load_catalog(config)
    except Exception:  # noqa: BLE001 - no catalog means every capability is unknown, not a crash
        return None


def _messages(messages: list[dict[str, Any]] | list[Message], model: str) -> Request:
    if messages and isinstance(messages[0], Message):
        return Request(model=model, messages=list(messages))  # type: ignore[arg-type]
    try:
        from detour.protocol import openai_chat

        return openai_chat.decode_request({"model": model, "messages": messages})
    except ImportError:  # pragma: no cover - the codec ships with detour
        return Request(model=model, messages=[Message(m["role"], [TextPart(str(m["content"]))]) for m in messages])  # type: ignore[index]


async def acomplete(messages: list[dict[str, Any]] | list[Message], model: str = "detour", *,
                    config: Any = None, router: Router | None = None, **kwargs: Any) -> Result:
    """One request through a router built from the usual config (or the one given)."""
    own = router is None
    router = router or (Router(config) if config is not None else Router.from_config())
    try:
        return await router.chat(_messages(messages, model), **kwargs)
    finally:
        if own:
            await router.aclose()


def complete(messages: list[dict[str, Any]] | list[Message], model: str = "detour", **kwargs: Any) -> Result:
    """``detour.complete(messages=[{"role": "user", "content": "hi"}])`` -> Result (``.response.text()``)."""
    return asyncio.run(acomplete(messages, model, **kwargs))
