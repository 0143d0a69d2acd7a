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
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any, Self

from detour.health import EventBus, HealthEvent, Ledger, StateStore
from detour.protocol.messages import Message, Request, Response, TextPart
from detour.routing import attempt as _attempt
from detour.routing.keys import Key, KeyPool, session_key
from detour.routing.needs import infer_needs, parse_require
from detour.routing.plan import Guardrails, Plan, Target, make_plan
from detour.routing.policy import Settings
from detour.routing.result import AllFailed, Attempt, Result, cost_of
from detour.routing.stream import RouterStream
from detour.routing.targets import Targets, chain_for
from detour.routing.walk import Shared, Walk, availability
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

    @classmethod
    def from_config(cls, path: Any = None, **kwargs: Any) -> Router:
        from detour.config import load_config

        return cls(load_config(path).config, **kwargs)

    # ------------------------------------------------------------ the routing decision (no I/O)

    def plan(self, req: Request, *, require: str | Iterable[str] | None = None) -> tuple[str, Plan, Settings]:
        name, chain, models = chain_for(self.config, req)
        groups, unresolved = self.targets.groups(models)
        rails, settings = self._chain_settings(chain)
        needs = infer_needs(req, [*parse_require(require), *getattr(chain, "require", ())])
        ledger = self.ledger
        plan = make_plan(groups, needs, rails, missing=ledger.missing, speed=lambda m: _tps(ledger, m))
        if unresolved:
            plan.skipped = unresolved + plan.skipped
            plan.primary = models[0] if models else plan.primary
        return name, plan, settings

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

    def _walk(self, req: Request, require: str | Iterable[str] | None, session: str | None) -> Walk:
        name, plan, settings = self.plan(req, require=require)
        return Walk(self.shared, plan, settings, chain=name, session=session_key(req, session))

    # ------------------------------------------------------------ requests

    async def chat(self, request: Request, *, require: str | Iterable[str] | None = None, session: str | None = None) -> Result:
        """A non-streaming request. Raises AllFailed when no candidate could answer."""
        await self.ledger.ensure_loaded()
        walk = self._walk(request, require, session)
        settings = walk.settings

        async def call(target: Target, key: Key) -> tuple[Response, dict[str, str]]:
            return await _attempt.complete(self.transport, target, key, request, self.timeouts, settings.on_content_block)

        started = time.perf_counter()
        served = await walk.run(call)
        response, target = served.value, served.target
        elapsed = time.perf_counter() - started
        out = response.usage.output_tokens
        await self.ledger.record_speed(target.model_id, None, out / elapsed if out and elapsed > 0 else None)
        cost = cost_of(response.usage, target.info)
        await self.charge(walk.chain, target, served.key.alias, response.usage, cost)
        return Result(
            response=response,
            model=target.model_id,
            attempts=walk.attempts,
            skipped=walk.skipped,
            fallback_reason=walk.fallback_reason(target.model_id),
            cost=cost,
            key=served.key.alias,
        )

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
