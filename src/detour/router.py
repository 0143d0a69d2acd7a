"""The Router: the public facade over the routing engine (detour.routing.engine).

    router = Router.from_config()
    result = await router.chat(request)                 # Result: response, model, attempts, cost...
    async with router.stream(request) as s:             # neutral Events
        async for event in s: ...
    s.result

Falls back transparently before the first streamed content; after it, see routing.stream for the rescue
rules. Nothing in ``detour.routing`` imports this module.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

from detour.config import Config, LoadedConfig
from detour.health import HealthEvent, Ledger, StateStore
from detour.protocol.messages import Message, Request, Resolved
from detour.routing.attempt import Timeouts
from detour.routing.checks import Check, Checks
from detour.routing.engine import Engine
from detour.routing.needs import Needs
from detour.routing.plan import Plan
from detour.routing.policy import Settings
from detour.routing.result import AllFailed, Attempt, Result
from detour.routing.routes import RouteMatch
from detour.routing.stream import RouterStream
from detour.routing.targets import RoutingCatalog, Targets
from detour.upstream import Upstream

if TYPE_CHECKING:  # pragma: no cover
    from detour._http import HttpClient

__all__ = ["AllFailed", "Attempt", "Result", "Router", "RouterStream", "acomplete", "complete"]


class Router:
    """Routes neutral Requests across a fallback chain. One per process; share it between requests.

    ``catalog=None`` loads the usual catalog; ``catalog=False`` runs without one (every capability
    unknown). ``store=None`` opens the state store the config names (and closes it in ``aclose``).
    """

    def __init__(
        self,
        config: Config | LoadedConfig | None = None,
        catalog: RoutingCatalog | None | bool = None,
        store: StateStore | None = None,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        http: HttpClient | None = None,
        rand: Callable[[], float] = random.random,
        env: Mapping[str, str] | None = None,
    ) -> None:
        cfg = _config_of(config)
        self._own_store = store is None  # opened from config.state here, so closed here too
        if store is None:
            from detour.health.backends import open_store

            store = open_store(cfg.state)
        self._engine = Engine(cfg, _catalog_of(catalog, cfg), store, clock=clock, sleep=sleep, http=http,
                              rand=rand, env=env)

    @classmethod
    def from_config(cls, path: str | Path | None = None, **kwargs: Any) -> Router:
        from detour.config import load_config

        return cls(load_config(path).config, **kwargs)

    # ------------------------------------------------------------ what the engine holds

    @property
    def config(self) -> Config:
        return self._engine.config

    @property
    def catalog(self) -> RoutingCatalog | None:
        return self._engine.catalog

    @property
    def ledger(self) -> Ledger:
        return self._engine.ledger

    @property
    def upstream(self) -> Upstream:
        return self._engine.upstream

    @property
    def timeouts(self) -> Timeouts:
        return self._engine.timeouts

    @property
    def targets(self) -> Targets:
        """Each model id's endpoint, catalog facts and keys, as the planner sees them."""
        return self._engine.targets

    # ------------------------------------------------------------ the routing decision (no I/O)

    def resolve(self, name: str, *, chain: str | None = None) -> Resolved:
        """What a model name means: a chain, or a model served first with a chain's fallbacks.

        Raises ``routing.names.UnknownModel``, ``UnknownChain`` or ``NoModels``."""
        return self._engine.resolve(name, chain=chain)

    def plan(self, req: Request, *, require: str | Iterable[str] | None = None) -> tuple[str, Plan, Settings]:
        """(the chain's name, its plan, its policy) for this request, without I/O."""
        return self._engine.plan(req, require=require)

    def match_route(self, req: Request, needs: Needs | None = None) -> RouteMatch | None:
        """The route rule that picks this request's chain (None: no rule does, or the client named one)."""
        return self._engine.match_route(req, needs)

    def route(self, req: Request, *, require: str | Iterable[str] | None = None) -> list[tuple[str, str]]:
        """The routing decision without I/O: each planned candidate with its health right now."""
        return self._engine.health_of(req, require=require)

    # ------------------------------------------------------------ answer checks

    def add_check(self, name: str, check: Check, *, chains: Iterable[str] | None = None) -> None:
        """A custom answer check, ``check(request, response) -> str | None`` (what is wrong, or None).

        It runs after the chain's own ``escalate`` checks, on ``chains`` (None: every chain); an answer that
        fails it escalates to the next candidate like a built-in check."""
        self._engine.add_check(name, check, chains=chains)

    def checks_for(self, chain_name: str) -> Checks:
        return self._engine.checks_for(chain_name)

    # ------------------------------------------------------------ sessions

    def unpin_sessions(self) -> int:
        """Every session pinned to a fallback starts at the primary again (``detour reset``)."""
        return self._engine.shared.sessions.unpin_all()

    def sessions_view(self) -> list[dict[str, Any]]:
        """The recently active sessions with their last turns: served model, why, repair notes."""
        return self._engine.shared.sessions.view()

    def session_turns(self, chain: str, session: str) -> tuple[str | None, list[dict[str, Any]]]:
        """(the fallback a session is pinned to, its last turns)."""
        return self._engine.shared.sessions.turns(chain, session)

    def windows_view(self) -> list[dict[str, Any]]:
        """The subscription windows each provider key last reported."""
        return self._engine.shared.windows.view()

    # ------------------------------------------------------------ requests

    async def chat(self, request: Request, *, require: str | Iterable[str] | None = None, session: str | None = None) -> Result:
        """A non-streaming request. Raises AllFailed when no candidate could answer."""
        return await self._engine.complete(request, require=require, session=session)

    def stream(self, request: Request, *, require: str | Iterable[str] | None = None, session: str | None = None) -> RouterStream:
        """A streaming request: ``async with router.stream(req) as s: async for event in s``."""
        return self._engine.stream(request, require=require, session=session)

    def chat_sync(self, request: Request, **kwargs: Any) -> Result:
        """``chat`` for sync code. Each call runs its own event loop, so it gets its own connection pool."""
        return asyncio.run(self._once(request, **kwargs))

    async def _once(self, request: Request, **kwargs: Any) -> Result:
        engine = self._engine
        shared, engine.upstream = engine.upstream, Upstream(connect_timeout=engine.timeouts.connect)
        try:
            return await self.chat(request, **kwargs)
        finally:
            await engine.upstream.aclose()
            await engine.ledger.flush()
            engine.upstream = shared

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

    async def reload(self, config: Config | LoadedConfig, catalog: RoutingCatalog | None | bool = None) -> None:
        """Swap the config (and the catalog, when given); auth cooldowns end here (a new key may have been set)."""
        cfg = _config_of(config)
        self._engine.reload(cfg, self.catalog if catalog is None else _catalog_of(catalog, cfg))
        await self.ledger.reset_kind("auth_failed")

    async def aclose(self) -> None:
        await self._engine.aclose()
        if self._own_store:
            close = getattr(self.ledger.store, "aclose", None)  # a MemoryStore has nothing to close
            if close is not None:
                await close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def _config_of(config: Config | LoadedConfig | None) -> Config:
    if config is None:
        from detour.config import parse_config

        return parse_config({}).config
    return config.config if isinstance(config, LoadedConfig) else config


def _catalog_of(catalog: RoutingCatalog | None | bool, config: Config) -> RoutingCatalog | None:
    if catalog is False:
        return None
    if catalog is None or catalog is True:
        return _load_catalog(config)
    return catalog


def _load_catalog(config: Config) -> RoutingCatalog | None:
    try:
        from detour.catalog import load_catalog

        return load_catalog(config)
    except Exception:  # noqa: BLE001 - no catalog means every capability is unknown, not a crash
        return None


def _messages(messages: list[dict[str, Any]] | list[Message], model: str) -> Request:
    neutral = [m for m in messages if isinstance(m, Message)]
    if messages and len(neutral) == len(messages):
        return Request(model=model, messages=neutral)
    from detour.protocol import openai_chat  # chat-completions dicts: the OpenAI door's own reading

    request: Request = openai_chat.decode_request({"model": model, "messages": messages})
    return request


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
