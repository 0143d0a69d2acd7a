"""What the gateway holds: the router, config, catalog, metrics and the live view behind /status."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any

from detour.protocol.messages import Request
from detour.server.events import EventFeed
from detour.server.metrics import Metrics

log = logging.getLogger("detour.server")
DEFAULT_MAX_BODY = 32 * 1024 * 1024
REFRESH_S = 0.5
SESSIONS = 500  # client sessions whose served model the gateway remembers (least recently seen dropped first)
SESSIONS_SHOWN = 50  # of those, the most recent in /status


@dataclass
class ChainView:
    primary: str | None
    current: str | None = None
    reason: str | None = None  # why the current model is not the primary
    since: float | None = None
    at: float | None = None  # when it last served a request
    chain: str = ""  # an explicit model's view: the chain whose models are its fallbacks
    models: list[str] | None = None  # an explicit model's view: the model, then those fallbacks


EXPLICIT_VIEWS = 50  # explicit models tracked in /status, the most recently used


class Outcomes:
    """The recent attempts of one model: success rate, latency and the last error kind."""

    __slots__ = ("last_error", "recent")

    def __init__(self) -> None:
        self.recent: deque[tuple[bool, float]] = deque(maxlen=100)
        self.last_error: str | None = None

    def add(self, kind: str, seconds: float) -> None:
        self.recent.append((kind == "ok", seconds))
        if kind != "ok":
            self.last_error = kind

    def success_rate(self) -> float | None:
        return round(sum(ok for ok, _ in self.recent) / len(self.recent), 3) if self.recent else None

    def latency_ms(self) -> float | None:
        times = sorted(t for ok, t in self.recent if ok)
        return round(times[len(times) // 2] * 1000, 1) if times else None


@dataclass
class SessionView:
    """What one client session (x-detour-session, x-claude-code-session-id) was last served, and why."""

    chain: str
    primary: str | None
    model: str
    reason: str | None  # why `model` is not the primary
    since: float  # when the session moved to `model`
    at: float  # its last request
    requests: int = 1


@dataclass
class GatewayState:
    router: Any
    config: Any
    catalog: Any
    providers: Any
    api_keys: tuple[str, ...] = ()
    max_body: int = DEFAULT_MAX_BODY
    metrics: Metrics = field(default_factory=Metrics)
    notes: list[str] = field(default_factory=list)  # what `detour serve` found, shown in /status
    chains: dict[str, ChainView] = field(default_factory=dict)
    switches: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=50))
    started_at: float = field(default_factory=time.time)
    outcomes: dict[str, Outcomes] = field(default_factory=dict)
    events: EventFeed = field(default_factory=EventFeed)  # GET /events; publish() is the one way in
    sessions: OrderedDict[str, SessionView] = field(default_factory=OrderedDict)
    _session_models: dict[tuple[str, str], str] = field(default_factory=dict)  # (session, chain) -> last model

    reloader: Any = None
    _refresher: Any = None

    def __post_init__(self) -> None:
        self.router.on_event(self.events.health)

    async def start(self) -> None:
        await self.router.ledger.ensure_loaded()
        self.metrics.watch_spend(lambda: self.router.ledger.spend.snapshot())
        self._refresher = asyncio.ensure_future(self._refresh())
        if self.reloader is not None:
            self.reloader.start()

    async def _refresh(self) -> None:
        """Idle gateways too pick up other processes' changes (and a recovered store) within a second."""
        while True:
            await asyncio.sleep(REFRESH_S)
            try:
                await self.router.ledger.ensure_loaded()
            except Exception:  # the next round retries; requests never depend on this loop
                log.exception("state refresh failed")

    async def close(self) -> None:
        if self._refresher is not None:
            self._refresher.cancel()
            await asyncio.gather(self._refresher, return_exceptions=True)
        if self.reloader is not None:
            await self.reloader.stop()
        await self.router.aclose()

    def swap(self, router: Any, config: Any, catalog: Any) -> None:
        self.router, self.config, self.catalog, self.providers = router, config, catalog, catalog.providers
        router.on_event(self.events.health)
        self.api_keys = tuple(config.server.api_keys)

    # ---------------------------------------------------------------- per request

    def observe(self, door: str, req: Request, result: Any, status: int, started: float,
                session: str | None = None) -> None:
        elapsed = time.perf_counter() - started
        attempts = len(result.attempts) if result is not None else 0
        served = result.model if result is not None else "-"
        self.metrics.request(door, served, status, elapsed, attempts, getattr(result, "cost", None), result)
        self._outcomes(result)
        resolved = req.resolved
        routed = result is not None and result.route is not None  # a route rule chose the chain
        chain = (result.chain if result is not None else "") or (resolved.chain if resolved is not None else "default")
        explicit = resolved.model if resolved is not None and not routed else None
        by_chain = explicit is None
        if by_chain:
            self._track(chain, result)
        elif explicit is not None and result is not None:  # an explicit model is tracked like a chain of its own
            self._track(explicit, result, of=chain)
        if session and result is not None:
            self._track_session(session, chain if by_chain else explicit or chain, req, result, by_chain)
        if log.isEnabledFor(logging.INFO):
            error = getattr(result, "error", None)
            log.info("request door=%s model=%s served=%s attempts=%d status=%d latency_ms=%.1f%s",
                     door, req.model, served, attempts, status, elapsed * 1000,
                     f" broken={error.kind}" if error is not None else "")

    def observe_failure(self, door: str, req: Request, exc: Any, status: int, started: float) -> None:
        """Every candidate failed (or none could be tried): the attempts still count for health and metrics."""
        elapsed = time.perf_counter() - started
        self.metrics.request(door, "-", status, elapsed, len(exc.attempts), None, exc)
        self._outcomes(exc)
        if log.isEnabledFor(logging.INFO):
            tried = ",".join(f"{a.model}:{a.kind}" for a in exc.attempts) or "none"
            log.info("request door=%s model=%s served=- attempts=%d status=%d latency_ms=%.1f tried=%s",
                     door, req.model, len(exc.attempts), status, elapsed * 1000, tried)

    def observe_refusal(self, door: str, status: int, why: str) -> None:
        """A request refused before routing (unknown model, no such route): logged and counted too."""
        self.metrics.request(door, "-", status, 0.0, 0, None, None)
        log.info("request door=%s served=- attempts=0 status=%d refused=%s", door, status, why)

    def _outcomes(self, result: Any) -> None:
        if result is None:
            return
        for attempt in result.attempts:
            stats = self.outcomes.get(attempt.model)
            if stats is None:
                stats = self.outcomes[attempt.model] = Outcomes()
            stats.add(attempt.kind, attempt.duration)

    def _track(self, chain: str, result: Any, *, of: str | None = None) -> None:
        """Move a view: a chain's, or (``of`` given) an explicit model's, whose fallbacks are chain ``of``'s."""
        if result is None:
            return
        view = self.chains.get(chain)
        if view is None:
            if of is not None:
                fallbacks = self.config.chain(of).models if of == "default" or of in self.config.chains else []
                view = ChainView(primary=chain, chain=of, models=[chain, *(m for m in fallbacks if m != chain)])
                explicit = [n for n, v in self.chains.items() if v.chain]
                if len(explicit) >= EXPLICIT_VIEWS:
                    del self.chains[min(explicit, key=lambda n: self.chains[n].at or 0.0)]
            else:
                view = ChainView(primary=self._primary(chain))
            self.chains[chain] = view
        view.at = time.time()
        previous = view.current or view.primary  # a fresh gateway starts on the primary
        if previous != result.model:
            if previous is not None:
                event = {"at": time.time(), "chain": chain, "from": previous, "to": result.model,
                         "reason": _switch_reason(result, previous)}
                self.switches.append(event)
                self.metrics.switch(chain, previous, result.model)
                log.info("switch chain=%s from=%s to=%s reason=%s", chain, previous, result.model, event["reason"])
            view.since = time.time()
        if view.current != result.model:
            view.current = result.model
        view.reason = result.fallback_reason if result.model != view.primary else None

    def _track_session(self, session: str, chain: str, req: Request, result: Any, by_chain: bool = True) -> None:
        """Remember what the session was served; publish a `switch` event when that model changes.

        A session's first request publishes one only when it is already served by a fallback, so a client
        that joins during an outage is told, and one on the primary hears nothing until something changes.
        """
        now = time.time()
        explicit = req.resolved.model if req.resolved is not None else None
        primary = self._primary(chain) if by_chain else explicit
        view = self.sessions.get(session)
        if view is None or view.chain == chain:
            previous = view.model if view is not None else (primary or result.model)
        else:  # routes send this session's turns to several chains: a switch is a change within one chain
            previous = self._session_models.get((session, chain)) or primary or result.model
        self._session_models[(session, chain)] = result.model
        if len(self._session_models) > 4 * SESSIONS:
            self._session_models.clear()
        reason = result.fallback_reason if result.model != primary else None
        if view is None:
            view = self.sessions[session] = SessionView(chain, primary, result.model, reason, now, now, 0)
            while len(self.sessions) > SESSIONS:
                self.sessions.popitem(last=False)
        else:
            self.sessions.move_to_end(session)
        if result.model != previous:
            view.since = now
            self.events.publish({"type": "switch", "session": session, "chain": chain, "primary": primary,
                                 "from": previous, "to": result.model, "reason": reason or "recovered",
                                 "until": self._back(primary) if reason else None})
        view.chain, view.primary, view.model, view.reason, view.at = chain, primary, result.model, reason, now
        view.requests += 1

    def _back(self, model: str | None) -> float | None:
        """When a model that is not serving is expected back: the end of its cooldown, if it has one."""
        return self.health_of(model).get("until") if model else None

    def session_status(self, session: str) -> dict[str, Any] | None:
        view = self.sessions.get(session)
        if view is None:
            return None
        pinned, turns = self.router.session_turns(view.chain, session)
        return {"chain": view.chain, "primary": view.primary, "model": view.model, "reason": view.reason,
                "since": view.since, "at": view.at, "requests": view.requests,
                "until": self._back(view.primary) if view.model != view.primary else None,
                "pinned": pinned, "turns": turns}

    def windows(self) -> list[dict[str, Any]]:
        """Subscription windows per provider key, each with its one-line label (``claude 5h 92%, resets 14:05``)."""
        from detour.routing.sessions import label

        return [{**w, "label": label(w)} for w in self.router.windows_view()]

    def _primary(self, chain: str) -> str | None:
        cfg = self.config.model if chain == "default" else self.config.chains.get(chain)
        return cfg.primary if cfg is not None else None

    async def reset(self, model: str | None) -> list[str]:
        """Clear cooldowns by hand (all, or those of one model and its keys); returns the cleared scopes."""
        ledger = self.router.ledger
        scopes = [c["scope"] for c in ledger.snapshot()["cooldowns"]]
        if model:
            scopes = [s for s in scopes if s == f"model:{model}" or s.endswith(f"|{model}")]
        for scope in scopes:
            await ledger.close(scope)
        if not model:
            self.router.unpin_sessions()
        log.info("reset: cleared %d cooldown(s)%s", len(scopes), f" of {model}" if model else "")
        return scopes

    # ---------------------------------------------------------------- views

    def models_listing(self) -> dict[str, Any]:
        created = int(self.started_at)
        data = []
        for info in self._listed_models():
            record = info.record(self.health_of(info.id))
            data.append({"id": info.id, "object": "model", "created": created, "owned_by": info.provider, **record})
        for name in ["detour", *self.config.chains]:
            data.insert(0, {"id": name, "object": "model", "created": created, "owned_by": "detour"})
        return {"object": "list", "data": data}

    def _listed_models(self) -> list[Any]:
        cfg = self.config
        chains = [*cfg.model.models, *(m for c in cfg.chains.values() for m in c.models)]
        declared = [f"{pid}/{mid}" for pid, prov in cfg.provider.items() for mid in prov.models]
        return [self.catalog.info(model_id) for model_id in dict.fromkeys([*chains, *declared])]

    def health_of(self, model_id: str) -> dict[str, Any]:
        """ok | cooling (until) | probing (cooldown over, one probe allowed) | disabled (auth: until reload).

        The model's own cooldown, its provider's (a connect failure benches each of its models) and its keys'
        (cooling when every key is): ``scope`` says which one decides.
        """
        from detour.catalog.model import split_model_id
        from detour.health.ledger import COOLING, OK

        ledger = self.router.ledger
        now = ledger.clock()
        target = self.router.targets.get(model_id)
        provider = target.provider if target is not None else split_model_id(model_id)[0]
        aliases = [k.alias for k in target.keys] if target is not None else []
        level, cooldown = ledger.blocking(provider, model_id, aliases, now)
        state, until, last, scope = "ok", None, None, None
        if cooldown is not None and level != OK:
            last = cooldown.kind
            scope = "route" if "|" in cooldown.scope else cooldown.scope.partition(":")[0]
            if cooldown.kind == "auth_failed":
                state = "disabled"
            elif level == COOLING:
                state, until = "cooling", cooldown.until
            else:
                state = "probing"
        stats = self.outcomes.get(model_id)
        speed = ledger.speed(model_id) if hasattr(ledger, "speed") else None
        return {
            "state": state,
            "until": until,
            "scope": scope,
            "last_error": last or (stats.last_error if stats else None),
            "success_rate": stats.success_rate() if stats else None,
            "latency_ms": stats.latency_ms() if stats else None,
            "ttft_ms": round(speed.ttft * 1000, 1) if speed is not None and speed.ttft else None,
            "speed_tps": round(speed.tps, 1) if speed is not None and speed.tps else None,
            "window": self._window_of(model_id.partition("/")[0]),
        }

    def _window_of(self, provider: str) -> dict[str, Any] | None:
        """The fullest live subscription window the provider's keys report (None: it reports none)."""
        live = [w for w in self.router.windows_view() if w["provider"] == provider and not w["reset"]]
        return max(live, key=lambda w: w["used"]) if live else None

    def status(self, session: str | None = None) -> dict[str, Any]:
        chains = {}
        for name in ["default", *self.config.chains]:
            view = self.chains.get(name) or ChainView(primary=self._primary(name))
            cfg = self.config.model if name == "default" else self.config.chains[name]
            chains[name] = {"primary": view.primary, "models": list(cfg.models), "current": view.current or view.primary,
                            "reason": view.reason, "since": view.since, "until": self._until(view), "at": view.at}
        for name, view in list(self.chains.items()):
            if view.chain:  # a model a client named: its own view, its fallbacks from its chain
                chains[name] = {"primary": view.primary, "models": list(view.models or ()), "current": view.current,
                                "reason": view.reason, "since": view.since, "until": self._until(view),
                                "at": view.at, "explicit": True, "chain": view.chain}
        models = {info.id: self.health_of(info.id) for info in self._listed_models()}
        for view in self.chains.values():
            if view.chain and view.primary is not None and view.primary not in models:  # an explicit model
                models[view.primary] = self.health_of(view.primary)
        recent = list(self.sessions)[-SESSIONS_SHOWN:]
        sessions = {sid: self.session_status(sid) for sid in reversed(recent)}
        if session and session not in sessions and session in self.sessions:
            sessions[session] = self.session_status(session)
        return {"chains": chains, "models": models, "switches": list(self.switches), "sessions": sessions,
                "windows": self.windows(),
                "notes": self.notes,
                "spend": self.router.ledger.spend.snapshot(), "storage": self.storage(),
                "usage": self.router.ledger.uses.snapshot(),
                "uptime_s": round(time.time() - self.started_at, 1)}

    def storage(self) -> dict[str, Any]:
        """Which state store, and whether it answers ("redis unreachable, serving from local state")."""
        status = getattr(self.router.ledger.store, "status", None)
        return status() if status is not None else {"backend": type(self.router.ledger.store).__name__, "ok": True, "note": ""}

    def _until(self, view: ChainView) -> float | None:
        if view.primary is None or view.current in (None, view.primary):
            return None
        until: float | None = self.health_of(view.primary).get("until")
        return until


def _switch_reason(result: Any, previous: str) -> str:
    """Why ``previous`` did not serve this request: its own failure on it (the last one), else why it was
    skipped, else the chain's fallback reason; "recovered" when the move is back to the primary."""
    for attempt in reversed(result.attempts):
        if attempt.model == previous and attempt.kind != "ok":
            return str(attempt.kind)
    for model, reason in result.skipped:
        if model == previous:
            return str(reason)
    return result.fallback_reason or "recovered"


def estimate_tokens(req: Request) -> int:
    """The router's fast input estimate (the same one that picks candidates by context size)."""
    from detour.routing.needs import infer_needs

    return max(1, infer_needs(req, []).min_context - (req.max_tokens or 0))
