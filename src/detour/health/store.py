"""The state store: where cooldowns, probe leases, speeds, spend and switch events live.

A small async, serialisable interface so SQLite/Redis stores can replace ``MemoryStore``
(see detour.health.backends). Records are plain dataclasses of str/float/int, with ``to_dict``/``from_dict``
round-trips. ``SharedStore`` adds what several processes need: a change ``version``, spend rows and a status.
"""

from __future__ import annotations

from collections import deque
from dataclasses import asdict, dataclass
from typing import Any, Protocol, runtime_checkable


@dataclass(slots=True)
class Cooldown:
    """One scope cooling down: ``scope`` is ``key:<provider>:<alias>``, ``model:<id>`` or ``provider:<id>``."""

    scope: str
    kind: str  # the ErrorKind that caused it, or "proactive" (remaining budget 0)
    until: float  # epoch seconds; past it the scope is half-open until a probe succeeds
    strikes: int = 1  # consecutive failures, picks the ladder step
    since: float = 0.0
    reason: str = ""
    stated: bool = False  # the end came from the provider (Retry-After, a reset header, remaining=0)

    @property
    def guessed(self) -> bool:
        """A ladder step, not the provider's word: the last resort may try it early (routing.policy).

        Auth and not-found cooldowns are facts about the key or the model, never guesses.
        """
        return not self.stated and self.kind not in ("auth_failed", "not_found", "proactive")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Cooldown:
        return cls(**{k: v for k, v in data.items() if k in _COOLDOWN_FIELDS})


_COOLDOWN_FIELDS = frozenset(Cooldown.__dataclass_fields__)


def merge_cooldowns(old: Cooldown, new: Cooldown) -> Cooldown:
    """Two writers cooled one scope: the later end wins (with its kind, reason and source); strikes never drop."""
    later = new if new.until >= old.until else old
    return Cooldown(new.scope, later.kind, later.until, max(old.strikes, new.strikes), new.since, later.reason,
                    later.stated)


@dataclass(slots=True)
class Speed:
    """EWMA of time-to-first-token (s) and output tokens per second for one model."""

    model: str
    ttft: float | None = None
    tps: float | None = None
    samples: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class SpendRow:
    """Spend of one UTC day on one dimension value: ``dim`` is provider | model | key | chain | total."""

    day: str  # YYYY-MM-DD, UTC
    dim: str
    name: str
    usd: float = 0.0
    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@runtime_checkable
class StateStore(Protocol):
    """Everything the health ledger persists. All methods are async; all values are plain data."""

    async def load_cooldowns(self) -> list[Cooldown]: ...
    async def put_cooldown(self, cooldown: Cooldown) -> None: ...
    async def clear_cooldown(self, scope: str) -> None: ...
    async def acquire_probe(self, scope: str, holder: str, ttl: float, now: float) -> bool: ...
    async def release_probe(self, scope: str, holder: str) -> None: ...
    async def put_speed(self, speed: Speed) -> None: ...
    async def load_speeds(self) -> list[Speed]: ...
    async def put_fact(self, key: str, value: Any) -> None: ...
    async def load_facts(self) -> dict[str, Any]: ...
    async def add_event(self, event: dict[str, Any]) -> None: ...
    async def recent_events(self, limit: int = 50) -> list[dict[str, Any]]: ...


@runtime_checkable
class SharedStore(StateStore, Protocol):
    """A StateStore that can also hold spend and tell when another process changed something."""

    async def version(self) -> Any: ...  # changes when *another* process wrote; cheap, polled ~3x a second
    async def add_spend(self, rows: list[SpendRow]) -> None: ...
    async def load_spend(self, since: str, until: str = "9999-12-31", dims: tuple[str, ...] = ()) -> list[SpendRow]: ...
    def status(self) -> dict[str, Any]: ...
    async def aclose(self) -> None: ...


class MemoryStore:
    """In-process store; leases are atomic because no method awaits."""

    def __init__(self, *, max_events: int = 500) -> None:
        self._cooldowns: dict[str, Cooldown] = {}
        self._leases: dict[str, tuple[str, float]] = {}
        self._speeds: dict[str, Speed] = {}
        self._facts: dict[str, Any] = {}
        self._events: deque[dict[str, Any]] = deque(maxlen=max_events)
        self._spend: dict[tuple[str, str, str], SpendRow] = {}

    async def load_cooldowns(self) -> list[Cooldown]:
        return list(self._cooldowns.values())

    async def put_cooldown(self, cooldown: Cooldown) -> None:
        old = self._cooldowns.get(cooldown.scope)
        self._cooldowns[cooldown.scope] = cooldown if old is None else merge_cooldowns(old, cooldown)

    async def clear_cooldown(self, scope: str) -> None:
        self._cooldowns.pop(scope, None)
        self._leases.pop(scope, None)

    async def acquire_probe(self, scope: str, holder: str, ttl: float, now: float) -> bool:
        lease = self._leases.get(scope)
        if lease is not None and lease[1] > now and lease[0] != holder:
            return False
        self._leases[scope] = (holder, now + ttl)
        return True

    async def release_probe(self, scope: str, holder: str) -> None:
        lease = self._leases.get(scope)
        if lease is not None and lease[0] == holder:
            del self._leases[scope]

    async def put_speed(self, speed: Speed) -> None:
        self._speeds[speed.model] = speed

    async def load_speeds(self) -> list[Speed]:
        return list(self._speeds.values())

    async def put_fact(self, key: str, value: Any) -> None:
        self._facts[key] = value

    async def load_facts(self) -> dict[str, Any]:
        return dict(self._facts)

    async def add_event(self, event: dict[str, Any]) -> None:
        self._events.append(event)

    async def recent_events(self, limit: int = 50) -> list[dict[str, Any]]:
        return list(self._events)[-limit:]

    async def version(self) -> Any:
        return 0  # one process: nobody else writes

    async def add_spend(self, rows: list[SpendRow]) -> None:
        for row in rows:
            have = self._spend.get((row.day, row.dim, row.name))
            if have is None:
                self._spend[(row.day, row.dim, row.name)] = SpendRow(**row.to_dict())
                continue
            have.usd += row.usd
            have.requests += row.requests
            have.input_tokens += row.input_tokens
            have.output_tokens += row.output_tokens

    async def load_spend(self, since: str, until: str = "9999-12-31", dims: tuple[str, ...] = ()) -> list[SpendRow]:
        """Rows of the days ``since``..``until`` (inclusive), of only ``dims`` when given."""
        return [SpendRow(**r.to_dict()) for (day, dim, _n), r in self._spend.items()
                if since <= day <= until and (not dims or dim in dims)]

    def status(self) -> dict[str, Any]:
        return {"backend": "memory", "where": "this process", "ok": True, "note": ""}

    async def aclose(self) -> None:
        return None
