"""How long a scope cools down when the provider gives no reset time.

Transient kinds climb a short ladder capped at 30 s (a provider found unreachable starts at 1 s); quota/auth/not-found climb a long one (minutes to
hours). Every step gets up to +10% jitter so many processes do not probe a recovered model together.
"""

from __future__ import annotations

import random
from collections.abc import Callable

TRANSIENT_LADDER: tuple[float, ...] = (5.0, 10.0, 20.0, 30.0)
# a provider-wide cooldown after one refused/failed connect starts short: one blip must not bench every model
UNREACHABLE_LADDER: tuple[float, ...] = (1.0, 5.0, 10.0, 20.0, 30.0)
QUOTA_LADDER: tuple[float, ...] = (3600.0, 2 * 3600.0, 4 * 3600.0, 12 * 3600.0)
NOT_FOUND_LADDER: tuple[float, ...] = (3600.0, 4 * 3600.0, 12 * 3600.0)
AUTH_COOLDOWN = 365 * 24 * 3600.0  # effectively until the config is reloaded (Ledger.reset_auth)
PROACTIVE_DEFAULT = 60.0  # remaining=0 without a reset time

LADDERS: dict[str, tuple[float, ...]] = {
    "rate_limited": TRANSIENT_LADDER,
    "overloaded": TRANSIENT_LADDER,
    "server_error": TRANSIENT_LADDER,
    "timeout": TRANSIENT_LADDER,
    "unreachable": UNREACHABLE_LADDER,
    "connection_lost": TRANSIENT_LADDER,
    "stream_broken": TRANSIENT_LADDER,
    "quota_exhausted": QUOTA_LADDER,
    "not_found": NOT_FOUND_LADDER,
    "auth_failed": (AUTH_COOLDOWN,),
    "proactive": (PROACTIVE_DEFAULT,),
}
JITTER = 0.10


def ladder_step(kind: str, strikes: int) -> float:
    """The un-jittered cooldown for the ``strikes``-th consecutive failure of ``kind``."""
    ladder = LADDERS.get(kind, TRANSIENT_LADDER)
    return ladder[min(max(strikes, 1), len(ladder)) - 1]


def cooldown_seconds(
    kind: str, strikes: int, reported: float | None = None, *, rand: Callable[[], float] = random.random
) -> float:
    """The provider's own reset time wins; otherwise the ladder step plus jitter."""
    if reported is not None and reported > 0:
        return reported
    step = ladder_step(kind, strikes)
    if kind == "auth_failed":
        return step
    return step * (1.0 + JITTER * rand())


def backoff(attempt: int, *, base: float = 0.5, cap: float = 8.0, rand: Callable[[], float] = random.random) -> float:
    """Capped exponential backoff with full jitter, for retries on the same route (attempt >= 1)."""
    return float(rand() * min(cap, base * (2 ** (attempt - 1))))
