"""The state store: where cooldowns, probe leases, speeds and switch events live.

A small async, serialisable interface so SQLite/Redis stores can replace ``MemoryStore``.
Records are plain dataclasses of str/float/int, with ``to_dict``/``from_dict`` round-trips.
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

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Cooldown:
        return cls(**data)


@dataclass(slots=True)
class Speed:
    """EWMA of time-to-first-token (s) and output tokens per second for one model."""

    model: str
    ttft: float | None = None
    tps: float | None = None
    samples: int = 0

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


class MemoryStore:
    """In-process store; leases are atomic because no method awaits."""

    def __init__(self, *, max_events: int = 500) -> None:
        self._cooldowns: dict[str, Cooldown] = {}
        self._leases: dict[str, tuple[str, float]] = {}
        self._speeds: dict[str, Speed] = {}
        self._facts: dict[str, Any] = {}
        self._events: deque[dict[str, Any]] = deque(maxlen=max_events)

    async def load_cooldowns(self) -> list[Cooldown]:
        return list(self._cooldowns.values())

    async def put_cooldown(self, cooldown: Cooldown) -> None:
        self._cooldowns[cooldown.scope] = cooldown

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
