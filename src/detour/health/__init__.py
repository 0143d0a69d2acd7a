"""Health: cooldowns by scope, half-open probes, proactive avoidance, measured speed, switch events."""

from detour.health.events import EventBus, HealthEvent
from detour.health.ladder import backoff, cooldown_seconds, ladder_step
from detour.health.ledger import (
    COOLING,
    HALF_OPEN,
    OK,
    Ledger,
    key_scope,
    model_scope,
    provider_scope,
)
from detour.health.store import Cooldown, MemoryStore, Speed, StateStore

__all__ = [
    "COOLING",
    "HALF_OPEN",
    "OK",
    "Cooldown",
    "EventBus",
    "HealthEvent",
    "Ledger",
    "MemoryStore",
    "Speed",
    "StateStore",
    "backoff",
    "cooldown_seconds",
    "key_scope",
    "ladder_step",
    "model_scope",
    "provider_scope",
]
