"""Health and routing events: hooks plus an async iterator, fed by the ledger and the router."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, TypeAlias

log = logging.getLogger("detour.health")

EventType: TypeAlias = Literal["switch", "cooldown_start", "cooldown_end", "probe", "recover", "skip", "rescue", "budget",
                             "route", "escalate"]


@dataclass(slots=True)
class HealthEvent:
    type: EventType
    at: float
    scope: str = ""  # the cooling scope, for cooldown/probe/recover events
    model: str = ""  # the model the event is about (for switch: the model switched *to*)
    from_model: str = ""  # switch: the model left behind
    reason: str = ""  # an ErrorKind, a skip reason, ...
    until: float | None = None
    chain: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    session: str = ""  # the client's session the event belongs to, when one is known

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


Hook: TypeAlias = Callable[[HealthEvent], Any]


class EventBus:
    """Synchronous hooks (errors in a hook never break routing) and bounded queues for subscribers."""

    def __init__(self) -> None:
        self.hooks: list[Hook] = []
        self._queues: list[asyncio.Queue[HealthEvent]] = []

    def add_hook(self, hook: Hook) -> None:
        self.hooks.append(hook)

    def emit(self, event: HealthEvent) -> None:
        for hook in self.hooks:
            try:
                hook(event)
            except Exception:  # a user's hook must not break a request
                log.exception("event hook %r failed", hook)
        for queue in self._queues:
            if queue.full():
                queue.get_nowait()  # drop the oldest: a slow reader never blocks routing
            queue.put_nowait(event)

    async def subscribe(self, maxsize: int = 1000) -> AsyncIterator[HealthEvent]:
        queue: asyncio.Queue[HealthEvent] = asyncio.Queue(maxsize)
        self._queues.append(queue)
        try:
            while True:
                yield await queue.get()
        finally:
            self._queues.remove(queue)
