"""The health ledger: cooldowns by scope, half-open probe leases, proactive avoidance, speeds, facts.

Reads are synchronous dict lookups on an in-process cache; writes go through to the StateStore. With a
SharedStore, ``ensure_loaded`` polls its version every REFRESH_S and reloads what another process changed.

    scope state:  ok ──failure──▶ cooling ──until passes──▶ half_open ──probe ok──▶ ok
                                     ▲                          │
                                     └──────probe fails─────────┘  (next ladder step)
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterable
from typing import Any

from detour.health import spend as _spend
from detour.health.events import EventBus, HealthEvent
from detour.health.ladder import cooldown_seconds
from detour.health.store import Cooldown, MemoryStore, SharedStore, Speed, SpendRow, StateStore

log = logging.getLogger("detour.health")
OK = 0
COOLING = 1
HALF_OPEN = 2
EWMA_ALPHA = 0.3
REFRESH_S = 0.3  # another process's change is honoured here within this (plus one request)
_RANK = {OK: 0, HALF_OPEN: 1, COOLING: 2}  # how far from serving a state is


def key_scope(provider: str, alias: str) -> str:
    return f"key:{provider}:{alias}"


def key_model_scope(provider: str, alias: str, model_id: str) -> str:
    """One key's budget for one model (proactive avoidance: limits are per key and often per model)."""
    return f"key:{provider}:{alias}|{model_id}"


def model_scope(model_id: str) -> str:
    return f"model:{model_id}"


def provider_scope(provider: str) -> str:
    return f"provider:{provider}"


