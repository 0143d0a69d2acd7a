"""The gateway's event stream, ``GET /events``: one place to publish, any number of subscribers.

Everything that should reach the dashboard, the OpenCode plugin or another listener goes through
``EventFeed.publish(event)``: a JSON-able dict with at least ``type``. The router's health events
(switch, cooldown_start/end, probe, recover, budget, and any new type a router component emits with
``ledger.emit(HealthEvent(...))``) arrive through ``EventFeed.health``, registered as a hook on the
router's event bus. Gateway-level events (a session's served model changing) are published directly.

Each subscriber has a bounded queue: a slow reader loses its oldest events, never slows a request.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections import deque
from collections.abc import AsyncGenerator
from typing import Any

import orjson

from detour.health.events import HealthEvent

CLOSING: dict[str, Any] = {"type": "closing"}  # ends every subscription: the gateway is shutting down
_FEEDS: weakref.WeakSet[EventFeed] = weakref.WeakSet()
HISTORY = 100  # events kept for late subscribers' context (/events?since=ID) and tests
QUEUE = 1000


class EventFeed:
    """Numbered events, a short history, and one bounded queue per subscriber."""

    def __init__(self) -> None:
        self.recent: deque[dict[str, Any]] = deque(maxlen=HISTORY)
        self._queues: set[asyncio.Queue[dict[str, Any]]] = set()
        self._next_id = 1
        _FEEDS.add(self)

    def publish(self, event: dict[str, Any]) -> dict[str, Any]:
        """Number and time-stamp ``event`` (a dict with ``type``), keep it, hand it to every subscriber."""
        event = {"id": self._next_id, "at": time.time(), **event}
        self._next_id += 1
        self.recent.append(event)
        for queue in self._queues:
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(event)
        return event

    def health(self, event: HealthEvent) -> None:
        """Hook for the router's event bus: a HealthEvent as a feed event (empty fields left out)."""
        data: dict[str, Any] = {"type": event.type, "at": event.at, "session": event.session or None}
        for name, value in (("chain", event.chain), ("model", event.model), ("from", event.from_model),
                            ("reason", event.reason), ("scope", event.scope), ("until", event.until)):
            if value:
                data[name] = value
        if event.extra:
            data.update({k: v for k, v in event.extra.items() if k not in data})
        if event.type == "switch":  # a chain's current model: "from" -> "to", like a session's switch
            data["to"] = data.pop("model", None)
        self.publish(data)

    async def subscribe(self) -> AsyncGenerator[dict[str, Any], None]:
        """Events from now on; ends after ``close()``."""
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(QUEUE)
        self._queues.add(queue)
        try:
            while (event := await queue.get()) is not CLOSING:
                yield event
        finally:
            self._queues.discard(queue)

    def close(self) -> None:
        for queue in self._queues:
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(CLOSING)

    @property
    def subscribers(self) -> int:
        return len(self._queues)


def sse(event: str, data: Any, event_id: int | None = None) -> bytes:
    """One Server-Sent Event: ``id:``, ``event:`` and a single ``data:`` line of JSON."""
    head = b"id: %d\n" % event_id if event_id is not None else b""
    return head + b"event: " + event.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


def matches(event: dict[str, Any], session: str | None) -> bool:
    """With ``?session=ID``: that session's events and the events that belong to no session."""
    return session is None or event.get("session") in (None, session)


def close_all() -> None:
    """End the subscriptions of every feed in this process (the server is shutting down)."""
    for feed in list(_FEEDS):
        feed.close()
