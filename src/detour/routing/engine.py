"""The routing engine: resolve a request's name, plan its candidates, run it. ``detour.router`` is its facade.

    name ─▶ names.resolve ─▶ Resolved ─▶ route rules ─▶ Targets.groups ─▶ make_plan ─▶ Walk ─▶ Run.complete | RouterStream

Fallback is composition: the planner (routing.plan), the policy table (routing.policy), the health ledger
(detour.health), keys (routing.keys), one attempt (routing.attempt), one request's run and its accounting
(routing.run) and streaming rescue (routing.stream) are separate modules; this one wires them together.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import TYPE_CHECKING

from detour.health import EventBus, HealthEvent, Ledger, StateStore
from detour.health.spend import Budgets
from detour.protocol.messages import Request, Resolved, Usage
from detour.routing import checks as _checks
from detour.routing import names
from detour.routing import routes as _routes
from detour.routing.attempt import Timeouts
from detour.routing.escalate import Escalation
from detour.routing.keys import KeyPool, session_identity
from detour.routing.needs import Needs, infer_needs, parse_require
from detour.routing.plan import Guardrails, Plan, Target, make_plan
from detour.routing.policy import Settings
from detour.routing.result import Result, cost_of
from detour.routing.run import Run
from detour.routing.sessions import arrange
from detour.routing.stream import RouterStream
from detour.routing.targets import RoutingCatalog, Targets
from detour.routing.walk import Shared, Walk, availability
from detour.upstream import Upstream

if TYPE_CHECKING:  # pragma: no cover
    from detour._http import HttpClient
    from detour.config import ChainConfig, Config


class Engine:
    """Plans and runs neutral Requests for one config; shared by every request of a process."""

    def __init__(
        self,
        config: Config,
        catalog: RoutingCatalog | None,
        store: StateStore,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]],
        http: HttpClient | None = None,
        rand: Callable[[], float] = random.random,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.config = config
        self.catalog = catalog
        self.timeouts = Timeouts.from_config(config.timeouts)
        self.ledger = Ledger(store, clock=clock, rand=rand, bus=EventBus(), probe_ttl=self.timeouts.total)
        self.ledger.spend.budgets = Budgets.from_config(config.budget)
        self.upstream = Upstream(http, connect_timeout=self.timeouts.connect)
        self.targets = Targets(config, catalog, env)
        self.keys = KeyPool()
        self.shared = Shared(self.ledger, self.keys, sleep, rand, connect=self._connect)
        self._rails: dict[int, tuple[Guardrails, Settings]] = {}
        self._custom_checks: dict[str, tuple[_checks.Check, frozenset[str] | None]] = {}
        self._chain_checks: dict[str, _checks.Checks] = {}
        self._priciest_of: dict[str, Target | None] = {}

    def reload(self, config: Config, catalog: RoutingCatalog | None) -> None:
        """Swap the config (and catalog); health, keys and connections stay."""
        self.config, self.catalog = config, catalog
        self.timeouts = Timeouts.from_config(config.timeouts)
        self.targets = Targets(config, catalog, self.targets.env)
        self._rails.clear()
        self._chain_checks.clear()
        self._priciest_of.clear()
        self.ledger.spend.budgets = Budgets.from_config(config.budget)

    # ------------------------------------------------------------ the routing decision (no I/O)

    def resolve(self, name: str, *, chain: str | None = None, strict: bool = True) -> Resolved:
        """What a model name means (see routing.names); raises UnknownModel, UnknownChain or NoModels."""
        providers = getattr(self.catalog, "providers", None)
        return names.resolve(name, self.config, self.catalog, providers, chain=chain, strict=strict,
                             ready=self.targets.ready)

    def resolution_of(self, req: Request) -> Resolved:
        """The request's Resolved: set by a front door, else resolved here as the library does (leniently)."""
        if req.resolved is None:
            hint = req.detour.get("chain")
            req.resolved = self.resolve(req.model, chain=hint if isinstance(hint, str) else None, strict=False)
        return req.resolved

    def plan(self, req: Request, *, require: str | Iterable[str] | None = None) -> tuple[str, Plan, Settings]:
        """(the chain's name, the plan, the chain's policy): the name's resolution, then the route rules."""
        resolved = self.resolution_of(req)
        needs = infer_needs(req, parse_require(require))
        route = self.match_route(req, needs)
        name = route.chain if route is not None else resolved.chain
        chain = self.config.chain(name)
        models = list(chain.models) if route is not None else names.chain_models(resolved, self.config)
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
        resolved = self.resolution_of(req)
        if not rules or resolved.by in ("chain", "id"):  # the client named a chain or a provider/model id
            return None
        return _routes.match(rules, req, needs if needs is not None else infer_needs(req))

    # ------------------------------------------------------------ answer checks

    def add_check(self, name: str, check: _checks.Check, *, chains: Iterable[str] | None = None) -> None:
        """A custom answer check for ``chains`` (None: every chain); see ``Router.add_check``."""
        self._custom_checks[name] = (check, frozenset(chains) if chains is not None else None)
        self._chain_checks.clear()

    def checks_for(self, chain_name: str) -> _checks.Checks:
        found = self._chain_checks.get(chain_name)
        if found is None:
            found = _checks.for_chain(self.config.chain(chain_name), self._custom_checks, chain_name)
            self._chain_checks[chain_name] = found
        return found

    def _escalation(self, walk: Walk, req: Request) -> Escalation | None:
        checks = self.checks_for(walk.chain)
        if not checks.applies(req):
            return None
        return Escalation(checks, req, lambda: bool(walk.remaining), self.ledger.bus.emit, walk.chain, self.ledger.clock)

    # ------------------------------------------------------------ usage per route and chain

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
        if chain_name not in self._priciest_of:
            groups, _ = self.targets.groups(list(self.config.chain(chain_name).models))
            priced = [t for g in groups for t in g if t.price is not None and cost_of(Usage(1, 1), t.info) is not None]
            self._priciest_of[chain_name] = max(priced, key=lambda t: t.price or 0.0) if priced else None
        return self._priciest_of[chain_name]

    def health_of(self, req: Request, *, require: str | Iterable[str] | None = None) -> list[tuple[str, str]]:
        """Each planned candidate with its health right now."""
        _name, plan, _settings = self.plan(req, require=require)
        now = self.ledger.clock()
        return [(c.target.model_id, availability(self.ledger, c.target, now)) for c in plan.candidates]

    def _chain_settings(self, chain: ChainConfig) -> tuple[Guardrails, Settings]:
        cached = self._rails.get(id(chain))
        if cached is None:
            cached = self._rails[id(chain)] = (Guardrails.from_chain(chain), Settings.from_chain(chain))
        return cached

    # ------------------------------------------------------------ requests

    async def start(self, req: Request, require: str | Iterable[str] | None, session: str | None) -> Run:
        """One request's Run, planned against the freshest health state."""
        await self.ledger.ensure_loaded()
        name, plan, settings = self.plan(req, require=require)
        walk = self._walk(req, name, plan, settings, session)
        return Run(self.resolution_of(req), req, walk, self.upstream, self.timeouts, self._escalation(walk, req),
                   self.book)

    def _walk(self, req: Request, name: str, plan: Plan, settings: Settings, session: str | None) -> Walk:
        """The walk through the plan, with the session's place in it (affinity pin, subscription windows)."""
        key, named = session_identity(req, session)
        chain = self.config.chain(name)
        ledger, shared = self.ledger, self.shared
        # pins hold named sessions only (agents name theirs), and nothing moves a model the client named
        steer = plan.primary == (chain.models[0] if chain.models else None)
        healthy = lambda t: availability(ledger, t, ledger.clock()) == "ok"
        placed = arrange(plan, chain, name, key, shared.sessions, shared.windows, healthy, req.credential,
                         steer=steer, named=named)
        walk = Walk(shared, plan, settings, chain=name, session=key)
        walk.placed, walk.pin = placed, steer and named and chain.affinity == "session"
        return walk

    async def complete(self, req: Request, *, require: str | Iterable[str] | None = None,
                       session: str | None = None) -> Result:
        """A non-streaming request. Raises AllFailed when no candidate could answer."""
        run = await self.start(req, require, session)
        return await run.complete()

    def stream(self, req: Request, *, require: str | Iterable[str] | None = None,
               session: str | None = None) -> RouterStream:
        """A streaming request: the same run, through a gate (``async with engine.stream(req) as s``)."""
        wanted = parse_require(require) or None
        return RouterStream(lambda: self.start(req, wanted, session))

    async def _connect(self, target: Target) -> None:
        """A connect-only probe of a target's endpoint (hedged recovery probes, routing.walk)."""
        await self.upstream.connect(target.endpoint.base_url)

    async def aclose(self) -> None:
        for task in list(self.shared.background):  # recovery probes still connecting in the background
            task.cancel()
        await asyncio.gather(*self.shared.background, return_exceptions=True)
        await self.upstream.aclose()
        await self.ledger.flush()


def _tps(ledger: Ledger, model_id: str) -> float | None:
    speed = ledger.speed(model_id)
    return speed.tps if speed is not None else None