class Ledger:
    def __init__(
        self,
        store: StateStore | None = None,
        *,
        clock: Callable[[], float] = time.time,
        rand: Callable[[], float] = random.random,
        bus: EventBus | None = None,
        probe_ttl: float = 600.0,
    ) -> None:
        self.store: StateStore = store if store is not None else MemoryStore()
        self.clock = clock
        self.rand = rand
        self.bus = bus if bus is not None else EventBus()
        self.probe_ttl = probe_ttl
        self._cool: dict[str, Cooldown] = {}
        self._speeds: dict[str, Speed] = {}
        self._missing: dict[str, frozenset[str]] = {}
        self._current: dict[str, str] = {}
        self._loaded = False
        self.spend = _spend.SpendBook()
        self.uses = _spend.UseBook()
        self._shared_store = self.store if isinstance(self.store, SharedStore) else None  # shared by processes
        self._shared = self._shared_store is not None
        self._version: Any = None
        self._next_check = 0.0
        self._dirty: set[str] = set()  # models whose speed changed since the last flush
        self._writes = 0  # local cooldown/spend writes, to spot one racing a reload
        self._pending_spend: dict[tuple[str, str, str], list[Any]] = {}

    async def load(self) -> None:
        """Fill the cache from the store (once; again whenever another process wrote)."""
        await self.flush()
        writes = self._writes
        if self._shared_store is not None:
            self._version = await self._shared_store.version()
        self._cool = {c.scope: c for c in await self.store.load_cooldowns()}
        self._speeds = {s.model: s for s in await self.store.load_speeds()}
        for key, value in (await self.store.load_facts()).items():
            if key.startswith("missing:"):
                self._missing[key[8:]] = frozenset(value)
            elif key.startswith("current:"):
                self._current[key[8:]] = value
        await self._load_spend()
        if writes != self._writes:  # a local write raced this (awaiting) load: load again at the next check
            self._version = None
        self._loaded = True

    async def _load_spend(self) -> None:
        day = _spend.utc_day(self.clock())
        shared = self._shared_store
        rows = await shared.load_spend(_spend.month_start(day), day, _spend.BUDGET_DIMS) if shared is not None else []
        self.spend.reset(day, rows)

    async def ensure_loaded(self) -> None:
        """Per request: load once, then a version check at most every REFRESH_S (a monotonic clock)."""
        if not self._loaded:
            await self.load()
        elif (t := time.monotonic()) >= self._next_check:
            self._next_check = t + REFRESH_S
            await self.flush()
            if self._shared:
                await self.maybe_refresh()

    async def flush(self) -> None:
        """Write the speeds and spend gathered since the last flush: batched to keep writes off each request."""
        dirty, self._dirty = self._dirty, set()
        for model_id in dirty:
            await self.store.put_speed(self._speeds[model_id])
        if self._pending_spend and self._shared_store is not None:
            pending, self._pending_spend = self._pending_spend, {}
            rows = [SpendRow(day, dim, name, *totals) for (day, dim, name), totals in pending.items()]
            await self._shared_store.add_spend(rows)

    async def maybe_refresh(self) -> bool:
        """Reload when another process wrote, or when the UTC day turned; True if reloaded."""
        if self._shared_store is not None and await self._shared_store.version() != self._version:
            await self.load()
            return True
        if self.spend.day != _spend.utc_day(self.clock()):
            await self._load_spend()
        return False

    # ------------------------------------------------------------ reads (hot path, no I/O)

    def state(self, scope: str, now: float) -> int:
        c = self._cool.get(scope)
        if c is None:
            return OK
        return COOLING if now < c.until else HALF_OPEN

    def cooldown(self, scope: str) -> Cooldown | None:
        return self._cool.get(scope)

    def blocking(self, provider: str, model_id: str, aliases: Iterable[str], now: float) -> tuple[int, Cooldown | None]:
        """One model's health: the worst of its provider and model scopes and the best of its keys (each key:
        the worst of the key and the key on this model), with the cooldown that decides it (None when OK)."""
        worst, worst_c = OK, None
        for scope in (provider_scope(provider), model_scope(model_id)):
            state = self.state(scope, now)
            if _RANK[state] > _RANK[worst] or (state != OK and state == worst and worst_c is not None
                                                and self._cool[scope].until > worst_c.until):
                worst, worst_c = state, self._cool[scope]
        best: tuple[int, Cooldown | None] | None = None
        for alias in aliases:
            key = max(((self.state(s, now), self._cool.get(s)) for s in
                       (key_scope(provider, alias), key_model_scope(provider, alias, model_id))),
                      key=lambda sc: (_RANK[sc[0]], sc[1].until if sc[1] is not None else 0.0))
            if best is None or (_RANK[key[0]], _until(key[1])) < (_RANK[best[0]], _until(best[1])):
                best = key
        if best is not None and _RANK[best[0]] > _RANK[worst]:
            return best
        return worst, worst_c

    def cooldowns(self) -> list[Cooldown]:
        return list(self._cool.values())

    def speed(self, model_id: str) -> Speed | None:
        return self._speeds.get(model_id)

    def missing(self, model_id: str) -> frozenset[str]:
        return self._missing.get(model_id, frozenset())

    def current(self, chain: str) -> str | None:
        return self._current.get(chain)

    def over_budget(self, provider: str) -> str | None:
        """``"daily"`` / ``"monthly"`` when the provider's (or the total) budget is spent, else None."""
        return self.spend.over(provider)

    # ------------------------------------------------------------ writes

    async def cool(self, scope: str, kind: str, *, reported: float | None = None, reason: str = "") -> Cooldown:
        """Start (or extend) a cooldown. Strikes climb only when a half-open scope fails again."""
        now = self.clock()
        prev = self._cool.get(scope)
        stated = (reported is not None and reported > 0) or kind == "proactive"  # the provider said how long
        if prev is not None and now < prev.until:
            step = now + cooldown_seconds(kind, prev.strikes, reported, rand=self.rand)
            until, stated = (step, stated) if step > prev.until else (prev.until, prev.stated)
            c = Cooldown(scope, kind, until, prev.strikes, prev.since, reason or prev.reason, stated)
        else:
            strikes = prev.strikes + 1 if prev is not None else 1
            until = now + cooldown_seconds(kind, strikes, reported, rand=self.rand)
            c = Cooldown(scope, kind, until, strikes, now, reason, stated)
        self._cool[scope] = c
        self._writes += 1
        await self.store.put_cooldown(c)
        await self._emit(HealthEvent("cooldown_start", now, scope=scope, reason=kind, until=c.until))
        return c

    async def try_probe(self, scope: str, holder: str) -> bool:
        """Half-open: exactly one holder may send a probe; the others stay on the fallback."""
        now = self.clock()
        won = await self.store.acquire_probe(scope, holder, self.probe_ttl, now)
        if won:
            await self._emit(HealthEvent("probe", now, scope=scope))
        return won

    async def release_probe(self, scope: str, holder: str) -> None:
        await self.store.release_probe(scope, holder)

    async def close(self, scope: str) -> None:
        """A success on a scope with a cooldown record: it has recovered."""
        c = self._cool.pop(scope, None)
        self._writes += 1
        await self.store.clear_cooldown(scope)
        if c is not None:
            now = self.clock()
            await self._emit(HealthEvent("cooldown_end", now, scope=scope, reason=c.kind))
            await self._emit(HealthEvent("recover", now, scope=scope, reason=c.kind))

    async def observe_rate(self, scope: str, remaining: dict[str, float], reset_in: dict[str, float]) -> bool:
        """Proactive avoidance: a budget at 0 cools the scope until its reset, without sending."""
        exhausted = [name for name, left in remaining.items() if left <= 0]
        if not exhausted:
            return False
        resets = [reset_in[name] for name in exhausted if reset_in.get(name)]
        await self.cool(scope, "proactive", reported=max(resets) if resets else None, reason="remaining=0")
        return True

    async def reset_kind(self, kind: str) -> None:
        """Drop every cooldown of one kind (auth cooldowns last until the config is reloaded)."""
        for scope in [s for s, c in self._cool.items() if c.kind == kind]:
            del self._cool[scope]
            self._writes += 1
            await self.store.clear_cooldown(scope)

    async def record_speed(self, model_id: str, ttft: float | None, tps: float | None) -> None:
        s = self._speeds.get(model_id) or Speed(model_id)
        s.ttft = _ewma(s.ttft, ttft)
        s.tps = _ewma(s.tps, tps)
        s.samples += 1
        self._speeds[model_id] = s
        self._dirty.add(model_id)  # written by the next flush (at most REFRESH_S later, and on Router.aclose)

    async def record_spend(self, provider: str, model: str, key: str, chain: str, usd: float,
                           input_tokens: int = 0, output_tokens: int = 0) -> None:
        """One attempt's cost: counted locally for budgets, added to the store, a warning at 80% of a limit."""
        now = self.clock()
        day = _spend.utc_day(now)
        due = self.spend.add(day, provider, usd)
        self._writes += 1
        if self._shared:  # summed per row and written by the next flush (at most REFRESH_S later, and on close)
            pending = self._pending_spend
            for dim, name in zip(_spend.DIMS, _spend.charge_names(provider, model, key, chain)):
                totals = pending.get((day, dim, name))
                if totals is None:
                    pending[(day, dim, name)] = [usd, 1, input_tokens, output_tokens]
                else:
                    totals[0] += usd
                    totals[1] += 1
                    totals[2] += input_tokens
                    totals[3] += output_tokens
        for period, scope, spent, limit in due:
            log.warning("budget: %s %s spend is $%.4f of $%.2f (%.0f%%)", scope, period, spent, limit, 100 * spent / limit)
            await self._emit(HealthEvent("budget", now, scope=scope, model=model, reason=period,
                                         extra={"spent_usd": round(spent, 6), "limit_usd": limit}))

    def record_use(self, route: str | None, chain: str, model: str, usd: float, baseline: float | None,
                   checks: list[str]) -> None:
        """One served request per route and chain: model share, escalations, saving (for /status and usage)."""
        rows = self.uses.add(route, chain, model, usd, baseline, checks)
        if self._shared:
            day = _spend.utc_day(self.clock())
            pending = self._pending_spend
            for dim, name, value, count in rows:
                totals = pending.get((day, dim, name))
                if totals is None:
                    pending[(day, dim, name)] = [value, count, 0, 0]
                else:
                    totals[0] += value
                    totals[1] += count

    async def learn_missing(self, model_id: str, capability: str) -> None:
        known = self._missing.get(model_id, frozenset()) | {capability}
        self._missing[model_id] = known
        await self.store.put_fact(f"missing:{model_id}", sorted(known))

    async def set_current(self, chain: str, model_id: str) -> None:
        if self._current.get(chain) != model_id:
            self._current[chain] = model_id
            await self.store.put_fact(f"current:{chain}", model_id)

    async def emit(self, event: HealthEvent) -> None:
        await self._emit(event)

    async def _emit(self, event: HealthEvent) -> None:
        self.bus.emit(event)
        await self.store.add_event(event.to_dict())

    def snapshot(self) -> dict[str, Any]:
        """A JSON-able view for status bars, /health and the CLI."""
        now = self.clock()
        return {
            "cooldowns": [c.to_dict() | {"state": "cooling" if now < c.until else "half_open"} for c in self._cool.values()],
            "current": dict(self._current),
            "speeds": {m: s.to_dict() for m, s in self._speeds.items()},
            "spend": self.spend.snapshot(),
        }


def _until(c: Cooldown | None) -> float:
    return c.until if c is not None else 0.0


def _ewma(old: float | None, new: float | None) -> float | None:
    if new is None:
        return old
    if old is None:
        return new
    return old + EWMA_ALPHA * (new - old)
